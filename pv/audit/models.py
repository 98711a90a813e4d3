"""The append-only audit trail. UPDATE and DELETE are refused by database triggers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from pv.timeutil import utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)  # UTC
    actor_id: int | None = None
    actor: str = Field(max_length=80)  # username, or "system"
    action: str = Field(max_length=40)  # create, update, submit, login, ...
    entity_type: str = Field(max_length=40)
    entity_id: str = Field(max_length=80)
    study_id: str | None = Field(default=None, max_length=64)
    site_id: int | None = None
    # {field: [old, new]} for updates, {field: [None, value]} for creates.
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    reason: str | None = None
    # The hash chain (pv/audit/chain.py): digest = SHA-256(prev_digest + canonical entry).
    prev_digest: str | None = Field(default=None, max_length=64)
    digest: str | None = Field(default=None, max_length=64)


def _install() -> None:
    from pv.audit.chain import install_flush_hook

    install_flush_hook()


_install()
