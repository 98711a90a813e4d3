"""AESI incidence by arm with a risk-difference forest plot (AET01_AESI).

Every number comes from the AET01_AESI table: per grouping, subjects with a TEAE in the
grouping (n), the arm's safety N, and for each non-control arm the risk difference
against the control with its Newcombe 95% CI. Nothing is recomputed here; the chart
converts proportions to percent / percentage points only for display.

Pooled (open session): incidence in all subjects (the table's Total column), no arm and
no comparison.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.patches import Patch

from pv.analysis.survival import POOLED
from pv.analysis.table import TOTAL, Table
from pv.charts import style
from pv.i18n import N_
from pv.i18n import gettext as _

COLUMNS = [
    "key",
    "grouping",
    "group",
    "position",
    "is_control",
    "n",
    "N",
    "pct",
    "rd",
    "rd_low",
    "rd_high",
]


def aesi_forest_data(table: Table, *, pooled: bool = False) -> pd.DataFrame:
    """One row per (AESI grouping, arm) — or per grouping, pooled — as the chart draws it.

    pct is 100 n / N; rd, rd_low, rd_high are the table's proportions (arm minus control;
    NaN for the control arm, the pooled rows and when there is no control arm).
    """
    records = []
    for row in table.rows:
        if row.row_type != "soc":
            continue
        groups = (
            [(POOLED, TOTAL, -1, False)]
            if pooled
            else [(a.label, a.label, i, a.is_control) for i, a in enumerate(table.arms)]
        )
        for label, column, position, is_control in groups:
            c = row.cells[column]
            records.append(
                {
                    "key": row.extra.get("aesi", row.label),
                    "grouping": row.label,
                    "group": label,
                    "position": position,
                    "is_control": is_control,
                    "n": c.n,
                    "N": c.N,
                    "pct": c.pct if c.pct is not None else math.nan,
                    "rd": _nan(None if pooled else c.rd),
                    "rd_low": _nan(None if pooled else c.rd_low),
                    "rd_high": _nan(None if pooled else c.rd_high),
                }
            )
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    frame.attrs = {
        "control": None if pooled else table.control,
        "cutoff": table.cutoff,
        "study_id": table.study_id,
    }
    return frame


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def plot_aesi_forest(frame: pd.DataFrame, *, fmt: str = "png") -> bytes:
    """Incidence bars per AESI grouping and arm; beside them the RD forest plot."""
    pooled = bool((frame["group"] == POOLED).all()) and len(frame) > 0
    groupings = list(dict.fromkeys(frame["grouping"]))
    groups = frame.drop_duplicates("group")[["group", "position", "N"]].to_records(index=False)
    height = max(style.HEIGHT, 1.6 + 0.55 * len(groupings) * max(1, len(groups)) ** 0.5)
    fig = style.new_figure(height)
    legend_height = 0.05 * (1 + (len(groups) - 1) // 2)
    if pooled:
        gs = fig.add_gridspec(2, 1, height_ratios=[legend_height, 1])
        ax_bar, ax_rd = fig.add_subplot(gs[1, 0]), None
    else:
        gs = fig.add_gridspec(2, 2, height_ratios=[legend_height, 1], width_ratios=[1.15, 1])
        ax_bar = fig.add_subplot(gs[1, 0])
        ax_rd = fig.add_subplot(gs[1, 1], sharey=ax_bar)
    y = np.arange(len(groupings), dtype=float)
    has_data = bool(frame["N"].fillna(0).any())
    band = 0.8 / max(len(groups), 1)
    handles: list[Artist] = []
    for k, (group, position, n_total) in enumerate(groups):
        colour = style.POOLED_COLOUR if pooled else style.arm_colour(int(position))
        sub = frame[frame["group"] == group].set_index("grouping").reindex(groupings)
        offset = y - 0.4 + band * (k + 0.5)
        ax_bar.barh(offset, sub["pct"].fillna(0), height=band * 0.9, color=colour)
        for yy, (n, big_n, pct) in zip(offset, sub[["n", "N", "pct"]].to_numpy(), strict=True):
            if not has_data:
                break
            text = _("no subjects") if pd.isna(pct) else f"{int(n)}/{int(big_n)} ({pct:.0f}%)"
            ax_bar.text(
                (0 if pd.isna(pct) else pct) + 1.5, yy, text, va="center", fontsize=style.NOTE_SIZE
            )
        handles.append(Patch(color=colour, label=style.arm_label(str(group), int(n_total))))
    ax_bar.set_yticks(y, groupings, fontsize=style.LABEL_SIZE)
    ax_bar.set_ylim(len(groupings) - 0.5, -0.5)
    ax_bar.set_xlim(0, 125)
    ax_bar.set_xticks([0, 25, 50, 75, 100])
    ax_bar.set_xlabel(_("Subjects with the AESI (%)"), fontsize=style.LABEL_SIZE)
    style.tidy(ax_bar, grid="x")
    ax_bar.set_title(_("Incidence"), loc="left", fontsize=style.LABEL_SIZE)
    if ax_rd is not None:
        _forest(ax_rd, frame, groupings, band, groups)
    if not has_data:
        style.empty(ax_bar)
    control = frame.attrs.get("control")
    if pooled:
        head = _("Adverse events of special interest: incidence, all arms pooled")
    else:
        head = _("Adverse events of special interest: incidence by arm and risk difference")
    note = _("Safety population; treatment-emergent AEs.")
    if control and not pooled:
        note += style.gap() + _(
            "Risk difference: arm minus %(control)s, Newcombe hybrid score 95%% CI.",
            control=control,
        )
    note += style.cutoff_note(frame.attrs.get("cutoff"))
    style.title(fig, head, note)
    style.legend_row(fig, gs[0, :], handles)
    return style.to_bytes(fig, fmt)


def _forest(ax, frame: pd.DataFrame, groupings: list[str], band: float, groups) -> None:  # noqa: ANN001
    compared = frame[frame["rd"].notna()]
    if compared.empty:
        ax.tick_params(axis="y", left=False, labelleft=False)
        if frame["N"].fillna(0).eq(0).any():
            reason = N_("No risk difference: an arm has no subject in the safety population.")
        else:
            reason = N_("No control arm: risk differences are not shown.")
        style.empty(ax, reason)
        return
    ax.axvline(0, color=style.REFERENCE_COLOUR, linewidth=1, linestyle="--")
    labels_y, labels = [], []
    names = [g[0] for g in groups]
    for _i, r in compared.iterrows():
        k = names.index(r["group"])
        yy = groupings.index(r["grouping"]) - 0.4 + band * (k + 0.5)
        rd, lo, hi = 100 * r["rd"], 100 * r["rd_low"], 100 * r["rd_high"]
        colour = style.arm_colour(int(r["position"]))
        ax.plot([lo, hi], [yy, yy], color=colour, linewidth=2, solid_capstyle="butt")
        ax.plot([rd], [yy], marker="D", markersize=7, color=colour, markeredgecolor="black")
        labels_y.append(yy)
        labels.append(f"{rd:+.1f} ({lo:+.1f}, {hi:+.1f})")
    low = min(-10.0, 100 * compared["rd_low"].min() - 5)
    high = max(10.0, 100 * compared["rd_high"].max() + 5)
    ax.set_xlim(low, high)
    ax.set_xlabel(_("Risk difference, % points (95% CI)"), fontsize=style.LABEL_SIZE)
    ax.tick_params(axis="y", left=False, labelleft=False)
    style.tidy(ax, grid="x")
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(labels_y, labels, fontsize=style.NOTE_SIZE)
    right.tick_params(axis="y", length=0)
    right.spines[["top", "right", "left", "bottom"]].set_visible(False)
    control = frame.attrs.get("control")
    ax.set_title(
        _("Risk difference (95%% CI)\nvs %(control)s", control=control),
        loc="left",
        fontsize=style.LABEL_SIZE,
    )
