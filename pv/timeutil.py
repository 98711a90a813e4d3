"""Time helpers. Audit and workflow time stamps are aware UTC date-times; clinical
dates and times (onset, dosing) are stored as collected, without a zone."""

from __future__ import annotations

from datetime import UTC, date, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    return datetime.now(UTC).date()
