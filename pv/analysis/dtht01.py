"""DTHT01: deaths, one per subject, from DM and AE data.

Who died: a subject of the safety population who died according to DM (DTHFL "Y" or a
death date DTHDTC, not after the data cut-off) or who has an adverse event with a fatal
outcome (outcome FATAL, "results in death" or CTCAE grade 5; treatment-emergent or not,
up to the cut-off). A subject counts once, whatever the number of fatal events.

Date of death: the DM death date when present (a partial date goes to the earliest
possible day, but not before the subject's last dose or last recorded onset in that
period: data.py `_observation`), else the earliest of the fatal events' dates (the
event's end date when complete, else its analysis onset date).

Rows (as chevron's DTHT01, which counts ADSL DTHFL with DTHCAT/DTHCAUS and the days from
last dose LDDTHGR1): the total; deaths while dosing or within the TEAE window after the
last dose, and later (a row "date of death unknown" appears only when DM records a death
without date and no fatal event dates it); then the deaths by primary cause: DM's cause
of death (subjects.death_cause) when collected, else the preferred term of the event
that led to death (a fatal event first, else a serious event ongoing at the DM death
date: aet01 `leads_to_death`; the earliest), else "Unknown". Cells give subjects n (%)
(no event count: one death per subject).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pv.analysis.aet01 import fatal, ongoing_at_death
from pv.analysis.counting import Context, cells, count, order
from pv.analysis.table import Row, Table
from pv.analysis.teae import parse_dates
from pv.i18n import N_, ngettext
from pv.i18n import gettext as _

NAME = "DTHT01"
TITLE = N_("Deaths")
COLUMNS = frozenset({"aebodsys", "aedecod", "aesdth", "aeout", "aetoxgr", "aeendtc", "aeser"})
UNKNOWN = N_("Unknown")


def deaths(ctx: Context) -> pd.DataFrame:
    """One row per subject who died: subj (position), arm, day (NaN when unknown), cause
    (None when unknown)."""
    sj = ctx.data.subjects
    ev = ctx.safety_events()
    is_fatal = fatal(ev)
    led = is_fatal | ongoing_at_death(ev)
    cause_ev = ev[led]
    end, _latest, flag = parse_dates(cause_ev["aeendtc"])
    day = np.where(flag == "", end, cause_ev["adt"].to_numpy(float))
    # earliest fatal event first, then the serious events ongoing at the DM death
    ranked = pd.DataFrame(
        {
            "subj": cause_ev["subj"].to_numpy(np.int64),
            "second": ~is_fatal[led],
            "day": np.where(is_fatal[led], day, np.nan),
            "onset": cause_ev["adt"].to_numpy(float),
            "term": cause_ev["aedecod"].astype(object).to_numpy(),
        }
    ).sort_values(["subj", "second", "day", "onset"], na_position="last", kind="stable")
    first = ranked.drop_duplicates("subj")
    fatal_day = first.set_index("subj")["day"]
    ae_term = first.set_index("subj")["term"]

    n = len(sj)
    fatal_subject = np.zeros(n, dtype=bool)
    fatal_subject[ev["subj"].to_numpy(np.int64)[is_fatal]] = True
    died = sj["safety"].to_numpy(bool) & (sj["dm_died"].to_numpy(bool) | fatal_subject)
    who = np.flatnonzero(died)
    dm_day = sj["death_day"].to_numpy(float)[who]
    ae_day = fatal_day.reindex(who).to_numpy(float)
    dm_cause = sj["death_cause"].to_numpy(object)[who]
    term = ae_term.reindex(who).to_numpy(object)
    cause = [
        (c.strip() if isinstance(c, str) and c.strip() else None)
        or (t if isinstance(t, str) and t else None)
        for c, t in zip(dm_cause, term, strict=True)
    ]
    return pd.DataFrame(
        {
            "subj": who,
            "arm": sj["arm"].to_numpy()[who],
            "day": np.where(np.isnan(dm_day), ae_day, dm_day),
            "cause": pd.Series(cause, dtype=object),
        }
    )


def build(ctx: Context) -> Table:
    dead = deaths(ctx)
    sj = ctx.data.subjects
    who = dead["subj"].to_numpy()
    window = ctx.data.rule.window_days
    day = dead["day"].to_numpy(float)
    known = ~np.isnan(day)
    with np.errstate(invalid="ignore"):
        late = ~sj["ongoing"].to_numpy()[who] & (day > sj["last_dose"].to_numpy()[who] + window)
    late &= known
    early = known & ~late
    n_all, _e = count(ctx, dead)
    n_early, _e = count(ctx, dead[early])
    n_late, _e = count(ctx, dead[late])
    labels = [
        _("Total number of deaths"),
        ngettext(
            "Deaths on treatment or within %(num)d day of the last dose",
            "Deaths on treatment or within %(num)d days of the last dose",
            window,
        ),
        ngettext(
            "Deaths more than %(num)d day after the last dose",
            "Deaths more than %(num)d days after the last dose",
            window,
        ),
    ]
    counts = [n_all, n_early, n_late]
    if (~known).any():
        n_unknown, _e = count(ctx, dead[~known])
        labels.append(_("Date of death unknown"))
        counts.append(n_unknown)
    built = cells(ctx, np.vstack(counts), None)
    rows = [Row("overall", lab, term=lab, cells=c) for lab, c in zip(labels, built, strict=True)]
    rows += _cause_rows(ctx, dead, n_all)
    return Table(
        name=NAME, title=_(TITLE), study_id=ctx.data.study_id, arms=ctx.arms,
        control=None if ctx.control is None else ctx.arms[ctx.control].label,
        rows=rows, cutoff=ctx.data.cutoff, params=dict(ctx.params),
        footnotes=[_("Deaths: subjects who died according to the demographics (DM: death "
                     "flag or date of death) or with an adverse event with outcome fatal, "
                     "'results in death' or grade 5 (treatment-emergent or not); each "
                     "subject counts once. Date of death: DM's date, else the fatal event's "
                     "end date, else its onset. Primary cause: DM's cause of death, else the "
                     "preferred term of the event that led to death, else unknown.")],
    )  # fmt: skip


def _cause_rows(ctx: Context, dead: pd.DataFrame, n_all: np.ndarray) -> list[Row]:
    """'Primary cause of death' and one row per cause (subjects counted once)."""
    if dead.empty:
        return []
    known = dead["cause"].notna().to_numpy()
    labels = sorted(set(dead.loc[known, "cause"]))
    lookup = {c: i for i, c in enumerate(labels)}
    codes = np.array([lookup.get(c, len(labels)) for c in dead["cause"]], dtype=np.int64)
    if (~known).any():
        labels.append(_(UNKNOWN))
    subjects, _e = count(ctx, dead, codes, len(labels))
    built = cells(ctx, np.vstack([n_all[0], *subjects]), None)
    header = _("Primary cause of death")
    rows = [Row("overall", header, term=header, cells=built[0])]
    named = len(labels) - int((~known).any())
    ranked = order(ctx, labels[:named], subjects[:named]) + list(range(named, len(labels)))
    for i in ranked:  # by frequency, "Unknown" last
        rows.append(Row("term", labels[i], term=labels[i], cells=built[i + 1], indent=1))
    return rows
