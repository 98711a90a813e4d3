"""Kaplan-Meier time to first treatment-emergent infection, by arm or pooled.

The life table comes from pv.analysis.survival (stats.kaplan_meier, the estimator AET05
uses); this module only draws it: step curves with censoring ticks, the number at risk
under the x axis, median and log-rank p in the legend.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.lines import Line2D

from pv.analysis import survival
from pv.analysis.data import StudyData
from pv.charts import style
from pv.i18n import N_, ngettext
from pv.i18n import gettext as _

# The event named in titles and axis labels ("time to first infection").
EVENT = N_("event")
SINGULAR = {  # msgids
    "infection": N_("infection"),
    "hypersensitivity": N_("hypersensitivity reaction"),
    "infusion_reaction": N_("infusion reaction"),
    "gc_toxicity": N_("glucocorticoid toxicity"),
}


def km_data(data: StudyData, *, key: str = "infection", pooled: bool = False) -> pd.DataFrame:
    """The stacked life tables the chart draws (see survival.km_table); attrs also carry
    "positions" {group: arm position, -1 pooled} and "cutoff"."""
    frame = survival.km_table(data, key, pooled=pooled)
    arms = list(data.arms["label"])
    frame.attrs["positions"] = {g: (-1 if pooled else arms.index(g)) for g in frame.attrs["groups"]}
    frame.attrs["cutoff"] = data.cutoff
    frame.attrs["label"] = SINGULAR.get(key, key.replace("_", " "))
    return frame


def _ticks(t_max: float) -> np.ndarray:
    for step in (7, 14, 28, 30, 60, 90, 180, 365):
        if t_max / step <= 8:
            return np.arange(0, t_max + step, step, dtype=float)
    return np.linspace(0, t_max, 8)


def plot_km(frame: pd.DataFrame, *, fmt: str = "png") -> bytes:
    groups: list[str] = frame.attrs.get("groups", list(dict.fromkeys(frame["group"])))
    positions = frame.attrs.get("positions", {})
    medians = frame.attrs.get("medians", {})
    raw = str(frame.attrs.get("label", EVENT))
    label = _(raw) if raw == EVENT or raw in SINGULAR.values() else raw.lower()
    fig = style.new_figure(style.HEIGHT + 0.25 * max(len(groups) - 1, 0))
    gs = fig.add_gridspec(
        3, 1, height_ratios=[0.2 + 0.12 * len(groups), 4, 0.45 + 0.3 * len(groups)]
    )
    ax = fig.add_subplot(gs[1, 0])
    table_ax = fig.add_subplot(gs[2, 0], sharex=ax)
    t_max = float(frame["time"].max()) if len(frame) else 1.0
    ticks = _ticks(max(t_max, 1.0))
    handles: list[Artist] = []
    for g in groups:
        part = frame[frame["group"] == g]
        pos = positions.get(g, -1)
        colour = style.POOLED_COLOUR if pos < 0 else style.arm_colour(pos)
        t = part["time"].to_numpy()
        s = part["surv"].to_numpy()
        # Extend the last step to the last follow-up time so the curve does not stop early.
        ax.step(np.append(t, t[-1]), np.append(s, s[-1]), where="post", color=colour, lw=2)
        cens = part[part["censored"] > 0]
        ax.plot(
            cens["time"],
            cens["surv"],
            linestyle="none",
            marker="|",
            markersize=9,
            markeredgewidth=1.4,
            color=colour,
        )
        n, events = int(part["N"].iloc[0]), int(part["events"].sum())
        median = medians.get(g)
        if median is None:
            med = _("not reached")
        elif float(median).is_integer():
            med = ngettext("%(num)d day", "%(num)d days", round(median))
        else:  # R's midpoint of a flat stretch at 0.5 (stats.kaplan_meier), e.g. 2.5 days
            med = _("%(days)s days", days=f"{median:g}")
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                lw=2,
                label=_(
                    "%(group)s: %(events)s with %(event)s, median %(median)s",
                    group=style.arm_label(g, n),
                    events=events,
                    event=label,
                    median=med,
                ),
            )
        )
    handles.append(
        Line2D(
            [], [], color="black", marker="|", linestyle="none", markersize=9, label=_("Censored")
        )
    )
    ax.set_ylim(0, 1.03)
    ax.set_yticks(np.linspace(0, 1, 6), [f"{v:.0%}" for v in np.linspace(0, 1, 6)])
    ax.set_ylabel(_("Subjects free of %(event)s (%%)", event=label), fontsize=style.LABEL_SIZE)
    style.tidy(ax, grid="both")
    p = frame.attrs.get("logrank_p")
    if p is not None:
        ax.text(
            0.99,
            0.97,
            _("Log-rank p = %(p)s", p=_p(p)),
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=style.LABEL_SIZE,
        )
    style.legend_row(fig, gs[0, 0], handles, ncol=1)
    _at_risk(table_ax, frame, groups, positions, ticks)
    table_ax.set_xlim(0, ticks[-1])
    table_ax.set_xticks(ticks)
    table_ax.set_xlabel(_("Days since first dose of study drug"), fontsize=style.LABEL_SIZE)
    ax.tick_params(labelbottom=True)
    if not len(frame) or not frame["N"].any():
        style.empty(ax)
    scope = style.scope(all(positions.get(g, -1) < 0 for g in groups))
    note = _(
        "Safety population; treatment-emergent events; subjects without the event are "
        "censored at the end of the time at risk (last dose + TEAE window, or cut-off)."
    )
    note += style.cutoff_note(frame.attrs.get("cutoff"))
    style.title(
        fig,
        _("Time to first %(event)s: Kaplan-Meier, %(scope)s", event=label, scope=scope),
        note,
    )
    return style.to_bytes(fig, fmt)


def _at_risk(ax, frame, groups, positions, ticks) -> None:  # noqa: ANN001
    ax.set_ylim(len(groups) - 0.5, -0.5)
    ax.set_title(_("Number at risk"), loc="left", fontsize=style.TICK_SIZE, fontweight="bold")
    for i, g in enumerate(groups):
        pos = positions.get(g, -1)
        colour = style.POOLED_COLOUR if pos < 0 else style.arm_colour(pos)
        for t, n in zip(ticks, survival.at_risk(frame, g, ticks), strict=True):
            ax.text(t, i, str(n), ha="center", va="center", fontsize=style.TICK_SIZE, color=colour)
    ax.set_yticks(
        range(len(groups)), [_short(style.group(g)) for g in groups], fontsize=style.TICK_SIZE
    )
    for tick, g in zip(ax.get_yticklabels(), groups, strict=True):
        pos = positions.get(g, -1)
        tick.set_color(style.POOLED_COLOUR if pos < 0 else style.arm_colour(pos))
    # The counts at t=0 are centred on the axis: keep the labels clear of the widest one.
    digits = len(str(int(frame["N"].max()))) if len(frame) else 1
    ax.tick_params(axis="y", length=0, pad=6 + 3.5 * digits)
    ax.tick_params(axis="x", labelsize=style.TICK_SIZE)
    ax.spines[["top", "right", "left"]].set_visible(False)


def _short(label: str, width: int = 36) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
