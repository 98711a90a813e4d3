"""Exposure derivations against hand-computed values.

A 70 kg subject, first dose 2021-01-11 (study day 1):

    prednisone QD   50 mg  days  1-14   (2021-01-11 .. 2021-01-24)
                    45 mg  days 15-21   (2021-01-25 .. 2021-01-31)
                    40 mg  days 22-28   (2021-02-01 .. 2021-02-07)
                    35 mg  days 29-42   (2021-02-08 .. 2021-02-21)
    belimumab 10 mg/kg IV = 700 mg on days 1, 15, 29 at 09:00

Cumulative prednisone up to day 30 (2021-02-09), by hand:
    14 x 50 + 7 x 45 + 7 x 40 + 2 x 35 = 700 + 315 + 280 + 70 = 1,365 mg
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from pv.exposure.derive import (
    convert_to_mg,
    cumulative_dose_mg,
    days_since_last_infusion,
    first_dose,
    last_dose,
    study_day,
    time_at_risk_years,
)
from pv.exposure.models import Exposure

PRED, BEL = 1, 2


def _pred(dose, start, end):
    return Exposure(
        subject_id=1,
        drug_id=PRED,
        dose=dose,
        unit="mg",
        dose_mg=dose,
        frequency="QD",
        start=datetime.fromisoformat(start),
        end=datetime.fromisoformat(end),
    )


def _bel(day):
    return Exposure(
        subject_id=1,
        drug_id=BEL,
        dose=10,
        unit="mg/kg",
        dose_mg=convert_to_mg(10, "mg/kg", 70),
        frequency="ONCE",
        start=datetime.fromisoformat(f"{day}T09:00"),
        end=datetime.fromisoformat(f"{day}T10:00"),
    )


PREDNISONE = [
    _pred(50, "2021-01-11", "2021-01-24"),
    _pred(45, "2021-01-25", "2021-01-31"),
    _pred(40, "2021-02-01", "2021-02-07"),
    _pred(35, "2021-02-08", "2021-02-21"),
]
BELIMUMAB = [_bel("2021-01-11"), _bel("2021-01-25"), _bel("2021-02-08")]


def test_cumulative_prednisone_of_a_70_kg_subject_at_day_30():
    day30 = date(2021, 2, 9)
    assert study_day(date(2021, 1, 11), day30) == 30
    assert cumulative_dose_mg(PREDNISONE, day30) == 1365.0


def test_cumulative_dose_boundaries():
    assert cumulative_dose_mg(PREDNISONE, date(2021, 1, 10)) == 0.0  # before the first dose
    assert cumulative_dose_mg(PREDNISONE, date(2021, 1, 11)) == 50.0  # the first day counts
    assert cumulative_dose_mg(PREDNISONE, date(2030, 1, 1)) == 14 * 50 + 7 * 45 + 7 * 40 + 14 * 35
    assert cumulative_dose_mg(BELIMUMAB, date(2021, 1, 25)) == 1400.0  # 2 x 700 mg


def test_mg_per_kg_is_converted_with_the_weight():
    assert BELIMUMAB[0].dose_mg == 700.0
    assert convert_to_mg(0.7, "mg/kg/day", 70) == pytest.approx(49.0)
    with pytest.raises(ValueError, match="weight"):
        convert_to_mg(10, "mg/kg", None)
    with pytest.raises(ValueError, match="unit"):
        convert_to_mg(10, "tablets", 70)


def test_first_and_last_dose():
    assert first_dose(PREDNISONE + BELIMUMAB) == datetime(2021, 1, 11, 0, 0)
    assert last_dose(PREDNISONE) == date(2021, 2, 21)
    assert last_dose(BELIMUMAB) == date(2021, 2, 8)
    assert first_dose([]) is None and last_dose([]) is None


def test_days_since_last_infusion():
    # 2021-01-26 15:00 is 1 day 6 hours after the infusion of 2021-01-25 09:00
    assert days_since_last_infusion(BELIMUMAB, datetime(2021, 1, 26, 15)) == pytest.approx(1.25)
    assert days_since_last_infusion(BELIMUMAB, datetime(2021, 1, 11, 8)) is None
    assert days_since_last_infusion(PREDNISONE, datetime(2021, 3, 1)) is None  # no infusions


def test_study_day_has_no_day_zero():
    first = date(2021, 1, 11)
    assert study_day(first, date(2021, 1, 11)) == 1
    assert study_day(first, date(2021, 1, 10)) == -1
    assert study_day(first, date(2021, 1, 12)) == 2


def test_time_at_risk_in_patient_years():
    first, last = date(2021, 1, 11), date(2021, 2, 21)
    # last dose + 30 days = 2021-03-23; 2021-01-11 .. 2021-03-23 inclusive = 72 days
    assert time_at_risk_years(first, last) == pytest.approx(72 / 365.25)
    # the end of study comes first: 2021-02-28 -> 49 days
    assert time_at_risk_years(first, last, end_of_study=date(2021, 2, 28)) == pytest.approx(
        49 / 365.25
    )
    # first-occurrence rate: stops at the first event, 2021-01-20 -> 10 days
    assert time_at_risk_years(first, last, event_onset=date(2021, 1, 20)) == pytest.approx(
        10 / 365.25
    )
    assert time_at_risk_years(first, last, cutoff=date(2021, 1, 1)) == 0.0
