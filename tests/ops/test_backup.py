"""`pvtracker backup` while users write, `pvtracker restore` into an empty database:
every table identical, and the audit trail still append-only (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from pv.audit.service import Actor
from pv.audit.verify import verify
from pv.db import make_engine, write_session
from pv.events.rules import EventInput
from pv.events.service import create_event
from pv.study.models import Subject
from tests.cli.actors import seed_admin, seed_user
from tests.commands import Commands
from tests.ops.conftest import dump_tables, seed_subject

WRITES = 150


@pytest.fixture
def cli(monkeypatch, capsys):
    commands = Commands(monkeypatch, capsys)
    yield commands.at
    commands.close()


def _event(i: int) -> EventInput:
    return EventInput(
        aeterm=f"headache {i}", aelltcd="10019211", aetoxgr=1 + i % 3, aeser=False,
        aestdtc=str(date(2021, 3, 2) + timedelta(days=i)), aeout="RECOVERED/RESOLVED",
        aerel={"belimumab": "NOT RELATED", "prednisone": "NOT RELATED"},
    )  # fmt: skip


def _writer(engine, subject: Subject, started: threading.Event, errors: list) -> None:
    actor = Actor.system("writer")
    try:
        for i in range(WRITES):
            with write_session(engine) as s:
                create_event(session=s, actor=actor, subject=s.get(Subject, subject.id),
                             data=_event(i), submit=i % 2 == 0)  # fmt: skip
            if i == 20:
                started.set()
    except Exception as exc:  # pragma: no cover - reported below
        errors.append(exc)
        started.set()


def _assert_append_only(engine) -> None:
    for sql in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))


def _count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_backup_during_writes_then_restore_into_an_empty_database(
    engine, db_url, empty_db_url, cli, tmp_path
):
    subject = seed_subject(engine)
    seed_admin(engine)  # a restore acts as an admin of the backup (issue 13)
    started, errors = threading.Event(), []
    writer = threading.Thread(target=_writer, args=(engine, subject, started, errors))
    writer.start()
    try:
        assert started.wait(60)
        during = tmp_path / "during.backup"
        code, out, err = cli(db_url, "backup", "--out", str(during))
        assert code == 0, err
        assert "backup written" in out
    finally:
        writer.join(120)
    assert not writer.is_alive() and not errors, errors
    assert _count(engine, "adverseevent") == WRITES

    # The backup taken during the writes restores to a consistent snapshot: each of its
    # rows equals the live row, every event has its audit entry, the tally matches.
    restored_url = empty_db_url()
    code, out, err = cli(restored_url, "restore", "--from", str(during), "--as", "admin")
    assert code == 0, err
    snap_engine = make_engine(restored_url)
    try:
        snap, live = dump_tables(snap_engine), dump_tables(engine)
        n_snap = len(snap["adverseevent"])
        assert 20 < n_snap <= WRITES
        assert _restore_entry(snap_engine)  # the last entry: the restore itself
        snap["audit_log"] = snap["audit_log"][:-1]
        for name, rows in snap.items():
            if name != "queue_tally":  # counters grow with later writes; checked below
                assert {repr(r) for r in rows} <= {repr(r) for r in live[name]}, name
        with snap_engine.connect() as conn:
            audits = conn.execute(text(
                "SELECT count(*) FROM audit_log WHERE entity_type = 'adverse_event'"
            )).scalar_one()  # fmt: skip
            tally = conn.execute(text("SELECT coalesce(sum(n), 0) FROM queue_tally")).scalar()
        assert audits == n_snap and tally == n_snap
        _assert_append_only(snap_engine)
        assert verify(snap_engine).intact  # the hash chain survives (issue 13)
    finally:
        snap_engine.dispose()

    # Once the writers are done: backup, restore, every table identical.
    after = tmp_path / "after.backup"
    assert cli(db_url, "backup", "--out", str(after))[0] == 0
    restored_url = empty_db_url()
    code, _, err = cli(restored_url, "restore", "--from", str(after), "--as", "admin")
    assert code == 0, err
    copy = make_engine(restored_url)
    try:
        original, restored = dump_tables(engine), dump_tables(copy)
        assert set(original) == set(restored)
        # every table identical, and the audit trail adds the restore, by the admin
        assert _restore_entry(copy) == ("admin", "database", "after.backup")
        restored["audit_log"] = restored["audit_log"][:-1]
        for name in original:
            assert restored[name] == original[name], name
        assert len(restored["adverseevent"]) == WRITES
        assert len(restored["audit_log"]) == len(original["audit_log"]) > WRITES
        _assert_append_only(copy)
        # The restored database is usable: the services write to it, triggers keep the tally.
        with write_session(copy) as s:
            create_event(session=s, actor=Actor.system("t"), subject=s.get(Subject, subject.id),
                         data=_event(999), submit=True)  # fmt: skip
        assert _count(copy, "adverseevent") == WRITES + 1
        with copy.connect() as conn:
            assert conn.execute(text("SELECT sum(n) FROM queue_tally")).scalar() == WRITES + 1
        # ... and the audit trail's chain continues from the restored entries.
        result = verify(copy)
        assert result.intact and result.count == _count(copy, "audit_log")
    finally:
        copy.dispose()


def _restore_entry(engine) -> tuple[str, str, str] | None:
    """The last audit entry, when it records a restore: (actor, entity type, backup file)."""
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT a.actor, a.entity_type, a.entity_id, a.action, a.actor_id, u.username "
            "FROM audit_log a LEFT JOIN \"user\" u ON u.id = a.actor_id "
            "ORDER BY a.id DESC LIMIT 1")).one()  # fmt: skip
    if row.action != "restore":
        return None
    assert row.username == row.actor  # the user's id, not only a name
    return row.actor, row.entity_type, row.entity_id


def test_restore_acts_as_an_active_admin_of_the_backup(engine, db_url, empty_db_url, cli, tmp_path):  # type: ignore[no-untyped-def]
    """The target is empty, so the admin is looked up in the backup, before anything is
    written: nobody named, an unknown name, an officer, a disabled admin are refused."""
    seed_subject(engine)
    seed_admin(engine)
    seed_user(engine, "officer", "officer")
    seed_user(engine, "gone", "admin", disabled=True)
    backup = tmp_path / "pv.backup"
    assert cli(db_url, "backup", "--out", str(backup))[0] == 0
    url = empty_db_url()
    for extra, says in (([], "--as USERNAME"), (["--as", "nobody"], "no active admin"),
                        (["--as", "officer"], "no active admin"),
                        (["--as", "gone"], "no active admin")):  # fmt: skip
        code, _, err = cli(url, "restore", "--from", str(backup), *extra)
        assert code == 2 and says in err, (extra, err)
        eng = make_engine(url)
        try:
            assert inspect(eng).get_table_names() == []  # nothing written
        finally:
            eng.dispose()
    code, _, err = cli(url, "restore", "--from", str(backup), "--as", "admin")
    assert code == 0, err
    copy = make_engine(url)
    try:
        assert _restore_entry(copy) == ("admin", "database", "pv.backup")
    finally:
        copy.dispose()


def test_restore_refuses_a_database_that_is_not_empty(engine, db_url, cli, tmp_path):
    seed_subject(engine)
    seed_admin(engine)
    backup = tmp_path / "pv.backup"
    assert cli(db_url, "backup", "--out", str(backup))[0] == 0
    before = dump_tables(engine)
    code, _, err = cli(db_url, "restore", "--from", str(backup), "--as", "admin")
    assert code == 2
    assert "not empty" in err and "Traceback" not in err
    assert dump_tables(engine) == before


def test_restore_refuses_a_file_that_is_not_a_backup(empty_db_url, cli, tmp_path):
    bogus = tmp_path / "bogus.backup"
    bogus.write_text("subject,aeterm\n1,headache\n")
    url = empty_db_url()
    code, _, err = cli(url, "restore", "--from", str(bogus), "--as", "admin")
    assert code == 2 and "not a" in err
    eng = make_engine(url)
    try:
        assert inspect(eng).get_table_names() == []
    finally:
        eng.dispose()
