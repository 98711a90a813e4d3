"""Loading a study for analysis: plain Core selects of the needed columns into DataFrames.

No ORM objects: a trial with a million adverse events must load at the speed of the
database driver, so rows are fetched through the DBAPI cursor in chunks and each chunk
is turned into compact columns at once (strings become categoricals). Nothing here
writes to the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from pv.analysis import teae
from pv.analysis.fetch import FLAGS, Source, open_source
from pv.events.models import AdverseEvent
from pv.exposure.models import Exposure
from pv.study.models import Arm, Drug, Site, Study, Subject

# What treatment emergence needs (teae.py): onset and end dates, the pre-existing flag and
# worsening date, the grade (CTCAE, else severity), the initial grade (AEITOXGR) and the
# episode keys of multi-record ("log") collection (AEGRPID, else AESPID).
BASE_COLUMNS = (
    "subject_id", "aestdtc", "aeendtc", "preexisting", "worsened_dtc", "aetoxgr", "aesev",
    "initial_grade", "aegrpid", "aespid",
)  # fmt: skip
# Per-subject baseline, death and disposition columns every load carries (a few per
# subject: cheap next to the events).
SUBJECT_COLUMNS = (
    "sex", "age", "race", "weight_kg", "height_cm", "consent_date", "randomization_date",
    "end_of_study_date", "died", "death_date", "death_cause", "disposition",
    "disposition_date", "disposition_reason",
)  # fmt: skip
SEVERITY_GRADE = {"MILD": 1, "MODERATE": 2, "SEVERE": 3}


class StudyNotFound(LookupError):
    pass


@dataclass
class StudyData:
    study_id: str
    title: str
    arms: pd.DataFrame  # one row per arm, in display order: id, label, code, is_control
    # position-indexed: id, usubjid, arm (position or -1), site (code), baseline (SUBJECT_
    # COLUMNS: sex, age, race, weight_kg, height_cm, dates as the driver returns them, death
    # and disposition), dosing (first_dose, last_dose, ongoing, safety) and risk_days
    subjects: pd.DataFrame
    events: pd.DataFrame  # one row per non-draft AE within the cut-off
    rule: teae.TEAERule
    cutoff: date | None
    data_end: float  # day number: the cut-off, or the last date seen in the study
    # every dosing record up to the cut-off: subject_id, drug (key), frequency, dose_mg,
    # unit, route, start and end (day numbers, end NaN when open)
    exposure: pd.DataFrame = field(default_factory=pd.DataFrame)
    columns: frozenset[str] = field(default_factory=frozenset)
    _teaes: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def teaes(self) -> pd.DataFrame:
        """Treatment-emergent events of the safety population (computed once)."""
        if self._teaes is None:
            ev = self.events
            self._teaes = ev[(ev["safety"] & ev["te"]).to_numpy()]
        return self._teaes

    @property
    def safety(self) -> pd.DataFrame:
        return self.subjects[self.subjects["safety"]]

    def arm_sizes(self) -> np.ndarray:
        s = self.safety
        return np.bincount(s["arm"].to_numpy(), minlength=len(self.arms))


def load_study(
    engine: Engine,
    study_id: str,
    *,
    columns: set[str] | frozenset[str] = frozenset(),
    rule: teae.TEAERule | None = None,
    cutoff: date | None = None,
) -> StudyData:
    """Everything the tables need for one study, with TEAE flags derived."""
    rule = rule or teae.TEAERule()
    wanted = tuple(dict.fromkeys(BASE_COLUMNS + tuple(sorted(columns))))
    with open_source(engine) as source:
        found = source.rows(sa.select(col(Study.title)).where(col(Study.id) == study_id))
        if not found:
            raise StudyNotFound(f"no study {study_id!r}")
        study = found[0]
        arms = _arms(source, study_id)
        subjects = _subjects(source, study_id, arms)
        exposure = _exposure(source, study_id)
        events = _events(source, study_id, wanted)
    cut = teae.day_number(cutoff) if cutoff else None
    subjects = _dosing(subjects, exposure, cut)
    events, subjects = _derive(events, subjects, rule, cut)
    data_end = cut if cut is not None else _last_day(exposure, events)
    subjects = _time_at_risk(subjects, rule, data_end)
    return StudyData(
        study_id=study_id,
        title=study[0],
        arms=arms,
        subjects=subjects,
        events=events,
        rule=rule,
        cutoff=cutoff,
        data_end=data_end,
        exposure=_exposure_in_scope(exposure, cut),
        columns=frozenset(wanted),
    )


def _arms(source: Source, study_id: str) -> pd.DataFrame:
    stmt = (
        sa.select(col(Arm.id), col(Arm.label), col(Arm.code), col(Arm.is_control))
        .where(col(Arm.study_id) == study_id)
        .order_by(col(Arm.position), col(Arm.id))
    )
    rows = source.rows(stmt)
    frame = pd.DataFrame(rows, columns=["id", "label", "code", "is_control"])
    frame["is_control"] = frame["is_control"].astype(bool)
    return frame.reset_index(drop=True)


def _subjects(source: Source, study_id: str, arms: pd.DataFrame) -> pd.DataFrame:
    stmt = (
        sa.select(
            col(Subject.id),
            col(Subject.usubjid),
            col(Subject.arm_id),
            col(Site.code),
            *(getattr(Subject, n) for n in SUBJECT_COLUMNS),
        )
        .join(Site, col(Site.id) == col(Subject.site_id))
        .where(col(Subject.study_id) == study_id)
    )
    frame = source.fetch(stmt, ("id", "usubjid", "arm_id", "site", *SUBJECT_COLUMNS))
    arm_pos = pd.Index(arms["id"]).get_indexer(pd.to_numeric(frame["arm_id"]))
    frame["arm"] = arm_pos.astype(np.int16)
    return frame.drop(columns="arm_id").reset_index(drop=True)


def _exposure(source: Source, study_id: str) -> pd.DataFrame:
    stmt = (
        sa.select(
            col(Exposure.subject_id),
            col(Exposure.frequency),
            col(Exposure.start),
            col(Exposure.end),
            col(Drug.key),
            col(Exposure.dose_mg),
            col(Exposure.unit),
            col(Exposure.route),
        )
        .join(Subject, col(Subject.id) == col(Exposure.subject_id))
        .join(Drug, col(Drug.id) == col(Exposure.drug_id))
        .where(col(Subject.study_id) == study_id)
    )
    frame = source.fetch(
        stmt, ("subject_id", "frequency", "start", "end", "drug", "dose_mg", "unit", "route")
    )
    for name in ("start", "end"):
        moment = pd.to_datetime(frame[name], errors="coerce", format="mixed")
        frame[name] = (moment.dt.normalize() - pd.Timestamp(0)).dt.days.astype(float)
    return frame


def _events(source: Source, study_id: str, names: tuple[str, ...]) -> pd.DataFrame:
    cols = [getattr(AdverseEvent, n) for n in names]
    stmt = sa.select(*cols).where(
        col(AdverseEvent.study_id) == study_id, col(AdverseEvent.status) != "draft"
    )
    return source.fetch(stmt, names)


def _exposure_in_scope(exposure: pd.DataFrame, cut: float | None) -> pd.DataFrame:
    """Dosing records that started by the cut-off, open periods closed at it."""
    ex = exposure.dropna(subset=["start"]).reset_index(drop=True)
    if cut is not None:
        ex = ex[ex["start"] <= cut].reset_index(drop=True)
        ex["end"] = np.minimum(ex["end"], cut)
    return ex


def _dosing(subjects: pd.DataFrame, exposure: pd.DataFrame, cut: float | None) -> pd.DataFrame:
    """First and last dose day per subject, whether dosing is ongoing, safety flag."""
    ex = exposure.dropna(subset=["start"])
    if cut is not None:
        ex = ex[ex["start"] <= cut].copy()
        ex["end"] = np.minimum(ex["end"], cut)
    daily = ex["frequency"].astype(str).str.upper().eq("QD").to_numpy()
    last = np.where(daily & ex["end"].notna().to_numpy(), ex["end"], ex["start"])
    per = (
        pd.DataFrame(
            {
                "subject_id": pd.to_numeric(ex["subject_id"]).to_numpy(),
                "first": ex["start"].to_numpy(),
                "last": last,
                "ongoing": daily & ex["end"].isna().to_numpy(),
            }
        )
        .groupby("subject_id")
        .agg(first=("first", "min"), last=("last", "max"), ongoing=("ongoing", "any"))
    )
    subjects = subjects.copy()
    pos = per.reindex(pd.to_numeric(subjects["id"]).to_numpy())
    subjects["first_dose"] = pos["first"].to_numpy()
    subjects["last_dose"] = pos["last"].to_numpy()
    subjects["ongoing"] = pos["ongoing"].fillna(False).to_numpy(dtype=bool)
    subjects["safety"] = (subjects["arm"] >= 0) & subjects["first_dose"].notna()
    return subjects


def _derive(
    events: pd.DataFrame, subjects: pd.DataFrame, rule: teae.TEAERule, cut: float | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-event subject position, arm, grade, analysis date, imputation flag and TEAE
    flag; per subject the end of observation (`_observation`) and TEAE window end."""
    ids = pd.Index(pd.to_numeric(subjects["id"]).to_numpy())
    subj = ids.get_indexer(pd.to_numeric(events["subject_id"]).to_numpy())
    first = subjects["first_dose"].to_numpy()[subj]
    onset, flag = teae.impute(events["aestdtc"], first, rule)
    missing = flag == teae.FLAG_ALL
    subjects = _observation(subjects, subj, np.where(missing, np.nan, onset), rule, cut)
    pre = _flag(events["preexisting"])
    worsened = None
    if pre.any():
        worsened, _ = teae.impute(events["worsened_dtc"], first, rule, missing_to_first_dose=False)
    _end_lo, end_hi, _end_flag = teae.parse_dates(events["aeendtc"])
    grade = _grades(events)
    te, analysis = teae.treatment_emergent(
        onset,
        worsened,
        pre,
        first,
        subjects["last_dose"].to_numpy()[subj],
        subjects["ongoing"].to_numpy()[subj],
        rule,
        onset_missing=missing,
        end_latest=end_hi,
        initial_grade=pd.to_numeric(events["initial_grade"], errors="coerce").to_numpy(float),
        grade=grade.astype(float),
        episode=_episodes(events, subj),
        tiebreak=pd.Categorical(events["aestdtc"]).codes,
        stop=subjects["end_of_observation"].to_numpy()[subj],
    )
    out = events.drop(columns=["subject_id", "aestdtc", "worsened_dtc", "preexisting"])
    for name in FLAGS:
        if name in out:
            out[name] = _flag(out[name])
    out["subj"] = subj.astype(np.int32)
    out["arm"] = subjects["arm"].to_numpy()[subj]
    out["adt"] = analysis
    out["adt_flag"] = pd.Categorical(flag)
    out["te"] = te
    out["safety"] = subjects["safety"].to_numpy()[subj]
    out["grade"] = grade
    out["aendt"] = end_hi  # latest possible end day (NaN: no end date)
    out["dm_died"] = subjects["dm_died"].to_numpy(bool)[subj]
    out["dm_death_day"] = subjects["death_day"].to_numpy(float)[subj]
    if cut is not None:
        keep = ~(analysis > cut)
        out = out[keep].reset_index(drop=True)
    return out, subjects


