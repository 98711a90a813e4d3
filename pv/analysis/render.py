"""Renderings of a Table: a clinical-style text table, long CSV and JSON.

Only here are numbers rounded (percentages to one decimal, differences and rates to one
decimal on the percent scale, p-values to three decimals): everything upstream is exact.
"""

from __future__ import annotations

import io
import json
import math
import textwrap
import unicodedata
from dataclasses import dataclass, field

from pv import csvsafe, i18n
from pv.analysis.table import CSV_COLUMNS, Cell, Row, Table
from pv.i18n import gettext as _

LABEL_WIDTH = 44


BOM = "\ufeff"


def to_json(table: Table) -> str:
    return json.dumps(table.to_dict(), indent=2, ensure_ascii=False)


def to_csv(tables: list[Table], *, bom: bool = False) -> str:
    """Long CSV; with `bom` it starts with a byte-order mark, so that Excel reads the
    UTF-8 (Chinese labels and terms) right: every CSV offered as a download has one."""
    out = io.StringIO()
    if bom:
        out.write(BOM)
    # pv.csvsafe: a text cell (an arm label, a term) is never a spreadsheet formula
    writer = csvsafe.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for table in tables:
        for rec in table.long_records():
            writer.writerow({k: _csv_value(k, rec[k]) for k in CSV_COLUMNS})
    return out.getvalue()


def _csv_value(key: str, value: object) -> object:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if key == "pct":
        return f"{value:.1f}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def pct(c: Cell) -> str:
    if c.n is None:
        return ""
    if c.n == 0 or not c.N:
        return "0"
    return f"{c.n} ({c.pct:.1f}%)"


