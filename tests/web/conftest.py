"""Shared web fixtures: the app on a fresh database with the demo study, two sites and one
user (with an API token) per role.

Users: ``inv1`` (investigator at site 01), ``inv2`` (investigator at site 02), ``officer``,
``dsmb``, ``admin``. They have no password (argon2 is slow); tests that log in through the
form set one themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

import pv.demo
from pv.app import create_app
from pv.audit.service import Actor
from pv.auth.models import User
from pv.auth.service import actor_for, create_user, issue_token, set_password
from pv.db import write_session
from pv.events.rules import EventInput
from pv.events.service import create_event
from pv.settings import Settings
from pv.study.ctgov import parse_ctgov
from pv.study.models import Arm, Site
from pv.study.service import add_site, add_subject, import_ctgov

DEMO_RECORD = Path(pv.demo.__file__).parent / "NCT04660565.json"
ROLES = {"inv1": "investigator", "inv2": "investigator", "officer": "officer",
         "dsmb": "dsmb", "admin": "admin"}  # fmt: skip


@dataclass
class AppEnv:
    app: FastAPI
    engine: Engine
    client: TestClient
    study_id: str
    site1: Site  # code "01", from the ClinicalTrials.gov record
    site2: Site  # code "02", added
    arms: dict[str, Arm]  # by arm code: "PRED", "BELI+PRED"
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        """Authorization header for one of the users (see ROLES)."""
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def app_env(engine: Engine, db_url: str) -> Iterator[AppEnv]:
    system = Actor.system("tests")
    with write_session(engine) as session:
        study, _ = import_ctgov(
            session=session,
            actor=system,
            spec=parse_ctgov(json.loads(DEMO_RECORD.read_text("utf-8"))),
        )
        site1 = session.exec(select(Site).where(Site.study_id == study.id)).one()
        site2 = add_site(session=session, actor=system, study_id=study.id, code="02",
                         name="Second Site Hospital", city="Shanghai", country="China")  # fmt: skip
        arms = {a.code: a for a in session.exec(select(Arm).where(Arm.study_id == study.id))}
        users, tokens = {}, {}
        for name, role in ROLES.items():
            sites = {"inv1": [site1], "inv2": [site2]}.get(name)
            user = create_user(session=session, actor=system, username=name, role=role,
                               sites=sites, full_name=name.title())  # fmt: skip
            users[name] = user
            tokens[name] = issue_token(session=session, actor=system, user=user)
        study_id = study.id
    # Uploads run in a thread here (fast to start); the live-server tests use the default
    # worker process.
    app = create_app(Settings(database_url=db_url, upload_worker="thread"), engine)
    with TestClient(app) as client:
        yield AppEnv(app=app, engine=engine, client=client, study_id=study_id, site1=site1,
                     site2=site2, arms=arms, users=users, tokens=tokens)  # fmt: skip


# --- Logged-in browser sessions (page tests) ----------------------------------------------
from tests.web.webhelpers import IRR, PASSWORD, _input  # noqa: E402


@pytest.fixture
def world(app_env):  # noqa: D401
    """One subject with one submitted event at each site."""
    env = app_env
    with write_session(env.engine) as s:
        for name in ("inv1", "inv2", "officer", "dsmb", "admin"):
            set_password(
                session=s,
                actor=actor_for(env.users[name]),
                user=s.get(User, env.users[name].id),
                password=PASSWORD,
            )
            # a password change revokes the user's tokens (issue 13): issue new ones
            env.tokens[name] = issue_token(session=s, actor=actor_for(env.users[name]),
                                           user=s.get(User, env.users[name].id))  # fmt: skip
        ids = {}
        for key, site in (("own", env.site1), ("other", env.site2)):
            subj = add_subject(
                session=s,
                actor=actor_for(env.users["admin"]),
                study_id=env.study_id,
                site=site,
                subjid=f"{key}-1",
                arm=env.arms["BELI+PRED"],
                weight_kg=70,
                consent_date=date(2021, 1, 5),
            )
            ev, _ = create_event(
                session=s,
                actor=actor_for(env.users["admin"]),
                subject=subj,
                data=EventInput(**_input(IRR)),
                submit=True,
            )
            ids[key] = (subj.id, ev.id, subj.usubjid)
    env.ids = ids
    return env
