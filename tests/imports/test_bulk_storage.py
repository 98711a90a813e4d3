"""The bulk write path stores what create_event stores, column by column, on either
database (on SQLite: with the same storage classes and the same audit text)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import inspect, text
from sqlmodel import select

from pv.audit.service import Actor
from pv.db import read_session, write_session
from pv.events.bulk import (
    BulkContext,
    BulkRow,
    BulkValidationFailed,
    _sql_literal,
    create_events_bulk,
    insert_events,
    prepare_events,
)
from pv.events.models import AdverseEvent
from pv.events.rules import EventInput
from pv.events.service import create_event
from pv.study.models import Subject
from tests.tally import tally_and_direct

ACTOR = Actor(username="inv1", user_id=None, role="investigator")
VARIABLE = {"id", "aeseq", "created_at", "updated_at", "submitted_at"}


def _inputs() -> list[EventInput]:
    return [
        EventInput(aeterm="headache", aelltcd="10019211", aetoxgr=1, aeser=False,
                   aestdtc="2021-03-05", aeendtc="2021-03-07", aeout="RECOVERED/RESOLVED",
                   aerel={"belimumab": "NOT RELATED", "prednisone": "UNLIKELY RELATED"}),
        EventInput(aeterm=" anaphylaxis \u00e9 \"x\" ", aelltcd="10002218", aetoxgr=3,
                   aeser=True, aeshosp=True, aestdtc="2021-03", aeout="RECOVERING/RESOLVING",
                   aerel={"belimumab": "RELATED", "prednisone": "NOT RELATED", "x": ""},
                   aeacn={"belimumab": "DRUG WITHDRAWN"}, narrative="Hospitalised;\nfine.",
                   aecontrt="adrenaline", ongoing=True, aeawaredtc=" 2021-03-20T08:15 "),
        EventInput(aeterm="draft only", aelltcd="10019211"),
    ]  # fmt: skip


def _rows(conn, table: str, where: str) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    result = conn.execute(text(f"SELECT * FROM {table} WHERE {where} ORDER BY id"))
    return [dict(r._mapping) for r in result]


@pytest.mark.parametrize("submit", [True, False])
def test_bulk_rows_and_audit_are_those_of_create_event(upload_study, submit: bool) -> None:  # type: ignore[no-untyped-def]
    env = upload_study
    inputs = _inputs() if not submit else _inputs()[:2]
    with write_session(env.engine) as s:
        subj = s.exec(select(Subject).where(Subject.usubjid == env.subject("0012"))).one()
        single = [create_event(session=s, actor=ACTOR, subject=subj, data=d, submit=submit)[0].id
                  for d in inputs]  # fmt: skip
    with write_session(env.engine) as s:
        # The same events again: likely duplicates, confirmed (that changes nothing stored).
        rows = [BulkRow(env.subject("0012"), d, confirm_duplicate=True) for d in inputs]
        bulk = create_events_bulk(session=s, actor=ACTOR, study_id=env.study_id, rows=rows,
                                  submit=submit)  # fmt: skip
    sqlite = env.engine.dialect.name == "sqlite"
    with env.engine.connect() as conn:
        for a, b in zip(single, bulk, strict=True):
            (ra,) = _rows(conn, "adverseevent", f"id = {a}")
            (rb,) = _rows(conn, "adverseevent", f"id = {b}")
            assert {k: v for k, v in ra.items() if k not in VARIABLE} == \
                {k: v for k, v in rb.items() if k not in VARIABLE}  # fmt: skip
            assert (ra["submitted_at"] is None) == (rb["submitted_at"] is None) == (not submit)
            if sqlite:  # the same storage class in every column
                cols = ", ".join(f"typeof({c})" for c in ra)
                ta = conn.execute(text(f"SELECT {cols} FROM adverseevent WHERE id = {a}")).one()
                tb = conn.execute(text(f"SELECT {cols} FROM adverseevent WHERE id = {b}")).one()
                assert tuple(ta) == tuple(tb)
            (aa,) = _rows(conn, "audit_log", f"entity_type = 'adverse_event' AND entity_id = '{a}'")
            (ab,) = _rows(conn, "audit_log", f"entity_type = 'adverse_event' AND entity_id = '{b}'")
            for k in ("actor_id", "actor", "action", "study_id", "site_id", "reason"):
                assert aa[k] == ab[k]
            ca, cb = aa["changes"], ab["changes"]
            if isinstance(ca, str):  # SQLite: the stored text itself
                seq_a = json.dumps({"aeseq": [None, ra["aeseq"]]})[1:-1]
                seq_b = json.dumps({"aeseq": [None, rb["aeseq"]]})[1:-1]
                assert ca.replace(seq_a, seq_b) == cb
            else:
                assert {**ca, "aeseq": None} == {**cb, "aeseq": None}
    with read_session(env.engine) as s:  # and the session's own view agrees
        assert s.get(Subject, subj.id) is not None


def test_only_plain_constants_become_sql_literals() -> None:
    assert _sql_literal(None) == "NULL"
    assert _sql_literal(0) == "0" and _sql_literal(-12) == "-12"
    assert _sql_literal("submitted") == "'submitted'"
    assert _sql_literal("2021-03-05 18:00:00.123456") == "'2021-03-05 18:00:00.123456'"
    for value in ("o'brien", 'a"b', "x;DROP TABLE t", "caf\u00e9", "a\nb", "x" * 65, 1.5,
                  True, b"x", "a\x00b"):  # fmt: skip
        assert _sql_literal(value) is None


# --- likely duplicates (issue 12.5) -----------------------------------------------------------

HEADACHE, NAUSEA, ANAPHYLAXIS = "10019211", "10028813", "10002218"


def _headache(onset: str = "2021-03-05", **over: object) -> EventInput:
    values: dict[str, object] = dict(
        aeterm="headache", aelltcd=HEADACHE, aetoxgr=1, aeser=False, aestdtc=onset,
        aeendtc=onset[:10], aeout="RECOVERED/RESOLVED",
        aerel={"belimumab": "NOT RELATED", "prednisone": "NOT RELATED"},
    )  # fmt: skip
    values.update(over)
    return EventInput(**values)  # type: ignore[arg-type]


def _count(engine, table: str = "adverseevent") -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def _store_one(env, subjid: str, data: EventInput) -> int:  # type: ignore[no-untyped-def]
    with write_session(env.engine) as s:
        subj = s.exec(select(Subject).where(Subject.usubjid == env.subject(subjid))).one()
        return create_event(
            session=s,
            actor=ACTOR,
            subject=subj,
            data=data,
            submit=True,
            confirm_before_consent=True,
        )[0].id  # type: ignore[return-value]


def test_rows_repeating_an_earlier_row_or_a_stored_event_are_refused(upload_study) -> None:  # type: ignore[no-untyped-def]
    env = upload_study
    stored = _store_one(env, "0012", _headache())
    a, b = env.subject("007"), env.subject("0012")

    def rows(confirm: set[int]) -> list[BulkRow]:
        given = [(a, _headache()), (a, _headache("2021-03-05T10:00")), (b, _headache()),
                 (b, _headache(aelltcd=NAUSEA, aeterm="nausea")), (a, _headache()),
                 (b, _headache("2021-03-06"))]  # fmt: skip
        return [BulkRow(u, d, i in confirm, 10 + i) for i, (u, d) in enumerate(given)]

    with pytest.raises(BulkValidationFailed) as info, write_session(env.engine) as s:
        create_events_bulk(session=s, actor=ACTOR, study_id=env.study_id, rows=rows(set()),
                           submit=True)  # fmt: skip
    got = {e.index: e for e in info.value.errors}
    assert set(got) == {1, 2, 4} and {e.field for e in got.values()} == {"confirm_duplicate"}
    assert "likely duplicate of row 10:" in got[1].message  # the earlier row, by its line
    assert "likely duplicate of row 10:" in got[4].message
    assert f"{b} AESEQ 1 (event {stored}), already stored" in got[2].message
    assert _count(env.engine) == 1  # nothing written

    warnings: list = []
    with write_session(env.engine) as s:
        ids = create_events_bulk(session=s, actor=ACTOR, study_id=env.study_id,
                                 rows=rows({1, 2, 4}), submit=True, warnings=warnings)  # fmt: skip
    assert len(ids) == 6 and _count(env.engine) == 7
    assert {(w.index, w.field) for w in warnings} == {(i, "confirm_duplicate") for i in (1, 2, 4)}
    assert all(w.message.startswith("stored although a likely duplicate") for w in warnings)


def _good_rows(env, n: int) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    from datetime import date, timedelta

    import tests.imports.test_spreadsheet as ts

    subjects = [env.subject(s) for s in ("0012", "007", "12")]
    out = []
    for i in range(n):
        onset = date(2021, 2, 1) + timedelta(days=i // len(subjects))
        out.append(ts.good(subjects[i % len(subjects)], AETERM=f"headache {i}", AESTDTC=str(onset),
                           AEENDTC=str(onset + timedelta(days=3))))  # fmt: skip
    return out


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_uploading_the_same_file_again_stores_nothing_new(upload_study, kind: str) -> None:  # type: ignore[no-untyped-def]
    import tests.imports.test_spreadsheet as ts

    env = upload_study
    rows = _good_rows(env, 30)
    data = ts.csv_bytes(rows) if kind == "csv" else ts.xlsx(rows)  # type: ignore[arg-type]
    name = f"ae.{kind}"
    first = ts.upload(env, data, filename=name)
    assert first.ok and first.stored == 30, first.errors[:3]
    audits = _count(env.engine, "audit_log")
    again = ts.upload(env, data, filename=name)
    assert not again.ok and again.stored == 0
    assert [(e.row, e.column) for e in again.errors] == [(r, "CONFIRM_DUPLICATE")
                                                          for r in range(2, 32)]  # fmt: skip
    assert all("already stored" in e.reason and "AESEQ" in e.reason for e in again.errors)
    assert _count(env.engine) == 30 and _count(env.engine, "audit_log") == audits
    # CONFIRM_DUPLICATE = Y on some rows: the other rows still refuse the file.
    header = [*ts.HEADER, "CONFIRM_DUPLICATE"]
    marked = [{**r, "CONFIRM_DUPLICATE": "Y" if i < 5 else "N"} for i, r in enumerate(rows)]
    data = ts.csv_bytes(marked, header) if kind == "csv" else ts.xlsx(marked, header)  # type: ignore[arg-type]
    third = ts.upload(env, data, filename=name)
    assert not third.ok and third.stored == 0
    assert [e.row for e in third.errors] == list(range(7, 32))
    assert _count(env.engine) == 30
    # A bad confirmation value is named like any Y/N cell.
    marked[0]["CONFIRM_DUPLICATE"] = "perhaps"
    data = ts.csv_bytes(marked, header) if kind == "csv" else ts.xlsx(marked, header)  # type: ignore[arg-type]
    fourth = ts.upload(env, data, filename=name)
    got = {(e.row, e.column, e.value) for e in fourth.errors}
    assert (2, "CONFIRM_DUPLICATE", "perhaps") in got


def _prepare(env, rows: list[BulkRow]):  # type: ignore[no-untyped-def]
    with read_session(env.engine) as s:
        prepared, errors, _ = prepare_events(BulkContext.load(s, env.study_id), rows, submit=True)
    assert errors == []
    return prepared


def test_two_uploads_prepared_at_once_store_once(upload_study) -> None:  # type: ignore[no-untyped-def]
    """Both checked before either is stored (as two upload jobs): the second is refused
    inside its write transaction, and rows prepared elsewhere (a plain list) too."""
    env = upload_study
    rows = [BulkRow(env.subject(s), _headache(f"2021-03-{d:02d}"))
            for s in ("0012", "007") for d in range(1, 8)]  # fmt: skip
    first, second = _prepare(env, rows), _prepare(env, rows)
    with write_session(env.engine) as s:
        ids = insert_events(session=s, actor=ACTOR, prepared=first, submit=True)
    assert len(ids) == 14
    for prepared in (second, list(second)):
        with pytest.raises(BulkValidationFailed) as info, write_session(env.engine) as s:
            insert_events(session=s, actor=ACTOR, prepared=prepared, submit=True)
        assert sorted(e.index for e in info.value.errors) == list(range(14))
        assert all("already stored" in e.message for e in info.value.errors)
    assert _count(env.engine) == 14 and _insert_triggers(env.engine) == ["queue_tally_ae_insert"]


def test_events_stored_since_the_check_that_differ_do_not_refuse(upload_study) -> None:  # type: ignore[no-untyped-def]
    env = upload_study
    rows = [BulkRow(env.subject("0012"), _headache(f"2021-03-{d:02d}")) for d in range(1, 5)]
    rows.append(BulkRow(env.subject("0012"), _headache("2021-03-09"), confirm_duplicate=True))
    prepared = _prepare(env, rows)
    _store_one(env, "0012", _headache(aelltcd=NAUSEA, aeterm="nausea"))  # same subject, other term
    _store_one(env, "0012", _headache("2021-03-09"))  # repeated by the confirmed row only
    with write_session(env.engine) as s:
        ids = insert_events(session=s, actor=ACTOR, prepared=prepared, submit=True)
    with read_session(env.engine) as s:
        seqs = [s.get(AdverseEvent, i).aeseq for i in ids]  # type: ignore[union-attr]
    assert seqs == [3, 4, 5, 6, 7]  # after the two stored meanwhile


def test_stored_events_are_read_set_wise(upload_study) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    env = upload_study
    _store_one(env, "0012", _headache("2021-01-20"))
    subjects = [env.subject(s) for s in ("0012", "007", "12", "1E5")]
    rows = [BulkRow(u, _headache(f"2021-{m:02d}-{d:02d}"))
            for u in subjects for m in (2, 3, 4) for d in range(1, 26)]  # fmt: skip
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if "adverseevent" in statement.lower():
            statements.append(statement)

    with read_session(env.engine) as s:
        ctx = BulkContext.load(s, env.study_id)
        event.listen(env.engine, "before_cursor_execute", seen)
        try:
            prepared, errors, _ = prepare_events(ctx, rows, submit=True)
        finally:
            event.remove(env.engine, "before_cursor_execute", seen)
    assert errors == [] and len(prepared) == len(rows) == 300
    assert len(statements) == 1  # one query for the 4 subjects, not one per row


# --- the queue tally after bulk inserts (migration 0005) ------------------------------------


def _insert_triggers(engine) -> list[str]:  # type: ignore[no-untyped-def]
    """The names of the triggers counting inserted events into the tally."""
    sql = (
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'adverseevent' "
        "AND sql LIKE '%AFTER INSERT%'"
        if engine.dialect.name == "sqlite"
        else "SELECT tgname FROM pg_trigger WHERE tgrelid = 'adverseevent'::regclass "
        "AND NOT tgisinternal AND tgtype & 4 = 4"  # TRIGGER_TYPE_INSERT
    )
    with engine.connect() as conn:
        return sorted(conn.execute(text(sql)).scalars())


def _assert_tally(engine) -> int:  # type: ignore[no-untyped-def]
    """queue_tally equals a direct count of the events by the tally's key; returns the total."""
    tally, direct = tally_and_direct(engine)
    assert tally == direct
    assert _insert_triggers(engine) == ["queue_tally_ae_insert"]  # never left dropped
    return sum(tally.values())


