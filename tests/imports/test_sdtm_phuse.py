"""Treatment emergence reproduced FROM SDTM INPUT: the cases of admiral's tests for
`derive_var_trtemfl` (which follow the PHUSE treatment-emergence discussion: events that
start before treatment and worsen on it, multi-record episodes tied by AEGRPID, missing
onset with an end before the first dose), written as SDTM DM, AE, EX and SUPPAE records,
imported with `import_sdtm`, loaded with `pv.analysis.data.load_study` and compared record
by record with admiral's expected flag.

Source of the cases and of the expected flags: pharmaverse/admiral,
tests/testthat/test-derive_var_trtemfl.R (commit 00016894ad2e8eb67d140202f60ca80b5c0169a1),
Test 1 (TRTEMFL: no end window, no worsening), Test 2 (TRTEM2FL: end_window = 10,
initial_intensity = AEITOXGR, intensity = AETOXGR) and Test 3 (TRTEMFL: end_window = 10,
intensity = AETOXGR, group_var = AEGRPID). The rule itself is R/derive_var_trtemfl.R's
documented order of cases: not treated -> no; end before the first dose -> no; no start
date -> yes; start in [first dose, last dose + window] and not part of a pre-existing
episode -> yes; started before and worsened (initial grade < grade, or within the episode
a record on treatment with a higher grade than the record before it, and every later
record of that episode) -> yes.

How the ADaM inputs become SDTM (the importer's mapping, pv/imports/sdtm.py):
- TRTSDTM 2022-01-01T01:01 and TRTEDTM 2022-04-30 -> one daily EX record
  EXSTDTC 2022-01-01T01:01, EXENDTC 2022-04-30T11:30 (Test 3: T23:59; the time does not
  matter: admiral's ignore_time_for_trt_end = TRUE compares dates, as pv does).
- ASTDTM/AENDTM -> AESTDTC/AEENDTC as collected (with their times; "" = missing).
- AETOXGR -> AE.AETOXGR; AEITOXGR -> SUPPAE QNAM AEITOXGR keyed by AESEQ (Tests 1-2);
  AEGRPID -> AE.AEGRPID (Test 3, where admiral ignores AEITOXGR, so it is not sent).
- Subject 2 (no TRTSDTM) is randomized but has no EX record (never dosed).
Admiral's window and worsening options map to pv's TEAERule: end_window = 10 ->
window_days = 10; no end window -> a window longer than the data (36,500 days); no
intensity -> worsening=False.

Records are matched by AESEQ (the order of the rows below, from 1 per subject)."""

from __future__ import annotations

import pandas as pd
import pytest

from pv.analysis.data import load_study
from pv.analysis.teae import TEAERule
from pv.audit.service import Actor
from pv.imports.sdtm import import_sdtm

ACTOR = Actor.system("test")
Y, N = True, False  # admiral "Y" / NA

# (USUBJID, AESTDTC, AEENDTC, AEITOXGR, AETOXGR, Test 1 TRTEMFL, Test 2 TRTEM2FL)
SINGLE = [
    # before treatment
    ("1", "2021-12-13T20:15", "2021-12-15T12:45", "1", "1", N, N),
    ("1", "2021-12-14T20:15", "2021-12-14T22:00", "1", "3", N, N),
    # starting before treatment and ending during treatment
    ("1", "2021-12-30T20:00", "2022-01-14T11:00", "1", "3", N, Y),  # worsened 1 -> 3
    ("1", "2021-12-31T20:15", "2022-01-01T01:23", "1", "1", N, N),  # not worsened
    # starting during treatment
    ("1", "2022-01-01T12:00", "2022-01-02T23:25", "3", "4", Y, Y),
    # after treatment: last dose 2022-04-30 + 10 days = 2022-05-10
    ("1", "2022-05-10T11:00", "2022-05-10T13:05", "2", "2", Y, Y),
    ("1", "2022-05-10T12:00", "2022-05-10T13:05", "2", "2", Y, Y),
    ("1", "2022-05-11T11:00", "2022-05-11T13:05", "2", "2", Y, N),
    # missing dates
    ("1", "", "", "3", "4", Y, Y),
    ("1", "2021-12-30T09:00", "", "3", "4", N, Y),  # pre-existing, ongoing, worsened
    ("1", "2021-12-30T11:00", "", "3", "3", N, N),  # pre-existing, ongoing, same grade
    ("1", "", "2022-01-04T09:00", "3", "4", Y, Y),
    ("1", "", "2021-12-24T19:00", "3", "4", N, N),  # no onset, ended before the first dose
    ("1", "", "2022-06-04T09:00", "3", "4", Y, Y),  # no onset: emergent as the worst case
    # without treatment
    ("2", "", "2021-12-03T12:00", "1", "2", N, N),
    ("2", "2021-12-01T12:00", "2021-12-03T12:00", "1", "2", N, N),
    ("2", "2021-12-06T18:00", "", "1", "2", N, N),
]  # fmt: skip

