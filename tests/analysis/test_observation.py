"""Observation period per subject and deaths from DM (pv/analysis/data.py `_observation`,
`_time_at_risk`; teae.py `bounded_day`, `window_end`; dtht01.py; aet01.py
`leads_to_death`).

The study below, TEAE window 30 days, data cut-off 2024-06-01 unless a test says
otherwise. Days are counted inclusive (risk_days = end - first dose + 1).

    Active (N=5)
    A  QD 01-01..01-31 (window to 03-01), end of study (DM) 02-15:
       a1 02-10 TEAE; a2 02-20 after the end of study -> not a TEAE.
       risk 01-01..02-15 = 46 days.
    B  QD from 01-01, no end (dosing ongoing); DM died, death date "2024-02" (partial);
       b1 SEPSIS 02-10 serious grade 4, no end date (not fatal in AE data);
       b2 02-15 non-serious, no end. The death goes to the earliest day of February
       that is not before B's last known date (b2's onset 02-15, admiral's min_dates
       rule): 02-15, so b2 is still a TEAE. risk 01-01..02-15 = 46 days.
       b1 leads to death (serious, ongoing at the DM death); b2 does not (not serious).
    E  QD 01-01..01-31; DM died (flag only: no date, no cause); no events.
       Death with unknown date and cause. risk 61 days (no cap known).
    G  QD 01-01..01-31; DM death date 2024-07-15 (after the cut-off): alive at the
       cut-off; a death more than 30 days after the last dose without it. risk 61.
    I  QD 01-01..01-31; DM died, no date; i1 PNEUMONIA 01-20 serious, no end: leads to
       death (no death date: a serious event with no end date). Date unknown (no fatal
       event dates it); cause PNEUMONIA. risk 61.
    Control (N=4)
    C  QD 01-01..01-31; DM died "2024-02", cause "Myocardial infarction"; c1 01-15
       serious, ended 01-20 (before the death: does not lead to it). Death: the first
       of February (C's last known date, the last dose 01-31, is before it): 02-01,
       within 30 days of the last dose. risk 01-01..02-01 = 32.
    D  one infusion 01-10 (window to 02-09); disposition (DS) 2024-02-01:
       d1 02-05 after the disposition -> not a TEAE. risk 01-10..02-01 = 23.
    F  QD 01-01..01-31; f1 PULMONARY EMBOLISM 03-20, fatal (AEOUT FATAL, AESDTH), ended
       03-25, no DM death: dead per AE data, dated 03-25 (> 03-01: late), not a TEAE.
       risk 61 (DM records no death).
    H  QD from 01-01, ongoing, no events: risk to the cut-off 01-01..06-01 = 153.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pv.analysis.api import build_table
from pv.analysis.data import load_study
from pv.analysis.teae import EPOCH, TEAERule, bounded_day, window_end
from pv.db import write_session
from pv.events.models import AdverseEvent
from pv.exposure.models import Exposure
from pv.study.models import Arm, Drug, Site, Study, Subject

PILOT = Path(__file__).resolve().parents[1] / "data" / "cdiscpilot01"
CUT = date(2024, 6, 1)
ARMS = ("Control", "Active", "Total")
QD = [("QD", "2024-01-01", "2024-01-31")]
ONGOING = [("QD", "2024-01-01", None)]

# subject -> (arm, dosing, DM/DS fields)
SUBJECTS: dict[str, tuple[str, list[tuple[str, str, str | None]], dict[str, Any]]] = {
    "A": ("Active", QD, {"end_of_study_date": date(2024, 2, 15)}),
    "B": ("Active", ONGOING, {"died": True, "death_date": "2024-02"}),
    "E": ("Active", QD, {"died": True}),
    "G": ("Active", QD, {"died": True, "death_date": "2024-07-15"}),
    "I": ("Active", QD, {"died": True}),
    "C": ("Control", QD,
          {"died": True, "death_date": "2024-02", "death_cause": "Myocardial infarction"}),
    "D": ("Control", [("ONCE", "2024-01-10T09:00", "2024-01-10T10:00")],
          {"disposition": "WITHDRAWAL BY SUBJECT", "disposition_date": "2024-02-01"}),
    "F": ("Control", QD, {}),
    "H": ("Control", ONGOING, {}),
}  # fmt: skip
# (name, subject, term, onset, extra)
EVENTS: list[tuple[str, str, str, str, dict[str, Any]]] = [
    ("a1", "A", "HEADACHE", "2024-02-10", {}),
    ("a2", "A", "HEADACHE", "2024-02-20", {}),
    ("b1", "B", "SEPSIS", "2024-02-10", {"aeser": True, "aeshosp": True, "aetoxgr": 4}),
    ("b2", "B", "NAUSEA", "2024-02-15", {"aetoxgr": 1}),
    ("i1", "I", "PNEUMONIA", "2024-01-20", {"aeser": True, "aeshosp": True, "aetoxgr": 3}),
    ("c1", "C", "SYNCOPE", "2024-01-15",
     {"aeser": True, "aeshosp": True, "aetoxgr": 3, "aeendtc": "2024-01-20"}),
    ("d1", "D", "HEADACHE", "2024-02-05", {}),
    ("f1", "F", "PULMONARY EMBOLISM", "2024-03-20",
     {"aeser": True, "aesdth": True, "aetoxgr": 5, "aeout": "FATAL", "aeendtc": "2024-03-25"}),
]  # fmt: skip


def day(text: str) -> float:
    return float(date.fromisoformat(text).toordinal() - EPOCH)


@pytest.fixture
def obs(engine: Engine) -> Engine:
    with write_session(engine) as s:
        s.add(Study(id="OBS", title="Observation study", source="sdtm"))
        s.flush()
        arms = {}
        for pos, (label, control) in enumerate([("Control", True), ("Active", False)]):
            arm = Arm(study_id="OBS", label=label, code=label[:3].upper(), is_control=control,
                      position=pos)  # fmt: skip
            s.add(arm)
            s.flush()
            arms[label] = arm.id
        site = Site(study_id="OBS", code="01", name="Site 01")
        drug = Drug(study_id="OBS", name="Drug A", key="druga")
        s.add_all([site, drug])
        s.flush()
        ids = {}
        for name, (arm, dosing, fields) in SUBJECTS.items():
            subj = Subject(study_id="OBS", site_id=site.id, usubjid=name, subjid=name,
                           arm_id=arms[arm], **fields)  # fmt: skip
            s.add(subj)
            s.flush()
            ids[name] = subj.id
            for freq, start, end in dosing:
                s.add(Exposure(subject_id=subj.id, drug_id=drug.id, dose=10, unit="mg",
                               dose_mg=10, frequency=freq, start=datetime.fromisoformat(start),
                               end=datetime.fromisoformat(end) if end else None))  # fmt: skip
        for seq, (name, who, term, onset, extra) in enumerate(EVENTS, start=1):
            s.add(AdverseEvent(study_id="OBS", subject_id=ids[who], site_id=site.id, aeseq=seq,
                               aeterm=name, aedecod=term, aebodsys="SOC", aestdtc=onset,
                               status="submitted", **extra))  # fmt: skip
    return engine


def per_subject(data, column: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    sj = data.subjects
    return dict(zip(sj["usubjid"], sj[column].to_numpy(float).tolist(), strict=True))


def counts(row) -> list[int | None]:  # type: ignore[no-untyped-def]
    return [row.cells[a].n for a in ARMS]


def test_time_at_risk_ends_at_end_of_study_disposition_death_or_cut_off(obs: Engine) -> None:
    data = load_study(obs, "OBS", cutoff=CUT)
    assert per_subject(data, "risk_days") == {
        "A": 46, "B": 46, "E": 61, "G": 61, "I": 61,
        "C": 32, "D": 23, "F": 61, "H": 153}  # fmt: skip
    # the DM death day after admiral's min_dates rule (module docstring)
    death = per_subject(data, "death_day")
    assert death["B"] == day("2024-02-15") and death["C"] == day("2024-02-01")
    assert death["G"] == day("2024-07-15") and np.isnan(death["E"]) and np.isnan(death["F"])
    window = per_subject(data, "window_end")
    assert window["A"] == day("2024-02-15") and window["D"] == day("2024-02-01")
    assert window["F"] == day("2024-03-01") and window["H"] == np.inf
    assert window["B"] == day("2024-02-15")  # ongoing dosing, closed by the death


def test_without_cut_off_ongoing_dosing_runs_to_the_last_date_seen(obs: Engine) -> None:
    """No cut-off: the data end is the last date in the study, f1's onset 03-20 (the
    analysis date; exposure ends 01-31): H at risk 01-01..03-20 = 80 days."""
    data = load_study(obs, "OBS")
    assert data.data_end == day("2024-03-20")
    assert per_subject(data, "risk_days")["H"] == 80


def test_teae_window_closes_at_the_subjects_own_end(obs: Engine) -> None:
    data = load_study(obs, "OBS", columns={"aeterm"}, cutoff=CUT)
    ev = data.events
    got = dict(zip(ev["aeterm"].astype(str), ev["te"].to_numpy(bool).tolist(), strict=True))
    assert got == {"a1": True, "a2": False, "b1": True, "b2": True, "i1": True, "c1": True,
                   "d1": False, "f1": False}  # fmt: skip


def test_bounded_day_partial_dates() -> None:
    """Earliest possible day, not before a known date of the same period (admiral
    impute_dtc_dt date_imputation = "first" with min_dates), never outside the period."""
    values = ["2024-03", "2024-03", "2024-03", "2024", "2024-03-05", None, date(2024, 3, 9), "x"]
    known = np.array([day("2024-03-15"), day("2024-02-10"), day("2024-04-02"), np.nan,
                      day("2024-03-20"), day("2024-03-20"), np.nan, np.nan])  # fmt: skip
    got = bounded_day(values, known)
    expected = [day("2024-03-15"), day("2024-03-01"), day("2024-03-31"), day("2024-01-01"),
                day("2024-03-05"), np.nan, day("2024-03-09"), np.nan]  # fmt: skip
    assert np.array_equal(got, np.array(expected), equal_nan=True)


def test_window_end_takes_the_earliest_bound() -> None:
    rule = TEAERule(window_days=30)
    got = window_end(
        np.array([10.0, 10.0, 10.0, 10.0]), np.array([False, False, True, True]),
        np.array([np.nan, 20.0, np.nan, 50.0]), rule,
    )  # fmt: skip
    assert got.tolist() == [40.0, 20.0, np.inf, 50.0]


def test_dtht01_deaths_from_dm_and_ae(obs: Engine) -> None:
    """Dead at the cut-off: B, E, I (Active), C, F (Control); G dies after it. On
    treatment or within 30 days: B (dosing ongoing), C (02-01 <= 03-01). Later: F (03-25).
    Date unknown: E, I (DM flag only, no fatal event). Causes: C's DM cause; the term of
    the event that led to death for B (SEPSIS, ongoing at the death) and I (PNEUMONIA),
    F's fatal PULMONARY EMBOLISM; E unknown. A subject counts once."""
    t = build_table(obs, "OBS", "DTHT01", cutoff=CUT)
    labels = [r.label for r in t.rows]
    assert labels == [
        "Total number of deaths",
        "Deaths on treatment or within 30 days of the last dose",
        "Deaths more than 30 days after the last dose",
        "Date of death unknown",
        "Primary cause of death",
        "Myocardial infarction", "PNEUMONIA", "PULMONARY EMBOLISM", "SEPSIS", "Unknown",
    ]  # fmt: skip
    assert [counts(r) for r in t.rows] == [
        [2, 3, 5], [1, 1, 2], [1, 0, 1], [0, 2, 2], [2, 3, 5],
        [1, 0, 1], [0, 1, 1], [1, 0, 1], [0, 1, 1], [0, 1, 1],
    ]  # fmt: skip
    assert all(c.events is None for r in t.rows for c in r.cells.values())
    assert t.rows[0].cells["Active"].N == 5 and t.rows[0].cells["Control"].N == 4
    assert any("demographics (DM: death flag or date of death)" in f for f in t.footnotes)


