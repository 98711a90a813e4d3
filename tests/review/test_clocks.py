"""Expedited-report clock rules with fixed dates: month ends, leap days, the year end."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from pv.review import clocks
from pv.review.models import ReportKind

D = date.fromisoformat


def _due(awareness: str, fatal: bool) -> dict[str, str]:
    return {
        c.kind.value: c.due_date.isoformat()
        for c in clocks.susar_clocks(D(awareness), fatal_or_life_threatening=fatal)
    }


@pytest.mark.parametrize(
    ("awareness", "initial", "followup"),
    [
        ("2024-02-22", "2024-02-29", "2024-03-08"),  # leap day is a calendar day like any other
        ("2023-02-22", "2023-03-01", "2023-03-09"),  # no 29 February in 2023
        ("2024-01-31", "2024-02-07", "2024-02-15"),  # month end
        ("2024-04-30", "2024-05-07", "2024-05-15"),
        ("2024-12-25", "2025-01-01", "2025-01-09"),  # year end
        ("2024-12-31", "2025-01-07", "2025-01-15"),
        ("2021-06-05", "2021-06-12", "2021-06-20"),  # a Saturday: weekends count
    ],
)
def test_fatal_or_life_threatening_susar_is_due_on_day_7_and_followup_on_day_15(
    awareness: str, initial: str, followup: str
) -> None:
    assert _due(awareness, True) == {"initial_7": initial, "followup_8": followup}
    found = clocks.susar_clocks(D(awareness), fatal_or_life_threatening=True)
    assert [c.clock_days for c in found] == [7, 15]
    assert all(c.start_date == D(awareness) for c in found)


@pytest.mark.parametrize(
    ("awareness", "due"),
    [
        ("2024-02-14", "2024-02-29"),  # lands on the leap day
        ("2023-02-14", "2023-03-01"),
        ("2024-02-29", "2024-03-15"),  # starts on the leap day
        ("2024-01-31", "2024-02-15"),
        ("2023-12-20", "2024-01-04"),  # across the year end
        ("2024-03-31", "2024-04-15"),
    ],
)
def test_other_susar_is_due_on_day_15(awareness: str, due: str) -> None:
    assert _due(awareness, False) == {"initial_15": due}
    [clock] = clocks.susar_clocks(D(awareness), fatal_or_life_threatening=False)
    assert (clock.kind, clock.clock_days) == (ReportKind.initial_15, 15)


def test_status_open_until_the_end_of_the_due_date_then_overdue() -> None:
    due = D("2024-02-29")
    assert clocks.status(due, None, D("2024-02-28")) == "open"
    assert clocks.status(due, None, D("2024-02-29")) == "open"
    assert clocks.status(due, None, D("2024-03-01")) == "overdue"
    assert clocks.days_left(due, D("2024-03-01")) == -1


def test_a_sent_report_is_submitted_and_late_only_after_its_due_date() -> None:
    due = D("2024-12-31")
    assert clocks.status(due, D("2024-12-31"), D("2025-02-01")) == "submitted"
    assert not clocks.late(due, D("2024-12-31"))
    assert clocks.late(due, D("2025-01-01"))
    assert not clocks.late(due, None)


@pytest.mark.parametrize(
    ("today", "soon"),
    [("2024-02-26", False), ("2024-02-27", True), ("2024-02-29", True), ("2024-03-01", False)],
)
def test_due_soon_is_the_last_two_days_before_the_deadline(today: str, soon: bool) -> None:
    assert clocks.due_soon(D("2024-02-29"), None, D(today)) is soon
    assert clocks.due_soon(D("2024-02-29"), D("2024-02-20"), D(today)) is False


@pytest.mark.parametrize(
    ("aware", "due"),
    [
        ("2024-02-28T22:00:00", "2024-02-29T22:00:00"),
        ("2024-02-29T09:15:00", "2024-03-01T09:15:00"),
        ("2023-02-28T09:15:00", "2023-03-01T09:15:00"),
        ("2024-12-31T23:30:00", "2025-01-01T23:30:00"),
    ],
)
def test_investigator_sae_report_is_due_24_hours_after_the_site_learned(
    aware: str, due: str
) -> None:
    start = datetime.fromisoformat(aware).replace(tzinfo=UTC)
    deadline = clocks.sae_due(start)
    assert deadline == datetime.fromisoformat(due).replace(tzinfo=UTC)
    assert clocks.sae_status(deadline, None, deadline) == "open"
    assert clocks.sae_status(deadline, None, deadline + timedelta(minutes=1)) == "overdue"
    assert clocks.sae_status(deadline, deadline + timedelta(hours=3), deadline) == "submitted"
    assert clocks.sae_late(deadline, deadline + timedelta(seconds=1))
    assert not clocks.sae_late(deadline, deadline)
