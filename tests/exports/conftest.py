"""Export fixtures: the demo trial plus hostile and awkward events, once per test module,
and its three DSMB workbooks (closed, closed with coded arms, open with patient listings)
read back.

The extra events go through `pv.events.service.create_event`, the one write path:
spreadsheet-formula triggers in every free-text field (verbatim term, treatment given,
narrative), text with an inner CR and a control character XML cannot carry, an event
before the first dose (negative study day), one with a partial onset date, one after
the cut-off and a draft (neither is in scope).
"""

from __future__ import annotations

import io
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.workbook import Workbook
from PIL import Image
from sqlalchemy import create_engine, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from pv.audit.service import Actor
from pv.db import make_engine, write_session
from pv.demo.generate import build_demo
from pv.events.models import AdverseEvent
from pv.events.rules import EventInput
from pv.events.service import create_event, subject_drugs
from pv.exports.workbook import build_dsmb_workbook
from pv.exposure.models import Exposure
from pv.inputs import field_text_problem
from pv.study.models import Arm, Subject

PG_URL = os.environ.get("PV_TEST_DATABASE_URL", "")
STUDY = "NCT04660565"
CUTOFF = date(2021, 12, 31)
URTI = "10046300"  # CTCAE: Upper respiratory infection (grades 1-5)
TRIGGERS = (
    "=1+1",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\tx",
    "\rx",
    "\n=x",
    '=HYPERLINK("http://example.com","click")',
)
CR_TEXT = "line one\rline two"
BAD_CHAR_TEXT = "bell\x07char"


@dataclass
class Demo:
    engine: Engine
    url: str
    arms: dict[str, str]  # label -> code
    injected: list[int] = field(default_factory=list)  # events with trigger texts
    early: int = 0  # onset before the first dose
    partial: int = 0  # onset "YYYY-MM"
    late: int = 0  # onset after the cut-off
    draft: int = 0


def _database(template: str, tmp_path_factory: pytest.TempPathFactory, tag: str) -> str:
    if PG_URL:
        name = f"pvt_{tag}_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        admin.dispose()
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    path = tmp_path_factory.mktemp(tag) / f"{tag}.sqlite"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def _drop(url: str) -> None:
    """Drop the module's database. Without superuser rights, FORCE cannot end a background
    worker of the server (autovacuum) that is in the database at that moment: retry, and
    leave it behind rather than fail tests that passed (as tests/conftest.py _pg_drop)."""
    if not PG_URL:
        return
    for attempt in range(10):
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(
                    text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
                )
            return
        except DBAPIError:
            time.sleep(0.2 * (attempt + 1))
        finally:
            admin.dispose()


def _add_events(engine: Engine, demo: Demo) -> None:
    actor = Actor.system("test")
    with write_session(engine) as s:
        subject = s.exec(
            select(Subject).where(Subject.study_id == STUDY).order_by(Subject.id)
        ).first()
        assert subject is not None
        first = min(
            e.start for e in s.exec(select(Exposure).where(Exposure.subject_id == subject.id))
        )
        drugs = subject_drugs(s, subject)
        rel = {d.key: "NOT RELATED" for d in drugs}
        acn = {d.key: "DOSE NOT CHANGED" for d in drugs}

        def add(
            day: int | str,
            term: str,
            *,
            contrt: str | None = None,
            story: str | None = None,
            submit: bool = True,
        ) -> int:
            onset = (
                day if isinstance(day, str) else (first + timedelta(days=day)).date().isoformat()
            )
            serious = story is not None
            texts = {"aeterm": term, "aecontrt": contrt, "narrative": story}
            # Control characters ("\rx", "bell\x07char") are refused at entry (pv.inputs),
            # but an SDTM import stores a sponsor's text as delivered: such texts are written
            # straight to the row, as the import would, for the export to defend against.
            raw = {k: v for k, v in texts.items() if v and field_text_problem(k, v)}
            data = EventInput(
                aeterm="(imported text)" if "aeterm" in raw else term,
                aelltcd=URTI,
                aetoxgr=3 if serious else 2,
                aeser=serious,
                aeshosp=serious,
                aerel=rel,
                aeacn=acn,
                aeout="RECOVERED/RESOLVED",
                aestdtc=onset,
                aecontrt=None if "aecontrt" in raw else contrt,
                narrative="(imported text)" if "narrative" in raw else story,
                aeawaredtc=onset if serious else None,
            )
            event, _ = create_event(
                session=s, actor=actor, subject=subject, data=data, submit=submit,
                confirm_before_consent=True,  # "early" is before the first dose on purpose
            )  # fmt: skip
            if raw:
                s.flush()
                s.execute(update(AdverseEvent).where(AdverseEvent.id == event.id).values(**raw))
            return int(event.id)  # type: ignore[arg-type]

        for i, trigger in enumerate(TRIGGERS):
            demo.injected.append(add(20 + i, trigger, contrt=trigger, story=trigger))
        demo.injected.append(add(30, CR_TEXT, contrt=BAD_CHAR_TEXT, story=CR_TEXT))
        demo.early = add(-3, "sore throat before the first dose")
        demo.partial = add((first + timedelta(days=70)).strftime("%Y-%m"), "sniffles, date unsure")
        demo.late = add((CUTOFF + timedelta(days=20)).isoformat(), "after the cut-off")
        demo.draft = add(40, "a draft", submit=False)


@pytest.fixture(scope="module")
def demo(_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    url = _database(_template, tmp_path_factory, "exports")
    engine = make_engine(url)
    build_demo(engine, seed=42)
    with engine.connect() as conn:
        arms = dict(conn.execute(select(Arm.label, Arm.code).where(Arm.study_id == STUDY)).all())
    found = Demo(engine=engine, url=url, arms=arms)
    _add_events(engine, found)
    yield found
    engine.dispose()
    _drop(url)


def tiny_png(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(out, format="PNG")
    return out.getvalue()


# Three chart images; "subject_timeline" exists only by arm (pv.charts.CHARTS).
CHART_IMAGES = {
    "aesi_forest": tiny_png("red"),
    "km_infection": tiny_png("blue"),
    "subject_timeline": tiny_png("green"),
}


LISTINGS = ("All AEs", "SAEs", "Deaths")
HEADER_ROW = 4  # title, subtitle, blank, header


@pytest.fixture(scope="module")
def books(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Workbook]]:
    out = {}
    for name, session, mask in (
        ("closed", "closed", False),
        ("masked", "closed", True),
        ("open", "open", False),
    ):
        path = tmp_path_factory.mktemp("wb") / f"{name}.xlsx"
        build_dsmb_workbook(
            demo.engine,
            study_id=STUDY,
            cutoff=CUTOFF,
            session=session,
            mask_arms=mask,
            out=path,
            charts=CHART_IMAGES,
            # The open session with its patient listings (a charter that allows them), so
            # that what they show is checked; without them: tests/exports/test_dsmb_firewall.
            open_listings=True,
        )
        out[name] = (path, load_workbook(path))
    return out


def headers(ws: Any, row: int = HEADER_ROW) -> list[Any]:
    return [c.value for c in ws[row]]


def data_rows(ws: Any, first: int = HEADER_ROW + 1) -> list[list[Any]]:
    rows = []
    for row in ws.iter_rows(min_row=first, values_only=True):
        if all(v is None for v in row):
            break
        rows.append(list(row))
    return rows
