"""The cover's data checksum: a fixed value for fixed data on every database backend (the
suite runs on SQLite and PostgreSQL), independent of session and masking, and moved by any
change to the data in scope, not by data outside it."""

from __future__ import annotations

import io
from datetime import date, datetime

import sqlalchemy as sa
from openpyxl import load_workbook
from sqlalchemy.engine import Engine

from pv.db import write_session
from pv.events.models import AdverseEvent
from pv.exports.checksum import Checksum, line
from pv.exports.workbook import build_dsmb_workbook
from pv.exposure.models import Exposure
from pv.study.models import Arm, ArmDrug, Drug, Site, Study, Subject

# Computed once from the definition in pv/exports/checksum.py; identical on SQLite and
# PostgreSQL. A change here means the definition (or what it covers) changed: say so in
# the release notes, since DSMB reports of the same data would no longer match.
GOLDEN = "da63fc40b32cce119e00441b998f2123061115902dcb6b2c2538f52912f2e4bd"


def _study(engine: Engine) -> None:
    with write_session(engine) as s:
        s.add(Study(id="CHK", title="Checksum study", source="sdtm"))
        s.flush()
        control = Arm(study_id="CHK", label="Placebo", code="PBO", is_control=True, position=0)
        active = Arm(study_id="CHK", label="Drug X", code="DX", position=1)
        site = Site(study_id="CHK", code="07", name="Site 07", country="FRA")
        drug = Drug(study_id="CHK", name="Drug X", key="drug_x")
        s.add_all([control, active, site, drug])
        s.flush()
        s.add(ArmDrug(arm_id=active.id, drug_id=drug.id))  # type: ignore[arg-type]
        people = []
        for i, arm in enumerate((control, active, active), start=1):
            subject = Subject(
                study_id="CHK",
                site_id=site.id,
                usubjid=f"CHK-07-{i:03d}",
                subjid=f"{i:03d}",
                arm_id=arm.id,
                sex="F" if i % 2 else "M",
                age=40 + i,
                weight_kg=60.5 + i,
                consent_date=date(2024, 1, i),
            )
            s.add(subject)
            s.flush()
            people.append(subject)
            s.add(
                Exposure(
                    subject_id=subject.id,
                    drug_id=drug.id,
                    dose=10,
                    unit="mg/kg",
                    dose_mg=600 + i,
                    route="INTRAVENOUS",
                    frequency="ONCE",
                    start=datetime(2024, 1, 10 + i, 9, 30),
                )
            )
        events = [
            (people[0], 1, "headache", "2024-01-15", {}),
            (people[1], 1, "=1+1 rash", "2024-02", {"drug_x": "POSSIBLY RELATED"}),
            (people[2], 1, "pneumonia", "2024-01-20", {"drug_x": "NOT RELATED"}),
            (people[2], 2, "after the cut-off", "2024-09-01", {}),
        ]
        for subject, seq, term, onset, rel in events:
            s.add(
                AdverseEvent(
                    study_id="CHK",
                    subject_id=subject.id,
                    site_id=site.id,
                    aeseq=seq,
                    status="submitted",
                    aeterm=term,
                    aedecod=term.title(),
                    aebodsys="Some disorders",
                    aetoxgr=2,
                    aeser=False,
                    aerel=rel,
                    aestdtc=onset,
                    aesi="infection" if "pneu" in term else "",
                )
            )


def _checksum(engine: Engine, **kwargs: object) -> str:
    out = io.BytesIO()
    args = {"session": "closed", "cutoff": date(2024, 6, 30), **kwargs}
    build_dsmb_workbook(engine, study_id="CHK", out=out, charts={}, **args)  # type: ignore[arg-type]
    cover = load_workbook(io.BytesIO(out.getvalue()))["Cover"]
    return next(
        r[1] for r in cover.iter_rows(values_only=True) if r[0] == "Data checksum (SHA-256)"
    )


def test_checksum_is_fixed_for_fixed_data_on_every_backend(engine: Engine) -> None:
    _study(engine)
    value = _checksum(engine)
    assert value == GOLDEN
    assert _checksum(engine, session="open") == value
    assert _checksum(engine, mask_arms=True) == value
    with engine.begin() as conn:  # outside the scope: the cut-off excludes it
        conn.execute(
            sa.update(AdverseEvent)
            .where(AdverseEvent.aeterm == "after the cut-off")
            .values(aecontrt="paracetamol")
        )
    assert _checksum(engine) == value
    with engine.begin() as conn:
        conn.execute(
            sa.update(AdverseEvent).where(AdverseEvent.aeterm == "headache").values(aetoxgr=3)
        )
    assert _checksum(engine) != value


def test_line_is_compact_sorted_json() -> None:
    assert line(["a", 1, None, True, {"b": 2, "a": 1}, date(2024, 1, 2)]) == (
        b'["a",1,null,true,{"a":1,"b":2},"2024-01-02"]\n'
    )
    one, two = Checksum(), Checksum()
    one.add("events", ["x"])
    two.add("subjects", ["x"])
    assert one.hexdigest() != two.hexdigest()  # the section matters
