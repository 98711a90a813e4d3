"""What is derived from dosing records (domain.md §5). Pure functions over Exposure rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from pv.exposure.models import Exposure

DAYS_PER_YEAR = 365.25


def _last_day(e: Exposure) -> date:
    return (e.end or e.start).date()


def first_dose(records: Iterable[Exposure]) -> datetime | None:
    starts = [e.start for e in records]
    return min(starts) if starts else None


def last_dose(records: Iterable[Exposure]) -> date | None:
    """The last day a dose was given (the end of the last daily-dose period)."""
    ends = [_last_day(e) for e in records]
    return max(ends) if ends else None


def cumulative_dose_mg(records: Iterable[Exposure], upto: date) -> float:
    """Total mg given on or before `upto` (daily periods count each day, both ends inclusive)."""
    total = 0.0
    for e in records:
        first = e.start.date()
        if first > upto:
            continue
        if e.frequency == "QD":
            days = (min(_last_day(e), upto) - first).days + 1
            total += e.dose_mg * days
        else:
            total += e.dose_mg
    return total


def days_since_last_infusion(records: Iterable[Exposure], at: datetime) -> float | None:
    """Days (fractional) from the start of the latest infusion at or before `at`."""
    before = [e.start for e in records if e.frequency == "ONCE" and e.start <= at]
    if not before:
        return None
    return (at - max(before)).total_seconds() / 86400


def study_day(first: date, on: date) -> int:
    """SDTM study day: the first dose is day 1 and there is no day 0."""
    delta = (on - first).days
    return delta + 1 if delta >= 0 else delta


def time_at_risk_years(
    first: date,
    last: date,
    *,
    window_days: int = 30,
    end_of_study: date | None = None,
    cutoff: date | None = None,
    event_onset: date | None = None,
) -> float:
    """Patient-years from the first dose to the end of the observation window.

    The window ends at last dose + `window_days`, or earlier at the end of study or the
    data cut-off; for first-occurrence rates it ends at the first event.
    """
    end = last + timedelta(days=window_days)
    for bound in (end_of_study, cutoff, event_onset):
        if bound is not None and bound < end:
            end = bound
    days = (end - first).days + 1
    return max(days, 0) / DAYS_PER_YEAR


def convert_to_mg(dose: float, unit: str, weight_kg: float | None) -> float:
    """Dose in mg; mg/kg is multiplied by the subject's weight."""
    u = unit.strip().lower().replace(" ", "")
    if u in ("mg", "mg/day", "mg/d"):
        return dose
    if u in ("g", "g/day"):
        return dose * 1000
    if u in ("mg/kg", "mg/kg/day", "mg/kg/d"):
        if not weight_kg:
            raise ValueError("a dose in mg/kg needs the subject's weight")
        return dose * weight_kg
    raise ValueError(f"unknown dose unit '{unit}' (use mg, g or mg/kg, optionally per day)")


def infusion_starts(records: Sequence[Exposure], drug_id: int) -> list[datetime]:
    return sorted(e.start for e in records if e.drug_id == drug_id and e.frequency == "ONCE")
