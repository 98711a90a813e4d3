"""AET10: most common TEAEs, the preferred terms reported by at least x% of any arm.

pre: TEAEs; count: subjects and events per (SOC, term); post: keep the terms whose
incidence reaches the threshold (percent, parameter `threshold`, default 5) in at least
one arm, ordered by frequency.
"""

from __future__ import annotations

from pv.analysis.counting import Context, soc_term_rows, to_rows
from pv.analysis.table import Table
from pv.i18n import N_
from pv.i18n import gettext as _

NAME = "AET10"
TITLE = N_("Most common treatment-emergent adverse events")
COLUMNS = frozenset({"aebodsys", "aedecod"})


def build(ctx: Context) -> Table:
    threshold = float(ctx.params.get("threshold", 5))
    big_n = ctx.N
    spec = [
        s
        for s in soc_term_rows(ctx, ctx.teaes(), "", terms_only=True)
        if any(big_n[i] and 100.0 * s[3][i] / big_n[i] >= threshold for i in range(ctx.n_arms))
    ]
    return Table(
        name=NAME,
        title=_("%(title)s (at least %(threshold)s%% in any arm)", title=_(TITLE),
                threshold=f"{threshold:g}"),
        study_id=ctx.data.study_id, arms=ctx.arms,
        control=None if ctx.control is None else ctx.arms[ctx.control].label,
        rows=to_rows(ctx, spec, ""), cutoff=ctx.data.cutoff, params=dict(ctx.params),
        footnotes=[_("Preferred terms reported by at least %(threshold)s%% of subjects in any arm.",
                     threshold=f"{threshold:g}")],
    )  # fmt: skip
