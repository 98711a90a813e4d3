"""Reading the data sheet of an xlsx upload, streamed row by row.

Every cell is read as text: shared and inline strings exactly as typed ("007", "0012",
"1E5", "NA"), numbers Excel stored as numbers as their shortest text (12, not 12.0),
date-formatted numbers as ISO 8601 dates, booleans as TRUE/FALSE; a formula without a
computed value and an error cell are reported. Limits: the sheet's declared dimension is
checked first, then the rows are counted while streaming.

Bounded reading (issue 12): a row is never padded past the last column an upload may use
(`MAX_COLUMNS`; once the header is read, `EXTRA_COLUMNS` right of its last column): a value
beyond it refuses the file, naming the cell, and an empty cell there is skipped, so a
sheet of sparse rows with a cell in column XFD costs what its cells cost. The cell
elements, row elements (1,048,576, as in Excel), shared strings, problems found while
reading (`MAX_READ_PROBLEMS`) and the XML elements in one row (`xlsx_package`) are limited
too; each refusal says which limit and where.

openpyxl's read-only mode was measured first: with defusedxml installed it parses through
the pure-Python XML parser, ~2,500 rows/s on a 22-column sheet. This reader streams with
lxml `iterparse` (the package's parts vetted by `xlsx_package`); building the tree of
each row is about half of its time, the Python work per cell the other half, which is
why the loop below avoids every step it can (see `_read_sheet`). python-calamine (Rust)
was measured too: 3x faster, but it allocates the sheet's whole bounding box (a sheet
with cells A1 and XFD100000 aborts the process on a 52 GB allocation), returns error
cells and formulas without a value as blanks, and large integers as floats.

Measured again for issue 12 (python-calamine 0.9.1, 100,000 rows x 22 columns): 1.6 s
against this reader's 4.7-5.4 s of CPU, but (1) the bounding box, as above (a cell at
XFD50000 aborts the process); (2) it copies a shared string into every cell that uses it:
a 42 KB workbook of 20,000 cells naming one 10 KB string takes +190 MB (a 400 KB one
would take 2 GB); (3) its cells cost 135-207 MB for those 2.2 million before any Python
object, so a valid 200,000-row file alone would pass the 200 MB memory target. Making it
safe needs a scan of every cell reference and shared-string index first (the real extent
and the copied text), 1.0-1.4 s of Python on that sheet, leaving ~30% of gain for twice
the memory: the lxml reader stays. lxml's tree building alone takes 2.2 s of the time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import zipfile
from datetime import datetime, timedelta

from lxml import etree

from pv.i18n import gettext
from pv.imports.spreadsheet.common import (
    _INTERN_LIMIT,
    CASE_SHEETS,
    DATA_SHEET,
    EXTRA_COLUMNS,
    HEADER_ROW,
    MAX_CASE_CELLS,
    MAX_CASE_ROWS,
    MAX_CELLS,
    MAX_COLUMNS,
    MAX_READ_PROBLEMS,
    ParsedUpload,
    Progress,
    RowError,
    UploadRefused,
    _col_name,
)
from pv.imports.spreadsheet.xlsx_package import (
    _REL_SHEET,
    _REL_SST,
    _REL_STYLES,
    _SAFE_XML,
    _content_types,
    _date_styles,
    _local,
    _shared_strings,
    _string_item,
    _Xlsx,
)
from pv.settings import Settings

_DIGITS = "0123456789"
_PRUNE = 256  # rows cleared before their elements are removed from the tree
_SHEET_ROWS = 1_048_576  # the rows of an Excel worksheet
_FAST_SHARED = 100_000  # shared strings looked up by their index text (the rest by int())


def _serial_to_iso(value: float, date1904: bool) -> str:
    epoch = datetime(1904, 1, 1) if date1904 else datetime(1899, 12, 31)
    if not date1904 and value >= 60:
        value -= 1  # Excel's 1900 leap-year bug
    at = epoch + timedelta(days=value)
    at = (at + timedelta(microseconds=500_000)).replace(microsecond=0)  # to the second
    if at.hour == at.minute == at.second == 0:
        return at.date().isoformat()
    return at.isoformat(timespec="seconds" if at.second else "minutes")


def _number_text(text: str) -> str:
    """The shortest text of a number as Excel stores it: 12, not 12.0."""
    if "." not in text and "E" not in text and "e" not in text:
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def _col_index(letters: str, cache: dict[str, int], sheet: str, ref: str, limit: int) -> int:
    n = 0
    for ch in letters:
        if not "A" <= ch <= "Z":
            n = 0
            break
        n = n * 26 + ord(ch) - 64
    if not 1 <= n <= 16384:
        raise UploadRefused(gettext("%(sheet)s: bad cell reference %(ref)s", sheet=sheet,
                                    ref=repr(ref)))  # fmt: skip
    if n <= limit:  # a column further right is never cached: see _beyond
        cache[letters] = n - 1
    return n - 1


def _beyond(sheet: str, ref: str, limit: int, header: list[str] | None) -> UploadRefused:
    if header is None or limit >= MAX_COLUMNS:
        why = gettext("an upload may use at most %(n)s columns (the template's columns and "
                      "a few more)", n=MAX_COLUMNS)  # fmt: skip
    else:
        why = gettext("the header ends at column %(last)s and at most %(n)s columns more are "
                      "read", last=_col_name(len(header) - 1), n=EXTRA_COLUMNS)  # fmt: skip
    return UploadRefused(gettext("%(cell)s: a value beyond column %(limit)s; %(why)s. Delete the "
                                 "cells right of the table and upload again",
                                 cell=f"{sheet}!{ref}", limit=_col_name(limit - 1),
                                 why=why))  # fmt: skip


def _too_many_problems(found: int, row_no: int) -> UploadRefused:
    return UploadRefused(
        gettext(
            "%(found)s cells hold a formula without a computed value or a spreadsheet error "
            "(more than %(max)s; reading stopped at row %(row)s): paste the values instead of "
            "formulas and upload again",
            found=f"{found:,}",
            max=f"{MAX_READ_PROBLEMS:,}",
            row=f"{row_no:,}",
        )
    )


def _dimension_rows(ref: str | None) -> int | None:
    if not ref:
        return None
    m = re.search(r"([0-9]+)$", ref.strip())
    return int(m.group(1)) if m else None


def _read_xlsx(data: bytes, settings: Settings, progress: Progress | None) -> ParsedUpload:
    x = _Xlsx(data, settings)
    workbook = _content_types(x)
    wb_root = x.root(workbook)
    rels = x.rels(workbook)
    date1904 = False
    sheets: list[tuple[str, str, str]] = []
    for el in wb_root:
        local = _local(el.tag)
        if local == "workbookPr":
            date1904 = (el.get("date1904") or "").lower() in ("1", "true")
        elif local == "sheets":
            for sh in el:
                rid = next((v for k, v in sh.attrib.items() if _local(k) == "id"), "")
                sheets.append((sh.get("name", ""), rid, sh.get("state", "visible")))
    worksheets = [(n, rels[r][1], s) for n, r, s in sheets
                  if r in rels and rels[r][0].endswith(_REL_SHEET)]  # fmt: skip
    if not worksheets:
        raise UploadRefused(gettext("the workbook has no worksheet"))
    chosen = next((w for w in worksheets if w[0].strip().upper() == DATA_SHEET), None)
    chosen = chosen or next((w for w in worksheets if w[2] == "visible"), worksheets[0])
    sheet_name, sheet_part, _ = chosen
    sst_part = next((p for t, p in rels.values() if t.endswith(_REL_SST)), None)
    styles_part = next((p for t, p in rels.values() if t.endswith(_REL_STYLES)), None)
    shared = _shared_strings(x, sst_part) if sst_part and sst_part in x.names else []
    date_styles = _date_styles(x, styles_part)
    parsed = _read_sheet(x, sheet_part, sheet_name, shared, date_styles, date1904, settings,
                         progress)  # fmt: skip
    # The optional SAE case-data sheets (issue 16), read the same way, within limits of
    # their own for all of them together (rows, cells); the zip's unpacked-size budget
    # and the shared strings are the workbook's, counted once.
    rows_left, cells_left = MAX_CASE_ROWS, MAX_CASE_CELLS
    for name, part, _state in worksheets:
        key = name.strip().upper()
        if key not in CASE_SHEETS or key in parsed.case_sheets or part == sheet_part:
            continue
        sub = _read_sheet(x, part, name, shared, date_styles, date1904, settings, None,
                          case=key, max_rows=rows_left, max_cells=cells_left)  # fmt: skip
        parsed.case_sheets[key] = sub
        rows_left -= len(sub.rows)
        cells_left -= sub.cells
    return parsed


def _case_limit(sheet: str, what: str, n: int, row_no: int) -> UploadRefused:
    """The refusal of a case-data sheet past the limits of those sheets together."""
    if what == "rows":
        return UploadRefused(gettext(
            "%(sheet)s: the case-data sheets (%(sheets)s) may hold at most %(n)s rows "
            "together (reading stopped at row %(row)s)", sheet=sheet,
            sheets=", ".join(CASE_SHEETS), n=f"{n:,}", row=f"{row_no:,}"))  # fmt: skip
    return UploadRefused(gettext(
        "%(sheet)s: the case-data sheets (%(sheets)s) may hold at most %(n)s cells "
        "together (reading stopped at row %(row)s)", sheet=sheet,
        sheets=", ".join(CASE_SHEETS), n=f"{n:,}", row=f"{row_no:,}"))  # fmt: skip


def _read_sheet(x: _Xlsx, part: str, sheet_name: str, shared: list[str],
                date_styles: frozenset[int], date1904: bool, settings: Settings,
                progress: Progress | None, *, case: str = "", max_rows: int | None = None,
                max_cells: int = MAX_CELLS) -> ParsedUpload:  # fmt: skip
    """The sheet's rows as text cells (see the module docstring).

    `case`: the name of a case-data sheet (CASE_SHEETS) being read; its limits are
    `max_rows` and `max_cells` (what is left of those of the case-data sheets together),
    an empty one is no error, and its reading problems name it.

    Per cell: one element proxy for <c> and one for its first child, two attribute reads,
    the column from a cache of reference letters; shared strings by their index text
    (no int() for the usual form); other short texts shared between rows. Each row is
    cleared once read and the cleared rows are removed from the tree in batches."""
    if max_rows is None:
        max_rows = settings.upload_max_rows
    problems: list[RowError] = []
    header: list[str] | None = None
    header_row = 0
    rows: list[tuple[int, list[str | None]]] = []
    letters_cache: dict[str, int] = {}
    limit = MAX_COLUMNS  # columns read; narrowed to the header's and a few more once read
    width = 0  # the header's
    intern: dict[str, str] = {}
    shared_of = {str(i): s for i, s in enumerate(shared[:_FAST_SHARED])}
    expected = 0
    row_no = 0
    read = 0
    cells = 0
    stream = x.open(part, unit=b"row")
    ns = None
    tags = ("{*}dimension", "{*}row")
    try:
        for _, el in etree.iterparse(stream, events=("end",), tag=tags, **_SAFE_XML):
            tag = el.tag
            if ns is None:
                ns = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
                row_tag, c_tag, v_tag, f_tag = ns + "row", ns + "c", ns + "v", ns + "f"
                is_tag, t_tag = ns + "is", ns + "t"
            if tag != row_tag:
                declared = _dimension_rows(el.get("ref"))
                if declared is not None:
                    if case and declared > max_rows + HEADER_ROW:
                        raise _case_limit(sheet_name, "rows", MAX_CASE_ROWS, declared)
                    if declared > max_rows + HEADER_ROW:
                        raise UploadRefused(gettext(
                            "the sheet has %(rows)s rows; at most %(max)s may be uploaded at once",
                            rows=f"{declared - HEADER_ROW:,}", max=f"{max_rows:,}"))  # fmt: skip
                    expected = max(declared - HEADER_ROW, 0)
                continue
            r = el.get("r")
            row_no = int(r) if r and r.isdecimal() and len(r) < 9 else row_no + 1
            read += 1
            if row_no > _SHEET_ROWS or read > _SHEET_ROWS:
                raise UploadRefused(gettext("%(sheet)s: more than %(n)s rows (row %(row)s), "
                                            "which no worksheet can hold", sheet=sheet_name,
                                            n=f"{_SHEET_ROWS:,}", row=f"{row_no:,}"))  # fmt: skip
            cells += len(el)
            if case and cells > max_cells:
                raise _case_limit(sheet_name, "cells", MAX_CASE_CELLS, row_no)
            if cells > max_cells:
                raise UploadRefused(gettext("%(sheet)s: more than %(n)s cells (at row %(row)s); "
                                            "upload at most %(max)s rows of the template's "
                                            "columns at once", sheet=sheet_name,
                                            n=f"{MAX_CELLS:,}", row=f"{row_no:,}",
                                            max=f"{max_rows:,}"))  # fmt: skip
            if len(intern) > _INTERN_LIMIT:
                intern = {}
            # Sized to the header at once (no growing); a cell further right extends it.
            values: list[str | None] = [None] * width
            n = width
            col = -1
            for c in el.iterchildren(c_tag):
                ref = c.get("r")
                if ref is None:
                    col += 1
                    if col >= limit:
                        if len(c):
                            raise _beyond(sheet_name, f"{_col_name(col)}{row_no}", limit, header)
                        continue
                else:
                    letters = ref.rstrip(_DIGITS)
                    col = letters_cache.get(letters, -1)
                    if col < 0:
                        col = _col_index(letters, letters_cache, sheet_name, ref, limit)
                        if col >= limit:
                            if len(c):
                                raise _beyond(sheet_name, ref, limit, header)
                            continue
                try:
                    first = c[0]
                except IndexError:  # an empty cell
                    continue
                tag = first.tag
                t = c.get("t")
                if tag == v_tag:
                    text = first.text
                    if not text:
                        continue
                    if t == "s":  # the usual cell of an Excel file: a shared string
                        s = shared_of.get(text)
                        text = s if s is not None else _shared(shared, text, sheet_name, ref)
                        if col < n:
                            values[col] = text
                        else:
                            if col > n:
                                values.extend([None] * (col - n))
                            values.append(text)
                            n = col + 1
                        continue
                elif tag == is_tag:
                    try:
                        only = first[0]
                    except IndexError:
                        continue  # <is/>: an empty string
                    # A leading <t> is the whole text (rich text is <r> runs; phonetic
                    # <rPh> runs that may follow are not text), else _string_item.
                    text = only.text if only.tag == t_tag else _string_item(first)
                    if t == "inlineStr" and text:  # the usual cell of an openpyxl file
                        text = intern.setdefault(text, text)
                        if col < n:
                            values[col] = text
                        else:
                            if col > n:
                                values.extend([None] * (col - n))
                            values.append(text)
                            n = col + 1
                        continue
                elif tag == f_tag:
                    v = c.find(v_tag)
                    text = v.text if v is not None else None
                    if text is None:
                        problems.append(RowError(row_no, _col_name(col), "",
                                                 gettext("a formula without a computed value; "
                                                         "paste values instead")))  # fmt: skip
                        if len(problems) > MAX_READ_PROBLEMS:
                            raise _too_many_problems(len(problems), row_no)
                        continue
                else:
                    continue
                if not text:
                    continue
                if t == "s":
                    text = _shared(shared, text, sheet_name, ref)
                elif t is None or t == "n":
                    s = c.get("s")
                    if date_styles and s is not None and s.isdigit() and int(s) in date_styles:
                        with contextlib.suppress(ValueError, OverflowError):
                            text = _serial_to_iso(float(text), date1904)
                    else:
                        text = _number_text(text)
                elif t == "b":
                    text = "TRUE" if text.strip() in ("1", "true") else "FALSE"
                elif t == "e":
                    error = gettext("the cell holds a spreadsheet error")
                    problems.append(RowError(row_no, _col_name(col), text[:100], error))
                    if len(problems) > MAX_READ_PROBLEMS:
                        raise _too_many_problems(len(problems), row_no)
                    continue
                # "inlineStr", "str" (a formula's text result), "d" (ISO date): as stored.
                text = intern.setdefault(text, text)
                if col < n:
                    values[col] = text
                else:
                    if col > n:
                        values.extend([None] * (col - n))
                    values.append(text)
                    n = col + 1
            el.clear()
            if read % _PRUNE == 0:
                parent = el.getparent()
                if parent is not None:
                    del parent[: parent.index(el)]  # the cleared rows before this one
            for v in values:
                if v and not v.isspace():
                    break
            else:
                continue  # a blank row
            if header is None:
                header, header_row = [v or "" for v in values], row_no
                limit = min(MAX_COLUMNS, len(header) + EXTRA_COLUMNS)
                width = len(header)
                letters_cache = {k: v for k, v in letters_cache.items() if v < limit}
                continue
            rows.append((row_no, values))
            if case and len(rows) > max_rows:
                raise _case_limit(sheet_name, "rows", MAX_CASE_ROWS, row_no)
            if len(rows) > max_rows:
                raise UploadRefused(gettext("more than %(n)s rows; upload at most %(n)s rows at "
                                            "once", n=f"{max_rows:,}"))  # fmt: skip
            if progress is not None and len(rows) % 1000 == 0:
                progress(len(rows), max(expected, len(rows)))
    except etree.XMLSyntaxError as exc:
        raise UploadRefused(gettext("not a valid xlsx file (%(part)s: %(error)s)", part=part,
                                    error=exc)) from exc  # fmt: skip
    except (zipfile.BadZipFile, EOFError, OSError) as exc:  # zlib errors, bad CRC
        raise UploadRefused(gettext("the xlsx file is corrupt (%(error)s)", error=exc)) from exc
    if case:  # an empty case-data sheet is no error; its problems name it
        problems = [dataclasses.replace(p, sheet=case) for p in problems]
        return ParsedUpload(kind="xlsx", header=header or [], header_row=header_row,
                            rows=rows, problems=problems, sheet=case, cells=cells)  # fmt: skip
    if header is None:
        raise UploadRefused(gettext("sheet %(sheet)s is empty", sheet=sheet_name))
    return ParsedUpload(kind="xlsx", header=header, header_row=header_row, rows=rows,
                        problems=problems, sheet=sheet_name, cells=cells)  # fmt: skip


def _shared(shared: list[str], text: str, sheet: str, ref: str | None) -> str:
    """A shared string by an index in another form than str(i) (" 5", "05"), or refused."""
    try:
        return shared[int(text)]
    except (ValueError, IndexError):
        raise UploadRefused(gettext("%(cell)s: bad shared string index",
                                    cell=f"{sheet}!{ref}")) from None  # fmt: skip
