"""Sheet layout: columns, fitted widths, wrapped-line estimates and the print set-up."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.worksheet import Worksheet

from pv.i18n import gettext as _

LINE_PT = 15  # row height of one line of 11-point text
A4_WIDTH = 190  # column widths (characters) beyond which a sheet is printed on A3


@dataclass
class Column:
    """One column: header, the style of its text and of its numbers, width bounds."""

    header: str
    text: str = "text"
    number: str = "general"
    cap: int = 30
    min: int = 5


def text_width(value: Any, number_style: str) -> int:
    """Characters a value takes in its cell (its longest line for text)."""
    if type(value) is str:
        if not value.isascii():  # Chinese characters take two columns
            return max(map(_wide_len, value.split("\n")))
        return max(map(len, value.split("\n"))) if "\n" in value else len(value)
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    if number_style == "dec1" and isinstance(value, float):
        return len(f"{value:.1f}")
    if number_style in ("dec2", "p") and isinstance(value, float):
        return len(f"{value:.2f}") + 1
    return len(str(value))


def _wide_len(text: str) -> int:
    """Columns a text takes: East Asian wide and full-width characters count two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def lines(text: str, width: float) -> int:
    """Lines a wrapped cell needs: words laid out greedily, one character of margin."""
    room = max(int(width) - 1, 1)
    total = 0
    for paragraph in text.split("\n"):
        used, count = 0, 1
        for word in paragraph.split():
            size = len(word) if word.isascii() else _wide_len(word)
            if used and used + 1 + size > room:
                count, used = count + 1, 0
            while size > room:  # a word longer than the column is broken
                count, size = count + 1, size - room
            used = used + 1 + size if used else size
        total += count
    return total


def print_setup(
    ws: Worksheet, header: str, footer: str, *, paper_a3: bool = False, grid: bool = False
) -> None:
    """Landscape, fit to the page width, narrow margins; the header names the study and
    session (left) and the sheet (right), the footer the cut-off and "Page x of y"."""
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A3 if paper_a3 else Worksheet.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.print_options.gridLines = grid
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.6, bottom=0.6, header=0.3, footer=0.3)
    ws.oddHeader.left.text = _hf(header)
    ws.oddHeader.right.text = "&A"
    ws.oddFooter.left.text = _hf(footer)
    ws.oddFooter.right.text = _hf(_("Page %(page)s of %(pages)s", page="\0P", pages="\0N")).replace(
        "\0", "&"
    )


def _hf(text: str) -> str:
    """Header/footer text: "&" starts a code there, so a literal one is doubled."""
    return text.replace("&", "&&")
