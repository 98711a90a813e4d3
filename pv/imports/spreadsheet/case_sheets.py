"""The SAE case data of an upload (issue 16): the optional sheets SAE_CASE, MEDICAL_HISTORY,
CONMEDS, TESTS and CHALLENGE of an xlsx, read only when present.

Each row names its event on sheet AE in one of two ways:
- `AE_ROW`: the row number of the event on sheet AE, as the user sees it (header = 1);
- `USUBJID` + `AESPID`: the subject and the sponsor-defined record id of sheet AE (when
  sheet AE has an AESPID column and that pair names exactly one of its rows).
When both are given they must name the same row.

SAE_CASE holds one row per serious event (the reporter, hospitalization and death columns:
the payload keys of `pv.icsr.casedata` upper-cased, e.g. REPORTER_NAME, HOSP_ADMIT_DATE);
MEDICAL_HISTORY, CONMEDS and TESTS one row per item (in the order of the sheet), CHALLENGE
one row per event and study drug (DRUG, DECHALLENGE, RECHALLENGE). Every cell is text, as
on sheet AE; the rows of one event are put together into the payload of the case-data
service and checked by its `check_case_data`, whose findings are mapped back to the sheet,
row and column they come from. A row for an event that is not serious, or that names no
event of the upload, is an error naming its sheet and row. The store (`store_case_data`)
runs in the upload's own write transaction, after the events are inserted: all or nothing.

A CSV upload is one sheet (AE): it carries no case data.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from pv.audit.service import Actor
from pv.events.bulk import BulkContext
from pv.i18n import N_, ngettext
from pv.i18n import gettext as _
from pv.icsr import casedata
from pv.imports.spreadsheet.common import (
    CASE_SHEETS,
    MAX_CASE_EVENTS,
    MAX_ERRORS,
    Converted,
    ParsedUpload,
    RowError,
    _col_name,
    _stripped,
)
from pv.timeutil import today

REF_COLUMNS = ("AE_ROW", "USUBJID", "AESPID")
# The columns are the case-data payload's keys upper-cased (pv.icsr.casedata).
SAE_CASE_COLUMNS = tuple(name.upper() for name in casedata.CASE_SCALARS)
# Sheet -> its columns after the event reference, in the template's order.
SHEET_COLUMNS: dict[str, tuple[str, ...]] = {
    "SAE_CASE": SAE_CASE_COLUMNS,
    **{
        sheet: tuple(key.upper() for key in casedata.CASE_LISTS[payload])
        for sheet, payload in (
            ("MEDICAL_HISTORY", "medical_history"),
            ("CONMEDS", "conmeds"),
            ("TESTS", "tests"),
        )
    },  # fmt: skip
    "CHALLENGE": ("DRUG", "DECHALLENGE", "RECHALLENGE"),
}
assert tuple(SHEET_COLUMNS) == CASE_SHEETS
# A sheet of items -> the payload's list.
LIST_KEYS = {"MEDICAL_HISTORY": "medical_history", "CONMEDS": "conmeds", "TESTS": "tests"}
# Items of one list of one event: the case-data service's limit (each row beyond it is an
# error of its own).
MAX_ITEMS = casedata.MAX_ITEMS
# The longest text the service keeps (free text); a longer cell is refused here, by its
# length alone, before any character of it is looked at (a cell may name a shared string
# of megabytes, and 20,000 rows may name it).
MAX_CELL = casedata.TEXT_MAX
SHOWN = 100  # characters of an over-long cell repeated in its error

_NOT_SERIOUS = N_("the event on row %(row)s of sheet AE is not serious: case data is kept "
                  "only for a serious event (AESER = Y)")  # fmt: skip


@dataclass
class CaseData:
    """The case data of an upload, by the position of its event in the converted rows."""

    payloads: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Per event: a payload path ("reporter_name", "conmeds[0]", "dechallenge.belimumab") ->
    # (sheet, row number) it came from.
    origin: dict[int, dict[str, tuple[str, int]]] = field(default_factory=dict)
    # (sheet, row number) -> {column: cell text}, for the value an error shows.
    cells: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    clean: dict[int, dict[str, Any]] = field(default_factory=dict)  # check_case_data's

    def __bool__(self) -> bool:
        return bool(self.payloads)


def _empty_payload() -> dict[str, Any]:
    out: dict[str, Any] = {c.lower(): None for c in SAE_CASE_COLUMNS}
    out.update(medical_history=[], conmeds=[], tests=[], dechallenge={}, rechallenge={})
    return out


def read_case_sheets(parsed: ParsedUpload, conv: Converted, ctx: BulkContext) -> CaseData:
    """Convert the case-data sheets of `parsed` into one payload per event of `conv`, and
    check each with the case-data service; every problem names its sheet, row and column."""
    out = CaseData()
    if not parsed.case_sheets:
        return out
    by_row = {row_no: i for i, row_no in enumerate(conv.row_numbers)}
    by_spid: dict[tuple[str, str], int] = {}
    i_spid = conv.columns.get("AESPID")
    if i_spid is not None:
        for i, raw in enumerate(conv.raw):
            spid = _stripped(raw[i_spid]) if i_spid < len(raw) else None
            if spid is not None:
                key = (conv.rows[i].usubjid, spid)
                by_spid[key] = -1 if key in by_spid else i  # -1: names two rows
    for name in CASE_SHEETS:
        sub = parsed.case_sheets.get(name)
        if sub is None:
            continue
        out.errors.extend(sub.problems)
        if sub.header:
            _read_sheet(name, sub, conv, ctx, by_row, by_spid, i_spid is not None, out)
        if len(out.errors) >= MAX_ERRORS:
            break
    if len(out.errors) < MAX_ERRORS:
        _check(conv, ctx, out)
    return out


def _columns(name: str, sub: ParsedUpload, errors: list[RowError]) -> dict[str, int]:
    known = set(REF_COLUMNS) | set(SHEET_COLUMNS[name])
    columns: dict[str, int] = {}
    row = sub.header_row
    for i, raw in enumerate(sub.header):
        col = (raw or "").strip().upper()
        if not col:
            continue
        if col in columns:
            errors.append(RowError(row, col, raw, _("the column appears twice"), name))
        elif col not in known:
            errors.append(RowError(row, col, raw, _("unknown column (see the template's README)"),
                                   name))  # fmt: skip
        else:
            columns[col] = i
    if "AE_ROW" not in columns and not ("USUBJID" in columns and "AESPID" in columns):
        errors.append(RowError(row, "AE_ROW", "", _("the column is missing (name each row's "
                                                    "event by AE_ROW, or by USUBJID and "
                                                    "AESPID)"), name))  # fmt: skip
    if name == "CHALLENGE" and "DRUG" not in columns:
        errors.append(RowError(row, "DRUG", "", _("the column is missing"), name))
    return columns


def _read_sheet(name: str, sub: ParsedUpload, conv: Converted, ctx: BulkContext,
                by_row: dict[int, int], by_spid: dict[tuple[str, str], int], has_spid: bool,
                out: CaseData) -> None:  # fmt: skip
    errors = out.errors
    before = len(errors)
    columns = _columns(name, sub, errors)
    if len(errors) > before:
        return  # the header is wrong: its rows cannot be read
    width = len(sub.header)
    unnamed = [i for i, h in enumerate(sub.header) if not (h or "").strip()]
    no_header = _("a value in a column without a header")
    too_long = ngettext("at most %(num)d character", "at most %(num)d characters", MAX_CELL)
    list_key = LIST_KEYS.get(name)
    own = [c for c in SHEET_COLUMNS[name] if c in columns]
    bad_aeser = {(e.row, e.column) for e in conv.errors if e.column == "AESER"}
    for row_no, values in sub.rows:
        if len(errors) >= MAX_ERRORS:
            errors.append(RowError(row_no, "", "", _("more than %(n)s problems: checking "
                                                     "stopped at row %(row)s; fix these and "
                                                     "upload the file again",
                                                     n=f"{MAX_ERRORS:,}", row=f"{row_no:,}"),
                                   name))  # fmt: skip
            return
        bad: list[RowError] = []
        for j in [*unnamed, *range(width, len(values))]:
            if j < len(values) and values[j] is not None and values[j].strip():  # type: ignore[union-attr]
                bad.append(RowError(row_no, _col_name(j), _shown(values[j]), no_header, name))

        long: set[str] = set()

        def cell(col: str, values: list[str | None] = values, row_no: int = row_no,
                 long: set[str] = long, bad: list[RowError] = bad) -> str | None:  # fmt: skip
            i = columns.get(col)
            v = _stripped(values[i]) if i is not None and i < len(values) else None
            if v is not None and len(v) > MAX_CELL:
                if col not in long:
                    long.add(col)
                    bad.append(RowError(row_no, col, v[:SHOWN] + "…", too_long, name))
                return None
            return v

        index = _event_of(name, row_no, cell, by_row, by_spid, has_spid, conv, bad)
        if index is None:
            errors.extend(bad)
            continue
        data = conv.rows[index].data
        if data.aeser is None and (conv.row_numbers[index], "AESER") in bad_aeser:
            errors.extend(bad)  # AESER could not be read: its own error is the root cause
            continue
        if data.aeser is not True:
            column = "AE_ROW" if cell("AE_ROW") is not None else "USUBJID"
            bad.append(RowError(row_no, column, cell(column) or "",
                                _(_NOT_SERIOUS, row=conv.row_numbers[index]), name))  # fmt: skip
            errors.extend(bad)
            continue
        payload = out.payloads.get(index)
        if payload is None and len(out.payloads) >= MAX_CASE_EVENTS:
            bad.append(RowError(row_no, "AE_ROW", cell("AE_ROW") or "", _(
                "at most %(n)s events may have case data in one upload; upload the others "
                "in another file", n=f"{MAX_CASE_EVENTS:,}"), name))  # fmt: skip
            errors.extend(bad)
            continue
        if payload is None:
            payload = out.payloads[index] = _empty_payload()
            out.origin[index] = {}
        origin = out.origin[index]
        texts = {c: cell(c) or "" for c in own}
        out.cells[(name, row_no)] = texts
        if name == "SAE_CASE":
            if any(c.lower() in origin for c in SAE_CASE_COLUMNS):
                first = next(r for s, r in origin.values() if s == name)
                bad.append(RowError(row_no, "AE_ROW", cell("AE_ROW") or "", _(
                    "the event has a row on this sheet already (row %(row)s): one row per "
                    "event", row=first), name))  # fmt: skip
            else:
                for c in SAE_CASE_COLUMNS:
                    origin[c.lower()] = (name, row_no)
                    payload[c.lower()] = cell(c)
        elif list_key is not None:
            items = payload[list_key]
            if len(items) >= MAX_ITEMS:
                bad.append(
                    RowError(
                        row_no,
                        "",
                        "",
                        _("an event may have at most %(n)s rows on this sheet", n=MAX_ITEMS),
                        name,
                    )
                )
            else:
                item: dict[str, Any] = {}
                for c in SHEET_COLUMNS[name]:
                    item[c.lower()] = cell(c)
                origin[f"{list_key}[{len(items)}]"] = (name, row_no)
                items.append(item)
        else:  # CHALLENGE
            _challenge(name, row_no, cell, ctx, conv, index, payload, origin, bad)
        errors.extend(bad)


def _shown(value: str | None) -> str:
    """A cell's text as an error repeats it: at most SHOWN characters."""
    if not value:
        return ""
    return value if len(value) <= SHOWN else value[:SHOWN] + "…"


