"""The xlsx template of a study: sheet AE with its columns and dropdowns, a README, and
the hidden lists the dropdowns draw from."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from pv.events.models import ACTIONS, OUTCOMES, RELATIONSHIPS
from pv.i18n import gettext as _
from pv.imports.spreadsheet.common import (
    BASE_COLUMNS,
    CASE_SHEETS,
    DATA_SHEET,
    EPISODE_COLUMNS,
    GRADES,
    HEADER_ROW,
    MAX_CASE_ROWS,
    TAIL_COLUMNS,
    YN_COLUMNS,
)
from pv.settings import get_settings
from pv.study.models import Drug, Study
from pv.terminology.models import Term, TerminologyRelease


def _text(cell: Any, value: Any) -> None:
    """Write a value as plain text: openpyxl would make "=..." a formula."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"


# Y stores a row that is a likely duplicate (pv.events.duplicates); optional in a file.
CONFIRM_COLUMN = "CONFIRM_DUPLICATE"


def columns_for(drugs: Sequence[Drug]) -> list[str]:
    keys = sorted({d.key.upper() for d in drugs})
    return [*BASE_COLUMNS, *(f"AEREL_{k}" for k in keys), *(f"AEACN_{k}" for k in keys),
            *TAIL_COLUMNS, *EPISODE_COLUMNS, CONFIRM_COLUMN]  # fmt: skip


