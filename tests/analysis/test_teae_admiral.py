"""Treatment emergence as admiral's derive_var_trtemfl (pv/analysis/teae.py).

admiral's own cases (pharmaverse/admiral, tests/testthat/test-derive_var_trtemfl.R,
Tests 1, 2 and 3; the same rows are the examples in R/derive_var_trtemfl.R) are written
here as hand-made fixture studies and loaded through load_study, day by day:

    subject "1": first dose 2022-01-01T01:01, last dose 2022-04-30 (one daily-dose
    record), so with end_window = 10 the window runs 2022-01-01 .. 2022-05-10;
    subject "2": never treated (no dosing record).

Times of day are kept in the onset/end text as admiral's rows have them; pv compares days
(admiral's default ignore_time_for_trt_end = TRUE), so admiral's Tests 4 and 5 (which
compare times against the treatment end time) have no counterpart. The expected flags
are admiral's published expectations (column TRTEMFL / TRTEM2FL of those tests); the
mapping of arguments: no end_window -> a window longer than the data (36,500 days);
end_window = 10 -> window_days = 10; no intensity -> worsening=False; AEITOXGR ->
initial_grade; AEGRPID -> aegrpid.

The further cases below (partial end dates, worsening dates, AESPID episodes, severity
grades, the window for worsened records) are derived by hand from the rules written in
teae.py's docstring; each test says how.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from pv.analysis.data import load_study
from pv.analysis.teae import EPOCH, TEAERule
from pv.db import write_session
from pv.events.models import AdverseEvent
from pv.exposure.models import Exposure
from pv.study.models import Arm, Drug, Site, Study, Subject

FIRST, LAST = "2022-01-01T01:01", "2022-04-30T11:30"
NO_WINDOW = TEAERule(window_days=36500, worsening=False)  # admiral Test 1
WINDOW_10 = TEAERule(window_days=10)  # admiral Tests 2 and 3


def day(text: str) -> float:
    return float(date.fromisoformat(text).toordinal() - EPOCH)


def build(
    engine: Engine,
    events: list[tuple[str, str, str | None, str | None, dict[str, Any]]],
    dosing: dict[str, list[tuple[str, str, str | None]]],
    study_id: str = "ADM",
) -> None:
    """events: (name, subject, AESTDTC, AEENDTC, extra AE fields); dosing: subject ->
    [(frequency, start, end)]; every subject is in one arm."""
    with write_session(engine) as s:
        s.add(Study(id=study_id, title="admiral cases", source="sdtm"))
        s.flush()
        arm = Arm(study_id=study_id, label="Drug", code="D", is_control=False, position=0)
        site = Site(study_id=study_id, code="01", name="Site 01")
        drug = Drug(study_id=study_id, name="Drug A", key="druga")
        s.add_all([arm, site, drug])
        s.flush()
        subjects: dict[str, Subject] = {}
        for name in dict.fromkeys([e[1] for e in events] + list(dosing)):
            subj = Subject(study_id=study_id, site_id=site.id, usubjid=name, subjid=name,
                           arm_id=arm.id)  # fmt: skip
            s.add(subj)
            s.flush()
            subjects[name] = subj
            for freq, start, end in dosing.get(name, []):
                s.add(Exposure(subject_id=subj.id, drug_id=drug.id, dose=10, unit="mg",
                               dose_mg=10, frequency=freq, start=datetime.fromisoformat(start),
                               end=datetime.fromisoformat(end) if end else None))  # fmt: skip
        for seq, (name, who, start, end, extra) in enumerate(events, start=1):
            s.add(AdverseEvent(study_id=study_id, subject_id=subjects[who].id, site_id=site.id,
                               aeseq=seq, aeterm=name, aedecod="HEADACHE",
                               aebodsys="NERVOUS SYSTEM DISORDERS", aestdtc=start or None,
                               aeendtc=end or None, status="submitted", **extra))  # fmt: skip


def flags(engine: Engine, rule: TEAERule, study_id: str = "ADM") -> dict[str, bool]:
    data = load_study(engine, study_id, columns={"aeterm"}, rule=rule)
    ev = data.events
    return dict(zip(ev["aeterm"].astype(str), ev["te"].to_numpy(bool).tolist(), strict=True))


def analysis_days(engine: Engine, rule: TEAERule, study_id: str = "ADM") -> dict[str, float]:
    data = load_study(engine, study_id, columns={"aeterm"}, rule=rule)
    ev = data.events
    return dict(zip(ev["aeterm"].astype(str), ev["adt"].to_numpy(float).tolist(), strict=True))


DOSING = {"1": [("QD", FIRST, LAST)], "2": []}

# admiral Tests 1, 2 and 4: (name, USUBJID, ASTDTM, AENDTM, AEITOXGR, AETOXGR) and the
# expected TRTEMFL (Test 1) and TRTEM2FL (Test 2); None = NA.
ADMIRAL_1_2 = [
    # before treatment
    ("r01", "1", "2021-12-13T20:15", "2021-12-15T12:45", 1, 1, None, None),
    ("r02", "1", "2021-12-14T20:15", "2021-12-14T22:00", 1, 3, None, None),
    # starting before treatment and ending during treatment
    ("r03", "1", "2021-12-30T20:00", "2022-01-14T11:00", 1, 3, None, "Y"),
    ("r04", "1", "2021-12-31T20:15", "2022-01-01T01:23", 1, 1, None, None),
    # starting during treatment
    ("r05", "1", "2022-01-01T12:00", "2022-01-02T23:25", 3, 4, "Y", "Y"),
    # after treatment
    ("r06", "1", "2022-05-10T11:00", "2022-05-10T13:05", 2, 2, "Y", "Y"),
    ("r07", "1", "2022-05-10T12:00", "2022-05-10T13:05", 2, 2, "Y", "Y"),
    ("r08", "1", "2022-05-11T11:00", "2022-05-11T13:05", 2, 2, "Y", None),
    # missing dates
    ("r09", "1", "", "", 3, 4, "Y", "Y"),
    ("r10", "1", "2021-12-30T09:00", "", 3, 4, None, "Y"),
    ("r11", "1", "2021-12-30T11:00", "", 3, 3, None, None),
    ("r12", "1", "", "2022-01-04T09:00", 3, 4, "Y", "Y"),
    ("r13", "1", "", "2021-12-24T19:00", 3, 4, None, None),
    ("r14", "1", "", "2022-06-04T09:00", 3, 4, "Y", "Y"),
    # without treatment
    ("r15", "2", "", "2021-12-03T12:00", 1, 2, None, None),
    ("r16", "2", "2021-12-01T12:00", "2021-12-03T12:00", 1, 2, None, None),
    ("r17", "2", "2021-12-06T18:00", "", 1, 2, None, None),
]

# admiral Test 3: (name, USUBJID, ASTDTM, AENDTM, AEITOXGR, AETOXGR, AEGRPID, TRTEMFL)
ADMIRAL_3 = [
    # before treatment
    ("g01", "1", "2021-12-13T20:15", "2021-12-15T12:45", 1, 1, "1", None),
    ("g02", "1", "2021-12-14T20:15", "2021-12-14T22:00", 1, 3, "1", None),
    # starting before treatment and ending during treatment
    ("g03", "1", "2021-12-30T20:15", "2022-01-14T01:23", 3, 3, "2", None),
    ("g04", "1", "2022-01-05T20:00", "2022-06-01T11:00", 3, 1, "2", None),
    ("g05", "1", "2022-01-10T20:15", "2022-01-11T01:23", 3, 2, "2", "Y"),
    ("g06", "1", "2022-01-13T20:15", "2022-03-01T01:23", 3, 1, "2", "Y"),
    # starting during treatment
    ("g07", "1", "2022-01-01T12:00", "2022-01-02T23:25", 4, 4, "3", "Y"),
    # after treatment
    ("g08", "1", "2022-05-10T11:00", "2022-05-10T13:05", 2, 2, "4", "Y"),
    ("g09", "1", "2022-05-10T12:00", "2022-05-10T13:05", 2, 2, "4", "Y"),
    ("g10", "1", "2022-05-11T11:00", "2022-05-11T13:05", 2, 2, "4", None),
    # missing dates
    ("g11", "1", "", "", 3, 4, "5", "Y"),
    ("g12", "1", "2021-12-30T09:00", "", 3, 4, "5", None),
    ("g13", "1", "2021-12-30T11:00", "", 3, 3, "5", None),
    ("g14", "1", "", "2022-01-04T09:00", 3, 4, "5", "Y"),
    ("g15", "1", "", "2021-12-24T19:00", 3, 4, "5", None),
    ("g16", "1", "", "2022-06-04T09:00", 3, 4, "5", "Y"),
    # without treatment
    ("g17", "2", "", "2021-12-03T12:00", 1, 2, "1", None),
    ("g18", "2", "2021-12-01T12:00", "2021-12-03T12:00", 1, 2, "2", None),
    ("g19", "2", "2021-12-06T18:00", "", 1, 2, "3", None),
]


@pytest.fixture
def admiral_1_2(engine: Engine) -> Engine:
    rows = [
        (n, u, s, e, {"initial_grade": i, "aetoxgr": g}) for n, u, s, e, i, g, *_ in ADMIRAL_1_2
    ]
    build(engine, rows, DOSING)
    return engine


def test_admiral_test_1_no_window_no_worsening(admiral_1_2: Engine) -> None:
    """admiral Test 1 (TRTEMFL): start on or after the first dose, no end window, no
    worsening; a missing start is "Y" unless the end is before the first dose (r13)."""
    got = flags(admiral_1_2, NO_WINDOW)
    assert got == {r[0]: r[6] == "Y" for r in ADMIRAL_1_2}


def test_admiral_test_2_window_and_initial_grade(admiral_1_2: Engine) -> None:
    """admiral Test 2 (TRTEM2FL): end_window = 10 (r08 on 05-11 is out), worsening by
    AEITOXGR < AETOXGR for events starting before the first dose and not ended before it
    (r03, r10 yes; r02 worse but ended 12-14; r04, r11 not worse)."""
    got = flags(admiral_1_2, WINDOW_10)
    assert got == {r[0]: r[7] == "Y" for r in ADMIRAL_1_2}


def test_worsening_by_initial_grade_is_dated_at_the_first_dose(admiral_1_2: Engine) -> None:
    """No worsening date was collected for r03/r10: the analysis date is the first dose
    (teae.py rule 6); r09 (no onset) is imputed to the first dose too; r05 keeps its own."""
    adt = analysis_days(admiral_1_2, WINDOW_10)
    assert adt["r03"] == adt["r10"] == adt["r09"] == day("2022-01-01")
    assert adt["r05"] == day("2022-01-01") and adt["r06"] == day("2022-05-10")


def test_admiral_test_3_episodes_by_aegrpid(engine: Engine) -> None:
    """admiral Test 3 (TRTEMFL, end_window = 10, group_var = AEGRPID). Episode 2 started
    12-30 (grade 3) before treatment: 01-05 (1 < 3) is no worsening, 01-10 (2 > 1, the
    record before it) is, and 01-13 (grade 1) follows it. Episode 5 started before
    treatment, so its dated records are not new and AEITOXGR is ignored (g12 is "Y" in
    Test 2 but not here); its undated records stay "Y" unless ended before (g15)."""
    rows = [(n, u, s, e, {"initial_grade": i, "aetoxgr": g, "aegrpid": grp})
            for n, u, s, e, i, g, grp, _ in ADMIRAL_3]  # fmt: skip
    build(engine, rows, DOSING)
    got = flags(engine, WINDOW_10)
    assert got == {r[0]: r[7] == "Y" for r in ADMIRAL_3}


def test_episodes_by_aespid_when_no_aegrpid(engine: Engine) -> None:
    """The same episodes keyed by AESPID alone give admiral's Test 3 flags; AEGRPID, when
    present, wins over AESPID (g04-g06 in episode 2 by AEGRPID although their AESPID
    differs from g03's)."""
    rows = []
    for n, u, s, e, i, g, grp, _ in ADMIRAL_3:
        extra: dict[str, Any] = {"initial_grade": i, "aetoxgr": g, "aespid": f"E{grp}"}
        if n in ("g03", "g04", "g05", "g06"):
            extra.update(aegrpid="EP2", aespid=f"X{n}")
        rows.append((n, u, s, e, extra))
    build(engine, rows, DOSING)
    got = flags(engine, WINDOW_10)
    assert got == {r[0]: r[7] == "Y" for r in ADMIRAL_3}


def test_episode_worsening_needs_worsening_rule(engine: Engine) -> None:
    """worsening=False: episode 2's worsening (g05) and its follower (g06) no longer count;
    new episodes (3, 4) and undated records are unchanged."""
    rows = [(n, u, s, e, {"aetoxgr": g, "aegrpid": grp}) for n, u, s, e, _i, g, grp, _ in ADMIRAL_3]
    build(engine, rows, DOSING)
    got = flags(engine, TEAERule(window_days=10, worsening=False))
    expected = {r[0]: r[7] == "Y" for r in ADMIRAL_3} | {"g05": False, "g06": False}
    assert got == expected


def test_missing_onset_with_partial_end(engine: Engine) -> None:
    """No onset: not emergent only when the end is known to be before the first dose
    (2022-01-01). "2021-12" ends by 12-31 at the latest: not emergent; "2022-01" may end
    on or after 01-01: emergent; "2021" ends by 2021-12-31: not emergent."""
    events = [
        ("p1", "1", None, "2021-12", {}),
        ("p2", "1", None, "2022-01", {}),
        ("p3", "1", None, "2021", {}),
        ("p4", "1", "2022-01", "2021-12-20", {}),  # onset imputed to the first dose
    ]
    build(engine, events, DOSING)
    assert flags(engine, WINDOW_10) == {"p1": False, "p2": True, "p3": False, "p4": False}


def test_preexisting_flag_worsening_date_and_initial_grade(engine: Engine) -> None:
    """Pre-existing events (started 2021-12-01, ongoing), window to 2022-05-10:
    w1 worsening date 2022-02-01 in the window -> TEAE dated 02-01;
    w2 worsening date 2022-06-01 after the window -> not, even with grade 3 > initial 1
       (the collected date decides);
    w3 flag, initial grade 1, grade 3, no worsening date -> TEAE dated at the first dose;
    w4 flag, initial grade 2, grade 2 -> not;
    w5 flag only (no initial grade, no worsening date) -> not ("did not worsen");
    w6 initial grade 1 and no flag, started before, grade unknown (no AETOXGR, no
       AESEV) -> TEAE (admiral: an unknown intensity is the worst case);
    w7 initial grade 2, severity SEVERE (grade 3) and no AETOXGR -> TEAE;
    w8 initial grade 2 but starts on treatment (2022-02-01) -> a new event: TEAE;
    w9 marked pre-existing although it starts on treatment (2022-02-01), initial grade 1,
       grade 2 -> a worsening, dated at its onset (not before it, at the first dose)."""
    pre = {"preexisting": True}
    events = [
        ("w1", "1", "2021-12-01", None, {**pre, "worsened_dtc": "2022-02-01", "aetoxgr": 2}),
        ("w2", "1", "2021-12-01", None,
         {**pre, "worsened_dtc": "2022-06-01", "initial_grade": 1, "aetoxgr": 3}),
        ("w3", "1", "2021-12-01", None, {**pre, "initial_grade": 1, "aetoxgr": 3}),
        ("w4", "1", "2021-12-01", None, {**pre, "initial_grade": 2, "aetoxgr": 2}),
        ("w5", "1", "2021-12-01", None, {**pre, "aetoxgr": 3}),
        ("w6", "1", "2021-12-01", None, {"initial_grade": 1}),
        ("w7", "1", "2021-12-01", None, {"initial_grade": 2, "aesev": "SEVERE"}),
        ("w8", "1", "2022-02-01", None, {"initial_grade": 2, "aetoxgr": 2}),
        ("w9", "1", "2022-02-01", None, {**pre, "initial_grade": 1, "aetoxgr": 2}),
    ]  # fmt: skip
    build(engine, events, DOSING)
    got = flags(engine, WINDOW_10)
    assert got == {"w1": True, "w2": False, "w3": True, "w4": False, "w5": False,
                   "w6": True, "w7": True, "w8": True, "w9": True}  # fmt: skip
    adt = analysis_days(engine, WINDOW_10)
    assert adt["w1"] == day("2022-02-01") and adt["w3"] == day("2022-01-01")
    assert adt["w8"] == adt["w9"] == day("2022-02-01")
    assert flags(engine, TEAERule(window_days=10, worsening=False)) == {
        "w1": False, "w2": False, "w3": False, "w4": False, "w5": False, "w6": False,
        "w7": False, "w8": True, "w9": False}  # fmt: skip


def test_episode_by_severity_same_day_order_and_window(engine: Engine) -> None:
    """Episode "A" (AESPID), severity only, window to 2022-05-10:
    a1 2021-12-20 MILD (before treatment: the episode is pre-existing) -> not;
    a2 2022-02-01T08:00 MILD (same grade as a1) -> not;
    a3 2022-02-01T20:00 MODERATE: same day as a2 but later by its time, so a2 is the
       record before it and 2 > 1 -> worsening: TEAE;
    a4 2022-03-01 MILD -> follows the worsening within the window: TEAE;
    a5 2022-05-20 MILD -> after the window: not (admiral's documentation: "subsequent
       records in the treatment window").
    Episode "B": b1 2021-12-20 MILD, b2 2022-05-15 SEVERE: worse than b1 but after the
    window -> not. Episode "C" all on treatment: c1 2022-01-10 SEVERE, c2 2022-01-20 MILD
    -> both new events: TEAE."""
    events = [
        ("a4", "1", "2022-03-01", None, {"aespid": "A", "aesev": "MILD"}),
        ("a3", "1", "2022-02-01T20:00", None, {"aespid": "A", "aesev": "MODERATE"}),
        ("a2", "1", "2022-02-01T08:00", None, {"aespid": "A", "aesev": "MILD"}),
        ("a1", "1", "2021-12-20", "2022-02-01", {"aespid": "A", "aesev": "MILD"}),
        ("a5", "1", "2022-05-20", None, {"aespid": "A", "aesev": "MILD"}),
        ("b1", "1", "2021-12-20", None, {"aespid": "B", "aesev": "MILD"}),
        ("b2", "1", "2022-05-15", None, {"aespid": "B", "aesev": "SEVERE"}),
        ("c1", "1", "2022-01-10", None, {"aespid": "C", "aesev": "SEVERE"}),
        ("c2", "1", "2022-01-20", None, {"aespid": "C", "aesev": "MILD"}),
    ]
    build(engine, events, DOSING)
    assert flags(engine, WINDOW_10) == {
        "a1": False, "a2": False, "a3": True, "a4": True, "a5": False,
        "b1": False, "b2": False, "c1": True, "c2": True}  # fmt: skip


def test_same_episode_id_in_two_subjects_is_two_episodes(engine: Engine) -> None:
    """AEGRPID "1" in subject 1 (started before treatment) and in subject 3 (all on
    treatment): subject 3's records are new events, not part of subject 1's episode."""
    dosing = {"1": [("QD", FIRST, LAST)], "3": [("QD", FIRST, LAST)]}
    events = [
        ("s1a", "1", "2021-12-20", None, {"aegrpid": "1", "aetoxgr": 1}),
        ("s1b", "1", "2022-02-01", None, {"aegrpid": "1", "aetoxgr": 1}),
        ("s3a", "3", "2022-02-01", None, {"aegrpid": "1", "aetoxgr": 1}),
        ("s3b", "3", "2022-02-10", None, {"aegrpid": "1", "aetoxgr": 1}),
    ]
    build(engine, events, dosing)
    assert flags(engine, WINDOW_10) == {"s1a": False, "s1b": False, "s3a": True, "s3b": True}


def test_footnote_states_the_admiral_rules() -> None:
    text = TEAERule().footnote()
    assert "known to have ended before the first dose" in text
    assert "initial grade (AEITOXGR)" in text and "AEGRPID, else AESPID" in text
    assert "end of study, discontinuation or death" in text
    off = TEAERule(worsening=False).footnote()
    assert "worsening of pre-existing events not counted" in off and "do not count" in off


def test_vectorised_over_many_episodes() -> None:
    """treatment_emergent on 200,000 events in 50,000 four-record episodes, each the
    pattern of admiral's episode 2 (grades 3, 1, 2, 1; the first record before the first
    dose): records 3 and 4 of every episode are TEAEs, records 1 and 2 not."""
    from pv.analysis.teae import treatment_emergent

    k = 50_000
    onset = np.tile([-2.0, 4.0, 9.0, 12.0], k)
    grade = np.tile([3.0, 1.0, 2.0, 1.0], k)
    episode = np.repeat(np.arange(k), 4)
    zeros = np.zeros(4 * k)
    te, _adt = treatment_emergent(
        onset, None, None, zeros, zeros + 100, np.zeros(4 * k, bool), WINDOW_10,
        grade=grade, episode=episode,
    )  # fmt: skip
    assert te.tolist() == [False, False, True, True] * k
