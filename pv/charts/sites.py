"""Adverse-event reporting rate per site: treatment-emergent AEs per patient-year.

A site that reports far fewer events per patient-year than the study as a whole may be
under-reporting. Events: every treatment-emergent AE of the safety population (each record
counts); patient-years: the time at risk of the site's safety subjects (first dose to the
end of the TEAE window or the cut-off, data.py `risk_days`) / 365.25, the denominator of
AET05. 95% CI: exact Poisson (Garwood, stats.poisson_exact_ci) for the count, divided by
the patient-years. A site under 75% of the reference rate (the study's, or its arm's over
all sites) whose upper limit is below that rate is flagged "low".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.lines import Line2D

from pv.analysis import stats
from pv.analysis.data import StudyData
from pv.analysis.survival import POOLED
from pv.charts import style
from pv.i18n import gettext as _

DAYS_PER_YEAR = 365.25
LOW_COLOUR = "#D55E00"
# "Low": the 95% CI lies entirely below the reference rate and the rate is under 75% of
# it; with very many events a few percent below the mean is already "significant".
LOW_RATIO = 0.75
FEW_SITES = 12  # up to this many sites, rows are roomy and carry "events / PY" labels
COLUMNS = [
    "site_id",
    "site_code",
    "site_name",
    "group",
    "position",
    "subjects",
    "events",
    "pyears",
    "rate",
    "rate_low",
    "rate_high",
    "reference",
    "low",
]


def reporting_rate_data(
    data: StudyData, sites: pd.DataFrame, *, pooled: bool = False
) -> pd.DataFrame:
    """One row per site (pooled) or per site and arm. `reference` is the rate of the whole
    study (pooled) or of the row's arm over all sites (by arm: arms differ in their AE
    rate, so a site is compared within its arm); `low`: rate < LOW_RATIO x reference and
    the 95% CI entirely below the reference.
    attrs: study_rate (all safety subjects), reference {group: rate}, N, cutoff.
    sites: load.subject_sites."""
    subjects = data.subjects.assign(subject_id=pd.to_numeric(data.subjects["id"]))
    subjects = subjects.merge(sites, on="subject_id", how="left")
    safety = subjects[subjects["safety"].to_numpy()]
    ev = data.events[(data.events["te"] & data.events["safety"]).to_numpy()]
    per_subject = np.bincount(ev["subj"].to_numpy(np.int64), minlength=len(subjects))
    safety = safety.assign(
        events=per_subject[safety.index.to_numpy()], pyears=safety["risk_days"] / DAYS_PER_YEAR
    )
    arms = list(data.arms["label"])
    safety["group"] = POOLED if pooled else [arms[a] for a in safety["arm"]]
    safety["position"] = -1 if pooled else safety["arm"].astype(int)
    keys = ["site_id", "site_code", "site_name", "group", "position"]
    out = (
        safety.groupby(keys, sort=False, dropna=False)
        .agg(subjects=("subject_id", "size"), events=("events", "sum"), pyears=("pyears", "sum"))
        .reset_index()
    )
    out = out.sort_values(["site_code", "position"], kind="stable").reset_index(drop=True)
    lo, hi = stats.poisson_exact_ci(out["events"].to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        py = out["pyears"].to_numpy(dtype=float)
        out["rate"] = np.where(py > 0, out["events"] / py, np.nan)
        out["rate_low"] = np.where(py > 0, lo / py, np.nan)
        out["rate_high"] = np.where(py > 0, hi / py, np.nan)
    groups = [POOLED] if pooled else arms
    by_group = safety.groupby("group")[["events", "pyears"]].sum()
    reference = {
        g: _rate(by_group["events"].get(g, 0), by_group["pyears"].get(g, 0.0)) for g in groups
    }
    out["reference"] = out["group"].map(reference).astype(float)
    out["low"] = (out["rate_high"] < out["reference"]) & (
        out["rate"] < LOW_RATIO * out["reference"]
    )
    total_events, total_py = int(safety["events"].sum()), float(safety["pyears"].sum())
    out.attrs = {
        "study_rate": _rate(total_events, total_py),
        "reference": reference,
        "study_events": total_events,
        "study_pyears": total_py,
        "cutoff": data.cutoff,
        "groups": groups,
        "N": {g: int((safety["group"] == g).sum()) for g in groups},
    }
    return out[COLUMNS]


def _rate(events: float, pyears: float) -> float:
    return float(events) / float(pyears) if pyears > 0 else float("nan")


def plot_reporting_rate(frame: pd.DataFrame, *, fmt: str = "png") -> bytes:
    """A dot plot: one row per site, a dot and 95% CI per arm (or pooled), the reference
    rate as a dashed line; sites whose CI lies entirely below it are marked "low"."""
    sites = frame.drop_duplicates("site_id")[["site_id", "site_code", "site_name"]]
    groups = frame.attrs.get("groups", list(dict.fromkeys(frame["group"])))
    pooled = groups == [POOLED]
    few = len(sites) <= FEW_SITES
    per_site = (0.3 + 0.12 * len(groups)) if few else 0.12 + 0.05 * len(groups)
    fig = style.new_figure(max(style.HEIGHT, 2.4 + per_site * len(sites)))
    gs = fig.add_gridspec(
        2,
        1,
        height_ratios=[
            0.55 + 0.25 * ((len(groups) + 1) // 2),
            max(style.HEIGHT, per_site * len(sites)),
        ],
    )
    ax = fig.add_subplot(gs[1, 0])
    band = 0.7 / max(len(groups), 1)
    y_site = {sid: i for i, sid in enumerate(sites["site_id"])}
    x_max = float(np.nanmax(frame[["rate_high", "reference"]].to_numpy(dtype=float), initial=0.1))
    reference = frame.attrs.get("reference", {})
    for k, g in enumerate(groups):
        colour = style.POOLED_COLOUR if pooled else style.arm_colour(k)
        if np.isfinite(reference.get(g, np.nan)):
            ax.axvline(reference[g], color=colour, linestyle="--", linewidth=1.3, zorder=1)
        part = frame[(frame["group"] == g) & np.isfinite(frame["rate"].to_numpy(dtype=float))]
        y = part["site_id"].map(y_site).to_numpy() - 0.35 + band * (k + 0.5)
        ax.hlines(y, part["rate_low"], part["rate_high"], color=colour, linewidth=1.6, zorder=2)
        ax.scatter(
            part["rate"],
            y,
            s=48 if few else 22,
            color=colour,
            zorder=3,
            edgecolor=np.where(part["low"], LOW_COLOUR, "black"),
            linewidth=np.where(part["low"], 2.2, 0.6),
        )
        for r, yy in zip(part.itertuples(), y, strict=True):
            if not few:  # many sites: the orange marker and site label say it all
                break
            ax.text(
                np.nanmax([r.rate_high, reference.get(g, 0.0)]) + x_max * 0.02,
                yy,
                _("%(events)s AEs / %(pyears)s PY", events=r.events, pyears=f"{r.pyears:.1f}")
                + ("  " + _("LOW") if r.low else ""),
                va="center",
                fontsize=style.NOTE_SIZE,
                color=LOW_COLOUR if r.low else "black",
                fontweight="bold" if r.low else "normal",
            )
    subjects = frame.groupby("site_id", sort=False)["subjects"].sum()
    low_sites = set(frame.loc[frame["low"], "site_id"])
    labels = [
        f"{_short(f'{s.site_code} {s.site_name}')} (n={subjects[s.site_id]})"
        for s in sites.itertuples()
    ]
    ax.set_yticks(range(len(sites)), labels, fontsize=style.TICK_SIZE if few else 7.5)
    for tick, sid in zip(ax.get_yticklabels(), sites["site_id"], strict=True):
        if sid in low_sites:
            tick.set_color(LOW_COLOUR)
            tick.set_fontweight("bold")
    pad = max(3 - len(sites), 0) / 2  # a lone site is drawn in the middle
    ax.set_ylim(len(sites) - 0.5 + pad, -0.5 - pad)
    ax.set_xlim(0, x_max * 1.35)
    ax.set_xlabel(_("Treatment-emergent AEs per patient-year (95% CI)"), fontsize=style.LABEL_SIZE)
    style.tidy(ax, grid="x")
    if frame.empty:
        style.empty(ax)
    sizes = frame.attrs.get("N", {})
    handles: list[Artist] = [
        Line2D(
            [],
            [],
            color=style.POOLED_COLOUR if pooled else style.arm_colour(k),
            marker="o",
            markeredgecolor="black",
            markeredgewidth=0.6,
            linewidth=1.6,
            label=style.arm_label(g, sizes.get(g, 0)),
        )
        for k, g in enumerate(groups)
    ]
    study_rate = float(frame.attrs.get("study_rate", np.nan))
    handles.append(
        Line2D(
            [],
            [],
            color="black",
            linestyle="--",
            label=(
                _("Study-wide rate (%(rate)s per patient-year)", rate=f"{study_rate:.2f}")
                if pooled
                else _("Each arm's rate over all sites (dashed, arm colour)")
            ),
        )
    )
    handles.append(
        Line2D(
            [],
            [],
            color="white",
            marker="o",
            markeredgecolor=LOW_COLOUR,
            markeredgewidth=2.2,
            markersize=8,
            linestyle="none",
            label=_("Low: under %(share)s of that rate, 95%% CI entirely below it", share="75%"),
        )
    )
    style.legend_row(fig, gs[0, 0], handles, ncol=2)
    note = _(
        "Safety population; every treatment-emergent AE record counts; patient-years: first dose "
        "to the end of the TEAE window (or cut-off); exact Poisson 95% CI."
    ) + style.cutoff_note(frame.attrs.get("cutoff"))
    style.title(
        fig,
        _("Adverse-event reporting rate per site, %(scope)s", scope=style.scope(pooled)),
        note,
    )
    return style.to_bytes(fig, fmt)


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
