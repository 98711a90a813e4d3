"""Chart entry points: load what a chart needs, compute its data, return image bytes.

Each `chart_*` function reads the database (through pv.analysis and pv.charts.load) and
returns PNG bytes (or SVG with fmt="svg"); the `*_data` functions of the chart modules
return the exact DataFrames drawn, and the `plot_*` functions draw given data only.

`pooled=True` is the DSMB open session: no arm name, arm count or by-arm curve on the
image. Charts that cannot be pooled (CHARTS[name].by_arm) raise ChartError then.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import date
from typing import NamedTuple, ParamSpec, TypeVar

from sqlalchemy.engine import Engine

from pv.analysis.api import build_from_data
from pv.analysis.data import StudyData
from pv.charts import forest, km, load, prednisone, sites, timeline
from pv.charts.style import ChartError, drawing
from pv.i18n import N_
from pv.i18n import current as current_language

P = ParamSpec("P")
R = TypeVar("R")


class ChartInfo(NamedTuple):
    title: str  # a msgid: shown translated
    by_arm: bool  # True: by-arm only, no pooled variant (skip it in an open session)


CHARTS: dict[str, ChartInfo] = {
    "aesi_forest": ChartInfo(N_("AESI incidence by arm with risk-difference forest plot"), False),
    "km_infection": ChartInfo(N_("Kaplan-Meier time to first infection"), False),
    "cumulative_prednisone": ChartInfo(
        N_("Cumulative prednisone dose over time with events"), False
    ),
    "reporting_rate_by_site": ChartInfo(
        N_("AE reporting rate per site (AEs per patient-year)"), False
    ),
    "subject_timeline": ChartInfo(N_("Subject timeline: dosing, infusions, events by grade"), True),
}


def _in_language(fn: Callable[P, R]) -> Callable[P, R]:
    """Draw in the `language` argument (default: the language in hand; English, with a
    warning, when it needs a font that is not installed)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        language = kwargs.get("language")
        with drawing(language if isinstance(language, str) else None):
            return fn(*args, **kwargs)

    return wrapper


# Study-level charts, in workbook order (render_all); the others take a subject.
STUDY_CHARTS = ("aesi_forest", "km_infection", "cumulative_prednisone", "reporting_rate_by_site")
SUBJECT_CHARTS = ("subject_timeline", "cumulative_prednisone")


@_in_language
def chart_aesi_forest(
    engine: Engine,
    study_id: str,
    *,
    cutoff: date | None = None,
    pooled: bool = False,
    control: str | None = None,
    arm_labels: Mapping[str, str] | None = None,
    fmt: str = "png",
    language: str | None = None,
) -> bytes:
    return _aesi_forest(_data(engine, study_id, cutoff, arm_labels), pooled, control, fmt)


@_in_language
def chart_km_infection(
    engine: Engine,
    study_id: str,
    *,
    cutoff: date | None = None,
    pooled: bool = False,
    key: str = "infection",
    arm_labels: Mapping[str, str] | None = None,
    fmt: str = "png",
    language: str | None = None,
) -> bytes:
    return _km(_data(engine, study_id, cutoff, arm_labels), pooled, key, fmt)


@_in_language
def chart_cumulative_prednisone(
    engine: Engine,
    study_id: str,
    subject_id: int | None = None,
    *,
    cutoff: date | None = None,
    pooled: bool = False,
    arm_labels: Mapping[str, str] | None = None,
    fmt: str = "png",
    language: str | None = None,
) -> bytes:
    """Study level (subject_id None): by arm or pooled; else the one subject's curve (which
    must belong to study_id; pooled=True leaves the arm name out of the title)."""
    if subject_id is None:
        return _prednisone(engine, _data(engine, study_id, cutoff, arm_labels), pooled, fmt)
    info = _subject(engine, study_id, subject_id, arm_labels)
    ex = load.exposures(engine, subject_id=subject_id, cutoff=cutoff)
    events = load.subject_events(engine, subject_id, cutoff)
    series, marks = prednisone.subject_prednisone_data(ex, events)
    return prednisone.plot_subject_prednisone(
        series,
        marks,
        subject=str(info["usubjid"]),
        arm=None if pooled else _text(info["arm"]),
        fmt=fmt,
    )


