"""build_case gathers a serious event's case from the database: checked against the demo's
assessed SUSARs, read independently here from the same tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from pv.db import read_session, write_session
from pv.demo.generate import build_demo
from pv.events.models import AdverseEvent
from pv.exposure.models import Exposure
from pv.icsr.build import CaseError, build_case, country_code
from pv.icsr.case import ConMed, Death, HistoryItem, LabTest, Reporter
from pv.icsr.models import SaeCase
from pv.review.models import Assessment
from pv.study.models import Drug, Subject
from tests.review.conftest import SERIOUS_PNEUMONIA, World, world  # noqa: F401


@pytest.fixture
def demo(engine: Engine) -> Engine:
    build_demo(engine, seed=42)
    return engine


def test_an_assessed_susar_becomes_its_case(demo: Engine) -> None:
    with read_session(demo) as s:
        assessment = s.exec(
            select(Assessment).where(col(Assessment.is_susar).is_(True)).order_by(Assessment.id)
        ).first()
        assert assessment is not None, "the demo assesses SUSARs"
        event = s.get(AdverseEvent, assessment.event_id)
        subject = s.get(Subject, event.subject_id)
        case = build_case(s, event.id)
        drugs = {d.key: d for d in s.exec(select(Drug).where(Drug.study_id == event.study_id))}
        doses = {
            key: s.exec(
                select(Exposure).where(Exposure.subject_id == subject.id, Exposure.drug_id == d.id)
            ).all()  # fmt: skip
            for key, d in drugs.items()
        }
    assert case.case_id == f"CN-PVTRACKER-NCT04660565-{event.id}"
    # C.1.1 = C.1.8.1 in every version; the version is the caller's (pv.icsr.versions)
    assert case.report_id == case.case_id and case.version == 1 and case.initial
    assert case.first_received == assessment.awareness_date and case.susar
    assert case.patient.id == subject.usubjid and case.patient.age == subject.age
    assert case.reaction.term == event.aeterm and case.reaction.llt_code == event.aelltcd
    assert case.reaction.meddra_version == "20.1" and case.reaction.lang == "en"
    assert case.reaction.criteria["aeshosp"] == event.aeshosp
    assert case.study.registration == "NCT04660565" and case.reporter.country == "CN"
    by_key = {d.key: d for d in case.drugs}
    assert {d.key for d in case.drugs if d.role == "suspect"} == set(assessment.suspect_drugs)
    for key, d in by_key.items():
        assert d.sponsor_causality == assessment.causality.get(key)
        assert d.investigator_causality == event.aerel.get(key)
        onset = event.aestdtc or "9999"
        expected = [x for x in doses[key] if x.start.isoformat()[: len(onset)] <= onset]
        assert len(d.doses) == len(expected)  # the doses up to the onset only
        assert d.first_dose is None or d.first_dose[:10] == min(
            x.start for x in doses[key]).date().isoformat()  # fmt: skip


def test_only_a_serious_event_has_a_case(demo: Engine) -> None:
    with read_session(demo) as s:
        mild = s.exec(select(AdverseEvent).where(col(AdverseEvent.aeser).is_(False))).first()
        with pytest.raises(CaseError, match="not serious"):
            build_case(s, mild.id)
        with pytest.raises(CaseError, match="no event"):
            build_case(s, 10**9)


LATER = datetime(2099, 1, 2, 3, 4, tzinfo=UTC)  # a last change of the case data


def test_the_case_data_go_into_the_case(world: World) -> None:  # noqa: F811
    ev = world.report(SERIOUS_PNEUMONIA)
    with read_session(world.engine) as s:
        bare = build_case(s, ev, version=3)
    # no case data: today's defaults (the reporting user, a physician, the site's country)
    site = bare.reporter.organisation
    assert bare.reporter == Reporter(name="inv1", qualification="1", organisation=site,
                                     country="CN")  # fmt: skip
    assert (bare.history, bare.conmeds, bare.tests, bare.death) == ((), (), (), None)
    assert (bare.hospital_admission, bare.hospital_discharge) == (None, None)
    assert bare.version == 3 and not bare.initial and bare.report_id == bare.case_id
    # the study's condition (ClinicalTrials.gov conditionsModule of NCT04660565)
    assert {d.indication for d in bare.drugs} == {"IgG4-related Disease"}
    assert {(d.dechallenge, d.rechallenge) for d in bare.drugs} == {(None, None)}
    with write_session(world.engine) as s:
        s.add(SaeCase(
            event_id=ev, study_id=world.study_id, reporter_name="Dr Li Wei",
            reporter_qualification="2", reporter_country="HK", reporter_contact="li@example.org",
            hosp_admit_date="2021-03-02", hosp_discharge_date="2021-03-12",
            death_date=None, death_cause="pneumonia", autopsy="N", autopsy_cause=None,
            medical_history=[{"term": "IgG4-related pancreatitis", "start": "2019-05",
                              "ongoing": True},
                             {"term": "appendectomy", "start": None, "ongoing": None}],
            conmeds=[{"name": "omeprazole", "dose": 20, "unit": "mg", "route": "oral",
                      "start": "2020-01-10", "stop": None, "indication": "gastric protection"}],
            tests=[{"name": "CRP", "date": "2021-03-02", "value": "85", "unit": "mg/L",
                    "low": "0", "high": "8"}],
            dechallenge={"belimumab": "yes", "prednisone": "na"},
            rechallenge={"belimumab": "unknown"},
            updated_at=LATER,
        ))  # fmt: skip
    with read_session(world.engine) as s:
        case = build_case(s, ev)
    assert case.reporter == Reporter(name="Dr Li Wei", qualification="2",
                                     organisation=site, country="HK",
                                     contact="li@example.org")  # fmt: skip
    assert (case.hospital_admission, case.hospital_discharge) == ("2021-03-02", "2021-03-12")
    assert case.history == (HistoryItem("IgG4-related pancreatitis", "2019-05", True),
                            HistoryItem("appendectomy", None, None))  # fmt: skip
    assert case.conmeds == (
        ConMed("omeprazole", 20.0, "mg", "oral", "2020-01-10", None, "gastric protection"),
    )
    assert case.tests == (LabTest("CRP", "2021-03-02", "85", "mg/L", "0", "8"),)
    assert case.death == Death(date=None, cause="pneumonia", autopsy="N", autopsy_cause=None)
    by_key = {d.key: d for d in case.drugs}
    assert (by_key["belimumab"].dechallenge, by_key["belimumab"].rechallenge) == ("yes", "unknown")
    assert (by_key["prednisone"].dechallenge, by_key["prednisone"].rechallenge) == ("na", None)
    assert case.version == 1 and case.initial
    # C.1.5 most recent information: the case data changed after the event
    assert bare.most_recent < LATER.date() and case.most_recent == LATER.date()


def test_country_codes() -> None:
    assert country_code("China") == "CN" and country_code("cn") == "CN"
    assert country_code("Atlantis") is None and country_code(None) is None
