"""Fixtures for the spreadsheet-upload tests: the demo study with two sites and subjects."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

import pv.demo
from pv.audit.service import Actor
from pv.db import write_session
from pv.study.ctgov import parse_ctgov
from pv.study.models import Arm, Site
from pv.study.service import add_site, add_subject, import_ctgov

DEMO_RECORD = Path(pv.demo.__file__).parent / "NCT04660565.json"
# Site 01 subject ids chosen to trip type guessing: kept as text, never 12 / 7 / 100000 / NaN.
SITE1_SUBJECTS = ("0012", "12", "007", "1E5", "NA")


@dataclass
class UploadStudy:
    engine: Engine
    study_id: str
    site1_id: int
    site2_id: int
    usubjid: dict[str, str]  # subjid -> USUBJID ("0012" -> "NCT04660565-01-0012")
    other_site: str  # a USUBJID at site 02

    def subject(self, subjid: str) -> str:
        return self.usubjid[subjid]


@pytest.fixture
def upload_study(engine: Engine) -> UploadStudy:
    """NCT04660565 (arms PRED and BELI+PRED), site 01 from the record and site 02 added;
    site 01 subjects of SITE1_SUBJECTS in the combination arm (belimumab + prednisone),
    consented 2021-01-01, and one subject "0099" at site 02."""
    actor = Actor.system("tests")
    with write_session(engine) as s:
        spec = parse_ctgov(json.loads(DEMO_RECORD.read_text("utf-8")))
        study, _ = import_ctgov(session=s, actor=actor, spec=spec)
        site1 = s.exec(select(Site).where(Site.study_id == study.id)).one()
        site2 = add_site(session=s, actor=actor, study_id=study.id, code="02",
                         name="Second Site Hospital")  # fmt: skip
        arms = {a.code: a for a in s.exec(select(Arm).where(Arm.study_id == study.id))}
        combo = arms["BELI+PRED"]
        usubjid = {}
        for subjid in SITE1_SUBJECTS:
            subj = add_subject(session=s, actor=actor, study_id=study.id, site=site1,
                               subjid=subjid, arm=combo, consent_date=date(2021, 1, 1))  # fmt: skip
            usubjid[subjid] = subj.usubjid
        other = add_subject(session=s, actor=actor, study_id=study.id, site=site2,
                            subjid="0099", arm=combo, consent_date=date(2021, 1, 1))  # fmt: skip
        return UploadStudy(engine=engine, study_id=study.id, site1_id=site1.id,  # type: ignore[arg-type]
                           site2_id=site2.id, usubjid=usubjid,  # type: ignore[arg-type]
                           other_site=other.usubjid)  # fmt: skip
