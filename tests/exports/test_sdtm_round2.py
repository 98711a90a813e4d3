"""SDTM export, issue 14: the fields the importer (pv.imports.sdtm) learned in round 2 are
written too -- AE.AEGRPID/AESPID, SUPPAE AEPREEX/AEITOXGR/AEWRSDTC, DM RACE/DTHFL/DTHDTC
(RFPENDTC), DS milestones and disposition event, VS baseline height and weight, DD primary
cause of death -- and an export re-imported into a new study id gives every field back.

The study is built through the services a site uses (study.service.add_subject and
update_subject, events.service.create_event), not by writing rows. Expected values are the
fixture's own, written out by hand; variable names, order and labels are SDTMIG 3.x's
(SDTMIG 3.2 sections 6.2 DS, 6.3 VS, 6.3 DD, 8.4 SUPP--; DM and AE as in the CDISC pilot's
own dm.xpt and ae.xpt, tests/data/cdiscpilot01)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from sqlmodel import select

from pv.audit.service import Actor
from pv.db import read_session, write_session
from pv.events.models import AdverseEvent
from pv.events.rules import EventInput
from pv.events.service import create_event, subject_drugs
from pv.exports.sdtm import NotAscii, export_sdtm
from pv.exposure.models import Exposure
from pv.imports.sdtm import import_sdtm
from pv.study.ctgov import parse_ctgov
from pv.study.models import Arm, Drug, Site, Subject
from pv.study.service import add_subject, import_ctgov, update_subject
from tests.blinding.conftest import DEMO_RECORD

STUDY = "NCT04660565"
URTI = "10046300"  # CTCAE: Upper respiratory infection (grades 1-5)
SEPSIS_ZH = "脓毒症"  # "sepsis": the primary cause of death, as the site wrote it
MOVED_ZH = "搬到外地"  # "moved away": a withdrawal's reason, as the site wrote it
ASTHMA_ZH = "哮喘加重"  # a verbatim term in Chinese, with its English translation
SUBJECT_FIELDS = (
    "race", "height_cm", "weight_kg", "consent_date", "randomization_date",
    "end_of_study_date", "died", "death_date", "death_cause", "disposition",
    "disposition_date", "disposition_reason",
)  # fmt: skip
EVENT_FIELDS = (
    "aeterm", "aetoxgr", "aestdtc", "aeendtc", "aegrpid", "aespid", "preexisting",
    "initial_grade", "worsened_dtc",
)  # fmt: skip


def _build(engine) -> None:  # type: ignore[no-untyped-def]
    """Five subjects of the demo protocol (both arms get prednisone, BELI+PRED belimumab
    too), first dose 2021-01-10:

    S1 ASIAN, 162.5 cm, 58.3 kg, consent 2021-01-05, randomized 2021-01-08; completed
       (no reason given) 2021-09-01, end of study 2021-09-01. Events: 1 a pre-existing
       condition (grade 1 at the first dose, grade 3, worsened 2021-02), episode EP-1 record
       12; 2 the next record of that episode (13), grade 2, not pre-existing; 3 a
       pre-existing condition written in Chinese (grade 2 at the first dose, no worsening
       date), no episode ids.
    S2 died 2021-06 (partial), primary cause in Chinese; disposition DEATH 2021-06; end of
       study 2021-06-20; weight only (no race, no height); not randomized.
    S3 WHITE, 180 cm; withdrawal by subject 2021-05, reason in Chinese; end of study
       2021-05-20.
    S4 died, date unknown, no cause, no disposition (still in the study).
    S5 nothing beyond the subject form's consent date.
    """
    actor = Actor.system("test")
    with write_session(engine) as s:
        import_ctgov(session=s, actor=actor,
                     spec=parse_ctgov(json.loads(DEMO_RECORD.read_text("utf-8"))))  # fmt: skip
        site = s.exec(select(Site).where(Site.study_id == STUDY)).one()
        arms = {a.code: a for a in s.exec(select(Arm).where(Arm.study_id == STUDY))}
        drugs = {d.name: d for d in s.exec(select(Drug).where(Drug.study_id == STUDY))}
        plan = {
            "S1": dict(race="ASIAN", height_cm=162.5, weight_kg=58.3,
                       randomization_date=date(2021, 1, 8)),
            "S2": dict(weight_kg=71.0),
            "S3": dict(race="WHITE", height_cm=180.0, randomization_date=date(2021, 1, 8)),
            "S4": dict(race="NOT REPORTED"),
            "S5": dict(),
        }  # fmt: skip
        subjects = {}
        for n, (subjid, extra) in enumerate(plan.items()):
            code = "BELI+PRED" if n % 2 == 0 else "PRED"
            subject = add_subject(session=s, actor=actor, study_id=STUDY, site=site,
                                  subjid=subjid, arm=arms[code], sex="F", age=30 + n,
                                  consent_date=date(2021, 1, 5), **extra)  # fmt: skip
            for name in ("Belimumab", "Prednisone") if code == "BELI+PRED" else ("Prednisone",):
                s.add(Exposure(subject_id=subject.id, drug_id=drugs[name].id, dose=10,
                               unit="mg", dose_mg=10, start=datetime(2021, 1, 10)))  # fmt: skip
            subjects[subjid] = subject
        s.flush()

        s1 = subjects["S1"]
        keys = [d.key for d in subject_drugs(s, s1)]
        base = EventInput(aelltcd=URTI, aeser=False, aeout="RECOVERED/RESOLVED",
                          aerel={k: "NOT RELATED" for k in keys},
                          aeacn={k: "DOSE NOT CHANGED" for k in keys})  # fmt: skip
        for data in (
            replace(base, aeterm="asthma", aetoxgr=3, aestdtc="2021-01-06",
                    aeendtc="2021-03-01", preexisting=True, initial_grade=1,
                    worsened_dtc="2021-02", aegrpid="EP-1", aespid="12"),
            replace(base, aeterm="asthma", aetoxgr=2, aestdtc="2021-03-02",
                    aeendtc="2021-04-01", aegrpid="EP-1", aespid="13"),
            replace(base, aeterm=ASTHMA_ZH, aeterm_en="asthma worse", aetoxgr=2,
                    aestdtc="2021-01-07", aeendtc="2021-05-01", preexisting=True,
                    initial_grade=2),
        ):  # fmt: skip
            create_event(session=s, actor=actor, subject=s1, data=data, submit=True,
                         confirm_duplicate=True)  # fmt: skip

        update_subject(session=s, actor=actor, subject=s1, disposition="COMPLETED",
                       disposition_date="2021-09-01",
                       end_of_study_date=date(2021, 9, 1))  # fmt: skip
        update_subject(session=s, actor=actor, subject=subjects["S2"], died=True,
                       death_date="2021-06", death_cause=SEPSIS_ZH, disposition="DEATH",
                       disposition_date="2021-06",
                       end_of_study_date=date(2021, 6, 20))  # fmt: skip
        update_subject(session=s, actor=actor, subject=subjects["S3"],
                       disposition="WITHDRAWAL BY SUBJECT", disposition_date="2021-05",
                       disposition_reason=MOVED_ZH,
                       end_of_study_date=date(2021, 5, 20))  # fmt: skip
        update_subject(session=s, actor=actor, subject=subjects["S4"], died=True,
                       death_date_unknown=True)  # fmt: skip


def _subjects(engine, study_id: str) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    with read_session(engine) as s:
        rows = s.exec(select(Subject).where(Subject.study_id == study_id)).all()
        return {r.usubjid: {f: getattr(r, f) for f in SUBJECT_FIELDS} for r in rows}


def _events(engine, study_id: str) -> dict[tuple[str, int], dict[str, Any]]:  # type: ignore[no-untyped-def]
    with read_session(engine) as s:
        rows = s.exec(
            select(AdverseEvent, Subject.usubjid)
            .join(Subject, Subject.id == AdverseEvent.subject_id)  # type: ignore[arg-type]
            .where(AdverseEvent.study_id == study_id)
        ).all()
        return {(u, e.aeseq): {f: getattr(e, f) for f in EVENT_FIELDS} for e, u in rows}


def _csv(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False,
                       encoding="utf-8-sig")  # fmt: skip


def _reimport(engine, folder: Path, suffix: str, study_id: str) -> None:  # type: ignore[no-untyped-def]
    files = {n: folder / f"{n}{suffix}" for n in ("dm", "ae", "ex", "suppae", "ds", "vs", "dd")}
    import_sdtm(engine=engine, actor=Actor.system("test"), study_id=study_id, **files)


U = {n: f"{STUDY}-{{site}}-S{n}" for n in range(1, 6)}


@pytest.fixture
def built(engine):  # type: ignore[no-untyped-def]
    _build(engine)
    with read_session(engine) as s:
        site = s.exec(select(Site).where(Site.study_id == STUDY)).one().code
    return engine, {n: u.format(site=site) for n, u in U.items()}


def test_the_export_writes_the_round2_fields(built, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, u = built
    with pytest.raises(NotAscii):  # the Chinese cause and reason: see the next test
        export_sdtm(engine, study_id=STUDY, out_dir=tmp_path)

    dm = _csv(tmp_path, "dm").set_index("USUBJID")
    assert list(dm.loc[[u[n] for n in range(1, 6)], "RACE"]) == [
        "ASIAN", "", "WHITE", "NOT REPORTED", ""]  # fmt: skip
    assert list(dm.loc[[u[n] for n in range(1, 6)], "DTHFL"]) == ["", "Y", "", "Y", ""]
    assert list(dm.loc[[u[n] for n in range(1, 6)], "DTHDTC"]) == ["", "2021-06", "", "", ""]
    assert list(dm.loc[[u[n] for n in range(1, 6)], "RFPENDTC"]) == [
        "2021-09-01", "2021-06-20", "2021-05-20", "", ""]  # fmt: skip

    ae = _csv(tmp_path, "ae")
    assert ae[["USUBJID", "AESEQ", "AETERM", "AEGRPID", "AESPID"]].values.tolist() == [
        [u[1], "1", "asthma", "EP-1", "12"],
        [u[1], "2", "asthma", "EP-1", "13"],
        [u[1], "3", ASTHMA_ZH, "", ""],
    ]
    # SUPPAE: one record per value set (AEITOXGR, AEPREEX, AEWRSDTC in that order per
    # event); event 2 is not pre-existing and has none.
    supp = _csv(tmp_path, "suppae")
    assert supp.values.tolist() == [
        [STUDY, "AE", u[1], "AESEQ", "1", "AEITOXGR", "Initial Toxicity Grade", "1", "CRF", ""],
        [STUDY, "AE", u[1], "AESEQ", "1", "AEPREEX", "Pre-existing Condition", "Y", "CRF", ""],
        [STUDY, "AE", u[1], "AESEQ", "1", "AEWRSDTC", "Date/Time of Worsening", "2021-02",
         "CRF", ""],
        [STUDY, "AE", u[1], "AESEQ", "3", "AEITOXGR", "Initial Toxicity Grade", "2", "CRF", ""],
        [STUDY, "AE", u[1], "AESEQ", "3", "AEPREEX", "Pre-existing Condition", "Y", "CRF", ""],
    ]  # fmt: skip
    # DS: consent (every subject), randomization (S1 and S3), then the disposition event;
    # DSTERM is the reason given, else the DSDECOD (S1 gave none).
    ic, rand, pm = "INFORMED CONSENT OBTAINED", "RANDOMIZED", "PROTOCOL MILESTONE"
    ds = _csv(tmp_path, "ds")
    assert ds.drop(columns=["STUDYID", "DOMAIN"]).values.tolist() == [
        [u[1], "1", ic, ic, pm, "2021-01-05"],
        [u[1], "2", rand, rand, pm, "2021-01-08"],
        [u[1], "3", "COMPLETED", "COMPLETED", "DISPOSITION EVENT", "2021-09-01"],
        [u[2], "1", ic, ic, pm, "2021-01-05"],
        [u[2], "2", "DEATH", "DEATH", "DISPOSITION EVENT", "2021-06"],
        [u[3], "1", ic, ic, pm, "2021-01-05"],
        [u[3], "2", rand, rand, pm, "2021-01-08"],
        [u[3], "3", MOVED_ZH, "WITHDRAWAL BY SUBJECT", "DISPOSITION EVENT", "2021-05"],
        [u[4], "1", ic, ic, pm, "2021-01-05"],
        [u[5], "1", ic, ic, pm, "2021-01-05"],
    ]
    vs = _csv(tmp_path, "vs")
    assert vs.drop(columns=["STUDYID", "DOMAIN"]).values.tolist() == [
        [u[1], "1", "HEIGHT", "Height", "162.5", "cm", "162.5", "162.5", "cm", "Y"],
        [u[1], "2", "WEIGHT", "Weight", "58.3", "kg", "58.3", "58.3", "kg", "Y"],
        [u[2], "1", "WEIGHT", "Weight", "71", "kg", "71", "71", "kg", "Y"],
        [u[3], "1", "HEIGHT", "Height", "180", "cm", "180", "180", "cm", "Y"],
    ]
    dd = _csv(tmp_path, "dd")
    assert dd.values.tolist() == [
        [STUDY, "DD", u[2], "1", "PRCDTH", "Primary Cause of Death", SEPSIS_ZH, SEPSIS_ZH]
    ]


def test_chinese_text_is_kept_in_csv_and_refuses_the_xpt_naming_each_record(
    built, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    engine, u = built
    (tmp_path / "ds.xpt").write_bytes(b"stale")
    with pytest.raises(NotAscii) as refused:
        export_sdtm(engine, study_id=STUDY, out_dir=tmp_path)
    # AETERM has its English translation; the reason and the cause have none.
    assert [p[:4] for p in refused.value.problems] == [
        ("DS", u[3], "DSSEQ=3", "DSTERM"),
        ("DD", u[2], "DDSEQ=1", "DDORRES"),
        ("DD", u[2], "DDSEQ=1", "DDSTRESC"),
    ]
    assert not list(tmp_path.glob("*.xpt"))  # none, the stale one removed too
    raw = (tmp_path / "dd.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and SEPSIS_ZH.encode() in raw


@pytest.mark.parametrize("suffix", [".csv", ".xpt"])
def test_an_export_reimported_gives_every_field_back(built, tmp_path, suffix) -> None:  # type: ignore[no-untyped-def]
    engine, u = built
    if suffix == ".xpt":  # SAS transport v5 is ASCII: English for the cause and the reason
        with write_session(engine) as s:
            for subjid, change in (("S2", {"death_cause": "sepsis"}),
                                   ("S3", {"disposition_reason": "moved away"})):  # fmt: skip
                subject = s.exec(select(Subject).where(Subject.subjid == subjid)).one()
                update_subject(session=s, actor=Actor.system("test"), subject=subject,
                               **change)  # fmt: skip
        counts = export_sdtm(engine, study_id=STUDY, out_dir=tmp_path)
        assert counts == {"DM": 5, "AE": 3, "EX": 8, "SUPPAE": 5, "DS": 10, "VS": 4, "DD": 1}
    else:  # the CSV files are written, Chinese and all; the .xpt files are refused
        with pytest.raises(NotAscii):
            export_sdtm(engine, study_id=STUDY, out_dir=tmp_path)
    _reimport(engine, tmp_path, suffix, "ROUNDTRIP")

    before, after = _subjects(engine, STUDY), _subjects(engine, "ROUNDTRIP")
    assert set(after) == set(before) == set(u.values())
    # The one difference: the dispositions of S1 (COMPLETED) and S2 (DEATH) have no reason;
    # DSTERM, which SDTM requires, carries the DSDECOD, and the importer reads DSTERM as the
    # reason (pv.imports.sdtm "DSTERM -> disposition_reason").
    for n, decod in ((1, "COMPLETED"), (2, "DEATH")):
        assert before[u[n]]["disposition_reason"] is None
        assert after[u[n]]["disposition_reason"] == decod
        after[u[n]]["disposition_reason"] = None
    for usubjid, values in before.items():
        assert {f: after[usubjid][f] for f in values} == values, usubjid
    # The values themselves, written out (so that "equal" is not "equally empty").
    assert before[u[1]] == {
        "race": "ASIAN", "height_cm": 162.5, "weight_kg": 58.3,
        "consent_date": date(2021, 1, 5), "randomization_date": date(2021, 1, 8),
        "end_of_study_date": date(2021, 9, 1), "died": False, "death_date": None,
        "death_cause": None, "disposition": "COMPLETED", "disposition_date": "2021-09-01",
        "disposition_reason": None,
    }  # fmt: skip
    cause, reason = (SEPSIS_ZH, MOVED_ZH) if suffix == ".csv" else ("sepsis", "moved away")
    assert (after[u[2]]["died"], after[u[2]]["death_date"], after[u[2]]["death_cause"],
            after[u[2]]["disposition"], after[u[2]]["disposition_date"],
            after[u[2]]["end_of_study_date"]) == (
        True, "2021-06", cause, "DEATH", "2021-06", date(2021, 6, 20))  # fmt: skip
    assert after[u[3]]["disposition_reason"] == reason
    assert after[u[3]]["disposition_date"] == "2021-05" and after[u[3]]["height_cm"] == 180
    assert (after[u[4]]["died"], after[u[4]]["death_date"], after[u[4]]["disposition"]) == (
        True, None, None)  # fmt: skip
    assert after[u[5]]["race"] is None and after[u[5]]["randomization_date"] is None

    events_before, events_after = _events(engine, STUDY), _events(engine, "ROUNDTRIP")
    if suffix == ".xpt":  # the .xpt's AETERM is the English translation
        events_before[(u[1], 3)]["aeterm"] = "asthma worse"
    assert events_after == events_before
    assert events_before[(u[1], 1)] == {
        "aeterm": "asthma", "aetoxgr": 3, "aestdtc": "2021-01-06", "aeendtc": "2021-03-01",
        "aegrpid": "EP-1", "aespid": "12", "preexisting": True, "initial_grade": 1,
        "worsened_dtc": "2021-02",
    }  # fmt: skip
    assert (events_after[(u[1], 2)]["preexisting"], events_after[(u[1], 2)]["initial_grade"],
            events_after[(u[1], 2)]["aespid"]) == (False, None, "13")  # fmt: skip
    assert (events_after[(u[1], 3)]["preexisting"], events_after[(u[1], 3)]["initial_grade"],
            events_after[(u[1], 3)]["worsened_dtc"]) == (True, 2, None)  # fmt: skip


# SDTMIG 3.x variable order and labels of the new datasets and DM/AE variables.
EXPECTED = {
    "suppae": [
        ("STUDYID", "Study Identifier"), ("RDOMAIN", "Related Domain Abbreviation"),
        ("USUBJID", "Unique Subject Identifier"), ("IDVAR", "Identifying Variable"),
        ("IDVARVAL", "Identifying Variable Value"), ("QNAM", "Qualifier Variable Name"),
        ("QLABEL", "Qualifier Variable Label"), ("QVAL", "Data Value"), ("QORIG", "Origin"),
        ("QEVAL", "Evaluator"),
    ],
    "ds": [
        ("STUDYID", "Study Identifier"), ("DOMAIN", "Domain Abbreviation"),
        ("USUBJID", "Unique Subject Identifier"), ("DSSEQ", "Sequence Number"),
        ("DSTERM", "Reported Term for the Disposition Event"),
        ("DSDECOD", "Standardized Disposition Term"),
        ("DSCAT", "Category for Disposition Event"),
        ("DSSTDTC", "Start Date/Time of Disposition Event"),
    ],
    "vs": [
        ("STUDYID", "Study Identifier"), ("DOMAIN", "Domain Abbreviation"),
        ("USUBJID", "Unique Subject Identifier"), ("VSSEQ", "Sequence Number"),
        ("VSTESTCD", "Vital Signs Test Short Name"), ("VSTEST", "Vital Signs Test Name"),
        ("VSORRES", "Result or Finding in Original Units"), ("VSORRESU", "Original Units"),
        ("VSSTRESC", "Character Result/Finding in Std Format"),
        ("VSSTRESN", "Numeric Result/Finding in Standard Units"),
        ("VSSTRESU", "Standard Units"), ("VSBLFL", "Baseline Flag"),
    ],
    "dd": [
        ("STUDYID", "Study Identifier"), ("DOMAIN", "Domain Abbreviation"),
        ("USUBJID", "Unique Subject Identifier"), ("DDSEQ", "Sequence Number"),
        ("DDTESTCD", "Death Detail Assessment Short Name"),
        ("DDTEST", "Death Detail Assessment Name"),
        ("DDORRES", "Result or Finding as Collected"),
        ("DDSTRESC", "Character Result/Finding in Std Format"),
    ],
}  # fmt: skip
FILE_LABELS = {"suppae": "Supplemental Qualifiers for AE", "ds": "Disposition",
               "vs": "Vital Signs", "dd": "Death Details"}  # fmt: skip


def test_new_datasets_have_sdtmig_order_labels_and_types(built, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, _u = built
    with write_session(engine) as s:  # ASCII text, so that the .xpt files are written
        for subjid, change in (("S2", {"death_cause": "sepsis"}),
                               ("S3", {"disposition_reason": "moved away"})):  # fmt: skip
            subject = s.exec(select(Subject).where(Subject.subjid == subjid)).one()
            update_subject(session=s, actor=Actor.system("test"), subject=subject, **change)
    export_sdtm(engine, study_id=STUDY, out_dir=tmp_path)
    for name, expected in EXPECTED.items():
        frame, meta = pyreadstat.read_xport(str(tmp_path / f"{name}.xpt"))
        assert list(zip(meta.column_names, meta.column_labels, strict=True)) == expected
        assert meta.table_name == name.upper() and meta.file_label == FILE_LABELS[name]
        assert list(_csv(tmp_path, name).columns) == [v for v, _ in expected]
        seq = {"suppae": None, "ds": "DSSEQ", "vs": "VSSEQ", "dd": "DDSEQ"}[name]
        numeric = {c for c in frame.columns if frame[c].dtype.kind == "f"}
        assert numeric == ({seq} if seq else set()) | ({"VSSTRESN"} if name == "vs" else set())
    # DM: DTHDTC and DTHFL after RFPENDTC, RACE after SEX (as the pilot's dm.xpt);
    # AE: AEGRPID between AESEQ and AESPID (SDTMIG 3.2 AE).
    _dm, meta = pyreadstat.read_xport(str(tmp_path / "dm.xpt"))
    names = meta.column_names
    assert names[names.index("RFPENDTC") + 1 : names.index("RFPENDTC") + 3] == ["DTHDTC", "DTHFL"]
    assert names[names.index("SEX") + 1] == "RACE"
    labels = dict(zip(names, meta.column_labels, strict=True))
    assert (labels["DTHDTC"], labels["DTHFL"], labels["RACE"]) == (
        "Date/Time of Death", "Subject Death Flag", "Race")  # fmt: skip
    _ae, meta = pyreadstat.read_xport(str(tmp_path / "ae.xpt"))
    names = meta.column_names
    assert names[names.index("AESEQ") : names.index("AESEQ") + 3] == ["AESEQ", "AEGRPID", "AESPID"]
    assert meta.column_labels[names.index("AEGRPID")] == "Group ID"


def test_optional_datasets_are_not_written_empty_and_stale_ones_go(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A study with one subject, no consent date, nothing else: only DM, AE and EX.
    dm = pd.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"], "ARM": ["Drug"], "SITEID": ["1"]})
    ae = pd.DataFrame({"USUBJID": ["S-1"], "AESEQ": ["1"], "AETERM": ["Headache"],
                       "AEDECOD": ["Headache"], "AEBODSYS": ["Nervous system disorders"],
                       "AESTDTC": ["2024-01-03"]})  # fmt: skip
    ex = pd.DataFrame({"USUBJID": ["S-1"], "EXTRT": ["Drug"], "EXSTDTC": ["2024-01-01"]})
    import_sdtm(engine=engine, actor=Actor.system("test"), dm=dm, ae=ae, ex=ex)
    out = tmp_path / "sdtm"
    out.mkdir()
    for name in ("suppae", "ds", "vs", "dd"):  # an earlier export's files
        (out / f"{name}.csv").write_text("old")
        (out / f"{name}.xpt").write_bytes(b"old")
    counts = export_sdtm(engine, study_id="S", out_dir=out)
    assert counts == {"DM": 1, "AE": 1, "EX": 1}
    assert sorted(p.name for p in out.iterdir()) == [
        "ae.csv", "ae.xpt", "dm.csv", "dm.xpt", "ex.csv", "ex.xpt"]  # fmt: skip
    dm_out = _csv(out, "dm")
    assert (dm_out["DTHFL"][0], dm_out["DTHDTC"][0], dm_out["RACE"][0]) == ("", "", "")


def test_new_csv_files_are_formula_safe(built, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # pv.csvsafe: a text a spreadsheet would evaluate is written with a quote in front.
    engine, u = built
    with write_session(engine) as s:
        for subjid, change in (("S2", {"death_cause": "=1+1"}),
                               ("S3", {"disposition_reason": "@SUM(A1)"})):  # fmt: skip
            subject = s.exec(select(Subject).where(Subject.subjid == subjid)).one()
            update_subject(session=s, actor=Actor.system("test"), subject=subject, **change)
    export_sdtm(engine, study_id=STUDY, out_dir=tmp_path)
    assert list(_csv(tmp_path, "dd")[["DDORRES", "DDSTRESC"]].iloc[0]) == ["'=1+1", "'=1+1"]
    ds = _csv(tmp_path, "ds")
    assert ds.loc[(ds["USUBJID"] == u[3]) & (ds["DSSEQ"] == "3"), "DSTERM"].item() == "'@SUM(A1)"
    # The .xpt keeps the text as stored (SAS does not evaluate it).
    dd, _meta = pyreadstat.read_xport(str(tmp_path / "dd.xpt"))
    assert dd["DDORRES"][0] == "=1+1"
