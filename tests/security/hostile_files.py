"""Hostile spreadsheet uploads, built in memory: each within the documented size limits
(20 MB file, 200 MB unpacked, 200,000 rows) unless it is the point of the file to exceed
one. Used by tests/security/test_hostile_uploads.py and bench/bench_hostile_uploads.py.

Each builder returns (file name as uploaded, file bytes). The workbooks start from the
parts of a plain openpyxl workbook; the sheet or shared strings are written in large
repeated blocks, so that building a 100 MB sheet takes a fraction of a second.
"""

from __future__ import annotations

import io
import os
import random
import zipfile
from collections.abc import Callable, Iterable

from openpyxl import Workbook

HEADER = ["USUBJID", "AETERM", "AELLTCD", "AETOXGR", "AESER", "AESTDTC", "AEENDTC", "AEOUT",
          "AEREL_BELIMUMAB", "AEREL_PREDNISONE"]  # fmt: skip
# The template's 22 columns for a study of two drugs.
TEMPLATE_HEADER = ["USUBJID", "AETERM", "AELLTCD", "AEDECOD", "AETOXGR", "AESER", "AESDTH",
                   "AESLIFE", "AESHOSP", "AESDISAB", "AESCONG", "AESMIE", "AESTDTC", "AEENDTC",
                   "AEONGO", "AEOUT", "AEREL_BELIMUMAB", "AEREL_PREDNISONE", "AEACN_BELIMUMAB",
                   "AEACN_PREDNISONE", "AECONTRT", "NARRATIVE"]  # fmt: skip
SHEET = "xl/worksheets/sheet1.xml"
SST = "xl/sharedStrings.xml"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SHEET_OPEN = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
              b'<worksheet xmlns="' + MAIN_NS.encode() + b'"><sheetData>')  # fmt: skip
SHEET_CLOSE = b"</sheetData></worksheet>"
MB = 1024 * 1024
Built = tuple[str, bytes]


def _skeleton() -> dict[str, bytes]:
    """The parts of a plain, valid workbook (sheet AE) with the upload header in row 1."""
    wb = Workbook()
    wb.active.title = "AE"
    wb.active.append(HEADER)
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return {name: z.read(name) for name in z.namelist()}


def _header_row(header: list[str] = HEADER) -> bytes:
    cells = "".join(f'<c t="inlineStr"><is><t>{h}</t></is></c>' for h in header)
    return f'<row r="1">{cells}</row>'.encode()


def book(
    sheet: Iterable[bytes],
    *,
    shared: Iterable[bytes] | None = None,
    extra: dict[str, bytes] | None = None,
    content_types: bytes | None = None,
) -> bytes:
    """A workbook whose sheet1 (and shared strings) are the concatenated blocks given."""
    parts = _skeleton()
    if shared is not None and SST not in parts:  # openpyxl wrote inline strings
        rel = (
            b'<Relationship Id="rIdSst" Type="http://schemas.openxmlformats.org/'
            b'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
        )
        rels = "xl/_rels/workbook.xml.rels"
        parts[rels] = parts[rels].replace(b"</Relationships>", rel + b"</Relationships>")
        override = (
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
            b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        )
        ct = "[Content_Types].xml"
        parts[ct] = parts[ct].replace(b"</Types>", override + b"</Types>")
        parts[SST] = b""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for name, data in parts.items():
            if name == SHEET:
                _stream(z, name, sheet)
            elif name == SST and shared is not None:
                _stream(z, name, shared)
            elif name == "[Content_Types].xml" and content_types is not None:
                z.writestr(name, content_types)
            else:
                z.writestr(name, data)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return out.getvalue()


def _stream(z: zipfile.ZipFile, name: str, blocks: Iterable[bytes]) -> None:
    with z.open(name, "w", force_zip64=True) as fh:
        for block in blocks:
            fh.write(block)


