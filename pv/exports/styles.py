"""The workbook's cell styles, registered once per workbook and referred to by name.

Every text style has a quote-prefixed twin ("wrap!q") used for text that a spreadsheet
would otherwise evaluate or convert on editing (xlsx_safe.needs_quote).
"""

from __future__ import annotations

from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

HEADER_FILL = "D9E1F2"
SERIOUS_FILL = "F8CBAD"  # serious events
GRADE3_FILL = "FFE699"  # grade >= 3 (or severe), not serious
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
P_FORMAT = '[<0.001]"<0.001";0.000'

_TOP = {"vertical": "top"}
_THIN = Side(style="thin", color="808080")

SPECS: dict[str, dict[str, Any]] = {
    "general": {"alignment": Alignment(**_TOP)},
    "text": {"alignment": Alignment(**_TOP)},
    "wrap": {"alignment": Alignment(wrap_text=True, **_TOP)},
    "label": {"alignment": Alignment(wrap_text=True, **_TOP)},
    "label0": {"alignment": Alignment(wrap_text=True, **_TOP), "font": Font(bold=True)},
    "label1": {"alignment": Alignment(wrap_text=True, indent=1, **_TOP)},
    "label2": {"alignment": Alignment(wrap_text=True, indent=2, **_TOP)},
    "int": {"alignment": Alignment(**_TOP), "number_format": "0"},
    "dec1": {"alignment": Alignment(**_TOP), "number_format": "0.0"},
    "dec2": {"alignment": Alignment(**_TOP), "number_format": "0.00"},
    "p": {"alignment": Alignment(**_TOP), "number_format": P_FORMAT},
    "date": {"alignment": Alignment(horizontal="left", **_TOP), "number_format": DATE_FORMAT},
    "datetime": {
        "alignment": Alignment(horizontal="left", **_TOP),
        "number_format": DATETIME_FORMAT,
    },
    "header": {
        "font": Font(bold=True),
        "fill": PatternFill("solid", fgColor=HEADER_FILL),
        "alignment": Alignment(wrap_text=True, vertical="bottom"),
        "border": Border(bottom=_THIN),
    },
    "group": {
        "font": Font(bold=True),
        "fill": PatternFill("solid", fgColor=HEADER_FILL),
        "alignment": Alignment(horizontal="center", vertical="bottom", wrap_text=True),
    },
    "title": {"font": Font(bold=True, size=13)},
    "subtitle": {"font": Font(italic=True, color="404040")},
    "note": {"font": Font(italic=True, size=9, color="404040")},
    "key": {"font": Font(bold=True), "alignment": Alignment(**_TOP)},
    "link": {"font": Font(color="0563C1", underline="single")},
}
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


class StyleBook:
    """Style ids (the `s` attribute of a cell) of one workbook, created on first use."""

    def __init__(self, workbook: Workbook) -> None:
        self._wb = workbook
        self._ids: dict[str, int] = {}

    def sid(self, name: str) -> int:
        found = self._ids.get(name)
        if found is None:
            sheet = self._wb.worksheets[0]
            found = self._ids[name] = apply(WriteOnlyCell(sheet), name).style_id
        return found
