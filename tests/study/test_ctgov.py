"""Importing a study from a ClinicalTrials.gov API v2 record."""

from __future__ import annotations

import copy
import json

import pytest
from sqlmodel import select

from pv.audit.service import Actor
from pv.db import read_session, write_session
from pv.demo import RECORD_PATH
from pv.study.ctgov import RecordError, parse_ctgov
from pv.study.models import Arm, ArmDrug, Drug, Site, Study
from pv.study.service import import_ctgov

RECORD = json.loads(RECORD_PATH.read_text(encoding="utf-8"))
ACTOR = Actor.system("test")


def _import(engine, record):
    with write_session(engine) as s:
        study, created = import_ctgov(session=s, actor=ACTOR, spec=parse_ctgov(record))
        return study.id, created


def test_it_imports_the_reference_trial(engine):
    study_id, created = _import(engine, RECORD)
    assert (study_id, created) == ("NCT04660565", True)
    with read_session(engine) as s:
        study = s.get(Study, "NCT04660565")
        assert study.title == "Belimumab Treatment for IgG4-related Disease"
        assert study.enrollment == 60 and study.phase == "PHASE4"
        assert (study.min_age_years, study.max_age_years) == (18.0, 75.0)
        # conditionsModule.conditions: the study drugs' indication in expedited reports
        assert study.conditions == "IgG4-related Disease"
        arms = {a.label: a for a in s.exec(select(Arm))}
        assert set(arms) == {"Glucocorticoid monotherapy Group", "Combination therapy Group"}
        # Both arms are typed EXPERIMENTAL in the record: the comparator is the arm whose
        # study drugs are a strict subset of the other's (prednisone alone).
        assert arms["Glucocorticoid monotherapy Group"].is_control
        assert not arms["Combination therapy Group"].is_control
        drugs = {d.id: d.key for d in s.exec(select(Drug))}
        assert sorted(drugs.values()) == ["belimumab", "prednisone"]
        combo = arms["Combination therapy Group"].id
        linked = {
            drugs[link.drug_id] for link in s.exec(select(ArmDrug).where(ArmDrug.arm_id == combo))
        }
        assert linked == {"belimumab", "prednisone"}
        sites = s.exec(select(Site)).all()
        assert [(x.code, x.name, x.city) for x in sites] == [
            ("01", "Peking Union Medical College Hospital", "Beijing")
        ]


def test_it_updates_instead_of_duplicating_on_reimport(engine):
    _import(engine, RECORD)
    changed = copy.deepcopy(RECORD)
    changed["protocolSection"]["identificationModule"]["briefTitle"] = "Belimumab in IgG4-RD (v2)"
    changed["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 64
    study_id, created = _import(engine, changed)
    assert not created
    with read_session(engine) as s:
        assert len(s.exec(select(Study)).all()) == 1
        assert len(s.exec(select(Arm)).all()) == 2
        assert len(s.exec(select(Drug)).all()) == 2
        assert len(s.exec(select(Site)).all()) == 1
        study = s.get(Study, study_id)
        assert (study.title, study.enrollment) == ("Belimumab in IgG4-RD (v2)", 64)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda r: r["protocolSection"]["identificationModule"].pop("nctId"),
            "protocolSection.identificationModule.nctId: missing",
        ),
        (
            lambda r: r["protocolSection"]["identificationModule"].update(nctId="NCT123"),
            "protocolSection.identificationModule.nctId",
        ),
        (
            lambda r: r["protocolSection"]["armsInterventionsModule"].update(armGroups="two arms"),
            "protocolSection.armsInterventionsModule.armGroups: expected a list",
        ),
        (
            lambda r: r["protocolSection"]["armsInterventionsModule"]["armGroups"][1].pop("label"),
            "protocolSection.armsInterventionsModule.armGroups[1].label: missing",
        ),
        (
            lambda r: r["protocolSection"]["eligibilityModule"].update(minimumAge="eighteen"),
            "protocolSection.eligibilityModule.minimumAge",
        ),
        (
            lambda r: r["protocolSection"]["armsInterventionsModule"]["armGroups"][0].update(
                interventionNames=["Drug: Aspirin"]
            ),
            "armGroups[0].interventionNames: 'Aspirin' is not among the interventions",
        ),
        (
            lambda r: r["protocolSection"]["designModule"]["enrollmentInfo"].update(count="sixty"),
            "protocolSection.designModule.enrollmentInfo.count: expected a whole number",
        ),
    ],
)
def test_it_names_the_field_of_a_malformed_record(mutate, field):
    record = copy.deepcopy(RECORD)
    mutate(record)
    with pytest.raises(RecordError) as exc:
        parse_ctgov(record)
    assert any(field in p for p in exc.value.problems), exc.value.problems


def test_it_refuses_a_record_that_is_not_an_object():
    with pytest.raises(RecordError):
        parse_ctgov([1, 2])


def test_it_stores_nothing_from_a_malformed_record(engine):
    record = copy.deepcopy(RECORD)
    record["protocolSection"]["identificationModule"]["briefTitle"] = ""
    with pytest.raises(RecordError):
        _import(engine, record)
    with read_session(engine) as s:
        assert s.exec(select(Study)).all() == []


def test_cli_import_reports_the_field(tmp_path, db_url, monkeypatch, capsys):
    from pv.cli import main
    from pv.db import _engines
    from tests.cli.actors import seed_admin

    monkeypatch.setenv("PV_DATABASE_URL", db_url)
    monkeypatch.setenv("PV_ACTOR", seed_admin(db_url))  # study import is an admin's
    from pv.settings import get_settings

    get_settings.cache_clear()
    bad = copy.deepcopy(RECORD)
    del bad["protocolSection"]["identificationModule"]["briefTitle"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    try:
        assert main(["study", "import", str(path)]) == 2
        assert "identificationModule.briefTitle: missing" in capsys.readouterr().err
        good = tmp_path / "good.json"
        good.write_text(json.dumps(RECORD))
        assert main(["study", "import", str(good)]) == 0
        assert main(["study", "import", str(good)]) == 0
        assert "updated study NCT04660565" in capsys.readouterr().out
    finally:
        get_settings.cache_clear()
        _engines.pop(db_url, None)
