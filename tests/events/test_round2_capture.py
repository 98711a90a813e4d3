"""Issue 14 capture rules, as pure functions: a pre-existing condition of an adverse event
(rules.check_event) and a subject's end of study, death and disposition
(study.service.end_of_study_problems, baseline_problems). Each expectation is derived from
the rule written next to it."""

from __future__ import annotations

from datetime import date

import pytest

from pv.events.rules import EventInput, check_event
from pv.study.service import baseline_problems, end_of_study_problems

TODAY = date(2024, 6, 1)


def _check(submit: bool = True, **values):
    data = EventInput(aeterm="asthma", aetoxgr=3, aestdtc="2024-02-10", aeendtc="2024-03-31",
                      aeser=False, aeout="RECOVERED/RESOLVED", **values)  # fmt: skip
    found = check_event(data, term=None, drug_keys=[], consent_date=None, today=TODAY,
                        submit=submit)  # fmt: skip
    # Only the fields of this rule: no code is given (aelltcd is required at submission).
    return {e.field: e.message for e in found.errors if e.field != "aelltcd"}


def test_a_complete_pre_existing_condition_passes():
    # Grade 2 at the first dose, 3 now: a worsening (admiral derive_var_trtemfl compares
    # the grade with initial_intensity); worsened 2024-02-20, between onset and end.
    assert _check(preexisting=True, initial_grade=2, worsened_dtc="2024-02-20") == {}


def test_the_same_grade_at_the_first_dose_is_allowed():
    # Equal grades are no worsening but no contradiction either: the rule is "not above".
    assert _check(preexisting=True, initial_grade=3) == {}


def test_an_initial_grade_above_the_grade_is_refused():
    assert _check(preexisting=True, initial_grade=4) == {
        "initial_grade": "the grade at the first dose (4) is above the event's grade (3): "
                         "record the condition at its worst grade"}  # fmt: skip


@pytest.mark.parametrize("grade", [0, 6, -1])
def test_an_initial_grade_outside_1_to_5_is_refused(grade):
    assert _check(preexisting=True, initial_grade=grade) == {
        "initial_grade": "the grade at the first dose must be 1 to 5"
    }


def test_the_initial_grade_is_required_at_submission_only():
    message = "the CTCAE grade at the first dose of a pre-existing condition is required"
    assert _check(preexisting=True) == {"initial_grade": message}
    assert _check(submit=False, preexisting=True) == {}


def test_neither_field_without_the_flag():
    assert _check(initial_grade=1, worsened_dtc="2024-02-20") == {
        "initial_grade": "a grade at the first dose is only for a condition present before "
                         "the first dose",
        "worsened_dtc": "a worsening date is only for a condition present before the first "
                        "dose",
    }  # fmt: skip


@pytest.mark.parametrize(("worse", "expected"), [
    # A partial date is compared by its span: 2024-02 ends 2024-02-29, not before the onset
    # 2024-02-10; 2024-01 ends 2024-01-31, before it.
    ("2024-02", None),
    ("2024-01", "the worsening (2024-01) is before the onset (2024-02-10)"),
    ("2024-02-09", "the worsening (2024-02-09) is before the onset (2024-02-10)"),
    ("2024-02-10", None),  # the onset day itself
    ("2024-03-31", None),  # the end day itself
    ("2024-04-01", "the worsening (2024-04-01) is after the end (2024-03-31)"),
    ("2024-06-02", "2024-06-02 is in the future"),
    ("2024-13", "worsening date: '2024-13': month 13 does not exist"),
    ("20240301", "worsening date: '20240301' is not an ISO 8601 date: use YYYY, YYYY-MM, "
                 "YYYY-MM-DD or YYYY-MM-DDThh:mm (digits 0-9)"),
])  # fmt: skip
def test_the_worsening_date(worse, expected):
    found = _check(preexisting=True, initial_grade=2, worsened_dtc=worse)
    assert found == ({} if expected is None else {"worsened_dtc": expected})


def test_episode_ids_at_most_40_characters_without_control_characters():
    assert _check(aegrpid="A" * 40, aespid="1") == {}
    assert _check(aegrpid="A" * 41, aespid="x\x00") == {
        "aegrpid": "at most 40 characters",
        "aespid": "must not contain a NUL character (U+0000)",
    }


# --- the subject's end of study ----------------------------------------------------------

CONSENT, RANDOMIZED = date(2024, 1, 10), date(2024, 1, 20)


def _eos(unknown: bool = False, **state):
    found = end_of_study_problems(state, consent_date=CONSENT, randomization_date=RANDOMIZED,
                                  today=TODAY, death_date_unknown=unknown)  # fmt: skip
    return dict(found)


def test_a_completed_subject_passes():
    assert _eos(disposition="COMPLETED", disposition_date="2024-05-01",
                end_of_study_date=date(2024, 5, 1)) == {}  # fmt: skip


