"""The SAE case data service (pv.icsr.casedata): every rule of `check_case_data` on hand
fixtures, and `save_case_data`'s access, lock, version and audit on a real database.

Expected values are written by hand from the rules in the module docstring: a partial date
is refused only when even its latest possible day is before the other date's earliest
(e.g. discharge "2021-02" ends 2021-02-28, before admission "2021-03" begins 2021-03-01)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from pv.audit.models import AuditEntry
from pv.audit.service import Actor
from pv.auth.service import actor_for
from pv.db import read_session, write_session
from pv.events.models import AdverseEvent, Status
from pv.events.rules import EventInput
from pv.events.service import NotEditable, ValidationFailed, create_event
from pv.i18n import use
from pv.icsr.casedata import (
    CASE_FIELDS,
    CASE_SCALARS,
    COUNTRY_CODES,
    CaseVersionConflict,
    case_data_dict,
    check_case_data,
    get_case_data,
    save_case_data,
)
from pv.icsr.models import SaeCase
from pv.review.workflow import RoleRefused
from pv.study.service import add_subject
from tests.web.conftest import app_env  # noqa: F401

TODAY = date(2024, 6, 30)
DRUGS = ["belimumab", "prednisone"]
SAE = EventInput(aeser=True, aeshosp=True, aeout="RECOVERED/RESOLVED", aestdtc="2021-03-02")
FATAL = EventInput(aeser=True, aesdth=True, aeout="FATAL", aestdtc="2021-05-01")
MILD = EventInput(aeser=False, aeout="RECOVERED/RESOLVED", aestdtc="2021-02-01")

PNEUMONIA = dict(
    aeterm="pneumonia", aelltcd="10061229", aetoxgr=3, aeser=True, aeshosp=True,
    aerel={"belimumab": "POSSIBLY RELATED", "prednisone": "POSSIBLY RELATED"},
    aeout="RECOVERED/RESOLVED", aestdtc="2021-03-02", aeendtc="2021-03-20",
    narrative="Admitted for intravenous antibiotics.", aeawaredtc="2021-03-02",
)  # fmt: skip
SEPSIS = dict(
    aeterm="septic shock", aelltcd="10040047", aetoxgr=5, aeser=True, aesdth=True,
    aeslife=True, aeshosp=True,
    aerel={"belimumab": "UNLIKELY RELATED", "prednisone": "POSSIBLY RELATED"},
    aeout="FATAL", aestdtc="2021-05-01", aeendtc="2021-05-06",
    narrative="Died of septic shock.", aeawaredtc="2021-05-01",
)  # fmt: skip
HEADACHE = dict(
    aeterm="headache", aelltcd="10019211", aetoxgr=1, aeser=False,
    aerel={"belimumab": "NOT RELATED", "prednisone": "NOT RELATED"},
    aeout="RECOVERED/RESOLVED", aestdtc="2021-02-01", aeendtc="2021-02-02",
)  # fmt: skip

# A full payload as a form or client may send it, and what the service stores of it.
FULL: dict[str, Any] = {
    "reporter_name": "  王医生 (Dr Wang)  ",
    "reporter_qualification": 1,
    "reporter_country": "cn",
    "reporter_contact": "wang@example.org",
    "hosp_admit_date": "2021-03-02",
    "hosp_discharge_date": "2021-03",
    "medical_history": [{"term": "系统性红斑狼疮", "start": "2019", "ongoing": "Y"},
                        {"term": "", "start": "", "ongoing": None}],  # a spare row
    "conmeds": [{"name": "hydroxychloroquine", "dose": "200", "unit": "mg", "route": "oral",
                 "start": "2020-01", "stop": "2021-03-20", "indication": "SLE"},
                {"name": "ceftriaxone", "dose": 2.5, "unit": "g", "start": "2021-03-02"}],
    "tests": [{"name": "C-reactive protein", "date": "2021-03-02", "value": 86,
               "unit": "mg/L", "low": "0", "high": "10"},
              {"name": "blood culture", "date": "2021-03-03", "value": "negative"}],
    "dechallenge": {"belimumab": "YES", "prednisone": ""},
    "rechallenge": {"belimumab": "na"},
}  # fmt: skip
FULL_CLEAN: dict[str, Any] = {
    "reporter_name": "王医生 (Dr Wang)",
    "reporter_qualification": "1",
    "reporter_country": "CN",
    "reporter_contact": "wang@example.org",
    "hosp_admit_date": "2021-03-02",
    "hosp_discharge_date": "2021-03",
    "death_date": None, "death_cause": None, "autopsy": None, "autopsy_cause": None,
    "medical_history": [{"term": "系统性红斑狼疮", "start": "2019", "ongoing": True}],
    "conmeds": [{"name": "hydroxychloroquine", "dose": 200, "unit": "mg", "route": "oral",
                 "start": "2020-01", "stop": "2021-03-20", "indication": "SLE"},
                {"name": "ceftriaxone", "dose": 2.5, "unit": "g", "route": None,
                 "start": "2021-03-02", "stop": None, "indication": None}],
    "tests": [{"name": "C-reactive protein", "date": "2021-03-02", "value": "86",
               "unit": "mg/L", "low": "0", "high": "10"},
              {"name": "blood culture", "date": "2021-03-03", "value": "negative",
               "unit": None, "low": None, "high": None}],
    "dechallenge": {"belimumab": "yes"},
    "rechallenge": {"belimumab": "na"},
}  # fmt: skip


def errors(data: dict[str, Any], event: EventInput = SAE, drugs: list[str] = DRUGS
           ) -> dict[str, str]:  # fmt: skip
    _clean, found = check_case_data(data, event=event, drug_keys=drugs, today=TODAY)
    assert not found.warnings
    out = {e.field: e.message for e in found.errors}
    assert len(out) == len(found.errors), found.errors  # one message per field here
    return out


def clean(data: dict[str, Any], event: EventInput = SAE) -> dict[str, Any]:
    out, found = check_case_data(data, event=event, drug_keys=DRUGS, today=TODAY)
    assert found.ok, found.errors
    return out


# --- the payload ------------------------------------------------------------------------------


def test_the_full_payload_is_normalized_as_written_by_hand():
    assert clean(FULL) == FULL_CLEAN
    assert list(clean(FULL)) == list(CASE_FIELDS)


def test_an_empty_payload_is_every_field_empty():
    empty = clean({})
    assert empty == case_data_dict(None)
    assert [k for k, v in empty.items() if v is not None] == [
        "medical_history", "conmeds", "tests", "dechallenge", "rechallenge"]  # fmt: skip
    assert CASE_SCALARS == ("reporter_name", "reporter_qualification", "reporter_country",
                            "reporter_contact", "hosp_admit_date", "hosp_discharge_date",
                            "death_date", "death_cause", "autopsy", "autopsy_cause")  # fmt: skip


def test_every_problem_is_reported_at_once():
    bad = {
        "reporter_qualification": "9",
        "hosp_admit_date": "2021-13",
        "conmeds": [{"dose": "-1"}],
        "dechallenge": {"aspirin": "yes"},
        "colour": "red",
    }
    assert set(errors(bad)) == {
        "colour", "reporter_qualification", "hosp_admit_date", "conmeds[0].name",
        "conmeds[0].dose", "dechallenge.aspirin"}  # fmt: skip


def test_only_a_serious_event_has_case_data():
    assert errors({}, MILD) == {"aeser": "case data is only for a serious event"}
    says = "case data is only for a serious event"
    assert errors({}, replace(SAE, aeser=None)) == {"aeser": says}


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("2021-13", "month 13 does not exist"),
        ("2021-02-30", "day 30 does not exist in 2021-02"),
        ("21-03-02", "is not an ISO 8601 date"),
        ("٢٠٢١-٠٣-٠٢", "digits 0-9"),
        ("２０２１", "digits 0-9"),
        ("1899", "before 1900"),
        ("2024-07-01", "2024-07-01 is in the future"),  # TODAY is 2024-06-30
        ("2024-07", "2024-07 is in the future"),
        ("2021-03-02" + "0" * 20, "at most 20 characters"),
    ],
)
@pytest.mark.parametrize(
    "field",
    ["hosp_admit_date", "hosp_discharge_date", "medical_history[0].start", "conmeds[0].start",
     "conmeds[0].stop", "tests[0].date"],
)  # fmt: skip
def test_dates(field, value, says):
    if "[" in field:
        name, key = field.split("[0].")
        data: dict[str, Any] = {name: [{ITEM_NAME[name]: "x", key: value}]}
    else:
        data = {field: value}
    found = errors(data)
    assert list(found) == [field] and says in found[field], found


ITEM_NAME = {"medical_history": "term", "conmeds": "name", "tests": "name"}


def test_partial_and_today_and_date_times_are_accepted():
    data = {"hosp_admit_date": "2024-06-30", "hosp_discharge_date": "2024-06-30T18:05",
            "medical_history": [{"term": "asthma", "start": "2024"}]}  # fmt: skip
    assert clean(data)["hosp_discharge_date"] == "2024-06-30T18:05"
    # date objects (a spreadsheet cell) become their ISO text
    got = clean({"hosp_admit_date": date(2021, 3, 2)})
    assert got["hosp_admit_date"] == "2021-03-02"


@pytest.mark.parametrize(
    ("admit", "discharge", "refused"),
    [
        ("2021-03-05", "2021-03-04", True),
        ("2021-03-05", "2021-03-05", False),  # same day
        ("2021-03", "2021-03-01", False),  # admit may be 03-01
        ("2021-03", "2021-02", True),  # discharge ends 02-28, admission starts 03-01
        ("2021", "2021-01-01", False),
        ("2021-03-05T10:00", "2021-03-05T09:00", False),  # compared by day
        ("2021-03-05", None, False),
    ],
)
def test_discharge_not_before_admission(admit, discharge, refused):
    found = errors({"hosp_admit_date": admit, "hosp_discharge_date": discharge})
    if refused:
        assert found == {"hosp_discharge_date": f"the discharge ({discharge}) is before the "
                                                f"admission ({admit})"}  # fmt: skip
    else:
        assert found == {}


@pytest.mark.parametrize(
    ("start", "stop", "refused"),
    [("2021-03-05", "2021-03-04", True), ("2021-03", "2021-03-01", False),
     ("2021-03", "2021-02", True), ("2021-03-05", "2021-03-05", False)],
)  # fmt: skip
def test_a_medication_does_not_stop_before_it_starts(start, stop, refused):
    found = errors({"conmeds": [{"name": "x", "start": start, "stop": stop}]})
    expected = {"conmeds[0].stop": f"the stop ({stop}) is before the start ({start})"}
    assert found == (expected if refused else {})


@pytest.mark.parametrize(
    ("death", "refused"),
    [("2021-04-30", True), ("2021-05-01", False), ("2021-05", False), ("2021-04", True),
     ("2021", False), ("2021-05-06", False)],
)  # fmt: skip
def test_death_not_before_the_onset(death, refused):
    found = errors({"death_date": death}, FATAL)  # onset 2021-05-01
    expected = {"death_date": f"the death ({death}) is before the onset of the event (2021-05-01)"}
    assert found == (expected if refused else {})


def test_death_against_a_partial_onset():
    onset_may = replace(FATAL, aestdtc="2021-05")  # may be any day of May
    assert errors({"death_date": "2021-05-01"}, onset_may) == {}
    assert "death_date" in errors({"death_date": "2021-04-30"}, onset_may)
    assert errors({"death_date": "2021-04-30"}, replace(FATAL, aestdtc=None)) == {}


# --- death details ----------------------------------------------------------------------------


DEATH = {"death_date": "2021-05-06", "death_cause": "septic shock", "autopsy": "Y",
         "autopsy_cause": "bacterial pneumonia\nwith sepsis"}  # fmt: skip


def test_death_details_of_a_fatal_event():
    assert clean(DEATH, FATAL) == clean({}, FATAL) | DEATH
    # the criterion alone or the outcome alone make the event fatal here
    assert errors(DEATH, replace(FATAL, aeout="UNKNOWN")) == {}
    assert errors(DEATH, replace(FATAL, aesdth=False)) == {}


def test_death_details_only_for_a_fatal_event():
    says = ("death details are only for a fatal event (outcome FATAL or the criterion "
            "'results in death')")  # fmt: skip
    assert errors(DEATH, SAE) == {name: says for name in DEATH}
    assert errors({"death_date": "  ", "autopsy": ""}, SAE) == {}  # blank is no value


@pytest.mark.parametrize(("autopsy", "refused"), [("N", True), ("U", True), (None, True),
                                                  ("y", False)])  # fmt: skip
def test_an_autopsy_cause_needs_an_autopsy(autopsy, refused):
    found = errors({"autopsy": autopsy, "autopsy_cause": "sepsis"}, FATAL)
    says = "an autopsy-determined cause of death needs autopsy 'Y' (done)"
    assert found == ({"autopsy_cause": says} if refused else {})


def test_autopsy_codes():
    assert clean({"autopsy": "u"}, FATAL)["autopsy"] == "U"
    assert errors({"autopsy": "yes"}, FATAL) == {"autopsy": "'YES' is not one of: Y, N, U"}


# --- codes ------------------------------------------------------------------------------------


def test_qualification():
    for code in ("1", "2", "3", "4", "5", 3):
        assert clean({"reporter_qualification": code})["reporter_qualification"] == str(code)
    found = errors({"reporter_qualification": "6"})["reporter_qualification"]
    assert found.startswith("'6' is not one of: 1 (physician), 2 (pharmacist)")
    assert errors({"reporter_qualification": True}) == {"reporter_qualification": "must be text"}


@pytest.mark.parametrize(("value", "stored"), [("cn", "CN"), (" us ", "US"), ("Gb", "GB"),
                                               ("XK", "XK")])  # fmt: skip
def test_country_is_upper_cased(value, stored):
    assert clean({"reporter_country": value})["reporter_country"] == stored


@pytest.mark.parametrize("value", ["XX", "ZZ", "EU", "UK", "CHN", "C", "中国", "C1"])
def test_country_is_an_iso_3166_code(value):
    found = errors({"reporter_country": value})
    assert list(found) == ["reporter_country"]
    assert "is not an ISO 3166-1 alpha-2 country code" in found["reporter_country"]


def test_the_country_list_is_iso_3166_1():
    # 249 officially assigned codes (ISO 3166-1:2020) and XK
    assert len(COUNTRY_CODES) == 250
    assert {"CN", "US", "TW", "HK", "MO", "DE", "SS", "XK"} <= COUNTRY_CODES
    assert not {"EU", "UN", "ZZ", "AC", "XA", "QO"} & COUNTRY_CODES


def test_dechallenge_and_rechallenge():
    got = clean({"dechallenge": {"belimumab": " Yes ", "prednisone": "UNKNOWN"},
                 "rechallenge": {"belimumab": None, "prednisone": "no"}})  # fmt: skip
    assert got["dechallenge"] == {"belimumab": "yes", "prednisone": "unknown"}
    assert got["rechallenge"] == {"prednisone": "no"}
    found = errors({"dechallenge": {"aspirin": "yes", "belimumab": "maybe"},
                    "rechallenge": {"prednisone": 1}})  # fmt: skip
    assert found == {
        "dechallenge.aspirin": "'aspirin' is not a study drug of this subject "
                               "(belimumab, prednisone)",
        "dechallenge.belimumab": "'maybe' is not one of: yes, no, na, unknown",
        "rechallenge.prednisone": "must be one of: yes, no, na, unknown",
    }  # fmt: skip
    assert errors({"dechallenge": {"belimumab": "yes"}}, drugs=[]) == {
        "dechallenge.belimumab": "'belimumab' is not a study drug of this subject (none)"
    }
    assert errors({"dechallenge": ["belimumab"]}) == {
        "dechallenge": "must be an object of study drug keys and results"
    }


# --- lists ------------------------------------------------------------------------------------


def test_each_item_needs_its_name_or_term():
    found = errors({"medical_history": [{"start": "2019"}], "conmeds": [{"dose": 1, "unit": "mg"}],
                    "tests": [{"value": "5"}]})  # fmt: skip
    assert found == {"medical_history[0].term": "a term is required",
                     "conmeds[0].name": "a name is required",
                     "tests[0].name": "a name is required"}  # fmt: skip


def test_blank_rows_are_dropped_but_indices_stay_as_sent():
    data = {"conmeds": [{"name": ""}, {"name": "a", "stop": "2021-01", "start": "2021-02"}]}
    assert list(errors(data)) == ["conmeds[1].stop"]


def test_at_most_50_items_a_list():
    fifty = [{"name": f"drug {i}"} for i in range(50)]
    assert len(clean({"conmeds": fifty})["conmeds"]) == 50
    assert errors({"conmeds": [*fifty, {"name": "one more"}]}) == {"conmeds": "at most 50 items"}
    assert errors({"tests": [*fifty, {}, {}]}) == {}  # blank rows do not count


def test_lists_and_items_must_have_their_shape():
    assert errors({"conmeds": "aspirin"}) == {"conmeds": "must be a list"}
    assert errors({"tests": {"name": "x"}}) == {"tests": "must be a list"}
    assert errors({"medical_history": ["asthma"]}) == {
        "medical_history[0]": "must be an object with named fields"
    }
    found = errors({"conmeds": [{"name": "x", "colour": "red"}]})
    assert list(found) == ["conmeds[0].colour"]
    assert found["conmeds[0].colour"].startswith("unknown field; the fields are: name, dose,")


def test_unknown_top_level_keys_are_named():
    found = errors({"reporter": "x", "version": 2})
    assert list(found) == ["reporter", "version"]
    assert found["reporter"].startswith("unknown field; the fields are: reporter_name,")


def test_a_refused_key_is_named_readably():
    found = errors({"bad\x00key\ud800" + "k" * 200: 1})
    (field,) = found
    assert field == "bad\\u0000key\\ud800" + "k" * 72 + "..."  # 80 characters kept
    field.encode("utf-8")  # can be answered


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("-1", "the dose must be 0 or more"),
        (-0.5, "the dose must be 0 or more"),
        ("abc", "'abc' is not a number (digits 0-9 and a decimal point)"),
        ("１２", "'１２' is not a number"),
        ("١٢", "'١٢' is not a number"),
        ("12 mg", "'12 mg' is not a number"),
        ("inf", "'inf' is not a number"),
        ("NaN", "'NaN' is not a number"),
        (math.inf, "the dose must be a finite number"),
        (math.nan, "the dose must be a finite number"),
        ("1e400", "the dose must be a finite number"),
        (10**400, "the dose must be at most 1000000000"),
        ("1000000000.5", "the dose must be at most 1000000000"),
        (True, "the dose must be a number"),
        ([1], "the dose must be a number"),
        ("1\x00", "must not contain a NUL character (U+0000)"),
    ],
)
def test_a_dose_is_a_finite_number_from_0(value, says):
    found = errors({"conmeds": [{"name": "x", "dose": value, "unit": "mg"}]})
    assert list(found) == ["conmeds[0].dose"] and found["conmeds[0].dose"].startswith(says)


@pytest.mark.parametrize(("value", "stored"), [("0", 0), ("12.5", 12.5), (" 200 ", 200),
                                               (".5", 0.5), ("1e3", 1000), (7, 7), (0.25, 0.25),
                                               ("", None), (None, None)])  # fmt: skip
def test_dose_values(value, stored):
    got = clean({"conmeds": [{"name": "x", "dose": value, "unit": "mg"}]})["conmeds"][0]["dose"]
    assert got == stored and type(got) is type(stored)


def test_a_dose_needs_its_unit():
    assert errors({"conmeds": [{"name": "x", "dose": "5"}]}) == {
        "conmeds[0].unit": "a dose needs its unit"
    }
    assert errors({"conmeds": [{"name": "x", "unit": "mg"}]}) == {}


@pytest.mark.parametrize(
    ("value", "stored"),
    [("negative", "negative"), (5, "5"), (0.8, "0.8"), ("<0.5", "<0.5"), ("阴性", "阴性"),
     ("1+\r\n2+", "1+\r\n2+")],
)  # fmt: skip
def test_a_test_result_is_text_as_written(value, stored):
    assert clean({"tests": [{"name": "x", "value": value}]})["tests"][0]["value"] == stored


def test_a_test_result_is_finite():
    assert errors({"tests": [{"name": "x", "value": math.nan}]}) == {
        "tests[0].value": "must be a finite number or text"
    }
    assert errors({"tests": [{"name": "x", "low": math.inf}]}) == {
        "tests[0].low": "must be a finite number or text"
    }


def test_ongoing():
    for value, stored in (("Y", True), ("n", False), (True, True), ("", None), ("yes", True),
                          ("false", False), (None, None)):  # fmt: skip
        item = {"term": "asthma", "ongoing": value}
        assert clean({"medical_history": [item]})["medical_history"][0]["ongoing"] is stored
    assert errors({"medical_history": [{"term": "x", "ongoing": "maybe"}]}) == {
        "medical_history[0].ongoing": "must be Y or N (true or false)"
    }


# --- text -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("Dr\x00Wang", "must not contain a NUL character (U+0000)"),
        ("Dr\x07Wang", "must not contain control characters (U+0007)"),
        ("Dr\x85Wang", "must not contain control characters (U+0085)"),
        ("Dr \u202eWang", "bidirectional override or isolate characters (U+202E)"),
        ("Dr\ud800", "an unpaired surrogate, U+D800"),
        ("Dr\nWang", "must not contain control characters (U+000A)"),  # one line
        ("x" * 201, "at most 200 characters"),
    ],
)
@pytest.mark.parametrize(
    "field",
    ["reporter_name", "reporter_contact", "medical_history[0].term", "conmeds[0].name",
     "conmeds[0].unit", "conmeds[0].route", "conmeds[0].indication", "tests[0].name",
     "tests[0].unit", "tests[0].low", "tests[0].high"],
)  # fmt: skip
def test_short_text(field, value, says):
    if "[" in field:
        name, key = field.split("[0].")
        data: dict[str, Any] = {name: [{ITEM_NAME[name]: "x", key: value}]}
    else:
        data = {field: value}
    found = errors(data)
    assert list(found) == [field] and says in found[field], found


@pytest.mark.parametrize("field", ["death_cause", "autopsy_cause", "tests[0].value"])
def test_free_text(field):
    def data(value: str) -> dict[str, Any]:
        if field == "tests[0].value":
            return {"tests": [{"name": "x", "value": value}]}
        return {"autopsy": "Y", field: value}

    assert errors(data("x" * 1993 + "\r\n\tline"), FATAL) == {}  # 2000 characters
    assert errors(data("x" * 2001), FATAL) == {field: "at most 2000 characters"}
    assert errors(data("a\x0bb"), FATAL) == {field: "must not contain control characters (U+000B)"}


def test_values_that_are_not_text():
    assert errors({"reporter_name": 5, "reporter_contact": ["x"]}) == {
        "reporter_name": "must be text",
        "reporter_contact": "must be text",
    }


def test_messages_are_translated_when_made():
    """The messages are gettext'd in the language in hand (the one below is in the catalog
    already; the new ones join it when the coordinator merges the translations)."""
    with use("zh-Hans"):
        found = errors({"hosp_admit_date": "2999-01-01"})
    assert "2999-01-01" in found["hosp_admit_date"]
    assert "in the future" not in found["hosp_admit_date"]


# --- saving -----------------------------------------------------------------------------------


def build_cases(env: Any) -> dict[str, int]:
    """Serious, fatal, mild, draft and locked events at site 01 and a serious one at site 02
    (subjects on belimumab + prednisone); their ids by name."""
    admin = actor_for(env.users["admin"])
    ids = {}
    with write_session(env.engine) as s:
        subjects = {}
        for key, site in (("own", env.site1), ("other", env.site2)):
            subjects[key] = add_subject(
                session=s, actor=admin, study_id=env.study_id, site=site, subjid=f"{key}-9",
                arm=env.arms["BELI+PRED"], weight_kg=70, consent_date=date(2021, 1, 5),
            )  # fmt: skip
        plan = [("sae", "own", PNEUMONIA, True), ("fatal", "own", SEPSIS, True),
                ("mild", "own", HEADACHE, True),
                ("draft", "own", PNEUMONIA | {"aestdtc": "2021-04-02", "aeendtc": None,
                                              "aeout": "RECOVERING/RESOLVING",
                                              "aeawaredtc": "2021-04-02"}, False),
                ("locked", "own", PNEUMONIA | {"aestdtc": "2021-06-01", "aeendtc": "2021-06-09",
                                               "aeawaredtc": "2021-06-01"}, True),
                ("other", "other", PNEUMONIA, True)]  # fmt: skip
        for name, who, data, submit in plan:
            event, _ = create_event(session=s, actor=admin, subject=subjects[who],
                                    data=EventInput(**data), submit=submit)  # fmt: skip
            ids[name] = event.id
        s.get(AdverseEvent, ids["locked"]).status = Status.locked
    return ids


@pytest.fixture
def cases(app_env):  # noqa: F811
    app_env.ids = build_cases(app_env)
    return app_env


def counts(env: Any) -> tuple[int, int]:
    with read_session(env.engine) as s:
        rows = s.exec(select(func.count()).select_from(SaeCase)).one()
        audit = s.exec(select(func.count()).select_from(AuditEntry)
                       .where(AuditEntry.entity_type == "sae_case")).one()  # fmt: skip
    return rows, audit


def save(env: Any, who: str | Actor, event: str, data: dict[str, Any], version: int | None = None
         ) -> SaeCase:  # fmt: skip
    actor = who if isinstance(who, Actor) else actor_for(env.users[who])
    with write_session(env.engine) as s:
        row = save_case_data(s, actor, env.ids[event], data, expected_version=version)
        s.expunge(row) if row.id is not None else None
        return row


def audit_entries(env: Any, event_id: int) -> list[AuditEntry]:
    with read_session(env.engine) as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.entity_type == "sae_case",
                                                    AuditEntry.entity_id == str(event_id))
                           .order_by(col(AuditEntry.id))))  # fmt: skip


def test_save_stores_audits_and_bumps_the_version(cases):
    env, event_id = cases, cases.ids["sae"]
    row = save(env, "inv1", "sae", FULL, version=0)
    assert row.version == 1 and row.updated_by_name == "inv1"
    assert row.event_id == event_id and row.study_id == env.study_id
    with read_session(env.engine) as s:
        assert case_data_dict(get_case_data(s, event_id)) == FULL_CLEAN
        assert get_case_data(s, cases.ids["fatal"]) is None
    (entry,) = audit_entries(env, event_id)
    assert (entry.action, entry.actor, entry.study_id, entry.site_id) == (
        "create", "inv1", env.study_id, env.site1.id)  # fmt: skip
    # every field that is not empty, old (nothing) and new, and the version
    expected = {k: [None if k in CASE_SCALARS else ({} if "challenge" in k else []), v]
                for k, v in FULL_CLEAN.items() if v not in (None, [], {})}  # fmt: skip
    assert entry.changes == expected | {"version": [None, 1]}

    changed = FULL | {"reporter_name": "李医生", "tests": FULL["tests"][1:]}
    row = save(env, "officer", "sae", changed, version=1)
    assert row.version == 2 and row.updated_by_name == "officer"
    last = audit_entries(env, event_id)[-1]
    assert last.action == "update" and last.actor == "officer"
    assert last.changes == {
        "reporter_name": ["王医生 (Dr Wang)", "李医生"],
        "tests": [FULL_CLEAN["tests"], FULL_CLEAN["tests"][1:]],
        "version": [1, 2],
    }


def test_saving_the_same_data_writes_nothing(cases):
    save(cases, "inv1", "sae", FULL)
    before = counts(cases)
    row = save(cases, "inv1", "sae", FULL_CLEAN, version=1)
    assert row.version == 1 and counts(cases) == before
    # nothing stored and nothing to store: nothing written, version 0
    empty = save(cases, "inv1", "fatal", {"medical_history": [{"term": " "}]})
    assert empty.version == 0 and empty.id is None and counts(cases) == before


def test_a_stale_version_is_refused_and_nothing_is_written(cases):
    save(cases, "inv1", "sae", FULL, version=0)
    save(cases, "inv1", "sae", FULL | {"reporter_contact": "+86 10 1234 5678"}, version=1)
    before = counts(cases)
    with pytest.raises(CaseVersionConflict) as caught:
        save(cases, "officer", "sae", FULL | {"reporter_name": "late"}, version=1)
    assert caught.value.version == 2 and caught.value.expected == 1
    assert caught.value.message.startswith("the case data changed: it is at version 2, not 1")
    assert counts(cases) == before
    with read_session(cases.engine) as s:
        assert get_case_data(s, cases.ids["sae"]).reporter_name == "王医生 (Dr Wang)"
    with pytest.raises(CaseVersionConflict) as caught:  # nothing stored is version 0
        save(cases, "inv1", "fatal", {"death_date": "2021-05-06"}, version=1)
    assert caught.value.version == 0 and caught.value.current is None


def test_a_refusal_stores_nothing(cases):
    before = counts(cases)
    with pytest.raises(ValidationFailed) as caught:
        save(cases, "inv1", "sae", FULL | {"death_date": "2021-03-10", "autopsy": "X"})
    assert {e.field for e in caught.value.findings.errors} == {"death_date", "autopsy"}
    with pytest.raises(ValidationFailed) as caught:
        save(cases, "inv1", "mild", {"reporter_name": "x"})
    assert [e.field for e in caught.value.findings.errors] == ["aeser"]
    assert counts(cases) == before


def test_who_may_save(cases):
    before = counts(cases)
    refusals = [("inv2", "sae", "your own sites"), ("inv1", "other", "your own sites"),
                ("dsmb", "sae", "this needs the role"),
                (Actor.system("tests"), "sae", "this needs the role"),
                ("officer", "draft", "a draft belongs to its site")]  # fmt: skip
    for who, event, says in refusals:
        with pytest.raises(RoleRefused, match=says):
            save(cases, who, event, {"reporter_name": "x"})
    assert counts(cases) == before
    for n, (who, event) in enumerate([("inv1", "sae"), ("inv1", "draft"), ("inv2", "other"),
                                      ("officer", "fatal"), ("admin", "sae")]):  # fmt: skip
        assert save(cases, who, event, {"reporter_name": f"reporter {n}"}).version >= 1


def test_a_locked_event_is_refused(cases):
    before = counts(cases)
    with pytest.raises(NotEditable, match="locked"):
        save(cases, "officer", "locked", {"reporter_name": "x"})
    assert counts(cases) == before


def test_no_such_event(cases):
    with write_session(cases.engine) as s, pytest.raises(LookupError):
        save_case_data(s, actor_for(cases.users["admin"]), 10**6, {})