@_in_language
def chart_subject_timeline(
    engine: Engine,
    subject_id: int,
    *,
    study_id: str | None = None,
    cutoff: date | None = None,
    pooled: bool = False,
    arm_labels: Mapping[str, str] | None = None,
    fmt: str = "png",
    language: str | None = None,
) -> bytes:
    """By-arm only: the infusions shown reveal the treatment, so pooled=True is refused."""
    if pooled:
        raise ChartError("the subject timeline shows the treatment received: no pooled variant")
    info = _subject(engine, study_id, subject_id, arm_labels)
    ex = load.exposures(engine, subject_id=subject_id, cutoff=cutoff)
    events = load.subject_events(engine, subject_id, cutoff)
    until = timeline.observed_until(info["end_of_study"], cutoff)  # type: ignore[arg-type]
    frame = timeline.subject_timeline_data(ex, events, observed_until=until)
    return timeline.plot_subject_timeline(
        frame, subject=str(info["usubjid"]), arm=_text(info["arm"]), fmt=fmt
    )


@_in_language
def chart_reporting_rate_by_site(
    engine: Engine,
    study_id: str,
    *,
    cutoff: date | None = None,
    pooled: bool = False,
    arm_labels: Mapping[str, str] | None = None,
    fmt: str = "png",
    language: str | None = None,
) -> bytes:
    return _rates(engine, _data(engine, study_id, cutoff, arm_labels), pooled, fmt)


DRAW_ORDER = ("cumulative_prednisone", "reporting_rate_by_site", "aesi_forest", "km_infection")


@_in_language
def render_all(
    engine: Engine,
    study_id: str,
    *,
    cutoff: date | None = None,
    pooled: bool = False,
    arm_labels: Mapping[str, str] | None = None,
    fmt: str = "png",
    language: str | None = None,
) -> dict[str, bytes]:
    """Every study-level chart ({name: bytes}, STUDY_CHARTS order) from one data load; with
    pooled=True the by-arm-only charts are left out and the others drawn pooled.

    arm_labels (real label -> label shown, e.g. "Arm A"): a masked closed session; every
    chart names the arms so, orders them by the shown label and compares with the first.
    """
    data = _data(engine, study_id, cutoff, arm_labels)
    makers = {
        "aesi_forest": lambda: _aesi_forest(data, pooled, None, fmt),
        "km_infection": lambda: _km(data, pooled, "infection", fmt),
        "cumulative_prednisone": lambda: _prednisone(engine, data, pooled, fmt),
        "reporting_rate_by_site": lambda: _rates(engine, data, pooled, fmt),
    }
    wanted = [n for n in STUDY_CHARTS if not (pooled and CHARTS[n].by_arm)]
    # Drawn in DRAW_ORDER, returned in STUDY_CHARTS order: the dosing chart's arrays (the
    # largest at 10^4 subjects) come and go before the statistics libraries the others
    # import are in memory, which keeps the peak of a chart process lower.
    drawn = {n: makers[n]() for n in sorted(wanted, key=DRAW_ORDER.index)}
    return {n: drawn[n] for n in wanted}


def _aesi_forest(data: StudyData, pooled: bool, control: str | None, fmt: str) -> bytes:
    table = build_from_data(data, "AET01_AESI", control=control, language=current_language())
    return forest.plot_aesi_forest(forest.aesi_forest_data(table, pooled=pooled), fmt=fmt)


def _km(data: StudyData, pooled: bool, key: str, fmt: str) -> bytes:
    return km.plot_km(km.km_data(data, key=key, pooled=pooled), fmt=fmt)


def _prednisone(engine: Engine, data: StudyData, pooled: bool, fmt: str) -> bytes:
    ex = load.exposures(engine, study_id=data.study_id, drug=prednisone.DRUG, cutoff=data.cutoff)
    summary, events = prednisone.prednisone_data(data, ex, pooled=pooled)
    return prednisone.plot_prednisone(summary, events, fmt=fmt)


def _rates(engine: Engine, data: StudyData, pooled: bool, fmt: str) -> bytes:
    frame = sites.reporting_rate_data(
        data, load.subject_sites(engine, data.study_id), pooled=pooled
    )
    return sites.plot_reporting_rate(frame, fmt=fmt)


def _data(
    engine: Engine, study_id: str, cutoff: date | None, arm_labels: Mapping[str, str] | None
) -> StudyData:
    data = load.study_data(engine, study_id, cutoff)
    return data if arm_labels is None else load.relabel_arms(data, arm_labels)


def _subject(
    engine: Engine, study_id: str | None, subject_id: int, arm_labels: Mapping[str, str] | None
) -> dict[str, object]:
    info = load.subject_info(engine, subject_id)
    if study_id is not None and info["study_id"] != study_id:
        raise load.NotFound(f"no subject {subject_id} in study {study_id}")
    if arm_labels is not None and info["arm"] is not None:
        if info["arm"] not in arm_labels:
            raise ChartError(f"no shown label for arm {info['arm']}")
        info["arm"] = arm_labels[str(info["arm"])]
    return info


def _text(value: object) -> str | None:
    return None if value is None else str(value)