def _repeat(unit: bytes, times: int, per_block: int = 50_000) -> Iterable[bytes]:
    block = unit * per_block
    for _ in range(times // per_block):
        yield block
    yield unit * (times % per_block)


# The shapes of issue 12 -----------------------------------------------------------------


def xfd_sparse(rows: int = 80_000, value: bool = True) -> Built:
    """`rows` rows, each with one cell in column XFD (16,384): a reader that pads each row to
    its last cell's column builds 16,384 cells a row. With value=False the far cells are
    empty styled cells and every row has a value in column A too (a file to read)."""

    def sheet() -> Iterable[bytes]:
        yield SHEET_OPEN + _header_row()
        batch = []
        for r in range(2, rows + 2):
            if value:
                batch.append(f'<row r="{r}"><c r="XFD{r}" t="inlineStr"><is><t>x</t></is></c>'
                             "</row>")  # fmt: skip
            else:
                batch.append(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>S{r}</t></is></c>'
                             f'<c r="XFD{r}" s="0"/></row>')  # fmt: skip
            if len(batch) == 10_000:
                yield "".join(batch).encode()
                batch = []
        yield "".join(batch).encode() + SHEET_CLOSE

    return ("sparse-xfd.xlsx" if value else "sparse-xfd-empty.xlsx"), book(sheet())


def tiny_shared_strings(count: int = 10_000_000, declared: bool = False) -> Built:
    """`count` one-character shared strings (180 MB unpacked), the count not declared
    unless `declared`: the reader must count them as it reads."""
    attrs = f' count="{count}" uniqueCount="{count}"' if declared else ""
    head = f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN_NS}"{attrs}>'.encode()

    def shared() -> Iterable[bytes]:
        yield head
        yield from _repeat(b"<si><t>a</t></si>", count)
        yield b"</sst>"

    sheet = [SHEET_OPEN + _header_row() + SHEET_CLOSE]
    return "shared-strings.xlsx", book(sheet, shared=shared())


def formulas_without_values(rows: int = 200_000, per_row: int = 20) -> Built:
    """rows x per_row (4 million) formula cells without a computed value, under the
    template's 22 column headers."""
    row = b"<row>" + b"<c><f>1+1</f></c>" * per_row + b"</row>"

    def sheet() -> Iterable[bytes]:
        yield SHEET_OPEN + _header_row(TEMPLATE_HEADER)
        yield from _repeat(row, rows, 5_000)
        yield SHEET_CLOSE

    return "formulas.xlsx", book(sheet())


