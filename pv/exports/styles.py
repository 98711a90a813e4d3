"""The workbook's cell styles, registered once per workbook and referred to by name.

Every text style has a quote-prefixed twin ("wrap!q") used for text that a spreadsheet
would otherwise evaluate or convert on editing (xlsx_safe.needs_quote).
"""

from __future__ import annotations

from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils.indexed_list import IndexedList

# Arial: Excel has it everywhere and LibreOffice prints it with Liberation Sans, whose
# metrics are the same, so column widths (in characters of the default font) and wrapped
# lines come out alike in both, and in the PDF pages scripts/dsmb_pdf.py renders. 8 pt is
# the smallest printed size (issue 14): listings print at 100%, at least 8 pt.
FONT = "Arial"
SIZE = 8
MIN_PRINTED_PT = 8
HEADER_FILL = "D9E1F2"
SERIOUS_FILL = "F8CBAD"  # serious events
GRADE3_FILL = "FFE699"  # grade >= 3 (or severe), not serious
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
P_FORMAT = '[<0.001]"<0.001";0.000'
DEC1_FORMAT = "0.0;-0.0;0"
DEC2_FORMAT = "0.00;-0.00;0"

_TOP = {"vertical": "top"}


def _font(**kw: Any) -> Font:
    return Font(name=FONT, size=kw.pop("size", SIZE), **kw)


_PLAIN = _font()
_THIN = Side(style="thin", color="808080")

SPECS: dict[str, dict[str, Any]] = {
    "general": {"alignment": Alignment(**_TOP)},
    "text": {"alignment": Alignment(**_TOP)},
    "wrap": {"alignment": Alignment(wrap_text=True, **_TOP)},
    "label": {"alignment": Alignment(wrap_text=True, **_TOP)},
    "label0": {"alignment": Alignment(wrap_text=True, **_TOP), "font": _font(bold=True)},
    "label1": {"alignment": Alignment(wrap_text=True, indent=1, **_TOP)},
    "label2": {"alignment": Alignment(wrap_text=True, indent=2, **_TOP)},
    "int": {"alignment": Alignment(**_TOP), "number_format": "0"},
    # A zero prints "0" (not "0.0"), as in the text tables; other values keep decimals.
    "dec1": {"alignment": Alignment(**_TOP), "number_format": DEC1_FORMAT},
    "dec2": {"alignment": Alignment(**_TOP), "number_format": DEC2_FORMAT},
    "p": {"alignment": Alignment(**_TOP), "number_format": P_FORMAT},
    "date": {"alignment": Alignment(horizontal="left", **_TOP), "number_format": DATE_FORMAT},
    "datetime": {
        "alignment": Alignment(horizontal="left", **_TOP),
        "number_format": DATETIME_FORMAT,
    },
    "header": {
        "font": _font(bold=True),
        "fill": PatternFill("solid", fgColor=HEADER_FILL),
        "alignment": Alignment(wrap_text=True, vertical="bottom"),
        "border": Border(bottom=_THIN),
    },
    "group": {
        "font": _font(bold=True),
        "fill": PatternFill("solid", fgColor=HEADER_FILL),
        "alignment": Alignment(horizontal="center", vertical="bottom", wrap_text=True),
    },
    "title": {"font": _font(bold=True, size=12)},
    "subtitle": {"font": _font(italic=True, color="404040")},
    "note": {"font": _font(italic=True, color="404040")},
    # a footnote under a table: a merged, wrapped text row without borders
    "footnote": {
        "font": _font(italic=True, color="404040"),
        "alignment": Alignment(wrap_text=True, vertical="top"),
    },
    "key": {"font": _font(bold=True), "alignment": Alignment(**_TOP)},
    "link": {"font": _font(color="0563C1", underline="single"), "alignment": Alignment(**_TOP)},
}
for _spec in SPECS.values():
    _spec.setdefault("font", _PLAIN)
TEXT_STYLES = frozenset(SPECS) - {"int", "dec1", "dec2", "p", "date", "datetime"}
WRAPPING = frozenset(k for k, v in SPECS.items() if getattr(v.get("alignment"), "wrap_text", 0))


def apply(cell: WriteOnlyCell, name: str) -> WriteOnlyCell:
    """Give a cell the named style ("name!q": with quotePrefix)."""
    base, _, quote = name.partition("!")
    for attr, value in SPECS[base].items():
        setattr(cell, attr, value)
    if quote:
        cell.quotePrefix = True
    return cell


def set_default_font(workbook: Workbook) -> None:
    """The workbook's default font (the "Normal" style: unstyled cells, and the character
    that column widths are measured in) becomes FONT at SIZE."""
    base = Font(name=FONT, sz=SIZE, family=2, b=False, i=False, color=None, scheme=None)
    if not workbook._fonts or workbook._fonts[0] != base:
        workbook._fonts = IndexedList([base, *list(workbook._fonts)[1:]])
    for style in workbook._named_styles:
        if style.name == "Normal":
            style.font = base


class StyleBook:
    """Style ids (the `s` attribute of a cell) of one workbook, created on first use."""

    def __init__(self, workbook: Workbook) -> None:
        self._wb = workbook
        self._ids: dict[str, int] = {}
        set_default_font(workbook)

    def sid(self, name: str) -> int:
        found = self._ids.get(name)
        if found is None:
            sheet = self._wb.worksheets[0]
            found = self._ids[name] = apply(WriteOnlyCell(sheet), name).style_id
        return found
