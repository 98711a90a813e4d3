"""AET02: subjects with at least one TEAE, by system organ class and preferred term.

pre: treatment-emergent events of the safety population (optionally a subset, as AET02_SAE
does); count: distinct subjects and all events per (SOC, term), per SOC and overall; post:
rows ordered by frequency (SOCs, then terms within each SOC), each arm against control.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from pv.analysis.counting import Context, soc_term_rows, to_rows
from pv.analysis.table import Table
from pv.i18n import N_
from pv.i18n import gettext as _

NAME = "AET02"
TITLE = N_(
    "Subjects with at least one treatment-emergent adverse event by system organ class "
    "and preferred term"
)
COLUMNS = frozenset({"aebodsys", "aedecod"})
OVERALL = N_("Subjects with at least one TEAE")


def pre(ctx: Context, where: Callable[[pd.DataFrame], pd.Series] | None = None) -> pd.DataFrame:
    ev = ctx.teaes()
    return ev if where is None else ev[where(ev).to_numpy()]


def build(
    ctx: Context,
    *,
    name: str = NAME,
    title: str = TITLE,
    overall: str = OVERALL,
    where: Callable[[pd.DataFrame], pd.Series] | None = None,
) -> Table:
    ev = pre(ctx, where)
    overall = _(overall)
    spec = soc_term_rows(ctx, ev, overall)
    rows = to_rows(ctx, spec, overall)
    return Table(
        name=name,
        title=_(title),
        study_id=ctx.data.study_id,
        arms=ctx.arms,
        control=None if ctx.control is None else ctx.arms[ctx.control].label,
        rows=rows,
        footnotes=[],
        cutoff=ctx.data.cutoff,
        params=dict(ctx.params),
    )
