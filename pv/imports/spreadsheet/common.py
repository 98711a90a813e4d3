"""What every part of the spreadsheet upload shares: the template's columns, the
reader's results, errors and limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openpyxl.utils import get_column_letter

from pv.events.bulk import BulkRow
from pv.events.models import SERIOUS_CRITERIA

Progress = Callable[[int, int], None]

DATA_SHEET = "AE"
HEADER_ROW = 1
YES_NO = ("Y", "N")
GRADES = ("1", "2", "3", "4", "5")
# Columns of the template, in order; AEREL_<DRUG> and AEACN_<DRUG> follow AEOUT.
BASE_COLUMNS = (
    "USUBJID", "AETERM", "AELLTCD", "AEDECOD", "AETOXGR", "AESER", "AESDTH", "AESLIFE",
    "AESHOSP", "AESDISAB", "AESCONG", "AESMIE", "AESTDTC", "AEENDTC", "AEONGO", "AEOUT",
)  # fmt: skip
TAIL_COLUMNS = ("AECONTRT", "NARRATIVE", "AETERM_EN", "AEAWAREDTC")
# Optional columns of a pre-existing condition and of a multi-record episode (issue 14; the
# SUPPAE QNAMs of the SDTM import): AEPREEX Y/N, AEITOXGR the grade at the first dose,
# AEWRSDTC the date it worsened, AEGRPID and AESPID.
EPISODE_COLUMNS = ("AEPREEX", "AEITOXGR", "AEWRSDTC", "AEGRPID", "AESPID")
CRITERIA_COLUMNS = tuple(c.upper() for c in SERIOUS_CRITERIA)
YN_COLUMNS = ("AESER", *CRITERIA_COLUMNS, "AEONGO")
# Rule findings (SDTM field names) -> spreadsheet column.
FIELD_COLUMNS = {"usubjid": "USUBJID", "ongoing": "AEONGO", "preexisting": "AEPREEX",
                 "initial_grade": "AEITOXGR", "worsened_dtc": "AEWRSDTC"}  # fmt: skip

# Equal cell texts share one object while a file is read (100,000 rows repeat a few hundred
# values: less memory, and later lookups hash each text once); the table of texts seen is
# started anew past this many.
_INTERN_LIMIT = 100_000

# Reading limits beyond the file's size, unpacked size and rows (pv.settings), so that any
# file that passes those is read in bounded memory and time (issue 12):
# - columns: the template has about 24; a value beyond column 64 (BL) refuses the file,
#   naming the cell, and no row is ever padded further than that;
MAX_COLUMNS = 64
# ... and once the header row is read, at most this many columns right of its last one
# (each such value is an error of its row; further right, the file is refused).
EXTRA_COLUMNS = 8
# - cells: every cell element of the sheet counts, empty ones too (200,000 rows x 24
#   template columns is 4.8 million);
MAX_CELLS = 5_000_000
# - shared strings: distinct texts of an xlsx (at most a few per row), and their length;
MAX_SHARED_STRINGS = 1_000_000
MAX_SHARED_CHARS = 50_000_000
# - problems found while reading (formulas without a computed value, error cells): the
#   file is refused once there are more than this many, with the count found so far;
MAX_READ_PROBLEMS = 1_000
# - XML elements in one row of the sheet (or one shared string, or between two rows): a
#   row of 16,384 cells has about 33,000; so that a lxml tree never grows past a few MB;
MAX_ROW_TAGS = 50_000
# - XML elements of a part read whole (workbook, relationships, content types, styles);
MAX_PART_TAGS = 200_000
# - a CSV field (the csv module's own default limit, stated here);
MAX_CSV_FIELD = 131_072
# - errors: checking stops once this many are found (one a row of the largest upload fits),
#   with a last error that says so: a file of 200,000 rows with every cell wrong would
#   otherwise hold millions of them (1.4 million errors took +1 GB).
MAX_ERRORS = 250_000


# The optional sheets of SAE case data (issue 16), read when present, in this order; each
# row names its event by AE_ROW (the row number on sheet AE) or by USUBJID + AESPID.
CASE_SHEETS = ("SAE_CASE", "MEDICAL_HISTORY", "CONMEDS", "TESTS", "CHALLENGE")
# Limits of the case-data sheets together (beyond those of each sheet): data rows (a trial
# has hundreds of serious events, each with a few items) and cell elements.
MAX_CASE_ROWS = 20_000
MAX_CASE_CELLS = 1_000_000
# Events with case data in one upload: each case is saved through the case-data service
# (one audited save per event, ~6-10 ms: 1,000 add about 10 s to the store transaction).
MAX_CASE_EVENTS = 1_000


class UploadRefused(ValueError):
    """The file is refused as a whole (type, macros, size, rows, unsafe XML, corrupt)."""


@dataclass(frozen=True, slots=True)  # slots: 200,000 of them are 40 MB less
class RowError:
    """A problem in the upload: row as the user sees it (header = 1; 0 = the whole file).

    `sheet`: a case-data sheet (CASE_SHEETS) the row and column are of; "" is the data
    sheet (AE, or the CSV file). `where` is the column as the report shows it: the column
    name alone on the data sheet, "SHEET!COLUMN" on a case-data sheet."""

    row: int
    column: str
    value: str
    reason: str
    sheet: str = ""

    @property
    def where(self) -> str:
        return f"{self.sheet}!{self.column}" if self.sheet else self.column

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value,
                "reason": self.reason, "sheet": self.sheet}  # fmt: skip


@dataclass
class ParsedUpload:
    """The cells of the data sheet, as text, with the row number of each data row."""

    kind: str  # "xlsx" | "csv"
    header: list[str]
    header_row: int
    rows: list[tuple[int, list[str | None]]]  # (sheet row number, cells by column)
    problems: list[RowError] = field(default_factory=list)  # cell-level, found while reading
    sheet: str | None = None
    # The optional SAE case-data sheets of an xlsx (CASE_SHEETS, by their upper-case name),
    # each read as the data sheet is; a CSV file has none.
    case_sheets: dict[str, ParsedUpload] = field(default_factory=dict)
    cells: int = 0  # cell elements read (an xlsx sheet)


@dataclass
class Converted:
    rows: list[BulkRow]
    row_numbers: list[int]  # sheet row number of each converted row
    raw: list[list[str | None]]  # its cells
    errors: list[RowError]
    columns: dict[str, int]  # column name -> index
    code_from_name: set[int] = field(default_factory=set)  # rows coded through AEDECOD
    stopped: bool = False  # checking stopped at MAX_ERRORS (the last error says where)


@dataclass
class UploadResult:
    filename: str
    rows: int = 0  # data rows read
    stored: int = 0
    event_ids: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    refused: str | None = None

    @property
    def ok(self) -> bool:
        return self.refused is None and not self.errors


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB"


def _col_name(col: int) -> str:
    return get_column_letter(col + 1)


def _stripped(v: str | None) -> str | None:
    if v is None:
        return None
    return v.strip() or None
