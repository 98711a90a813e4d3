"""The demo acts as its seeded users (issue 13, point 4), and the read-only commands run
without anyone named (--as / PV_ACTOR) and write nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from pv.audit.models import AuditEntry
from pv.auth.models import User
from pv.auth.service import actor_for
from pv.cli import main
from pv.db import _engines, make_engine, read_session, write_session
from pv.demo.cli import DEMO_USERS
from pv.events.models import AdverseEvent
from pv.icsr.models import ReportVersion
from pv.icsr.versions import prepare_version
from pv.settings import get_settings
from pv.signatures.models import Signature
from tests.cli.test_attributed_commands import snapshot

STUDY = "NCT04660565"


@pytest.fixture
def demo(db_url: str, monkeypatch, capsys) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """`pvtracker demo --no-serve` on a new database, run without --as or PV_ACTOR."""
    monkeypatch.setenv("PV_DATABASE_URL", db_url)
    monkeypatch.delenv("PV_ACTOR", raising=False)
    monkeypatch.delenv("PV_LANGUAGE", raising=False)
    get_settings.cache_clear()
    assert main(["demo", "--no-serve"]) == 0
    capsys.readouterr()
    engine = make_engine(db_url)
    yield engine
    engine.dispose()
    get_settings.cache_clear()
    eng = _engines.pop(db_url, None)
    if eng is not None:
        eng.dispose()


def test_the_demo_records_everything_as_done_by_its_seeded_users(demo: Engine) -> None:
    with read_session(demo) as s:
        users = {u.username: u for u in s.exec(select(User))}
        entries = s.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()
        signatures = s.exec(select(Signature)).all()
    assert {name for name, _role, _pw in DEMO_USERS} <= set(users)
    ids = {name: users[name].id for name in users}
    # The first entry: the admin's own account, created first, before anyone else exists,
    # recorded as its own creator (the bootstrap of `pvtracker user add --role admin`).
    first = entries[0]
    assert (first.action, first.entity_type, first.entity_id, first.reason) == (
        "create", "user", str(ids["admin"]), "bootstrap")  # fmt: skip
    assert (first.actor, first.actor_id) == ("admin", ids["admin"])
    # Everything: a seeded user, by name and id; never "demo", "system" or "cli".
    investigators = {"investigator", "investigator2", "investigator3"}  # sites 01, 02, 03
    assert {(e.actor, e.actor_id) for e in entries} <= {
        (name, ids[name]) for name in ("admin", *investigators, "officer")}  # fmt: skip
    by = {}
    for e in entries[1:]:
        by.setdefault((e.entity_type, e.action), set()).add(e.actor)
    assert by[("study", "create")] == {"admin"}
    assert by[("user", "create")] == {"admin"}  # officer, dsmb, investigator
    assert by[("subject", "create")] == investigators  # each at their own site
    assert by[("adverse_event", "submit")] == investigators  # created and submitted
    assert {"officer"} == by[("assessment", "create")]
    # The officer signed the assessments and the reports sent ("approved"), as a person.
    assert signatures and {s.username for s in signatures} == {"officer"}
    assert {s.user_id for s in signatures} == {ids["officer"]}
    assert {"assessed", "approved"} <= {s.meaning for s in signatures}


def test_read_only_commands_need_no_one_and_write_nothing(
    demo: Engine, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    with read_session(demo) as s:
        serious = s.exec(
            select(AdverseEvent.id).where(col(AdverseEvent.aeser).is_(True)).order_by(
                col(AdverseEvent.id))).first()  # fmt: skip
    with write_session(demo) as s:  # `report` writes a version the officer prepared
        if not s.exec(select(ReportVersion).where(ReportVersion.event_id == serious)).first():
            officer = s.exec(select(User).where(User.username == "officer")).one()
            prepare_version(s, actor_for(officer), serious)
    before = snapshot(demo)
    commands = [
        ["status"],
        ["status", "--json"],
        ["terminology", "search", "Headache", "--limit", "2"],
        ["tables", "--study", STUDY, "--table", "AET01"],
        ["dsmb-report", "--study", STUDY, "--cutoff", "2022-06-30", "--session", "open",
         "--out", str(tmp_path / "open.xlsx")],
        ["export", "ctgov", "--study", STUDY, "--out", str(tmp_path / "ctgov.json")],
        ["export", "sdtm", "--study", STUDY, "--out", str(tmp_path / "sdtm")],
        ["sae-clocks", "--study", STUDY],
        ["report", "cioms", "--event", str(serious), "--out", str(tmp_path / "c.pdf")],
        ["report", "e2b", "--event", str(serious), "--out", str(tmp_path / "c.xml")],
        ["backup", "--out", str(tmp_path / "backup.db")],
        ["db", "upgrade"],
    ]  # fmt: skip
    for args in commands:
        code = main(args)
        out = capsys.readouterr()
        assert code == 0, (args, out.err)
        assert snapshot(demo) == before, (args, "something was written")
    assert (tmp_path / "c.pdf").stat().st_size > 0 and (tmp_path / "backup.db").exists()