def invalid_rows(subjects: list[str], codes: list[str], rows: int = 200_000,
                 grade: str = "9") -> Built:  # fmt: skip
    """`rows` distinct data rows (subject, coded term and onset day vary), each valid but
    for one wrong grade: one error each. The subjects must take both study drugs."""
    from datetime import date, timedelta

    start = date(2021, 2, 1)
    cell = '<c t="inlineStr"><is><t>{}</t></is></c>'.format
    heads = [cell(s) + cell("fever") for s in subjects]
    middle = cell(grade) + cell("N")
    tail = "<c/>" + "".join(map(cell, ("RECOVERING/RESOLVING", "NOT RELATED", "NOT RELATED")))
    n_s, n_c = len(subjects), len(codes)

    def sheet() -> Iterable[bytes]:
        yield SHEET_OPEN + _header_row()
        batch = []
        for i in range(rows):
            day = (start + timedelta(days=i // (n_s * n_c))).isoformat()
            code = codes[(i // n_s) % n_c]
            batch.append(f"<row>{heads[i % n_s]}{cell(code)}{middle}{cell(day)}{tail}</row>")
            if len(batch) == 10_000:
                yield "".join(batch).encode()
                batch = []
        yield "".join(batch).encode() + SHEET_CLOSE

    return "invalid-rows.xlsx", book(sheet())


def every_cell_wrong(usubjid: str, rows: int = 200_000) -> Built:
    """`rows` equal rows with every checked cell wrong (code, grade, seriousness, outcome,
    both relationships): millions of errors unless checking stops."""
    cell = '<c t="inlineStr"><is><t>{}</t></is></c>'.format
    values = (usubjid, "fever", "x", "x", "maybe", "2021-02-01", "", "x", "x", "x")
    row = ("<row>" + "".join(map(cell, values)) + "</row>").encode()
    sheet = [SHEET_OPEN + _header_row(), row * rows, SHEET_CLOSE]
    return "every-cell-wrong.xlsx", book(sheet)


def wide_row(cells: int = 2_000_000) -> Built:
    """One row of `cells` empty cell elements (8 MB unpacked): a tree of millions of elements
    for a reader that builds each row before reading it."""

    def sheet() -> Iterable[bytes]:
        yield SHEET_OPEN + _header_row() + b'<row r="2">'
        yield from _repeat(b"<c/>", cells)
        yield b"</row>" + SHEET_CLOSE

    return "wide-row.xlsx", book(sheet())


# The classic set ------------------------------------------------------------------------


def entity_bomb() -> Built:
    lol = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10)
    ]
    doctype = f"<!DOCTYPE lolz [{''.join(lol)}]>".encode()
    sheet = [b'<?xml version="1.0" encoding="UTF-8"?>' + doctype
             + SHEET_OPEN.split(b"\n", 1)[1]
             + b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
             + SHEET_CLOSE]  # fmt: skip
    return "billion-laughs.xlsx", book(sheet)


def zip_bomb() -> Built:
    """1 GiB of sheet XML (whitespace inside sheetData), about 1 MB zipped."""

    def sheet() -> Iterable[bytes]:
        yield SHEET_OPEN
        chunk = b" " * MB
        for _ in range(1024):
            yield chunk
        yield SHEET_CLOSE

    return "zipbomb.xlsx", book(sheet())


def million_rows() -> Built:
    """1,048,576 rows (Excel's maximum), no <dimension>: the reader must count, not trust."""

    def sheet() -> Iterable[bytes]:
        yield SHEET_OPEN
        batch = []
        for r in range(1, 1_048_577):
            batch.append(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>S{r}</t></is></c></row>')
            if len(batch) == 50_000:
                yield "".join(batch).encode()
                batch = []
        yield "".join(batch).encode() + SHEET_CLOSE

    return "million.xlsx", book(sheet())


def macro_book() -> Built:
    ct = _skeleton()["[Content_Types].xml"].replace(
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    ).replace(b"</Types>", b'<Default Extension="bin" '
              b'ContentType="application/vnd.ms-office.vbaProject"/></Types>')  # fmt: skip
    vba = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b'Attribute VB_Name = "AutoOpen"' * 20
    sheet = [_skeleton()[SHEET]]
    return "events.xlsm", book(sheet, extra={"xl/vbaProject.bin": vba}, content_types=ct)


def csv_renamed() -> Built:
    return "events.xlsx", (",".join(HEADER) + "\nNCT04660565-01-own-1,fever\n").encode()


def path_traversal() -> Built:
    """A plain workbook (header only) with a member named to escape an extraction folder,
    uploaded under a name that tries the same."""
    sheet = [SHEET_OPEN + _header_row() + SHEET_CLOSE]
    data = book(sheet, extra={"../../../../tmp/pv-hostile-evil.txt": b"owned"})
    return "../../../../tmp/pv-hostile-upload.xlsx", data


def empty() -> Built:
    return "events.xlsx", b""


def junk() -> Built:
    rng = random.Random(12)
    return "events.xlsx", bytes(rng.getrandbits(8) for _ in range(64 * 1024))


def junk_zip() -> Built:
    """A zip signature followed by random bytes."""
    return "events.xlsx", b"PK\x03\x04" + os.urandom(64 * 1024)


Builder = Callable[[], Built]
