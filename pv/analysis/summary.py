"""Descriptive summaries by arm (DMT01, EXT01, DST01): tern's analyze_vars / summarize_vars.

A continuous variable gives a variable row (`soc`-type, the variable label, no cells) and
one row per statistic (`term`-type, Row.stat set, the variable label in `soc`):

    n          Cell.n = subjects with a value
    Mean (SD)  Cell.value = mean, Cell.value2 = SD (n - 1 denominator; None when n < 2)
    Median     Cell.value
    Q1 - Q3    Cell.value, Cell.value2: quartiles by R's quantile type 2 (tern's
               control_analyze_vars default, SAS PCTLDEF=5)
    Min - Max  Cell.value, Cell.value2

A categorical variable gives the variable row and one count row per level (n, N and the
percentage as every count table). Rows are built per arm and for the Total column; there
are no comparisons between arms.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pv.analysis.table import TOTAL, ArmInfo, Cell, Row
from pv.i18n import N_
from pv.i18n import gettext as _

STATS = (
    ("n", N_("n")),
    ("mean_sd", N_("Mean (SD)")),
    ("median", N_("Median")),
    ("q1_q3", N_("Q1 - Q3")),
    ("min_max", N_("Min - Max")),
)


def describe(values: np.ndarray) -> dict[str, tuple[float | None, float | None]]:
    """{stat: (value, value2)} of the finite values (n as value)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return {"n": (0, None), **{k: (None, None) for k, _l in STATS[1:]}}
    q1, q3 = np.quantile(x, [0.25, 0.75], method="averaged_inverted_cdf")  # R type 2
    return {
        "n": (n, None),
        "mean_sd": (float(x.mean()), float(x.std(ddof=1)) if n > 1 else None),
        "median": (float(np.median(x)), None),
        "q1_q3": (float(q1), float(q3)),
        "min_max": (float(x.min()), float(x.max())),
    }


def columns(arms: Sequence[ArmInfo], arm_of: np.ndarray) -> list[tuple[str, np.ndarray, int]]:
    """(column key, mask over the subjects, N) per arm and for the Total column."""
    out = [(a.label, arm_of == i, a.N) for i, a in enumerate(arms)]
    return out + [(TOTAL, arm_of >= 0, sum(a.N for a in arms))]


def variable_row(label: str) -> Row:
    return Row("soc", label, soc=label)


def continuous(
    arms: Sequence[ArmInfo], arm_of: np.ndarray, values: np.ndarray, label: str
) -> list[Row]:
    """The variable row and the statistic rows of one continuous variable. `arm_of` is
    each subject's arm position (-1: not in the population), `values` their values
    (NaN: none)."""
    values = np.asarray(values, dtype=float)
    rows = [variable_row(label)]
    described = {key: describe(values[mask]) for key, mask, _n in columns(arms, arm_of)}
    big_n = {key: n for key, _m, n in columns(arms, arm_of)}
    for stat, stat_label in STATS:
        row = Row("term", _(stat_label), soc=label, term=_(stat_label), indent=1, stat=stat)
        for key, d in described.items():
            value, value2 = d[stat]
            n = int(d["n"][0] or 0)
            row.cells[key] = Cell(
                n=n, N=big_n[key], value=None if stat == "n" else value, value2=value2
            )
        rows.append(row)
    return rows


def categorical(
    arms: Sequence[ArmInfo],
    arm_of: np.ndarray,
    codes: np.ndarray,
    labels: Sequence[str],
    label: str,
    *,
    keep_zero: Sequence[bool] | None = None,
    header: bool = True,
) -> list[Row]:
    """The variable row and one row per level: subjects n / N of each arm. Levels with no
    subject in any column are left out unless `keep_zero` says otherwise."""
    codes = np.asarray(codes, dtype=np.int64)
    rows = [variable_row(label)] if header else []
    cols = columns(arms, arm_of)
    for level, level_label in enumerate(labels):
        hit = codes == level
        counts = {key: int((hit & mask).sum()) for key, mask, _n in cols}
        if not any(counts.values()) and not (keep_zero and keep_zero[level]):
            continue
        row = Row("term", level_label, soc=label, term=level_label, indent=1 if header else 0)
        for key, _mask, n in cols:
            row.cells[key] = Cell(n=counts[key], N=n)
        rows.append(row)
    return rows


def count_row(
    arms: Sequence[ArmInfo], arm_of: np.ndarray, hit: np.ndarray, label: str, *,
    soc: str | None = None, indent: int = 0, row_type: str = "term",
) -> Row:  # fmt: skip
    """One row: subjects with `hit` per arm and in total."""
    row = Row(row_type, label, soc=soc, term=label, indent=indent)
    for key, mask, n in columns(arms, arm_of):
        row.cells[key] = Cell(n=int((hit & mask).sum()), N=n)
    return row


def parse_days(values: object) -> np.ndarray:
    """Day numbers since 1970-01-01 (NaN when missing) from dates as the driver returns
    them (str on SQLite, date on PostgreSQL); partial ISO dates ("2024-05") are NaN."""
    text = pd.Series(values, dtype=object).map(lambda v: None if v is None else str(v)[:10])
    full = text.where(text.str.len() == 10)
    moment = pd.to_datetime(full, errors="coerce", format="%Y-%m-%d")
    return ((moment - pd.Timestamp(0)).dt.days).to_numpy(dtype=float)


def text(value: object) -> str:
    """Stripped text; "" for None or NaN (a missing value as the loader returns it)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()
