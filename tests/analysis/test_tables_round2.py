"""Issue 14, points 6 and 7: AET04 grade groups, AET10 across SOCs, GC toxicity by GTI
domain, and the descriptive tables DMT01, EXT01 and DST01.

Every expected number is worked out by hand in the test's docstring from the fixture study
of tests/analysis/test_fixture_tables.py (its drawing there; cut-off 2024-06-01: TEAEs e1 g1,
e2 g3 of S1 and e4 g2, e5 g2, e9 g1 of S2, all Active; e6 g2 of S3, Control), with extra
records added by each test, or from a study of its own. DMT01 is also checked against the
CDISC pilot: imported through pv.imports.sdtm, compared with pandas on the XPT files.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from pv.analysis import aesi
from pv.analysis.api import TableError, build_table, pooled
from pv.analysis.render import to_csv, to_text
from pv.db import write_session
from pv.events.models import AdverseEvent
from pv.exposure.models import Exposure
from pv.study.models import Arm, Drug, Site, Study, Subject

CUT = date(2024, 6, 1)
ARMS = ("Control", "Active", "Empty", "Total")
GEN = "GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS"
NERV = "NERVOUS SYSTEM DISORDERS"
GI = "GASTROINTESTINAL DISORDERS"
PILOT = Path(__file__).resolve().parents[1] / "data" / "cdiscpilot01"
ADSL = (
    Path(__file__).resolve().parents[3] / "shared" / "reference-data" / "cdiscpilot01" / "adsl.xpt"
)


def n_of(row) -> list[int]:  # type: ignore[no-untyped-def]
    return [row.cells[a].n for a in ARMS]


def counts(row) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    return [(row.cells[a].n, row.cells[a].events) for a in ARMS]


def add_events(engine: Engine, *events: tuple[str, dict]) -> None:
    """Submitted events for fixture subjects: (usubjid, AdverseEvent fields)."""
    with write_session(engine) as s:
        subjects = {x.usubjid: x for x in s.exec(select(Subject).where(Subject.study_id == "FIX"))}
        seq = 100
        for usubjid, fields in events:
            subj = subjects[usubjid]
            seq += 1
            s.add(AdverseEvent(study_id="FIX", subject_id=subj.id, site_id=subj.site_id, aeseq=seq,
                               aeterm=str(fields.get("aedecod") or "verbatim").lower(),
                               status="submitted", **fields))  # fmt: skip


def set_subjects(engine: Engine, values: dict[str, dict]) -> None:
    with write_session(engine) as s:
        for subj in s.exec(select(Subject).where(Subject.study_id == "FIX")):
            for key, value in values.get(subj.usubjid, {}).items():
                setattr(subj, key, value)
            s.add(subj)


# --- AET04: grade groups ---------------------------------------------------------------


def grade_rows(table, kind: str = "overall") -> dict[str, list[tuple[int, int]]]:  # type: ignore[no-untyped-def]
    return {r.grade: counts(r) for r in table.rows if r.row_type == kind and r.grade != "Any"}


def test_aet04_default_groups_are_chevrons(fixture_engine: Engine) -> None:
    """chevron aet04_main's default grade groups: 1-2, 3-4, 5. Highest grade per subject
    over all TEAEs: S1 3 (e2), S2 2 (e4, e5), S3 2 (e6). So 1-2: Active S2, Control S3;
    3-4: Active S1; 5: nobody. Events by their own grade: 1-2 Active e1 e4 e5 e9 = 4,
    Control e6 = 1; 3-4 Active e2 = 1. No grade missing: no "Missing" row."""
    t = build_table(fixture_engine, "FIX", "AET04", cutoff=CUT)
    assert grade_rows(t) == {
        "1-2": [(1, 1), (1, 4), (0, 0), (2, 5)],
        "3-4": [(0, 0), (1, 1), (0, 0), (1, 1)],
        "5": [(0, 0), (0, 0), (0, 0), (0, 0)],
    }
    assert [r.label for r in t.rows[:4]] == [
        "Subjects with at least one TEAE", "Grade 1-2", "Grade 3-4", "Grade 5"]  # fmt: skip


def test_aet04_one_group_per_grade(fixture_engine: Engine) -> None:
    """ "1,2,3,4,5": grade 1 has no subject (S1's highest is 3, S2's is 2) but two events
    (e1 of S1, e9 of S2); grade 2: Active S2 (e4 e5), Control S3 (e6); grade 3: Active S1
    (e2). Within NERVOUS SYSTEM DISORDERS (HEADACHE e1 g1, e2 g3 of S1, e6 g2 of S3): grade 2
    Control S3, grade 3 Active S1, grade 1 no subject and one event (e1)."""
    t = build_table(fixture_engine, "FIX", "AET04", cutoff=CUT,
                    params={"grade_groups": "1,2,3,4,5"})  # fmt: skip
    assert grade_rows(t) == {
        "1": [(0, 0), (0, 2), (0, 0), (0, 2)],
        "2": [(1, 1), (1, 2), (0, 0), (2, 3)],
        "3": [(0, 0), (1, 1), (0, 0), (1, 1)],
        "4": [(0, 0)] * 4,
        "5": [(0, 0)] * 4,
    }
    nerv = {r.grade: counts(r) for r in t.rows if r.row_type == "soc" and r.soc == NERV}
    assert nerv["1"] == [(0, 0), (0, 1), (0, 0), (0, 1)]
    assert nerv["2"] == [(1, 1), (0, 0), (0, 0), (1, 1)]
    assert nerv["3"] == [(0, 0), (1, 1), (0, 0), (1, 1)]


def test_aet04_custom_groups_and_missing_grade(fixture_engine: Engine) -> None:
    """ "1-2,3,4-5" and an extra ungraded TEAE of S4 (Control, dosed 01-01..03-31; onset
    02-10, no CTCAE grade and no severity): S4's highest grade is "missing", so the
    Missing row is kept: Control S4, one event. 1-2: Active S2, Control S3; 3: Active S1."""
    add_events(fixture_engine, ("S4", {"aedecod": "DIZZINESS", "aebodsys": NERV,
                                       "aestdtc": "2024-02-10"}))  # fmt: skip
    t = build_table(fixture_engine, "FIX", "AET04", cutoff=CUT,
                    params={"grade_groups": "1-2, 3, 4-5"})  # fmt: skip
    assert grade_rows(t) == {
        "1-2": [(1, 1), (1, 4), (0, 0), (2, 5)],
        "3": [(0, 0), (1, 1), (0, 0), (1, 1)],
        "4-5": [(0, 0)] * 4,
        "Missing": [(1, 1), (0, 0), (0, 0), (1, 1)],
    }
    assert t.row("Grade missing").grade == "Missing"


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ("1-2,3", "grade 4, 5 is in no group"),
        ("1-3,3-5", "grade 3 is in more than one group"),
        ("0-2,3-5", "'0-2' is not a grade group"),
        ("1-2,5-3,4", "'5-3' is not a grade group"),
        ("1-2,x,3-5", "'x' is not a grade group"),
        ("1-2,,3-5", "'' is not a grade group"),
    ],
)
def test_aet04_bad_grade_groups_are_refused(
    fixture_engine: Engine, groups: str, message: str
) -> None:
    with pytest.raises(TableError, match="grade_groups: ") as err:
        build_table(fixture_engine, "FIX", "AET04", params={"grade_groups": groups})
    assert message in str(err.value)


# --- AET10: a term once across SOCs ---------------------------------------------------


def test_aet10_counts_a_term_once_across_socs(fixture_engine: Engine) -> None:
    """chevron AET10 counts AEDECOD alone. Added: S3 (Control, dosing ongoing) HEADACHE
    filed under GENERAL DISORDERS on 02-15, and S4 (Control) two uncoded events (no
    preferred term) under NERVOUS SYSTEM and GASTROINTESTINAL on 02-01 and 02-02.
    HEADACHE: Active S1 (e1 e2), Control S3 (e6 under NERVOUS, the new one under GENERAL):
    one row, 1 + 1 subjects, 2 + 2 events (AET02 has two HEADACHE rows).
    (Not coded): Control S4 once, 2 events."""
    add_events(
        fixture_engine,
        ("S3", {"aedecod": "HEADACHE", "aebodsys": GEN, "aestdtc": "2024-02-15", "aetoxgr": 1}),
        ("S4", {"aedecod": None, "aebodsys": NERV, "aestdtc": "2024-02-01", "aetoxgr": 1}),
        ("S4", {"aedecod": None, "aebodsys": GI, "aestdtc": "2024-02-02", "aetoxgr": 1}),
    )
    t = build_table(fixture_engine, "FIX", "AET10", cutoff=CUT, params={"threshold": 0})
    assert [r.label for r in t.rows].count("HEADACHE") == 1
    head = t.row("HEADACHE")
    assert counts(head) == [(1, 2), (1, 2), (0, 0), (2, 4)]
    assert head.soc == f"{GEN}; {NERV}"
    uncoded = t.row("(Not coded)")
    assert counts(uncoded) == [(1, 2), (0, 0), (0, 0), (1, 2)]
    assert uncoded.soc == f"{GI}; {NERV}"
    # frequency order: HEADACHE (2 subjects) first
    assert t.rows[0].label == "HEADACHE"
    aet02 = build_table(fixture_engine, "FIX", "AET02", cutoff=CUT)
    assert [r.label for r in aet02.rows].count("HEADACHE") == 2
    # threshold 60%: HEADACHE is 1/2 = 50% in each arm -> no row; (Not coded) 50% -> none
    t = build_table(fixture_engine, "FIX", "AET10", cutoff=CUT, params={"threshold": 60})
    assert "HEADACHE" not in [r.label for r in t.rows]
    # 50%: both (each reaches 50% of Control)
    t = build_table(fixture_engine, "FIX", "AET10", cutoff=CUT, params={"threshold": 50})
    assert "HEADACHE" in [r.label for r in t.rows] and "(Not coded)" in [r.label for r in t.rows]


# --- GC toxicity by GTI domain -----------------------------------------------------------

GC_EVENTS = (
    # S1 Active: an infection, which the catalogue also files under GC toxicity (domain
    # infection); S2 Active: Insomnia (neuropsychiatric); S4 Control: Hyperglycemia
    # (glucose); S3 Control: a GC-toxicity event whose code the catalogue does not place.
    ("S1", {"aedecod": "Bronchial infection", "aelltcd": "10055078", "aestdtc": "2024-01-25",
            "aebodsys": "INFECTIONS AND INFESTATIONS", "aesi": "infection,gc_toxicity",
            "aetoxgr": 2}),
    ("S2", {"aedecod": "Insomnia", "aelltcd": "10022437", "aestdtc": "2024-01-20",
            "aebodsys": "PSYCHIATRIC DISORDERS", "aesi": "gc_toxicity", "aetoxgr": 1}),
    ("S4", {"aedecod": "Hyperglycemia", "aelltcd": "10020639", "aestdtc": "2024-02-10",
            "aebodsys": "METABOLISM AND NUTRITION DISORDERS", "aesi": "gc_toxicity",
            "aetoxgr": 3}),
    ("S3", {"aedecod": "Something else", "aelltcd": "99999999", "aestdtc": "2024-03-10",
            "aebodsys": GEN, "aesi": "gc_toxicity", "aetoxgr": 1}),
)  # fmt: skip


def test_gc_domain_from_the_code(fixture_engine: Engine) -> None:
    """The domain is looked up from aelltcd in terminologies/aesi/terms.csv: 10055078
    (Bronchial infection) -> infection (by rules.json's reference), 10022437 Insomnia ->
    neuropsychiatric, 10020639 Hyperglycemia -> glucose; an unknown code -> ""."""
    events = pd.DataFrame({
        "aelltcd": pd.Categorical(["10055078", "10022437", "10020639", "99999999", None,
                                   "10022437"]),
        "aesi": pd.Categorical(["infection,gc_toxicity", "gc_toxicity", "gc_toxicity",
                                "gc_toxicity", "", "gc_toxicity"]),
    })  # fmt: skip
    assert list(aesi.gc_domain(events)) == [
        "infection", "neuropsychiatric", "glucose", "", "", "neuropsychiatric"]  # fmt: skip
    assert list(aesi.member(events, aesi.GC_EXCL_INFECTION)) == [
        False, True, True, True, False, True]  # fmt: skip
    assert list(aesi.member(events, "gc_toxicity:glucose")) == [
        False, False, True, False, False, False]  # fmt: skip
    assert list(aesi.member(events, "gc_toxicity:unassigned")) == [
        False, False, False, True, False, False]  # fmt: skip
    keys = [r.key for r in aesi.table_rows(events)]
    assert keys == [
        "infection", "hypersensitivity", "infusion_reaction", "gc_toxicity_excl_infection",
        "gc_toxicity:bmi", "gc_toxicity:glucose", "gc_toxicity:blood_pressure",
        "gc_toxicity:lipids", "gc_toxicity:bone", "gc_toxicity:myopathy", "gc_toxicity:skin",
        "gc_toxicity:neuropsychiatric", "gc_toxicity:damage", "gc_toxicity:unassigned",
    ]  # fmt: skip
    # without an unplaced code there is no "domain not known" row
    assert "gc_toxicity:unassigned" not in [r.key for r in aesi.table_rows(events.iloc[:3])]


def test_aet01_aesi_gc_toxicity_by_domain(fixture_engine: Engine) -> None:
    """With GC_EVENTS (all TEAEs: S1 01-25 within 30 days of its last dose 01-31; S2 01-20
    within the 30 days after its 01-10 infusion; S4 02-10 while dosed; S3 dosing ongoing):
    Infections: Active S1 (1 event). GC toxicity excluding infection: Control S4 + S3 = 2
    subjects (grade >= 3: S4), Active S2 = 1; S1's infection is not in it. Domains:
    glucose Control 1, neuropsychiatric Active 1, "domain not known" Control 1, every other
    domain 0."""
    add_events(fixture_engine, *GC_EVENTS)
    t = build_table(fixture_engine, "FIX", "AET01_AESI", cutoff=CUT)
    top = [r.label for r in t.rows if r.row_type == "soc" and r.indent == 0]
    assert top == ["Infections", "Hypersensitivity reactions", "Infusion reactions",
                   "GC toxicity excluding infection"]  # fmt: skip
    assert counts(t.row("Infections")) == [(0, 0), (1, 1), (0, 0), (1, 1)]
    gc = "GC toxicity excluding infection"
    assert counts(t.row(gc)) == [(2, 2), (1, 1), (0, 0), (3, 3)]
    assert counts(t.row("TEAE of grade 3 or higher (or severe)", soc=gc)) == [
        (1, 1), (0, 0), (0, 0), (1, 1)]  # fmt: skip
    domains = {r.label: counts(r) for r in t.rows if r.extra.get("aesi", "").startswith(
        "gc_toxicity:") and r.cells}  # fmt: skip
    head = next(i for i, r in enumerate(t.rows) if r.label == "By GTI domain")
    assert t.rows[head - 1].soc == gc and not t.rows[head].cells
    assert all(r.soc == gc and r.indent == 2 for r in t.rows[head + 1 :])
    assert list(domains) == [
        "Body mass index", "Glucose tolerance", "Blood pressure", "Lipids", "Bone",
        "Steroid myopathy", "Skin toxicity", "Neuropsychiatric toxicity",
        "Damage items (GTI Specific List)", "GC toxicity, domain not known",
    ]  # fmt: skip
    assert domains["Glucose tolerance"] == [(1, 1), (0, 0), (0, 0), (1, 1)]
    assert domains["Neuropsychiatric toxicity"] == [(0, 0), (1, 1), (0, 0), (1, 1)]
    assert domains["GC toxicity, domain not known"] == [(1, 1), (0, 0), (0, 0), (1, 1)]
    assert all(
        v == [(0, 0)] * 4
        for k, v in domains.items()
        if k
        not in ("Glucose tolerance", "Neuropsychiatric toxicity", "GC toxicity, domain not known")
    )
    assert t.row("Glucose tolerance").extra["aesi"] == "gc_toxicity:glucose"
    assert "Glucocorticoid toxicity" not in [r.label for r in t.rows]


# --- DMT01 -------------------------------------------------------------------------------

BASELINE = {
    "S1": {"age": 30, "sex": "M", "race": "WHITE", "weight_kg": 70.0, "height_cm": 175.0},
    "S2": {"age": 64, "sex": "F", "race": "ASIAN", "weight_kg": 55.0, "height_cm": 160.0},
    "S3": {"age": 65, "sex": "F", "race": "ASIAN", "weight_kg": 60.0, "height_cm": 150.0},
    "S4": {"age": 80, "sex": "M", "race": None, "weight_kg": 90.0, "height_cm": None},
    "S5": {"age": 50, "sex": "F", "race": "WHITE", "weight_kg": None, "height_cm": 170.0},
    # not in the safety population (no arm; never dosed): never counted
    "S6": {"age": 20, "sex": "M", "race": "OTHER", "weight_kg": 40.0, "height_cm": 150.0},
    "S7": {"age": 99, "sex": "M", "race": "OTHER", "weight_kg": 40.0, "height_cm": 150.0},
}


def stats_of(table, variable: str, column: str) -> dict[str, tuple]:  # type: ignore[no-untyped-def]
    return {
        r.stat: (r.cells[column].n, r.cells[column].value, r.cells[column].value2)
        for r in table.rows
        if r.stat and r.soc == variable
    }


def test_dmt01_by_hand(fixture_engine: Engine) -> None:
    """Safety population: Active S1 S2, Control S3 S4, Empty S5 (S6, S7 left out).
    Age: Active 30, 64: mean 47, SD sqrt(17^2 + 17^2) = 24.042, median 47; Q1/Q3 by R's
    quantile type 2 (tern's default): n p = 0.5 and 1.5 are not whole, so x[1] = 30 and
    x[2] = 64. Control 65, 80: mean 72.5, SD 10.607. Empty 50: n 1, SD not defined.
    Total 30 50 64 65 80: mean 57.8, squares of the deviations 772.84 + 60.84 + 38.44 +
    51.84 + 492.84 = 1416.8, SD = sqrt(1416.8 / 4) = 18.820; median 64; Q1: n p = 1.25 ->
    x[2] = 50; Q3: 3.75 -> x[4] = 65. Age groups (<65, 65-74, >=75): S1 S2 S5 / S3 / S4.
    Sex F: S2 S3 S5, M: S1 S4. Race ASIAN: S2 S3, WHITE: S1 S5, Missing: S4.
    BMI: S1 70 / 1.75^2 = 22.857, S2 55 / 1.6^2 = 21.484, S3 60 / 1.5^2 = 26.667."""
    set_subjects(fixture_engine, BASELINE)
    t = build_table(fixture_engine, "FIX", "DMT01", cutoff=CUT)
    assert t.control is None and [a.N for a in t.arms] == [2, 2, 1]
    age = "Age (years)"
    active = stats_of(t, age, "Active")
    assert active["n"][0] == 2
    assert active["mean_sd"][1:] == pytest.approx((47.0, math.sqrt(578)))
    assert active["median"][1] == 47.0
    assert active["q1_q3"][1:] == (30.0, 64.0) and active["min_max"][1:] == (30.0, 64.0)
    control = stats_of(t, age, "Control")
    assert control["mean_sd"][1:] == pytest.approx((72.5, math.sqrt(112.5)))
    empty = stats_of(t, age, "Empty")
    assert empty["n"][0] == 1 and empty["mean_sd"][1:] == (50.0, None)
    total = stats_of(t, age, "Total")
    assert total["n"][0] == 5
    assert total["mean_sd"][1:] == pytest.approx((57.8, math.sqrt(1416.8 / 4)))
    assert total["median"][1] == 64.0
    assert total["q1_q3"][1:] == (50.0, 65.0) and total["min_max"][1:] == (30.0, 80.0)

    def level(variable: str, label: str) -> list[int]:
        return n_of(next(r for r in t.rows if r.soc == variable and r.label == label))

    assert level("Age group (years)", "<65") == [0, 2, 1, 3]
    assert level("Age group (years)", "65-74") == [1, 0, 0, 1]
    assert level("Age group (years)", ">=75") == [1, 0, 0, 1]
    assert level("Sex", "Female") == [1, 1, 1, 3]
    assert level("Sex", "Male") == [1, 1, 0, 2]
    levels = [r.label for r in t.rows if r.soc == "Sex" and r.indent]
    assert levels == ["Female", "Male"]  # no Unknown, no Missing: nobody
    assert [r.label for r in t.rows if r.soc == "Race" and r.indent] == [
        "ASIAN",
        "WHITE",
        "Missing",
    ]
    assert level("Race", "ASIAN") == [1, 1, 0, 2]
    assert level("Race", "WHITE") == [0, 1, 1, 2]
    assert level("Race", "Missing") == [1, 0, 0, 1]
    weight = stats_of(t, "Weight (kg)", "Active")
    assert weight["mean_sd"][1] == pytest.approx(62.5)
    assert stats_of(t, "Weight (kg)", "Empty")["n"][0] == 0
    bmi = stats_of(t, "BMI (kg/m2)", "Active")
    assert bmi["mean_sd"][1] == pytest.approx((70 / 1.75**2 + 55 / 1.6**2) / 2)
    assert stats_of(t, "BMI (kg/m2)", "Control")["median"][1] == pytest.approx(60 / 1.5**2)
    assert stats_of(t, "BMI (kg/m2)", "Total")["n"][0] == 3
    # rendering in tern's formats: "xx.x (xx.x)", "xx.x - xx.x", NA for an undefined SD
    text = to_text(t)
    line = next(x for x in text.splitlines() if x.strip().startswith("Mean (SD)"))
    assert "72.5 (10.6)" in line and "47.0 (24.0)" in line and "50.0 (NA)" in line
    assert "57.8 (18.8)" in line
    line = next(x for x in text.splitlines() if x.strip().startswith("Q1 - Q3"))
    assert "30.0 - 64.0" in line and "50.0 - 65.0" in line
    assert "n (%)" in text and "[events]" not in text
    # CSV: one line per statistic and column, stat / value / value2 filled
    csv = pd.read_csv(pd.io.common.StringIO(to_csv([t])))
    row = csv[(csv["soc"] == age) & (csv["stat"] == "mean_sd") & (csv["arm"] == "Active")]
    assert row["value"].iloc[0] == 47.0 and row["value2"].iloc[0] == pytest.approx(24.0416, 1e-4)
    assert row["n"].iloc[0] == 2
    # a blinded reader sees the Total column only
    shown = pooled(t)
    assert shown is not None and all(set(r.cells) <= {"Total"} for r in shown.rows)


def test_dmt01_age_groups_parameter(fixture_engine: Engine) -> None:
    """age_groups "50,65": <50 S1; 50-64 S2 S5; >=65 S3 S4. A bad list is refused."""
    set_subjects(fixture_engine, BASELINE)
    t = build_table(fixture_engine, "FIX", "DMT01", params={"age_groups": "50,65"})
    rows = {r.label: n_of(r) for r in t.rows if r.soc == "Age group (years)" and r.indent}
    assert rows == {"<50": [0, 1, 0, 1], "50-64": [0, 1, 1, 2], ">=65": [2, 0, 0, 2]}
    for bad in ("65,50", "x", "0,10"):
        with pytest.raises(TableError, match="age_groups"):
            build_table(fixture_engine, "FIX", "DMT01", params={"age_groups": bad})


def _type2(x: np.ndarray, p: float) -> float:
    """R's quantile type 2, written out: j + g = n p; g > 0 -> x[j+1], else the mean of
    x[j] and x[j+1] (1-based, x sorted)."""
    x = np.sort(x)
    j, g = divmod(len(x) * p, 1)
    j = int(j)
    return float(x[j]) if g > 1e-9 else float((x[j - 1] + x[j]) / 2)


def test_dmt01_reproduces_the_cdisc_pilot(pilot_engine: Engine) -> None:
    """Age (n, mean, SD, median, Q1, Q3, min, max), sex and race per arm for the pilot's
    safety population, against pandas straight from
    the XPT files: ADSL SAFFL = "Y" when the shared reference copy of adsl.xpt is there
    (86 / 84 / 84), else DM subjects with an arm and an EX record (the same 254)."""
    dm, _m = pyreadstat.read_xport(str(PILOT / "dm.xpt"))
    ex, _m = pyreadstat.read_xport(str(PILOT / "ex.xpt"))
    if ADSL.exists():
        adsl, _m = pyreadstat.read_xport(str(ADSL))
        safety = set(adsl.loc[adsl["SAFFL"] == "Y", "USUBJID"])
    else:
        safety = set(ex["USUBJID"]) & set(dm.loc[dm["ARM"] != "Screen Failure", "USUBJID"])
    pop = dm[dm["USUBJID"].isin(safety)]
    t = build_table(pilot_engine, "CDISCPILOT01", "DMT01")
    assert {a.label: a.N for a in t.arms} == pop.groupby("ARM").size().to_dict()
    assert t.arms[0].N == 86
    for arm in [a.label for a in t.arms] + ["Total"]:
        ages = (pop if arm == "Total" else pop[pop["ARM"] == arm])["AGE"].to_numpy(float)
        got = stats_of(t, "Age (years)", arm)
        assert got["n"][0] == len(ages)
        assert got["mean_sd"][1:] == pytest.approx((ages.mean(), pd.Series(ages).std()))
        assert got["median"][1] == pytest.approx(float(pd.Series(ages).median()))
        assert got["q1_q3"][1:] == pytest.approx((_type2(ages, 0.25), _type2(ages, 0.75)))
        assert got["min_max"][1:] == (ages.min(), ages.max())
        part = pop if arm == "Total" else pop[pop["ARM"] == arm]
        for code, label in (("F", "Female"), ("M", "Male")):
            row = next(r for r in t.rows if r.soc == "Sex" and r.label == label)
            assert row.cells[arm].n == int((part["SEX"] == code).sum())
        race_rows = [r for r in t.rows if r.soc == "Race" and r.indent]
        assert {r.label for r in race_rows} == set(pop["RACE"])  # DM RACE as imported
        for race, n in part["RACE"].value_counts().items():
            row = next(r for r in race_rows if r.label == race)
            assert row.cells[arm].n == n


# --- EXT01 -------------------------------------------------------------------------------


def build_exposure_study(engine: Engine) -> None:
    """Study EXT: arms A (control) and B; drugs belimumab (infusions) and prednisone
    (daily-dose periods), records below; cut-off 2024-03-31 in the test."""

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text)

    plan = {
        "P1": ("B", [("belimumab", "ONCE", 700, "2024-01-01T09:00", "2024-01-01T10:00"),
                     ("belimumab", "ONCE", 700, "2024-01-15T09:00", None),
                     ("belimumab", "ONCE", 700, "2024-01-29T09:00", None),
                     ("prednisone", "QD", 40, "2024-01-01", "2024-01-14"),
                     ("prednisone", "QD", 30, "2024-01-15", "2024-01-31")]),
        "P2": ("B", [("belimumab", "ONCE", 600, "2024-02-01T09:00", None),
                     ("belimumab", "ONCE", 600, "2024-04-15T09:00", None),  # after cut-off
                     ("prednisone", "QD", 20, "2024-02-01", "2024-02-10")]),
        "P3": ("A", [("prednisone", "QD", 10, "2024-01-10", "2024-03-09")]),
        "P4": ("A", [("prednisone", "QD", 5, "2024-03-01", None)]),  # still open
        "P5": ("A", []),  # never dosed
    }  # fmt: skip
    with write_session(engine) as s:
        s.add(Study(id="EXT", title="Exposure study", source="sdtm"))
        s.flush()
        arms = {}
        for pos, code in enumerate("AB"):
            arm = Arm(study_id="EXT", label=code, code=code, is_control=code == "A", position=pos)
            s.add(arm)
            s.flush()
            arms[code] = arm.id
        site = Site(study_id="EXT", code="01", name="Site 01")
        drugs = {k: Drug(study_id="EXT", name=k.capitalize(), key=k)
                 for k in ("belimumab", "prednisone")}  # fmt: skip
        s.add_all([site, *drugs.values()])
        s.flush()
        for usubjid, (arm, records) in plan.items():
            subj = Subject(study_id="EXT", site_id=site.id, usubjid=usubjid, subjid=usubjid,
                           arm_id=arms[arm])  # fmt: skip
            s.add(subj)
            s.flush()
            for drug, freq, mg, start, end in records:
                s.add(Exposure(subject_id=subj.id, drug_id=drugs[drug].id, dose=mg, unit="mg",
                               dose_mg=mg, frequency=freq, start=at(start),
                               end=at(end) if end else None))  # fmt: skip


def test_ext01_by_hand(engine: Engine) -> None:
    """Cut-off 2024-03-31. Safety: B P1 P2, A P3 P4 (P5 never dosed).
    P1: infusions 01-01, 01-15, 01-29 (3 x 700 = 2100 mg); prednisone 40 mg 01-01..01-14
    (14 days, 560 mg) and 30 mg 01-15..01-31 (17 days, 510 mg): 31 days, 1070 mg; treatment
    01-01..01-31 = 31 days.
    P2: one infusion by the cut-off (600 mg; the 04-15 one is after it); prednisone 20 mg
    02-01..02-10: 10 days, 200 mg; treatment 10 days.
    P3: prednisone 10 mg 01-10..03-09 (22 + 29 (2024 is a leap year) + 9 = 60 days,
    600 mg); treatment 60 days.
    P4: prednisone 5 mg from 03-01, open: closed at the cut-off, 31 days, 155 mg.
    Duration B 31, 10: mean 20.5, SD sqrt(2 x 10.5^2) = 14.849; A 60, 31: mean 45.5,
    SD sqrt(2 x 14.5^2) = 20.506; Total 10 31 31 60: median 31, mean 33.
    belimumab: exposed B 2/2, A 0/2; administrations 3, 1 (mean 2, SD 1.414); cumulative
    2100, 600 (mean 1350). prednisone: exposed 2/2 each; days B 31, 10 / A 60, 31;
    cumulative A 600, 155 (mean 377.5), B 1070, 200 (mean 635)."""
    build_exposure_study(engine)
    t = build_table(engine, "EXT", "EXT01", cutoff=date(2024, 3, 31))
    assert [a.N for a in t.arms] == [2, 2]
    dur = "Treatment duration (days)"
    assert stats_of(t, dur, "B")["mean_sd"][1:] == pytest.approx((20.5, math.sqrt(220.5)))
    assert stats_of(t, dur, "A")["mean_sd"][1:] == pytest.approx((45.5, math.sqrt(420.5)))
    assert stats_of(t, dur, "Total")["median"][1] == 31.0
    assert stats_of(t, dur, "Total")["mean_sd"][1] == pytest.approx(33.0)
    assert stats_of(t, dur, "Total")["min_max"][1:] == (10.0, 60.0)
    exposed = {r.soc: (r.cells["A"].n, r.cells["B"].n, r.cells["Total"].n)
               for r in t.rows if r.label == "Subjects exposed"}  # fmt: skip
    assert exposed == {"belimumab": (0, 2, 2), "prednisone": (2, 2, 4)}
    admin = stats_of(t, "belimumab: Number of administrations", "B")
    assert admin["n"][0] == 2 and admin["mean_sd"][1:] == pytest.approx((2.0, math.sqrt(2)))
    assert admin["min_max"][1:] == (1.0, 3.0)
    assert stats_of(t, "belimumab: Number of administrations", "A")["n"][0] == 0
    assert stats_of(t, "belimumab: Cumulative dose (mg)", "B")["min_max"][1:] == (600.0, 2100.0)
    assert stats_of(t, "belimumab: Cumulative dose (mg)", "B")["mean_sd"][1] == 1350.0
    days_b = stats_of(t, "prednisone: Days on daily dosing", "B")
    assert days_b["min_max"][1:] == (10.0, 31.0)
    assert stats_of(t, "prednisone: Days on daily dosing", "A")["min_max"][1:] == (31.0, 60.0)
    cum_a = stats_of(t, "prednisone: Cumulative dose (mg)", "A")
    assert cum_a["mean_sd"][1] == 377.5 and cum_a["min_max"][1:] == (155.0, 600.0)
    cum_b = stats_of(t, "prednisone: Cumulative dose (mg)", "B")
    assert cum_b["mean_sd"][1] == 635.0 and cum_b["min_max"][1:] == (200.0, 1070.0)
    # no "Number of administrations" for a daily drug, no daily days for an infused one
    socs = {r.soc for r in t.rows}
    assert "prednisone: Number of administrations" not in socs
    assert "belimumab: Days on daily dosing" not in socs
    # without a cut-off P2's second infusion counts and P4's open period runs to the
    # study's last date (04-15, the last date seen): 03-01..04-15 = 46 days
    t = build_table(engine, "EXT", "EXT01")
    assert stats_of(t, "belimumab: Number of administrations", "B")["min_max"][1:] == (2.0, 3.0)
    assert stats_of(t, "prednisone: Days on daily dosing", "A")["min_max"][1:] == (46.0, 60.0)


# --- DST01 -------------------------------------------------------------------------------


def test_dst01_by_hand(fixture_engine: Engine) -> None:
    """Randomized (assigned to an arm, dosed or not): Control S3 S4, Active S1 S2 S7,
    Empty S5 (S6 has no arm): N 2, 3, 1, total 6. S4 moved to a second site 02.
    Month: randomization date, else consent: S1 2023-12-20, S3 2023-12-28 -> 2023-12;
    S2 2024-01-05, S7 2024-01-08, S4 (consent 2024-01-02) -> 2024-01; S5 none -> not known.
    Disposition by the cut-off 06-01: S2 COMPLETED 05-01; S1 DEATH 04-16 (DM: died);
    S7 WITHDRAWAL BY SUBJECT 01-09; S4 WITHDRAWAL BY SUBJECT 04-15; S3 ADVERSE EVENT on
    07-01, after the cut-off: ongoing then; S5 none: ongoing.
    Completed Active 1; discontinued Active 2 (S1 S7), Control 1 (S4): DEATH Active 1,
    WITHDRAWAL BY SUBJECT Active 1 Control 1; ongoing Control 1 (S3), Empty 1 (S5).
    Deaths: Active 1 (S1)."""
    with write_session(fixture_engine) as s:
        study_site = Site(study_id="FIX", code="02", name="Site 02")
        s.add(study_site)
        s.flush()
        site2 = study_site.id
    set_subjects(fixture_engine, {
        "S1": {"randomization_date": date(2023, 12, 20), "disposition": "DEATH",
               "disposition_date": "2024-04-16", "died": True, "death_date": "2024-04-16"},
        "S2": {"randomization_date": date(2024, 1, 5), "disposition": "COMPLETED",
               "disposition_date": "2024-05-01"},
        "S3": {"randomization_date": date(2023, 12, 28), "disposition": "ADVERSE EVENT",
               "disposition_date": "2024-07-01"},
        "S4": {"consent_date": date(2024, 1, 2), "disposition": "WITHDRAWAL BY SUBJECT",
               "disposition_date": "2024-04-15", "site_id": site2},
        "S7": {"randomization_date": date(2024, 1, 8), "disposition": "WITHDRAWAL BY SUBJECT",
               "disposition_date": "2024-01-09"},
    })  # fmt: skip
    t = build_table(fixture_engine, "FIX", "DST01", cutoff=CUT)
    assert [a.N for a in t.arms] == [2, 3, 1] and t.total_N == 6
    assert t.population == "All randomized subjects"

    def n(label: str, soc: str | None = None) -> list[int]:
        return n_of(next(r for r in t.rows if r.label == label and soc in (None, r.soc)))

    assert n("Subjects randomized") == [2, 3, 1, 6]
    assert n("01", "Randomized by site") == [1, 3, 1, 5]
    assert n("02", "Randomized by site") == [1, 0, 0, 1]
    assert n("2023-12") == [1, 1, 0, 2]
    assert n("2024-01") == [1, 2, 0, 3]
    assert n("Date not known") == [0, 0, 1, 1]
    assert n("Completed study") == [0, 1, 0, 1]
    assert n("Discontinued study") == [1, 2, 0, 3]
    reasons = [r.label for r in t.rows if r.soc == "Discontinued study"]
    assert reasons == ["DEATH", "WITHDRAWAL BY SUBJECT"]
    assert n("DEATH") == [0, 1, 0, 1]
    assert n("WITHDRAWAL BY SUBJECT") == [1, 1, 0, 2]
    assert n("Ongoing in study") == [1, 0, 1, 2]
    assert n("Deaths") == [0, 1, 0, 1]
    pct = t.row("Discontinued study").cells["Active"]
    assert (pct.n, pct.N) == (2, 3)
    # without the cut-off S3's disposition counts
    t = build_table(fixture_engine, "FIX", "DST01")
    assert [r.label for r in t.rows if r.soc == "Discontinued study"] == [
        "ADVERSE EVENT", "DEATH", "WITHDRAWAL BY SUBJECT"]  # fmt: skip
    assert n_of(t.row("Ongoing in study")) == [0, 0, 1, 1]


def test_descriptive_tables_of_a_study_without_dosing(engine: Engine) -> None:
    """No dosing record at all: nobody is in the safety population (N 0), EXT01 has only
    its duration rows with n 0 and no drug, DMT01's n are 0; DST01 still counts the
    randomized subject (ongoing)."""
    with write_session(engine) as s:
        s.add(Study(id="NODOSE", title="No dosing", source="sdtm"))
        s.flush()
        arm = Arm(study_id="NODOSE", label="A", code="A", is_control=True, position=0)
        site = Site(study_id="NODOSE", code="01", name="Site 01")
        s.add_all([arm, site])
        s.flush()
        s.add(Subject(study_id="NODOSE", site_id=site.id, usubjid="N1", subjid="N1",
                      arm_id=arm.id, age=40, sex="F"))  # fmt: skip
    ext = build_table(engine, "NODOSE", "EXT01")
    assert [a.N for a in ext.arms] == [0]
    assert {r.soc for r in ext.rows} == {"Treatment duration (days)"}
    assert all(c.n == 0 for r in ext.rows for c in r.cells.values())
    assert "Mean (SD)" in to_text(ext)
    dmt = build_table(engine, "NODOSE", "DMT01")
    assert stats_of(dmt, "Age (years)", "Total")["n"][0] == 0
    dst = build_table(engine, "NODOSE", "DST01")
    assert n_of_one(dst.row("Ongoing in study")) == [1, 1]


def n_of_one(row) -> list[int]:  # type: ignore[no-untyped-def]
    return [row.cells["A"].n, row.cells["Total"].n]