def _describe(column: str, label: str) -> tuple[str, str, str]:
    """(required, allowed values, meaning) for the README sheet, in the current language."""
    if column.startswith("AEREL_"):
        drug = column[6:].lower()
        return (_("on submission"), ", ".join(RELATIONSHIPS),
                _("Relationship to %(drug)s (investigator)", drug=drug))  # fmt: skip
    if column.startswith("AEACN_"):
        return _("no"), ", ".join(ACTIONS), _("Action taken with %(drug)s", drug=column[6:].lower())
    yes, no, yn_blank = _("yes"), _("no"), _("Y or N (blank = N)")
    either = _("AELLTCD or AEDECOD")
    free_text = _("free text")
    return {
        "USUBJID": (yes, _("a subject of your site(s), e.g. NCT04660565-01-0012"),
                    _("Unique subject identifier, exactly as registered")),
        "AETERM": (yes, _("free text, kept as typed"), _("Reported (verbatim) term")),
        "AELLTCD": (either, _("%(release)s code (8 digits)", release=label),
                    _("Coded term; may be left blank when AEDECOD is chosen")),
        "AEDECOD": (either, _("%(release)s term (dropdown; sheet Terms)", release=label),
                    _("Coded term by name; must match AELLTCD when both are filled")),
        "AETOXGR": (yes, _("1-5, a grade that exists for the term"), _("CTCAE grade")),
        "AESER": (yes, _("Y or N"), _("Serious event (Y needs at least one criterion and a "
                                      "narrative)")),
        "AESDTH": (no, yn_blank, _("Results in death (grade 5, outcome FATAL)")),
        "AESLIFE": (no, yn_blank, _("Life-threatening")),
        "AESHOSP": (no, yn_blank, _("Requires or prolongs hospitalization")),
        "AESDISAB": (no, yn_blank, _("Persistent or significant disability")),
        "AESCONG": (no, yn_blank, _("Congenital anomaly/birth defect")),
        "AESMIE": (no, yn_blank, _("Other medically important event")),
        "AESTDTC": (yes, _("YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm"),
                    _("Onset date; partial dates are kept as typed")),
        "AEENDTC": (no, _("as AESTDTC"), _("End date (blank while ongoing)")),
        "AEONGO": (no, yn_blank, _("Ongoing")),
        "AEOUT": (yes, ", ".join(OUTCOMES), _("Outcome")),
        "AECONTRT": (no, free_text, _("Treatment given for the event")),
        "NARRATIVE": (_("if serious"), free_text, _("Narrative")),
        "AETERM_EN": (no, free_text, _("English translation of a reported term written in "
                                       "another language (needed for the SAS transport "
                                       "export)")),
        "AEAWAREDTC": (_("if serious"), _("YYYY-MM-DD or YYYY-MM-DDThh:mm (UTC)"),
                       _("When the site became aware of the serious event: the site's 24-hour "
                         "reporting clock starts then (a date alone: at 00:00 UTC). An onset "
                         "before informed consent is reported as a warning of the upload")),
        "AEPREEX": (no, yn_blank, _("Y: a condition present before the first dose that "
                                    "worsened after it")),
        "AEITOXGR": (_("if AEPREEX is Y"), _("1-5, not above AETOXGR"),
                     _("CTCAE grade of the pre-existing condition at the first dose")),
        "AEWRSDTC": (no, _("as AESTDTC, not before it"),
                     _("Date the pre-existing condition worsened")),
        "AEGRPID": (no, _("free text, at most 40 characters"),
                    _("Episode (group) id: the records of one event collected as a log")),
        "AESPID": (no, _("free text, at most 40 characters"), _("Sponsor-defined record id")),
        CONFIRM_COLUMN: (no, yn_blank,
                         _("Y stores the row although it is a likely duplicate: the same "
                           "subject, coded term and onset day as an earlier row or a stored "
                           "event")),
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
        cell.comment = Comment(_("%(meaning)s.\nAllowed: %(allowed)s", meaning=meaning,
                                 allowed=allowed), "pv-tracker")  # fmt: skip
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
                            error=_("Choose a value from the list (%(list)s).",
                                    list=prompt))  # fmt: skip
        letter = get_column_letter(columns.index(column) + 1)
        dv.add(f"{letter}{HEADER_ROW + 1}:{letter}{last}")
        ws.add_data_validation(dv)

    if ordered:
        dropdown(f"Terms!$A$2:$A${len(ordered) + 1}", "AEDECOD",
                 _("%(release)s terms", release=label))  # fmt: skip
    dropdown('"' + ",".join(GRADES) + '"', "AETOXGR", _("grade 1-5"))
    dropdown('"' + ",".join(GRADES) + '"', "AEITOXGR", _("grade 1-5"))
    for name in (*YN_COLUMNS, "AEPREEX", CONFIRM_COLUMN):
        dropdown('"Y,N"', name, _("Y or N"))
    dropdown(list_ranges["AEOUT"], "AEOUT", _("outcome"))
    for name in columns:
        if name.startswith("AEREL_"):
            dropdown(list_ranges["AEREL"], name, _("relationship"))
        elif name.startswith("AEACN_"):
            dropdown(list_ranges["AEACN"], name, _("action taken"))
    if "USUBJID" in list_ranges:
        dropdown(list_ranges["USUBJID"], "USUBJID", _("your subjects"))

    case_sheets(wb, drugs, max_rows=max_rows)

    readme = wb.create_sheet("README")
    wrap = Alignment(wrap_text=True, vertical="top")
    lines = [
        _("Adverse-event upload template: %(study)s", study=study.id),
        study.title,
        _(
            "Coded terms: %(release)s. Study drugs: %(drugs)s.",
            release=label,
            drugs=", ".join(sorted(d.name for d in drugs)),
        ),
        "",
        _("How to fill it in"),
        _("1. One adverse event per row of sheet AE, starting at row 2; keep the header row."),
        _(
            "2. Columns are formatted as text: type identifiers and dates exactly as they are "
            "(0012 stays 0012, 2021-03 stays 2021-03)."
        ),
        _("3. Choose the term in AEDECOD (dropdown) or type its code in AELLTCD."),
        _("4. Partial dates are allowed: YYYY or YYYY-MM. No future dates."),
        _("5. Upload the file as .xlsx (not .xlsm) or save sheet AE as CSV UTF-8."),
        _("6. The whole file is stored or nothing is: fix every reported row and upload again."),
        _(
            "7. A row with the same subject, coded term and onset day as an earlier row or a "
            "stored event is a likely duplicate and is reported; put Y in CONFIRM_DUPLICATE to "
            "store it anyway (uploading a stored file again stores nothing new)."
        ),
        _(
            "8. SAE case data (optional, serious events only): sheets SAE_CASE (one row per "
            "event: reporter, hospitalization, death), MEDICAL_HISTORY, CONMEDS and TESTS (one "
            "row per item) and CHALLENGE (one row per event and study drug). Each row names "
            "its event by AE_ROW, the event's row number on sheet AE, or by USUBJID and "
            "AESPID. A CSV file carries no case data."
        ),
        _("Limit: %(n)s rows.", n=f"{max_rows:,}"),
        "",
    ]
    for r, line in enumerate(lines, start=1):
        _text(readme.cell(row=r, column=1), line)
    readme.cell(row=1, column=1).font = Font(bold=True, size=14)
    readme.cell(row=5, column=1).font = Font(bold=True)
    start = len(lines) + 1
    for i, h in enumerate((_("Column"), _("Required"), _("Allowed values"), _("Meaning")),
                          start=1):  # fmt: skip
        cell = readme.cell(row=start, column=i)
        _text(cell, h)
        cell.font = head_font
    for r, name in enumerate(columns, start=start + 1):
        for i, v in enumerate((name, *_describe(name, label)), start=1):
            cell = readme.cell(row=r, column=i)
            _text(cell, v)
            cell.alignment = wrap
    r = start + len(columns) + 1
    for sheet in CASE_SHEETS:
        for name in _case_columns(sheet):
            r += 1
            for i, v in enumerate((f"{sheet}!{name}", *_case_describe(sheet, name)), start=1):
                cell = readme.cell(row=r, column=i)
                _text(cell, v)
                cell.alignment = wrap
    for letter, width in zip("ABCD", (20, 18, 60, 60), strict=True):
        readme.column_dimensions[letter].width = width
    wb.active = 0
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _case_columns(sheet: str) -> tuple[str, ...]:
    from pv.imports.spreadsheet.case_sheets import REF_COLUMNS, SHEET_COLUMNS

    return (*REF_COLUMNS, *SHEET_COLUMNS[sheet])


