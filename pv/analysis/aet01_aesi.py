"""AET01_AESI: the AET01 overview within each adverse-event-of-special-interest grouping.

Per grouping, a "soc"-type row (subjects with any TEAE in the grouping; the grouping name
in the CSV `soc` column) followed by "term"-type rows for the AET01 categories (category
name in `term`). Pre-specified groupings are kept, at zero when nothing was reported.
"""

from __future__ import annotations

from pv.analysis import aesi
from pv.analysis.aet01 import CATEGORIES, category_counts
from pv.analysis.aet01 import COLUMNS as AET01_COLUMNS
from pv.analysis.counting import Context, cells
from pv.analysis.table import Row, Table
from pv.i18n import N_
from pv.i18n import gettext as _

NAME = "AET01_AESI"
TITLE = N_("Overview of adverse events of special interest")
COLUMNS = AET01_COLUMNS | {"aesi"}


def build(ctx: Context) -> Table:
    teaes = ctx.teaes()
    rows: list[Row] = []
    for key, label in aesi.groupings(ctx.data.events, aesi.wanted_keys(ctx.params)):
        subjects, events = category_counts(ctx, teaes[aesi.member(teaes, key)])
        built = cells(ctx, subjects, events)
        for i, ((cat, _predicate), c) in enumerate(zip(CATEGORIES, built, strict=True)):
            if i == 0:
                rows.append(Row("soc", label, soc=label, cells=c, extra={"aesi": key}))
            else:
                shown = _(cat)
                rows.append(Row("term", shown, soc=label, term=shown, cells=c, indent=1))
    return Table(
        name=NAME, title=_(TITLE), study_id=ctx.data.study_id, arms=ctx.arms,
        control=None if ctx.control is None else ctx.arms[ctx.control].label,
        rows=rows, cutoff=ctx.data.cutoff, params=dict(ctx.params),
        footnotes=[_("AESI groupings are project-defined lists of terms (not MedDRA SMQs); "
                     "pre-specified groupings are shown even when no event was reported.")],
    )  # fmt: skip
