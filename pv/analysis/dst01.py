"""DST01: enrolment and disposition of the randomized subjects, per arm and in total.

Follows chevron's DST01 (dst01_main: "Completed study", "Discontinued study" with the
reasons DCSREAS, and ongoing subjects, counted n (%) over the randomized population)
and adds enrolment as a DSMB pack shows it. pre: every subject assigned to an arm
(randomized), whether dosed or not: the denominators here are randomized subjects, not
the safety population. count, n (%) per arm and in total:
- enrolment: subjects by site (code) and by month of randomization (YYYY-MM of the
  randomization date; the informed-consent date where none was recorded; "date not
  known" otherwise);
- disposition (DS, the subject's disposition event; DSDECOD as stored): completed
  (COMPLETED), discontinued (any other disposition) with one row per reason, ongoing in
  the study (no disposition yet, or one after the data cut-off);
- deaths: DM death flag (DTHFL) or a disposition DEATH, on or before the cut-off where
  the date is known.
No comparison between arms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pv.analysis import summary
from pv.analysis.counting import Context
from pv.analysis.table import ArmInfo, Row, Table
from pv.analysis.teae import day_number
from pv.i18n import N_
from pv.i18n import gettext as _

NAME = "DST01"
TITLE = N_("Enrolment and disposition")
# No arm is compared with another: no comparison columns or method footnotes.
DESCRIPTIVE = True
COLUMNS: frozenset[str] = frozenset()
POPULATION = N_("All randomized subjects")
COMPLETED = "COMPLETED"
DEATH = "DEATH"


def build(ctx: Context) -> Table:
    sj = ctx.data.subjects
    arm_of = sj["arm"].to_numpy(np.int64)
    sizes = np.bincount(arm_of[arm_of >= 0], minlength=ctx.n_arms)
    arms = [
        ArmInfo(id=a.id, label=a.label, code=a.code, N=int(sizes[i]), is_control=False)
        for i, a in enumerate(ctx.arms)
    ]
    cut = day_number(ctx.data.cutoff) if ctx.data.cutoff else np.inf
    everyone = np.ones(len(sj), dtype=bool)
    rows: list[Row] = [summary.count_row(arms, arm_of, everyone, _("Subjects randomized"),
                                         row_type="overall")]  # fmt: skip
    # enrolment by site
    site = np.array([summary.text(v) for v in sj["site"].astype(object)], dtype=object)
    sites = sorted(set(site[arm_of >= 0]))
    rows += summary.categorical(
        arms, arm_of, np.array([sites.index(s) if s in sites else -1 for s in site]),
        sites, _("Randomized by site"),
    )  # fmt: skip
    # ... and by month of randomization
    day = summary.parse_days(sj["randomization_date"])
    consent = summary.parse_days(sj["consent_date"])
    day = np.where(np.isnan(day), consent, day)
    month = pd.Series(pd.to_datetime(day, unit="D", errors="coerce")).dt.strftime("%Y-%m")
    month = month.where(~np.isnan(day), "")
    months = sorted({m for m, a in zip(month, arm_of, strict=True) if m and a >= 0})
    month_code = np.array([months.index(m) if m else len(months) for m in month])
    rows += summary.categorical(
        arms, arm_of, month_code, [*months, _("Date not known")],
        _("Randomized by month"),
    )  # fmt: skip
    # disposition, as of the cut-off
    disp = np.array(
        [summary.text(v).upper() for v in sj["disposition"].astype(object)], dtype=object
    )
    disp_day = summary.parse_days(sj["disposition_date"])
    disp = np.where(disp_day > cut, "", disp)  # after the cut-off: still in the study then
    rows.append(summary.variable_row(_("Disposition")))
    rows.append(summary.count_row(arms, arm_of, disp == COMPLETED, _("Completed study"),
                                  soc=_("Disposition"), indent=1))  # fmt: skip
    stopped = (disp != "") & (disp != COMPLETED)
    rows.append(summary.count_row(arms, arm_of, stopped, _("Discontinued study"),
                                  soc=_("Disposition"), indent=1))  # fmt: skip
    reasons = sorted({r for r, s, a in zip(disp, stopped, arm_of, strict=True) if s and a >= 0})
    for reason in reasons:
        rows.append(summary.count_row(arms, arm_of, disp == reason, reason,
                                      soc=_("Discontinued study"), indent=2))  # fmt: skip
    rows.append(summary.count_row(arms, arm_of, disp == "", _("Ongoing in study"),
                                  soc=_("Disposition"), indent=1))  # fmt: skip
    # deaths (DM, or a disposition DEATH), by the cut-off where the date is known
    died = pd.to_numeric(sj["died"], errors="coerce").fillna(0).to_numpy(bool)
    death_day = summary.parse_days(sj["death_date"])
    died = (died | (disp == DEATH)) & ~(death_day > cut)
    rows.append(summary.count_row(arms, arm_of, died, _("Deaths"), row_type="overall"))
    return Table(
        name=NAME, title=_(TITLE), study_id=ctx.data.study_id, arms=arms, control=None,
        rows=rows, cutoff=ctx.data.cutoff, params=dict(ctx.params), population=POPULATION,
        footnotes=[
            _("Randomized subjects: every subject assigned to an arm, dosed or not; "
              "percentages of the randomized subjects of each arm. Month of randomization: "
              "the randomization date, or the informed-consent date where none was "
              "recorded. Disposition as recorded (DS) by the data cut-off; ongoing: no "
              "disposition yet. Deaths: DM death flag or a disposition of death."),
        ],
    )  # fmt: skip
