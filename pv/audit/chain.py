"""The audit trail's hash chain.

Every entry carries `prev_digest` (the digest of the entry before it, or GENESIS for the
first) and `digest` = SHA-256(prev_digest + canonical content), hex. The canonical content
is one compact JSON array, keys sorted, non-ASCII kept as is:

    [id, at, actor_id, actor, action, entity_type, entity_id, study_id, site_id, changes, reason]

with `at` in UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ`. Changing, removing, inserting or
reordering an entry breaks a link that `pvtracker audit verify` (pv/audit/verify.py) finds.

The links are computed here, in Python, just before the entries are inserted, in id order,
by the one writer that holds the write lock: SQLite write transactions begin with BEGIN
IMMEDIATE (pv/db.py), so the last entry read is the last there is and the new rows get
the next ids (the database assigns them: explicit ids are refused by the triggers of
migration 0009); on PostgreSQL a transaction-level advisory lock serializes the writers
of the trail until they commit, and the ids are drawn from the table's sequence under it.

The time stamp of an entry is the server's clock at that moment, never an input, and
never earlier than the entry before it. The database refuses an entry whose time is more
than CLOCK_TOLERANCE from its own clock (migration 0009).

The chain has no secret: someone able to write the table directly (the owner, with the
triggers removed) can append entries that link correctly. Those are caught only if their
time goes backwards; keep the head digest that `audit verify` prints somewhere else to
detect anything appended or cut at the end.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.engine import Connection

from pv.timeutil import utcnow

GENESIS = "0" * 64
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# How far an entry's time may be from the database's clock when it is inserted (both ways).
# Migration 0009 writes the same number into the triggers.
CLOCK_TOLERANCE = timedelta(minutes=5)
# pg_advisory_xact_lock key of the trail's writers ("pvaudit" as a number).
LOCK_KEY = 0x7076617564697400

# The fields of the canonical content, in order.
FIELDS = (
    "id",
    "at",
    "actor_id",
    "actor",
    "action",
    "entity_type",
    "entity_id",
    "study_id",
    "site_id",
    "changes",
    "reason",
)
CONTENT = FIELDS[1:]  # what a caller supplies (the id comes from the database)


class ChainError(RuntimeError):
    """The trail cannot be extended safely (ids not as expected, clock behind the trail)."""


def _make_encoder() -> Any:
    """json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False), reusing one C
    encoder (a third cheaper for small objects); the plain call when C is missing."""

    def reference(obj: Any) -> str:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    try:
        from json.encoder import c_encode_basestring, c_make_encoder

        if c_make_encoder is None or c_encode_basestring is None:
            return reference
        chunks = c_make_encoder(None, json.JSONEncoder().default, c_encode_basestring, None,
                                ":", ",", True, False, True)  # fmt: skip

        def dumps(obj: Any) -> str:
            return "".join(chunks(obj, 0))

        sample = [1, "x", {"b": [None, 'caf\u00e9 "\n'], "a": {"z": 1.5, "y": True}}, None]
        return dumps if dumps(sample) == reference(sample) else reference
    except (ImportError, TypeError, ValueError):
        return reference


_dumps = _make_encoder()


class Canonical(str):
    """An entry's `changes` already written as canonical JSON (`creation_changes`)."""

    __slots__ = ()


def creation_changes(fields: Sequence[tuple[str, int]]) -> Any:
    """A function of a row giving the canonical JSON of what a created record's entry holds,
    {field: [None, row[index]]} for each (field, index) whose value is not None, as a
    `Canonical`, built directly from the row (bulk writers: no dict, no sort, repeated
    values encoded once). Used only when it gives the very text of `canonical` on a sample
    of every kind of value; otherwise the reference itself."""
    from json.encoder import c_encode_basestring

    def reference(row: Sequence[Any]) -> Canonical:
        return Canonical(_dumps({f: [None, row[i]] for f, i in fields if row[i] is not None}))

    if c_encode_basestring is None:
        return reference
    text_of = c_encode_basestring
    keys = tuple((i, text_of(f) + ":[null,", {}) for f, i in sorted(fields))

    def fast(row: Sequence[Any]) -> Canonical:
        parts = []
        for i, key, seen in keys:
            v = row[i]
            if v is None:
                continue
            t = type(v)
            if t is str:
                piece = seen.get(v)
                if piece is None:
                    piece = key + text_of(v) + "]"
                    if len(v) <= 40 and len(seen) < 1000:
                        seen[v] = piece
            elif t is bool:
                piece = key + ("true]" if v else "false]")
            elif t is int:
                piece = f"{key}{v!r}]"
            else:
                piece = key + _dumps(v) + "]"
            parts.append(piece)
        return Canonical("{" + ",".join(parts) + "}")

    width = max((i for _f, i in fields), default=-1) + 1
    samples: list[list[Any]] = [[None] * width for _ in range(3)]
    values = ["caf\u00e9 \"x\"\n\t\\ \u2603 \U0001f600", 7, -3, True, False, 1.5, 2**70,
              {"b": "RELATED", "a\u00e9": ""}, {}, "", "\x00\x1f", "\u80ba\u708e en", 0.1,
              None]  # fmt: skip
    for k, sample in enumerate(samples):
        for n, (_f, i) in enumerate(fields):
            sample[i] = values[(n + k) % len(values)]
    try:
        if all(fast(r) == reference(r) for r in samples):
            for _i, _key, seen in keys:
                seen.clear()
            return fast
    except (TypeError, ValueError):
        pass
    return reference


