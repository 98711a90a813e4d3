"""The DSMB workbook being written: its sheets, names, styles and saving."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from zipfile import ZIP_DEFLATED, ZipFile

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

from pv.exports import styles as st
from pv.exports.xlsx_layout import Column
from pv.exports.xlsx_stream import SheetStream
from pv.i18n import N_
from pv.i18n import gettext as _
from pv.timeutil import utcnow

SAFETY = N_("Safety population")
INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def sheet_name(base: str, taken: set[str]) -> str:
    """A valid, unique sheet name: no []:*?/\\, not quoted at the ends, <= 31 characters."""
    name = INVALID_SHEET_CHARS.sub(" ", base).strip().strip("'").strip() or "Sheet"
    name = candidate = name[:31].rstrip()
    n = 1
    while candidate.lower() in taken:
        n += 1
        suffix = f" ({n})"
        candidate = name[: 31 - len(suffix)].rstrip() + suffix
    taken.add(candidate.lower())
    return candidate


@dataclass
class Book:
    """The workbook being written and what every sheet repeats."""

    wb: Workbook
    styles: st.StyleBook
    sheets: dict[str, Any]
    subtitle: str
    head: str
    foot: str
    rows: dict[str, int] = field(default_factory=dict)
    described: dict[str, str] = field(default_factory=dict)

    def stream(
        self, key: str, title: str, columns: list[Column], *, autofilter: bool = True
    ) -> SheetStream:
        """A listing sheet: every subject's rows, not only the safety population's."""
        self.described[key] = title
        return SheetStream(
            self.sheets[key],
            self.styles,
            columns,
            title=title,
            subtitle=self.subtitle.replace(_(SAFETY), _("All subjects"), 1),
            headers=[[c.header for c in columns]],
            print_header=self.head,
            print_footer=self.foot,
            autofilter=autofilter,
        )


def save(wb: Workbook, out: Path | str | BinaryIO) -> None:
    """`wb.save`, with fast deflate: level 1 compresses a 100,000-row listing about three
    times faster than the default level 6, for a somewhat larger file."""
    target = str(out) if isinstance(out, Path | str) else out
    archive = ZipFile(target, "w", ZIP_DEFLATED, allowZip64=True, compresslevel=1)
    wb.properties.modified = utcnow().replace(tzinfo=None)
    ExcelWriter(wb, archive).save()
