"""Expedited-report clock rules (ICH E2A; domain.md §4). Pure functions over fixed dates.

- Day 0 is the awareness date: the day the sponsor first knew of the information that
  makes the case reportable. Deadlines are calendar days (weekends and holidays count).
- Fatal or life-threatening SUSAR: initial report by day 7, then a complete follow-up
  within 8 more days, i.e. by day 15.
- Any other SUSAR: by day 15.
- The investigator reports an SAE to the sponsor within 24 hours of the site learning of
  it: the clock starts at the event's AEAWAREDTC (the date, and time, the site became
  aware; required when a serious event is submitted). A date without a time starts the
  clock at the start of that day (00:00 UTC): the earliest moment the date allows, so a
  report is never shown on time when it may have been late (a site that wants the hour
  counted enters it). Events stored before AEAWAREDTC existed keep the old start: when the
  record first said "serious", the earliest moment the system can prove the site knew.
- A report sent on its due date is on time; one not sent is overdue from the day after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pv.review.models import ReportKind

INITIAL_FATAL_DAYS = 7
FOLLOWUP_EXTRA_DAYS = 8
OTHER_SUSAR_DAYS = 15
SAE_HOURS = 24
DUE_SOON_DAYS = 2

OPEN, OVERDUE, SUBMITTED = "open", "overdue", "submitted"


@dataclass(frozen=True)
class Clock:
    kind: ReportKind
    clock_days: int  # from day 0
    start_date: date
    due_date: date


def days_after(day0: date, days: int) -> date:
    """Day `days` counted in calendar days from day 0."""
    return day0 + timedelta(days=days)


def susar_clocks(awareness: date, *, fatal_or_life_threatening: bool) -> list[Clock]:
    """The reports a SUSAR owes, with their due dates."""
    if fatal_or_life_threatening:
        final = INITIAL_FATAL_DAYS + FOLLOWUP_EXTRA_DAYS
        return [
            Clock(
                ReportKind.initial_7,
                INITIAL_FATAL_DAYS,
                awareness,
                days_after(awareness, INITIAL_FATAL_DAYS),
            ),
            Clock(ReportKind.followup_8, final, awareness, days_after(awareness, final)),
        ]
    return [
        Clock(
            ReportKind.initial_15,
            OTHER_SUSAR_DAYS,
            awareness,
            days_after(awareness, OTHER_SUSAR_DAYS),
        )
    ]


def sae_due(site_awareness: datetime) -> datetime:
    """When the investigator's initial SAE report is due."""
    return site_awareness + timedelta(hours=SAE_HOURS)


def site_awareness(aeawaredtc: str | None) -> datetime | None:
    """The start of the 24 h clock from AEAWAREDTC (UTC): a date-time as given, a date at
    00:00 of that day; None when absent or not a complete date."""
    if not aeawaredtc:
        return None
    from pv.events.dates import parse_dtc

    try:
        when = parse_dtc(aeawaredtc)
    except ValueError:
        return None
    if not when.complete:
        return None
    return when.earliest.replace(tzinfo=UTC)


def status(due: date, submitted: date | None, today: date) -> str:
    """open | overdue | submitted, for a calendar-day clock seen on `today`."""
    if submitted is not None:
        return SUBMITTED
    return OVERDUE if today > due else OPEN


def sae_status(due_at: datetime, submitted_at: datetime | None, now: datetime) -> str:
    """open | overdue | submitted for the 24 h clock at the moment `now`."""
    if submitted_at is not None:
        return SUBMITTED
    return OVERDUE if now > due_at else OPEN


def days_left(due: date, today: date) -> int:
    """Calendar days until the deadline (0 on the due date, negative when overdue)."""
    return (due - today).days


def due_soon(due: date, submitted: date | None, today: date, window: int = DUE_SOON_DAYS) -> bool:
    """Not sent, not overdue, and due within `window` days (the due date included)."""
    return submitted is None and 0 <= days_left(due, today) <= window


def late(due: date, submitted: date | None) -> bool:
    """Sent after its deadline."""
    return submitted is not None and submitted > due


def sae_late(due_at: datetime, submitted_at: datetime | None) -> bool:
    return submitted_at is not None and submitted_at > due_at
