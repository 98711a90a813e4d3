"""Safety review: the sponsor's assessment, reference safety information, queries to the
site and expedited-report clocks.

One `Assessment` row per event holds the current sponsor assessment (with its own
version); every save is an audit entry (entity "assessment", id = the event id) with the
old and new value of each field, so each earlier assessment stays readable.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from pv.timeutil import utcnow

# WHO-UMC causality categories (domain.md §4); the first three mean "suspected".
CAUSALITY = ("certain", "probable", "possible", "unlikely", "conditional", "unassessable")
SUSPECTED = frozenset({"certain", "probable", "possible"})
EXPECTED, UNEXPECTED = "expected", "unexpected"


class QueryStatus(StrEnum):
    open = "open"
    answered = "answered"
    closed = "closed"


class ReportKind(StrEnum):
    """An expedited-report clock. The number is the deadline in calendar days (24 h: hours)."""

    initial_7 = "initial_7"  # fatal or life-threatening SUSAR, day 7
    followup_8 = "followup_8"  # its complete follow-up report, 8 days later (day 15)
    initial_15 = "initial_15"  # other SUSAR, day 15
    investigator_sae_24h = "investigator_sae_24h"  # the site's initial SAE report


class Assessment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="adverseevent.id", unique=True)
    study_id: str = Field(foreign_key="study.id", index=True, max_length=64)
    version: int = 1
    event_version: int  # the event version this assessment is consistent with
    awareness_date: date  # day 0 of the expedited-report clocks
    seriousness_confirmed: bool
    # {drug_key: WHO-UMC category}
    causality: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # {drug_key: "expected" | "unexpected"}: what the RSI in force says, and the final value
    rsi_expectedness: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    expectedness: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    # {drug_key: reason} for every drug whose final expectedness differs from the RSI's
    override_reasons: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    # {drug_key: RsiVersion.id or None when no version was in force}
    rsi_versions: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    suspect_drugs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    is_susar: bool = False
    fatal_or_life_threatening: bool = False
    assessed_by: int | None = Field(default=None, foreign_key="user.id")
    assessed_by_name: str = Field(max_length=80)
    assessed_at: datetime = Field(default_factory=utcnow)


class RsiVersion(SQLModel, table=True):
    """One version of a drug's reference safety information: its expected CTCAE codes.

    Never edited: a change is a new version with a later `effective_from`.
    """

    __table_args__ = (
        UniqueConstraint("drug_id", "label"),
        UniqueConstraint("drug_id", "effective_from"),
    )
    id: int | None = Field(default=None, primary_key=True)
    drug_id: int = Field(foreign_key="drug.id", index=True)
    label: str = Field(max_length=80)  # e.g. "IB edition 14" or "USPI 2023-05"
    effective_from: date
    codes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    source: str | None = None
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_by_name: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow)


class SafetyQuery(SQLModel, table=True):
    __table_args__ = (
        Index("ix_safetyquery_event_status", "event_id", "status"),
        Index("ix_safetyquery_site_status", "site_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="adverseevent.id")
    study_id: str = Field(foreign_key="study.id", index=True, max_length=64)
    site_id: int = Field(foreign_key="site.id")  # copied from the event: the site's list
    field: str | None = Field(default=None, max_length=40)  # SDTM field name, e.g. "aestdtc"
    question: str
    status: str = Field(default=QueryStatus.open, max_length=20)
    raised_by: int | None = Field(default=None, foreign_key="user.id")
    raised_by_name: str = Field(max_length=80)
    raised_at: datetime = Field(default_factory=utcnow)
    answer: str | None = None
    answered_by: int | None = Field(default=None, foreign_key="user.id")
    answered_at: datetime | None = None
    closed_by: int | None = Field(default=None, foreign_key="user.id")
    closed_at: datetime | None = None


class ExpeditedReport(SQLModel, table=True):
    """A reporting obligation with its clock.

    Calendar-day clocks run on dates (day 0 = `start_date`, the awareness date); the 24 h
    clock also keeps the exact moments (`start_at`, `due_at`, `submitted_at`, UTC).
    A report no longer owed (the event was re-assessed as not a SUSAR before it was
    sent) is kept with `cancelled_at` set and leaves every list.
    """

    __table_args__ = (
        Index("ix_expeditedreport_open_due", "study_id", "submitted_date", "due_date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="adverseevent.id", index=True)
    study_id: str = Field(foreign_key="study.id", max_length=64)
    kind: str = Field(max_length=30)
    clock_days: int  # days from day 0 to the deadline (1 for the 24 h clock)
    start_date: date
    due_date: date
    start_at: datetime | None = None
    due_at: datetime | None = None
    submitted_date: date | None = None
    submitted_at: datetime | None = None
    submitted_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    cancelled_at: datetime | None = None


class QueueTally(SQLModel, table=True):
    """How many events share one combination of the queue's filter keys.

    Kept exact by database triggers on adverseevent and subject (migration 0002), so every
    write path (services, bulk imports, raw SQL) counts; the queue's per-status counts read
    a few thousand rows here instead of counting 10^6 events. Rows that fall to 0 stay.
    """

    __tablename__ = "queue_tally"
    study_id: str = Field(primary_key=True, max_length=64)
    site_id: int = Field(primary_key=True)
    arm_id: int = Field(primary_key=True)  # 0: the subject has no arm
    status: str = Field(primary_key=True, max_length=20)
    serious: int = Field(primary_key=True)  # 1 serious, 0 not, -1 not answered
    grade3: int = Field(primary_key=True)  # 1 when the CTCAE grade is 3 or more
    aesi: str = Field(primary_key=True)
    n: int = 0