def _episodes(events: pd.DataFrame, subj: np.ndarray) -> np.ndarray:
    """Integer episode key per event, unique across subjects: the subject and AEGRPID,
    else AESPID (-1 when the record has neither)."""
    grp = pd.Categorical(events["aegrpid"])
    spid = pd.Categorical(events["aespid"])
    g, sp = grp.codes.astype(np.int64), spid.codes.astype(np.int64)
    width = len(grp.categories) + len(spid.categories) + 1
    within = np.where(g >= 0, g, np.where(sp >= 0, len(grp.categories) + sp, -1))
    return np.where(within >= 0, subj.astype(np.int64) * width + within, -1)


def _observation(
    subjects: pd.DataFrame,
    subj: np.ndarray,
    onset: np.ndarray,
    rule: teae.TEAERule,
    cut: float | None,
) -> pd.DataFrame:
    """The subject's own end of observation and the end of the TEAE window.

    end_of_observation: the earliest of the end of study (end_of_study_date, DM), the
    disposition date (DS) and the death date (DM DTHDTC); NaN when none is known. Partial
    dates (disposition, death) go to the earliest possible day but not before the
    subject's last known date (last dose, last recorded onset) within the collected
    period (teae.bounded_day: admiral's min_dates rule). death_day holds the DM death day;
    dm_died: DM says the subject died (DTHFL, or a death date) by the cut-off (a death
    dated after the cut-off is not yet known at it).
    window_end: last dose + window (infinite while dosing is ongoing), capped by the end
    of observation: the TEAE window (teae.window_end).
    """
    n = len(subjects)
    last_onset = np.full(n, np.nan)
    ok = (subj >= 0) & ~np.isnan(onset)
    if ok.any():
        np.fmax.at(last_onset, subj[ok], onset[ok])
    known = np.fmax(subjects["last_dose"].to_numpy(float), last_onset)
    eos = teae.bounded_day(subjects["end_of_study_date"], known)
    disposition = teae.bounded_day(subjects["disposition_date"], known)
    death = teae.bounded_day(subjects["death_date"], known)
    stop = np.fmin(np.fmin(eos, disposition), death)
    subjects = subjects.copy()
    subjects["death_day"] = death
    died = pd.to_numeric(subjects["died"], errors="coerce").fillna(0).to_numpy() != 0
    dated = subjects["death_date"].map(lambda v: isinstance(v, str) and bool(v.strip()))
    died = died | dated.to_numpy(bool)
    if cut is not None:
        died = died & ~(death > cut)
    subjects["dm_died"] = died
    subjects["end_of_observation"] = stop
    subjects["window_end"] = teae.window_end(
        subjects["last_dose"].to_numpy(float), subjects["ongoing"].to_numpy(bool), stop, rule
    )
    return subjects


