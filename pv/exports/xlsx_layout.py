"""Sheet layout: columns, fitted widths, wrapped-line estimates and the print set-up."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.worksheet import Worksheet

from pv.i18n import gettext as _

LINE_PT = 11.25  # row height of one line of 8-point Arial (styles.SIZE)
# Printed width of an A4 landscape page between 0.2-inch margins (813 pt), in column-width
# units (a digit of the default font, 8-point Arial). Measured in LibreOffice's PDF
# (scripts/dsmb_pdf.py) a unit is 4.45 pt; Excel gives 6 px (4.5 pt): 178 units take
# 792-801 pt. Listings keep their printed columns within A4_UNITS and print at 100%, 8 pt.
A4_UNITS = 178
UNIT_PT = 4.45  # points per column-width unit (printed at 100%)
SIDE_MARGIN_IN = 0.2


@dataclass
class Column:
    """One column: header, the style of its text and of its numbers, width bounds."""

    header: str
    text: str = "text"
    number: str = "general"
    cap: int = 30
    min: int = 5
    # False: on screen only, after the printed columns and outside the print area (a
    # listing keeps every field on screen and prints those that fit an A4 page at 8 pt).
    printed: bool = True
    # False: its text does not make the row taller (a long narrative printed elsewhere:
    # on screen the cell shows its first lines, the whole text when selected)
    grows: bool = True


# Advance widths of the printable ASCII characters (32-126) of Arial, regular and bold, in
# hundredths of a digit's width (the column-width unit), from the metrics of Liberation
# Sans, which are Arial's. Wide (East Asian) characters take about 1.8 digits.
_REGULAR = (
    "50,50,64,100,100,160,120,34,60,60,70,105,50,60,50,50,100,100,100,100,100,100,100,100,"
    "100,100,50,50,105,105,105,100,183,120,120,130,130,120,110,140,130,50,90,120,100,150,"
    "130,140,120,140,130,120,110,130,120,170,120,120,110,50,50,50,84,100,60,100,100,90,100,"
    "100,50,100,100,40,40,90,40,150,100,100,100,100,60,90,50,100,90,130,90,90,90,60,47,60,105"
)
_BOLD = (
    "50,60,85,100,100,160,130,43,60,60,70,105,50,60,50,50,100,100,100,100,100,100,100,100,"
    "100,100,60,60,105,105,105,110,175,130,130,130,130,120,110,140,130,50,100,130,110,150,"
    "130,140,120,140,130,120,110,130,120,170,120,120,110,60,50,60,105,100,60,100,110,100,"
    "110,100,60,110,110,50,50,100,50,160,110,110,110,110,70,100,60,110,100,140,100,100,90,"
    "70,50,70,105"
)
_ADVANCE = {
    False: dict(zip(map(chr, range(32, 127)), map(int, _REGULAR.split(",")), strict=True)),
    True: dict(zip(map(chr, range(32, 127)), map(int, _BOLD.split(",")), strict=True)),
}
_WIDE, _OTHER = 180, 100
WIDEST = 1.85  # units of the widest character: a text of n characters takes at most n * this
PADDING = 0.5  # a cell's inner margins, in column-width units


def _advance(text: str, bold: bool = False) -> int:
    """Width of `text` in hundredths of a column-width unit."""
    table = _ADVANCE[bold]
    total = 0
    for c in text:
        found = table.get(c)
        if found is None:
            found = _WIDE if unicodedata.east_asian_width(c) in "WF" else _OTHER
        total += found
    return total


def measure(text: str, bold: bool = False) -> float:
    """Column-width units a text takes on one line (its longest line)."""
    return max(_advance(line, bold) for line in text.split("\n")) / 100


def text_width(value: Any, number_style: str) -> float:
    """Column-width units a value takes in its cell (its longest line for text)."""
    if type(value) is str:
        return measure(value)
    if isinstance(value, datetime):
        return 15.5
    if isinstance(value, date):
        return 10
    if number_style == "dec1" and isinstance(value, float):
        return len(f"{value:.1f}")
    if number_style in ("dec2", "p") and isinstance(value, float):
        return len(f"{value:.2f}") + 1
    return len(str(value))


def lines(text: str, width: float, bold: bool = False) -> int:
    """Lines a wrapped cell of `width` units needs: words laid out greedily at spaces, a
    word wider than the cell broken (as Excel and LibreOffice do)."""
    room = max(int((width - PADDING) * 100), 100)
    space = _ADVANCE[bold][" "]
    total = 0
    for paragraph in text.split("\n"):
        used, count = 0, 1
        for word in paragraph.split():
            # Chinese text breaks between any two characters: each is a piece of its own,
            # joined to the next without a space (Latin runs inside stay whole)
            pieces = [word] if word.isascii() else _CJK_PIECES.findall(word)
            for k, piece in enumerate(pieces):
                size = _advance(piece, bold)
                gap = space if k == 0 else 0
                if used and used + gap + size > room:
                    count, used, gap = count + 1, 0, 0
                while size > room:  # a word longer than the column is broken
                    count, size = count + 1, size - room
                used = used + gap + size if used else size
        total += count
    return total


_CJK_PIECES = re.compile(r"[\x00-\x7f]+|.")


def print_setup(
    ws: Worksheet, header: str, footer: str, *, grid: bool = False, width: float | None = None
) -> None:
    """A4 landscape, fitted to the page width, narrow margins; the header names the study
    and session (left) and the sheet (right), the footer the cut-off and "Page x of y".

    `width`: the printed columns' width in units, when known. Within A4_UNITS the sheet
    prints at 100% (it fits the page width as it is), else it is shrunk to the page width
    (fitToWidth 1). Not "fit to width" when it fits: LibreOffice shrinks such sheets
    further to save a page (fitToHeight 0 read as "as few pages as possible"), which put
    a listing at 7.8 pt."""
    fits = width is not None and width <= A4_UNITS
    ws.sheet_properties.pageSetUpPr.fitToPage = not fits
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    if fits:
        ws.page_setup.scale = 100
    else:
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
    ws.print_options.gridLines = grid
    ws.page_margins = PageMargins(
        left=SIDE_MARGIN_IN,
        right=SIDE_MARGIN_IN,
        top=0.6,
        bottom=0.6,
        header=0.3,
        footer=0.3,
    )
    ws.oddHeader.left.text = _hf(header)
    ws.oddHeader.right.text = "&A"
    ws.oddFooter.left.text = _hf(footer)
    ws.oddFooter.right.text = _hf(_("Page %(page)s of %(pages)s", page="\0P", pages="\0N")).replace(
        "\0", "&"
    )


def _hf(text: str) -> str:
    """Header/footer text: "&" starts a code there, so a literal one is doubled."""
    return text.replace("&", "&&")
