"""An in-app notification: what happened (kind and parameters, rendered in the reader's
language when shown), for whom, and whether it was read and e-mailed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from pv.timeutil import utcnow


class Notification(SQLModel, table=True):
    __table_args__ = (Index("ix_notification_user_read", "user_id", "read_at"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id")
    kind: str = Field(max_length=40)  # serious_event | query_raised | query_answered | ...
    study_id: str | None = Field(default=None, max_length=64)
    event_id: int | None = None
    query_id: int | None = None
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    read_at: datetime | None = None
    emailed_at: datetime | None = None
