"""build_case gathers a serious event's case from the database: checked against the demo's
assessed SUSARs, read independently here from the same tables."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from pv.db import read_session
from pv.demo.generate import build_demo
from pv.events.models import AdverseEvent
from pv.exposure.models import Exposure
from pv.icsr.build import CaseError, build_case, country_code
from pv.review.models import Assessment
from pv.study.models import Drug, Subject


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
    assert case.report_id.startswith(case.case_id + "-V") and case.version >= 1
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


def test_country_codes() -> None:
    assert country_code("China") == "CN" and country_code("cn") == "CN"
    assert country_code("Atlantis") is None and country_code(None) is None
