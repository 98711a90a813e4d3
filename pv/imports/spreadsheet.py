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
  same streaming work at C speed;
- every cell is read as text: shared and inline strings exactly as typed ("007",
  "0012", "1E5", "NA"), numbers Excel stored as numbers as their shortest text (12, not
  12.0), date-formatted numbers as ISO 8601 dates, booleans as TRUE/FALSE. Nothing
  guesses types (no pandas), and CSV goes through the csv module (UTF-8, BOM allowed).

`validate_rows` converts field by field and reports each problem with the row number the
user sees (header = row 1), the column, the value and the reason. `import_upload` stores
every row or none: the rules of `pv.events.rules` run through `create_events_bulk` in one
write transaction, which is rolled back when any row fails.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lxml import etree
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy.engine import Engine

from pv.audit.service import Actor
from pv.db import read_session, write_session
from pv.events.bulk import (
    UNKNOWN_SUBJECT,
    BulkContext,
    BulkRow,
    BulkValidationFailed,
    RowIssue,
    create_events_bulk,
    gc_paused,
    prepare_events,
)
from pv.events.models import ACTIONS, OUTCOMES, RELATIONSHIPS, SERIOUS_CRITERIA
from pv.events.rules import EventInput
from pv.settings import Settings, get_settings
from pv.study.models import Drug, Study
from pv.terminology.models import Term, TerminologyRelease

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
TAIL_COLUMNS = ("AECONTRT", "NARRATIVE")
CRITERIA_COLUMNS = tuple(c.upper() for c in SERIOUS_CRITERIA)
YN_COLUMNS = ("AESER", *CRITERIA_COLUMNS, "AEONGO")
# Rule findings (SDTM field names) -> spreadsheet column.
FIELD_COLUMNS = {"usubjid": "USUBJID", "ongoing": "AEONGO"}

_MAIN_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
}
_REL_SHEET = "/worksheet"
_REL_SST = "/sharedStrings"
_REL_STYLES = "/styles"
# Excel's built-in date formats; 27-36 and 50-58 are the East Asian locale date formats.
_DATE_FORMAT_IDS = frozenset(
    {k for k, v in BUILTIN_FORMATS.items() if is_date_format(v)} | set(range(27, 37))
    | set(range(50, 59))
)  # fmt: skip
_SAFE_XML = {"resolve_entities": False, "no_network": True, "huge_tree": False,
             "load_dtd": False, "dtd_validation": False}  # fmt: skip
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
_CHUNK = 1 << 16
_INTERN_MAX = 40


class UploadRefused(ValueError):
    """The file is refused as a whole (type, macros, size, rows, unsafe XML, corrupt)."""


@dataclass(frozen=True)
class RowError:
    """A problem in the upload: row as the user sees it (header = 1; 0 = the whole file)."""

    row: int
    column: str
    value: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value,
                "reason": self.reason}  # fmt: skip


@dataclass
class ParsedUpload:
    """The cells of the data sheet, as text, with the row number of each data row."""

    kind: str  # "xlsx" | "csv"
    header: list[str]
    header_row: int
    rows: list[tuple[int, list[str | None]]]  # (sheet row number, cells by column)
    problems: list[RowError] = field(default_factory=list)  # cell-level, found while reading
    sheet: str | None = None


@dataclass
class Converted:
    rows: list[BulkRow]
    row_numbers: list[int]  # sheet row number of each converted row
    raw: list[list[str | None]]  # its cells
    errors: list[RowError]
    columns: dict[str, int]  # column name -> index
    code_from_name: set[int] = field(default_factory=set)  # rows coded through AEDECOD


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


# --------------------------------------------------------------------------------------
# Template


