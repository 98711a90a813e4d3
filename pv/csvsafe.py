"""The one CSV writer of pv-tracker: every CSV file the project writes goes through here
(the SDTM export's dm/ae/ex.csv, the safety tables' long CSV from the web and `pvtracker
tables`, the upload error report), so that no cell is a spreadsheet formula.

CSV injection (OWASP "CSV Injection"): a spreadsheet that opens a CSV file evaluates a
cell whose text starts with ``=``, ``+``, ``-`` or ``@`` as a formula (``=HYPERLINK(...)``,
``+cmd|' /C calc'!A0``, ``@SUM(A1)``), and some also when a tab or carriage return comes
first. Such a text cell is written with a single quote in front (``'=1+1``): the
spreadsheet shows the text, with the quote, and evaluates nothing. A leading line feed
is treated the same (a cell's first line is what some spreadsheets parse).

Numbers stay numbers. A cell is left as it is when it is
- not text: an int, a float (also negative: -1.5), a date, None, a bool; or
- text that is a plain decimal number: an optional sign, ASCII digits with at most one
  decimal point, and an optional exponent (``-1.5``, ``+3``, ``-0.25e-3``, ``.5``). A
  spreadsheet reads such a cell as that number, which is harmless; anything else that
  starts with a trigger (``-2+3``, ``-1,5``, ``+ 3``, ``-inf``, ``--1``) gets the quote.
Text that starts with any other character (letters, digits, Chinese text, a quote)
is written unchanged: only the first character decides.

A cell holding a line break (CR or LF) is always quoted (`Writer`), so that no part
of a cell can start a row of its own.

A reader that wants the text back drops the quote from a cell that starts with a quote
followed by a trigger character (`restore`).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

try:
    from pandas import NA as _NA
except ImportError:  # pragma: no cover - pandas is a dependency
    _NA = object()

TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
QUOTE = "'"
# A plain decimal number, ASCII digits only (str.isdigit would take other scripts' digits).
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def is_number_text(text: str) -> bool:
    """True for text that a spreadsheet reads as a plain decimal number."""
    return NUMBER.fullmatch(text) is not None


def dangerous(value: Any) -> bool:
    """True for a cell a spreadsheet would evaluate: text starting with a trigger
    character that is not a plain number."""
    return isinstance(value, str) and value.startswith(TRIGGERS) and not is_number_text(value)


def safe_cell(value: Any) -> Any:
    """The cell as written: a dangerous text with a quote in front, anything else as is."""
    return QUOTE + value if dangerous(value) else value


def restore(text: str) -> str:
    """The text of a cell written by `safe_cell` (the quote taken off again)."""
    if text.startswith(QUOTE) and dangerous(text[1:]):
        return text[1:]
    return text


class Writer:
    """`csv.writer` whose every cell goes through `safe_cell`.

    A cell holding a line break of either kind (CR or LF) is always quoted, whatever
    `lineterminator` the file uses: the csv module quotes only the characters of its own
    line terminator, so with "\\n" a bare CR would end the row in a spreadsheet and start
    the next one with the rest of the cell (``"x\\r=1+1"`` would become a cell ``=1+1``)."""

    def __init__(self, out: Any, *, lineterminator: str = "\r\n", **kwargs: Any) -> None:
        self._out = out
        self._end = lineterminator
        self._row = io.StringIO()
        self._writer = csv.writer(self._row, lineterminator="\r\n", **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        self._row.seek(0)
        self._row.truncate()
        self._writer.writerow([safe_cell(v) for v in row])
        return self._out.write(self._row.getvalue()[:-2] + self._end)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class DictWriter:
    """`csv.DictWriter` (missing keys written empty, unknown keys refused) on `Writer`."""

    def __init__(self, out: Any, fieldnames: Sequence[str], **kwargs: Any) -> None:
        self.fieldnames = list(fieldnames)
        self._writer = Writer(out, **kwargs)

    def writeheader(self) -> Any:
        return self._writer.writerow(self.fieldnames)

    def writerow(self, row: Mapping[str, Any]) -> Any:
        unknown = set(row) - set(self.fieldnames)
        if unknown:
            raise ValueError(f"dict contains fields not in fieldnames: {sorted(unknown)}")
        return self._writer.writerow([row.get(k, "") for k in self.fieldnames])

    def writerows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.writerow(row)


def _frame_value(value: Any, float_format: str) -> Any:
    if value is None or value is _NA:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else float_format % value
    return value


def write_frame(
    frame: Any,
    path: Path | str,
    *,
    encoding: str = "utf-8",
    float_format: str = "%.15g",
    lineterminator: str = "\n",
) -> None:
    """A pandas DataFrame as a CSV file, as `DataFrame.to_csv(index=False)` writes it
    (missing values empty, floats by `float_format`), through `Writer`."""
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = Writer(fh, lineterminator=lineterminator)
        writer.writerow([str(c) for c in frame.columns])
        for row in frame.itertuples(index=False, name=None):
            writer.writerow([_frame_value(v, float_format) for v in row])


__all__ = [
    "NUMBER",
    "TRIGGERS",
    "DictWriter",
    "Writer",
    "dangerous",
    "is_number_text",
    "restore",
    "safe_cell",
    "write_frame",
]
