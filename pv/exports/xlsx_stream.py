"""Streaming a sheet of an openpyxl write-only workbook: layout, print set-up, fast rows.

A `SheetStream` holds a sheet's first rows until it has a sample (`SAMPLE` rows, or all
of them when fewer): the column widths are fitted on that sample (content length, capped
per column; long text wraps), because a write-only sheet declares its columns, frozen
panes and page properties before its rows. Then rows stream out.

Print layout: A4 landscape, fit to the page width, title and header rows repeated on
every page, footer with the cut-off and "Page x of y". Columns marked `printed=False`
(after the printed ones) are left out of the print area: a listing prints the columns that
fit the page at 8 pt and keeps the rest on screen. Rows whose wrapped
text needs several lines get an explicit height (estimated from the column widths):
LibreOffice does not grow rows for wrapped text on its own, and text would be cut off.
Group headers (an arm over its n / % / events columns) are merged across their columns;
so are the footnotes under a table: one wrapped text row each, as wide as the printed
columns, tall enough for its lines.

Rows are serialised by xlsx_encode.CellEncoder into the XML openpyxl itself writes for
such cells (inline strings, numbers, style ids; xlsx_safe's rules), and streamed to a
temporary file. When the sheet is closed, openpyxl writes the sheet (its
properties, columns, an empty <sheetData>, autofilter, conditional formats, print set-up)
and the rows are spliced into its <sheetData>. Creating openpyxl cell objects costs about
7 us a cell, which made a 100,000-row listing far slower than the target of issue 6; a row
encoded once can also go to several sheets (an event in "All AEs" and in its AESI
listings): cell references carry a row placeholder. tests/exports/test_xlsx.py checks
the result cell by cell against openpyxl's own cells; when openpyxl's internals are not as
expected, rows go through `ws.append` instead (slower, same cells).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from datetime import date, datetime
from typing import IO, Any

from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from pv.exports import styles as st
from pv.exports.xlsx_encode import CACHE, ROW, CellEncoder, blank
from pv.exports.xlsx_layout import (
    LINE_PT,
    PADDING,
    WIDEST,
    Column,
    lines,
    measure,
    print_setup,
    text_width,
)
from pv.exports.xlsx_safe import safe_cell

SAMPLE = 500  # rows the column widths are fitted on
FOOTNOTE_UNITS = 120  # footnotes under a narrower table span this width
CHUNK = 256  # rows per write to the temporary file
EMPTY_SHEET_DATA = b"<sheetData></sheetData>"


class SheetStream:
    """Title rows, header rows, data rows and tail rows of one write-only sheet."""

    def __init__(
        self,
        ws: Worksheet,
        book: st.StyleBook,
        columns: Sequence[Column],
        *,
        title: str,
        subtitle: str | None,
        headers: Sequence[Sequence[Any]],
        print_header: str = "",
        print_footer: str = "",
        autofilter: bool = True,
        grid: bool = True,
    ) -> None:
        self.ws, self.book, self.columns = ws, book, list(columns)
        self.letters = [get_column_letter(i + 1) for i in range(len(self.columns))]
        self._top: list[tuple[list[Any], list[str]]] = [([title], ["title"])]
        if subtitle:
            self._top.append(([subtitle], ["subtitle"]))
        self._top.append(([], []))
        for i, row in enumerate(headers):
            style = "header" if i == len(headers) - 1 else "group"
            self._top.append((list(row), [style] * len(row)))
        self.header_row = len(self._top)
        self._buffer: list[tuple[Sequence[Any], str]] = []
        self._started = False
        self._row = 0  # rows written so far
        self.data_rows = 0
        self._rules: list[tuple[str, str]] = []
        self._autofilter = autofilter
        self._grid = grid  # print the cell grid (listings), not for tables
        printed = [c.printed for c in self.columns]
        self.printed = printed.index(False) if False in printed else len(printed)
        if any(printed[self.printed :]):
            raise ValueError("the printed columns come first")
        self._print = (print_header, print_footer)
        self._fast = hasattr(ws, "close") and hasattr(ws, "_get_writer")
        self._file: IO[str] | None = None
        self._cells = CellEncoder(
            book, [c.text for c in self.columns], [c.number for c in self.columns], self.letters
        )
        self._pending: list[str] = []
        self.widths: list[float] = []
        self._wrap: list[tuple[int, float, bool, dict[str, int]]] = []
        self._spans: dict[int, float] = {}

    # -- public ------------------------------------------------------------------------

    def encode(
        self, values: Sequence[Any], styles: Sequence[str | None] | None = None, start: int = 0
    ) -> str:
        """The cells of `values` (placed from column `start`) as XML with a row placeholder,
        for `add` of any sheet whose columns from `start` on have the same styles."""
        return self._cells.encode(values, styles, start)

    def add(
        self,
        values: Sequence[Any],
        styles: Sequence[str | None] | None = None,
        cells: str | None = None,
    ) -> None:
        """A data row; `styles` overrides the text style of a cell; `cells`: already encoded."""
        self.data_rows += 1
        if cells is None and self._fast:
            cells = self.encode(values, styles)
        if not self._started:
            self._buffer.append((values, cells if self._fast else styles))  # type: ignore[arg-type]
            if len(self._buffer) >= SAMPLE:
                self._start()
            return
        self._emit(values, cells if self._fast else styles)

    def highlight(self, formula: str, fill: str) -> None:
        """Conditional formatting of the data rows: `formula` as for the first data row."""
        self._rules.append((formula, fill))

    def first_data_row(self) -> int:
        return self.header_row + 1

    def close(self, tail: Sequence[tuple[str, str]] = ()) -> int:
        """Write what is buffered, then `tail` rows ((text, style) below the data): each
        text one row, merged across the printed columns and wrapped in them."""
        if not self._started:
            self._start()
        last = self._row
        if tail:
            self._emit_raw([], [])
            width = sum(self.widths[: self.printed])
            end = self.letters[self.printed - 1]
            if width < FOOTNOTE_UNITS and self.printed == len(self.columns):
                # a narrow table (pooled: one column of numbers): the footnotes span an
                # empty column as well, so that they stay a few lines, not a page each
                end = get_column_letter(len(self.columns) + 1)
                self.ws.column_dimensions[end].width = FOOTNOTE_UNITS - width
                width = FOOTNOTE_UNITS
            for text, style in tail:
                # one merged cell across the printed columns, wrapped, as tall as its lines
                style = "footnote" if style == "note" else style
                row = self._row + 1
                if self.printed > 1:
                    self.ws.merged_cells.add(f"A{row}:{end}{row}")
                self._spans[0] = width
                self._emit_raw([text], [style])
            self._spans.pop(0, None)
        self._finish(last)
        return self.data_rows

    # -- layout ------------------------------------------------------------------------

    def _start(self) -> None:
        ws = self.ws
        for i, col in enumerate(self.columns):
            # the header's words unbroken (bold), the sample's values, within the bounds
            width = max(map(_header_need, str(col.header).split()), default=0)
            for values, _ in self._buffer:
                if i < len(values) and values[i] is not None:
                    width = max(width, text_width(values[i], col.number))
            self.widths.append(min(max(math.ceil(width + 1), col.min), col.cap))
            ws.column_dimensions[self.letters[i]].width = self.widths[-1]
        self._fit_groups()
        pairs = zip(self.columns, self.widths, strict=True)
        # (column, width, bold, cache): a table's label column counted as bold (its
        # system organ class rows are), so that their wrapped lines are never short
        self._wrap = [
            (i, w, c.text == "label", {})
            for i, (c, w) in enumerate(pairs)
            if c.text in st.WRAPPING and c.grows
        ]
        ws.freeze_panes = f"A{self.header_row + 1}"
        ws.print_title_rows = f"1:{self.header_row}"
        print_setup(ws, *self._print, grid=self._grid, width=sum(self.widths[: self.printed]))
        self._started = True
        if self._fast:
            # open for the sheet's life: closed in _finish once spliced into the sheet
            self._file = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115
        for r, (values, styles) in enumerate(self._top, start=1):
            if styles and styles[0] == "group":
                self._merge_groups(r, values)
            self._emit_raw(values, styles)
        for values, extra in self._buffer:
            self._emit(values, extra)
        self._buffer = []

    def _fit_groups(self) -> None:
        """A group header (an arm over its columns) needs room for its longest word: the
        group's last column is widened when its columns are narrower than that."""
        for values, styles in self._top:
            if not styles or styles[0] != "group":
                continue
            starts = [i for i, v in enumerate(values) if v not in (None, "")] + [len(values)]
            for a, b in zip(starts, starts[1:], strict=False):
                need = math.ceil(max(map(_header_need, str(values[a]).split()), default=0) + 1)
                short = need - sum(self.widths[a:b])
                if short > 0:
                    self.widths[b - 1] += short
                    letter = self.letters[b - 1]
                    self.ws.column_dimensions[letter].width = self.widths[b - 1]

    def _merge_groups(self, row: int, values: Sequence[Any]) -> None:
        """A group header spans its columns: from its cell to the next group's."""
        starts = [i for i, v in enumerate(values) if v not in (None, "")] + [len(values)]
        for a, b in zip(starts, starts[1:], strict=False):
            if b - a > 1:
                self.ws.merged_cells.add(f"{self.letters[a]}{row}:{self.letters[b - 1]}{row}")
            self._spans[a] = sum(self.widths[a:b])

    def _lines(self, values: Sequence[Any], styles: Sequence[str | None] | None) -> int:
        """Lines the row needs: its wrapped text against the column widths (estimated)."""
        most = 1
        if styles is not None:  # title, header and tail rows: each cell its own style
            for i, (v, style) in enumerate(zip(values, styles, strict=False)):
                if type(v) is str and (style in st.WRAPPING or style == "group"):
                    bold = style in ("header", "group")
                    n = lines(v, self._spans.get(i, self.widths[i]), bold)
                    if bold and n > 1 and not v.isascii():
                        n += 1  # Chinese line-breaking rules (no line starts with "）")
                    most = max(most, n)
            return most
        count = len(values)
        for i, width, bold, cache in self._wrap:
            v = values[i] if i < count else None
            if type(v) is str:
                n = cache.get(v)
                if n is None:
                    if len(cache) >= CACHE:
                        cache.clear()
                    long = len(v) * WIDEST > width - PADDING or "\n" in v
                    n = cache[v] = lines(v, width, bold) if long else 1
                if n > most:
                    most = n
        return most

    def _finish(self, last: int) -> None:
        ws = self.ws
        end = self.letters[-1]
        if self._autofilter:
            ws.auto_filter.ref = f"A{self.header_row}:{end}{max(last, self.header_row)}"
        if self.printed < len(self.columns):
            ws.print_area = f"A1:{self.letters[self.printed - 1]}{max(self._row, 1)}"
        if last > self.header_row:
            ref = f"A{self.header_row + 1}:{end}{last}"
            for formula, fill in self._rules:
                rule = FormulaRule(formula=[formula], fill=PatternFill(bgColor=fill))
                ws.conditional_formatting.add(ref, rule)
        if self._file is not None:
            self._file.write("".join(self._pending))
            self._pending = []
            ws.close()  # openpyxl writes the sheet around an empty <sheetData>
            _splice(ws._writer.out, self._file)
            self._file.close()

    # -- rows --------------------------------------------------------------------------

    def _emit_raw(self, values: Sequence[Any], styles: Sequence[str]) -> None:
        """A title, header or tail row: each cell with its own style."""
        height = self._lines(values, styles)
        if self._fast:
            self._emit(values, self.encode(values, list(styles)), height)
        else:
            self._emit(values, list(styles), height)

    def _emit(self, values: Sequence[Any], extra: Any, height: int | None = None) -> None:
        self._row += 1
        n = height if height is not None else self._lines(values, None)
        if self._file is not None:
            r = str(self._row)
            ht = f' ht="{n * LINE_PT}" customHeight="1"' if n > 1 else ""
            self._pending.append(f'<row r="{r}"{ht}>{extra.replace(ROW, r)}</row>')
            if len(self._pending) >= CHUNK:
                self._file.write("".join(self._pending))
                self._pending = []
        else:
            if n > 1:
                self.ws.row_dimensions[self._row].height = n * LINE_PT
            self._append(values, extra)

    def _append(self, values: Sequence[Any], styles: Sequence[str | None] | None) -> None:
        cells: list[Any] = []
        for i, v in enumerate(values):
            if blank(v):
                cells.append(None)
                continue
            cell = safe_cell(self.ws, v)
            text = (styles[i] if styles is not None and styles[i] else None) or self.columns[i].text
            if cell.data_type == "s":
                st.apply(cell, text + ("!q" if cell.quotePrefix else ""))
            elif isinstance(v, date):
                st.apply(cell, "datetime" if isinstance(v, datetime) else "date")
            else:
                st.apply(cell, self.columns[i].number)
            cells.append(cell)
        self.ws.append(cells)


def _header_need(word: str) -> float:
    """Width a header word needs unbroken; Chinese text breaks between any characters, so
    a Chinese word needs room for three of them a line, not for all."""
    need = measure(word, bold=True)
    return need if word.isascii() else min(need, CJK_HEADER_UNITS)


CJK_HEADER_UNITS = 5.4  # three wide characters a line


def _splice(path: str, rows: IO[str]) -> None:
    """Put the streamed rows into the <sheetData> of the sheet file openpyxl wrote."""
    with open(path, "rb") as src:
        sheet = src.read()
    at = sheet.find(EMPTY_SHEET_DATA)
    if at < 0:
        raise RuntimeError("openpyxl wrote no empty <sheetData>: its write-only format changed")
    rows.flush()
    raw = rows.buffer  # type: ignore[attr-defined]
    raw.seek(0)
    tmp = f"{path}.rows"
    with open(tmp, "wb") as out:
        out.write(sheet[:at] + b"<sheetData>")
        shutil.copyfileobj(raw, out, 1 << 20)
        out.write(b"</sheetData>" + sheet[at + len(EMPTY_SHEET_DATA) :])
    os.replace(tmp, path)
