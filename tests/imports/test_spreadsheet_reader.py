"""The streaming readers on the sheet forms they must handle (no database)."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from openpyxl import Workbook

from pv.imports.spreadsheet import UploadRefused, csv_reader, parse_upload, xlsx_reader
from pv.settings import Settings

NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def book(sheet_data: str, strings: list[str] | None = None) -> bytes:
    """A minimal workbook: sheet AE with `sheet_data` inside <sheetData>, shared strings,
    and styles where style 1 is a date format (numFmtId 14)."""
    files = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
        'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{PKG}.sheet.main+xml"/></Types>',
        "_rels/.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook {NS} xmlns:r="{REL}"><sheets><sheet name="AE" '
        'sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/'
        f'package/2006/relationships"><Relationship Id="rId1" Type="{REL}/worksheet" '
        f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{REL}/sharedStrings" '
        f'Target="sharedStrings.xml"/><Relationship Id="rId3" Type="{REL}/styles" '
        'Target="styles.xml"/></Relationships>',
        "xl/styles.xml": f'<styleSheet {NS}><cellXfs count="2"><xf numFmtId="0"/>'
        '<xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>',
        "xl/sharedStrings.xml": f"<sst {NS}>"
        + "".join(f"<si><t>{s}</t></si>" for s in strings or [])
        + "</sst>",
        "xl/worksheets/sheet1.xml": f"<worksheet {NS}><sheetData>{sheet_data}</sheetData>"
        "</worksheet>",
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(name, text)
    return out.getvalue()


def cells(data: bytes, filename: str = "a.xlsx") -> list[tuple[int, list[str | None]]]:
    parsed = parse_upload(filename, data, settings=Settings())
    return [(parsed.header_row, list(parsed.header)), *parsed.rows]


HEAD = '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'


def test_shared_string_indexes_in_any_integer_form() -> None:
    data = book(HEAD + '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"><v> 02 </v>'
                "</c></row>", ["USUBJID", "AETERM", "x"])  # fmt: skip
    assert cells(data)[1] == (2, ["x", "x"])
    for bad in ("3", "1.5", "", "x"):
        data = book(HEAD + f'<row r="2"><c r="A2" t="s"><v>{bad}</v></c></row>',
                    ["USUBJID", "AETERM", "x"])  # fmt: skip
        if bad == "":
            assert cells(data)[1:] == []  # an empty value is an empty cell
            continue
        with pytest.raises(UploadRefused, match="bad shared string index"):
            cells(data)


def test_cells_placed_by_reference_in_any_order_or_by_position_without_one() -> None:
    rows = (HEAD
            + '<row r="2"><c r="C2" t="inlineStr"><is><t>c</t></is></c>'
            '<c r="A2" t="inlineStr"><is><t>a</t></is></c></row>'
            '<row r="3"><c t="inlineStr"><is><t>a</t></is></c><c t="inlineStr"><is><t>b</t>'
            "</is></c></row>"
            '<row r="4"><c r="B4" s="1"/><c r="D4"><v>12.0</v></c>'
            '<c r="E4" s="1"><v>44260</v></c><c r="F4" t="b"><v>1</v></c>'
            '<c r="G4" t="str"><f>A1</f><v>007</v></c></row>')  # fmt: skip
    got = cells(book(rows, ["USUBJID", "AETERM"]))
    assert got[1] == (2, ["a", None, "c"])
    assert got[2] == (3, ["a", "b"])
    assert got[3] == (4, [None, None, None, "12", "2021-03-05", "TRUE", "007"])


def test_problems_found_while_reading() -> None:
    rows = (HEAD + '<row r="2"><c r="A2" t="e"><v>#N/A</v></c><c r="B2"><f>1/0</f></c>'
            '<c r="C2" t="inlineStr"><is><r><t>rich </t></r><r><t>text</t></r><rPh><t>x</t>'
            "</rPh></is></c></row>")  # fmt: skip
    parsed = parse_upload("a.xlsx", book(rows, ["USUBJID", "AETERM"]), settings=Settings())
    assert [(p.row, p.column, p.value) for p in parsed.problems] == [(2, "A", "#N/A"),
                                                                     (2, "B", "")]  # fmt: skip
    assert parsed.rows == [(2, [None, None, "rich text"])]


def test_row_numbers_that_are_not_plain_digits_count_on() -> None:
    rows = (HEAD + '<row r="\u00b2"><c r="A2" t="inlineStr"><is><t>x</t></is></c></row>'
            '<row><c r="A3" t="inlineStr"><is><t>y</t></is></c></row>')  # fmt: skip
    assert [r for r, _ in cells(book(rows, ["USUBJID", "AETERM"]))] == [1, 2, 3]


def test_a_long_sheet_is_read_whole_while_the_tree_is_pruned(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """More rows than one pruning batch, blank rows (also whitespace only) skipped, the
    table of shared texts started anew on the way."""
    monkeypatch.setattr(xlsx_reader, "_INTERN_LIMIT", 10)
    wb = Workbook()
    ws = wb.active
    ws.title = "AE"
    ws.append(["USUBJID", "AETERM", "AETOXGR"])
    expected = []
    for i in range(1, 1001):
        if i % 97 == 0:
            ws.append([None, "  ", None])
            continue
        row = [f"S-{i:04d}", f"term {i % 7}", str(i % 5 + 1)]
        ws.append(row)
        expected.append((i + 1, row))
    out = io.BytesIO()
    wb.save(out)
    got = cells(out.getvalue())
    assert got[0] == (1, ["USUBJID", "AETERM", "AETOXGR"])
    assert got[1:] == expected


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8")


def test_csv_cells_are_text_empty_ones_none_and_blank_rows_skipped(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(csv_reader, "_INTERN_LIMIT", 5)  # started anew many times
    rows = [["USUBJID", "AETERM", "AETOXGR"]]
    for i in range(50):
        rows.append([f"S-{i}", "", f"0{i % 3}"] if i % 10 else ["", " \t", ""])
    got = cells(_csv(rows), "a.csv")
    assert got[0] == (1, ["USUBJID", "AETERM", "AETOXGR"])
    assert got[1:] == [(i + 2, [f"S-{i}", None, f"0{i % 3}"]) for i in range(50) if i % 10]
