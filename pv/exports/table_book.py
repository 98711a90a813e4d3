"""One analysis table as its own xlsx workbook (the reports page's "Download as Excel").

The sheet is the DSMB workbook's table sheet (`table_sheets.write_table`, by arm with the
real arm labels, as the reports page shows it): numbers as numbers, text by xlsx_safe's
rules (never a formula), titles and headers in the table's language.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from openpyxl import Workbook

from pv.analysis.table import Table
from pv.exports import styles as st
from pv.exports.arms import CLOSED, ArmView
from pv.exports.book import save, sheet_name
from pv.exports.table_sheets import write_table
from pv.i18n import gettext as _
from pv.i18n import use


def write_table_book(table: Table, out: Path | str | BinaryIO) -> int:
    """Write `table` as a one-sheet workbook to `out`; returns its number of data rows."""
    with use(table.language):
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(sheet_name(table.name, set()))
        view = ArmView.build(table.study_id, table.arms, session=CLOSED, mask=False)
        cutoff = table.cutoff.isoformat() if table.cutoff else _("none")
        subtitle = _(
            "%(population)s. Data cut-off: %(cutoff)s. Control arm: %(control)s.",
            population=table.population,  # translated when the table was built
            cutoff=cutoff,
            control=table.control or _("none"),
        )
        rows = write_table(ws, st.StyleBook(wb), table, view, subtitle=subtitle,
                           print_header=table.study_id,
                           print_footer=_("Data cut-off %(cutoff)s", cutoff=cutoff))  # fmt: skip
        save(wb, out)
    return rows