def p_text(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _num(v: float | None, scale: float = 1.0) -> str:
    return "" if v is None or not math.isfinite(v) else f"{v * scale:.1f}"


def _ratio(v: float | None) -> str:
    if v is None:
        return ""
    return "inf" if math.isinf(v) else f"{v:.2f}"


def _incidence(c: Cell) -> str:
    text = pct(c)
    return f"{text} [{c.events}]" if c.events is not None and c.n else text


def _rate(c: Cell, events: bool = False) -> str:
    if c.pyears is None:
        return ""
    return _(
        "%(n)s / %(pyears)s PY  %(rate)s (%(low)s, %(high)s)",
        n=c.events if events else c.n,
        pyears=f"{c.pyears:.1f}",
        rate=_num(c.rate),
        low=_num(c.rate_low),
        high=_num(c.rate_high),
    )


def _stat_num(v: float | None) -> str:
    """One decimal; "NA" where the statistic is not defined (tern: an SD of one value)."""
    return "NA" if v is None or not math.isfinite(v) else f"{v:.1f}"


def stat_text(stat: str, c: Cell) -> str:
    """A descriptive statistic in tern's formats: n "xx", mean_sd "xx.x (xx.x)", median and
    sum "xx.x", q1_q3 / min_max "xx.x - xx.x"; empty where no subject has a value."""
    if stat == "n":
        return "" if c.n is None else str(c.n)
    if not c.n:
        return ""
    if stat == "mean_sd":
        return f"{_stat_num(c.value)} ({_stat_num(c.value2)})"
    if stat in ("q1_q3", "min_max"):
        return f"{_stat_num(c.value)} - {_stat_num(c.value2)}"
    return _stat_num(c.value)


def irr_text(c: Cell) -> str:
    """The rate ratio and its CI; with no events in one arm the ratio (0, or NE: not
    estimable) and its labelled one-sided bound (Cell.irr_bound_side)."""
    if c.irr_bound_side is not None:
        level = f"{round(100 * (c.irr_bound_level or 0.975), 6):g}"
        if c.irr_bound_side == "upper":
            return _("%(irr)s (one-sided %(level)s%% upper bound %(bound)s)",
                     irr=_ratio(c.irr), level=level, bound=_ratio(c.irr_high))  # fmt: skip
        return _("NE (one-sided %(level)s%% lower bound %(bound)s)",
                 level=level, bound=_ratio(c.irr_low))  # fmt: skip
    if c.irr is None:
        return ""
    return f"{_ratio(c.irr)} ({_ratio(c.irr_low)}, {_ratio(c.irr_high)})"


def _comparison(c: Cell, rates: bool) -> str:
    if rates:
        return irr_text(c)
    if c.rd is None:
        return ""
    return f"{_num(c.rd, 100)} ({_num(c.rd_low, 100)}, {_num(c.rd_high, 100)})"


@dataclass
class Display:
    """A table as rounded display strings: what the text table and the web page show."""

    headers: list[str]
    unit: str
    rows: list[tuple[Row, list[str]]]
    # AET05: time to first event of the Any TEAE and AESI rows (a heading, then one line
    # per row): Kaplan-Meier medians with CIs, log-rank p, Cox hazard ratios.
    survival: list[str] = field(default_factory=list)


def display(table: Table) -> Display:
    """The display strings, in the language the table was built in."""
    with i18n.use(table.language):
        return _display(table)


def _display(table: Table) -> Display:
    rates = any(c.pyears is not None for r in table.rows for c in r.cells.values())
    others = [a.label for a in table.arms if table.control and a.label != table.control]
    code = {a.label: a.code for a in table.arms}
    headers = [f"{a.label} (N={a.N})" for a in table.arms] + [_("Total (N=%(n)s)", n=table.total_N)]
    level = f"{round(100 * float(table.params.get('conf_level') or 0.95), 6):g}"
    events = table.rate_of == "events"
    for label in others:
        arm, control = code[label], code[table.control or ""]
        if rates and level != "95":
            head = _("%(arm)s vs %(control)s IRR (%(level)s%% CI)", arm=arm, control=control,
                     level=level)  # fmt: skip
        elif rates:
            head = _("%(arm)s vs %(control)s IRR (95%% CI)", arm=arm, control=control)
        else:
            head = _("%(arm)s vs %(control)s RD %% (95%% CI)", arm=arm, control=control)
        headers += [head, "p"]
    rows = []
    for r in table.rows:
        if r.stat:  # a descriptive statistic (DMT01, EXT01): no comparison
            values = [stat_text(r.stat, r.cells[c]) if c in r.cells else "" for c in table.columns]
            rows.append((r, values + ["", ""] * len(others)))
            continue
        values = [
            (_rate(r.cells[c], events) if rates else _incidence(r.cells[c])) if c in r.cells else ""
            for c in table.columns
        ]
        for o in others:
            c = r.cells.get(o)
            values += [_comparison(c, rates), p_text(c.p_value)] if c else ["", ""]
        rows.append((r, values))
    if not rates:
        unit = _("n (%) [events]")  # No placeholders: the percent signs are literal.
    elif events:
        unit = _("events / patient-years  rate per 100 PY (%(level)s%% CI)", level=level)
    elif level != "95":
        unit = _("n / patient-years  rate per 100 PY (%(level)s%% CI)", level=level)
    else:
        unit = _("n / patient-years  rate per 100 PY (95% CI)")
    if not rates and not any(c.events is not None for r in table.rows for c in r.cells.values()):
        unit = _("n (%)")  # descriptive tables (DMT01, EXT01, DST01) count no events
    return Display(headers, unit, rows, survival_lines(table))


def _days(v: float | None) -> str:
    return _("NR") if v is None else f"{v:g}"  # NR: not reached


def survival_lines(table: Table) -> list[str]:
    """Time to first event (AET05's Any TEAE and AESI rows): per arm the Kaplan-Meier
    median in days with its CI (NR: not reached), the log-rank p and each arm's Cox hazard
    ratio against the control (NE: not estimable). Empty for a pooled table (no km)."""
    rows = [r for r in table.rows if isinstance(r.extra.get("km"), dict)]
    if not rows:
        return []
    level = f"{round(100 * float(table.params.get('conf_level') or 0.95), 6):g}"
    code = {a.label: a.code for a in table.arms}
    lines = [_("Time to first event (days from the first dose): Kaplan-Meier median "
               "(%(level)s%% CI); log-rank p; Cox hazard ratio against the control arm "
               "(%(level)s%% CI).", level=level)]  # fmt: skip
    for r in rows:
        medians = " | ".join(
            f"{label} {_days(km.get('median'))} "
            f"({_days(km.get('median_low'))}, {_days(km.get('median_high'))})"
            for label, km in r.extra["km"].items()
        )
        parts = [medians]
        if r.extra.get("logrank_p") is not None:
            parts.append(_("log-rank p %(p)s", p=p_text(r.extra["logrank_p"])))
        for label, hr in (r.extra.get("cox") or {}).items():
            value = (
                _("NE")
                if not hr
                else f"{_ratio(hr['hr'])} ({_ratio(hr['low'])}, {_ratio(hr['high'])})"
            )
            parts.append(_("HR %(arm)s %(value)s", arm=code.get(label, label), value=value))
        lines.append(f"{r.label}: " + "; ".join(parts))
    return lines


def _width(text: str) -> int:
    """Columns a text takes in a terminal: East Asian wide characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _ljust(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _rjust(text: str, width: int) -> str:
    return " " * (width - _width(text)) + text


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    """textwrap.wrap, and for text with wide characters (Chinese, no spaces between
    words) a wrap by columns that may break between any two characters."""
    if text.isascii():
        return textwrap.wrap(text, width, subsequent_indent=indent)
    lines: list[str] = []
    line = ""
    for ch in text:
        if line and _width(line + ch) > width:
            lines.append(line.rstrip())
            line = indent + ch.lstrip()
        else:
            line += ch
    if line.strip():
        lines.append(line.rstrip())
    return lines


def to_text(table: Table) -> str:
    with i18n.use(table.language):
        return _to_text(table)


def _to_text(table: Table) -> str:
    shown = _display(table)
    heads = shown.headers
    body = [(("  " * r.indent) + r.label, values) for r, values in shown.rows]
    widths = [max([_width(h)] + [_width(v[i]) for _l, v in body]) for i, h in enumerate(heads)]
    lw = min(max([_width(lab) for lab, _v in body] + [20]), LABEL_WIDTH)
    lines = [f"{table.study_id} — {table.name}: {table.title}"]
    lines.append(
        _(
            "%(population)s. Data cut-off: %(cutoff)s. Control arm: %(control)s.",
            population=table.population,
            cutoff=table.cutoff or _("none"),
            control=table.control or _("none"),
        )
    )
    lines.append("")
    top = " " * lw + "  " + "  ".join(_rjust(h, w) for h, w in zip(heads, widths, strict=True))
    rule = "-" * len(top)
    lines += [rule, top, " " * lw + "  " + shown.unit, rule]
    for label, values in body:
        wrapped = _wrap(label, lw, "    ") or [""]
        for extra in wrapped[:-1]:
            lines.append(extra)
        cells = "  ".join(_rjust(v, w) for v, w in zip(values, widths, strict=True))
        lines.append(f"{_ljust(wrapped[-1], lw)}  {cells}")
    lines.append(rule)
    if shown.survival:
        lines += [*shown.survival, rule]
    lines += ["\n".join(_wrap(f, len(rule) if len(rule) > 60 else 100)) for f in table.footnotes]
    lines += table.notes
    return "\n".join(lines) + "\n"
