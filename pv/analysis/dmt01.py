"""DMT01: demographics and baseline characteristics, per arm and in total.

Follows chevron's DMT01 (dmt01_main: tern's analyze_vars on AGE, AGEGR1, SEX, ETHNIC,
RACE, ...; for a numeric variable n, Mean (SD), Median, Min - Max; for a factor n (%)).
pre: the safety population (the denominators of every other table: randomized or
assigned to an arm and dosed with a study drug) with its DM baseline columns. count: per
arm and in total, for age, weight, height and BMI (weight / height^2, kg/m2) the
statistics n, Mean (SD), Median, Q1 - Q3 (R quantile type 2, tern's default), Min - Max;
for age group, sex and race the subjects n (%) per level. post: rows in that order, a
"Missing" level only where a subject has no value. Age groups: parameter `age_groups`,
cut points in years, default "65,75" (<65, 65-74, >=75, as ICH E7 and FDA's older-adult
bands). No comparison between arms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pv.analysis import summary
from pv.analysis.counting import Context
from pv.analysis.table import Row, Table
from pv.i18n import N_
from pv.i18n import gettext as _

NAME = "DMT01"
TITLE = N_("Demographics and baseline characteristics")
# No arm is compared with another: no comparison columns or method footnotes.
DESCRIPTIVE = True
COLUMNS: frozenset[str] = frozenset()  # subject columns only (every load carries them)
SEX = {"F": N_("Female"), "M": N_("Male"), "U": N_("Unknown")}
MISSING = N_("Missing")


def age_bands(value: object) -> list[int]:
    """Cut points in years, ascending, from "65,75" or a list; TableError otherwise."""
    from pv.analysis.api import TableError

    if value is None or (isinstance(value, str) and not value.strip()):
        value = "65,75"
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    try:
        cuts = [int(str(v).strip()) for v in items]
    except ValueError:
        cuts = []
    if not cuts or cuts != sorted(set(cuts)) or cuts[0] <= 0:
        raise TableError(
            _(
                "age_groups: %(value)s is not a list of ascending ages in years, e.g. 65,75",
                value=repr(value),
            )
        )
    return cuts


def _age_group_labels(cuts: list[int]) -> list[str]:
    labels = [f"<{cuts[0]}"]
    labels += [f"{lo}-{hi - 1}" for lo, hi in zip(cuts, cuts[1:], strict=False)]
    return labels + [f">={cuts[-1]}"]


def build(ctx: Context) -> Table:
    sj = ctx.data.subjects
    arm_of = np.where(sj["safety"].to_numpy(bool), sj["arm"].to_numpy(np.int64), -1)
    arms = ctx.arms
    age = pd.to_numeric(sj["age"], errors="coerce").to_numpy(dtype=float)
    weight = pd.to_numeric(sj["weight_kg"], errors="coerce").to_numpy(dtype=float)
    height = pd.to_numeric(sj["height_cm"], errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        bmi = np.where(height > 0, weight / (height / 100.0) ** 2, np.nan)
    rows: list[Row] = []
    rows += summary.continuous(arms, arm_of, age, _("Age (years)"))
    cuts = age_bands(ctx.params.get("age_groups"))
    band = np.searchsorted(np.array(cuts, dtype=float), age, side="right")
    labels = _age_group_labels(cuts)
    band = np.where(np.isnan(age), len(labels), band)
    rows += summary.categorical(
        arms, arm_of, band, [*labels, _(MISSING)], _("Age group (years)"),
        keep_zero=[True] * len(labels) + [False],
    )  # fmt: skip
    sex = [summary.text(v).upper() for v in sj["sex"].astype(object)]
    codes = list(SEX)
    sex_code = np.array([codes.index(v) if v in codes else len(codes) for v in sex])
    rows += summary.categorical(
        arms, arm_of, sex_code, [_(SEX[c]) for c in codes] + [_(MISSING)], _("Sex"),
        keep_zero=[True, True, False, False],
    )  # fmt: skip
    race = [summary.text(v) for v in sj["race"].astype(object)]
    races = sorted({r for r in race if r})
    race_code = np.array([races.index(r) if r else len(races) for r in race], dtype=np.int64)
    rows += summary.categorical(
        arms, arm_of, race_code, [*races, _(MISSING)], _("Race"),
    )  # fmt: skip
    rows += summary.continuous(arms, arm_of, weight, _("Weight (kg)"))
    rows += summary.continuous(arms, arm_of, height, _("Height (cm)"))
    rows += summary.continuous(arms, arm_of, bmi, _("BMI (kg/m2)"))
    return Table(
        name=NAME, title=_(TITLE), study_id=ctx.data.study_id, arms=arms, control=None,
        rows=rows, cutoff=ctx.data.cutoff,
        params={**ctx.params, "age_groups": ",".join(str(c) for c in cuts)},
        footnotes=[
            _("Baseline values as recorded for each subject (DM and the subject record); BMI "
              "= weight (kg) / height (m) squared, where both are known. n: subjects with a "
              "value. SD with n - 1 in the denominator; Q1 and Q3 as R's quantile type 2 "
              "(tern's default). Descriptive only: no comparison between arms."),
        ],
    )  # fmt: skip


def validate_params(params: dict) -> None:
    """Checked by pv.analysis.api before the data are loaded: TableError when bad."""
    age_bands(params.get("age_groups"))
