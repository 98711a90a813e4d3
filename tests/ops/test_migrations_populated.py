"""Migrations from a populated database at each earlier schema (0001, 0002) to head, down
and up again: no row lost, the review queue's tally equal to a direct count (SQLite,
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import MetaData, insert, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from pv.db import make_engine
from pv.migrate import alembic_config, current_revision
from pv.review.queue import status_counts
from tests.tally import tally_and_direct

STUDY = "NCT00000001"
N_SUBJECTS = 40
N_EVENTS = 600
STATUSES = ("draft", "submitted", "under_review", "queried", "answered", "assessed", "locked")
T0 = datetime(2021, 3, 1, 9, 30, tzinfo=UTC)
HEAD = "0012"


def _migrate(engine, direction: str, revision: str) -> None:
    cfg = alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, direction)(cfg, revision)
        conn.commit()


def _populate(engine) -> None:
    meta = MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:
        conn.execute(
            insert(t["study"]),
            [dict(id=STUDY, nct_id=STUDY, title="Populated study", source="test", updated_at=T0)],
        )
        conn.execute(
            insert(t["user"]),
            [
                dict(
                    id=1,
                    username="inv",
                    role="investigator",
                    full_name="Ann Inv",
                    disabled=False,
                    created_at=T0,
                )
            ],
        )
        conn.execute(
            insert(t["arm"]),
            [
                dict(
                    id=1, study_id=STUDY, label="Control", code="CTL", is_control=True, position=0
                ),
                dict(
                    id=2, study_id=STUDY, label="Active", code="ACT", is_control=False, position=1
                ),
            ],
        )
        conn.execute(
            insert(t["site"]),
            [
                dict(id=1, study_id=STUDY, code="01", name="First", city="Paris", country="France"),
                dict(id=2, study_id=STUDY, code="02", name="Second", city="Lyon", country="France"),
            ],
        )
        conn.execute(insert(t["usersite"]), [dict(user_id=1, site_id=1)])
        conn.execute(
            insert(t["subject"]),
            [
                dict(
                    id=i,
                    study_id=STUDY,
                    site_id=1 + i % 2,
                    usubjid=f"{STUDY}-{i:04d}",
                    subjid=f"{i:04d}",
                    arm_id=None if i % 7 == 0 else 1 + i % 2,
                    sex="F",
                    age=40 + i,
                    weight_kg=60.5 + i,
                    created_at=T0,
                )
                for i in range(1, N_SUBJECTS + 1)
            ],
        )
        events, audits = [], []
        for i in range(1, N_EVENTS + 1):
            subject = 1 + i % N_SUBJECTS
            at = T0 + timedelta(minutes=i)
            events.append(dict(
                id=i, study_id=STUDY, subject_id=subject, site_id=1 + subject % 2,
                aeseq=1 + (i - 1) // N_SUBJECTS, status=STATUSES[i % len(STATUSES)], version=1,
                aeterm=f"event <{i}> 'quoted'", aelltcd="10019211", aedecod="Headache",
                aebodsys="Nervous system disorders", aetoxgr=None if i % 11 == 0 else 1 + i % 5,
                aeser=None if i % 13 == 0 else i % 4 == 0, aesdth=False, aeslife=False,
                aeshosp=i % 4 == 0, aesdisab=False, aescong=False, aesmie=False,
                aerel={"drug": "RELATED" if i % 3 == 0 else "NOT RELATED"}, aeacn={},
                related=i % 3 == 0, drug_withdrawn=False, aeout="RECOVERED/RESOLVED",
                aestdtc="2021-03" if i % 5 == 0 else "2021-03-02", ongoing=False,
                narrative=f"narrative {i}", aesi="IRR" if i % 9 == 0 else "",
                preexisting=False, created_by=1, created_at=at, updated_at=at,
                submitted_at=None if i % len(STATUSES) == 0 else at))  # fmt: skip
            audits.append(dict(
                id=i, at=at, actor_id=1, actor="inv", action="create",
                entity_type="adverse_event", entity_id=str(i), study_id=STUDY,
                site_id=1 + subject % 2, changes={"aeterm": [None, f"event <{i}>"]},
                reason=None))  # fmt: skip
        conn.execute(insert(t["adverseevent"]), events)
        conn.execute(insert(t["audit_log"]), audits)


def _counts(engine, tables) -> dict[str, int]:
    with engine.connect() as conn:
        return {n: conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in tables}


def _values(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT e.id, e.aeterm, e.status, e.aetoxgr, e.aeser, e.aesi, e.aestdtc, s.usubjid, "
            "s.arm_id FROM adverseevent e JOIN subject s ON s.id = e.subject_id ORDER BY e.id"
        ))]  # fmt: skip


def _assert_tally(engine) -> None:
    tally, direct = tally_and_direct(engine)
    with engine.connect() as conn:
        by_status = dict(conn.execute(text(
            "SELECT status, count(*) FROM adverseevent GROUP BY status")).all())  # fmt: skip
    assert tally == direct
    assert sum(tally.values()) == N_EVENTS
    with Session(engine) as session:
        counts = status_counts(session, study_id=STUDY, include_drafts=True)
    assert {k: v for k, v in counts.items() if v} == by_status


def _assert_append_only(engine) -> None:
    for sql in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))


def _assert_chained(engine) -> None:
    """Migration 0009 chained the entries written before it (issue 13): all intact."""
    from pv.audit.verify import verify

    result = verify(engine)
    assert result.intact and result.count == N_EVENTS


@pytest.mark.parametrize("base", ["0001", "0002"])
def test_upgrade_a_populated_database_loses_no_row(empty_db_url, base):
    """From each earlier schema: populated at 0001 (the events, subjects and audit trail),
    brought to `base`, then to head, down to `base` and up again."""
    engine = make_engine(empty_db_url())
    try:
        _migrate(engine, "upgrade", "0001")
        _populate(engine)
        _migrate(engine, "upgrade", base)
        assert current_revision(engine) == base
        old_tables = _tables(engine)
        before, values = _counts(engine, old_tables), _values(engine)
        assert before["adverseevent"] == N_EVENTS and before["audit_log"] == N_EVENTS

        _migrate(engine, "upgrade", "head")
        assert current_revision(engine) == HEAD
        assert _counts(engine, old_tables) == before
        assert _values(engine) == values
        _assert_tally(engine)
        _assert_append_only(engine)
        _assert_chained(engine)
        _assert_queue_indexes(engine)

        _migrate(engine, "downgrade", base)
        assert current_revision(engine) == base
        assert _counts(engine, old_tables) == before
        assert _values(engine) == values

        _migrate(engine, "upgrade", "head")
        assert _counts(engine, old_tables) == before
        assert _values(engine) == values
        _assert_tally(engine)
        _assert_append_only(engine)
        _assert_chained(engine)
        _assert_queue_indexes(engine)
        # The tally triggers work after the round trip: a status change is counted.
        with engine.begin() as conn:
            conn.execute(text(
                "UPDATE adverseevent SET status = 'locked' WHERE id IN (1, 2, 3)"))  # fmt: skip
        _assert_tally(engine)
    finally:
        engine.dispose()


def _assert_queue_indexes(engine) -> None:
    """Head's queue indexes carry the filter columns (0003) and the latest-changes index."""
    from sqlalchemy import inspect

    found = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("adverseevent")}
    assert found["ix_ae_queue"] == [
        "study_id", "status", "updated_at", "id", "site_id", "aeser", "aetoxgr", "aesi"
    ]  # fmt: skip
    assert found["ix_ae_queue_site"][-3:] == ["aeser", "aetoxgr", "aesi"]
    assert found["ix_ae_queue_serious"][-3:] == ["site_id", "aetoxgr", "aesi"]
    assert found["ix_ae_updated"] == ["updated_at", "site_id", "status"]


def _tables(engine) -> list[str]:
    from sqlalchemy import inspect

    return [n for n in inspect(engine).get_table_names() if n != "alembic_version"]
