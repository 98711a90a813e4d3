"""Storing an upload: every row or none, and the error report."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Engine

from pv.audit.service import Actor
from pv.db import read_session, write_session
from pv.events.bulk import (
    UNKNOWN_SUBJECT,
    BulkContext,
    BulkValidationFailed,
    RowIssue,
    create_events_bulk,
    gc_paused,
    prepare_events,
)
from pv.imports.spreadsheet.common import Progress, RowError, UploadRefused, UploadResult
from pv.imports.spreadsheet.convert import _rule_errors, _sorted, validate_rows
from pv.imports.spreadsheet.csv_reader import parse_upload
from pv.imports.spreadsheet.template import columns_for
from pv.settings import Settings, get_settings

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


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
