"""SDTM import, analysis round 2 (issue 14): AEGRPID/AESPID, pre-existing events from
SUPPAE, DM race and death, DS disposition, VS baseline height and weight, DD cause of death.

The mapping is the one written in pv/imports/sdtm.py's docstring; every expected value
below is read off the hand-made datasets in this file."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from pv.analysis.data import load_study
from pv.audit.models import AuditEntry
from pv.audit.service import Actor
from pv.events.models import AdverseEvent
from pv.imports.sdtm import SDTMImportError, import_sdtm
from pv.study.models import Study, Subject
from tests.commands import Commands

ACTOR = Actor.system("test")


def frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows).fillna("")


def study() -> dict[str, pd.DataFrame]:
    """Four subjects. S1 dosed from 2021-03-10, S2 from 2021-03-12, S3 assigned but never
    dosed, S4 dosed from 2021-03-15 and dead."""
    dm = frame([
        {"STUDYID": "R2", "USUBJID": "S1", "ARM": "Drug", "ARMCD": "D", "SITEID": "01",
         "RACE": "ASIAN", "RFICDTC": "2021-03-01", "RFENDTC": "2021-06-01",
         "RFPENDTC": "2021-07-01T10:00"},
        {"STUDYID": "R2", "USUBJID": "S2", "ARM": "Placebo", "ARMCD": "P", "SITEID": "01",
         "RACE": "WHITE", "RFENDTC": "2021-06-05"},
        {"STUDYID": "R2", "USUBJID": "S3", "ARM": "Drug", "ARMCD": "D", "SITEID": "02"},
        {"STUDYID": "R2", "USUBJID": "S4", "ARM": "Placebo", "ARMCD": "P", "SITEID": "02",
         "RACE": "BLACK OR AFRICAN AMERICAN", "DTHFL": "Y", "DTHDTC": "2021-05"},
    ])  # fmt: skip
    ex = frame([
        {"USUBJID": "S1", "EXTRT": "DRUG", "EXDOSE": "10", "EXDOSU": "mg",
         "EXSTDTC": "2021-03-10", "EXENDTC": "2021-05-31", "EXDOSFRQ": "QD"},
        {"USUBJID": "S2", "EXTRT": "PLACEBO", "EXDOSE": "0", "EXDOSU": "mg",
         "EXSTDTC": "2021-03-12", "EXENDTC": "2021-06-04", "EXDOSFRQ": "QD"},
        {"USUBJID": "S4", "EXTRT": "PLACEBO", "EXDOSE": "0", "EXDOSU": "mg",
         "EXSTDTC": "2021-03-15", "EXENDTC": "2021-04-30", "EXDOSFRQ": "QD"},
    ])  # fmt: skip

    def ae(u: str, seq: int, start: str, grade: str = "", **more: str) -> dict[str, str]:
        return {"USUBJID": u, "AESEQ": str(seq), "AETERM": f"term {seq}",
                "AEDECOD": f"Term {seq}", "AEBODSYS": "SOC", "AESTDTC": start,
                "AETOXGR": grade, **more}  # fmt: skip

    aes = frame([
        ae("S1", 1, "2021-03-01", "3", AEENDTC="2021-04-01", AEGRPID="G1"),  # before dose
        ae("S1", 2, "2021-03-20", "2", AEGRPID="G1"),  # same episode, later record
        ae("S1", 3, "2021-03-10", "2", AESPID="SP-7"),  # onset on the first-dose day
        ae("S1", 4, "2021-02", "2"),  # partial: February, surely before 2021-03-10
        ae("S1", 5, "2021-03", "2"),  # partial: March may be on or after the first dose
        ae("S2", 1, "2021-03-01", "1"),
        ae("S2", 2, "2021-03-02", "2"),
        ae("S4", 1, "2021-04-20", "5", AEOUT="FATAL"),
    ])  # fmt: skip

    def supp(u: str, idvar: str, val: str, qnam: str, qval: str) -> dict[str, str]:
        return {"USUBJID": u, "IDVAR": idvar, "IDVARVAL": val, "QNAM": qnam, "QVAL": qval}

    suppae = frame([
        supp("S1", "AESEQ", "1", "AEITOXGR", "1"),  # before dose: pre-existing, grade 1
        supp("S1", "AESEQ", "3", "AEITOXGR", "2"),  # on the first-dose day: not pre-existing
        supp("S1", "AESEQ", "4", "AEITOXGR", "2.0"),  # partial, surely before: pre-existing
        supp("S1", "AESEQ", "5", "AEITOXGR", "1"),  # partial, may be on treatment: not
        supp("S2", "AESEQ", "1.0", "AEPREEX", "Y"),  # explicit flag (IDVARVAL as 1.0)
        supp("S2", "AESEQ", "2", "AEWRSDTC", "2021-04"),  # worsening date: pre-existing
        supp("S1", "AESEQ", "2", "AETRTEM", "Y"),  # the sponsor's flag, as before
        supp("S1", "AESEQ", "2", "AEXYZ", "whatever"),  # unknown QNAM: ignored
    ])  # fmt: skip
    return {"dm": dm, "ex": ex, "ae": aes, "suppae": suppae}


def events(engine) -> dict[tuple[str, int], sa.Row]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(Subject.usubjid, AdverseEvent.aeseq, AdverseEvent.preexisting,
                      AdverseEvent.initial_grade, AdverseEvent.worsened_dtc,
                      AdverseEvent.aegrpid, AdverseEvent.aespid, AdverseEvent.sponsor_te_flag)
            .join(Subject, Subject.id == AdverseEvent.subject_id)
        ).all()  # fmt: skip
    return {(r.usubjid, r.aeseq): r for r in rows}


def subjects(engine) -> dict[str, sa.Row]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return {r.usubjid: r for r in conn.execute(sa.select(Subject)).all()}


def test_episode_ids_and_preexisting_events_from_suppae(engine) -> None:  # type: ignore[no-untyped-def]
    result = import_sdtm(engine=engine, actor=ACTOR, **study())
    got = events(engine)
    pre = {k: (r.preexisting, r.initial_grade, r.worsened_dtc) for k, r in got.items()}
    assert pre == {
        ("S1", 1): (True, 1, None),  # AEITOXGR, onset 2021-03-01 < first dose 2021-03-10
        ("S1", 2): (False, None, None),  # no qualifier of its own (the episode's later record)
        ("S1", 3): (False, None, None),  # onset = first-dose day: a new event, grade dropped
        ("S1", 4): (True, 2, None),  # "2021-02" ends 2021-02-28, before the first dose
        ("S1", 5): (False, None, None),  # "2021-03" may be 2021-03-10 or later: dropped
        ("S2", 1): (True, None, None),  # AEPREEX Y
        ("S2", 2): (True, None, "2021-04"),  # AEWRSDTC implies pre-existing
        ("S4", 1): (False, None, None),
    }
    assert result.preexisting == 4
    assert result.warnings == [
        "SUPPAE AEITOXGR of 2 events not kept: they are not known to have started before the "
        "first dose (a grade at the first dose is only for a condition present before it)"
    ]
    assert (got["S1", 1].aegrpid, got["S1", 2].aegrpid, got["S1", 3].aegrpid) == ("G1", "G1", None)
    assert (got["S1", 3].aespid, got["S1", 1].aespid) == ("SP-7", None)
    assert got["S1", 2].sponsor_te_flag == "Y"


def test_qualifiers_keyed_by_group_and_explicit_no(engine) -> None:  # type: ignore[no-untyped-def]
    """IDVAR AEGRPID applies the qualifier to every record of the episode; AEPREEX "N"
    wins over the AEITOXGR rule."""
    data = study()
    data["suppae"] = frame([
        {"USUBJID": "S1", "IDVAR": "AEGRPID", "IDVARVAL": "G1", "QNAM": "AEITOXGR", "QVAL": "1"},
        {"USUBJID": "S1", "IDVAR": "AESEQ", "IDVARVAL": "4", "QNAM": "AEITOXGR", "QVAL": "2"},
        {"USUBJID": "S1", "IDVAR": "AESEQ", "IDVARVAL": "4", "QNAM": "AEPREEX", "QVAL": "N"},
    ])  # fmt: skip
    import_sdtm(engine=engine, actor=ACTOR, **data)
    got = events(engine)
    # S1/1 starts before the first dose, S1/2 on treatment (2021-03-20): kept on the first
    # only; S1/4 is not pre-existing by AEPREEX N, so its grade at the first dose goes too
    assert (got["S1", 1].preexisting, got["S1", 1].initial_grade) == (True, 1)
    assert (got["S1", 2].preexisting, got["S1", 2].initial_grade) == (False, None)
    assert (got["S1", 4].preexisting, got["S1", 4].initial_grade) == (False, None)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"IDVAR": "AESEQ", "IDVARVAL": "1", "QNAM": "AEITOXGR", "QVAL": "6"},
         "SUPPAE record 2 (USUBJID S1), QVAL (AEITOXGR): AEITOXGR '6' is not a grade 1 to 5"),
        ({"IDVAR": "AESEQ", "IDVARVAL": "1", "QNAM": "AEPREEX", "QVAL": "yes"},
         "SUPPAE record 2 (USUBJID S1), QVAL (AEPREEX): AEPREEX 'yes' is not Y or N"),
        ({"IDVAR": "AESEQ", "IDVARVAL": "1", "QNAM": "AEWRSDTC", "QVAL": "2021-13"},
         "SUPPAE record 2 (USUBJID S1), QVAL (AEWRSDTC): '2021-13': month 13 does not exist"),
        ({"IDVAR": "AESEQ", "IDVARVAL": "9", "QNAM": "AEITOXGR", "QVAL": "1"},
         "SUPPAE record 2 (USUBJID S1), IDVARVAL: AEITOXGR: no AE record of this subject "
         "has AESEQ 9"),
        ({"IDVAR": "AELNKID", "IDVARVAL": "1", "QNAM": "AEITOXGR", "QVAL": "1"},
         "SUPPAE record 2 (USUBJID S1), IDVAR: AEITOXGR must be keyed by AESEQ, AEGRPID, "
         "AESPID, not 'AELNKID'"),
        # the subject form's consistency rules (pv.events.rules), on the AE record
        ({"IDVAR": "AESEQ", "IDVARVAL": "1", "QNAM": "AEITOXGR", "QVAL": "4"},
         "AE record 1 (USUBJID S1), AETOXGR: the grade at the first dose (AEITOXGR 4) is "
         "above the event's grade (AETOXGR 3)"),
        ({"IDVAR": "AESEQ", "IDVARVAL": "1", "QNAM": "AEWRSDTC", "QVAL": "2021-02"},
         "AE record 1 (USUBJID S1), AESTDTC: the worsening (AEWRSDTC 2021-02) is before the "
         "onset (2021-03-01)"),
        ({"IDVAR": "AESEQ", "IDVARVAL": "1", "QNAM": "AEWRSDTC", "QVAL": "2021-04-02"},
         "AE record 1 (USUBJID S1), AEENDTC: the worsening (AEWRSDTC 2021-04-02) is after "
         "the end (2021-04-01)"),
    ],
)  # fmt: skip
def test_bad_qualifiers_refuse_the_import(engine, row, message) -> None:  # type: ignore[no-untyped-def]
    data = study()
    first = {"USUBJID": "S1", "IDVAR": "AESEQ", "IDVARVAL": "1", "QNAM": "AEITOXGR", "QVAL": "1"}
    data["suppae"] = frame([first, {"USUBJID": "S1", **row}])
    with pytest.raises(SDTMImportError) as info:
        import_sdtm(engine=engine, actor=ACTOR, **data)
    assert message in str(info.value)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Study)).scalar() == 0


def test_worsening_date_with_aepreex_n_is_refused(engine) -> None:  # type: ignore[no-untyped-def]
    data = study()
    data["suppae"] = frame([
        {"USUBJID": "S2", "IDVAR": "AESEQ", "IDVARVAL": "2", "QNAM": "AEWRSDTC", "QVAL": "2021-04"},
        {"USUBJID": "S2", "IDVAR": "AESEQ", "IDVARVAL": "2", "QNAM": "AEPREEX", "QVAL": "N"},
    ])  # fmt: skip
    with pytest.raises(SDTMImportError) as info:
        import_sdtm(engine=engine, actor=ACTOR, **data)
    assert (
        "AE record 7 (USUBJID S2), AESEQ 2: a worsening date (AEWRSDTC 2021-04) on an event "
        "whose AEPREEX is N" in str(info.value)
    )


def test_dm_race_death_and_end_of_study(engine) -> None:  # type: ignore[no-untyped-def]
    result = import_sdtm(engine=engine, actor=ACTOR, **study())
    s = subjects(engine)
    assert {u: s[u].race for u in s} == {
        "S1": "ASIAN", "S2": "WHITE", "S3": None, "S4": "BLACK OR AFRICAN AMERICAN"
    }  # fmt: skip
    assert {u: (s[u].died, s[u].death_date) for u in s} == {
        "S1": (False, None), "S2": (False, None), "S3": (False, None), "S4": (True, "2021-05")
    }  # fmt: skip
    # end of study: RFPENDTC (end of participation) first, else RFENDTC; date part only
    assert s["S1"].end_of_study_date == date(2021, 7, 1)
    assert s["S2"].end_of_study_date == date(2021, 6, 5)
    assert s["S3"].end_of_study_date is None
    assert s["S1"].consent_date == date(2021, 3, 1)
    assert result.deaths == 1


def test_dm_death_without_flag_and_bad_values(engine) -> None:  # type: ignore[no-untyped-def]
    data = study()
    data["dm"].loc[0, "DTHDTC"] = "2021-06-30"  # a death date implies death (DTHFL blank)
    import_sdtm(engine=engine, actor=ACTOR, study_id="OK", **data)
    assert subjects(engine)["S1"].died is True
    data["dm"].loc[1, "DTHDTC"] = "30/06/2021"
    data["dm"].loc[2, "DTHFL"] = "YES"
    with pytest.raises(SDTMImportError) as info:
        import_sdtm(engine=engine, actor=ACTOR, study_id="BAD", **data)
    text = str(info.value)
    assert "DM record 2 (USUBJID S2), DTHDTC: '30/06/2021' is not an ISO 8601 date" in text
    assert "DM record 3 (USUBJID S3), DTHFL: 'YES' is not Y or empty" in text
    with engine.connect() as conn:
        assert conn.execute(sa.select(Study.id)).scalars().all() == ["OK"]


def ds_frame() -> pd.DataFrame:
    def rec(u: str, cat: str, decod: str, when: str, term: str = "") -> dict[str, str]:
        return {"USUBJID": u, "DSCAT": cat, "DSDECOD": decod, "DSSTDTC": when,
                "DSTERM": term or decod}  # fmt: skip

    return frame([
        rec("S1", "PROTOCOL MILESTONE", "INFORMED CONSENT OBTAINED", "2021-02-20"),
        rec("S1", "PROTOCOL MILESTONE", "RANDOMIZED", "2021-03-08"),
        rec("S1", "DISPOSITION EVENT", "ADVERSE EVENT", "2021-06-01", "RASH, SEVERE"),
        rec("S1", "OTHER EVENT", "FINAL LAB VISIT", "2021-07-10"),  # not a disposition
        rec("S1", "DISPOSITION EVENT", "COMPLETED", "2021-07-01"),  # later: wins
        rec("S2", "PROTOCOL MILESTONE", "RANDOMIZED", "2021-03"),  # partial: no date kept
        rec("S2", "DISPOSITION EVENT", "WITHDRAWAL BY SUBJECT", "2021-06-05", "MOVED AWAY"),
        rec("S4", "DISPOSITION EVENT", "DEATH", "2021-05-02"),  # DM already has 2021-05
    ])  # fmt: skip


def test_ds_disposition_milestones_and_death(engine) -> None:  # type: ignore[no-untyped-def]
    result = import_sdtm(engine=engine, actor=ACTOR, ds=ds_frame(), **study())
    s = subjects(engine)
    got = {u: (r.disposition, r.disposition_date, r.disposition_reason) for u, r in s.items()}
    assert got == {
        "S1": ("COMPLETED", "2021-07-01", "COMPLETED"),
        "S2": ("WITHDRAWAL BY SUBJECT", "2021-06-05", "MOVED AWAY"),
        "S3": (None, None, None),  # no disposition event: still in the study
        "S4": ("DEATH", "2021-05-02", "DEATH"),
    }
    assert (s["S1"].randomization_date, s["S2"].randomization_date) == (date(2021, 3, 8), None)
    assert s["S1"].consent_date == date(2021, 3, 1)  # DM RFICDTC wins over DS
    assert (s["S4"].died, s["S4"].death_date) == (True, "2021-05")  # DM's date kept
    assert result.dispositions == 3


def test_ds_without_dscat_and_death_date_from_ds(engine) -> None:  # type: ignore[no-untyped-def]
    """No DSCAT: every record but the milestones is a disposition event; DEATH gives the
    death date when DM has none; RFICDTC missing: consent from the milestone."""
    data = study()
    data["dm"].loc[3, ["DTHFL", "DTHDTC"]] = ["", ""]
    ds = ds_frame().drop(columns=["DSCAT"])
    ds = ds[ds["DSDECOD"] != "FINAL LAB VISIT"]
    data["dm"].loc[0, "RFICDTC"] = ""
    import_sdtm(engine=engine, actor=ACTOR, ds=ds, **data)
    s = subjects(engine)
    assert (s["S4"].died, s["S4"].death_date, s["S4"].disposition) == (True, "2021-05-02", "DEATH")
    assert s["S1"].disposition == "COMPLETED"
    assert s["S1"].consent_date == date(2021, 2, 20)


def test_ds_bad_values_and_unknown_subjects(engine) -> None:  # type: ignore[no-untyped-def]
    ds = ds_frame()
    ds.loc[2, "DSSTDTC"] = "2021-06-31"
    with pytest.raises(SDTMImportError, match=r"DS record 3 \(USUBJID S1\), DSSTDTC: "
                       r"'2021-06-31': day 31 does not exist in 2021-06"):  # fmt: skip
        import_sdtm(engine=engine, actor=ACTOR, ds=ds, **study())
    ds = ds_frame()
    ds.loc[0, "USUBJID"] = "S9"
    with pytest.raises(SDTMImportError, match=r"DS has subjects not in DM: \['S9'\]"):
        import_sdtm(engine=engine, actor=ACTOR, ds=ds, **study())
    with pytest.raises(SDTMImportError, match="DS lacks DSSTDTC"):
        import_sdtm(engine=engine, actor=ACTOR, ds=ds_frame().drop(columns="DSSTDTC"), **study())


def vs_frame() -> pd.DataFrame:
    def rec(u: str, test: str, value: str, unit: str, when: str, bl: str = "") -> dict[str, str]:
        return {"USUBJID": u, "VSTESTCD": test, "VSORRES": value, "VSORRESU": unit,
                "VSSTRESN": value, "VSSTRESU": unit, "VSDTC": when, "VSBLFL": bl}  # fmt: skip

    return frame([
        # S1: flagged baseline wins over later and earlier values
        rec("S1", "HEIGHT", "170", "cm", "2021-03-01", "Y"),
        rec("S1", "WEIGHT", "70", "kg", "2021-03-01"),
        rec("S1", "WEIGHT", "72", "kg", "2021-03-09", "Y"),
        rec("S1", "WEIGHT", "80", "kg", "2021-04-01"),
        rec("S1", "SYSBP", "120", "mmHg", "2021-03-01", "Y"),  # not read
        # S2: no flag: the last on or before the first dose (2021-03-12), in inches/pounds
        rec("S2", "HEIGHT", "65", "in", "2021-03-01"),
        rec("S2", "WEIGHT", "150", "LB", "2021-03-01"),
        rec("S2", "WEIGHT", "154", "LB", "2021-03-12"),
        rec("S2", "WEIGHT", "170", "LB", "2021-03-13"),  # after the first dose
        # S3: never dosed: the last value recorded
        rec("S3", "WEIGHT", "60", "kg", "2021-03-01"),
        rec("S3", "WEIGHT", "61", "kg", "2021-03-05"),
        # S4: only values after the first dose: no baseline
        rec("S4", "WEIGHT", "90", "kg", "2021-03-20"),
        rec("S4", "HEIGHT", "", "cm", "2021-03-01"),  # not done
    ])  # fmt: skip


def test_vs_baseline_height_and_weight(engine) -> None:  # type: ignore[no-untyped-def]
    import_sdtm(engine=engine, actor=ACTOR, vs=vs_frame(), **study())
    s = subjects(engine)
    got = {u: (r.height_cm, r.weight_kg) for u, r in s.items()}
    # 65 in x 2.54 = 165.1 cm; 154 lb x 0.45359237 = 69.853 kg (3 decimals)
    assert got == {
        "S1": (170.0, 72.0), "S2": (165.1, 69.853), "S3": (None, 61.0), "S4": (None, None)
    }  # fmt: skip


def test_vs_original_results_when_no_standard_ones(engine) -> None:  # type: ignore[no-untyped-def]
    vs = vs_frame().drop(columns=["VSSTRESN", "VSSTRESU"])
    import_sdtm(engine=engine, actor=ACTOR, vs=vs, **study())
    assert subjects(engine)["S2"].height_cm == 165.1


def test_vs_bad_values(engine) -> None:  # type: ignore[no-untyped-def]
    vs = vs_frame()
    vs.loc[1, ["VSSTRESN", "VSSTRESU"]] = ["70", "stone"]
    vs.loc[5, "VSSTRESN"] = "tall"
    vs.loc[0, "VSSTRESN"] = "1.7"  # metres recorded as cm
    with pytest.raises(SDTMImportError) as info:
        import_sdtm(engine=engine, actor=ACTOR, vs=vs, **study())
    text = str(info.value)
    assert "VS record 2 (USUBJID S1), VSSTRESU: unit 'stone' is not one of kg, g, lb, lbs" in text
    assert "VS record 6 (USUBJID S2), VSSTRESN: 'tall' is not a number" in text
    assert "VS record 1 (USUBJID S1), VSSTRESN: 1.7 cm is outside 30 to 250 cm" in text


def test_dd_primary_cause_of_death(engine) -> None:  # type: ignore[no-untyped-def]
    dd = frame([
        {"USUBJID": "S4", "DDTESTCD": "PRCDTH", "DDORRES": "Myocardial infarction",
         "DDSTRESC": "MYOCARDIAL INFARCTION"},
        {"USUBJID": "S4", "DDTESTCD": "SECDTH", "DDORRES": "Sepsis", "DDSTRESC": "SEPSIS"},
    ])  # fmt: skip
    import_sdtm(engine=engine, actor=ACTOR, dd=dd, **study())
    s = subjects(engine)
    assert (s["S4"].death_cause, s["S1"].death_cause) == ("MYOCARDIAL INFARCTION", None)


def test_analysis_load_and_audit_see_the_new_fields(engine) -> None:  # type: ignore[no-untyped-def]
    import_sdtm(engine=engine, actor=ACTOR, ds=ds_frame(), vs=vs_frame(), **study())
    data = load_study(engine, "R2")
    subj = data.subjects.set_index("usubjid")
    assert subj.loc["S4", "died"] and not subj.loc["S1", "died"]
    assert subj.loc["S1", "race"] == "ASIAN" and subj.loc["S2", "weight_kg"] == 69.853
    assert subj.loc["S2", "disposition"] == "WITHDRAWAL BY SUBJECT"
    with engine.connect() as conn:
        study_entry = conn.execute(
            sa.select(AuditEntry.changes).where(AuditEntry.action == "import_sdtm")
        ).scalar_one()
        creates = conn.execute(
            sa.select(AuditEntry.changes).where(
                AuditEntry.entity_type == "adverse_event", AuditEntry.action == "create"
            )
        ).scalars().all()  # fmt: skip
    assert study_entry["deaths"] == [None, 1] and study_entry["dispositions"] == [None, 3]
    assert study_entry["preexisting"] == [None, 4]
    grades = sorted(c["initial_grade"][1] for c in creates if c["initial_grade"][1] is not None)
    assert grades == [1, 2]  # S1/1 and S1/4, the two pre-existing by AEITOXGR
    assert sum(c["preexisting"][1] for c in creates) == 4


@pytest.fixture
def commands(db_url, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    from tests.cli.actors import seed_admin

    run = Commands(monkeypatch, capsys, db_url)
    monkeypatch.setenv("PV_ACTOR", seed_admin(db_url))
    yield run
    run.close()


def test_cli_takes_ds_vs_dd(commands, engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    files = {**study(), "ds": ds_frame(), "vs": vs_frame()}
    files["dd"] = frame([{"USUBJID": "S4", "DDTESTCD": "PRCDTH", "DDORRES": "Stroke"}])
    for name, data in files.items():
        data.to_csv(tmp_path / f"{name}.csv", index=False)
    code, out, err = commands("import", "sdtm", *(f"--{k}={tmp_path / k}.csv" for k in files))
    assert code == 0, err
    assert "Pre-existing events: 4; deaths: 1; subjects with a disposition: 3." in out
    s = subjects(engine)
    assert (s["S4"].death_cause, s["S2"].height_cm, s["S1"].disposition) == (
        "Stroke", 165.1, "COMPLETED"
    )  # fmt: skip
    bad = vs_frame()
    bad.loc[0, "VSSTRESU"] = "ft"
    bad.to_csv(tmp_path / "vs.csv", index=False)
    code, _, err = commands(
        "import", "sdtm", "--study-id=R2B", *(f"--{k}={tmp_path / k}.csv" for k in files)
    )
    assert code == 2 and "VS record 1 (USUBJID S1), VSSTRESU: unit 'ft'" in err


def test_pilot_race_death_and_end_of_study(engine) -> None:  # type: ignore[no-untyped-def]
    """The CDISC pilot's DM: race as collected (273 WHITE, 29 BLACK OR AFRICAN AMERICAN, 2
    AMERICAN INDIAN OR ALASKA NATIVE, 2 ASIAN), three deaths (DTHFL "Y" with DTHDTC), end
    of study = RFPENDTC's date; RFICDTC is empty in the pilot, so no consent date."""
    from tests.imports.test_sdtm import pilot, xpt

    result = pilot(engine)
    dm = xpt("dm").set_index("USUBJID")
    s = subjects(engine)
    assert {u: r.race for u, r in s.items()} == dm["RACE"].to_dict()
    dead = {u: r.death_date for u, r in s.items() if r.died}
    assert dead == {"01-701-1211": "2013-01-14", "01-704-1445": "2014-11-01",
                    "01-710-1083": "2013-08-02"}  # fmt: skip
    assert dead == dm.loc[dm["DTHFL"] == "Y", "DTHDTC"].to_dict() and result.deaths == 3
    eos = {u: r.end_of_study_date.isoformat() for u, r in s.items()}
    assert eos == dm["RFPENDTC"].str[:10].to_dict()
    assert {r.consent_date for r in s.values()} == {None}
    assert result.preexisting == 0 and result.dispositions == 0
