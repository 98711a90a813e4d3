"""AET01_AESI: the AET01 overview within each adverse-event-of-special-interest grouping.

pre: TEAEs of the safety population with their AESI keys and codes; count: per grouping
the AET01 categories (chevron AET01_AESI, tern count_patients_with_flags); post: each arm
against control.

Per grouping, a "soc"-type row (subjects with any TEAE in the grouping; the grouping name
in the CSV `soc` column) followed by "term"-type rows for the AET01 categories (category
name in `term`). Pre-specified groupings are kept, at zero when nothing was reported.
Glucocorticoid toxicity is shown as "GC toxicity excluding infection" (with the
categories), then a "By GTI domain" line (no cells) and one "term"-type row per GTI domain
(indent 2, subjects with any TEAE of the domain; extra["aesi"] = "gc_toxicity:<domain>"):
infections, which the catalogue also files under GC toxicity, keep their own grouping
(pv.analysis.aesi.table_rows). The "soc"-type rows (one per grouping) are what the AESI
forest chart draws.
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
COLUMNS = AET01_COLUMNS | aesi.COLUMNS


def build(ctx: Context) -> Table:
    teaes = ctx.teaes()
    rows: list[Row] = []
    parent = ""
    for group in aesi.table_rows(ctx.data.events, aesi.wanted_keys(ctx.params)):
        key, label = group.key, group.label
        subjects, events = category_counts(ctx, teaes[aesi.member(teaes, key)])
        if group.indent:  # a GC domain: subjects with any TEAE of the domain
            if not rows[-1].extra.get("aesi", "").startswith(aesi.DOMAIN_PREFIX):
                head = _("By GTI domain")
                rows.append(Row("term", head, soc=parent, term=head, indent=1,
                                extra={"aesi": "gc_toxicity:"}))  # fmt: skip
            c = cells(ctx, subjects[:1], events[:1])[0]
            rows.append(Row("term", label, soc=parent, term=label, cells=c,
                            extra={"aesi": key}, indent=2))  # fmt: skip
            continue
        parent = label
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
                     "pre-specified groupings are shown even when no event was reported."),
                   _("Glucocorticoid toxicity is shown by domain of the Glucocorticoid "
                     "Toxicity Index (grouping only, no GTI score); infections, its infection "
                     "domain, are counted in the Infections grouping only.")],
    )  # fmt: skip