# (USUBJID, AESTDTC, AEENDTC, AETOXGR, AEGRPID, Test 3 TRTEMFL)
GROUPED = [
    # before treatment
    ("1", "2021-12-13T20:15", "2021-12-15T12:45", "1", "1", N),
    ("1", "2021-12-14T20:15", "2021-12-14T22:00", "3", "1", N),
    # episode 2 starts before treatment (grade 3), improves to 1 on 2022-01-05, worsens to 2
    # on 2022-01-10 (2 > 1, the record before it): that record and every later one are TEAEs
    ("1", "2021-12-30T20:15", "2022-01-14T01:23", "3", "2", N),
    ("1", "2022-01-05T20:00", "2022-06-01T11:00", "1", "2", N),
    ("1", "2022-01-10T20:15", "2022-01-11T01:23", "2", "2", Y),
    ("1", "2022-01-13T20:15", "2022-03-01T01:23", "1", "2", Y),
    # starting during treatment
    ("1", "2022-01-01T12:00", "2022-01-02T23:25", "4", "3", Y),
    # after treatment (window to 2022-05-10)
    ("1", "2022-05-10T11:00", "2022-05-10T13:05", "2", "4", Y),
    ("1", "2022-05-10T12:00", "2022-05-10T13:05", "2", "4", Y),
    ("1", "2022-05-11T11:00", "2022-05-11T13:05", "2", "4", N),
    # missing dates: episode 5 has records before treatment and no worsening on it
    ("1", "", "", "4", "5", Y),
    ("1", "2021-12-30T09:00", "", "4", "5", N),
    ("1", "2021-12-30T11:00", "", "3", "5", N),
    ("1", "", "2022-01-04T09:00", "4", "5", Y),
    ("1", "", "2021-12-24T19:00", "4", "5", N),
    ("1", "", "2022-06-04T09:00", "4", "5", Y),
    # without treatment
    ("2", "", "2021-12-03T12:00", "2", "1", N),
    ("2", "2021-12-01T12:00", "2021-12-03T12:00", "2", "2", N),
    ("2", "2021-12-06T18:00", "", "2", "3", N),
]  # fmt: skip


def sdtm(study: str, rows: list[dict[str, str]], ex_end: str,
         supp: list[dict[str, str]]) -> dict[str, pd.DataFrame]:  # fmt: skip
    dm = pd.DataFrame({
        "STUDYID": [study] * 2, "USUBJID": ["1", "2"], "ARM": ["Drug A", "Drug A"],
        "ARMCD": ["A", "A"], "SITEID": ["01", "01"],
    })  # fmt: skip
    ex = pd.DataFrame({
        "USUBJID": ["1"], "EXTRT": ["DRUG A"], "EXDOSE": ["10"], "EXDOSU": ["mg"],
        "EXDOSFRQ": ["QD"], "EXSTDTC": ["2022-01-01T01:01"], "EXENDTC": [ex_end],
    })  # fmt: skip
    ae = pd.DataFrame(rows)
    suppae = pd.DataFrame(supp, columns=["USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL"])
    return {"dm": dm, "ae": ae, "ex": ex, "suppae": suppae}


