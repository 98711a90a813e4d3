"""Cumulative prednisone dose over time, with adverse events marked.

Study level (by arm or pooled): median and interquartile range of the cumulative dose by
study day over the subjects still dosed that day, and each treatment-emergent infection or
glucocorticoid-toxicity event at the subject's own cumulative dose on its onset day.
Subject level: the subject's cumulative dose (and daily dose) by date, every reported
event marked on the curve, coloured by grade.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pv.analysis import aesi
from pv.analysis.data import StudyData
from pv.analysis.survival import POOLED
from pv.charts import dosing, style
from pv.events.dates import parse_dtc
from pv.i18n import N_
from pv.i18n import gettext as _

DRUG = "prednisone"
# Events marked on the study-level chart: the first matching grouping names the marker.
# (grouping, category: a key in the frames and a msgid, marker)
MARKED = (
    ("infection", N_("Infection"), "o"),
    ("gc_toxicity", N_("Glucocorticoid toxicity"), "^"),
)
EPOCH = pd.Timestamp("1970-01-01")


def prednisone_data(
    data: StudyData, exposure: pd.DataFrame, *, pooled: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, events) for the study-level chart.

    exposure: the study's prednisone records (load.exposures(drug="prednisone")); day 1 is
    each subject's first dose of any study drug (StudyData.subjects.first_dose).
    summary: group, study_day, subjects, median, q1, q3 (mg); attrs "N" {group: N}.
    events: group, subject_id, study_day, cumulative_mg, grade, category.
    """
    safety = data.safety
    ids = pd.to_numeric(safety["id"]).to_numpy()
    arms = list(data.arms["label"])
    labels = [POOLED] * len(safety) if pooled else [arms[a] for a in safety["arm"]]
    group = pd.Series(labels, index=ids)
    origin = pd.Series(
        EPOCH + pd.to_timedelta(safety["first_dose"].to_numpy(), unit="D"), index=ids
    )
    totals = dosing.dose_totals(exposure[exposure["subject_id"].isin(ids)], origin)
    summary = dosing.by_day_summary(totals, group)
    order = [POOLED] if pooled else arms
    summary.attrs = {
        "N": {g: int((group == g).sum()) for g in order},
        "groups": order,
        "cutoff": data.cutoff,
    }
    ev = data.events[(data.events["te"] & data.events["safety"]).to_numpy()]
    category = np.full(len(ev), "", dtype=object)
    for key, label, _marker in reversed(MARKED):
        category = np.where(aesi.member(ev, key), label, category)
    ev = ev[category != ""]
    category = category[category != ""]
    subj = ev["subj"].to_numpy()
    who = pd.to_numeric(data.subjects["id"]).to_numpy()[subj]
    day = ev["adt"].to_numpy() - data.subjects["first_dose"].to_numpy()[subj] + 1
    events = pd.DataFrame(
        {
            "group": group.reindex(who).to_numpy(),
            "subject_id": who,
            "study_day": day,
            "cumulative_mg": dosing.cumulative_at(totals, who, day),
            "grade": ev["grade"].to_numpy() if "grade" in ev else 0,
            "category": category,
        }
    )
    return summary, events.sort_values(["study_day", "subject_id"]).reset_index(drop=True)


def plot_prednisone(summary: pd.DataFrame, events: pd.DataFrame, *, fmt: str = "png") -> bytes:
    fig = style.new_figure()
    gs = fig.add_gridspec(2, 1, height_ratios=[0.13, 1])
    ax = fig.add_subplot(gs[1, 0])
    groups = summary.attrs.get("groups", list(dict.fromkeys(summary["group"])))
    sizes = summary.attrs.get("N", {})
    handles: list[Artist] = []
    for i, g in enumerate(groups):
        colour = style.POOLED_COLOUR if g == POOLED else style.arm_colour(i)
        part = summary[summary["group"] == g]
        x = part["study_day"].to_numpy()
        ax.fill_between(x, part["q1"] / 1000, part["q3"] / 1000, color=colour, alpha=0.18, lw=0)
        ax.plot(x, part["median"] / 1000, color=colour, lw=2.2)
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                lw=2.2,
                label=_("%(group)s: median", group=style.arm_label(g, sizes.get(g, 0))),
            )
        )
        marks = events[events["group"] == g]
        for _key, label, marker in MARKED:
            m = marks[marks["category"] == label]
            ax.scatter(
                m["study_day"],
                m["cumulative_mg"] / 1000,
                marker=marker,
                s=30,
                facecolor=colour,
                edgecolor="black",
                linewidth=0.5,
                alpha=0.85,
                zorder=3,
            )
    handles.append(Patch(color=style.REFERENCE_COLOUR, alpha=0.3, label=_("Interquartile range")))
    for _key, label, marker in MARKED:
        handles.append(
            Line2D(
                [],
                [],
                marker=marker,
                linestyle="none",
                color="white",
                markeredgecolor="black",
                markersize=7,
                label=_("%(category)s (onset)", category=_(label)),
            )
        )
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(_("Study day (day 1 = first dose of study drug)"), fontsize=style.LABEL_SIZE)
    ax.set_ylabel(_("Cumulative prednisone dose (g)"), fontsize=style.LABEL_SIZE)
    style.tidy(ax, grid="both")
    style.legend_row(fig, gs[0, 0], handles, ncol=2)
    if summary.empty:
        style.empty(
            ax, style.NO_SUBJECTS if not any(sizes.values()) else N_("No prednisone dosing.")
        )
    scope = style.scope(groups == [POOLED])
    note = _(
        "Safety population. Curves: subjects still dosed on the day (at least 5). Markers: "
        "treatment-emergent events at the subject's cumulative dose on the onset day."
    ) + style.cutoff_note(summary.attrs.get("cutoff"))
    style.title(
        fig,
        _("Cumulative prednisone dose over time, with AESI onsets, %(scope)s", scope=scope),
        note,
    )
    return style.to_bytes(fig, fmt)