def _case_describe(sheet: str, column: str) -> tuple[str, str, str]:
    """(required, allowed values, meaning) of a case-data sheet's column (README sheet)."""
    from pv.icsr.models import AUTOPSY, CHALLENGE_RESULTS, QUALIFICATIONS

    no, free_text = _("no"), _("free text")
    date = _("YYYY, YYYY-MM or YYYY-MM-DD")
    ae_row = _("AE_ROW, or USUBJID and AESPID")
    common = {
        "AE_ROW": (
            ae_row,
            _("a row number of sheet AE"),
            _("The event the row belongs to: its row number on sheet AE"),
        ),
        "USUBJID": (
            ae_row,
            _("as on sheet AE"),
            _("With AESPID, the event the row belongs to (instead of AE_ROW)"),
        ),
        "AESPID": (
            ae_row,
            _("as on sheet AE"),
            _("With USUBJID, the event the row belongs to (instead of AE_ROW)"),
        ),
    }
    if column in common:
        return common[column]
    item = {
        "SAE_CASE": {
            "REPORTER_NAME": (no, free_text, _("Reporter's name")),
            "REPORTER_QUALIFICATION": (
                no,
                ", ".join(QUALIFICATIONS),
                _(
                    "Reporter's qualification (1 physician, 2 pharmacist, "
                    "3 other health professional, 4 lawyer, 5 consumer)"
                ),
            ),
            "REPORTER_COUNTRY": (
                no,
                _("ISO 3166 two-letter code, e.g. CN"),
                _("Reporter's country"),
            ),
            "REPORTER_CONTACT": (no, free_text, _("Reporter's telephone or e-mail")),
            "HOSP_ADMIT_DATE": (no, date, _("Hospital admission date")),
            "HOSP_DISCHARGE_DATE": (no, date, _("Hospital discharge date")),
            "DEATH_DATE": (no, date, _("Date of death")),
            "DEATH_CAUSE": (no, free_text, _("Reported cause of death")),
            "AUTOPSY": (no, ", ".join(AUTOPSY), _("Autopsy done (U: unknown)")),
            "AUTOPSY_CAUSE": (no, free_text, _("Cause of death determined by autopsy")),
        },
        "MEDICAL_HISTORY": {
            "TERM": (_("yes"), free_text, _("Medical history: condition")),
            "START": (no, date, _("Start date")),
            "ONGOING": (no, _("Y or N"), _("Ongoing")),
        },
        "CONMEDS": {
            "NAME": (_("yes"), free_text, _("Concomitant medication")),
            "DOSE": (no, _("a number"), _("Dose")),
            "UNIT": (no, _("e.g. mg"), _("Dose unit")),
            "ROUTE": (no, free_text, _("Route of administration")),
            "START": (no, date, _("Start date")),
            "STOP": (no, date, _("Stop date")),
            "INDICATION": (no, free_text, _("Indication")),
        },
        "TESTS": {
            "NAME": (_("yes"), free_text, _("Relevant test")),
            "DATE": (no, date, _("Test date")),
            "VALUE": (no, _("as reported"), _("Result")),
            "UNIT": (no, _("e.g. g/L"), _("Unit")),
            "LOW": (no, _("as reported"), _("Normal range: low")),
            "HIGH": (no, _("as reported"), _("Normal range: high")),
        },
        "CHALLENGE": {
            "DRUG": (_("yes"), _("a study drug of the subject"), _("Study drug")),
            "DECHALLENGE": (
                no,
                ", ".join(CHALLENGE_RESULTS),
                _("Did the reaction abate after stopping the drug?"),
            ),
            "RECHALLENGE": (
                no,
                ", ".join(CHALLENGE_RESULTS),
                _("Did the reaction reappear after reintroduction?"),
            ),
        },
    }
    return item[sheet][column]


