"""AET02_SAE: subjects with at least one serious TEAE, by SOC and preferred term.

The AET02 pipeline restricted to serious events (AESER = Y / serious = yes).
"""

from __future__ import annotations

from pv.analysis import aet02
from pv.analysis.counting import Context
from pv.analysis.table import Table
from pv.i18n import N_

NAME = "AET02_SAE"
TITLE = N_(
    "Subjects with at least one serious treatment-emergent adverse event by system organ "
    "class and preferred term"
)
COLUMNS = aet02.COLUMNS | {"aeser"}
OVERALL = N_("Subjects with at least one serious TEAE")


def build(ctx: Context) -> Table:
    return aet02.build(ctx, name=NAME, title=TITLE, overall=OVERALL, where=lambda ev: ev["aeser"])
