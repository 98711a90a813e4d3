"""Cells as worksheet XML, by xlsx_safe's rules, written exactly as openpyxl writes them.

`CellEncoder.encode(values)` turns a row's values into `<c>` elements: text as an inline
string (`t="inlineStr"`, never a formula; quote-prefixed style for text that would be
evaluated or converted on editing; markup escaped; CR kept as `&#13;`; characters XML
cannot carry replaced by U+FFFD), numbers with the column's number style, dates and
date-times as serial numbers with a date style (before 1 March 1900: ISO text), booleans
as Yes/No; None, empty text, NaN and infinities give no cell. Cell references hold a
row placeholder (`ROW`), so one encoded row can go to several sheets.

The XML of each (column, value) is cached: listings repeat most values (site, subject,
dates, terms, codes). Floats and booleans are not cached, since 1.0 == 1 == True would
find another type's cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pv.exports import styles as st
from pv.exports.xlsx_safe import FIRST_SERIAL_DATE, QUOTE_FIRST, XML_TEXT, serial

ROW = "\x00"  # placeholder for the row number in encoded cells
CACHE = 4096  # distinct values per column whose cell XML is kept
_FIRST_MOMENT = datetime(1900, 3, 1)
_INF = (float("inf"), float("-inf"))
_PLAIN = (str, int, float, date, datetime)


def blank(v: Any) -> bool:
    """No cell at all: None, empty text, NaN or an infinity (not numbers Excel can hold)."""
    return v is None or v == "" or (type(v) is float and (v != v or v in _INF))


class CellEncoder:
    """The cells of one sheet's columns: text style, number style and letter per column."""

    def __init__(
        self, book: st.StyleBook, text: Sequence[str], number: Sequence[str], letters: Sequence[str]
    ) -> None:
        sid = book.sid
        self.book, self.letters = book, list(letters)
        self._text = [(sid(t), sid(t + "!q")) for t in text]
        self._num = [sid(n) for n in number]
        self._date, self._moment = sid("date"), sid("datetime")
        self._caches: list[dict[Any, str]] = [{} for _ in self.letters]
        self._lookups = [cache.get for cache in self._caches]

    def encode(
        self, values: Sequence[Any], styles: Sequence[str | None] | None = None, start: int = 0
    ) -> str:
        """`values` placed from column `start`; `styles` overrides a cell's text style."""
        if styles is not None or start:
            return self._styled(values, styles, start)
        out = []
        lookups = self._lookups
        for i, v in enumerate(values):
            if v is None:
                continue
            kind = type(v)
            found = None if kind is float or kind is bool else lookups[i](v)
            out.append(found if found is not None else self._miss(v, i))
        return "".join(out)

    def _one(self, v: Any, i: int) -> str:
        found = None if type(v) is float or type(v) is bool else self._lookups[i](v)
        return found if found is not None else self._miss(v, i)

    def _miss(self, v: Any, i: int) -> str:
        kind = type(v)
        if kind is bool:
            v, kind = ("Yes" if v else "No"), str
        elif kind not in _PLAIN and hasattr(v, "item"):  # numpy scalars
            v = v.item()
            kind = type(v)
        xml = "" if blank(v) else f'<c r="{self.letters[i]}{ROW}"{self._cell(v, kind, i, None)}'
        if kind is not float and kind is not bool:
            cache = self._caches[i]
            if len(cache) >= CACHE:
                cache.clear()  # rows come sorted (site, subject): recent values recur
            cache[v] = xml
        return xml

    def _styled(
        self, values: Sequence[Any], styles: Sequence[str | None] | None, start: int
    ) -> str:
        out = []
        for i, v in enumerate(values, start):
            style = styles[i - start] if styles is not None else None
            if blank(v):
                continue
            if type(v) is not float and not style:
                out.append(self._one(v, i))
                continue
            kind = type(v)
            if kind is bool:
                v, kind = ("Yes" if v else "No"), str
            out.append(f'<c r="{self.letters[i]}{ROW}"{self._cell(v, kind, i, style)}')
        return "".join(out)

    def _cell(self, v: Any, kind: type, i: int, style: str | None) -> str:
        """A cell's XML after its reference: attributes and value."""
        if kind is str:
            quote = v[0] in QUOTE_FIRST
            if style:
                s = self.book.sid(style + "!q" if quote else style)
            else:
                s = self._text[i][1] if quote else self._text[i][0]
            space = ' xml:space="preserve"' if v[0].isspace() or v[-1].isspace() else ""
            return f' s="{s}" t="inlineStr"><is><t{space}>{v.translate(XML_TEXT)}</t></is></c>'
        if kind is date or kind is datetime:
            if v < (FIRST_SERIAL_DATE if kind is date else _FIRST_MOMENT):  # Excel's 1900 bug
                text = v.isoformat()
                return f' s="{self._text[i][1]}" t="inlineStr"><is><t>{text}</t></is></c>'
            s = self._date if kind is date else self._moment
            return f' s="{s}" t="n"><v>{serial(v)}</v></c>'
        return f' s="{self._num[i]}" t="n"><v>{v!r}</v></c>'
