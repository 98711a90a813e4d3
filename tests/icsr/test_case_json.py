"""A frozen case comes back equal: case_to_json -> JSON text -> case_from_json."""

from __future__ import annotations

import json
from datetime import date

from pv.icsr.case import (
    Case,
    Change,
    ConMed,
    Death,
    Dose,
    HistoryItem,
    LabTest,
    Patient,
    Reaction,
    Reporter,
    SignatureLine,
    Study,
    SuspectDrug,
    case_from_json,
    case_to_json,
)


def _case() -> Case:
    return Case(
        case_id="CN-PVTRACKER-S1-7", report_id="CN-PVTRACKER-S1-7", version=2, initial=False,
        report_kind="followup_8", first_received=date(2021, 3, 4),
        most_recent=date(2021, 3, 9), created=date(2021, 3, 10),
        study=Study(id="S1", registration="NCT04660565", registration_country="US",
                    title="t", sponsor="PUMCH"),
        sender="PUMCH",
        reporter=Reporter(name="王医生", qualification="1", organisation="PUMCH",
                          country="CN", contact="+86 10 0000"),
        patient=Patient(id="S1-01-001", subjid="001", age=57, sex="M", weight_kg=70.5,
                        arm=None),
        reaction=Reaction(term="肺炎", lang="zh", term_en="Pneumonia", llt_code="10035664",
                          llt_name="Lung infection", soc="Infections", meddra_version="20.1",
                          grade=3, start="2021-03-01", end=None, ongoing=True,
                          outcome="NOT RECOVERED/NOT RESOLVED",
                          criteria={"aesdth": False, "aeshosp": True}),
        drugs=(SuspectDrug(key="belimumab", name="Belimumab", role="suspect",
                           doses=(Dose(dose=10.0, unit="mg/kg", route="INTRAVENOUS",
                                       frequency="ONCE", start="2021-02-01", end=None),),
                           first_dose="2021-02-01", last_dose="2021-02-01",
                           action="DOSE NOT CHANGED", investigator_causality="RELATED",
                           sponsor_causality="probable", expectedness="unexpected",
                           dechallenge="na", rechallenge="unknown"),),
        treatment="抗生素", narrative="住院", narrative_lang="zh", susar=True,
        fatal_or_life_threatening=False,
        signatures=(SignatureLine(meaning="assessed", name="Officer", at="2021-03-05 10:00:00",
                                  version=3, valid=True),),
        hospital_admission="2021-03-02", hospital_discharge=None,
        history=(HistoryItem(term="糖尿病", start="2015", ongoing=True),),
        conmeds=(ConMed(name="Metformin", dose=500.0, unit="mg", route="ORAL", start="2015",
                        stop=None, indication="diabetes"),),
        tests=(LabTest(name="CRP", date="2021-03-02", value="85", unit="mg/L", low="0",
                       high="10"),),
        death=Death(date=None, cause=None, autopsy="U", autopsy_cause=None),
        changes=(Change(field="reaction.outcome", old="RECOVERING/RESOLVING",
                        new="NOT RECOVERED/NOT RESOLVED"),),
        note="outcome worsened",
    )  # fmt: skip


def test_a_frozen_case_comes_back_equal() -> None:
    case = _case()
    frozen = json.loads(json.dumps(case_to_json(case), ensure_ascii=False))
    assert case_from_json(frozen) == case


def test_a_case_frozen_before_a_field_existed_takes_its_default() -> None:
    frozen = case_to_json(_case())
    for key in ("history", "conmeds", "tests", "death", "changes", "note"):
        del frozen[key]
    del frozen["drugs"][0]["dechallenge"]
    back = case_from_json(frozen)
    assert back.history == () and back.death is None and back.note is None
    assert back.drugs[0].dechallenge is None and back.drugs[0].rechallenge == "unknown"
