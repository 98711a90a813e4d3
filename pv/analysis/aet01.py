"""AET01: overview of adverse events, one row per category, subjects n (%) and events.

pre: events of the safety population (all AEs for the first row, TEAEs for the rest);
count: distinct subjects and events per category; post: each arm against control.
Rows are "overall" rows; the category name is also written to the CSV `term` column.
Grade >= 3 uses the CTCAE grade, or the severity SEVERE where only severity was
collected (imported data); fatal means outcome FATAL, "results in death" or grade 5.

"Leading to death" (`leads_to_death`) uses DM as well as AE data: a fatal event (as
above: the SDTM convention, AEOUT FATAL / AESDTH Y, as chevron's AET01 "fatal" flag), or,
for a subject who died per DM (DTHFL or DTHDTC, by the cut-off), a serious event ongoing
at the DM death date (onset on or before it and no end date before it; without a death
date, a serious event with no end date). The second part is our documented choice for a
death that DM records but no AE record marks as fatal.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from pv.analysis.counting import Context, cells, count, text_in
from pv.analysis.table import Row, Table
from pv.i18n import N_
from pv.i18n import gettext as _

NAME = "AET01"
TITLE = N_("Overview of adverse events")
COLUMNS = frozenset({"aeser", "aetoxgr", "aesev", "related", "drug_withdrawn", "aesdth", "aeout"})


def fatal(ev: pd.DataFrame) -> np.ndarray:
    out = ev["aesdth"].to_numpy(bool) | (ev["grade"].to_numpy() == 5)
    return out | text_in(ev["aeout"], {"FATAL"})


def ongoing_at_death(ev: pd.DataFrame) -> np.ndarray:
    """Serious events of subjects who died per DM that were ongoing at the DM death date
    (data.py: dm_died, dm_death_day; adt = onset, aendt = latest possible end day)."""
    if "aeser" not in ev or "dm_died" not in ev:
        return np.zeros(len(ev), dtype=bool)
    day = ev["dm_death_day"].to_numpy(float)
    start, end = ev["adt"].to_numpy(float), ev["aendt"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        dated = (start <= day) & ~(end < day)
    ongoing = np.where(np.isnan(day), np.isnan(end), dated)
    return ev["dm_died"].to_numpy(bool) & ev["aeser"].to_numpy(bool) & ongoing


def leads_to_death(ev: pd.DataFrame) -> np.ndarray:
    """Fatal events, and serious events ongoing at a death recorded in DM (module doc)."""
    return fatal(ev) | ongoing_at_death(ev)


# (label, predicate on TEAEs); the "any AE" row is added separately (it is not TEAE-only).
CATEGORIES: list[tuple[str, Callable[[pd.DataFrame], np.ndarray]]] = [
    (N_("Any TEAE"), lambda ev: np.ones(len(ev), dtype=bool)),
    (N_("Serious TEAE"), lambda ev: ev["aeser"].to_numpy(bool)),
    (N_("TEAE of grade 3 or higher (or severe)"), lambda ev: ev["grade"].to_numpy() >= 3),
    (N_("Related TEAE"), lambda ev: ev["related"].to_numpy(bool)),
    (
        N_("TEAE leading to discontinuation of study drug"),
        lambda ev: ev["drug_withdrawn"].to_numpy(bool),
    ),
    (N_("TEAE leading to death"), leads_to_death),
]


def pre(ctx: Context) -> tuple[pd.DataFrame, pd.DataFrame]:
    return ctx.safety_events(), ctx.teaes()


def category_counts(ctx: Context, teaes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(subjects, events) shaped (categories, arms) for CATEGORIES over these TEAEs."""
    subj, ev = [], []
    for _label, predicate in CATEGORIES:
        s, e = count(ctx, teaes[predicate(teaes)])
        subj.append(s[0])
        ev.append(e[0])
    return np.vstack(subj), np.vstack(ev)


def build(ctx: Context) -> Table:
    all_events, teaes = pre(ctx)
    any_s, any_e = count(ctx, all_events)
    cat_s, cat_e = category_counts(ctx, teaes)
    subjects, events = np.vstack([any_s, cat_s]), np.vstack([any_e, cat_e])
    labels = [_("Any AE")] + [_(label) for label, _p in CATEGORIES]
    built = cells(ctx, subjects, events)
    rows = [Row("overall", lab, term=lab, cells=c) for lab, c in zip(labels, built, strict=True)]
    return Table(
        name=NAME, study_id=ctx.data.study_id, arms=ctx.arms,
        control=None if ctx.control is None else ctx.arms[ctx.control].label,
        rows=rows, cutoff=ctx.data.cutoff, params=dict(ctx.params), title=_(TITLE),
        footnotes=[_("Grade >= 3 uses the CTCAE grade, or severity SEVERE where no grade was "
                     "collected. Death: outcome fatal, 'results in death' or grade 5."),
                   _("Leading to death: a fatal event or, for a subject who died according "
                     "to the demographics (DM), a serious event ongoing at the date of death.")],
    )  # fmt: skip
