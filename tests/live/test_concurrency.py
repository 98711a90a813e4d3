"""Concurrency against a running server (reliability.md, issue 3).

- 40 PATCHes of one event, all from the same version, at once: exactly 1 accepted, 39 x 409,
  no server error; the event is at version 2 with exactly one update in its audit trail.
- 50 submissions at once: 50 x 201, 50 rows, 50 audit entries, no server error.

Each request goes out on its own connection from its own thread, released together by a
barrier, so the server really sees them at the same time.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from pv.audit.models import AuditEntry
from pv.db import make_engine
from pv.events.models import AdverseEvent

if TYPE_CHECKING:
    from tests.live.conftest import LiveServer

pytestmark = pytest.mark.server

EDITS = 40
SUBMISSIONS = 50
TIMEOUT = httpx.Timeout(90.0)


def valid_event(live: LiveServer, n: int) -> dict[str, Any]:
    """Event n: its own onset day (the same subject, term and day would be a likely
    duplicate, refused with 409)."""
    onset = date(2021, 3, 10) + timedelta(days=n)
    return {
        "usubjid": live.usubjid,
        "aeterm": f"infusion reaction #{n}",
        "aelltcd": "10051792",  # Infusion related reaction
        "aetoxgr": 2,
        "aeser": "N",
        "aestdtc": onset.isoformat(),
        "aeendtc": (onset + timedelta(days=1)).isoformat(),
        "aeout": "RECOVERED/RESOLVED",
        "aerel": {k: "POSSIBLY RELATED" for k in live.drug_keys},
        "aeacn": {k: "DOSE NOT CHANGED" for k in live.drug_keys},
    }


def _all_at_once(
    live: LiveServer, n: int, send: Callable[[httpx.Client, int], httpx.Response]
) -> list[httpx.Response | BaseException]:
    """Run send(client, i) for i in range(n), each in its own thread, released together."""
    barrier = threading.Barrier(n)
    results: list[httpx.Response | BaseException] = [RuntimeError("not run")] * n

    def run(i: int) -> None:
        try:
            with live.api(timeout=TIMEOUT) as client:
                client.get("/api/v1/subjects", params={"limit": 1})  # open the connection first
                barrier.wait(timeout=60)
                results[i] = send(client, i)
        except BaseException as exc:  # reported below, never lost in a thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,), name=f"req-{i}") for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "requests still running after 180 s"
    return results


def _statuses(results: list[httpx.Response | BaseException]) -> Counter[int | str]:
    return Counter(
        r.status_code if isinstance(r, httpx.Response) else type(r).__name__ for r in results
    )


def _failures(results: list[httpx.Response | BaseException], ok: set[int]) -> list[str]:
    out = []
    for r in results:
        if isinstance(r, BaseException):
            out.append(repr(r))
        elif r.status_code not in ok:
            out.append(f"{r.status_code}: {r.text[:300]}")
    return out


@pytest.fixture
def db(live_server: LiveServer) -> Iterator[Engine]:
    engine = make_engine(live_server.db_url)
    yield engine
    engine.dispose()


def _assert_no_tracebacks(live: LiveServer) -> None:
    log = live.log()
    assert "Traceback" not in log, f"the server logged an exception:\n{log[-6000:]}"


def test_concurrent_patches_from_one_version(live_server: LiveServer, db: Engine) -> None:
    live = live_server
    with live.api() as client:
        created = client.post("/api/v1/events", json=valid_event(live, 0))
    assert created.status_code == 201, created.text
    event_id, version = created.json()["id"], created.json()["version"]
    assert version == 1

    def patch(client: httpx.Client, i: int) -> httpx.Response:
        body = {
            "version": version,
            "reason": f"correction {i} from the source document",
            "aeterm": f"infusion reaction, corrected by edit {i}",
            "aecontrt": f"diphenhydramine {i} mg",
        }
        return client.patch(f"/api/v1/events/{event_id}", json=body)

    results = _all_at_once(live, EDITS, patch)

    statuses = _statuses(results)
    assert not _failures(results, {200, 409}), _failures(results, {200, 409})
    assert statuses == Counter({200: 1, 409: EDITS - 1}), statuses
    winner = next(r for r in results if isinstance(r, httpx.Response) and r.status_code == 200)
    assert winner.json()["version"] == 2
    for r in results:
        assert isinstance(r, httpx.Response)
        if r.status_code == 409:  # every loser is shown what is stored now
            assert r.json()["current"]["version"] == 2
            assert r.json()["current"]["aeterm"] == winner.json()["aeterm"]

    with live.api() as client:
        stored = client.get(f"/api/v1/events/{event_id}").json()
    assert stored["version"] == 2
    assert stored["aeterm"] == winner.json()["aeterm"]
    assert stored["aecontrt"] == winner.json()["aecontrt"]

    with Session(db) as session:
        row = session.get(AdverseEvent, event_id)
        assert row is not None and row.version == 2
        updates = session.exec(
            select(AuditEntry).where(
                AuditEntry.entity_type == "adverse_event",
                AuditEntry.entity_id == str(event_id),
                AuditEntry.action == "update",
            )
        ).all()
    assert len(updates) == 1, [u.changes for u in updates]
    assert updates[0].changes["version"] == [1, 2]
    assert updates[0].changes["aeterm"][1] == winner.json()["aeterm"]
    assert updates[0].reason and updates[0].reason.startswith("correction ")
    _assert_no_tracebacks(live)


def test_concurrent_submissions(live_server: LiveServer, db: Engine) -> None:
    live = live_server

    def submit(client: httpx.Client, i: int) -> httpx.Response:
        return client.post("/api/v1/events", json=valid_event(live, i + 1))

    results = _all_at_once(live, SUBMISSIONS, submit)

    assert not _failures(results, {201}), _failures(results, {201})
    assert _statuses(results) == Counter({201: SUBMISSIONS})
    ids = {r.json()["id"] for r in results if isinstance(r, httpx.Response)}
    assert len(ids) == SUBMISSIONS
    assert all(r.json()["status"] == "submitted" for r in results if isinstance(r, httpx.Response))

    with Session(db) as session:
        rows = session.exec(
            select(AdverseEvent).where(AdverseEvent.subject_id == live.subject_id)
        ).all()
        audit = session.exec(
            select(AuditEntry).where(
                AuditEntry.entity_type == "adverse_event",
                AuditEntry.action.in_(("submit", "create")),
            )
        ).all()  # type: ignore[attr-defined]
        n_events = session.exec(select(func.count()).select_from(AdverseEvent)).one()
    assert len(rows) == SUBMISSIONS and n_events == SUBMISSIONS
    assert {r.id for r in rows} == ids
    assert sorted(r.aeterm for r in rows) == sorted(
        f"infusion reaction #{i + 1}" for i in range(SUBMISSIONS)
    )
    assert len(audit) == SUBMISSIONS
    assert {int(a.entity_id) for a in audit} == ids
    assert all(a.action == "submit" and a.actor == live.investigator for a in audit)
    # AESEQ numbers the subject's events: concurrent writers must not hand out one twice.
    assert sorted(r.aeseq for r in rows) == list(range(1, SUBMISSIONS + 1))
    _assert_no_tracebacks(live)