def _event_of(name: str, row_no: int, cell: Any, by_row: dict[int, int],
              by_spid: dict[tuple[str, str], int], has_spid: bool, conv: Converted,
              bad: list[RowError]) -> int | None:  # fmt: skip
    """The position of the event a case row names (see the module docstring), or None with
    the reason in `bad`."""
    ae_row, usubjid, spid = cell("AE_ROW"), cell("USUBJID"), cell("AESPID")
    index: int | None = None
    if ae_row is not None:
        n = int(ae_row) if re.fullmatch(r"[0-9]{1,7}", ae_row) else None
        index = by_row.get(n) if n is not None else None
        if index is None:
            bad.append(RowError(row_no, "AE_ROW", ae_row, _(
                "names no event of the upload: give the number of a data row of sheet AE"),
                name))  # fmt: skip
            return None
    if usubjid is not None and spid is not None:
        if not has_spid:
            if index is None:
                bad.append(RowError(row_no, "AESPID", spid, _(
                    "sheet AE has no AESPID column: name the event by AE_ROW"), name))  # fmt: skip
                return None
        else:
            by_pair = by_spid.get((usubjid, spid))
            if by_pair is None or by_pair < 0:
                if index is None:
                    why = (_("names two rows of sheet AE (the same USUBJID and AESPID): name "
                             "the event by AE_ROW") if by_pair == -1 else
                           _("names no event of the upload (no row of sheet AE has this USUBJID "
                             "and AESPID)"))  # fmt: skip
                    bad.append(RowError(row_no, "AESPID", spid, why, name))
                    return None
            elif index is not None and by_pair != index:
                bad.append(RowError(row_no, "AESPID", spid, _(
                    "USUBJID and AESPID name row %(row)s of sheet AE, not the row in AE_ROW",
                    row=conv.row_numbers[by_pair]), name))  # fmt: skip
                return None
            else:
                index = by_pair
    elif index is not None and usubjid is not None and conv.rows[index].usubjid != usubjid:
        bad.append(
            RowError(
                row_no,
                "USUBJID",
                usubjid,
                _("row %(row)s of sheet AE is an event of another subject", row=ae_row),
                name,
            )
        )
        return None
    if index is None:
        bad.append(RowError(row_no, "AE_ROW", "", _(
            "name the event: its row number on sheet AE in AE_ROW, or its USUBJID and AESPID"),
            name))  # fmt: skip
    return index


