"""One analysis `Table` as a worksheet: numbers as numbers, rounded only by cell formats.

Per arm column (closed session: each arm and Total; open session: Total only):
incidence tables show n, % and events; AET05 shows n, patient-years, the rate per 100
patient-years and its 95% CI. In the closed session each arm is then compared with the
control arm (risk difference in percentage points or incidence rate ratio, 95% CI,
p-value), as the analysis layer computed them. The first data row holds the safety
population N of each column, the same N as the analysis tables everywhere.

Every comparative p-value is marked: its header carries "*" and the first footnote says
"* p-values are nominal, unadjusted for multiplicity." With no events in one arm the rate
ratio's one-sided bound is printed in its limit column and labelled in a "One-sided
bound" column
(Cell.irr_bound_side). Descriptive tables (DMT01, EXT01: rows with Row.stat) show per arm
n, the statistic (or the % of a count row) and its second value (SD, or the upper of
Q1-Q3 / min-max). Zeros print "0" (styles.DEC1_FORMAT), footnotes are merged text rows.
"""

from __future__ import annotations

from typing import Any

from openpyxl.worksheet.worksheet import Worksheet

from pv.analysis.api import COMPARISON_FOOTNOTE
from pv.analysis.table import POPULATION, TOTAL, Cell, Row, Table
from pv.exports.arms import ArmView
from pv.exports.styles import StyleBook
from pv.exports.xlsx_layout import Column
from pv.exports.xlsx_stream import SheetStream
from pv.i18n import N_, pgettext
from pv.i18n import gettext as _

NO_CONTROL = N_("No control arm: comparisons are not shown.")
# (header, number format, Cell attribute); headers are msgids ("n" and "%" stay as they are).
INCIDENCE = (("n", "int", "n"), ("%", "dec1", "pct"), (N_("Events"), "int", "events"))
COUNTS = INCIDENCE[:2]
RATES = (
    ("n", "int", "n"),
    (N_("Patient-years"), "dec1", "pyears"),
    (N_("Rate per 100 PY"), "dec1", "rate"),
    (N_("95% CI lower"), "dec1", "rate_low"),
    (N_("95% CI upper"), "dec1", "rate_high"),
)
RATE_EVENTS = ((N_("Events"), "int", "events"), *RATES[1:])  # AET05_ALL: all occurrences
P_HEADER = N_("p-value *")
NOMINAL = N_("* p-values are nominal, unadjusted for multiplicity.")
RISK_DIFF = (
    (N_("RD (%)"), "dec1", "rd"),
    (N_("95% CI lower"), "dec1", "rd_low"),
    (N_("95% CI upper"), "dec1", "rd_high"),
    (P_HEADER, "p", "p_value"),
)
RATE_RATIO = (
    (N_("IRR"), "dec2", "irr"),
    (N_("95% CI lower"), "dec2", "irr_low"),
    (N_("95% CI upper"), "dec2", "irr_high"),
    (N_("One-sided bound"), "text", "bound"),
    (P_HEADER, "p", "p_value"),
)
RATE_RATIO_NO_BOUND = tuple(m for m in RATE_RATIO if m[2] != "bound")
DESCRIPTIVE = (
    ("n", "int", "n"),
    # "% / statistic", not "% or ...": "% o" reads as a printf conversion to the catalog tools
    (N_("% / statistic"), "dec1", "stat1"),
    (N_("SD or upper"), "dec1", "stat2"),
)
UNTRANSLATED = ("n", "%")


def _head(text: str) -> str:
    return text if text in UNTRANSLATED else _(text)


PERCENT_POINTS = {"rd", "rd_low", "rd_high"}


def is_rate_table(table: Table) -> bool:
    return any(c.pyears is not None for r in table.rows for c in r.cells.values())


def is_descriptive(table: Table) -> bool:
    """DMT01, EXT01 (rows of descriptive statistics) and DST01 (counts, no events)."""
    return any(getattr(r, "stat", None) for r in table.rows) or (
        not is_rate_table(table)
        and not any(c.events is not None for r in table.rows for c in r.cells.values())
        and table.name in DESCRIPTIVE_TABLES
    )


DESCRIPTIVE_TABLES = ("DMT01", "EXT01", "DST01")


