"""AET10: most common TEAEs, the preferred terms reported by at least x% of any arm.

pre: TEAEs; count: subjects and events per preferred term, across system organ classes
(as chevron's AET10, which counts AEDECOD alone: a term recorded under several SOCs,
e.g. an uncoded or differently coded verbatim, is one row and a subject is counted once
in it); post: keep the terms whose incidence reaches the threshold (percent, parameter
`threshold`, default 5) in at least one arm, ordered by frequency. The CSV `soc` column
holds the term's SOC, or its SOCs joined with "; " when there are several.
"""

from __future__ import annotations

import numpy as np

from pv.analysis.counting import Context, category_codes, count, order, to_rows
from pv.analysis.table import Table
from pv.i18n import N_
from pv.i18n import gettext as _

NAME = "AET10"
TITLE = N_("Most common treatment-emergent adverse events")
COLUMNS = frozenset({"aebodsys", "aedecod"})


def build(ctx: Context) -> Table:
    threshold = float(ctx.params.get("threshold", 5))
    big_n = ctx.N
    ev = ctx.teaes()
    term, labels = category_codes(ev["aedecod"])
    subjects, events = count(ctx, ev, term, len(labels))
    socs = _socs(ev, term, len(labels))
    spec: list[tuple[str, str | None, str | None, np.ndarray, np.ndarray]] = [
        ("term", socs[t], labels[t], subjects[t], events[t])
        for t in order(ctx, labels, subjects)
        if any(big_n[i] and 100.0 * subjects[t, i] / big_n[i] >= threshold
               for i in range(ctx.n_arms))
    ]  # fmt: skip
    return Table(
        name=NAME,
        title=_("%(title)s (at least %(threshold)s%% in any arm)", title=_(TITLE),
                threshold=f"{threshold:g}"),
        study_id=ctx.data.study_id, arms=ctx.arms,
        control=None if ctx.control is None else ctx.arms[ctx.control].label,
        rows=to_rows(ctx, spec, ""), cutoff=ctx.data.cutoff, params=dict(ctx.params),
        footnotes=[_("Preferred terms reported by at least %(threshold)s%% of subjects in any arm."
                     , threshold=f"{threshold:g}"),
                   _("A preferred term is counted once across system organ classes: a subject "
                     "is counted once in its row.")],
    )  # fmt: skip


def _socs(ev, term: np.ndarray, levels: int) -> list[str | None]:  # type: ignore[no-untyped-def]
    """Per term, its SOC, or its distinct SOCs joined with "; " (None when none is known)."""
    soc, soc_labels = category_codes(ev["aebodsys"])
    width = len(soc_labels) + 1
    pairs = np.unique(term.astype(np.int64) * width + soc)
    found: list[list[str]] = [[] for _ in range(levels)]
    for p in pairs:
        found[p // width].append(soc_labels[p % width])
    return ["; ".join(sorted(f)) if f else None for f in found]
