"""Each AE rule with a passing and a failing case (pure: no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from pv.events.dates import parse_dtc
from pv.events.rules import EventInput, check_event
from pv.terminology.models import Term

TODAY = date(2024, 6, 30)
DRUGS = ["belimumab", "prednisone"]
IRR = Term(
    release_id=1,
    code="10051792",
    term="Infusion related reaction",
    soc="Injury",
    grade_1="g1",
    grade_2="g2",
    grade_3="g3",
    grade_4="g4",
    grade_5="Death",
)
ANAPH = Term(
    release_id=1,
    code="10002218",
    term="Anaphylaxis",
    soc="Immune system disorders",
    grade_3="g3",
    grade_4="g4",
    grade_5="Death",
)
GOOD = EventInput(
    aeterm="reaction during infusion",
    aelltcd="10051792",
    aetoxgr=2,
    aeser=False,
    aestdtc="2024-03-01",
    aeendtc="2024-03-02",
    aeout="RECOVERED/RESOLVED",
    aerel={"belimumab": "RELATED", "prednisone": "NOT RELATED"},
)


def fields(data, term=IRR, submit=True, consent=date(2024, 1, 1)):
    f = check_event(
        data, term=term, drug_keys=DRUGS, consent_date=consent, today=TODAY, submit=submit
    )
    return sorted({i.field for i in f.errors}), sorted({i.field for i in f.warnings})


def test_a_complete_event_passes():
    assert fields(GOOD) == ([], [])


def test_all_errors_come_at_once():
    bad = replace(GOOD, aetoxgr=None, aeout=None, aestdtc="2024-13", aerel={})
    errors, _ = fields(bad)
    assert errors == ["aeout", "aerel.belimumab", "aerel.prednisone", "aestdtc", "aetoxgr"]


@pytest.mark.parametrize(("grade", "ok"), [(1, False), (2, False), (3, True), (5, None)])
def test_the_grade_must_exist_for_the_term(grade, ok):
    data = replace(GOOD, aelltcd="10002218", aetoxgr=grade, aeser=True, aeshosp=True, narrative="n")
    errors, _ = fields(data, term=ANAPH)
    if ok is None:  # grade 5 exists but then other rules apply
        assert "aetoxgr" not in errors and "aeout" in errors
    else:
        assert ("aetoxgr" not in errors) is ok


def test_grade_out_of_range_and_unknown_code():
    assert fields(replace(GOOD, aetoxgr=6))[0] == ["aetoxgr"]
    assert fields(replace(GOOD, aelltcd="99999999"), term=None)[0] == ["aelltcd"]


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"aetoxgr": 5, "aeout": "FATAL", "aesdth": True, "aeser": True, "narrative": "died"}, []),
        ({"aetoxgr": 5}, ["aeout", "aesdth"]),
        ({"aeout": "FATAL", "aeendtc": None}, ["aesdth", "aetoxgr"]),
        ({"aesdth": True, "aeser": True, "narrative": "n"}, ["aeout", "aetoxgr"]),
    ],
)
def test_grade_5_fatal_and_death_go_together(changes, errors):
    assert fields(replace(GOOD, **{"aeawaredtc": "2024-03-01", **changes}))[0] == errors


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"aeser": True, "aeshosp": True, "narrative": "admitted"}, []),
        ({"aeser": True, "narrative": "admitted"}, ["aeser"]),
        ({"aeser": False, "aesmie": True}, ["aeser"]),
        ({"aeser": True, "aeslife": True}, ["narrative"]),
        ({"aeser": True, "aeslife": True, "narrative": "   "}, ["narrative"]),
    ],
)
def test_serious_if_and_only_if_a_criterion_and_a_narrative(changes, errors):
    assert fields(replace(GOOD, **{"aeawaredtc": "2024-03-01", **changes}))[0] == errors


@pytest.mark.parametrize(
    ("onset", "end", "ok"),
    [
        ("2024-03-01", "2024-03-01", True),
        ("2024-03-01", "2024-02-28", False),
        ("2024-03", "2024-03-01", True),  # the onset may be 1 March: not before
        ("2024-03", "2024-02-29", False),  # leap day: the whole of March is later
        ("2024", "2024-01-01", True),
        ("2024-03-15", "2024-03", True),  # the end may be 31 March
        ("2024-03-15", "2024-02", False),
    ],
)
def test_end_not_before_onset_by_partial_bounds(onset, end, ok):
    errors, _ = fields(replace(GOOD, aestdtc=onset, aeendtc=end))
    assert ("aeendtc" not in errors) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("2024-06-30", True), ("2024-07-01", False), ("2024-06", True), ("2025", False)],
)
def test_no_future_dates(value, ok):
    errors, _ = fields(
        replace(GOOD, aestdtc=value, aeendtc=None, ongoing=True, aeout="NOT RECOVERED/NOT RESOLVED")
    )
    assert ("aestdtc" not in errors) is ok


def test_onset_before_consent_is_a_warning_not_an_error():
    errors, warnings = fields(replace(GOOD, aestdtc="2023-12-31", aeendtc="2024-01-02"))
    assert errors == [] and warnings == ["aestdtc"]
    assert fields(replace(GOOD, aestdtc="2024-01"))[1] == []  # may be after consent


def test_drafts_skip_completeness_but_not_consistency():
    draft = EventInput(aeterm="rash")
    assert fields(draft, term=None, submit=False)[0] == []
    assert fields(replace(draft, aestdtc="yesterday"), term=None, submit=False)[0] == ["aestdtc"]
    assert fields(draft, term=None, submit=True)[0] == [
        "aelltcd",
        "aeout",
        "aerel.belimumab",
        "aerel.prednisone",
        "aeser",
        "aestdtc",
        "aetoxgr",
    ]


def test_controlled_terms_and_study_drugs():
    assert fields(replace(GOOD, aeout="BETTER"))[0] == ["aeout"]
    assert fields(replace(GOOD, aerel={**GOOD.aerel, "aspirin": "RELATED"}))[0] == ["aerel.aspirin"]
    assert fields(replace(GOOD, aeacn={"belimumab": "STOPPED"}))[0] == ["aeacn.belimumab"]


def test_ongoing_events_have_no_end_and_no_resolved_outcome():
    assert fields(replace(GOOD, ongoing=True))[0] == ["aeendtc", "ongoing"]
    assert (
        fields(replace(GOOD, ongoing=True, aeendtc=None, aeout="NOT RECOVERED/NOT RESOLVED"))[0]
        == []
    )


@pytest.mark.parametrize(
    ("text", "precision"),
    [("2021", "year"), ("2021-03", "month"), ("2021-03-05", "day"), ("2021-03-05T14:30", "minute")],
)
def test_partial_dates_keep_their_precision(text, precision):
    d = parse_dtc(text)
    assert (d.text, d.precision) == (text, precision)


@pytest.mark.parametrize(
    "text", ["2021-02-30", "2021-13", "21-03-05", "2021/03/05", "2021-03-05T25:00"]
)
def test_impossible_dates_are_refused(text):
    with pytest.raises(ValueError):
        parse_dtc(text)