def layout(table: Table, view: ArmView) -> tuple[list[tuple[str, str, tuple]], list[str]]:
    """[(column key, group header, measures)] and the arm columns compared with control."""
    rates = is_rate_table(table)
    if rates:
        measures = RATE_EVENTS if getattr(table, "rate_of", "subjects") == "events" else RATES
    elif any(getattr(r, "stat", None) for r in table.rows):
        measures = DESCRIPTIVE
    elif not any(c.events is not None for r in table.rows for c in r.cells.values()):
        measures = COUNTS  # subjects only, no events counted (DST01, DTHT01)
    else:
        measures = INCIDENCE
    total_n = table.total_N
    groups: list[tuple[str, str, tuple]] = []
    if view.by_arm:
        for a in table.arms:
            groups.append((a.label, f"{view.label(a.label)} (N={a.N})", measures))
    groups.append((TOTAL, _("Total (N=%(n)s)", n=total_n), measures))
    compared: list[str] = []
    if view.by_arm and table.control and not is_descriptive(table):
        control = view.label(table.control)
        for a in table.arms:
            if a.label != table.control:
                compared.append(a.label)
                groups.append(
                    (
                        a.label,
                        _("%(arm)s vs %(control)s", arm=view.label(a.label), control=control),
                        (RATE_RATIO if _has_bounds(table) else RATE_RATIO_NO_BOUND)
                        if rates
                        else RISK_DIFF,
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
    groups, compared = layout(table, view)
    has_grade = any(r.grade for r in table.rows)
    if is_descriptive(table):
        label_header = _("Characteristic")
    elif _has_terms(table):
        label_header = _("System organ class / preferred term")
    else:
        label_header = ""
    columns = [Column(label_header, text="label", cap=34, min=24)]
    group_row: list[Any] = [None]
    sub_row: list[Any] = [label_header]
    if has_grade:
        columns.append(Column(_("Grade"), cap=10))
        group_row.append(None)
        sub_row.append(_("Grade"))
    for _key, title, measures in groups:
        for i, (head, fmt, attr) in enumerate(measures):
            if attr == "bound":  # the label of a one-sided bound: wrapped text
                columns.append(Column(_head(head), text="wrap", cap=12, min=9))
            else:
                columns.append(Column(_head(head), number=fmt, cap=9, min=5))
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
        grid=False,
    )
    population: list[Any] = [
        _("Safety population (N)")
        if table.population == _(POPULATION)
        else _("%(population)s (N)", population=table.population)
    ] + ([None] if has_grade else [])
    for key, _title, measures in groups:
        if measures in (RISK_DIFF, RATE_RATIO, RATE_RATIO_NO_BOUND):
            population += [None] * len(measures)
            continue
        # the N under each arm's first column (n; AET05_ALL: its events column)
        population += [_column_n(table, key)] + [None] * (len(measures) - 1)
    stream.add(population, ["label0"] + [None] * (len(population) - 1))
    structured = len({r.row_type for r in table.rows}) > 1
    for row in table.rows:
        values: list[Any] = [row.label] + ([_grade(row)] if has_grade else [])
        stat = getattr(row, "stat", None)
        for key, _title, measures in groups:
            cell = row.cells.get(key)
            for _text, _fmt, attr in measures:
                values.append(_value(cell, attr, stat))
        stream.add(values, [_label_style(row, structured)] + [None] * (len(values) - 1))
    tail = [(_(NOMINAL), "note")] if compared else []
    for note in [*table.footnotes, *table.notes]:
        shown = view.text(note)
        # The table's notes are in the language of the workbook (its language in hand).
        if shown is None or (not view.by_arm and note == _(NO_CONTROL)):
            continue
        if not view.by_arm and note == _(COMPARISON_FOOTNOTE, control=table.control):
            continue
        tail.append((shown, "note"))
    return stream.close(tail)


def _has_bounds(table: Table) -> bool:
    return any(getattr(c, "irr_bound_side", None) for r in table.rows for c in r.cells.values())


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


def _value(cell: Cell | None, attr: str, stat: str | None = None) -> Any:
    if cell is None:
        return None
    if attr == "stat1":  # descriptive tables: the % of a count row, else the statistic
        if stat is None:
            return cell.pct
        return None if stat == "n" or not cell.n else getattr(cell, "value", None)
    if attr == "stat2":
        if stat in ("mean_sd", "q1_q3", "min_max", "range") and cell.n:
            return getattr(cell, "value2", None)
        return None
    if attr == "n" and stat not in (None, "n"):
        return None  # the subjects with a value: on the statistic's "n" row only
    if attr == "bound":
        return _bound(cell)
    value = cell.pct if attr == "pct" else getattr(cell, attr)
    if value is None:
        return None
    if attr in PERCENT_POINTS:
        return value * 100.0
    return value


def _bound(cell: Cell) -> str | None:
    """Which limit is a one-sided bound (no events in one arm) and its level: "97.5% upper"
    (under the header "One-sided bound")."""
    side = getattr(cell, "irr_bound_side", None)
    if side is None:
        return None
    level = f"{round(100 * (getattr(cell, 'irr_bound_level', None) or 0.975), 6):g}"
    if side == "upper":
        return _("%(level)s%% upper", level=level)
    return _("%(level)s%% lower", level=level)
