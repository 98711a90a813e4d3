"""Fixtures of the audit-trail tests: a trail written by ordinary service activity, and the
`pvtracker` command line run against a chosen database."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from pv.audit.service import Actor
from pv.db import write_session
from pv.events.rules import EventInput
from pv.events.service import create_event
from pv.study.models import Subject
from tests.commands import Commands
from tests.ops.conftest import seed_subject


def headache(i: int) -> EventInput:
    return EventInput(
        aeterm=f"céphalée {i}", aelltcd="10019211", aetoxgr=1 + i % 3, aeser=False,
        aestdtc=f"2021-03-{1 + i % 28:02d}", aeout="RECOVERED/RESOLVED",
        aerel={"belimumab": "NOT RELATED", "prednisone": "NOT RELATED"},
    )  # fmt: skip


def activity(engine: Engine, events: int = 4) -> Subject:
    """Ordinary service activity: the demo study imported, a subject added, a few events
    created (some submitted), each in its own write transaction."""
    subject = seed_subject(engine)
    actor = Actor.system("tests")
    for i in range(events):
        with write_session(engine) as s:
            create_event(session=s, actor=actor, subject=s.get(Subject, subject.id),
                         data=headache(i), submit=i % 2 == 0)  # fmt: skip
    return subject


@pytest.fixture
def trail(engine: Engine) -> Engine:
    activity(engine)
    return engine


def independent_digests(engine: Engine) -> list[tuple[int, str, str]]:
    """(id, prev_digest, digest) of every entry recomputed here from the stored columns, by
    the rule the issue states, without pv.audit.chain: SHA-256 of the previous digest and
    the entry's canonical JSON (keys sorted, compact, non-ASCII as is, UTC time)."""
    out, prev = [], "0" * 64
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT id, at, actor_id, actor, action, entity_type, entity_id, study_id, "
            "site_id, changes, reason FROM audit_log ORDER BY id"
        )).all()  # fmt: skip
    for r in rows:
        at = r.at
        if isinstance(at, str):  # SQLite, read without the model's type
            at = datetime.fromisoformat(at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        changes = json.loads(r.changes) if isinstance(r.changes, str) else r.changes
        content = [r.id, at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), r.actor_id,
                   r.actor, r.action, r.entity_type, r.entity_id, r.study_id, r.site_id,
                   changes, r.reason]  # fmt: skip
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256((prev + canonical).encode("utf-8")).hexdigest()
        out.append((r.id, prev, digest))
        prev = digest
    return out


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run `pvtracker ARGS` with PV_DATABASE_URL (and any other PV_ variable) set."""
    commands = Commands(monkeypatch, capsys)
    yield commands.at
    commands.close()
