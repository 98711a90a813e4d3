"""A blinded study beside the open-label demo study, and one user per role with and
without the unblinded permission.

The blinded study is the demo record made double-blind: two arms with distinctive labels
and codes (so that finding one in a page is never an accident) and the same study drugs
(the investigational drug or its matching placebo, and prednisone), as a double-blind
trial has. Site 01 has one subject in each arm, each with a submitted serious event.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

import pv.demo
from pv.app import create_app
from pv.audit.service import Actor
from pv.auth.service import create_user, issue_token
from pv.blinding.service import set_permission
from pv.db import write_session
from pv.events.rules import EventInput
from pv.events.service import create_event
from pv.exposure.service import add_exposure
from pv.settings import Settings
from pv.study.ctgov import parse_ctgov
from pv.study.models import Arm, Drug, Site
from pv.study.service import add_subject, import_ctgov

DEMO_RECORD = Path(pv.demo.__file__).parent / "NCT04660565.json"
BLIND_ID = "NCT09990017"
PASSWORD = "correct horse battery"
# Distinctive arm labels and codes of the blinded study.
ARM_LABELS = ("Zephyrine Verum Cohort", "Quorvalent Sham Cohort")
ARM_CODES = ("ZVX77ACT", "QSH77PBO")
SECRETS = ARM_LABELS + ARM_CODES
DRUG = "Zephyrine or matching placebo"
ROLES = {"investigator": "investigator", "officer": "officer", "dsmb": "dsmb", "admin": "admin"}
# Every role without (name) and with (name + "_u") the unblinded permission.
USERS = {**ROLES, **{f"{n}_u": r for n, r in ROLES.items()}}


def blinded_record() -> dict:
    record = copy.deepcopy(json.loads(DEMO_RECORD.read_text("utf-8")))
    p = record["protocolSection"]
    p["identificationModule"]["nctId"] = BLIND_ID
    p["identificationModule"]["briefTitle"] = "A double-blind trial of zephyrine"
    p["designModule"]["designInfo"]["maskingInfo"] = {
        "masking": "DOUBLE",
        "whoMasked": ["PARTICIPANT", "INVESTIGATOR"],
    }
    p["armsInterventionsModule"] = {
        "armGroups": [
            {"label": ARM_LABELS[0], "type": "EXPERIMENTAL", "description": "active drug",
             "interventionNames": [f"Drug: {DRUG}", "Drug: Prednisone"]},
            {"label": ARM_LABELS[1], "type": "PLACEBO_COMPARATOR", "description": "placebo",
             "interventionNames": [f"Drug: {DRUG}", "Drug: Prednisone"]},
        ],
        "interventions": [
            {"type": "DRUG", "name": DRUG, "armGroupLabels": list(ARM_LABELS)},
            {"type": "DRUG", "name": "Prednisone", "armGroupLabels": list(ARM_LABELS)},
        ],
    }  # fmt: skip
    return record


SERIOUS = {
    "aeterm": "pneumonia needing admission",
    "aelltcd": "10061229",
    "aetoxgr": 3,
    "aeser": True,
    "aeshosp": True,
    "aestdtc": "2021-03-02",
    "aeendtc": "2021-03-20",
    "aeawaredtc": "2021-03-03",
    "aeout": "RECOVERED/RESOLVED",
    "narrative": "Admitted with pneumonia; recovered.",
}


@dataclass
class BlindEnv:
    engine: Engine
    client: TestClient
    app: object
    site: Site
    subjects: dict[str, tuple[int, str]] = field(default_factory=dict)  # arm code -> (id, usubjid)
    events: dict[str, int] = field(default_factory=dict)  # arm code -> event id
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)

    def api(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def blind(engine: Engine, db_url: str):
    system = Actor.system("tests")
    env_subjects, env_events, tokens, user_ids = {}, {}, {}, {}
    with write_session(engine) as s:
        import_ctgov(session=s, actor=system,
                     spec=parse_ctgov(json.loads(DEMO_RECORD.read_text("utf-8"))))  # fmt: skip
        study, _ = import_ctgov(session=s, actor=system, spec=parse_ctgov(blinded_record()))
        assert study.blinded
        arms = {a.label: a for a in s.exec(select(Arm).where(Arm.study_id == BLIND_ID))}
        for label, code in zip(ARM_LABELS, ARM_CODES, strict=True):
            arms[label].code = code  # distinctive codes (the derived ones are drug-based)
            s.add(arms[label])
        s.flush()
        site = s.exec(select(Site).where(Site.study_id == BLIND_ID)).one()
        for name, role in USERS.items():
            user = create_user(session=s, actor=system, username=name, role=role,
                               password=PASSWORD, full_name=f"{name.title()} Tester",
                               sites=[site] if role == "investigator" else None)  # fmt: skip
            if name.endswith("_u"):
                set_permission(session=s, actor=system, username=name, granted=True)
            tokens[name] = issue_token(session=s, actor=system, user=user)
            user_ids[name] = user.id
        for i, (label, code) in enumerate(zip(ARM_LABELS, ARM_CODES, strict=True)):
            subject = add_subject(session=s, actor=system, study_id=BLIND_ID, site=site,
                                  subjid=f"B{i + 1:03d}", arm=arms[label], sex="F", age=40,
                                  consent_date=date(2021, 1, 5),
                                  randomization_date=date(2021, 1, 6))  # fmt: skip
            drugs = list(s.exec(select(Drug).where(Drug.study_id == BLIND_ID)))
            keys = {d.key for d in drugs}
            # dosed: the subject is in the safety population of the tables
            pred = next(d for d in drugs if d.name == "Prednisone")
            add_exposure(session=s, actor=system, subject=subject, drug=pred, dose=30,
                         unit="mg", start=datetime(2021, 1, 7, 9, 0, tzinfo=UTC),
                         end=datetime(2021, 4, 7, 9, 0, tzinfo=UTC),
                         frequency="QD")  # fmt: skip
            event, _ = create_event(session=s, actor=system, subject=subject,
                                    data=EventInput(**SERIOUS, aerel={k: "POSSIBLY RELATED"
                                                                      for k in keys}),
                                    submit=True)  # fmt: skip
            env_subjects[code] = (subject.id, subject.usubjid)
            env_events[code] = event.id
        site_row = site
    app = create_app(Settings(database_url=db_url, upload_worker="thread"), engine)
    with TestClient(app) as client:
        yield BlindEnv(engine=engine, client=client, app=app, site=site_row,
                       subjects=env_subjects, events=env_events, tokens=tokens,
                       user_ids=user_ids)  # fmt: skip


def found_secrets(text: str) -> list[str]:
    """The blinded study's arm labels and codes found in `text` (any case)."""
    low = text.lower()
    return [x for x in SECRETS if x.lower() in low]