def _subject_drugs(ctx: BulkContext, usubjid: str) -> list[Any]:
    subject = ctx.subjects.get(usubjid)
    return ctx.drugs_of(subject) if subject is not None else ctx.drugs_by_arm[None]


def _challenge(name: str, row_no: int, cell: Any, ctx: BulkContext, conv: Converted,
               index: int, payload: dict[str, Any], origin: dict[str, tuple[str, int]],
               bad: list[RowError]) -> None:  # fmt: skip
    raw = cell("DRUG")
    drugs = _subject_drugs(ctx, conv.rows[index].usubjid)
    if raw is None:
        bad.append(RowError(row_no, "DRUG", "", _("the study drug is required"), name))
        return
    key = next((d.key for d in drugs if raw.lower() in (d.key.lower(), d.name.lower())), None)
    if key is None:
        bad.append(RowError(row_no, "DRUG", raw, _(
            "'%(key)s' is not a study drug (%(drugs)s)", key=raw,
            drugs=", ".join(sorted(d.key for d in drugs))), name))  # fmt: skip
        return
    first = origin.get(f"dechallenge.{key}") or origin.get(f"rechallenge.{key}")
    if first is not None:
        bad.append(RowError(row_no, "DRUG", raw, _(
            "the event has a row for this drug already (row %(row)s): one row per event and "
            "drug", row=first[1]), name))  # fmt: skip
        return
    for column, part in (("DECHALLENGE", "dechallenge"), ("RECHALLENGE", "rechallenge")):
        value = cell(column)
        origin[f"{part}.{key}"] = (name, row_no)
        if value is not None:
            payload[part][key] = value.lower()


