"""Checking the audit trail's hash chain (`pvtracker audit verify`).

The entries are read in id order. Each must link to the one before it (its prev_digest is
that entry's digest; GENESIS for the first), hash to its own digest, and not be earlier
than the entry before it. The first entry that does not is reported, with what went wrong:

- "changed": the entry is where it belongs but its content no longer gives its digest;
- "missing": the entry it links to is gone (deleted, or rewritten with a new digest);
- "inserted": the chain runs past the entry (its neighbours link to each other);
- "reordered": the entry links to an entry that now comes after it;
- "time": its time is earlier than the entry before it (a back-dated entry);
- "no-digest": it has no digests (written around the application).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from pv.audit.chain import FIELDS, GENESIS, digest_of
from pv.audit.models import AuditEntry

BATCH = 5000


@dataclass(frozen=True)
class Problem:
    kind: str  # changed, missing, inserted, reordered, time, no-digest
    entry_id: int
    other_id: int | None = None  # reordered: the entry it links to; time: the entry before


@dataclass(frozen=True)
class Result:
    count: int  # entries checked and found intact (all of them when problem is None)
    head_id: int | None
    head_digest: str | None
    problem: Problem | None

    @property
    def intact(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class _Entry:
    id: int
    at: datetime
    prev_digest: str | None
    digest: str | None
    content: tuple[Any, ...]  # FIELDS, in order

    def recomputed(self) -> str | None:
        if self.prev_digest is None:
            return None
        return digest_of(self.prev_digest, *self.content)


_TABLE = AuditEntry.__table__  # type: ignore[attr-defined]
_COLUMNS = [*(_TABLE.c[f] for f in FIELDS), _TABLE.c.prev_digest, _TABLE.c.digest]


def _entry(row: Any) -> _Entry:
    at = row.at
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    content = (row.id, at, *tuple(row)[2 : len(FIELDS)])
    return _Entry(row.id, at, row.prev_digest, row.digest, content)


def _entries(conn: Connection) -> Iterator[_Entry]:
    last = None
    while True:
        q = select(*_COLUMNS).order_by(_TABLE.c.id).limit(BATCH)
        if last is not None:
            q = q.where(_TABLE.c.id > last)
        rows = conn.execute(q).all()
        if not rows:
            return
        for r in rows:
            yield _entry(r)
        last = rows[-1].id


def _next_after(conn: Connection, entry_id: int) -> _Entry | None:
    row = conn.execute(
        select(*_COLUMNS).where(_TABLE.c.id > entry_id).order_by(_TABLE.c.id).limit(1)
    ).first()
    return None if row is None else _entry(row)


def _id_with_digest(conn: Connection, digest: str) -> int | None:
    return conn.execute(  # type: ignore[no-any-return]
        select(_TABLE.c.id).where(_TABLE.c.digest == digest).order_by(_TABLE.c.id).limit(1)
    ).scalar()


def _classify(conn: Connection, e: _Entry, prev: _Entry | None) -> Problem:
    expected = prev.digest if prev is not None else GENESIS
    nxt = _next_after(conn, e.id)
    skipped = nxt is not None and nxt.prev_digest == expected  # the chain runs past e
    if e.prev_digest == expected:  # linked in place, content does not give the digest
        return Problem("inserted" if skipped else "changed", e.id)
    target = _id_with_digest(conn, e.prev_digest) if e.prev_digest else None
    if target is not None and target > e.id:
        return Problem("reordered", e.id, target)
    if target is not None and prev is not None and target < prev.id:
        # e follows an earlier entry: the one before e does not belong in the chain
        return Problem("inserted", prev.id)
    if skipped or e.recomputed() != e.digest:  # not an entry the chain ever held intact
        return Problem("inserted", e.id)
    return Problem("missing", e.id)


def verify_connection(conn: Connection) -> Result:
    prev: _Entry | None = None
    count = 0
    for e in _entries(conn):
        if e.digest is None or e.prev_digest is None:
            return Result(count, _id(prev), _digest(prev), Problem("no-digest", e.id))
        expected = prev.digest if prev is not None else GENESIS
        if e.prev_digest != expected or e.recomputed() != e.digest:
            return Result(count, _id(prev), _digest(prev), _classify(conn, e, prev))
        if prev is not None and e.at < prev.at:
            return Result(count, _id(prev), _digest(prev), Problem("time", e.id, prev.id))
        prev = e
        count += 1
    return Result(count, _id(prev), _digest(prev), None)


def verify(engine: Engine) -> Result:
    """Walk the whole trail (read only) and report the first broken link."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":  # one snapshot for the whole walk
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            return verify_connection(conn)


def _id(e: _Entry | None) -> int | None:
    return None if e is None else e.id


def _digest(e: _Entry | None) -> str | None:
    return None if e is None else e.digest
