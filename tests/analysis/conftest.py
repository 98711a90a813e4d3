"""Analysis fixtures: the hand-drawn fixture study and the imported CDISC pilot study."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from pv.audit.service import Actor
from pv.db import make_engine, write_session
from pv.events.models import AdverseEvent
from pv.exposure.models import Exposure
from pv.study.models import Arm, Drug, Site, Study, Subject

PILOT = Path(__file__).resolve().parents[1] / "data" / "cdiscpilot01"
PG_URL = os.environ.get("PV_TEST_DATABASE_URL", "")

NERV = "NERVOUS SYSTEM DISORDERS"
GI = "GASTROINTESTINAL DISORDERS"
SKIN = "SKIN AND SUBCUTANEOUS TISSUE DISORDERS"
GEN = "GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS"
MUSC = "MUSCULOSKELETAL AND CONNECTIVE TISSUE DISORDERS"
INF = "INFECTIONS AND INFESTATIONS"


def d(text: str) -> datetime:
    return datetime.fromisoformat(text)


# The fixture study, drawn in tests/analysis/test_fixture_tables.py. Each event:
# (name, subject, term, soc, onset, extra fields)
EVENTS = [
    ("e1", "S1", "HEADACHE", NERV, "2024-01-05", {"aetoxgr": 1}),
    ("e2", "S1", "HEADACHE", NERV, "2024-01-20",
     {"aetoxgr": 3, "aeser": True, "aeshosp": True, "drug_withdrawn": True}),
    ("e3", "S1", "NAUSEA", GI, "2024-04-15",
     {"aetoxgr": 5, "aeser": True, "aesdth": True, "aeout": "FATAL", "aeendtc": "2024-04-16"}),
    ("e4", "S2", "RASH", SKIN, "2023-12-20",
     {"aetoxgr": 2, "related": True, "preexisting": True, "worsened_dtc": "2024-01-15"}),
    ("e5", "S2", "FATIGUE", GEN, "2024-01", {"aetoxgr": 2}),
    ("e9", "S2", "PRURITUS", SKIN, "2024-01-12", {"aetoxgr": 1}),
    ("e10", "S2", "BACK PAIN", MUSC, "2023-11-01", {"aetoxgr": 1, "preexisting": True}),
    ("e6", "S3", "HEADACHE", NERV, "2024-02-01", {"aetoxgr": 2}),
    ("e7", "S3", "PNEUMONIA", INF, "2024-06-20",
     {"aetoxgr": 5, "aeser": True, "aesdth": True, "aeout": "FATAL", "aeendtc": "2024-06-20",
      "aesi": "infection"}),
    ("e8", "S3", "HEADACHE", NERV, "2024-03-01", {"status": "draft"}),
    ("e11", "S6", "HEADACHE", NERV, "2024-01-05", {}),
    ("e12", "S7", "HEADACHE", NERV, "2024-01-05", {}),
]  # fmt: skip
# subject -> (arm, [(frequency, start, end)])
SUBJECTS = {
    "S1": ("Active", [("QD", "2024-01-01", "2024-01-31")]),
    "S2": ("Active", [("ONCE", "2024-01-10T09:00", "2024-01-10T10:00")]),
    "S3": ("Control", [("QD", "2024-01-01", None)]),
    "S4": ("Control", [("QD", "2024-01-01", "2024-03-31")]),
    "S5": ("Empty", [("QD", "2024-01-01", "2024-01-31")]),
    "S6": (None, []),
    "S7": ("Active", []),
}


def build_fixture_study(engine: Engine, study_id: str = "FIX") -> None:
    with write_session(engine) as s:
        s.add(Study(id=study_id, title="Fixture study", source="sdtm"))
        s.flush()
        arms = {}
        for pos, (label, code, control) in enumerate(
            [("Control", "CTL", True), ("Active", "ACT", False), ("Empty", "EMP", False)]
        ):
            arm = Arm(study_id=study_id, label=label, code=code, is_control=control, position=pos)
            s.add(arm)
            s.flush()
            arms[label] = arm.id
        site = Site(study_id=study_id, code="01", name="Site 01")
        drug = Drug(study_id=study_id, name="Drug A", key="druga")
        s.add_all([site, drug])
        s.flush()
        subjects = {}
        for usubjid, (arm, doses) in SUBJECTS.items():
            subj = Subject(
                study_id=study_id, site_id=site.id, usubjid=usubjid, subjid=usubjid,
                arm_id=arms[arm] if arm else None,
            )  # fmt: skip
            s.add(subj)
            s.flush()
            subjects[usubjid] = subj
            for freq, start, end in doses:
                end_at = d(end) if end else None
                s.add(Exposure(subject_id=subj.id, drug_id=drug.id, dose=10, unit="mg", dose_mg=10,
                               frequency=freq, start=d(start), end=end_at))  # fmt: skip
        for seq, (_, usubjid, term, soc, onset, extra) in enumerate(EVENTS, start=1):
            subj = subjects[usubjid]
            fields = {"status": "submitted", **extra}
            s.add(AdverseEvent(study_id=study_id, subject_id=subj.id, site_id=site.id, aeseq=seq,
                               aeterm=term.lower(), aedecod=term, aebodsys=soc, aestdtc=onset,
                               **fields))  # fmt: skip


@pytest.fixture
def fixture_engine(engine: Engine) -> Engine:
    build_fixture_study(engine)
    return engine


@pytest.fixture(scope="module")
def pilot_engine(_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database holding the CDISC pilot study imported from its SDTM files (once per module)."""
    from pv.imports.sdtm import import_sdtm

    if PG_URL:
        name = f"pvt_pilot_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_template}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    else:
        path = tmp_path_factory.mktemp("pilot") / "pilot.sqlite"
        shutil.copyfile(_template, path)
        url = f"sqlite:///{path}"
    eng = make_engine(url)
    import_sdtm(
        engine=eng, actor=Actor.system("test"), dm=PILOT / "dm.xpt", ae=PILOT / "ae.xpt",
        ex=PILOT / "ex.xpt", suppae=PILOT / "suppae.xpt",
    )  # fmt: skip
    yield eng
    eng.dispose()
    if PG_URL:
        admin.dispose()
        # Without superuser rights FORCE cannot end a server background worker (autovacuum)
        # that is in the database at that moment: retry, then leave it behind.
        for attempt in range(10):
            dropper = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            try:
                with dropper.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                break
            except DBAPIError:
                time.sleep(0.2 * (attempt + 1))
            finally:
                dropper.dispose()
