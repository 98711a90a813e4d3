"""What the database itself refuses on the audit trail (migration 0009), on the database
under test: UPDATE, DELETE, replacing an entry (SQLite `INSERT OR REPLACE`), explicit ids
(SQLite), entries without digests, back-dated and future-dated entries. Each refused
statement leaves the trail as it was and intact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pv.audit.verify import verify
from tests.audit.tamper import snapshot
from tests.conftest import backend

sqlite_only = pytest.mark.skipif(backend() != "sqlite", reason="SQLite's triggers")

COLUMNS = "actor, action, entity_type, entity_id, changes, prev_digest, digest"
FORGED = "'mallory', 'update', 'adverse_event', '1', '{}', :prev, :digest"


def _refused(engine, sql: str, match: str, **params) -> None:
    before = snapshot(engine)
    with pytest.raises(DBAPIError, match=match), engine.begin() as conn:
        conn.execute(text(sql), params)
    assert snapshot(engine) == before
    assert verify(engine).intact


def _last(engine) -> dict:
    return snapshot(engine)[-1]


def _stamp(engine, delta: timedelta) -> str | datetime:
    at = datetime.now(UTC) + delta
    if engine.dialect.name == "sqlite":  # as SQLAlchemy stores it
        return at.strftime("%Y-%m-%d %H:%M:%S.%f")
    return at


def test_update_and_delete_are_refused(trail) -> None:
    for sql in ("UPDATE audit_log SET actor = 'mallory'",
                "UPDATE audit_log SET digest = NULL WHERE id = 1",
                "DELETE FROM audit_log", "DELETE FROM audit_log WHERE id = 2"):  # fmt: skip
        _refused(trail, sql, "append-only")


def test_truncate_is_refused(trail) -> None:
    if trail.dialect.name == "sqlite":
        pytest.skip("SQLite has no TRUNCATE (DELETE without WHERE is tested above)")
    _refused(trail, "TRUNCATE audit_log", "append-only")


@sqlite_only
def test_insert_or_replace_of_an_existing_entry_is_refused(trail) -> None:
    last = _last(trail)
    for verb in ("INSERT OR REPLACE", "REPLACE", "INSERT OR IGNORE", "INSERT"):
        _refused(trail, f"{verb} INTO audit_log (id, at, {COLUMNS}) VALUES (1, :at, {FORGED})",
                 "id is given by the database", at=_stamp(trail, timedelta(0)),
                 prev=last["digest"], digest="f" * 64)  # fmt: skip


@sqlite_only
def test_explicit_ids_are_refused_even_new_ones(trail) -> None:
    last = _last(trail)
    for entry_id in (last["id"] + 1, last["id"] + 1000, 0, -1, -5):
        _refused(trail, f"INSERT INTO audit_log (id, at, {COLUMNS}) VALUES (:i, :at, {FORGED})",
                 "id is given by the database", i=entry_id, at=_stamp(trail, timedelta(0)),
                 prev=last["digest"], digest="f" * 64)  # fmt: skip


@pytest.mark.parametrize("delta", [timedelta(days=-400), timedelta(minutes=-6),
                                   timedelta(minutes=6), timedelta(days=2)])  # fmt: skip
def test_entries_not_at_the_current_time_are_refused(trail, delta) -> None:
    last = _last(trail)
    _refused(trail, f"INSERT INTO audit_log (at, {COLUMNS}) VALUES (:at, {FORGED})",
             "time must be the current time", at=_stamp(trail, delta), prev=last["digest"],
             digest="f" * 64)  # fmt: skip


def test_entries_without_digests_are_refused(trail) -> None:
    _refused(trail, "INSERT INTO audit_log (at, actor, action, entity_type, entity_id, changes) "
             "VALUES (:at, 'mallory', 'update', 'adverse_event', '1', '{}')",
             "hash-chain digests", at=_stamp(trail, timedelta(0)))  # fmt: skip


def test_an_insert_at_the_current_time_with_digests_passes_the_triggers(trail) -> None:
    """The triggers check the form, not the chain (verify does): the control of the tests
    above, showing the statements failed for the reason they name."""
    last = _last(trail)
    with trail.begin() as conn:
        conn.execute(text(f"INSERT INTO audit_log (at, {COLUMNS}) VALUES (:at, {FORGED})"),
                     {"at": _stamp(trail, timedelta(0)), "prev": last["digest"],
                      "digest": "f" * 64})  # fmt: skip
    result = verify(trail)
    assert result.problem is not None
    # linked to the last entry but not hashing to its digest: at the end of the trail that
    # reads as an entry whose content no longer matches its digest
    assert (result.problem.kind, result.problem.entry_id) == ("changed", last["id"] + 1)
