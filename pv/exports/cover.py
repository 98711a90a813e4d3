"""The cover and contents sheets of the DSMB workbook (ordinary openpyxl write-only cells,
made safe by xlsx_safe.safe_cell: the study title and arm names are user text too)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.worksheet import Worksheet

import pv
from pv.analysis.table import Table
from pv.analysis.teae import TEAERule
from pv.exports import checksum as checksum_doc
from pv.exports import styles as st
from pv.exports.arms import ArmView
from pv.exports.checksum import Checksum
from pv.exports.xlsx_layout import LINE_PT, lines, print_setup
from pv.exports.xlsx_safe import safe_cell
from pv.i18n import N_, pgettext
from pv.i18n import gettext as _

PARTIAL_DATES = N_(
    "Dates are real dates. Partial dates (e.g. 2021-03) are shown as text exactly as "
    "collected; they have no study day or duration. The tables impute them by the TEAE rule."
)
HIDDEN_DRUGS = N_(
    "Relationship and action for study drugs not given in every arm are not shown per drug "
    "in this session (they would reveal the arm); 'Related to any study drug' and 'Any study "
    "drug withdrawn' include them. The exposure summary shows only drugs given in every arm."
)
OPEN_EVENTS = N_(
    "Open session: every number is pooled and no sheet names an arm. The events themselves "
    "are listed as reported: an event tied to a treatment that only one arm receives (an "
    "infusion reaction when only one arm is infused) implies that arm for the subject "
    "concerned, as its pooled count does for the arm. Such events are kept, not hidden: "
    "the open session must see every safety signal."
)
# The checksum module's definition as the cover shows it (its docstring, words joined by single
# spaces): a msgid, so that it reads in the workbook's language; English is the docstring.
CHECKSUM_DEFINITION = N_(
    "The data checksum printed on the DSMB workbook's cover. Definition (version "
    "1). Four sections, each the SHA-256 of its records, one record per line, each "
    "line the compact JSON array of the record's values (UTF-8, keys of JSON "
    "objects sorted, dates and date-times in ISO 8601, no surrogate database ids): "
    "- study: [study id, NCT id, title], the data cut-off and the TEAE rule, then "
    "each arm [label, code, comparator flag] in display order and each drug [name, "
    "key]; - subjects: every subject of the study [usubjid, subjid, site code, arm "
    "label, arm code, sex, age, weight, consent, randomization and end-of-study "
    "dates], by usubjid; - exposure: every dosing record starting on or before the "
    "cut-off [usubjid, drug name, dose, unit, dose in mg, route, frequency, start, "
    "end], by usubjid, drug, start; - events: every adverse event in the report's "
    "scope (not a draft, analysis date on or before the cut-off) with its clinical "
    "fields (EVENT_FIELDS below), in listing order (site code, usubjid, onset as "
    "recorded, AESEQ; text compared byte-wise). The checksum is the SHA-256 of the "
    'text "pv-tracker data v1\\n" followed by one line "<section> <hex digest>" per '
    "section in the order above. It does not depend on the session, the masking or "
    "the generation time: two workbooks of the same data and cut-off carry the same "
    "checksum, and any change to the data in scope changes it. Audit fields "
    "(status, version, who and when) are left out: a review step does not change "
    "the data."
)
OPEN_NO_LISTINGS = N_(
    "Open session without patient-level listings: the tables and charts only, pooled across "
    "arms. The study's DSMB charter setting does not allow listings of individual patients "
    "in the open session."
)
OPEN_LISTINGS = N_(
    "Patient-level listings are included in this open session because the study's DSMB "
    "charter setting allows them."
)
VALUE_WIDTH = 100
HIGHLIGHT = N_("Listings: serious events are highlighted red, grade >= 3 (or severe) orange.")


def _row(ws: Worksheet, key: str, value: Any, style: str | None = None) -> None:
    """A key and its value; a long value wraps in a row tall enough for it."""
    cell = safe_cell(ws, value)
    if isinstance(value, datetime):
        st.apply(cell, "datetime")
    elif isinstance(value, date):
        st.apply(cell, "date")
    else:
        st.apply(cell, (style or "wrap") + ("!q" if cell.quotePrefix else ""))
        n = lines(str(value), VALUE_WIDTH) if (style or "wrap") == "wrap" else 1
        if n > 1:
            ws.row_dimensions[_next_row(ws)].height = n * LINE_PT
    _count(ws)
    ws.append([st.apply(safe_cell(ws, key), "key"), cell])


def _next_row(ws: Worksheet) -> int:
    return getattr(ws, "_pv_rows", 0) + 1


def _count(ws: Worksheet, n: int = 1) -> None:
    ws._pv_rows = getattr(ws, "_pv_rows", 0) + n  # type: ignore[attr-defined]


def write_cover(
    ws: Worksheet,
    *,
    study: Any,
    view: ArmView,
    tables: Sequence[Table],
    rule: TEAERule,
    checksum: Checksum,
    generated: datetime,
    cutoff: date,
    session_text: str,
    notes: Sequence[str],
    pooled_drugs: bool,
    printed: tuple[str, str] = ("", ""),
    listings: bool = True,
    checksum_sheet: str | None = None,
) -> None:
    """The cover; `printed`: the page header and footer texts; `listings`: whether the
    workbook lists patients (always in the closed session); `checksum_sheet`: the name of
    the last sheet, which defines the checksum."""
    ws.column_dimensions["A"].width = 26
    ws.column_dimensions["B"].width = VALUE_WIDTH
    print_setup(ws, *printed, width=26 + VALUE_WIDTH)
    ws.append([st.apply(safe_cell(ws, _("DSMB safety report")), "title")])
    ws.append([st.apply(safe_cell(ws, session_text), "subtitle")])
    ws.append([])
    _count(ws, 3)
    _row(ws, _("Study"), study.id)
    _row(ws, _("Title"), study.official_title or study.title)
    _row(ws, _("NCT ID"), study.nct_id or "")
    _row(ws, _("Sponsor"), study.sponsor or "")
    _row(ws, _("Data cut-off"), cutoff)
    _row(ws, _("Generated at (UTC)"), generated)
    _row(ws, _("Session"), session_text)
    if not view.by_arm:
        shown = (
            _("Included (DSMB charter setting)") if listings else _("None (tables and charts only)")
        )
        _row(ws, _("Patient-level listings"), shown)
    _row(ws, _("Software"), f"pv-tracker {pv.__version__}")
    _row(ws, _("Data checksum (SHA-256)"), checksum.hexdigest(), "text")
    counts = checksum.counts
    _row(
        ws,
        _("Checksum covers"),
        _(
            "%(subjects)s subjects, %(exposure)s dosing records and %(events)s adverse events "
            "in scope (definition on the last sheet)",
            subjects=counts["subjects"],
            exposure=counts["exposure"],
            events=counts["events"],
        ),
    )
    arms = tables[0].arms
    if view.by_arm:
        for a in arms:
            if a.is_control and not view.masked:
                text = _(
                    "%(arm)s (comparator): N = %(n)s in the safety population",
                    arm=view.label(a.label),
                    n=a.N,
                )
            else:
                text = _(
                    "%(arm)s: N = %(n)s in the safety population", arm=view.label(a.label), n=a.N
                )
            _row(ws, _("Arm"), text)
    else:
        _row(
            ws,
            _("Arms"),
            _("Pooled: N = %(n)s in the safety population", n=sum(a.N for a in arms)),
        )
    _row(
        ws,
        _("Population"),
        _(
            "Safety population: subjects assigned to an arm who received any "
            "study drug. The same denominators are used on every sheet."
        ),
    )
    _row(ws, _("TEAE rule"), rule.footnote())
    ws.append([])
    _count(ws)
    extra = [_(PARTIAL_DATES), _(HIGHLIGHT)]
    if view.masked:
        extra.append(
            _(
                "Arms are coded (Arm A, Arm B, ...) on every sheet, the same code for the same "
                "arm in every report of this study."
            )
        )
    if pooled_drugs:
        extra.append(_(HIDDEN_DRUGS))
    if not view.by_arm and listings:
        extra.append(_(OPEN_LISTINGS))
        extra.append(_(OPEN_EVENTS))
    elif not view.by_arm:
        extra.append(_(OPEN_NO_LISTINGS))
    for note in [*extra, *notes]:
        shown = view.text(note)
        if shown:
            _row(ws, _("Note"), shown)
    if checksum_sheet:
        _row(
            ws,
            _("Checksum definition"),
            _("On the last sheet, '%(sheet)s'.", sheet=checksum_sheet),
        )


def write_checksum(ws: Worksheet, checksum: Checksum, printed: tuple[str, str] = ("", "")) -> None:
    """The last sheet: the data checksum, what it covers and its definition (issue 14: the
    definition no longer takes the cover's second page)."""
    ws.column_dimensions["A"].width = 26
    ws.column_dimensions["B"].width = VALUE_WIDTH
    print_setup(ws, *printed, width=26 + VALUE_WIDTH)
    ws.append([st.apply(safe_cell(ws, _("Data checksum")), "title")])
    ws.append([])
    _count(ws, 2)
    _row(ws, _("Data checksum (SHA-256)"), checksum.hexdigest(), "text")
    counts = checksum.counts
    _row(
        ws,
        _("Checksum covers"),
        _(
            "%(subjects)s subjects, %(exposure)s dosing records and %(events)s adverse events "
            "in scope (definition below)",
            subjects=counts["subjects"],
            exposure=counts["exposure"],
            events=counts["events"],
        ),
    )
    definition = " ".join(checksum_doc.__doc__.split()) if checksum_doc.__doc__ else ""
    if definition == CHECKSUM_DEFINITION:  # else the docstring changed: shown as it is
        definition = _(CHECKSUM_DEFINITION)
    _row(ws, _("Checksum definition"), definition)


def write_contents(
    ws: Worksheet,
    entries: Sequence[tuple[str, str, int | None]],
    printed: tuple[str, str] = ("", ""),
) -> None:
    """One row per sheet: its name (a link to it), what it holds and its data rows."""
    ws.column_dimensions["A"].width = 32
    ws.column_dimensions["B"].width = 100
    ws.column_dimensions["C"].width = 10
    ws.freeze_panes = "A3"
    print_setup(ws, *printed, width=32 + 100 + 10)
    ws.append([st.apply(safe_cell(ws, _("Contents")), "title")])
    heads = (_("Sheet"), pgettext("column of the contents sheet", "Contents"), _("Rows"))
    ws.append([st.apply(safe_cell(ws, h), "header") for h in heads])
    for name, description, rows in entries:
        link = st.apply(safe_cell(ws, name), "link")
        quoted = name.replace("'", "''")
        link.hyperlink = Hyperlink(ref="", location=f"'{quoted}'!A1", display=name)
        count = st.apply(safe_cell(ws, rows), "int")
        ws.append([link, st.apply(safe_cell(ws, description), "wrap"), count])
