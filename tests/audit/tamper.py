"""Tampering with the audit trail directly in the database, as its owner would: the
triggers removed (SQLite) or disabled (PostgreSQL), then an entry edited, deleted, inserted,
reordered, or appended back-dated. Each tamper says which entry `audit verify` must name."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import MetaData, Table, text
from sqlalchemy.engine import Connection, Engine

from pv.audit.chain import digest_of

KINDS = ("changed", "missing", "inserted", "reordered", "time")


@contextmanager
def owner_without_triggers(engine: Engine) -> Iterator[Connection]:
    """A transaction as the tables' owner with the audit trail's triggers out of the way."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            saved = conn.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name = 'audit_log'"
            )).all()  # fmt: skip
            assert len(saved) >= 3, saved
            for name, _sql in saved:
                conn.execute(text(f'DROP TRIGGER "{name}"'))
            yield conn
            for _name, sql in saved:
                conn.execute(text(sql))
        else:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            yield conn
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


def _table(conn: Connection) -> Table:
    return Table("audit_log", MetaData(), autoload_with=conn)


def snapshot(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        t = _table(conn)
        return [dict(r._mapping) for r in conn.execute(t.select().order_by(t.c.id))]


def restore(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Undo a tamper: the trail exactly as `snapshot` read it."""
    with owner_without_triggers(engine) as conn:
        t = _table(conn)
        conn.execute(t.delete())
        conn.execute(t.insert(), rows)


def _row(conn: Connection, entry_id: int) -> dict[str, Any]:
    t = _table(conn)
    return dict(conn.execute(t.select().where(t.c.id == entry_id)).one()._mapping)


def _next_id(conn: Connection, entry_id: int) -> int:
    return int(conn.execute(text("SELECT min(id) FROM audit_log WHERE id > :i"),
                            {"i": entry_id}).scalar())  # fmt: skip


def _forge(conn: Connection, entry_id: int, prev: dict[str, Any], **content: Any) -> None:
    """Insert a well-formed entry (a forger who knows the algorithm) linked after `prev`."""
    t = _table(conn)
    row = {
        "at": prev["at"], "actor_id": None, "actor": "mallory", "action": "update",
        "entity_type": "adverse_event", "entity_id": "1", "study_id": prev["study_id"],
        "site_id": None, "changes": {"aeser": [True, False]}, "reason": "forged",
    }  # fmt: skip
    row.update(content)
    fields = ("at", "actor_id", "actor", "action", "entity_type", "entity_id", "study_id",
              "site_id", "changes", "reason")  # fmt: skip
    row["digest"] = digest_of(prev["digest"], entry_id, *(row[f] for f in fields))
    conn.execute(t.insert(), [{"id": entry_id, "prev_digest": prev["digest"], **row}])


def tamper(engine: Engine, kind: str, target: int) -> int:
    """Tamper with the trail around entry `target`; returns the id verify must name."""
    with owner_without_triggers(engine) as conn:
        if kind == "changed":  # an entry's content edited in place
            conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = :i"),
                         {"i": target})  # fmt: skip
            return target
        if kind == "missing":  # an entry deleted: the next one has lost its predecessor
            after = _next_id(conn, target)
            conn.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": target})
            return after
        if kind == "inserted":  # a forged, well-linked entry slid in after `target`
            prev = _row(conn, target)
            big = 10_000_000
            conn.execute(text("UPDATE audit_log SET id = id + :b WHERE id > :i"),
                         {"b": big, "i": target})  # fmt: skip
            conn.execute(text("UPDATE audit_log SET id = id - :b + 1 WHERE id > :b"),
                         {"b": big})  # fmt: skip
            _forge(conn, target + 1, prev)
            return target + 1
        if kind == "reordered":  # `target` and the entry after it swap places
            after = _next_id(conn, target)
            for a, b in ((target, -1), (after, target), (-1, after)):
                conn.execute(text("UPDATE audit_log SET id = :b WHERE id = :a"), {"a": a, "b": b})
            return target
        if kind == "time":  # a forged entry appended at the end, back-dated by a day
            last = int(conn.execute(text("SELECT max(id) FROM audit_log")).scalar())
            prev = _row(conn, last)
            _forge(conn, last + 1, prev, at=prev["at"] - timedelta(days=1))
            return last + 1
    raise ValueError(kind)