def test_a_death_passes_with_its_date_or_declared_unknown():
    assert _eos(disposition="DEATH", disposition_date="2024-05", died=True,
                death_date="2024-05", death_cause="sepsis",
                end_of_study_date=date(2024, 5, 3)) == {}  # fmt: skip
    assert _eos(died=True) == {
        "death_date": "the date of death is required; tick 'date unknown' if it is not known"
    }
    assert _eos(unknown=True, died=True) == {}


def test_disposition_rules():
    assert _eos(disposition="MOVED AWAY", disposition_date="2024-05-01") == {
        "disposition": "'MOVED AWAY' is not one of: COMPLETED, ADVERSE EVENT, DEATH, "
                       "WITHDRAWAL BY SUBJECT, LOST TO FOLLOW-UP, PHYSICIAN DECISION, LACK OF "
                       "EFFICACY, PROTOCOL DEVIATION, OTHER"}  # fmt: skip
    assert _eos(disposition="OTHER") == {
        "disposition_date": "the date of the disposition is required",
        "disposition_reason": "say what the other reason is",
    }
    assert _eos(disposition_date="2024-05-01", disposition_reason="moved",
                end_of_study_date=date(2024, 5, 1)) == {
        "disposition_date": "a disposition date needs a disposition",
        "disposition_reason": "a reason needs a disposition",
        "end_of_study_date": "the end of study needs a disposition (how the subject ended the "
                             "study)",
    }  # fmt: skip


def test_death_consistency():
    # DEATH means died; a date or a cause of death means died.
    assert _eos(disposition="DEATH", disposition_date="2024-05-01", death_date="2024-05-01",
                death_cause="stroke") == {
        "died": "the disposition DEATH means the subject died: tick 'died'",
        "death_date": "a date of death needs 'died'",
        "death_cause": "a cause of death needs 'died'",
    }  # fmt: skip
    # A withdrawal, then death in follow-up: allowed (the disposition stays WITHDRAWAL).
    assert (
        _eos(
            disposition="WITHDRAWAL BY SUBJECT",
            disposition_date="2024-03-01",
            end_of_study_date=date(2024, 3, 1),
            died=True,
            death_date="2024-04-15",
        )
        == {}
    )


def test_dates_in_order():
    # Nothing before consent (2024-01-10); the end of study not before randomization
    # (2024-01-20); nothing after the death; nothing in the future (today 2024-06-01).
    assert _eos(disposition="COMPLETED", disposition_date="2024-01-09",
                end_of_study_date=date(2024, 1, 15)) == {
        "disposition_date": "2024-01-09 is before informed consent (2024-01-10)",
        "end_of_study_date": "the end of study (2024-01-15) is before randomization "
                             "(2024-01-20)",
    }  # fmt: skip
    # A partial date is before consent only when all of it is: 2023-12 ends 2023-12-31;
    # 2024-01 ends 2024-01-31, after the consent day.
    assert _eos(died=True, death_date="2023-12") == {
        "death_date": "2023-12 is before informed consent (2024-01-10)"
    }
    assert _eos(died=True, death_date="2024-01") == {}
    # Both the end of study and the disposition of a death on 2024-05-20 are after it.
    found = end_of_study_problems(
        {"disposition": "DEATH", "disposition_date": "2024-05-20", "died": True,
         "death_date": "2024-05-10", "end_of_study_date": date(2024, 5, 20)},
        consent_date=CONSENT, randomization_date=RANDOMIZED, today=TODAY)  # fmt: skip
    assert found == [
        ("end_of_study_date", "the end of study (2024-05-20) is after the death (2024-05-10)"),
        ("disposition_date", "the disposition (2024-05-20) is after the death (2024-05-10)"),
    ]
    assert _eos(disposition="COMPLETED", disposition_date="2024-05-02",
                end_of_study_date=date(2024, 5, 1)) == {
        "disposition_date": "the disposition (2024-05-02) is after the end of study "
                            "(2024-05-01)"}  # fmt: skip
    assert _eos(disposition="COMPLETED", disposition_date="2024-07",
                end_of_study_date=date(2024, 7, 1)) == {
        "disposition_date": "2024-07 is in the future",
        "end_of_study_date": "2024-07-01 is in the future",
    }  # fmt: skip


def test_baseline_ranges_and_race():
    assert baseline_problems({"race": "ASIAN", "height_cm": 30, "age": 0, "sex": "U"}) == []
    assert baseline_problems({"race": "Asian", "height_cm": 251, "age": 30.5, "sex": "X"}) == [
        ("sex", "M, F or U"),
        ("age", "a number from 0 to 120"),
        ("height_cm", "a number from 30 to 250"),
        ("race", "'Asian' is not one of: AMERICAN INDIAN OR ALASKA NATIVE, ASIAN, BLACK OR "
                 "AFRICAN AMERICAN, NATIVE HAWAIIAN OR OTHER PACIFIC ISLANDER, WHITE, MULTIPLE, "
                 "OTHER, NOT REPORTED, UNKNOWN"),
    ]  # fmt: skip
