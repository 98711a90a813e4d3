"""A study with two sites, one user per role (two officers), and helpers to report events.

Users: inv1 (investigator, site 01), inv2 (investigator, site 02), officer, officer2,
admin, dsmb. Events are created through the events service, as a site would.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

import pv.demo
from pv.audit.service import Actor
from pv.auth.models import User
from pv.auth.passwords import hash_password
from pv.auth.service import actor_for, create_user
from pv.db import read_session, write_session
from pv.events.models import AdverseEvent
from pv.events.rules import EventInput
from pv.events.service import create_event
from pv.study.ctgov import parse_ctgov
from pv.study.models import Arm, Drug, Site
from pv.study.service import add_site, add_subject, import_ctgov

DEMO_RECORD = Path(pv.demo.__file__).parent / "NCT04660565.json"
USERS = {
    "inv1": "investigator",
    "inv2": "investigator",
    "officer": "officer",
    "officer2": "officer",
    "admin": "admin",
    "dsmb": "dsmb",
}
# Every user's password: review acts are signed with it (pv.review.signing). Hashed once
# here (argon2 is slow); the signature service verifies it as at log-in.
PASSWORD = "amber quay 47 lanterns"
PASSWORD_HASH = hash_password(PASSWORD)
SEPSIS, LUNG, HEADACHE, IRR, SHINGLES = "10040047", "10061229", "10019211", "10051792", "10040555"

SERIOUS_PNEUMONIA = dict(
    aeterm="pneumonia",
    aelltcd=LUNG,
    aetoxgr=3,
    aeser=True,
    aeshosp=True,
    aerel={"belimumab": "POSSIBLY RELATED", "prednisone": "POSSIBLY RELATED"},
    aeacn={"belimumab": "DRUG INTERRUPTED", "prednisone": "DOSE NOT CHANGED"},
    aeout="RECOVERED/RESOLVED",
    aestdtc="2021-03-02",
    aeendtc="2021-03-20",
    narrative="Admitted for intravenous antibiotics.",
    aeawaredtc="2021-03-02",
)
FATAL_SEPSIS = dict(
    aeterm="septic shock",
    aelltcd=SEPSIS,
    aetoxgr=5,
    aeser=True,
    aesdth=True,
    aeslife=True,
    aeshosp=True,
    aerel={"belimumab": "UNLIKELY RELATED", "prednisone": "POSSIBLY RELATED"},
    aeacn={"belimumab": "DRUG WITHDRAWN", "prednisone": "DRUG WITHDRAWN"},
    aeout="FATAL",
    aestdtc="2021-05-01",
    aeendtc="2021-05-06",
    narrative="Died of septic shock.",
    aeawaredtc="2021-05-01",
)
MILD_HEADACHE = dict(
    aeterm="headache",
    aelltcd=HEADACHE,
    aetoxgr=1,
    aeser=False,
    aerel={"belimumab": "NOT RELATED", "prednisone": "NOT RELATED"},
    aeout="RECOVERED/RESOLVED",
    aestdtc="2021-02-01",
    aeendtc="2021-02-02",
)


@dataclass
class World:
    engine: Engine
    study_id: str
    sites: dict[str, Site]
    arms: dict[str, Arm]
    drugs: dict[str, Drug]
    users: dict[str, User] = field(default_factory=dict)
    _n: itertools.count = field(default_factory=lambda: itertools.count(1))

    def actor(self, name: str) -> Actor:
        return actor_for(self.users[name])

    def report(
        self,
        fields: dict[str, Any],
        *,
        site: str = "01",
        arm: str = "BELI+PRED",
        submit: bool = True,
        **changes: Any,
    ) -> int:
        """A new subject at `site` with one event; returns the event id."""
        with write_session(self.engine) as s:
            subject = add_subject(
                session=s,
                actor=Actor.system("tests"),
                study_id=self.study_id,
                site=self.sites[site],
                subjid=f"S{next(self._n):04d}",
                arm=self.arms[arm],
                consent_date=date(2021, 1, 4),
            )
            inv = self.actor("inv1" if site == "01" else "inv2")
            values = {**fields, **changes}
            if arm == "PRED":  # monotherapy: no belimumab answers
                for name in ("aerel", "aeacn"):
                    values[name] = {
                        k: v for k, v in values.get(name, {}).items() if k != "belimumab"
                    }
            event, _ = create_event(
                session=s, actor=inv, subject=subject, data=EventInput(**values), submit=submit
            )
            return event.id  # type: ignore[return-value]

    def event(self, event_id: int) -> AdverseEvent:
        with read_session(self.engine) as s:
            event = s.get(AdverseEvent, event_id)
            assert event is not None
            return event


@pytest.fixture
def world(engine: Engine) -> World:
    system = Actor.system("tests")
    with write_session(engine) as s:
        spec = parse_ctgov(json.loads(DEMO_RECORD.read_text("utf-8")))
        study, _ = import_ctgov(session=s, actor=system, spec=spec)
        site1 = s.exec(select(Site).where(Site.study_id == study.id)).one()
        site2 = add_site(session=s, actor=system, study_id=study.id, code="02", name="Second")
        arms = {a.code: a for a in s.exec(select(Arm).where(Arm.study_id == study.id))}
        drugs = {d.key: d for d in s.exec(select(Drug).where(Drug.study_id == study.id))}
        users = {}
        for name, role in USERS.items():
            sites = {"inv1": [site1], "inv2": [site2]}.get(name)
            users[name] = create_user(
                session=s, actor=system, username=name, role=role, sites=sites
            )
            users[name].password_hash = PASSWORD_HASH
        return World(engine, study.id, {"01": site1, "02": site2}, arms, drugs, users)
