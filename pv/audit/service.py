"""Writing the audit trail. Every service that changes data calls `record`.

Entries take no time stamp from their callers: the time and the hash-chain links are set
when they are written (pv/audit/chain.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from pv.audit import chain
from pv.audit.models import AuditEntry


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user, or the system (CLI imports, the demo)."""

    username: str
    user_id: int | None = None
    role: str | None = None

    @classmethod
    def system(cls, what: str = "system") -> Actor:
        return cls(username=what)


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for every field whose value changed."""
    out: dict[str, list[Any]] = {}
    for key in new:
        before, after = jsonable(old.get(key)), jsonable(new[key])
        if before != after:
            out[key] = [before, after]
    return out


def record(
    *,
    session: Session,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: str | int,
    changes: Mapping[str, Any] | None = None,
    reason: str | None = None,
    study_id: str | None = None,
    site_id: int | None = None,
) -> AuditEntry:
    # The time stamp and the hash-chain links are set when the entry is flushed (chain.py).
    entry = AuditEntry(
        actor_id=actor.user_id,
        actor=actor.username,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        study_id=study_id,
        site_id=site_id,
        changes=jsonable(dict(changes or {})),
        reason=reason,
    )
    session.add(entry)
    return entry


def record_many(*, session: Session, actor: Actor, entries: Iterable[Mapping[str, Any]]) -> int:
    """Bulk variant for imports: each mapping has action, entity_type, entity_id, changes, ...
    The entries are linked onto the hash chain and inserted now, in order (chain.py)."""
    rows = [
        {
            "actor_id": actor.user_id,
            "actor": actor.username,
            "action": e["action"],
            "entity_type": e["entity_type"],
            "entity_id": str(e["entity_id"]),
            "study_id": e.get("study_id"),
            "site_id": e.get("site_id"),
            "changes": jsonable(dict(e.get("changes") or {})),
            "reason": e.get("reason"),
        }
        for e in entries
    ]
    if rows:
        session.flush()  # entries pending in the session come first
        conn = session.connection()
        links = chain.link(conn, rows)
        session.execute(insert(AuditEntry), chain.rows_for_insert(links, rows))
        chain.confirm(conn, links)
    return len(rows)