def _flag(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").fillna(0).to_numpy().astype(bool)


def _grades(events: pd.DataFrame) -> np.ndarray:
    """CTCAE grade, else severity mapped MILD=1, MODERATE=2, SEVERE=3; 0 when unknown."""
    grade = np.zeros(len(events), dtype=np.int8)
    if "aesev" in events:
        sev = events["aesev"].astype(object).str.upper().map(SEVERITY_GRADE)
        grade = sev.fillna(0).to_numpy().astype(np.int8)
    if "aetoxgr" in events:
        tox = pd.to_numeric(events["aetoxgr"], errors="coerce").to_numpy()
        grade = np.where(np.isnan(tox), grade, tox).astype(np.int8)
    return grade


def _last_day(exposure: pd.DataFrame, events: pd.DataFrame) -> float:
    """The last date seen in the study: dosing starts and ends, event analysis dates.
    (np.nanmax on a pandas Series with `initial` returns NaN: take the array.)"""
    adt = events["adt"].to_numpy(float)
    adt = adt[~np.isnan(adt)]
    candidates = [
        exposure["start"].max(),
        exposure["end"].max(),
        adt.max() if len(adt) else np.nan,
    ]
    values = [float(v) for v in candidates if v is not None and not pd.isna(v)]
    return max(values) if values else float("nan")


def _time_at_risk(subjects: pd.DataFrame, rule: teae.TEAERule, data_end: float) -> pd.DataFrame:
    """Days from first dose to the end of observation, inclusive: the earliest of the end
    of the TEAE window (last dose + window, or the data end while dosing is ongoing), the
    subject's end of study, disposition and death (`_observation`) and the data end (the
    cut-off, or the last date seen in the study)."""
    end = np.where(
        subjects["ongoing"],
        data_end,
        np.minimum(subjects["last_dose"] + rule.window_days, data_end),
    )
    end = np.fmin(end, subjects["end_of_observation"].to_numpy(float))
    days = end - subjects["first_dose"].to_numpy() + 1
    subjects = subjects.copy()
    subjects["risk_days"] = np.where(subjects["safety"], np.maximum(days, 1.0), 0.0)
    return subjects
