"""Safe cell values, and the streamed rows of SheetStream against openpyxl's own cells."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from pv.exports import styles as st
from pv.exports.workbook import save
from pv.exports.xlsx_layout import Column, lines
from pv.exports.xlsx_safe import clean_text, iso_value, needs_quote, safe_cell
from pv.exports.xlsx_stream import SheetStream

TRIGGERS = [
    "=1+1",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\tx",
    "\rx",
    "\nx",
    " =x",
    '=HYPERLINK("http://example.com")',
    "a\rb",
    "a\r\nb",
    "0012",
    "1E5",
    "2021-03",
]
COLUMNS = [
    Column("Text", text="wrap"),
    Column("Number", number="dec1"),
    Column("Int", number="int"),
    Column("When"),
    Column("Flag"),
]
ROWS: list[list[Any]] = [[t, -2.5, -7, date(2021, 3, 5), True] for t in TRIGGERS] + [
    ["plain", float("nan"), 0, datetime(2021, 3, 5, 14, 30), False],
    [None, 1e-5, 10**12, "2021-03", None],
    ["bell\x07char", float("inf"), None, date(1899, 12, 31), None],
]


def _write(path: Path, fast: bool) -> None:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Data")
    stream = SheetStream(
        ws,
        st.StyleBook(wb),
        COLUMNS,
        title="=title",
        subtitle="-subtitle",
        headers=[[c.header for c in COLUMNS]],
    )
    stream._fast = fast
    for row in ROWS:
        stream.add(row)
    stream.close([("@a tail note", "note")])
    save(wb, path)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    root = tmp_path_factory.mktemp("xlsx")
    _write(root / "fast.xlsx", fast=True)
    _write(root / "cells.xlsx", fast=False)
    return load_workbook(root / "fast.xlsx")["Data"], load_workbook(root / "cells.xlsx")["Data"]


def _describe(cell: Any) -> tuple[Any, ...]:
    return (
        cell.value,
        cell.data_type,
        cell.number_format,
        cell.quotePrefix,
        cell.alignment.wrap_text,
        cell.font.b,
    )


def test_streamed_rows_equal_openpyxl_cells(both) -> None:  # type: ignore[no-untyped-def]
    fast, cells = both
    assert fast.max_row == cells.max_row and fast.max_column == cells.max_column
    for a, b in zip(fast.iter_rows(), cells.iter_rows(), strict=True):
        assert [_describe(c) for c in a] == [_describe(c) for c in b]
    assert fast.freeze_panes == cells.freeze_panes == "A5"


def test_trigger_text_is_a_string_that_reads_back_as_typed(both) -> None:  # type: ignore[no-untyped-def]
    fast, _ = both
    for i, text in enumerate(TRIGGERS, start=5):
        cell = fast.cell(row=i, column=1)
        assert cell.value == text and cell.data_type == "s"
        assert cell.quotePrefix == needs_quote(text)
    assert fast["A1"].value == "=title" and fast["A1"].data_type == "s"


def test_numbers_stay_numbers_and_dates_are_dates(both) -> None:  # type: ignore[no-untyped-def]
    fast, _ = both
    assert fast["B5"].value == -2.5 and fast["B5"].data_type == "n"
    assert fast["C5"].value == -7 and fast["C5"].number_format == "0"
    assert fast["D5"].value == datetime(2021, 3, 5) and fast["D5"].is_date
    assert fast["E5"].value == "Yes"
    last = 4 + len(TRIGGERS)
    assert fast.cell(row=last + 1, column=2).value is None  # NaN: empty
    assert fast.cell(row=last + 1, column=4).value == datetime(2021, 3, 5, 14, 30)
    assert fast.cell(row=last + 2, column=3).value == 10**12
    assert fast.cell(row=last + 2, column=4).value == "2021-03"  # partial date: text
    assert fast.cell(row=last + 3, column=1).value == "bell\ufffdchar"
    assert fast.cell(row=last + 3, column=2).value is None  # infinity: empty
    assert fast.cell(row=last + 3, column=4).value == "1899-12-31"  # before Excel's dates


def test_safe_cell_rules() -> None:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    for text in TRIGGERS:
        cell = safe_cell(ws, text)
        assert cell.value == text and cell.data_type == "s"
    assert safe_cell(ws, -3).value == -3 and safe_cell(ws, -3).data_type == "n"
    assert safe_cell(ws, True).value == "Yes"
    assert safe_cell(ws, float("nan")).value is None
    assert clean_text("a\x00b\x1fc\td") == "a\ufffdb\ufffdc\td"
    with pytest.raises(ValueError):
        from datetime import UTC

        safe_cell(ws, datetime.now(UTC))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-03-05", date(2021, 3, 5)),
        ("2021-03-05T14:30", datetime(2021, 3, 5, 14, 30)),
        ("2021-03", "2021-03"),
        ("2021", "2021"),
        ("", None),
        (None, None),
        ("garbage", "garbage"),
        ("2021-02-30", "2021-02-30"),
    ],
)
def test_iso_value_keeps_partial_dates_as_text(text, expected) -> None:  # type: ignore[no-untyped-def]
    assert iso_value(text) == expected


def test_lines_estimates_wrapped_text() -> None:
    assert lines("short", 20) == 1
    # Arial advance widths in hundredths of a digit (xlsx_layout._REGULAR): one 300, two
    # 280, three 410, four 310, five 280, six 220, space 50; room (10 - 0.5) * 100 = 950:
    # "one two" 630 (+ " three" 1090 > 950), "three four" 770 (+ " five" 1100), "five six"
    lines_of_words = lines("one two three four five six", 10)
    assert lines_of_words == 3
    assert lines("first\nsecond", 20) == 2
    assert lines("x" * 25, 10) == 3  # 25 x 90 = 2250 > 950: broken twice (950, 950, 350)
