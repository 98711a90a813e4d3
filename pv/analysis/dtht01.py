"""DTHT01: deaths.

pre: adverse events of the safety population with a fatal outcome (outcome FATAL,
"results in death" or CTCAE grade 5), treatment-emergent or not, up to the cut-off; the
date of death is the event's end date when complete, else its analysis (onset) date.
count: subjects who died; of them, within the TEAE window after the last dose (or while
dosing) and later; then the fatal events by SOC and term (the cause). A subject with two
fatal events counts once per row.
"""

from __future__ import annotations

import numpy as np

from pv.analysis.aet01 import fatal
from pv.analysis.counting import Context, cells, count, soc_term_rows, to_rows
from pv.analysis.table import Row, Table
from pv.analysis.teae import parse_dates
from pv.i18n import N_, ngettext
from pv.i18n import gettext as _

NAME = "DTHT01"
TITLE = N_("Deaths")
COLUMNS = frozenset({"aebodsys", "aedecod", "aesdth", "aeout", "aetoxgr", "aeendtc"})


def build(ctx: Context) -> Table:
    ev = ctx.safety_events()
    dead = ev[fatal(ev)]
    end, _latest, flag = parse_dates(dead["aeendtc"])
    death_day = np.where(flag == "", end, dead["adt"].to_numpy())
    sj = ctx.data.subjects
    who = dead["subj"].to_numpy()
    window = ctx.data.rule.window_days
    late = ~sj["ongoing"].to_numpy()[who] & (death_day > sj["last_dose"].to_numpy()[who] + window)
    # A subject is "late" only if every fatal event of theirs is late.
    n_all, e_all = count(ctx, dead)
    early_subj = np.unique(who[~late])
    late_rows = dead[late & ~np.isin(who, early_subj)]
    n_late, e_late = count(ctx, late_rows)
    n_early, e_early = count(ctx, dead[~late])
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
    built = cells(ctx, np.vstack([n_all, n_early, n_late]), np.vstack([e_all, e_early, e_late]))
    rows = [Row("overall", lab, term=lab, cells=c) for lab, c in zip(labels, built, strict=True)]
    causes = [s for s in soc_term_rows(ctx, dead, "") if s[0] != "overall"]
    rows += to_rows(ctx, causes, "")
    return Table(
        name=NAME, title=_(TITLE), study_id=ctx.data.study_id, arms=ctx.arms,
        control=None if ctx.control is None else ctx.arms[ctx.control].label,
        rows=rows, cutoff=ctx.data.cutoff, params=dict(ctx.params),
        footnotes=[_("Deaths are adverse events with outcome fatal, 'results in death' or "
                     "grade 5 (treatment-emergent or not); causes are listed by SOC and "
                     "preferred term. Date of death: the event's end date, else its onset.")],
    )  # fmt: skip
