"""One analysis `Table` as a worksheet: numbers as numbers, rounded only by cell formats.

Per arm column (closed session: each arm and Total; open session: Total only):
incidence tables show n, % and events; AET05 shows n, patient-years, the rate per 100
patient-years and its 95% CI. In the closed session each arm is then compared with the
control arm (risk difference in percentage points or incidence rate ratio, 95% CI,
p-value), as the analysis layer computed them. The first data row holds the safety
population N of each column, the same N as the analysis tables everywhere.
"""

from __future__ import annotations

from typing import Any

from openpyxl.worksheet.worksheet import Worksheet

from pv.analysis.api import COMPARISON_FOOTNOTE
from pv.analysis.table import TOTAL, Cell, Row, Table
from pv.exports.arms import ArmView
from pv.exports.styles import StyleBook
from pv.exports.xlsx_layout import Column
from pv.exports.xlsx_stream import SheetStream
from pv.i18n import N_, pgettext
from pv.i18n import gettext as _

NO_CONTROL = N_("No control arm: comparisons are not shown.")
# (header, number format, Cell attribute); headers are msgids ("n" and "%" stay as they are).
INCIDENCE = (("n", "int", "n"), ("%", "dec1", "pct"), (N_("Events"), "int", "events"))
RATES = (
    ("n", "int", "n"),
    (N_("Patient-years"), "dec1", "pyears"),
    (N_("Rate per 100 PY"), "dec1", "rate"),
    (N_("95% CI lower"), "dec1", "rate_low"),
    (N_("95% CI upper"), "dec1", "rate_high"),
)
RISK_DIFF = (
    (N_("RD (%)"), "dec1", "rd"),
    (N_("95% CI lower"), "dec1", "rd_low"),
    (N_("95% CI upper"), "dec1", "rd_high"),
    (N_("p-value"), "p", "p_value"),
)
RATE_RATIO = (
    (N_("IRR"), "dec2", "irr"),
    (N_("95% CI lower"), "dec2", "irr_low"),
    (N_("95% CI upper"), "dec2", "irr_high"),
    (N_("p-value"), "p", "p_value"),
)
UNTRANSLATED = ("n", "%")


def _head(text: str) -> str:
    return text if text in UNTRANSLATED else _(text)


PERCENT_POINTS = {"rd", "rd_low", "rd_high"}


def is_rate_table(table: Table) -> bool:
    return any(c.pyears is not None for r in table.rows for c in r.cells.values())


def layout(table: Table, view: ArmView) -> tuple[list[tuple[str, str, tuple]], list[str]]:
    """[(column key, group header, measures)] and the arm columns compared with control."""
    rates = is_rate_table(table)
    measures = RATES if rates else INCIDENCE
    total_n = table.total_N
    groups: list[tuple[str, str, tuple]] = []
    if view.by_arm:
        for a in table.arms:
            groups.append((a.label, f"{view.label(a.label)} (N={a.N})", measures))
    groups.append((TOTAL, _("Total (N=%(n)s)", n=total_n), measures))
    compared: list[str] = []
    if view.by_arm and table.control:
        control = view.label(table.control)
        for a in table.arms:
            if a.label != table.control:
                compared.append(a.label)
                groups.append(
                    (
                        a.label,
                        _("%(arm)s vs %(control)s", arm=view.label(a.label), control=control),
                        RATE_RATIO if rates else RISK_DIFF,
                    )
                )
    return groups, compared


def write_table(
    ws: Worksheet,
    book: StyleBook,
    table: Table,
    view: ArmView,
    *,
    subtitle: str,
    print_header: str,
    print_footer: str,
) -> int:
    """Write the table; returns the number of data rows."""
    groups, _compared = layout(table, view)
    has_grade = any(r.grade for r in table.rows)
    label_header = _("System organ class / preferred term") if _has_terms(table) else ""
    columns = [Column(label_header, text="label", cap=48, min=24)]
    group_row: list[Any] = [None]
    sub_row: list[Any] = [label_header]
    if has_grade:
        columns.append(Column(_("Grade"), cap=10))
        group_row.append(None)
        sub_row.append(_("Grade"))
    for _key, title, measures in groups:
        for i, (head, fmt, _attr) in enumerate(measures):
            columns.append(Column(_head(head), number=fmt, cap=12, min=7))
            group_row.append(title if i == 0 else None)
            sub_row.append(_head(head))
    stream = SheetStream(
        ws,
        book,
        columns,
        title=f"{table.name}: {table.title}",
        subtitle=subtitle,
        headers=[group_row, sub_row],
        print_header=print_header,
        print_footer=print_footer,
    )
    population: list[Any] = [_("Safety population (N)")] + ([None] if has_grade else [])
    for key, _title, measures in groups:
        for _text, _fmt, attr in measures:
            population.append(_column_n(table, key) if attr == "n" else None)
    stream.add(population, ["label0"] + [None] * (len(population) - 1))
    structured = len({r.row_type for r in table.rows}) > 1
    for row in table.rows:
        values: list[Any] = [row.label] + ([_grade(row)] if has_grade else [])
        for key, _title, measures in groups:
            cell = row.cells.get(key)
            for _text, _fmt, attr in measures:
                values.append(_value(cell, attr))
        stream.add(values, [_label_style(row, structured)] + [None] * (len(values) - 1))
    tail = []
    for note in [*table.footnotes, *table.notes]:
        shown = view.text(note)
        # The table's notes are in the language of the workbook (its language in hand).
        if shown is None or (not view.by_arm and note == _(NO_CONTROL)):
            continue
        if not view.by_arm and note == _(COMPARISON_FOOTNOTE, control=table.control):
            continue
        tail.append((shown, "note"))
    return stream.close(tail)


def _has_terms(table: Table) -> bool:
    return any(r.row_type in ("soc", "term") for r in table.rows)


def _column_n(table: Table, key: str) -> int:
    if key == TOTAL:
        return table.total_N
    return next(a.N for a in table.arms if a.label == key)


def _grade(row: Row) -> str | None:
    if row.grade in (None, "Any"):
        return pgettext("grade", "Any") if row.grade else None
    if row.grade == "Missing":
        return pgettext("grade", "Missing")
    return row.grade


def _label_style(row: Row, structured: bool) -> str:
    if row.indent >= 2:
        return "label2"
    if row.indent == 1:
        return "label1"
    if row.row_type == "soc" or (structured and row.row_type == "overall"):
        return "label0"
    return "label"


def _value(cell: Cell | None, attr: str) -> Any:
    if cell is None:
        return None
    value = cell.pct if attr == "pct" else getattr(cell, attr)
    if value is None:
        return None
    if attr in PERCENT_POINTS:
        return value * 100.0
    return value