def subject_prednisone_data(
    exposure: pd.DataFrame, events: pd.DataFrame, drug: str = DRUG
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(series, events) for one subject: exposure holds all the subject's dosing records
    (every drug: day 1 is the first dose of any); events as load.subject_events."""
    origin = dosing.first_doses(exposure)
    totals = dosing.dose_totals(exposure[exposure["drug"] == drug], origin, daily=True)
    series = dosing.series_frame(totals)
    onset = [_onset(t) for t in events["aestdtc"]]
    marks = events.assign(onset=pd.to_datetime(pd.Series(onset, dtype="datetime64[ns]")))
    marks = marks[marks["onset"].notna()].copy()
    sid = exposure["subject_id"].iloc[0] if len(exposure) else None
    day0 = origin.get(sid) if sid is not None else None
    marks["study_day"] = (marks["onset"] - day0).dt.days + 1 if day0 is not None else np.nan
    marks["cumulative_mg"] = dosing.cumulative_at(
        totals, np.full(len(marks), sid), marks["study_day"].to_numpy()
    )
    return series, marks[["term", "grade", "serious", "onset", "study_day", "cumulative_mg"]]


def _onset(text: object) -> pd.Timestamp | None:
    try:
        return pd.Timestamp(parse_dtc(str(text)).earliest_date) if text else None
    except ValueError:
        return None


def plot_subject_prednisone(
    series: pd.DataFrame, events: pd.DataFrame, *, subject: str, arm: str | None, fmt: str = "png"
) -> bytes:
    fig = style.new_figure()
    gs = fig.add_gridspec(2, 1, height_ratios=[0.1, 1])
    ax = fig.add_subplot(gs[1, 0])
    if arm:
        head = _("Cumulative prednisone: %(subject)s (%(arm)s)", subject=subject, arm=arm)
    else:
        head = _("Cumulative prednisone: %(subject)s", subject=subject)
    if series.empty:
        # No dates to draw against: a message on a bare panel (an empty date axis would
        # otherwise start at 1970).
        style.empty(ax, N_("No prednisone dosing recorded for this subject."))
        style.title(fig, head)
        return style.to_bytes(fig, fmt)
    daily = ax.twinx()
    daily.fill_between(
        series["date"], series["daily_mg"], step="post", color="#56B4E9", alpha=0.25, lw=0
    )
    daily.set_ylabel(_("Daily dose (mg/day, shaded)"), fontsize=style.LABEL_SIZE, color="#2B7BB9")
    daily.set_ylim(0, max(series["daily_mg"].max(), 1) * 2.2)
    daily.tick_params(labelsize=style.TICK_SIZE)
    daily.spines[["top"]].set_visible(False)
    ax.set_zorder(daily.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot(series["date"], series["cumulative_mg"] / 1000, color="#0072B2", lw=2.2)
    for e in events.itertuples():
        ax.scatter(
            [e.onset],
            [e.cumulative_mg / 1000],
            s=70,
            zorder=4,
            color=style.grade_colour(e.grade),
            edgecolor="black",
            linewidth=0.8,
        )
    ax.set_ylim(0, series["cumulative_mg"].max() / 1000 * 1.12)
    ax.set_ylabel(_("Cumulative prednisone dose (g)"), fontsize=style.LABEL_SIZE, color="#0072B2")
    ax.set_xlabel(_("Date"), fontsize=style.LABEL_SIZE)
    style.date_axis(ax)
    style.tidy(ax, grid="both")
    grades = sorted({int(g) for g in events["grade"]}) if len(events) else []
    handles: list[Artist] = [
        Line2D([], [], color="#0072B2", lw=2.2, label=_("Cumulative dose (left axis)")),
        Patch(color="#56B4E9", alpha=0.25, label=_("Daily dose (right axis)")),
    ]
    handles += [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="none",
            markersize=8,
            color=style.grade_colour(g),
            markeredgecolor="black",
            label=style.grade_label(g),
        )
        for g in grades
    ]
    style.legend_row(fig, gs[0, 0], handles, ncol=4)
    style.title(
        fig,
        head,
        _(
            "Markers: onset of each reported adverse event (partial dates at their earliest "
            "day), coloured by CTCAE grade."
        ),
    )
    labels = [
        (
            e.onset,
            e.cumulative_mg / 1000,
            _("%(term)s (SAE)", term=e.term) if e.serious else str(e.term),
        )
        for e in events.itertuples()
    ]
    if labels:
        style.place_labels(ax, labels, style.NOTE_SIZE - 0.5)
    return style.to_bytes(fig, fmt)
