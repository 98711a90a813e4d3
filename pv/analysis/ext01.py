"""EXT01: study drug exposure, per arm and in total.

Follows chevron's EXT01 (ext01_main: tern's analyze_vars of the ADEX parameters, e.g.
TDURD "Overall duration (days)", TNDOSE "Total number of doses", TDOSE "Total dose
administered"; n, Mean (SD), Median, Min - Max). pre: the safety population and its
dosing records up to the cut-off (StudyData.exposure; a daily-dose period still open is
closed at the cut-off, or at the last date seen in the study). count, per subject:
- treatment duration (days) = last dose day - first dose day + 1 over every study drug
  (the last dose day of a daily period is its end day; of an infusion, its day);
- per study drug (generic: every drug with a record), subjects exposed n (%); for a drug
  given as single administrations (frequency ONCE, e.g. infusions) the number of
  administrations (one per record); for every drug the cumulative dose in mg: the sum
  over its records of dose_mg for a single administration and dose_mg x days for a
  daily-dose period (frequency QD; days = end - start + 1, both days included).
post: tern statistics per arm and in total over the subjects with a value (the drug's
rows count the subjects who received that drug). No comparison between arms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pv.analysis import summary
from pv.analysis.counting import Context
from pv.analysis.table import Row, Table
from pv.i18n import N_
from pv.i18n import gettext as _

NAME = "EXT01"
TITLE = N_("Study drug exposure")
# No arm is compared with another: no comparison columns or method footnotes.
DESCRIPTIVE = True
COLUMNS: frozenset[str] = frozenset()  # the dosing records come with every load


def per_subject(ctx: Context) -> pd.DataFrame:
    """One row per (subject position, drug): first, last dose day, administrations
    (ONCE records), daily-dose days (QD) and cumulative mg. Safety population only."""
    data = ctx.data
    ex = data.exposure
    sj = data.subjects
    names = ("subject_id", "drug", "frequency", "start", "end", "dose_mg")
    if ex.empty or not set(names) <= set(ex.columns):
        ex = pd.DataFrame({n: pd.Series(dtype=object) for n in names})
    ids = pd.Index(pd.to_numeric(sj["id"]).to_numpy())
    frame = pd.DataFrame(
        {
            "subj": ids.get_indexer(pd.to_numeric(ex["subject_id"]).to_numpy()).astype(np.int64),
            "drug": ex["drug"].astype(str).to_numpy(),
            "daily": ex["frequency"].astype(str).str.upper().eq("QD").to_numpy(bool),
            "start": pd.to_numeric(ex["start"]).to_numpy(dtype=float),
            "end": pd.to_numeric(ex["end"]).to_numpy(dtype=float),
            "dose": pd.to_numeric(ex["dose_mg"], errors="coerce").to_numpy(dtype=float),
        }
    )
    frame = frame[frame["subj"] >= 0]
    frame = frame[sj["safety"].to_numpy(bool)[frame["subj"].to_numpy()]]
    end = frame["end"].to_numpy(dtype=float)
    open_end = np.isnan(end)
    data_end = data.data_end if np.isfinite(data.data_end) else np.nan
    end = np.where(open_end, data_end, end)
    daily = frame["daily"].to_numpy(bool)
    start = frame["start"].to_numpy(dtype=float)
    days = np.where(daily, np.maximum(end - start + 1, 1), 0.0)
    frame = frame.assign(
        last=np.where(daily, end, start),
        once=(~daily).astype(int),
        days=days,
        mg=np.where(daily, frame["dose"].to_numpy() * days, frame["dose"].to_numpy()),
    )
    return frame


def build(ctx: Context) -> Table:
    sj = ctx.data.subjects
    n_subj = len(sj)
    arm_of_all = np.where(sj["safety"].to_numpy(bool), sj["arm"].to_numpy(np.int64), -1)
    arms = ctx.arms
    frame = per_subject(ctx)
    rows: list[Row] = []
    span = frame.groupby("subj").agg(first=("start", "min"), last=("last", "max"))
    duration = np.full(n_subj, np.nan)
    duration[span.index.to_numpy()] = (span["last"] - span["first"] + 1).to_numpy()
    rows += summary.continuous(arms, arm_of_all, duration, _("Treatment duration (days)"))
    for drug in sorted(frame["drug"].unique()):
        own = frame[frame["drug"] == drug]
        per = own.groupby("subj").agg(
            once=("once", "sum"), days=("days", "sum"), mg=("mg", "sum"), dose=("dose", "count")
        )
        who = per.index.to_numpy()
        exposed = np.zeros(n_subj, dtype=bool)
        exposed[who] = True
        rows.append(summary.variable_row(drug))
        rows.append(
            summary.count_row(arms, arm_of_all, exposed, _("Subjects exposed"), soc=drug, indent=1)
        )
        if own["once"].sum():
            value = np.full(n_subj, np.nan)
            value[who] = per["once"].to_numpy(dtype=float)
            rows += _stats(arms, arm_of_all, value, drug, _("Number of administrations"))
        if own["days"].sum():
            value = np.full(n_subj, np.nan)
            value[who] = per["days"].to_numpy(dtype=float)
            rows += _stats(arms, arm_of_all, value, drug, _("Days on daily dosing"))
        value = np.full(n_subj, np.nan)
        known = own.groupby("subj")["mg"].apply(lambda s: s.notna().all())
        value[who] = np.where(known.reindex(who).to_numpy(bool), per["mg"].to_numpy(), np.nan)
        rows += _stats(arms, arm_of_all, value, drug, _("Cumulative dose (mg)"))
    return Table(
        name=NAME, title=_(TITLE), study_id=ctx.data.study_id, arms=arms, control=None,
        rows=rows, cutoff=ctx.data.cutoff, params=dict(ctx.params),
        footnotes=[
            _("Treatment duration: first to last dose day of any study drug, both included "
              "(a daily-dose period ends on its end day; one still open ends at the data "
              "cut-off or the last date in the study). Administrations: one per single-dose "
              "record (e.g. an infusion). Cumulative dose: dose (mg) per administration, or "
              "daily dose (mg) x days of each daily-dose period. Statistics over the "
              "subjects who received the drug. Descriptive only: no comparison between arms."),
        ],
    )  # fmt: skip


def _stats(arms, arm_of, values: np.ndarray, drug: str, label: str) -> list[Row]:  # type: ignore[no-untyped-def]
    """The statistic rows of one drug parameter: the parameter as a sub-header (indent 1)
    and its statistics (indent 2); the CSV `soc` column holds "drug: parameter"."""
    rows = summary.continuous(arms, arm_of, values, f"{drug}: {label}")
    head, stats = rows[0], rows[1:]
    head.label, head.row_type, head.indent = label, "term", 1
    for r in stats:
        r.indent = 2
    return [head, *stats]