def _mixed_rows(env, usubjids: list[str], n: int, day0: int = 0) -> list[BulkRow]:  # type: ignore[no-untyped-def]
    from datetime import date, timedelta

    out = []
    for i in range(n):
        onset = str(date(2021, 2, 1) + timedelta(days=day0 + i // len(usubjids)))
        if i % 4 == 3:  # serious, grade 3, an AESI grouping (hypersensitivity)
            data = _headache(onset, aelltcd=ANAPHYLAXIS, aeterm="anaphylaxis", aetoxgr=3,
                             aeser=True, aeshosp=True, narrative="hospitalised",
                             aeawaredtc=onset)  # fmt: skip
        else:
            data = _headache(onset, aetoxgr=1 + i % 2)
        out.append(BulkRow(usubjids[i % len(usubjids)], data))
    return out


def _subjects_with_and_without_arm(env) -> list[str]:  # type: ignore[no-untyped-def]
    from datetime import date

    from pv.study.models import Site
    from pv.study.service import add_subject

    with write_session(env.engine) as s:
        site = s.get(Site, env.site1_id)
        plain = add_subject(session=s, actor=Actor.system("tests"), study_id=env.study_id,
                            site=site, subjid="0500", arm=None,
                            consent_date=date(2021, 1, 1))  # fmt: skip
        return [env.subject("0012"), env.subject("007"), env.other_site, plain.usubjid]


def _bulk(env, rows: list[BulkRow], submit: bool) -> list[int]:  # type: ignore[no-untyped-def]
    with write_session(env.engine) as s:
        return create_events_bulk(session=s, actor=ACTOR, study_id=env.study_id, rows=rows,
                                  submit=submit)  # fmt: skip


def test_the_tally_equals_a_direct_count_after_bulk_imports(upload_study) -> None:  # type: ignore[no-untyped-def]
    env = upload_study
    subjects = _subjects_with_and_without_arm(env)
    _store_one(env, "0012", _headache("2021-01-15"))  # counted by the row trigger
    assert _assert_tally(env.engine) == 1
    _bulk(env, _mixed_rows(env, subjects, 2500), submit=True)  # more than one batch
    assert _assert_tally(env.engine) == 2501
    _bulk(env, _mixed_rows(env, subjects, 40, day0=700), submit=False)  # drafts
    assert _assert_tally(env.engine) == 2541
    # The row trigger counts again after a bulk insert (it is paused only inside one).
    _store_one(env, "007", _headache("2021-01-16"))
    assert _assert_tally(env.engine) == 2542
    with env.engine.begin() as conn:  # and an update moves a count
        conn.execute(text("UPDATE adverseevent SET status = 'locked' WHERE id % 7 = 0"))
    assert _assert_tally(env.engine) == 2542


def test_a_failed_bulk_insert_leaves_no_marker_and_no_count(upload_study) -> None:  # type: ignore[no-untyped-def]
    env = upload_study
    rows = _mixed_rows(env, [env.subject("0012")], 10)
    prepared = _prepare(env, rows)
    broken = [p._replace(subject_id=10**6) if i == 7 else p for i, p in enumerate(prepared)]
    with pytest.raises(Exception), write_session(env.engine) as s:  # noqa: B017, PT011
        insert_events(session=s, actor=ACTOR, prepared=broken, submit=True)
    assert _count(env.engine) == 0 and _assert_tally(env.engine) == 0
    _bulk(env, rows, submit=True)
    assert _assert_tally(env.engine) == 10


def test_migration_0005_down_and_up_keeps_the_tally_exact(upload_study) -> None:  # type: ignore[no-untyped-def]
    from alembic import command

    from pv.migrate import alembic_config, current_revision

    env = upload_study

    def migrate(direction: str, revision: str) -> None:
        cfg = alembic_config()
        with env.engine.connect() as conn:
            cfg.attributes["connection"] = conn
            getattr(command, direction)(cfg, revision)
            conn.commit()

    subjects = _subjects_with_and_without_arm(env)
    _bulk(env, _mixed_rows(env, subjects, 120), submit=True)
    assert _assert_tally(env.engine) == 120
    migrate("downgrade", "0004")
    assert current_revision(env.engine) == "0004"
    # PostgreSQL is back to one row trigger for inserts and deletes; SQLite never changed.
    pg = env.engine.dialect.name == "postgresql"
    assert _insert_triggers(env.engine) == ["queue_tally_ae" if pg else "queue_tally_ae_insert"]
    # The 0002 row trigger counts an event stored at 0004. The models are those of head
    # (migration 0006 added columns), so the row is a raw copy of one in the 0004 schema.
    cols = [c["name"] for c in inspect(env.engine).get_columns("adverseevent") if c["name"] != "id"]
    listed = ", ".join(f'"{c}"' for c in cols)
    picked = ", ".join('"aeseq" + 1000' if c == "aeseq" else f'"{c}"' for c in cols)
    with env.engine.begin() as conn:
        conn.execute(text(f"INSERT INTO adverseevent ({listed}) SELECT {picked} FROM adverseevent "
                          "WHERE id = (SELECT max(id) FROM adverseevent)"))  # fmt: skip
    with env.engine.connect() as conn:
        total = conn.execute(text("SELECT sum(n) FROM queue_tally")).scalar_one()
        assert total == _count(env.engine) == 121
    migrate("upgrade", "head")
    assert _assert_tally(env.engine) == 121
    _bulk(env, _mixed_rows(env, subjects, 60, day0=500), submit=True)
    _store_one(env, "007", _headache("2020-12-21"))
    assert _assert_tally(env.engine) == 182


def test_new_ids_are_read_back_when_they_are_not_one_run(upload_study, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """SQLite: a batch's ids are before+1 .. before+n unless the check says otherwise; then
    they are read back by (subject, AESEQ). Both give each audit entry its own event."""
    from pv.events import bulk

    env = upload_study
    if env.engine.dialect.name != "sqlite":
        pytest.skip("the SQLite writer")
    init = bulk._SqliteWriter.__init__

    def no_run(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        init(self, *args, **kwargs)
        self.span_sql = "SELECT -1, -1 WHERE ? IS NOT NULL"  # never "one run"

    for patched in (False, True):
        if patched:
            monkeypatch.setattr(bulk._SqliteWriter, "__init__", no_run)
        rows = _mixed_rows(env, [env.subject("0012"), env.subject("007")], 30, day0=100 * patched)
        ids = _bulk(env, rows, submit=True)
        with env.engine.connect() as conn:
            got = dict(conn.execute(text(
                "SELECT a.entity_id, e.aeterm || '|' || e.aestdtc FROM audit_log a JOIN "
                "adverseevent e ON CAST(a.entity_id AS INTEGER) = e.id "
                "WHERE a.entity_type = 'adverse_event'")).all())  # fmt: skip
        assert [got[str(i)] for i in ids] == [f"{r.data.aeterm}|{r.data.aestdtc}" for r in rows]
