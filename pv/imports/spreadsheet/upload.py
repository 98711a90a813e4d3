"""Storing an upload: every row or none, and the error report."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Engine

from pv import csvsafe
from pv.audit.service import Actor
from pv.db import read_session, write_session
from pv.events.bulk import (
    UNKNOWN_SUBJECT,
    BulkContext,
    BulkValidationFailed,
    gc_paused,
    insert_events,
    prepare_events,
    store_sae_clocks,
)
from pv.i18n import gettext as _
from pv.i18n import pgettext
from pv.imports.spreadsheet.case_sheets import (
    CaseStoreFailed,
    read_case_sheets,
    sorted_case_errors,
    store_case_data,
)
from pv.imports.spreadsheet.common import (
    Progress,
    RowError,
    UploadRefused,
    UploadResult,
)
from pv.imports.spreadsheet.convert import _rule_errors, _sorted, validate_rows
from pv.imports.spreadsheet.csv_reader import parse_upload
from pv.imports.spreadsheet.template import columns_for
from pv.settings import Settings, get_settings

Phase = Callable[[str], None]


class UploadCancelled(Exception):
    """Raised by a progress callback to stop an upload before its store phase."""


def import_upload(*, engine: Engine, actor: Actor, study_id: str, site_ids: set[int] | None,
                  filename: str, data: bytes, progress: Progress | None = None,
                  settings: Settings | None = None, phase: Phase | None = None
                  ) -> UploadResult:  # fmt: skip
    """Store every event of the file, or none and the full list of problems.

    `site_ids` limits an investigator to their sites' subjects (None: all sites); a
    USUBJID elsewhere is an unknown subject. `progress(done, total)` advances over three
    passes of the rows (read, check, store); total is an estimate until the file is read.
    `phase(name)` is called as each pass starts ("reading", "checking", "storing").

    Reading, converting and checking run outside any write transaction (a read session
    only); the store is one short all-or-nothing write transaction. A callback may raise
    `UploadCancelled` to stop the upload before it stores anything.
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
            phase=phase or _no_phase,
        )


def _no_phase(_name: str) -> None:
    return None


def _import(*, engine: Engine, actor: Actor, study_id: str, site_ids: set[int] | None,
            filename: str, data: bytes, progress: Progress | None, settings: Settings,
            phase: Phase) -> UploadResult:  # fmt: skip
    result = UploadResult(filename=filename)
    phase("reading")
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
    phase("checking")
    with read_session(engine) as session:
        ctx = BulkContext.load(session, study_id, site_ids)
        conv = validate_rows(parsed, ctx)
        header_row = parsed.header_row
        # The SAE case-data sheets (an xlsx's optional SAE_CASE, MEDICAL_HISTORY, CONMEDS,
        # TESTS, CHALLENGE), checked by the case-data service: their errors name the sheet.
        case = read_case_sheets(parsed, conv, ctx)
        del parsed  # the cells are in conv.raw; the reader's lists can go
        order = {name: i for i, name in enumerate(columns_for(ctx.drugs_by_arm[None]))}
        checked = (lambda d: progress(n + d, total)) if progress else None
        prepared, issues, warns = prepare_events(ctx, conv.rows, submit=True, on_row=checked)
    if case.errors:
        result.errors = _ae_errors(conv, issues, order) + sorted_case_errors(case.errors)
        result.warnings = _sorted(_rule_errors(conv, warns), order)
        return result
    if conv.errors:
        # The rule problems too (`_rule_errors` leaves out those on a cell whose value could
        # not be converted: the conversion error is the root cause), except unknown
        # subjects, reported already.
        unknown = (UNKNOWN_SUBJECT, _(UNKNOWN_SUBJECT))
        rule = [e for e in _rule_errors(conv, issues) if e.reason not in unknown]
        result.errors = _sorted(conv.errors + rule, order)
        result.warnings = _sorted(_rule_errors(conv, warns), order)
        return result
    if issues:
        result.errors = _sorted(_rule_errors(conv, issues), order)
        result.warnings = _sorted(_rule_errors(conv, warns), order)
        return result
    if n == 0:
        result.errors = [RowError(header_row + 1, "", "", _("the file has no data rows"))]
        return result
    phase("storing")
    stored = (lambda d: progress(2 * n + d, total)) if progress else None
    try:
        with write_session(engine) as session:
            ids = insert_events(session=session, actor=actor, prepared=prepared, submit=True,
                                on_row=stored)  # fmt: skip
            store_sae_clocks(session, actor, prepared, ids)  # each serious event's 24 h clock
            # The case data in the same transaction: a refusal rolls back the events too.
            store_case_data(session, actor, case, [p.index for p in prepared], ids, conv)
    except BulkValidationFailed as exc:  # found again inside the write transaction
        result.errors = _sorted(_rule_errors(conv, exc.errors), order)
        return result
    except CaseStoreFailed as exc:
        result.errors = sorted_case_errors(exc.errors)
        return result
    result.event_ids, result.stored = ids, len(ids)
    result.warnings = _sorted(_rule_errors(conv, warns), order)
    if progress:
        progress(total, total)
    return result


def _ae_errors(conv: Any, issues: Sequence[Any], order: dict[str, int]) -> list[RowError]:
    """The errors of sheet AE, as `_import` reports them (conversion errors, and the rule
    problems that are not on a cell whose value could not be converted)."""
    if not conv.errors:
        return _sorted(_rule_errors(conv, issues), order)
    unknown = (UNKNOWN_SUBJECT, _(UNKNOWN_SUBJECT))
    rule = [e for e in _rule_errors(conv, issues) if e.reason not in unknown]
    return _sorted(conv.errors + rule, order)


def _write_report(out: Any, errors: Sequence[RowError]) -> None:
    """The report in the current language (an upload job runs in its uploader's): the
    header's names too. The file starts with a byte-order mark (UTF-8), so that Excel
    reads Chinese text as such."""
    writer = csvsafe.Writer(out)  # formulas neutralized (pv.csvsafe), numbers stay numbers
    writer.writerow([pgettext("error report column", "row"),
                     pgettext("error report column", "column"),
                     pgettext("error report column", "value"),
                     pgettext("error report column", "reason")])  # fmt: skip
    for e in errors:
        writer.writerow([e.row, e.where, e.value, e.reason])  # where: SHEET!COLUMN off sheet AE


def error_report_csv(errors: Sequence[RowError]) -> bytes:
    """The error list as CSV (row, column, value, reason), safe to open in a spreadsheet."""
    out = io.StringIO(newline="")
    _write_report(out, errors)
    return out.getvalue().encode("utf-8-sig")


def error_report_gzip(errors: Sequence[RowError]) -> bytes:
    """`error_report_csv` gzip-compressed, written row by row into the compressor (250,000
    errors never exist as one CSV text and its bytes at once)."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz:
        text = io.TextIOWrapper(gz, encoding="utf-8-sig", newline="")
        _write_report(text, errors)
        text.flush()
        text.detach()
    return raw.getvalue()
