"""An upload job: a spreadsheet upload checked and stored off the request loop.

The job's row is the only state shared between the web worker that accepted the file, the
process that imports it and whichever web worker answers the next progress poll (several
`pvtracker serve` workers share nothing else). See `pv.imports.jobs`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from pv.timeutil import utcnow


class JobStatus(StrEnum):
    queued = "queued"
    reading = "reading"
    checking = "checking"
    storing = "storing"
    stored = "stored"  # every row stored
    rejected = "rejected"  # rows with problems: nothing stored
    refused = "refused"  # the file as a whole refused (type, size, unsafe, corrupt)
    cancelled = "cancelled"
    failed = "failed"  # an internal error: nothing stored


FINISHED = frozenset({JobStatus.stored, JobStatus.rejected, JobStatus.refused,
                      JobStatus.cancelled, JobStatus.failed})  # fmt: skip


class UploadJob(SQLModel, table=True):
    __tablename__ = "upload_job"
    __table_args__ = (Index("ix_upload_job_user", "user_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=32)
    user_id: int | None = Field(default=None, foreign_key="user.id")
    username: str = Field(max_length=100)
    study_id: str = Field(max_length=64)
    filename: str = Field(max_length=255)
    size: int = 0  # bytes received
    status: str = Field(default=JobStatus.queued.value, max_length=16)
    rows_total: int = 0  # an estimate until the file is read
    rows_read: int = 0
    rows_checked: int = 0
    rows_stored: int = 0
    stored: int = 0
    error_count: int = 0
    warning_count: int = 0
    # The first errors and warnings as [row, column, value, reason] (shown on the page);
    # the whole error list as gzip-compressed CSV (the report download).
    errors_shown: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    warnings_shown: list[Any] = Field(default_factory=list,
                                      sa_column=Column(JSON, nullable=False))  # fmt: skip
    errors_csv: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    refused: str | None = None
    cancel_requested: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
