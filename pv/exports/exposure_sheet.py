"""Exposure summary per subject: first and last dose, time at risk, and per study drug
the infusions (administrations) received and the cumulative daily-dose amount in mg,
up to the data cut-off (pv.exposure.derive; a daily dose still running is counted to
the cut-off). First/last dose and time at risk are the analysis layer's, so they match
the tables. Drugs given only in some arms are left out unless the session is closed and
unmasked (arms.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from itertools import groupby
from typing import Any, NamedTuple

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import col

from pv.analysis.teae import EPOCH
from pv.exports.arms import ArmView, StudyDrug
from pv.exports.checksum import Checksum, text_order
from pv.exports.xlsx_layout import Column
from pv.exposure.derive import cumulative_dose_mg
from pv.exposure.models import Exposure
from pv.i18n import gettext as _
from pv.study.models import Arm, Drug, Site, Subject

CHUNK = 5000


class Dose(NamedTuple):
    drug_id: int
    frequency: str
    dose_mg: float
    start: datetime
    end: datetime | None


class Metric(NamedTuple):
    drug_id: int
    frequency: str  # ONCE: count of administrations; QD: cumulative mg
    header: str


def _limit(cutoff: date | None) -> datetime | None:
    return datetime.combine(cutoff + timedelta(days=1), time.min) if cutoff else None


def metrics(
    conn: Connection, study_id: str, drugs: list[StudyDrug], cutoff: date | None
) -> list[Metric]:
    """The per-drug columns: which shown drugs have single administrations or daily doses."""
    stmt = (
        sa.select(col(Exposure.drug_id), col(Exposure.frequency), col(Exposure.route))
        .join(Subject, col(Subject.id) == col(Exposure.subject_id))
        .where(col(Subject.study_id) == study_id)
        .distinct()
    )
    if cutoff:
        stmt = stmt.where(col(Exposure.start) < _limit(cutoff))
    found = conn.execute(stmt).all()
    out = []
    for d in drugs:
        kinds = {(f, (route or "").upper()) for drug_id, f, route in found if drug_id == d.id}
        if any(f == "ONCE" for f, _r in kinds):
            infused = any("INTRAVENOUS" in r or r == "IV" for f, r in kinds if f == "ONCE")
            what = (
                _("%(drug)s: infusions received", drug=d.name)
                if infused
                else _("%(drug)s: administrations received", drug=d.name)
            )
            out.append(Metric(d.id, "ONCE", what))
        if any(f == "QD" for f, _r in kinds):
            out.append(Metric(d.id, "QD", _("%(drug)s: cumulative dose (mg)", drug=d.name)))
    return out


def columns(view: ArmView, found: list[Metric]) -> list[Column]:
    cols = [Column(_("Site"), cap=8), Column(_("Subject"), cap=18)]
    if view.by_arm:
        cols.append(Column(_("Arm"), text="wrap", cap=18))
    cols += [
        Column(_("Age"), number="int", cap=5),
        Column(_("Sex"), cap=5),
        Column(_("First dose"), cap=11),
        Column(_("Last dose"), cap=11),
        Column(_("Time at risk (days)"), number="int", cap=9),
    ]
    cols += [
        Column(m.header, number="int" if m.frequency == "ONCE" else "dec1", cap=16) for m in found
    ]
    return cols


def _exposure(conn: Connection, study_id: str, cutoff: date | None) -> Iterator[sa.Row]:
    stmt = (
        sa.select(
            col(Exposure.subject_id),
            col(Exposure.drug_id),
            col(Subject.usubjid),
            col(Drug.name),
            col(Exposure.dose),
            col(Exposure.unit),
            col(Exposure.dose_mg),
            col(Exposure.route),
            col(Exposure.frequency),
            col(Exposure.start),
            col(Exposure.end),
        )
        .join(Subject, col(Subject.id) == col(Exposure.subject_id))
        .join(Site, col(Site.id) == col(Subject.site_id))
        .join(Drug, col(Drug.id) == col(Exposure.drug_id))
        .where(col(Subject.study_id) == study_id)
        .order_by(
            text_order(conn, col(Site.code)),
            text_order(conn, col(Subject.usubjid)),
            text_order(conn, col(Drug.name)),
            col(Exposure.start),
            col(Exposure.frequency),
            col(Exposure.id),
        )
    )
    if cutoff:
        stmt = stmt.where(col(Exposure.start) < _limit(cutoff))
    result = conn.execution_options(yield_per=CHUNK).execute(stmt)
    for part in result.partitions(CHUNK):
        yield from part


def rows(
    conn: Connection,
    study_id: str,
    subjects: pd.DataFrame,
    view: ArmView,
    found: list[Metric],
    cutoff: date | None,
    checksum: Checksum,
) -> Iterator[list[Any]]:
    """One row per subject of the study; subjects and doses also go into the checksum."""
    sj = subjects
    listed = conn.execute(
        sa.select(
            col(Subject.id),
            col(Subject.usubjid),
            col(Subject.subjid),
            col(Site.code),
            col(Arm.label),
            col(Arm.code),
            col(Subject.sex),
            col(Subject.age),
            col(Subject.weight_kg),
            col(Subject.consent_date),
            col(Subject.randomization_date),
            col(Subject.end_of_study_date),
        )
        .join(Site, col(Site.id) == col(Subject.site_id))
        .outerjoin(Arm, col(Arm.id) == col(Subject.arm_id))
        .where(col(Subject.study_id) == study_id)
        .order_by(text_order(conn, col(Site.code)), text_order(conn, col(Subject.usubjid)))
    ).all()
    dosing = {
        int(i): (_date(f), _date(la), int(r) if ok else None)
        for i, f, la, r, ok in zip(
            sj["id"], sj["first_dose"], sj["last_dose"], sj["risk_days"], sj["safety"], strict=True
        )
    }
    doses = groupby(_exposure(conn, study_id, cutoff), key=lambda r: r.subject_id)
    pending = next(doses, None)
    upto = cutoff or date.max
    for s in listed:
        checksum.add("subjects", list(s[1:]))
        mine: list[Dose] = []
        while pending is not None and pending[0] == s.id:
            for r in pending[1]:
                checksum.add("exposure", list(r[2:]))
                end = r.end if r.end is not None or cutoff is None else _limit(cutoff)
                mine.append(Dose(r.drug_id, r.frequency, r.dose_mg, r.start, end))
            pending = next(doses, None)
        first, last, risk = dosing.get(s.id, (None, None, None))
        out: list[Any] = [s.code, s.usubjid]
        if view.by_arm:
            out.append(view.label(s.label))
        out += [s.age, s.sex, first, last, risk]
        for m in found:
            own = [d for d in mine if d.drug_id == m.drug_id and d.frequency == m.frequency]
            if m.frequency == "ONCE":
                out.append(len(own))
            else:
                out.append(cumulative_dose_mg(own, upto) if own else 0.0)  # type: ignore[arg-type]
        yield out


def _date(day: Any) -> date | None:
    if day is None or day != day:
        return None
    return date.fromordinal(int(day) + EPOCH)