# Checking and storing through the case-data service -------------------------------------


def _where(path: str, origin: Mapping[str, tuple[str, int]]) -> tuple[str, int, str] | None:
    """(sheet, row, column) of a finding's field (pv.icsr.casedata names: "reporter_name",
    "conmeds[0].start", "dechallenge.belimumab")."""
    hit = origin.get(path)
    if hit is not None:  # a scalar of SAE_CASE, or a challenge result
        if path.startswith(("dechallenge.", "rechallenge.")):
            return hit[0], hit[1], path.split(".", 1)[0].upper()
        return hit[0], hit[1], path.upper()
    m = re.fullmatch(r"([a-z_]+\[[0-9]+\])(?:\.([a-z_]+))?", path)
    if m and (hit := origin.get(m.group(1))) is not None:
        return hit[0], hit[1], (m.group(2) or "").upper()
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    for key, hit in origin.items():  # a finding on a whole list or map: its first row
        if key.startswith(head):
            return hit[0], hit[1], head.upper() if "." not in key else key.split(".")[0].upper()
    return None


Cell = tuple[str, int, str]  # sheet, row, column


def findings_to_errors(findings: Any, index: int, conv: Converted, out: CaseData,
                       known: set[Cell] | None = None) -> list[RowError]:  # fmt: skip
    """The errors of `check_case_data` / `save_case_data` for the event at `index`, each on
    the sheet, row and column its value came from (the event's row of sheet AE when it
    names no cell of the case sheets). Root causes only: none on a cell in `known` (sheet,
    row, column) refused already (a name too long to read is not also "required")."""
    origin = out.origin.get(index, {})
    errors = []
    for issue in findings.errors:
        where = _where(issue.field, origin)
        if where is None:
            errors.append(RowError(conv.row_numbers[index], issue.field.upper(), "",
                                   issue.message))  # fmt: skip
            continue
        sheet, row, column = where
        if known and (sheet, row, column) in known:
            continue
        value = out.cells.get((sheet, row), {}).get(column, "")
        errors.append(RowError(row, column, value, issue.message, sheet))
    return errors


