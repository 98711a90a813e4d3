"""Helpers for the operations tests: empty databases, a seeded study, table comparison."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel, select

import pv.models  # noqa: F401  (every table in SQLModel.metadata)
from pv.audit.service import Actor
from pv.db import write_session
from pv.study.ctgov import parse_ctgov
from pv.study.models import Arm, Site, Subject
from pv.study.service import add_subject, import_ctgov
from tests.conftest import PG_URL, _pg_admin, _pg_drop

DEMO_RECORD = Path(__file__).resolve().parents[2] / "pv" / "demo" / "NCT04660565.json"


@pytest.fixture
def empty_db_url(tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A factory of URLs of brand-new, EMPTY databases (no tables at all)."""
    made: list[str] = []

    def make() -> str:
        if not PG_URL:
            return f"sqlite:///{tmp_path / f'empty_{uuid.uuid4().hex[:8]}.sqlite'}"
        name = f"pvt_empty_{uuid.uuid4().hex[:10]}"
        _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
        made.append(name)
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    for name in made:
        _pg_drop(name)


def seed_subject(engine: Engine, subjid: str = "1001") -> Subject:
    """The demo study and one subject in the combination arm, created through the services."""
    system = Actor.system("tests")
    with write_session(engine) as s:
        study, _ = import_ctgov(
            session=s,
            actor=system,
            spec=parse_ctgov(json.loads(DEMO_RECORD.read_text("utf-8"))),
        )
        site = s.exec(select(Site).where(Site.study_id == study.id)).first()
        arm = s.exec(select(Arm).where(Arm.study_id == study.id, Arm.code == "BELI+PRED")).one()
        return add_subject(
            session=s, actor=system, study_id=study.id, site=site, subjid=subjid,
            arm=arm, weight_kg=70, consent_date=date(2021, 1, 5),
        )  # fmt: skip


def dump_tables(engine: Engine) -> dict[str, list[tuple]]:
    """All rows of every table of the models, ordered by primary key."""
    out: dict[str, list[tuple]] = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            stmt = sa_select(table).order_by(*table.primary_key.columns)
            out[table.name] = [tuple(row) for row in conn.execute(stmt)]
    return out