def format_time(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime(TIME_FORMAT)


def canonical(entry_id: int, at: datetime | str, actor_id: int | None, actor: str, action: str,
              entity_type: str, entity_id: str, study_id: str | None, site_id: int | None,
              changes: Any, reason: str | None) -> str:  # fmt: skip
    """The canonical text of an entry's content (see the module's description)."""
    stamp = at if isinstance(at, str) else format_time(at)
    if type(changes) is Canonical:  # the same text as below, without encoding it again
        head = _dumps([entry_id, stamp, actor_id, actor, action, entity_type, entity_id,
                       study_id, site_id])  # fmt: skip
        return f"{head[:-1]},{changes},{_dumps(reason)}]"
    content = [entry_id, stamp, actor_id, actor, action, entity_type, entity_id, study_id,
               site_id, changes, reason]  # fmt: skip
    try:
        return _dumps(content)  # type: ignore[no-any-return]
    except TypeError:  # keys of mixed types: as they read back from the database
        return _dumps([*content[:9], json.loads(json.dumps(changes)), reason])  # type: ignore[no-any-return]


def digest_of(prev_digest: str, entry_id: int, at: datetime | str, actor_id: int | None,
              actor: str, action: str, entity_type: str, entity_id: str, study_id: str | None,
              site_id: int | None, changes: Any, reason: str | None) -> str:  # fmt: skip
    text_ = canonical(entry_id, at, actor_id, actor, action, entity_type, entity_id, study_id,
                      site_id, changes, reason)  # fmt: skip
    return hashlib.sha256((prev_digest + text_).encode("utf-8")).hexdigest()


def entry_digest(prev_digest: str, entry_id: int, entry: Mapping[str, Any]) -> str:
    """The digest of `entry` (a mapping of CONTENT) with id `entry_id` after `prev_digest`."""
    return digest_of(prev_digest, entry_id, *(entry[f] for f in CONTENT))


class Head(NamedTuple):
    """The last entry of the trail (id 0, GENESIS and no time when there is none)."""

    id: int
    digest: str
    at: datetime | None


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def lock(conn: Connection, wait_seconds: float | None = None) -> None:
    """Serialize the trail's writers until this transaction ends (PostgreSQL; a SQLite
    write transaction holds the database's write lock already). pv.db.write_session takes
    it when a write transaction begins; a writer outside one takes it here, when its first
    entry is flushed. `wait_seconds`: give up (an error) after waiting that long, as
    SQLite's busy timeout does; None: the server's lock_timeout."""
    if not is_postgres(conn):
        return
    if wait_seconds is None:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        return
    previous = conn.execute(text("SHOW lock_timeout")).scalar()
    conn.execute(text("SELECT set_config('lock_timeout', :t, true)"),
                 {"t": f"{int(wait_seconds * 1000)}ms"})  # fmt: skip
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    conn.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": previous})


def head(conn: Connection) -> Head:
    """Lock the trail for this transaction and read its last entry."""
    from pv.audit.models import AuditEntry

    lock(conn)
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    row = conn.execute(
        table.select().with_only_columns(table.c.id, table.c.digest, table.c.at)
        .order_by(table.c.id.desc()).limit(1)
    ).first()  # fmt: skip
    if row is None:
        return Head(0, GENESIS, None)
    if row.digest is None:
        raise ChainError(f"audit entry {row.id} has no digest: run the migrations")
    at = row.at if row.at is None or row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return Head(row.id, row.digest, at)


def _new_ids(conn: Connection, last: Head, n: int) -> list[int]:
    if is_postgres(conn):
        rows = conn.execute(
            text("SELECT nextval(pg_get_serial_sequence('audit_log', 'id')) "
                 "FROM generate_series(1, :n)"), {"n": n}
        ).scalars().all()  # fmt: skip
        return sorted(rows)
    return list(range(last.id + 1, last.id + n + 1))


class Links(NamedTuple):
    """What `link` decided for a batch: the time of its entries, their ids (set by the
    database on SQLite: check with `confirm`), and each entry's (prev_digest, digest)."""

    at: datetime
    ids: list[int]
    digests: list[tuple[str, str]]
    explicit_ids: bool  # PostgreSQL: insert with these ids


def link(conn: Connection, entries: Sequence[Mapping[str, Any]], *,
         at: datetime | None = None) -> Links:  # fmt: skip
    """Chain `entries` (mappings of CONTENT except `at`, in insertion order) after the
    trail's last entry, inside the caller's write transaction, which must insert them next
    with the time and digests returned (and, on PostgreSQL, the ids: `Links.ids`).

    `at`: the time the caller must use (a time written into its statement); refused when the
    trail's last entry is later. Otherwise the time is now, or the last entry's time when
    the clock is behind it (the trail's time never goes backwards)."""
    contents = [(e["actor_id"], e["actor"], e["action"], e["entity_type"], e["entity_id"],
                 e.get("study_id"), e.get("site_id"), e["changes"], e.get("reason"))
                for e in entries]  # fmt: skip
    return _link(conn, contents, at)


def link_rows(session: Any, *, actor_id: int | None, actor: str, action: str, entity_type: str,
              rows: Sequence[tuple[str, str | None, int | None, Any]],
              at: datetime | None = None) -> Links:  # fmt: skip
    """`link` for a bulk insert of entries that share their actor, action and type (no
    reason): `rows` are (entity_id, study_id, site_id, changes). Flushes `session` first,
    so that entries pending in it are linked (and written) before these."""
    session.flush()
    contents = [(actor_id, actor, action, entity_type, entity_id, study_id, site_id, changes,
                 None) for entity_id, study_id, site_id, changes in rows]  # fmt: skip
    return _link(session.connection(), contents, at)


def _link(conn: Connection, contents: Sequence[tuple[Any, ...]], at: datetime | None) -> Links:
    last = head(conn)
    now = utcnow()
    if at is None:
        at = now if last.at is None or now >= last.at else last.at
    elif last.at is not None and at < last.at:
        raise ChainError(f"the clock ({at.isoformat()}) is behind the audit trail's last entry "
                         f"({last.at.isoformat()})")  # fmt: skip
    ids = _new_ids(conn, last, len(contents))
    prev = last.digest
    out = []
    stamp = format_time(at)
    sha = hashlib.sha256
    for entry_id, c in zip(ids, contents, strict=True):
        d = sha((prev + canonical(entry_id, stamp, *c)).encode("utf-8")).hexdigest()
        out.append((prev, d))
        prev = d
    return Links(at, ids, out, is_postgres(conn))


def confirm(conn: Connection, links: Links) -> None:
    """After the insert: the database gave the ids the digests were computed with
    (SQLite assigns them; the write lock makes them the next ones)."""
    if not links.ids or is_postgres(conn):
        return
    got = conn.execute(text("SELECT max(id) FROM audit_log")).scalar()
    if got != links.ids[-1]:
        raise ChainError(f"audit entries got ids up to {got}, expected {links.ids[-1]}")


def rows_for_insert(links: Links, entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The parameter rows of an INSERT of `entries` as `links` decided."""
    rows = []
    for entry_id, e, (prev, d) in zip(links.ids, entries, links.digests, strict=True):
        row = {f: e.get(f) for f in CONTENT}
        row.update(at=links.at, prev_digest=prev, digest=d)
        if links.explicit_ids:
            row["id"] = entry_id
        rows.append(row)
    return rows


def backfill(conn: Connection, batch: int = 5000) -> int:
    """Compute the digests of every entry in id order (migration 0009, with the triggers
    that refuse UPDATE removed). Returns the number of entries."""
    from pv.audit.models import AuditEntry

    table = AuditEntry.__table__  # type: ignore[attr-defined]
    cols = [table.c[f] for f in FIELDS]
    prev, n, last_id = GENESIS, 0, None
    while True:
        q = table.select().with_only_columns(*cols).order_by(table.c.id).limit(batch)
        if last_id is not None:
            q = q.where(table.c.id > last_id)
        rows = conn.execute(q).all()
        if not rows:
            return n
        params = []
        for r in rows:
            d = digest_of(prev, *r)
            params.append({"i": r.id, "p": prev, "d": d})
            prev = d
        conn.execute(
            text("UPDATE audit_log SET prev_digest = :p, digest = :d WHERE id = :i"), params
        )
        n += len(rows)
        last_id = rows[-1].id


def install_flush_hook() -> None:
    """Link the AuditEntry objects a session adds (`record`) when it flushes them."""
    from sqlalchemy import event, inspect
    from sqlalchemy.orm import Session

    from pv.audit.models import AuditEntry

    if getattr(install_flush_hook, "done", False):
        return
    install_flush_hook.done = True  # type: ignore[attr-defined]

    def before_flush(session: Session, _context: Any, _instances: Any) -> None:
        session.info.pop("pv_audit_links", None)  # left by a flush that failed
        new = [o for o in session.new if isinstance(o, AuditEntry)]
        if not new:
            return
        new.sort(key=lambda o: inspect(o).insert_order)
        conn = session.connection()
        entries = [{f: getattr(o, f) for f in CONTENT if f != "at"} for o in new]
        links = link(conn, entries)
        for o, entry_id, (prev, d) in zip(new, links.ids, links.digests, strict=True):
            o.at, o.prev_digest, o.digest = links.at, prev, d
            o.id = entry_id if links.explicit_ids else None
        session.info["pv_audit_links"] = [links]

    def after_flush(session: Session, _context: Any) -> None:
        pending = session.info.pop("pv_audit_links", None)
        if pending:
            conn = session.connection()
            for links in pending:
                confirm(conn, links)

    event.listen(Session, "before_flush", before_flush)
    event.listen(Session, "after_flush", after_flush)