def _text(cell: Any, value: Any) -> None:
    """Write a value as plain text: openpyxl would make "=..." a formula."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"


def columns_for(drugs: Sequence[Drug]) -> list[str]:
    keys = sorted({d.key.upper() for d in drugs})
    return [*BASE_COLUMNS, *(f"AEREL_{k}" for k in keys), *(f"AEACN_{k}" for k in keys),
            *TAIL_COLUMNS]  # fmt: skip


def _describe(column: str, label: str) -> tuple[str, str, str]:
    """(required, allowed values, meaning) for the README sheet."""
    if column.startswith("AEREL_"):
        drug = column[6:].lower()
        return "on submission", ", ".join(RELATIONSHIPS), f"Relationship to {drug} (investigator)"
    if column.startswith("AEACN_"):
        return "no", ", ".join(ACTIONS), f"Action taken with {column[6:].lower()}"
    return {
        "USUBJID": ("yes", "a subject of your site(s), e.g. NCT04660565-01-0012",
                    "Unique subject identifier, exactly as registered"),
        "AETERM": ("yes", "free text, kept as typed", "Reported (verbatim) term"),
        "AELLTCD": ("AELLTCD or AEDECOD", f"{label} code (8 digits)",
                    "Coded term; may be left blank when AEDECOD is chosen"),
        "AEDECOD": ("AELLTCD or AEDECOD", f"{label} term (dropdown; sheet Terms)",
                    "Coded term by name; must match AELLTCD when both are filled"),
        "AETOXGR": ("yes", "1-5, a grade that exists for the term", "CTCAE grade"),
        "AESER": ("yes", "Y or N", "Serious event (Y needs at least one criterion and a "
                                   "narrative)"),
        "AESDTH": ("no", "Y or N (blank = N)", "Results in death (grade 5, outcome FATAL)"),
        "AESLIFE": ("no", "Y or N (blank = N)", "Life-threatening"),
        "AESHOSP": ("no", "Y or N (blank = N)", "Requires or prolongs hospitalization"),
        "AESDISAB": ("no", "Y or N (blank = N)", "Persistent or significant disability"),
        "AESCONG": ("no", "Y or N (blank = N)", "Congenital anomaly/birth defect"),
        "AESMIE": ("no", "Y or N (blank = N)", "Other medically important event"),
        "AESTDTC": ("yes", "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm",
                    "Onset date; partial dates are kept as typed"),
        "AEENDTC": ("no", "as AESTDTC", "End date (blank while ongoing)"),
        "AEONGO": ("no", "Y or N (blank = N)", "Ongoing"),
        "AEOUT": ("yes", ", ".join(OUTCOMES), "Outcome"),
        "AECONTRT": ("no", "free text", "Treatment given for the event"),
        "NARRATIVE": ("if serious", "free text", "Narrative"),
    }[column]  # fmt: skip


def build_template(study: Study, drugs: Sequence[Drug], release: TerminologyRelease | None,
                   terms: Sequence[Term], *, subjects: Sequence[str] = (),
                   max_rows: int | None = None) -> bytes:  # fmt: skip
    """The xlsx template for a study: sheet AE (header row, dropdowns, text columns), README,
    and hidden sheets Terms (term, code, SOC of the release) and Lists (controlled terms).

    `subjects` (USUBJIDs the user may report for) adds a dropdown on USUBJID.
    """
    label = release.label if release else "CTCAE 5.0"
    max_rows = max_rows or get_settings().upload_max_rows
    last = max_rows + HEADER_ROW
    columns = columns_for(drugs)
    wb = Workbook()
    ws = wb.active
    ws.title = DATA_SHEET
    head_font, head_fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for i, name in enumerate(columns, start=1):
        cell = ws.cell(row=HEADER_ROW, column=i)
        _text(cell, name)
        cell.font, cell.fill = head_font, head_fill
        required, allowed, meaning = _describe(name, label)
        cell.comment = Comment(f"{meaning}.\nAllowed: {allowed}", "pv-tracker")
        letter = get_column_letter(i)
        dim = ws.column_dimensions[letter]
        dim.width = 40 if name in ("AETERM", "AEDECOD", "NARRATIVE", "AECONTRT") else 18
        # Text format: Excel keeps "007", "1E5", "2021-03" exactly as typed.
        dim.number_format = "@"
    ws.freeze_panes = ws.cell(row=HEADER_ROW + 1, column=1)

    # Hidden lists.
    terms_ws = wb.create_sheet("Terms")
    for i, h in enumerate(("AEDECOD", "AELLTCD", "SOC"), start=1):
        _text(terms_ws.cell(row=1, column=i), h)
    ordered = sorted(terms, key=lambda t: t.term.lower())
    for r, t in enumerate(ordered, start=2):
        _text(terms_ws.cell(row=r, column=1), t.term)
        _text(terms_ws.cell(row=r, column=2), t.code)
        _text(terms_ws.cell(row=r, column=3), t.soc)
    terms_ws.sheet_state = "hidden"
    lists_ws = wb.create_sheet("Lists")
    lists = {"AEOUT": OUTCOMES, "AEREL": RELATIONSHIPS, "AEACN": ACTIONS,
             "USUBJID": tuple(subjects)}  # fmt: skip
    list_ranges: dict[str, str] = {}
    for c, (name, values) in enumerate(lists.items(), start=1):
        letter = get_column_letter(c)
        lists_ws.column_dimensions[letter].number_format = "@"
        _text(lists_ws.cell(row=1, column=c), name)
        for r, v in enumerate(values, start=2):
            _text(lists_ws.cell(row=r, column=c), v)
        if values:
            list_ranges[name] = f"Lists!${letter}$2:${letter}${len(values) + 1}"
    lists_ws.sheet_state = "hidden"

    def dropdown(formula: str, column: str, prompt: str) -> None:
        dv = DataValidation(type="list", formula1=formula, allow_blank=True,
                            showErrorMessage=True, errorTitle=column,
                            error=f"Choose a value from the list ({prompt}).")  # fmt: skip
        letter = get_column_letter(columns.index(column) + 1)
        dv.add(f"{letter}{HEADER_ROW + 1}:{letter}{last}")
        ws.add_data_validation(dv)

    if ordered:
        dropdown(f"Terms!$A$2:$A${len(ordered) + 1}", "AEDECOD", f"{label} terms")
    dropdown('"' + ",".join(GRADES) + '"', "AETOXGR", "grade 1-5")
    for name in YN_COLUMNS:
        dropdown('"Y,N"', name, "Y or N")
    dropdown(list_ranges["AEOUT"], "AEOUT", "outcome")
    for name in columns:
        if name.startswith("AEREL_"):
            dropdown(list_ranges["AEREL"], name, "relationship")
        elif name.startswith("AEACN_"):
            dropdown(list_ranges["AEACN"], name, "action taken")
    if "USUBJID" in list_ranges:
        dropdown(list_ranges["USUBJID"], "USUBJID", "your subjects")

    readme = wb.create_sheet("README")
    wrap = Alignment(wrap_text=True, vertical="top")
    lines = [
        f"Adverse-event upload template: {study.id}",
        study.title,
        f"Coded terms: {label}. Study drugs: {', '.join(sorted(d.name for d in drugs))}.",
        "",
        "How to fill it in",
        "1. One adverse event per row of sheet AE, starting at row 2; keep the header row.",
        "2. Columns are formatted as text: type identifiers and dates exactly as they are "
        "(0012 stays 0012, 2021-03 stays 2021-03).",
        "3. Choose the term in AEDECOD (dropdown) or type its code in AELLTCD.",
        "4. Partial dates are allowed: YYYY or YYYY-MM. No future dates.",
        "5. Upload the file as .xlsx (not .xlsm) or save sheet AE as CSV UTF-8.",
        "6. The whole file is stored or nothing is: fix every reported row and upload again.",
        f"Limit: {max_rows:,} rows.",
        "",
    ]
    for r, line in enumerate(lines, start=1):
        _text(readme.cell(row=r, column=1), line)
    readme.cell(row=1, column=1).font = Font(bold=True, size=14)
    readme.cell(row=5, column=1).font = Font(bold=True)
    start = len(lines) + 1
    for i, h in enumerate(("Column", "Required", "Allowed values", "Meaning"), start=1):
        cell = readme.cell(row=start, column=i)
        _text(cell, h)
        cell.font = head_font
    for r, name in enumerate(columns, start=start + 1):
        for i, v in enumerate((name, *_describe(name, label)), start=1):
            cell = readme.cell(row=r, column=i)
            _text(cell, v)
            cell.alignment = wrap
    for letter, width in zip("ABCD", (20, 18, 60, 60), strict=True):
        readme.column_dimensions[letter].width = width
    wb.active = 0
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def template_for_study(session: Any, study_id: str, *, subjects: Sequence[str] = ()) -> bytes:
    """`build_template` with the study, its drugs and the current CTCAE release loaded."""
    from sqlmodel import select

    from pv.terminology.search import current_release

    study = session.get(Study, study_id)
    if study is None:
        raise LookupError(study_id)
    drugs = list(session.exec(select(Drug).where(Drug.study_id == study_id)))
    release = current_release(session)
    terms = list(session.exec(select(Term).where(Term.release_id == release.id))) if release else []
    return build_template(study, drugs, release, terms, subjects=subjects)


# --------------------------------------------------------------------------------------
# Reading


class _Budget:
    """Bytes that may still be inflated from the archive."""

    def __init__(self, limit: int):
        self.limit = limit
        self.left = limit

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise UploadRefused(f"the workbook unpacks to more than {_mb(self.limit)}; refused")


class _Guarded:
    """A zip member stream that counts inflated bytes and refuses DTDs before lxml sees them."""

    def __init__(self, raw: Any, budget: _Budget, name: str):
        self.raw, self.budget, self.name = raw, budget, name
        self.tail = b""
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self.raw.read(_CHUNK if n is None or n < 0 or n > _CHUNK else n)
        self.budget.take(len(chunk))
        if not self.read_bytes and chunk:
            self._check_encoding(chunk)
        self.read_bytes += len(chunk)
        if b"<!" in chunk or b"<!" in self.tail + chunk[:16]:
            probe = self.tail + chunk
            if b"<!DOCTYPE" in probe or b"<!ENTITY" in probe:
                raise UploadRefused(f"{self.name} declares a DOCTYPE or ENTITY (XML entity "
                                    "expansion is not allowed); refused")  # fmt: skip
        self.tail = chunk[-16:]
        return chunk

    def _check_encoding(self, chunk: bytes) -> None:
        """UTF-8 only (as Excel writes), so that the DOCTYPE check sees the real bytes."""
        head = chunk[3:] if chunk.startswith(b"\xef\xbb\xbf") else chunk
        head = head.lstrip(b" \t\r\n")
        ok = head.startswith(b"<")
        if ok and head.startswith(b"<?xml"):
            decl = head[: head.find(b"?>") + 2].lower()
            m = re.search(rb"encoding\s*=\s*[\"']([^\"']*)[\"']", decl)
            ok = m is None or m.group(1) in (b"utf-8", b"utf8")
        if not ok:
            raise UploadRefused(f"{self.name} is not UTF-8 XML; refused")


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB"


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


class _Xlsx:
    def __init__(self, data: bytes, settings: Settings):
        self.settings = settings
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
            raise UploadRefused("not an xlsx file (it is not a valid zip archive)") from exc
        if len(infos) > 10_000:
            raise UploadRefused("not an xlsx file (too many parts)")
        self.names: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            lower = info.filename.lower()
            if (lower.endswith("vbaproject.bin") or "vbadata" in lower
                    or lower.startswith(("xl/macrosheets/", "xl/dialogsheets/"))
                    or (lower.startswith("xl/activex/") and lower.endswith(".bin"))):  # fmt: skip
                raise UploadRefused("the workbook contains macros (VBA or macro sheets); "
                                    "save it as a plain .xlsx workbook")  # fmt: skip
            if info.flag_bits & 0x1:
                raise UploadRefused("the workbook is encrypted; remove the password")
            self.names[info.filename.lstrip("/")] = info
        declared = sum(i.file_size for i in infos)
        limit = settings.upload_max_unpacked_bytes
        if declared > limit:
            raise UploadRefused(f"the workbook unpacks to {_mb(declared)}, more than the "
                                f"{_mb(limit)} allowed; refused")  # fmt: skip
        self.budget = _Budget(limit)

    def open(self, name: str) -> _Guarded:
        info = self.names.get(name)
        if info is None:
            raise UploadRefused(f"not an xlsx file ({name} is missing)")
        return _Guarded(self.zf.open(info), self.budget, name)

    def root(self, name: str) -> Any:
        stream = self.open(name)
        chunks = []
        while chunk := stream.read():
            chunks.append(chunk)
        try:
            parser = etree.XMLParser(remove_comments=True, remove_pis=True, **_SAFE_XML)
            return etree.fromstring(b"".join(chunks), parser=parser)
        except etree.XMLSyntaxError as exc:
            raise UploadRefused(f"not a valid xlsx file ({name}: {exc})") from exc

    def rels(self, part: str) -> dict[str, tuple[str, str]]:
        """Relationship id -> (type, target part name) for a part."""
        folder, _, base = part.rpartition("/")
        name = f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels"
        if name not in self.names:
            return {}
        out = {}
        for rel in self.root(name):
            if _local(rel.tag) != "Relationship" or rel.get("TargetMode") == "External":
                continue
            target = rel.get("Target", "")
            if target.startswith("/"):
                path = target.lstrip("/")
            else:
                parts = folder.split("/") if folder else []
                for piece in target.split("/"):
                    if piece == "..":
                        if parts:
                            parts.pop()
                    elif piece and piece != ".":
                        parts.append(piece)
                path = "/".join(parts)
            out[rel.get("Id", "")] = (rel.get("Type", ""), path)
        return out


def _content_types(x: _Xlsx) -> str:
    """Check the declared content types; returns the workbook part name."""
    root = x.root("[Content_Types].xml")
    main = None
    for el in root:
        ctype = (el.get("ContentType") or "").lower()
        if "macroenabled" in ctype or "vbaproject" in ctype or "macrosheet" in ctype:
            raise UploadRefused("the workbook is macro-enabled (.xlsm); save it as a plain "
                                ".xlsx workbook")  # fmt: skip
        if _local(el.tag) == "Override" and ctype in _MAIN_TYPES:
            main = (el.get("PartName") or "").lstrip("/")
    if main is None:
        raise UploadRefused("not an xlsx file (no workbook part)")
    return main


def _shared_strings(x: _Xlsx, name: str) -> list[str]:
    out: list[str] = []
    stream = x.open(name)
    try:
        for _, si in etree.iterparse(stream, events=("end",), tag="{*}si", **_SAFE_XML):
            out.append(_string_item(si))
            si.clear()
            while si.getprevious() is not None:
                del si.getparent()[0]
    except etree.XMLSyntaxError as exc:
        raise UploadRefused(f"not a valid xlsx file ({name}: {exc})") from exc
    return out


def _string_item(el: Any) -> str:
    """Text of a shared-string item or inline string: <t>, or the <t> of rich-text runs."""
    text = []
    for child in el:
        local = _local(child.tag)
        if local == "t":
            text.append(child.text or "")
        elif local == "r":
            for t in child:
                if _local(t.tag) == "t":
                    text.append(t.text or "")
    return "".join(text)


def _date_styles(x: _Xlsx, name: str | None) -> frozenset[int]:
    if name is None or name not in x.names:
        return frozenset()
    root = x.root(name)
    custom: dict[int, str] = {}
    dates: set[int] = set()
    for el in root:
        local = _local(el.tag)
        if local == "numFmts":
            for fmt in el:
                try:
                    custom[int(fmt.get("numFmtId", ""))] = fmt.get("formatCode", "")
                except ValueError:
                    continue
        elif local == "cellXfs":
            for i, xf in enumerate(el):
                try:
                    fmt_id = int(xf.get("numFmtId", "0"))
                except ValueError:
                    continue
                code = custom.get(fmt_id)
                if (code is not None and is_date_format(code)) or (
                        code is None and fmt_id in _DATE_FORMAT_IDS):  # fmt: skip
                    dates.add(i)
    return frozenset(dates)


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


def _col_index(letters: str, cache: dict[str, int], sheet: str, ref: str) -> int:
    n = 0
    for ch in letters:
        if not "A" <= ch <= "Z":
            n = 0
            break
        n = n * 26 + ord(ch) - 64
    if not 1 <= n <= 16384:
        raise UploadRefused(f"{sheet}: bad cell reference {ref!r}")
    cache[letters] = n - 1
    return n - 1


def _dimension_rows(ref: str | None) -> int | None:
    if not ref:
        return None
    m = re.search(r"(\d+)$", ref.strip())
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
        raise UploadRefused("the workbook has no worksheet")
    chosen = next((w for w in worksheets if w[0].strip().upper() == DATA_SHEET), None)
    chosen = chosen or next((w for w in worksheets if w[2] == "visible"), worksheets[0])
    sheet_name, sheet_part, _ = chosen
    sst_part = next((p for t, p in rels.values() if t.endswith(_REL_SST)), None)
    styles_part = next((p for t, p in rels.values() if t.endswith(_REL_STYLES)), None)
    shared = _shared_strings(x, sst_part) if sst_part and sst_part in x.names else []
    date_styles = _date_styles(x, styles_part)
    return _read_sheet(x, sheet_part, sheet_name, shared, date_styles, date1904, settings,
                       progress)  # fmt: skip


def _read_sheet(x: _Xlsx, part: str, sheet_name: str, shared: list[str],
                date_styles: frozenset[int], date1904: bool, settings: Settings,
                progress: Progress | None) -> ParsedUpload:  # fmt: skip
    max_rows = settings.upload_max_rows
    problems: list[RowError] = []
    header: list[str] | None = None
    header_row = 0
    rows: list[tuple[int, list[str | None]]] = []
    letters_cache: dict[str, int] = {}
    intern: dict[str, str] = {}
    expected = 0
    row_no = 0
    stream = x.open(part)
    ns = None
    tags = ("{*}dimension", "{*}row")
    try:
        for _, el in etree.iterparse(stream, events=("end",), tag=tags, **_SAFE_XML):
            if ns is None:
                ns = el.tag[: el.tag.index("}") + 1] if el.tag.startswith("{") else ""
                c_tag, v_tag, f_tag, is_tag = ns + "c", ns + "v", ns + "f", ns + "is"
                t_tag = ns + "t"
            if el.tag != ns + "row":
                declared = _dimension_rows(el.get("ref"))
                if declared is not None:
                    if declared > max_rows + HEADER_ROW:
                        raise UploadRefused(
                            f"the sheet has {declared - HEADER_ROW:,} rows; at most "
                            f"{max_rows:,} may be uploaded at once")  # fmt: skip
                    expected = max(declared - HEADER_ROW, 0)
                continue
            r = el.get("r")
            row_no = int(r) if r and r.isdigit() else row_no + 1
            values: list[str | None] = []
            col = -1
            for c in el.iterchildren(c_tag):
                ref = c.get("r")
                if ref is None:
                    col += 1
                else:
                    letters = ref.rstrip("0123456789")
                    col = letters_cache.get(letters, -1)
                    if col < 0:
                        col = _col_index(letters, letters_cache, sheet_name, ref)
                if not len(c):
                    continue
                first = c[0]
                tag = first.tag
                if tag == v_tag:
                    text = first.text
                elif tag == is_tag:
                    if len(first) == 1 and first[0].tag == t_tag:
                        text = first[0].text
                    else:
                        text = _string_item(first)
                elif tag == f_tag:
                    v = c.find(v_tag)
                    text = v.text if v is not None else None
                    if text is None:
                        problems.append(RowError(row_no, _col_name(col), "",
                                                 "a formula without a computed value; paste "
                                                 "values instead"))  # fmt: skip
                        continue
                else:
                    continue
                if not text:
                    continue
                t = c.get("t")
                if t == "s":
                    try:
                        text = shared[int(text)]
                    except (ValueError, IndexError):
                        raise UploadRefused(f"{sheet_name}!{ref}: bad shared string "
                                            "index") from None  # fmt: skip
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
                    problems.append(RowError(row_no, _col_name(col), text,
                                             "the cell holds a spreadsheet error"))  # fmt: skip
                    continue
                # "inlineStr", "str" (a formula's text result), "d" (ISO date): as stored.
                if len(text) <= _INTERN_MAX:
                    text = intern.setdefault(text, text)
                n = len(values)
                if col == n:
                    values.append(text)
                elif col > n:
                    values.extend([None] * (col - n))
                    values.append(text)
                else:
                    values[col] = text
            el.clear()
            while el.getprevious() is not None:
                del el.getparent()[0]
            if not any(v is not None and v.strip() for v in values):
                continue
            if header is None:
                header, header_row = [v or "" for v in values], row_no
                continue
            rows.append((row_no, values))
            if len(rows) > max_rows:
                raise UploadRefused(f"more than {max_rows:,} rows; upload at most {max_rows:,} "
                                    "rows at once")  # fmt: skip
            if progress is not None and len(rows) % 1000 == 0:
                progress(len(rows), max(expected, len(rows)))
    except etree.XMLSyntaxError as exc:
        raise UploadRefused(f"not a valid xlsx file ({part}: {exc})") from exc
    except (zipfile.BadZipFile, EOFError, OSError) as exc:  # zlib errors, bad CRC
        raise UploadRefused(f"the xlsx file is corrupt ({exc})") from exc
    if header is None:
        raise UploadRefused(f"sheet {sheet_name} is empty")
    return ParsedUpload(kind="xlsx", header=header, header_row=header_row, rows=rows,
                        problems=problems, sheet=sheet_name)  # fmt: skip


def _col_name(col: int) -> str:
    return get_column_letter(col + 1)


def _read_csv(data: bytes, settings: Settings, progress: Progress | None) -> ParsedUpload:
    max_rows = settings.upload_max_rows
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadRefused(f"the CSV file is not UTF-8 text (byte {exc.start}); save it as "
                            "'CSV UTF-8'") from exc  # fmt: skip
    if "\x00" in text:
        raise UploadRefused("not a CSV file (it contains binary data)")
    first = text[: text.find("\n")] if "\n" in text else text
    delimiter = max((",", ";", "\t"), key=first.count)
    expected = text.count("\n")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    header: list[str] | None = None
    header_row = 0
    rows: list[tuple[int, list[str | None]]] = []
    intern: dict[str, str] = {}
    row_no = 0
    try:
        for record in reader:
            row_no += 1
            values: list[str | None] = []
            for v in record:
                if v == "":
                    values.append(None)
                else:
                    values.append(intern.setdefault(v, v) if len(v) <= _INTERN_MAX else v)
            if not any(v is not None and v.strip() for v in values):
                continue
            if header is None:
                header, header_row = [v or "" for v in values], row_no
                continue
            rows.append((row_no, values))
            if len(rows) > max_rows:
                raise UploadRefused(f"more than {max_rows:,} rows; upload at most {max_rows:,} "
                                    "rows at once")  # fmt: skip
            if progress is not None and len(rows) % 1000 == 0:
                progress(len(rows), max(expected, len(rows)))
    except csv.Error as exc:
        raise UploadRefused(f"not a valid CSV file (row {row_no}: {exc})") from exc
    if header is None:
        raise UploadRefused("the CSV file is empty")
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
        raise UploadRefused(f"the file is {_mb(len(data))}; at most "
                            f"{_mb(settings.upload_max_bytes)} may be uploaded")  # fmt: skip
    if not data:
        raise UploadRefused("the file is empty")
    is_zip = data[:4] == b"PK\x03\x04"
    is_ole = data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    if ext in ("xlsm", "xltm", "xlam"):
        raise UploadRefused("macro-enabled workbooks (.xlsm) are refused; save it as .xlsx")
    if ext in ("xlsx", "xltx"):
        if is_ole:
            raise UploadRefused("not an xlsx file (an old .xls or a password-protected "
                                "workbook); save it as an unprotected .xlsx")  # fmt: skip
        if not is_zip:
            raise UploadRefused("not an xlsx file (its content is not a workbook)")
        return _read_xlsx(data, settings, progress)
    if ext in ("csv", "txt"):
        if is_zip or is_ole:
            raise UploadRefused("not a CSV file (its content is a workbook); upload it as .xlsx")
        return _read_csv(data, settings, progress)
    if ext == "xls":
        raise UploadRefused("the old .xls format is not accepted; save it as .xlsx")
    raise UploadRefused("upload an .xlsx workbook or a .csv file")


# --------------------------------------------------------------------------------------
# Conversion


def _column_map(parsed: ParsedUpload, drug_keys: set[str], errors: list[RowError]
                ) -> dict[str, int]:  # fmt: skip
    known = set(BASE_COLUMNS) | set(TAIL_COLUMNS)
    columns: dict[str, int] = {}
    row = parsed.header_row
    for i, raw in enumerate(parsed.header):
        name = (raw or "").strip().upper()
        if not name:
            continue
        if name in columns:
            errors.append(RowError(row, name, raw, "the column appears twice"))
            continue
        if name.startswith(("AEREL_", "AEACN_")):
            key = name[6:].lower()
            if key not in drug_keys:
                errors.append(
                    RowError(
                        row,
                        name,
                        raw,
                        f"'{key}' is not a study drug ({', '.join(sorted(drug_keys))})",
                    )
                )
                continue
        elif name not in known:
            errors.append(RowError(row, name, raw, "unknown column (see the template's README)"))
            continue
        columns[name] = i
    for required in ("USUBJID", "AETERM"):
        if required not in columns:
            errors.append(RowError(row, required, "", "the column is missing"))
    if "AELLTCD" not in columns and "AEDECOD" not in columns:
        errors.append(RowError(row, "AELLTCD", "", "a coded-term column (AELLTCD or AEDECOD) "
                                                   "is missing"))  # fmt: skip
    return columns


def validate_rows(parsed: ParsedUpload, ctx: BulkContext) -> Converted:
    """Convert every data row field by field; errors name the row, column, value and reason.

    Only conversions are checked here (Y/N, grade, known subject, term by name); the AE
    rules run in `prepare_events` / `create_events_bulk`.
    """
    errors: list[RowError] = list(parsed.problems)
    drug_keys = {d.key for d in ctx.drugs_by_arm[None]}
    columns = _column_map(parsed, drug_keys, errors)
    by_name = {t.term.lower(): t for t in ctx.terms.values()}
    subjects = ctx.subjects
    width = len(parsed.header)
    out = Converted(rows=[], row_numbers=[], raw=[], errors=errors, columns=columns)
    if any(e.row == parsed.header_row for e in errors):
        return out
    names = {i: n for n, i in columns.items()}
    unnamed = [i for i, h in enumerate(parsed.header) if not (h or "").strip()]
    g = columns.get
    i_subj, i_term, i_code, i_decod = g("USUBJID"), g("AETERM"), g("AELLTCD"), g("AEDECOD")
    i_grade, i_ser, i_out = g("AETOXGR"), g("AESER"), g("AEOUT")
    i_contrt, i_narr = g("AECONTRT"), g("NARRATIVE")
    texts = [(f, g(c)) for f, c in (("aestdtc", "AESTDTC"), ("aeendtc", "AEENDTC"))]
    flags = [(c.lower(), columns[c]) for c in (*CRITERIA_COLUMNS, "AEONGO") if c in columns]
    rel = [(n[6:].lower(), i) for n, i in columns.items() if n.startswith("AEREL_")]
    acn = [(n[6:].lower(), i) for n, i in columns.items() if n.startswith("AEACN_")]
    # Each distinct raw value is converted once, then looked up.
    yn: dict[str, bool | str] = {"Y": True, "N": False}
    outcome_of: dict[str, str | None] = {v: v for v in OUTCOMES}
    relation_of: dict[str, str | None] = {v: v for v in RELATIONSHIPS}
    action_of: dict[str, str | None] = {v: v for v in ACTIONS}
    grade_of: dict[str, int | None] = {v: int(v) for v in GRADES}
    label = ctx.label

    for row_no, values in parsed.rows:
        n = len(values)
        if n > width:
            for j in range(width, n):
                if values[j] is not None and values[j].strip():  # type: ignore[union-attr]
                    errors.append(RowError(row_no, _col_name(j), values[j] or "",
                                           "a value in a column without a header"))  # fmt: skip
        elif n < width:
            values = values + [None] * (width - n)
        bad: list[RowError] = []
        for j in unnamed:
            if values[j] is not None and values[j].strip():  # type: ignore[union-attr]
                bad.append(RowError(row_no, _col_name(j), values[j] or "",
                                    "a value in a column without a header"))  # fmt: skip
        usubjid = _stripped(values[i_subj]) if i_subj is not None else None
        if usubjid is None:
            bad.append(RowError(row_no, "USUBJID", "", "the subject is required"))
        elif usubjid not in subjects:
            bad.append(RowError(row_no, "USUBJID", usubjid, UNKNOWN_SUBJECT))
        code = _stripped(values[i_code]) if i_code is not None else None
        name = _stripped(values[i_decod]) if i_decod is not None else None
        from_name = False
        if name is not None:
            if code is None:
                term = by_name.get(name.lower())
                if term is None:
                    bad.append(RowError(row_no, "AEDECOD", name, f"not a {label} term"))
                else:
                    code, from_name = term.code, True
            else:
                term = ctx.terms.get(code)
                if term is not None and term.term.lower() != name.lower():
                    bad.append(
                        RowError(
                            row_no, "AEDECOD", name, f"does not match AELLTCD {code} ({term.term})"
                        )
                    )
        data = EventInput(aeterm=_stripped(values[i_term]) if i_term is not None else None,
                          aelltcd=code)  # fmt: skip
        raw = values[i_grade] if i_grade is not None else None
        if raw is not None:
            grade = grade_of.get(raw, -1)
            if grade == -1:
                grade = grade_of[raw] = _grade(raw)
            if grade is None and raw.strip():
                bad.append(
                    RowError(
                        row_no, "AETOXGR", raw.strip(), "the grade must be a whole number 1 to 5"
                    )
                )
            data.aetoxgr = grade
        if i_ser is not None and (raw := values[i_ser]) is not None:
            data.aeser = _yes_no(raw, yn, row_no, "AESER", bad)
        for attr, i in flags:
            raw = values[i]
            if raw is not None:
                setattr(data, attr if attr != "aeongo" else "ongoing",
                        bool(_yes_no(raw, yn, row_no, names[i], bad)))  # fmt: skip
        if i_out is not None and (raw := values[i_out]) is not None:
            data.aeout = _controlled(raw, outcome_of, OUTCOMES, "outcome", row_no,
                                     names[i_out], bad)  # fmt: skip
        for key, i in rel:
            raw = values[i]
            if raw is not None:
                v = _controlled(raw, relation_of, RELATIONSHIPS, "relationship", row_no,
                                names[i], bad)  # fmt: skip
                if v:
                    data.aerel[key] = v
        for key, i in acn:
            raw = values[i]
            if raw is not None:
                v = _controlled(raw, action_of, ACTIONS, "action", row_no, names[i], bad)
                if v:
                    data.aeacn[key] = v
        for attr, i in texts:
            if i is not None:
                setattr(data, attr, _stripped(values[i]))
        if i_contrt is not None:
            data.aecontrt = _stripped(values[i_contrt])
        if i_narr is not None:
            data.narrative = _stripped(values[i_narr])
        if bad:
            errors.extend(bad)
        if from_name:
            out.code_from_name.add(len(out.rows))
        out.rows.append(BulkRow(usubjid or "", data))
        out.row_numbers.append(row_no)
        out.raw.append(values)
    return out


def _stripped(v: str | None) -> str | None:
    if v is None:
        return None
    return v.strip() or None


def _grade(raw: str) -> int | None:
    v = raw.strip()
    return int(v) if v.isdigit() and len(v) < 4 else None


def _yes_no(raw: str, cache: dict[str, bool | str], row: int, column: str,
            bad: list[RowError]) -> bool | None:  # fmt: skip
    """Y/N (any case, YES/NO too); blank is None; anything else an error."""
    v = cache.get(raw)
    if v is None:
        up = raw.strip().upper()
        v = cache[raw] = {"Y": True, "YES": True, "N": False, "NO": False, "": ""}.get(up, "?")
    if v == "?":
        bad.append(RowError(row, column, raw.strip(), "use Y or N"))
        return None
    return None if v == "" else bool(v)


def _controlled(raw: str, cache: dict[str, str | None], allowed: Sequence[str], what: str,
                row: int, column: str, bad: list[RowError]) -> str | None:  # fmt: skip
    """A controlled term, matched ignoring case and extra spaces; blank is None."""
    if raw in cache:
        v = cache[raw]
    else:
        up = " ".join(raw.upper().split())
        v = cache[raw] = up if up in allowed else ("" if not up else None)
    if v is None:
        bad.append(RowError(row, column, raw.strip(), f"not a valid {what}: use one of "
                                                      f"{', '.join(allowed)}"))  # fmt: skip
        return None
    return v or None


def _rule_errors(conv: Converted, issues: Sequence[RowIssue]) -> list[RowError]:
    """Map rule findings (SDTM field names, row indexes) to spreadsheet rows and columns."""
    out = []
    for issue in issues:
        column = FIELD_COLUMNS.get(issue.field) or issue.field.replace(".", "_").upper()
        raw = conv.raw[issue.index]
        if (
            column == "AELLTCD"
            and "AEDECOD" in conv.columns
            and (issue.index in conv.code_from_name or not _cell(raw, conv.columns, "AELLTCD"))
        ):
            column = "AEDECOD"  # the term was chosen (or left blank) in AEDECOD
        i = conv.columns.get(column)
        value = (raw[i] or "") if i is not None and i < len(raw) else ""
        out.append(RowError(conv.row_numbers[issue.index], column, value, issue.message))
    return out


def _cell(raw: list[str | None], columns: dict[str, int], name: str) -> str | None:
    i = columns.get(name)
    return _stripped(raw[i]) if i is not None and i < len(raw) else None


def _sorted(errors: list[RowError], order: dict[str, int]) -> list[RowError]:
    return sorted(errors, key=lambda e: (e.row, order.get(e.column, 10_000), e.column))


# --------------------------------------------------------------------------------------
# Import


def import_upload(*, engine: Engine, actor: Actor, study_id: str, site_ids: set[int] | None,
                  filename: str, data: bytes, progress: Progress | None = None,
                  settings: Settings | None = None) -> UploadResult:  # fmt: skip
    """Store every event of the file, or none and the full list of problems.

    `site_ids` limits an investigator to their sites' subjects (None: all sites); a
    USUBJID elsewhere is an unknown subject. `progress(done, total)` advances over three
    passes of the rows (read, check, store); total is an estimate until the file is read.
    """
    settings = settings or get_settings()
    with gc_paused():
        return _import(
            engine=engine,
            actor=actor,
            study_id=study_id,
            site_ids=site_ids,
            filename=filename,
            data=data,
            progress=progress,
            settings=settings,
        )


def _import(*, engine: Engine, actor: Actor, study_id: str, site_ids: set[int] | None,
            filename: str, data: bytes, progress: Progress | None, settings: Settings
            ) -> UploadResult:  # fmt: skip
    result = UploadResult(filename=filename)
    try:
        parsed = parse_upload(
            filename,
            data,
            settings=settings,
            progress=(lambda d, t: progress(d, 3 * t)) if progress else None,
        )
    except UploadRefused as exc:
        result.refused = str(exc)
        return result
    n = len(parsed.rows)
    result.rows = n
    total = 3 * n
    if progress:
        progress(n, total)
    with read_session(engine) as session:
        ctx = BulkContext.load(session, study_id, site_ids)
        conv = validate_rows(parsed, ctx)
        order = {name: i for i, name in enumerate(columns_for(ctx.drugs_by_arm[None]))}
        if conv.errors:
            # Report the rule problems too, except where the value could not be converted.
            bad = {(e.row, e.column) for e in conv.errors}
            _, issues, warns = prepare_events(ctx, conv.rows, submit=True)
            rule = [e for e in _rule_errors(conv, issues)
                    if (e.row, e.column) not in bad and e.reason != UNKNOWN_SUBJECT]  # fmt: skip
            result.errors = _sorted(conv.errors + rule, order)
            result.warnings = _sorted(_rule_errors(conv, warns), order)
            return result
    if n == 0:
        result.errors = [RowError(parsed.header_row + 1, "", "", "the file has no data rows")]
        return result
    warnings: list[RowIssue] = []
    try:
        with write_session(engine) as session:
            ids = create_events_bulk(
                session=session,
                actor=actor,
                study_id=study_id,
                rows=conv.rows,
                submit=True,
                site_ids=site_ids,
                warnings=warnings,
                progress=(lambda d, _t: progress(n + d, total)) if progress else None,
            )
    except BulkValidationFailed as exc:
        result.errors = _sorted(_rule_errors(conv, exc.errors), order)
        result.warnings = _sorted(_rule_errors(conv, exc.warnings), order)
        return result
    result.event_ids, result.stored = ids, len(ids)
    result.warnings = _sorted(_rule_errors(conv, warnings), order)
    if progress:
        progress(total, total)
    return result


def _safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas (OWASP CSV injection); numbers stay numbers."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(_FORMULA_TRIGGERS) and not _NUMBER.match(value):
        return "'" + value
    return value


def error_report_csv(errors: Sequence[RowError]) -> bytes:
    """The error list as CSV (row, column, value, reason), safe to open in a spreadsheet."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["row", "column", "value", "reason"])
    for e in errors:
        writer.writerow([e.row, _safe_cell(e.column), _safe_cell(e.value), _safe_cell(e.reason)])
    return out.getvalue().encode("utf-8-sig")
