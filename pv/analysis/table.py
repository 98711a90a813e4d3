"""The Table object every analysis returns, and its plain-data renderings.

A Table is presentation-neutral: counts, denominators and unrounded statistics. The
CLI text, CSV, JSON API and web page all render the same object; percentages are
rounded only there (domain.md §6: "rounded only after differences are taken").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from pv.i18n import N_

# The key of the all-arms column (a stable key, also in the CSV `arm` column); its visible
# header is translated where the table is rendered.
TOTAL = "Total"
POPULATION = N_("Safety population")

CSV_COLUMNS = [
    "table", "row_type", "soc", "term", "grade", "arm", "n", "N", "pct", "events",
    "pyears", "rate", "rate_low", "rate_high", "rd", "rd_low", "rd_high", "p_value",
    # rate ratio against control (AET05, AET05_ALL); with no events in one arm one limit
    # is a one-sided bound: irr_bound_side "upper" (irr 0) or "lower" (irr not estimable)
    "irr", "irr_low", "irr_high", "irr_bound_side",
    # descriptive statistics (DMT01, EXT01): the row's `stat`, its value(s)
    "stat", "value", "value2",
]  # fmt: skip


@dataclass
class ArmInfo:
    id: int | None
    label: str
    code: str
    N: int
    is_control: bool = False


@dataclass
class Cell:
    n: int | None = None
    N: int | None = None
    events: int | None = None
    pyears: float | None = None
    rate: float | None = None  # per 100 patient-years
    rate_low: float | None = None
    rate_high: float | None = None
    rd: float | None = None  # proportion, this arm minus control
    rd_low: float | None = None
    rd_high: float | None = None
    p_value: float | None = None
    irr: float | None = None
    irr_low: float | None = None
    irr_high: float | None = None
    # With no events in one arm (AET05): which limit is a one-sided bound, "upper" (this arm
    # has none: irr 0, irr_high the bound) or "lower" (the control has none: irr None, not
    # estimable, irr_low the bound), and its level (1 - alpha/2, e.g. 0.975); else None.
    irr_bound_side: str | None = None
    irr_bound_level: float | None = None
    # A descriptive statistic (rows with Row.stat set; n is then the subjects with a value):
    # mean_sd: value = mean, value2 = SD; median: value; q1_q3 / min_max / range: value =
    # the lower, value2 = the upper; sum: value.
    value: float | None = None
    value2: float | None = None

    @property
    def pct(self) -> float | None:
        if self.n is None or not self.N:
            return None
        return 100.0 * self.n / self.N


@dataclass
class Row:
    row_type: str  # overall | soc | term
    label: str
    soc: str | None = None
    term: str | None = None
    grade: str | None = None
    cells: dict[str, Cell] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    indent: int = 0
    # Descriptive statistic of a continuous variable (DMT01, EXT01): n | mean_sd | median |
    # q1_q3 | min_max | sum; None for a count row. The variable is in `soc`.
    stat: str | None = None


@dataclass
class Table:
    name: str
    title: str
    study_id: str
    arms: list[ArmInfo]
    control: str | None
    rows: list[Row]
    footnotes: list[str]
    cutoff: date | None
    params: dict[str, Any]
    population: str = POPULATION
    generated_at: datetime | None = None
    notes: list[str] = field(default_factory=list)
    # The language its texts were built in (titles, labels, footnotes; not the data).
    language: str = "en"
    # Set by pv.analysis.api.pooled (a blinded reader): the arms are gone, this is their N.
    pooled_N: int | None = None
    # What a rate counts (AET05, AET05_ALL): "subjects" (first occurrence) or "events".
    rate_of: str = "subjects"

    @property
    def columns(self) -> list[str]:
        return [a.label for a in self.arms] + [TOTAL]

    @property
    def total_N(self) -> int:
        """N of the Total column: the safety population of every arm."""
        return self.pooled_N if self.pooled_N is not None else sum(a.N for a in self.arms)

    def row(self, label: str, soc: str | None = None, grade: str | None = None) -> Row:
        """The first row with this label (and SOC / grade when given); KeyError if none."""
        for r in self.rows:
            if r.label == label and (soc is None or r.soc == soc) and (grade in (None, r.grade)):
                return r
        raise KeyError(label)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "study_id": self.study_id,
            "population": self.population,
            "language": self.language,
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "generated_at": self.generated_at.isoformat() if self.generated_at else None,
            "control": self.control,
            "pooled": self.pooled_N is not None,
            "rate_of": self.rate_of,
            "total_N": self.total_N,
            "arms": [asdict(a) for a in self.arms],
            "columns": self.columns,
            "params": _clean(self.params),
            "footnotes": list(self.footnotes),
            "notes": list(self.notes),
            "rows": [
                {
                    "row_type": r.row_type,
                    "label": r.label,
                    "soc": r.soc,
                    "term": r.term,
                    "grade": r.grade,
                    "indent": r.indent,
                    "stat": r.stat,
                    "cells": {k: _clean({**asdict(c), "pct": c.pct}) for k, c in r.cells.items()},
                    "extra": _clean(r.extra),
                }
                for r in self.rows
            ],
        }

    def long_records(self) -> list[dict[str, Any]]:
        """One record per (row, arm column), with the CSV columns (numbers unrounded)."""
        out = []
        for r in self.rows:
            for col in self.columns:
                c = r.cells.get(col)
                if c is None:
                    continue
                out.append(
                    {
                        "table": self.name,
                        "row_type": r.row_type,
                        "soc": r.soc,
                        "term": r.term,
                        "grade": r.grade,
                        "arm": col,
                        "n": c.n,
                        "N": c.N,
                        "pct": c.pct,
                        "events": c.events,
                        "pyears": c.pyears,
                        "rate": c.rate,
                        "rate_low": c.rate_low,
                        "rate_high": c.rate_high,
                        "rd": c.rd,
                        "rd_low": c.rd_low,
                        "rd_high": c.rd_high,
                        "p_value": c.p_value,
                        "irr": c.irr,
                        "irr_low": c.irr_low,
                        "irr_high": c.irr_high,
                        "irr_bound_side": c.irr_bound_side,
                        "stat": r.stat,
                        "value": c.value,
                        "value2": c.value2,
                    }
                )
        return out


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become None, dates become ISO strings, numpy scalars plain."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