def _event_view(data: Any) -> Any:
    """What `check_case_data` is given as the event: the converted row (EventInput: aeterm,
    aestdtc, aeendtc, aeser and the criteria, aeout...)."""
    return data


def _check(conv: Converted, ctx: BulkContext, out: CaseData) -> None:
    now = today()
    known = {(e.sheet, e.row, e.column) for e in out.errors}
    for index in sorted(out.payloads):
        row = conv.rows[index]
        keys = [d.key for d in _subject_drugs(ctx, row.usubjid)]
        clean, findings = casedata.check_case_data(out.payloads[index], event=_event_view(row.data),
                                          drug_keys=keys, today=now)  # fmt: skip
        if findings.errors:
            out.errors.extend(findings_to_errors(findings, index, conv, out, known))
        else:
            out.clean[index] = clean


@contextmanager
def _gc_resumed() -> Iterator[None]:
    """The cyclic garbage collector running again for a block of an upload that paused it
    (`pv.events.bulk.gc_paused`). Saving a case builds ORM rows whose construction leaves
    cyclic garbage behind (pydantic inspects the JSON columns' default factories: a class
    and a copy of sys.modules each time); with the collector paused, 1,000 cases held
    +300 MB until the upload ended (measured), with it about nothing."""
    was = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        if not was:
            gc.disable()


class CaseStoreFailed(Exception):
    """`save_case_data` refused an event's case data inside the write transaction (raised
    to roll it back, events included); `errors` names the cells."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__(f"{len(errors)} case-data problem(s)")


def store_case_data(session: Session, actor: Actor, out: CaseData, indexes: Sequence[int],
                    ids: Sequence[int], conv: Converted) -> int:  # fmt: skip
    """Save each event's case data through `save_case_data`, in the caller's transaction
    (the one that inserted the events: `indexes` are the positions of the inserted rows,
    `ids` their new event ids). Raises `CaseStoreFailed` on any refusal (the caller's
    transaction is then rolled back whole). Returns how many cases were saved."""
    if not out.payloads:
        return 0
    id_of = dict(zip(indexes, ids, strict=True))
    with _gc_resumed():
        saved, errors = _save_all(session, actor, out, id_of, conv)
    if errors:
        raise CaseStoreFailed(errors)
    return saved


def _save_all(session: Session, actor: Actor, out: CaseData, id_of: dict[int, int],
              conv: Converted) -> tuple[int, list[RowError]]:  # fmt: skip
    from pv.events.service import NotEditable, ValidationFailed
    from pv.review.workflow import RoleRefused

    errors: list[RowError] = []
    saved = 0
    for index in sorted(out.payloads):
        event_id = id_of.get(index)
        if event_id is None:  # not inserted (cannot happen once every row passed)
            continue
        try:
            casedata.save_case_data(session, actor, event_id, out.payloads[index])
            saved += 1
        except ValidationFailed as exc:
            errors.extend(findings_to_errors(exc.findings, index, conv, out))
        except (RoleRefused, NotEditable) as exc:  # the uploader may not save this case
            sheet, row = next(iter(out.origin[index].values()))
            errors.append(RowError(row, "", "", str(exc), sheet))
    return saved, errors


def sorted_case_errors(errors: list[RowError]) -> list[RowError]:
    """Sheet by sheet (CASE_SHEETS order; errors on sheet AE first), then row, then column
    in the sheet's order."""
    sheet_order = {"": -1, **{s: i for i, s in enumerate(CASE_SHEETS)}}

    def key(e: RowError) -> tuple[int, int, int, str]:
        cols = (*REF_COLUMNS, *SHEET_COLUMNS.get(e.sheet, ()))
        return (sheet_order.get(e.sheet, 99), e.row,
                cols.index(e.column) if e.column in cols else 99, e.column)  # fmt: skip

    return sorted(errors, key=key)