def test_dtht01_without_cut_off_counts_the_later_dm_death(obs: Engine) -> None:
    """G's DM death 2024-07-15 is 166 days after its last dose (01-31): a later death,
    cause unknown."""
    t = build_table(obs, "OBS", "DTHT01")
    assert counts(t.row("Total number of deaths")) == [2, 4, 6]
    assert counts(t.row("Deaths more than 30 days after the last dose")) == [1, 1, 2]
    assert counts(t.row("Unknown")) == [0, 2, 2]


def test_aet01_leading_to_death_uses_dm(obs: Engine) -> None:
    """TEAEs leading to death: b1 (B: serious, ongoing at the DM death 02-15) and i1 (I:
    serious, no end date, DM death without date). Not c1 (ended 01-20, before C's death
    02-01), not b2 (not serious), not f1 (fatal but not a TEAE)."""
    t = build_table(obs, "OBS", "AET01", cutoff=CUT)
    row = t.row("TEAE leading to death")
    assert [(row.cells[a].n, row.cells[a].events) for a in ARMS] == [(0, 0), (2, 2), (2, 2)]
    assert any("demographics (DM)" in f for f in t.footnotes)


def test_dm_cause_wins_and_uncoded_fatal_event_is_unknown(engine: Engine) -> None:
    """A subject with a fatal event and a DM cause counts once, under the DM cause; a
    fatal event with no preferred term and no DM cause gives "Unknown"."""
    with write_session(engine) as s:
        s.add(Study(id="D2", title="Deaths", source="sdtm"))
        s.flush()
        arm = Arm(study_id="D2", label="Drug", code="D", is_control=False, position=0)
        site = Site(study_id="D2", code="01", name="Site 01")
        drug = Drug(study_id="D2", name="Drug A", key="druga")
        s.add_all([arm, site, drug])
        s.flush()
        for name, cause, term in (("P", "Stroke", "CEREBRAL INFARCTION"), ("Q", None, None)):
            subj = Subject(study_id="D2", site_id=site.id, usubjid=name, subjid=name,
                           arm_id=arm.id, died=cause is not None, death_cause=cause,
                           death_date="2024-01-20" if cause else None)  # fmt: skip
            s.add(subj)
            s.flush()
            s.add(Exposure(subject_id=subj.id, drug_id=drug.id, dose=10, unit="mg", dose_mg=10,
                           frequency="QD", start=datetime(2024, 1, 1),
                           end=datetime(2024, 1, 31)))  # fmt: skip
            for seq in (1, 2):  # two fatal records: still one death
                s.add(AdverseEvent(study_id="D2", subject_id=subj.id, site_id=site.id, aeseq=seq,
                                   aeterm="x", aedecod=term, aebodsys="SOC", aestdtc="2024-01-18",
                                   aeendtc="2024-01-20", aeout="FATAL", aesdth=True, aeser=True,
                                   status="submitted"))  # fmt: skip
    t = build_table(engine, "D2", "DTHT01")
    assert [(r.label, r.cells["Drug"].n) for r in t.rows] == [
        ("Total number of deaths", 2),
        ("Deaths on treatment or within 30 days of the last dose", 2),
        ("Deaths more than 30 days after the last dose", 0),
        ("Primary cause of death", 2),
        ("Stroke", 1),
        ("Unknown", 1),
    ]


