"""Converting the cells of an upload field by field, and mapping rule findings back to
the rows and columns the user sees."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from pv.events.bulk import UNKNOWN_SUBJECT, BulkContext, BulkRow, RowIssue
from pv.events.models import ACTIONS, OUTCOMES, RELATIONSHIPS
from pv.events.rules import EventInput
from pv.i18n import N_, current
from pv.i18n import gettext as _
from pv.imports.spreadsheet.common import (
    BASE_COLUMNS,
    CRITERIA_COLUMNS,
    EPISODE_COLUMNS,
    FIELD_COLUMNS,
    GRADES,
    MAX_ERRORS,
    TAIL_COLUMNS,
    Converted,
    ParsedUpload,
    RowError,
    _col_name,
    _stripped,
)
from pv.imports.spreadsheet.template import CONFIRM_COLUMN
from pv.inputs import field_text_problem

# The refusal of an unknown USUBJID (pv.events.bulk.UNKNOWN_SUBJECT), marked for translation.
assert N_("unknown subject") == UNKNOWN_SUBJECT
# What a controlled-term cell may hold, by kind (see `_not_valid`).
_NOT_VALID = {
    "outcome": N_("not a valid outcome: use one of %(allowed)s"),
    "relationship": N_("not a valid relationship: use one of %(allowed)s"),
    "action": N_("not a valid action: use one of %(allowed)s"),
}
# The rule findings that follow from a grade 5 (pv.events.rules): left out on a row whose
# grade was refused (see `_root_causes`).
_FROM_GRADE_5 = (
    N_("grade 5 or death means the outcome is FATAL"),
    N_("grade 5 or a fatal outcome means the criterion 'results in death'"),
)


def _column_map(parsed: ParsedUpload, drug_keys: set[str], errors: list[RowError]
                ) -> dict[str, int]:  # fmt: skip
    known = set(BASE_COLUMNS) | set(TAIL_COLUMNS) | set(EPISODE_COLUMNS) | {CONFIRM_COLUMN}
    columns: dict[str, int] = {}
    row = parsed.header_row
    for i, raw in enumerate(parsed.header):
        name = (raw or "").strip().upper()
        if not name:
            continue
        if name in columns:
            errors.append(RowError(row, name, raw, _("the column appears twice")))
            continue
        if name.startswith(("AEREL_", "AEACN_")):
            key = name[6:].lower()
            if key not in drug_keys:
                errors.append(
                    RowError(
                        row,
                        name,
                        raw,
                        _(
                            "'%(key)s' is not a study drug (%(drugs)s)",
                            key=key,
                            drugs=", ".join(sorted(drug_keys)),
                        ),  # fmt: skip
                    )
                )
                continue
        elif name not in known:
            errors.append(RowError(row, name, raw, _("unknown column (see the template's README)")))
            continue
        columns[name] = i
    for required in ("USUBJID", "AETERM"):
        if required not in columns:
            errors.append(RowError(row, required, "", _("the column is missing")))
    if "AELLTCD" not in columns and "AEDECOD" not in columns:
        errors.append(RowError(row, "AELLTCD", "", _("a coded-term column (AELLTCD or AEDECOD) "
                                                     "is missing")))  # fmt: skip
    return columns


def validate_rows(parsed: ParsedUpload, ctx: BulkContext) -> Converted:
    """Convert every data row field by field; errors name the row, column, value and reason.

    Only conversions are checked here (Y/N, grade, known subject, term by name); the AE
    rules run in `prepare_events` / `create_events_bulk`. Each distinct raw value of a
    coded column is converted once and then looked up (100,000 rows repeat a few hundred).
    """
    errors: list[RowError] = list(parsed.problems)
    drug_keys = {d.key for d in ctx.drugs_by_arm[None]}
    columns = _column_map(parsed, drug_keys, errors)
    terms = ctx.terms
    by_name = {t.term.lower(): t for t in terms.values()}
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
    i_start, i_end = g("AESTDTC"), g("AEENDTC")
    i_contrt, i_narr, i_term_en = g("AECONTRT"), g("NARRATIVE"), g("AETERM_EN")
    i_aware = g("AEAWAREDTC")
    # Optional: a pre-existing condition and the episode (pv.imports.spreadsheet.common).
    i_preex, i_igrade, i_worse = g("AEPREEX"), g("AEITOXGR"), g("AEWRSDTC")
    i_grp, i_spid = g("AEGRPID"), g("AESPID")
    episode = any(i is not None for i in (i_preex, i_igrade, i_worse, i_grp, i_spid))
    i_confirm = g(CONFIRM_COLUMN)  # optional: Y stores a likely duplicate
    # The criteria and AEONGO: (position in `flag_values`, column index, column name).
    flags = [(k, columns[c], c) for k, c in enumerate((*CRITERIA_COLUMNS, "AEONGO"))
             if c in columns]  # fmt: skip
    rel = [(n[6:].lower(), i, n) for n, i in columns.items() if n.startswith("AEREL_")]
    acn = [(n[6:].lower(), i, n) for n, i in columns.items() if n.startswith("AEACN_")]
    # Each distinct raw value is converted once, then looked up.
    yn: dict[str, bool | str] = {"Y": True, "N": False}
    outcome_of: dict[str, str | None] = {v: v for v in OUTCOMES}
    relation_of: dict[str, str | None] = {v: v for v in RELATIONSHIPS}
    action_of: dict[str, str | None] = {v: v for v in ACTIONS}
    grade_of: dict[str, int | None] = {v: int(v) for v in GRADES}
    label = ctx.label
    not_a_term = _("not a %(release)s term", release=label)
    # One text each for the whole file (not one per error).
    no_header = _("a value in a column without a header")
    subject_required = _("the subject is required")
    unknown_subject = _(UNKNOWN_SUBJECT)
    bad_grade = _("the grade must be a whole number 1 to 5")
    rows, row_numbers, raws, from_names = out.rows, out.row_numbers, out.raw, out.code_from_name
    # Equal per-drug answers share one dict (never changed once made): 200,000 rows hold a
    # handful of them.
    same: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}

    for row_no, values in parsed.rows:
        n = len(values)
        if n > width:
            for j in range(width, n):
                if values[j] is not None and values[j].strip():  # type: ignore[union-attr]
                    errors.append(RowError(row_no, _col_name(j), values[j] or "",
                                           no_header))  # fmt: skip
        elif n < width:
            values = values + [None] * (width - n)
        bad: list[RowError] = []
        for j in unnamed:
            if values[j] is not None and values[j].strip():  # type: ignore[union-attr]
                bad.append(RowError(row_no, _col_name(j), values[j] or "", no_header))
        raw = values[i_subj] if i_subj is not None else None
        usubjid = (raw.strip() or None) if raw is not None else None
        if usubjid is None:
            bad.append(RowError(row_no, "USUBJID", "", subject_required))
        elif usubjid not in subjects and (problem := field_text_problem("usubjid", usubjid)):
            # The shared text rule (pv.inputs), as every path gives it; the event's own text
            # fields get it from rules.check_event. A known subject needs no check.
            bad.append(RowError(row_no, "USUBJID", usubjid, problem))
        elif usubjid not in subjects:
            bad.append(RowError(row_no, "USUBJID", usubjid, unknown_subject))
        raw = values[i_code] if i_code is not None else None
        code = (raw.strip() or None) if raw is not None else None
        raw = values[i_decod] if i_decod is not None else None
        name = (raw.strip() or None) if raw is not None else None
        from_name = False
        if name is not None:
            if code is None:
                term = by_name.get(name.lower())
                if term is None:
                    bad.append(RowError(row_no, "AEDECOD", name, not_a_term))
                else:
                    code, from_name = term.code, True
            else:
                term = terms.get(code)
                if term is not None and term.term.lower() != name.lower():
                    bad.append(RowError(
                        row_no, "AEDECOD", name, _("does not match AELLTCD %(code)s (%(term)s)",
                                                   code=code, term=term.term)
                    ))  # fmt: skip
        raw = values[i_term] if i_term is not None else None
        aeterm = (raw.strip() or None) if raw is not None else None
        grade = None
        raw = values[i_grade] if i_grade is not None else None
        if raw is not None:
            grade = grade_of.get(raw, -1)
            if grade == -1:
                grade = grade_of[raw] = _grade(raw)
            if grade is None and raw.strip():
                bad.append(RowError(row_no, "AETOXGR", raw.strip(), bad_grade))
        aeser = None
        if i_ser is not None and (raw := values[i_ser]) is not None:
            v = yn.get(raw)
            aeser = v if v is True or v is False else _yes_no(raw, yn, row_no, "AESER", bad)
        flag_values = [False] * 7  # the six criteria, then ongoing
        for k, i, column in flags:
            raw = values[i]
            if raw is not None:
                v = yn.get(raw)
                flag_values[k] = v if v is True or v is False else \
                    bool(_yes_no(raw, yn, row_no, column, bad))  # fmt: skip
        aeout = None
        if i_out is not None and (raw := values[i_out]) is not None:
            aeout = outcome_of.get(raw)
            if not aeout:
                aeout = _controlled(raw, outcome_of, OUTCOMES, "outcome", row_no, names[i_out],
                                    bad)  # fmt: skip
        aerel: dict[str, str] = {}
        for key, i, column in rel:
            raw = values[i]
            if raw is not None:
                v = relation_of.get(raw, "")
                if not v:
                    v = _controlled(raw, relation_of, RELATIONSHIPS, "relationship", row_no,
                                    column, bad)  # fmt: skip
                if v:
                    aerel[key] = v
        aeacn: dict[str, str] = {}
        for key, i, column in acn:
            raw = values[i]
            if raw is not None:
                v = action_of.get(raw, "")
                if not v:
                    v = _controlled(raw, action_of, ACTIONS, "action", row_no, column, bad)
                if v:
                    aeacn[key] = v
        data = EventInput(
            aeterm=aeterm, aelltcd=code, aetoxgr=grade, aeser=aeser, aesdth=flag_values[0],
            aeslife=flag_values[1], aeshosp=flag_values[2], aesdisab=flag_values[3],
            aescong=flag_values[4], aesmie=flag_values[5],
            aerel=same.setdefault(tuple(aerel.items()), aerel),
            aeacn=same.setdefault(tuple(aeacn.items()), aeacn),
            aeout=aeout, aestdtc=_stripped(values[i_start]) if i_start is not None else None,
            aeendtc=_stripped(values[i_end]) if i_end is not None else None,
            ongoing=flag_values[6],
            aecontrt=_stripped(values[i_contrt]) if i_contrt is not None else None,
            narrative=_stripped(values[i_narr]) if i_narr is not None else None,
            aeterm_en=_stripped(values[i_term_en]) if i_term_en is not None else None,
            aeawaredtc=_stripped(values[i_aware]) if i_aware is not None else None,
        )  # fmt: skip
        if episode:
            _episode(data, values, i_preex, i_igrade, i_worse, i_grp, i_spid, yn, grade_of,
                     row_no, bad, bad_grade)  # fmt: skip
        confirm = False
        if i_confirm is not None and (raw := values[i_confirm]) is not None:
            v = yn.get(raw)
            confirm = v if v is True or v is False else \
                bool(_yes_no(raw, yn, row_no, CONFIRM_COLUMN, bad))  # fmt: skip
        if bad:
            errors.extend(bad)
        if from_name:
            from_names.add(len(rows))
        rows.append(BulkRow(usubjid or "", data, confirm, row_no))
        row_numbers.append(row_no)
        raws.append(values)
        if len(errors) >= MAX_ERRORS:
            errors.append(_stopped(row_no))
            out.stopped = True
            break
    return out


def _episode(data: EventInput, values: list[str | None], i_preex: int | None,
             i_igrade: int | None, i_worse: int | None, i_grp: int | None, i_spid: int | None,
             yn: dict[str, bool | str], grade_of: dict[str, int | None], row_no: int,
             bad: list[RowError], bad_grade: str) -> None:  # fmt: skip
    """The optional columns AEPREEX, AEITOXGR, AEWRSDTC, AEGRPID and AESPID of one row."""
    if i_preex is not None and (raw := values[i_preex]) is not None:
        v = yn.get(raw)
        data.preexisting = v if v is True or v is False else \
            bool(_yes_no(raw, yn, row_no, "AEPREEX", bad))  # fmt: skip
    if i_igrade is not None and (raw := values[i_igrade]) is not None:
        grade = grade_of.get(raw, -1)
        if grade == -1:
            grade = grade_of[raw] = _grade(raw)
        if grade is None and raw.strip():
            bad.append(RowError(row_no, "AEITOXGR", raw.strip(), bad_grade))
        data.initial_grade = grade
    if i_worse is not None:
        data.worsened_dtc = _stripped(values[i_worse])
    if i_grp is not None:
        data.aegrpid = _stripped(values[i_grp])
    if i_spid is not None:
        data.aespid = _stripped(values[i_spid])


def _stopped(row_no: int) -> RowError:
    reason = _("more than %(n)s problems: checking stopped at row %(row)s; fix these and "
               "upload the file again", n=f"{MAX_ERRORS:,}", row=f"{row_no:,}")  # fmt: skip
    return RowError(row_no, "", "", reason)


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
        bad.append(RowError(row, column, raw.strip(), _use_y_or_n(current())))
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
        bad.append(RowError(row, column, raw.strip(), _not_valid(what, tuple(allowed), current())))
        return None
    return v or None


@cache
def _not_valid(what: str, allowed: tuple[str, ...], language: str) -> str:
    """One text per kind of error and language (not one per error: 200,000 of them are
    20 MB); `language` is the current one (pv.i18n), part of the cache key."""
    return _(_NOT_VALID[what], allowed=", ".join(allowed))


@cache
def _use_y_or_n(language: str) -> str:
    """The Y/N refusal, one text per language (see `_not_valid`)."""
    return _("use Y or N")


def _rule_errors(conv: Converted, issues: Sequence[RowIssue]) -> list[RowError]:
    """Map rule findings (SDTM field names, row indexes) to spreadsheet rows and columns.

    Root causes only: none on a cell whose value could not be converted (that error is
    the cause) nor more than one a cell (`_root_causes`); at most MAX_ERRORS errors in all
    with the conversion errors (the last says where checking stopped)."""
    out: list[RowError] = []
    bad = {(e.row, e.column) for e in conv.errors}
    room = max(MAX_ERRORS - len(conv.errors), 0)
    for issue in issues:
        if len(out) >= room:
            if not conv.stopped:
                out.append(_stopped(conv.row_numbers[issue.index]))
            break
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
        row = conv.row_numbers[issue.index]
        if (row, column) not in bad:
            out.append(RowError(row, column, value, issue.message))
    return _root_causes(out)


def _root_causes(errors: list[RowError]) -> list[RowError]:
    """Root causes only: the first finding of each cell, and none that follows from a grade
    refused on the same row (a grade 5 the term does not have also asks for a fatal outcome
    and the death criterion: one error, not three)."""
    seen: set[tuple[int, str]] = set()
    bad_grade = {e.row for e in errors if e.column == "AETOXGR"}
    from_grade_5 = {_(m) for m in _FROM_GRADE_5}
    out = []
    for e in errors:
        key = (e.row, e.column)
        if key in seen:
            continue
        if e.row in bad_grade and e.column != "AETOXGR" and e.reason in from_grade_5:
            continue
        seen.add(key)
        out.append(e)
    return out


def _cell(raw: list[str | None], columns: dict[str, int], name: str) -> str | None:
    i = columns.get(name)
    return _stripped(raw[i]) if i is not None and i < len(raw) else None


def _sorted(errors: list[RowError], order: dict[str, int]) -> list[RowError]:
    return sorted(errors, key=lambda e: (e.row, order.get(e.column, 10_000), e.column))
