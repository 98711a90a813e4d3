"""The bulk write path stores what create_event stores, column by column, on either
database (on SQLite: with the same storage classes and the same audit text)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlmodel import select

from pv.audit.service import Actor
from pv.db import read_session, write_session
from pv.events.bulk import BulkRow, _sql_literal, create_events_bulk
from pv.events.rules import EventInput
from pv.events.service import create_event
from pv.study.models import Subject

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
                   aecontrt="adrenaline", ongoing=True),
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
