"""The only write path for dosing records."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from pv.audit.service import Actor, diff, record
from pv.exposure.derive import convert_to_mg
from pv.exposure.models import Exposure
from pv.study.models import Drug, Subject


def add_exposure(
    *,
    session: Session,
    actor: Actor,
    subject: Subject,
    drug: Drug,
    dose: float,
    unit: str,
    start: datetime,
    end: datetime | None = None,
    route: str | None = None,
    frequency: str = "ONCE",
) -> Exposure:
    if frequency not in ("ONCE", "QD"):
        raise ValueError("frequency must be ONCE (one administration) or QD (daily)")
    if end is not None and end < start:
        raise ValueError("exposure end is before its start")
    if drug.study_id != subject.study_id:
        raise ValueError("the drug is not a study drug of the subject's study")
    exp = Exposure(
        subject_id=subject.id,  # type: ignore[arg-type]
        drug_id=drug.id,  # type: ignore[arg-type]
        dose=dose,
        unit=unit,
        dose_mg=convert_to_mg(dose, unit, subject.weight_kg),
        route=route,
        frequency=frequency,
        start=start,
        end=end,
    )
    session.add(exp)
    session.flush()
    fields = ("drug_id", "dose", "unit", "dose_mg", "route", "frequency", "start", "end")
    record(
        session=session,
        actor=actor,
        action="create",
        entity_type="exposure",
        entity_id=exp.id,
        study_id=subject.study_id,
        site_id=subject.site_id,
        changes=diff({}, {f: getattr(exp, f) for f in fields}),
    )
    return exp
