"""Reading an upload: the file type decided by its content, and CSV files.

A CSV goes through the csv module (UTF-8, a BOM allowed; the delimiter guessed from the
header line among comma, semicolon and tab); every cell is text, an empty one is None.
Nothing guesses types (no pandas).

Bounded like the xlsx reader: a line with more than `_MAX_SEPARATORS` separators is refused
before the csv module splits it (a line of millions of commas would be a list of millions
of cells), a value beyond column `MAX_COLUMNS` (once the header is read, `EXTRA_COLUMNS`
right of its last column) refuses the file naming the cell (empty cells there are
dropped), and a cell longer than `MAX_CSV_FIELD` characters too.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from pv.i18n import gettext as _
from pv.imports.spreadsheet.common import (
    _INTERN_LIMIT,
    EXTRA_COLUMNS,
    MAX_COLUMNS,
    MAX_CSV_FIELD,
    ParsedUpload,
    Progress,
    UploadRefused,
    _col_name,
    _mb,
)
from pv.imports.spreadsheet.xlsx_reader import _read_xlsx
from pv.settings import Settings, get_settings

_MAX_SEPARATORS = 4 * 1024  # in one line (quoted text may hold some)


def _beyond(j: int, row_no: int, limit: int, header: list[str] | None) -> UploadRefused:
    if header is None or limit >= MAX_COLUMNS:
        why = _("an upload may use at most %(n)s columns", n=MAX_COLUMNS)
    else:
        why = _("the header ends at column %(last)s and at most %(n)s columns more are read",
                last=_col_name(len(header) - 1), n=EXTRA_COLUMNS)  # fmt: skip
    return UploadRefused(_("cell %(cell)s (row %(row)s, column %(column)s): a value beyond column "
                           "%(limit)s; %(why)s. Delete the cells right of the table and upload "
                           "again", cell=f"{_col_name(j)}{row_no}", row=f"{row_no:,}",
                           column=f"{j + 1:,}", limit=_col_name(limit - 1), why=why))  # fmt: skip


def _lines(text: str, delimiter: str) -> Iterator[str]:
    for n, line in enumerate(io.StringIO(text, newline=""), start=1):
        if line.count(delimiter) > _MAX_SEPARATORS:
            raise UploadRefused(_("line %(line)s of the CSV file has more than %(separators)s "
                                  "separators; an upload may use at most %(n)s columns",
                                  line=f"{n:,}", separators=f"{_MAX_SEPARATORS:,}",
                                  n=MAX_COLUMNS))  # fmt: skip
        yield line


def _read_csv(data: bytes, settings: Settings, progress: Progress | None) -> ParsedUpload:
    max_rows = settings.upload_max_rows
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadRefused(_("the CSV file is not UTF-8 text (byte %(byte)s); save it as "
                              "'CSV UTF-8'", byte=exc.start)) from exc  # fmt: skip
    if "\x00" in text:
        raise UploadRefused(_("not a CSV file (it contains binary data)"))
    first = text[: text.find("\n")] if "\n" in text else text
    delimiter = max((",", ";", "\t"), key=first.count)
    expected = max(text.count("\n") - 1, 0)  # the header is a line too
    if csv.field_size_limit() != MAX_CSV_FIELD:
        csv.field_size_limit(MAX_CSV_FIELD)
    reader = csv.reader(_lines(text, delimiter), delimiter=delimiter, strict=False)
    header: list[str] | None = None
    header_row = 0
    rows: list[tuple[int, list[str | None]]] = []
    # Equal texts share one object (100,000 rows repeat a few hundred values), and an
    # empty cell is None: both in one C-level pass per row, map(intern.setdefault).
    intern: dict[str, str | None] = {"": None}
    row_no = 0
    limit = MAX_COLUMNS  # narrowed to the header's columns and a few more once read
    try:
        for record in reader:
            row_no += 1
            if len(intern) > _INTERN_LIMIT:
                intern = {"": None}
            values: list[str | None] = list(map(intern.setdefault, record, record))
            if len(values) > limit:
                for j in range(limit, len(values)):
                    if values[j] is not None and values[j].strip():  # type: ignore[union-attr]
                        raise _beyond(j, row_no, limit, header)
                del values[limit:]
            for v in values:
                if v and not v.isspace():
                    break
            else:
                continue  # a blank row
            if header is None:
                header, header_row = [v or "" for v in values], row_no
                limit = min(MAX_COLUMNS, len(header) + EXTRA_COLUMNS)
                continue
            rows.append((row_no, values))
            if len(rows) > max_rows:
                raise UploadRefused(_("more than %(n)s rows; upload at most %(n)s rows at once",
                                      n=f"{max_rows:,}"))  # fmt: skip
            if progress is not None and len(rows) % 1000 == 0:
                progress(len(rows), max(expected, len(rows)))
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise UploadRefused(_("a cell on row %(row)s of the CSV file is longer than "
                                  "%(n)s characters; refused", row=f"{row_no + 1:,}",
                                  n=f"{MAX_CSV_FIELD:,}")) from exc  # fmt: skip
        raise UploadRefused(_("not a valid CSV file (row %(row)s: %(error)s)", row=row_no,
                              error=exc)) from exc  # fmt: skip
    if header is None:
        raise UploadRefused(_("the CSV file is empty"))
    return ParsedUpload(kind="csv", header=header, header_row=header_row, rows=rows)


def parse_upload(filename: str, data: bytes, *, settings: Settings | None = None,
                 progress: Progress | None = None) -> ParsedUpload:  # fmt: skip
    """Read an uploaded .xlsx or .csv file; raises `UploadRefused` with the reason.

    `progress(rows_read, rows_expected)` is called every 1,000 rows (the expectation comes
    from the sheet's dimension or the CSV's line count).
    """
    settings = settings or get_settings()
    name = (filename or "").strip().lower()
    ext = name.rsplit(".", 1)[-1] if "." in name else ""
    if len(data) > settings.upload_max_bytes:
        raise UploadRefused(_("the file is %(size)s; at most %(max)s may be uploaded",
                              size=_mb(len(data)), max=_mb(settings.upload_max_bytes)))  # fmt: skip
    if not data:
        raise UploadRefused(_("the file is empty"))
    is_zip = data[:4] == b"PK\x03\x04"
    is_ole = data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    if ext in ("xlsm", "xltm", "xlam"):
        raise UploadRefused(_("macro-enabled workbooks (.xlsm) are refused; save it as .xlsx"))
    if ext in ("xlsx", "xltx"):
        if is_ole:
            raise UploadRefused(_("not an xlsx file (an old .xls or a password-protected "
                                  "workbook); save it as an unprotected .xlsx"))  # fmt: skip
        if not is_zip:
            raise UploadRefused(_("not an xlsx file (its content is not a workbook)"))
        return _read_xlsx(data, settings, progress)
    if ext in ("csv", "txt"):
        if is_zip or is_ole:
            raise UploadRefused(_("not a CSV file (its content is a workbook); upload it as .xlsx"))
        return _read_csv(data, settings, progress)
    if ext == "xls":
        raise UploadRefused(_("the old .xls format is not accepted; save it as .xlsx"))
    raise UploadRefused(_("upload an .xlsx workbook or a .csv file"))