def case_sheets(wb: Workbook, drugs: Sequence[Drug], *, max_rows: int) -> None:
    """The optional SAE case-data sheets (pv.imports.spreadsheet.case_sheets): a header row
    (text-formatted columns, a comment on each) and dropdowns for the coded columns."""
    from pv.icsr.models import AUTOPSY, CHALLENGE_RESULTS, QUALIFICATIONS

    head_font, head_fill = Font(bold=True), PatternFill("solid", fgColor="FCE4D6")
    rows = min(max_rows, MAX_CASE_ROWS)
    lists = {"REPORTER_QUALIFICATION": tuple(QUALIFICATIONS), "AUTOPSY": AUTOPSY,
             "ONGOING": ("Y", "N"), "DECHALLENGE": CHALLENGE_RESULTS,
             "RECHALLENGE": CHALLENGE_RESULTS,
             "DRUG": tuple(sorted({d.key for d in drugs}))}  # fmt: skip
    for sheet in CASE_SHEETS:
        ws = wb.create_sheet(sheet)
        columns = _case_columns(sheet)
        for i, name in enumerate(columns, start=1):
            cell = ws.cell(row=HEADER_ROW, column=i)
            _text(cell, name)
            cell.font, cell.fill = head_font, head_fill
            required, allowed, meaning = _case_describe(sheet, name)
            cell.comment = Comment(_("%(meaning)s.\nAllowed: %(allowed)s", meaning=meaning,
                                     allowed=allowed), "pv-tracker")  # fmt: skip
            letter = get_column_letter(i)
            ws.column_dimensions[letter].width = 18
            ws.column_dimensions[letter].number_format = "@"
            values = lists.get(name)
            if values:
                dv = DataValidation(type="list", formula1='"' + ",".join(values) + '"',
                                    allow_blank=True, showErrorMessage=True, errorTitle=name,
                                    error=_("Choose a value from the list (%(list)s).",
                                            list=", ".join(values)))  # fmt: skip
                dv.add(f"{letter}{HEADER_ROW + 1}:{letter}{HEADER_ROW + rows}")
                ws.add_data_validation(dv)
        ws.freeze_panes = ws.cell(row=HEADER_ROW + 1, column=1)


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