def numbered(rows: list[tuple]) -> list[tuple[str, str, tuple]]:  # type: ignore[type-arg]
    """(USUBJID, AESEQ, row) with AESEQ counting from 1 within each subject."""
    seen: dict[str, int] = {}
    out = []
    for row in rows:
        seen[row[0]] = seen.get(row[0], 0) + 1
        out.append((row[0], str(seen[row[0]]), row))
    return out


def ae_record(u: str, seq: str, start: str, end: str, grade: str) -> dict[str, str]:
    return {"USUBJID": u, "AESEQ": seq, "AETERM": f"event {seq}", "AEDECOD": f"Event {seq}",
            "AEBODSYS": "SOC", "AESTDTC": start, "AEENDTC": end, "AETOXGR": grade}  # fmt: skip


def flags(engine, study: str, rule: TEAERule) -> dict[tuple[str, str], bool]:  # type: ignore[no-untyped-def]
    data = load_study(engine, study, rule=rule, columns={"aeseq"})
    usubjid = data.subjects["usubjid"].to_numpy()
    ev = data.events
    return {
        (usubjid[s], str(int(q))): bool(te)
        for s, q, te in zip(ev["subj"], ev["aeseq"], ev["te"], strict=True)
    }


@pytest.fixture
def single(engine):  # type: ignore[no-untyped-def]
    rows, supp = [], []
    for u, seq, (_, start, end, initial, grade, _t1, _t2) in numbered(SINGLE):
        rows.append(ae_record(u, seq, start, end, grade))
        supp.append({"USUBJID": u, "IDVAR": "AESEQ", "IDVARVAL": seq, "QNAM": "AEITOXGR",
                     "QVAL": initial})  # fmt: skip
    import_sdtm(engine=engine, actor=ACTOR, **sdtm("PHUSE1", rows, "2022-04-30T11:30", supp))
    return engine


def test_initial_grade_marks_the_events_present_at_first_dose(single) -> None:  # type: ignore[no-untyped-def]
    """The importer's part, independent of the analysis: AEITOXGR marks pre-existing, and
    is kept on, exactly the records whose onset day is before the first dose day
    (2022-01-01) -- the rows admiral's worsening branch considers; on the others it is not
    kept (admiral never reads it there: they are new events, or have no onset)."""
    import sqlalchemy as sa

    from pv.events.models import AdverseEvent
    from pv.study.models import Subject

    with single.connect() as conn:
        got = {
            (u, str(q)): (pre, init)
            for u, q, pre, init in conn.execute(
                sa.select(Subject.usubjid, AdverseEvent.aeseq, AdverseEvent.preexisting,
                          AdverseEvent.initial_grade)
                .join(Subject, Subject.id == AdverseEvent.subject_id)
            )
        }  # fmt: skip
    for u, seq, (_, start, _end, initial, _g, _t1, _t2) in numbered(SINGLE):
        before = bool(start) and start[:10] < "2022-01-01" and u == "1"  # subject 2: no dose
        assert got[u, seq] == (before, int(initial) if before else None), (u, seq, start)


def test_admiral_test_1_no_window_no_worsening(single) -> None:  # type: ignore[no-untyped-def]
    got = flags(single, "PHUSE1", TEAERule(window_days=36500, worsening=False))
    expected = {(u, seq): row[5] for u, seq, row in numbered(SINGLE)}
    assert got == expected


def test_admiral_test_2_window_and_worsening(single) -> None:  # type: ignore[no-untyped-def]
    got = flags(single, "PHUSE1", TEAERule(window_days=10))
    expected = {(u, seq): row[6] for u, seq, row in numbered(SINGLE)}
    assert got == expected


def test_admiral_test_3_episodes_by_aegrpid(engine) -> None:  # type: ignore[no-untyped-def]
    rows = []
    for u, seq, (_, start, end, grade, group, _flag) in numbered(GROUPED):
        rows.append({**ae_record(u, seq, start, end, grade), "AEGRPID": group})
    import_sdtm(engine=engine, actor=ACTOR, **sdtm("PHUSE3", rows, "2022-04-30T23:59", []))
    got = flags(engine, "PHUSE3", TEAERule(window_days=10))
    expected = {(u, seq): row[5] for u, seq, row in numbered(GROUPED)}
    assert got == expected
