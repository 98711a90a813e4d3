"""The hash chain written by ordinary activity, on SQLite and PostgreSQL: every entry's
digests equal an independent computation, `pvtracker audit verify` finds the trail intact,
time stamps come from the server, and bulk writes (record_many, the spreadsheet upload's
writer) chain their entries too."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, text
from sqlmodel import select

from pv.audit.models import AuditEntry
from pv.audit.service import Actor, record, record_many
from pv.audit.verify import verify
from pv.db import read_session, write_session
from tests.audit.conftest import activity, independent_digests
from tests.imports.conftest import upload_study  # noqa: F401  (fixture)
from tests.imports.test_bulk_storage import _bulk, _mixed_rows, _subjects_with_and_without_arm


def _stored(engine) -> list[tuple[int, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT id, prev_digest, digest FROM audit_log ORDER BY id"))]  # fmt: skip


def test_ordinary_activity_builds_an_intact_chain(trail, db_url, cli) -> None:
    stored = _stored(trail)
    assert len(stored) >= 6  # study import, subject, four events
    assert stored == independent_digests(trail)
    assert stored[0][1] == "0" * 64
    result = verify(trail)
    assert result.intact and result.count == len(stored)
    assert (result.head_id, result.head_digest) == (stored[-1][0], stored[-1][2])

    code, out, err = cli(db_url, "audit", "verify")
    assert code == 0, err
    assert f"audit trail intact: {len(stored)} entries" in out
    assert f"last entry {stored[-1][0]}, digest {stored[-1][2]}" in out


def test_time_stamps_come_from_the_server(engine) -> None:
    # record() and record_many() take no time; an entry made with a time gets the server's.
    for fn in (record, record_many):
        assert "at" not in inspect.signature(fn).parameters
    before = datetime.now(UTC)
    with write_session(engine) as s:
        record(session=s, actor=Actor.system("t"), action="create", entity_type="x",
               entity_id=1)  # fmt: skip
        s.add(AuditEntry(at=datetime(2001, 1, 1, tzinfo=UTC), actor="t", action="create",
                         entity_type="x", entity_id="2", changes={}))  # fmt: skip
        old = datetime(2001, 1, 1, tzinfo=UTC)
        record_many(session=s, actor=Actor.system("t"),
                    entries=[{"action": "create", "entity_type": "y", "entity_id": i,
                              "at": old} for i in range(3)])  # fmt: skip
    after = datetime.now(UTC)
    with read_session(engine) as s:
        times = s.exec(select(AuditEntry.at).order_by(AuditEntry.id)).all()
    assert len(times) == 5
    for at in times:
        assert before - timedelta(seconds=1) <= at <= after + timedelta(seconds=1)
    assert times == sorted(times)
    assert verify(engine).intact


def test_entries_of_one_flush_and_of_record_many_keep_their_order(engine) -> None:
    with write_session(engine) as s:
        for i in range(3):
            record(session=s, actor=Actor.system("t"), action="create", entity_type="x",
                   entity_id=f"a{i}")  # fmt: skip
        # pending entries are written before the bulk ones, then one more after them
        lung = {"n": [None, "\u80ba\u708e"]}
        record_many(session=s, actor=Actor.system("t"),
                    entries=[{"action": "create", "entity_type": "y", "entity_id": f"b{i}",
                              "changes": lung} for i in range(4)])  # fmt: skip
        record(session=s, actor=Actor.system("t"), action="create", entity_type="x",
               entity_id="c")  # fmt: skip
    with read_session(engine) as s:
        order = s.exec(select(AuditEntry.entity_id).order_by(AuditEntry.id)).all()
    assert order == ["a0", "a1", "a2", "b0", "b1", "b2", "b3", "c"]
    assert _stored(engine) == independent_digests(engine)
    assert verify(engine).intact


def test_a_bulk_upload_chains_every_entry(upload_study) -> None:  # noqa: F811
    env = upload_study
    subjects = _subjects_with_and_without_arm(env)
    with env.engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    _bulk(env, _mixed_rows(env, subjects, 2300), submit=True)  # more than one batch
    with read_session(env.engine) as s:
        after = s.exec(select(func.count()).select_from(AuditEntry)).one()
    assert after >= before + 2300
    assert _stored(env.engine) == independent_digests(env.engine)
    result = verify(env.engine)
    assert result.intact and result.count == after


def test_a_rolled_back_transaction_leaves_the_chain_intact(trail) -> None:
    try:
        with write_session(trail) as s:
            record(session=s, actor=Actor.system("t"), action="create", entity_type="x",
                   entity_id="gone")  # fmt: skip
            s.flush()
            raise RuntimeError("abandon")
    except RuntimeError:
        pass
    with write_session(trail) as s:
        record(session=s, actor=Actor.system("t"), action="create", entity_type="x",
               entity_id="kept")  # fmt: skip
    assert verify(trail).intact
    assert _stored(trail) == independent_digests(trail)


def test_concurrent_writers_keep_one_chain(trail) -> None:
    import threading

    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                with write_session(trail) as s:
                    record(session=s, actor=Actor.system(f"w{n}"), action="create",
                           entity_type="x", entity_id=f"{n}-{i}")  # fmt: skip
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = verify(trail)
    assert result.intact, result
    with trail.connect() as conn:
        assert result.count == conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()


def test_activity_helper_writes_entries(engine) -> None:
    activity(engine, events=1)
    with engine.connect() as conn:
        actions = conn.execute(text("SELECT DISTINCT action FROM audit_log")).scalars().all()
    assert {"create"} <= set(actions)


def test_the_bulk_writers_encoder_gives_the_canonical_text() -> None:
    """chain.creation_changes (the upload's writer) equals json.dumps(sort_keys, compact,
    non-ASCII kept) of {field: [None, value]} on varied rows, repeated values included."""
    import json
    import random

    from pv.audit.chain import Canonical, creation_changes

    fields = [("zeta", 0), ("aerel", 1), ("aeterm", 2), ("aetoxgr", 3), ("aeser", 4),
              ("weight", 5), ("alpha", 6)]  # fmt: skip
    encode = creation_changes(fields)
    rng = random.Random(13)
    pool = [None, "", "pneumonie \u80ba\u708e", 'quote " and \\ back', "tab\tline\nend", "\x00",
            "\U0001f600", 0, -7, 2**64, True, False, 1.5, 1e-7, {"b": "RELATED", "a": None},
            {"\u00e9": [1, 2]}, [1, "x"]]  # fmt: skip
    for _ in range(400):
        row = [rng.choice(pool) for _ in fields]
        want = json.dumps({f: [None, row[i]] for f, i in fields if row[i] is not None},
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False)  # fmt: skip
        got = encode(row)
        assert type(got) is Canonical and got == want


def test_a_failed_flush_then_rollback_leaves_the_session_usable(engine) -> None:
    """A flush that fails after the entries were linked (here: a row breaking a constraint
    in the same flush), rolled back, then the same session writes again: chain intact."""
    from sqlalchemy.exc import IntegrityError

    from pv.study.models import Study

    with write_session(engine) as s:
        record(session=s, actor=Actor.system("t"), action="create", entity_type="x",
               entity_id="first")  # fmt: skip
    with read_session(engine) as s:
        study_ids = s.exec(select(Study.id)).all()
    with write_session(engine) as s:
        record(session=s, actor=Actor.system("t"), action="create", entity_type="x",
               entity_id="lost")  # fmt: skip
        s.add(Study(id="NCT-BROKEN", title=None))  # type: ignore[arg-type]  (NOT NULL)
        try:
            s.flush()
        except IntegrityError:
            s.rollback()
        else:  # pragma: no cover
            raise AssertionError("the broken row was accepted")
        s.connection(execution_options={"pv_write": True})
        record(session=s, actor=Actor.system("t"), action="create", entity_type="x",
               entity_id="second")  # fmt: skip
    with read_session(engine) as s:
        assert s.exec(select(AuditEntry.entity_id).order_by(AuditEntry.id)).all() == [
            "first", "second"]  # fmt: skip
        assert s.exec(select(Study.id)).all() == study_ids
    assert verify(engine).intact