def test_pilot_flags_hold_with_aespid_episodes_and_dm_end_of_study(pilot_engine) -> None:  # type: ignore[no-untyped-def]
    """The CDISC pilot with its AESPID (repeated within a subject: 40 records in 20
    AESPID groups that hold a record starting before the first dose; none of them has a
    later record starting on treatment) and DM RFENDTC/DTHDTC stored: ADAE.TRTEMFL is
    still reproduced for all 1,191 events (no pilot AE starts after RFENDTC)."""
    ae, _ = pyreadstat.read_xport(str(PILOT / "ae.xpt"), usecols=["USUBJID", "AESEQ", "AESPID"])
    dm, _ = pyreadstat.read_xport(str(PILOT / "dm.xpt"), usecols=["USUBJID", "RFENDTC", "DTHDTC"])
    with pilot_engine.begin() as conn:
        ids = dict(conn.execute(sa.select(Subject.usubjid, Subject.id)).all())
        for r in ae.itertuples():
            conn.execute(
                sa.update(AdverseEvent)
                .where(
                    AdverseEvent.subject_id == ids[r.USUBJID], AdverseEvent.aeseq == int(r.AESEQ)
                )
                .values(aespid=r.AESPID or None)
            )
        for r in dm.itertuples():
            if r.USUBJID in ids:
                conn.execute(
                    sa.update(Subject)
                    .where(Subject.id == ids[r.USUBJID])
                    .values(
                        end_of_study_date=date.fromisoformat(r.RFENDTC) if r.RFENDTC else None,
                        death_date=r.DTHDTC or None,
                    )
                )
    data = load_study(pilot_engine, "CDISCPILOT01", columns={"aeseq"})
    ev = data.events
    assert ev["aespid"].notna().sum() == 1191
    assert data.subjects["end_of_observation"].notna().sum() > 200
    ours = pd.DataFrame({
        "USUBJID": data.subjects["usubjid"].to_numpy()[ev["subj"].to_numpy()],
        "AESEQ": pd.to_numeric(ev["aeseq"]).astype(int).to_numpy(),
        "te": ev["te"].to_numpy(),
    })  # fmt: skip
    adae, _ = pyreadstat.read_xport(
        str(PILOT / "adae.xpt"), usecols=["USUBJID", "AESEQ", "TRTEMFL"]
    )
    merged = adae.assign(AESEQ=adae["AESEQ"].astype(int)).merge(ours, on=["USUBJID", "AESEQ"])
    assert len(merged) == 1191
    assert (merged["TRTEMFL"].eq("Y") == merged["te"]).all()
    assert merged["te"].sum() == 1126
