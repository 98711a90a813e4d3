"""Adverse events from a spreadsheet: the xlsx template, and upload of xlsx or CSV files.

Reading (`parse_upload`) treats the file as hostile (reliability.md):

- the type is decided by the content, not the name: an xlsx must be a zip holding an
  OOXML workbook; macro-enabled workbooks (vbaProject.bin, macro sheets, macro content
  types, .xlsm) are refused, as is a CSV or an old .xls renamed .xlsx;
- limits: file size, unpacked size (the zip's declared sizes first, then the bytes
  actually inflated, counted while reading, so a lying zip header cannot get further),
  rows (the sheet's declared dimension first, then counted while streaming);
- the XML is streamed with lxml `iterparse` (no DTD loading, no entity resolution, no
  network, no huge-tree mode), and any DOCTYPE or ENTITY declaration is refused before it
  reaches the parser (entity bombs). openpyxl's read-only mode was measured first: with
  defusedxml installed it parses through the pure-Python XML parser, ~2,500 rows/s on
  a 22-column sheet, which cannot meet the 10,000 rows/s target; this reader does the
  same streaming work with lxml (see `xlsx_reader` for what it costs and why);
- every cell is read as text: shared and inline strings exactly as typed ("007",
  "0012", "1E5", "NA"), numbers Excel stored as numbers as their shortest text (12, not
  12.0), date-formatted numbers as ISO 8601 dates, booleans as TRUE/FALSE. Nothing
  guesses types (no pandas), and CSV goes through the csv module (UTF-8, BOM allowed).

`validate_rows` converts field by field and reports each problem with the row number the
user sees (header = row 1), the column, the value and the reason. `import_upload` stores
every row or none: the rules of `pv.events.rules` run through `create_events_bulk` in one
write transaction, which is rolled back when any row fails.

Modules: `common` (results, errors, columns), `template` (the xlsx template),
`xlsx_package` (the zip and its parts, vetted), `xlsx_reader` (the data sheet, streamed),
`csv_reader` (CSV, and `parse_upload`, which decides the type), `convert`
(`validate_rows`), `case_sheets` (the optional SAE case-data sheets of an xlsx, issue 16:
read, checked by `pv.icsr.casedata` and stored in the same transaction), `upload`
(`import_upload`, the error report). Throughput is measured
by bench/bench_upload.py (100,000 rows, SQLite).
"""

from pv.imports.spreadsheet.common import (
    BASE_COLUMNS,
    CRITERIA_COLUMNS,
    DATA_SHEET,
    EPISODE_COLUMNS,
    FIELD_COLUMNS,
    GRADES,
    HEADER_ROW,
    TAIL_COLUMNS,
    YES_NO,
    YN_COLUMNS,
    Converted,
    ParsedUpload,
    Progress,
    RowError,
    UploadRefused,
    UploadResult,
)
from pv.imports.spreadsheet.convert import validate_rows
from pv.imports.spreadsheet.csv_reader import parse_upload
from pv.imports.spreadsheet.template import build_template, columns_for, template_for_study
from pv.imports.spreadsheet.upload import error_report_csv, import_upload
from pv.imports.spreadsheet.xlsx_package import _Budget, _Guarded

__all__ = [
    "BASE_COLUMNS",
    "CRITERIA_COLUMNS",
    "DATA_SHEET",
    "EPISODE_COLUMNS",
    "FIELD_COLUMNS",
    "GRADES",
    "HEADER_ROW",
    "TAIL_COLUMNS",
    "YES_NO",
    "YN_COLUMNS",
    "Converted",
    "ParsedUpload",
    "Progress",
    "RowError",
    "UploadRefused",
    "UploadResult",
    "_Budget",
    "_Guarded",
    "build_template",
    "columns_for",
    "error_report_csv",
    "import_upload",
    "parse_upload",
    "template_for_study",
    "validate_rows",
]
