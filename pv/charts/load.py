"""What the charts read from the database: the analysis layer's StudyData and tables, plus
the few plain selects the analysis layer has no loader for (sites, one subject's dosing and
events). Read-only; everything is returned as DataFrames or small dicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime, time

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pv.analysis import aet01_aesi
from pv.analysis.data import StudyData, load_study
from pv.charts.style import ChartError
from pv.events.models import AdverseEvent
from pv.exposure.models import Exposure
from pv.study.models import Arm, Drug, Site, Study, Subject

# Event columns every study-level chart needs (AET01_AESI's and the grade/AESI keys).
COLUMNS = frozenset(aet01_aesi.COLUMNS | {"aesi", "aetoxgr", "aesev", "aedecod"})
EXPOSURE_COLUMNS = [
    "subject_id",
    "drug",
    "drug_name",
    "dose_mg",
    "unit",
    "frequency",
    "start",
    "end",
]
EVENT_COLUMNS = ["id", "aeseq", "term", "grade", "serious", "aestdtc", "aeendtc", "ongoing", "aesi"]


class NotFound(LookupError):
    pass


def study_data(engine: Engine, study_id: str, cutoff: date | None = None) -> StudyData:
    return load_study(engine, study_id, columns=COLUMNS, cutoff=cutoff)


def subject_sites(engine: Engine, study_id: str) -> pd.DataFrame:
    """subject_id, site_id, site_code, site_name for every subject of the study."""
    stmt = (
        sa.select(Subject.id, Site.id, Site.code, Site.name)
        .join(Site, Site.id == Subject.site_id)
        .where(Subject.study_id == study_id)
        .order_by(Subject.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame(rows, columns=["subject_id", "site_id", "site_code", "site_name"])


def subject_info(engine: Engine, subject_id: int) -> dict[str, object]:
    """usubjid, study, arm label (None when unassigned) and end of study of one subject."""
    stmt = (
        sa.select(
            Subject.usubjid,
            Subject.study_id,
            Arm.label,
            Subject.end_of_study_date,
            Study.title,
        )
        .join(Study, Study.id == Subject.study_id)
        .outerjoin(Arm, Arm.id == Subject.arm_id)
        .where(Subject.id == subject_id)
    )
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(f"no subject {subject_id}")
    return {
        "usubjid": row[0],
        "study_id": row[1],
        "arm": row[2],
        "end_of_study": row[3],
        "study_title": row[4],
    }


def exposures(
    engine: Engine,
    *,
    study_id: str | None = None,
    subject_id: int | None = None,
    drug: str | None = None,
    cutoff: date | None = None,
) -> pd.DataFrame:
    """Dosing records (drug = Drug.key), start/end as datetimes; truncated at the cut-off."""
    stmt = (
        sa.select(
            Exposure.subject_id,
            Drug.key,
            Drug.name,
            Exposure.dose_mg,
            Exposure.unit,
            Exposure.frequency,
            Exposure.start,
            Exposure.end,
        )
        .join(Drug, Drug.id == Exposure.drug_id)
        .join(Subject, Subject.id == Exposure.subject_id)
        .order_by(Exposure.subject_id, Exposure.start, Exposure.id)
    )
    if study_id is not None:
        stmt = stmt.where(Subject.study_id == study_id)
    if subject_id is not None:
        stmt = stmt.where(Exposure.subject_id == subject_id)
    if drug is not None:
        stmt = stmt.where(Drug.key == drug)
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(stmt).all(), columns=EXPOSURE_COLUMNS)
    frame["start"] = pd.to_datetime(frame["start"])
    frame["end"] = pd.to_datetime(frame["end"])
    if cutoff is not None:
        limit = pd.Timestamp(datetime.combine(cutoff, time(0)))
        frame = frame[frame["start"].dt.normalize() <= limit].copy()
        frame["end"] = frame["end"].where(frame["end"].isna() | (frame["end"] <= limit), limit)
    return frame.reset_index(drop=True)


def subject_events(engine: Engine, subject_id: int, cutoff: date | None = None) -> pd.DataFrame:
    """Reported (non-draft) events of one subject, ordered by onset text then sequence."""
    ae = AdverseEvent
    stmt = (
        sa.select(
            ae.id,
            ae.aeseq,
            sa.func.coalesce(ae.aedecod, ae.aeterm),
            ae.aetoxgr,
            ae.aeser,
            ae.aestdtc,
            ae.aeendtc,
            ae.ongoing,
            ae.aesi,
        )
        .where(ae.subject_id == subject_id, ae.status != "draft")
        .order_by(ae.aestdtc, ae.aeseq)
    )
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(stmt).all(), columns=EVENT_COLUMNS)
    frame["grade"] = pd.to_numeric(frame["grade"], errors="coerce").fillna(0).astype(int)
    frame["serious"] = frame["serious"].fillna(False).astype(bool)
    frame["ongoing"] = frame["ongoing"].fillna(False).astype(bool)
    if cutoff is not None:
        start = frame["aestdtc"].fillna("").str.slice(0, 10)
        frame = frame[(start == "") | (start <= cutoff.isoformat())]
    return frame.reset_index(drop=True)


def relabel_arms(data: StudyData, shown: Mapping[str, str]) -> StudyData:
    """The study as a masked session sees it: arms renamed (real label -> shown label, e.g.
    "Arm A") and put in the order of the shown labels, the first being the reference of
    the comparisons. Position order would give the comparator away (it usually comes
    first), and so would comparing against the real control arm.
    """
    labels = [str(x) for x in data.arms["label"]]
    missing = [x for x in labels if x not in shown]
    if missing:
        raise ChartError(f"no shown label for arm(s) {', '.join(missing)}")
    order = sorted(range(len(labels)), key=lambda i: (str(shown[labels[i]]), i))
    new_pos = np.full(len(labels) + 1, -1, dtype=np.int64)  # index -1 (no arm) stays -1
    new_pos[order] = np.arange(len(order))
    arms = data.arms.iloc[order].reset_index(drop=True).copy()
    arms["label"] = [str(shown[x]) for x in arms["label"]]
    arms["code"] = arms["label"]
    arms["is_control"] = np.arange(len(arms)) == 0
    subjects = data.subjects.copy()
    subjects["arm"] = new_pos[subjects["arm"].to_numpy(np.int64)].astype(subjects["arm"].dtype)
    events = data.events.copy()
    if "arm" in events:
        events["arm"] = new_pos[events["arm"].to_numpy(np.int64)].astype(events["arm"].dtype)
    return dataclasses.replace(data, arms=arms, subjects=subjects, events=events)
