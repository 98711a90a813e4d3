"""SDTM export of a blinded study for a user who may not see arms: ARM/ARMCD masked, and a
study drug given in only some arms (it would reveal the arm) named "Blinded" in EX."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlmodel import select

from pv.audit.service import Actor
from pv.blinding.service import set_blinded
from pv.db import write_session
from pv.exports.sdtm import domains
from pv.exposure.models import Exposure
from pv.study.ctgov import parse_ctgov
from pv.study.models import Arm, Drug, Site
from pv.study.service import add_subject, import_ctgov
from tests.blinding.conftest import DEMO_RECORD

STUDY = "NCT04660565"


def test_ex_masks_a_drug_of_one_arm_only(engine) -> None:
    system = Actor.system("tests")
    with write_session(engine) as s:
        import_ctgov(session=s, actor=system,
                     spec=parse_ctgov(json.loads(DEMO_RECORD.read_text("utf-8"))))  # fmt: skip
        set_blinded(session=s, actor=system, study_id=STUDY, blinded=True)
        site = s.exec(select(Site).where(Site.study_id == STUDY)).one()
        arms = {a.code: a for a in s.exec(select(Arm).where(Arm.study_id == STUDY))}
        drugs = {d.name: d for d in s.exec(select(Drug).where(Drug.study_id == STUDY))}
        for n, (code, given) in enumerate(
            (("BELI+PRED", ("Belimumab", "Prednisone")), ("PRED", ("Prednisone",)))
        ):
            subject = add_subject(session=s, actor=system, study_id=STUDY, site=site,
                                  subjid=f"S{n}", arm=arms[code],
                                  consent_date=date(2021, 1, 1))  # fmt: skip
            for name in given:
                s.add(Exposure(subject_id=subject.id, drug_id=drugs[name].id, dose=10,
                               unit="mg", dose_mg=10, start=datetime(2021, 1, 10)))  # fmt: skip
    with engine.connect() as conn:
        masked = domains(conn, STUDY, mask_arms=True)
        shown = domains(conn, STUDY)
    assert sorted(shown["EX"]["EXTRT"]) == ["Belimumab", "Prednisone", "Prednisone"]
    assert sorted(masked["EX"]["EXTRT"]) == ["Blinded", "Prednisone", "Prednisone"]
    assert set(shown["DM"]["ARMCD"]) == {"BELI+PRED", "PRED"}
    assert set(masked["DM"]["ARMCD"]) == set(masked["DM"]["ACTARMCD"]) == {"BLINDED"}
    assert set(masked["DM"]["ARM"]) == {"Blinded"}
    text = masked["DM"].to_csv() + masked["EX"].to_csv() + masked["AE"].to_csv()
    for arm in arms.values():
        assert arm.label not in text
