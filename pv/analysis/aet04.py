"""AET04: TEAEs by highest CTCAE grade per subject, by SOC and preferred term.

pre: TEAEs with their grade (CTCAE grade, else severity mapped MILD=1, MODERATE=2,
SEVERE=3); count: per row (overall, SOC, term) the highest grade of each subject, then
subjects per grade group (and "Missing" when no grade was collected); events count every
record of the group's grades. post: a header row ("Any grade") and one row per grade
group, the group in the CSV `grade` column.

Grade groups: parameter `grade_groups`, default "1-2,3-4,5" as chevron's AET04
(aet04_main, its grade_groups list "Grade 1-2" = 1, 2; "Grade 3-4" = 3, 4; "Grade 5" = 5);
any partition of grades 1-5 into groups of consecutive or single grades, e.g.
"1,2,3,4,5" or "1-2,3,4-5". Each grade 1-5 must be in exactly one group (TableError).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pv.analysis.counting import (
    Context,
    category_codes,
    cells,
    count,
    dense_codes,
    group_extreme,
    order,
)
from pv.analysis.table import Row, Table
from pv.i18n import N_
from pv.i18n import gettext as _

NAME = "AET04"
TITLE = N_(
    "Treatment-emergent adverse events by highest grade, system organ class and preferred term"
)
COLUMNS = frozenset({"aebodsys", "aedecod", "aetoxgr", "aesev"})
DEFAULT_GROUPS = "1-2,3-4,5"
GROUPS = ("1-2", "3-4", "5", "Missing")  # the default groups
GROUP_OF_GRADE = np.array([3, 0, 0, 1, 1, 2], dtype=np.int64)  # grade 0 = missing
OVERALL = N_("Subjects with at least one TEAE")


def grade_groups(value: object = None) -> tuple[tuple[str, ...], np.ndarray]:
    """(group names with "Missing" last, group position of each grade 0-5; grade 0 =
    missing) from a text such as "1-2,3-4,5" or a list of such items; TableError when a
    group is malformed or a grade 1-5 is in no group or in two."""
    from pv.analysis.api import TableError

    if value is None or (isinstance(value, str) and not value.strip()):
        value = DEFAULT_GROUPS
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]  # type: ignore[attr-defined]
    names: list[str] = []
    group_of = np.full(6, -1, dtype=np.int64)
    for item in (i.strip() for i in items):
        low, dash, high = item.partition("-")
        try:
            lo, hi = int(low), int(high) if dash else int(low)
        except ValueError:
            lo = hi = -1
        if not 1 <= lo <= hi <= 5:
            raise TableError(
                _(
                    "grade_groups: %(group)s is not a grade group; write grades 1 to 5 as "
                    "single grades or ranges, e.g. 1-2,3-4,5",
                    group=repr(item),
                )
            )
        taken = [g for g in range(lo, hi + 1) if group_of[g] >= 0]
        if taken:
            raise TableError(
                _(
                    "grade_groups: grade %(grade)s is in more than one group",
                    grade=taken[0],
                )
            )
        group_of[lo : hi + 1] = len(names)
        names.append(item.replace(" ", ""))
    missing = [str(g) for g in range(1, 6) if group_of[g] < 0]
    if missing:
        raise TableError(
            _("grade_groups: grade %(grades)s is in no group", grades=", ".join(missing))
        )
    group_of[0] = len(names)
    return (*names, "Missing"), group_of


def highest(
    ctx: Context,
    ev: pd.DataFrame,
    codes: np.ndarray,
    levels: int,
    groups: tuple[tuple[str, ...], np.ndarray] = (GROUPS, GROUP_OF_GRADE),
) -> np.ndarray:
    """Subjects shaped (levels, groups, arms) by their highest grade within each level."""
    names, group_of = groups
    n_subj = max(ctx.n_subjects, 1)
    key = codes.astype(np.int64) * n_subj + ev["subj"].to_numpy(np.int64)
    grade = ev["grade"].to_numpy(np.int64).clip(0, 5)
    pairs, top = group_extreme(key, grade, levels * n_subj, "max")
    level, who = pairs // n_subj, pairs % n_subj
    arm = ctx.data.subjects["arm"].to_numpy(np.int64)[who]
    a, g = ctx.n_arms, len(names)
    flat = (level * g + group_of[top]) * a + arm
    return np.bincount(flat, minlength=levels * g * a).reshape(levels, g, a)


def _events_by_group(
    ctx: Context,
    ev: pd.DataFrame,
    codes: np.ndarray,
    levels: int,
    groups: tuple[tuple[str, ...], np.ndarray],
) -> np.ndarray:
    names, group_of = groups
    group = group_of[ev["grade"].to_numpy(np.int64).clip(0, 5)]
    flat = (codes.astype(np.int64) * len(names) + group) * ctx.n_arms + ev["arm"].to_numpy(np.int64)
    size = levels * len(names) * ctx.n_arms
    return np.bincount(flat, minlength=size).reshape(levels, len(names), ctx.n_arms)


def build(ctx: Context) -> Table:
    groups = grade_groups(ctx.params.get("grade_groups"))
    names = groups[0]
    ev = ctx.teaes()
    soc, soc_labels = category_codes(ev["aebodsys"])
    term, term_labels = category_codes(ev["aedecod"])
    width = len(term_labels) + 1
    pair_ids, pair = dense_codes(soc * width + term, (len(soc_labels) + 1) * width)
    pair_soc = pair_ids // (len(term_labels) + 1)
    pair_term = [term_labels[t] for t in pair_ids % (len(term_labels) + 1)]
    levels = {
        "overall": (np.zeros(len(ev), dtype=np.int64), 1),
        "soc": (soc, len(soc_labels)),
        "term": (pair, len(pair_ids)),
    }
    by = {k: (count(ctx, ev, c, n), highest(ctx, ev, c, n, groups),
              _events_by_group(ctx, ev, c, n, groups))
          for k, (c, n) in levels.items()}  # fmt: skip
    plan: list[tuple[str, int, str | None, str | None]] = [("overall", 0, None, None)]
    soc_subj = by["soc"][0][0]
    for s in order(ctx, soc_labels, soc_subj, key="soc_order"):
        if soc_subj[s].sum():
            plan.append(("soc", s, soc_labels[s], None))
            members = np.flatnonzero(pair_soc == s)
            for j in order(ctx, [pair_term[m] for m in members], by["term"][0][0][members]):
                plan.append(("term", members[j], soc_labels[s], pair_term[members[j]]))
    missing = len(names) - 1
    used = [g for g in range(len(names)) if g < missing or by["overall"][1][0, g].sum()]
    subjects, events, meta = [], [], []
    for kind, i, soc_label, term_label in plan:
        (s_any, e_any), top, e_group = by[kind]
        subjects.append(s_any[i])
        events.append(e_any[i])
        meta.append((kind, soc_label, term_label, "Any"))
        for g in used:
            subjects.append(top[i, g])
            events.append(e_group[i, g])
            meta.append((kind, soc_label, term_label, names[g]))
    built = cells(ctx, np.vstack(subjects), np.vstack(events))
    rows = []
    for (kind, soc_label, term_label, grade), c in zip(meta, built, strict=True):
        label = {"overall": _(OVERALL), "soc": soc_label, "term": term_label}[kind]
        if grade != "Any":
            label = _("Grade %(grade)s", grade=grade) if grade != "Missing" else _("Grade missing")
        indent = {"overall": 0, "soc": 0, "term": 1}[kind] + (grade != "Any")
        rows.append(
            Row(
                kind,
                str(label),
                soc=soc_label,
                term=term_label,
                grade=grade,
                cells=c,
                indent=indent,
            )
        )
    return Table(
        name=NAME, title=_(TITLE), study_id=ctx.data.study_id, arms=ctx.arms,
        control=None if ctx.control is None else ctx.arms[ctx.control].label,
        rows=rows, cutoff=ctx.data.cutoff,
        params={**ctx.params, "grade_groups": ",".join(names[:-1])},
        footnotes=[_("Each subject is counted once per row, under the highest grade reported "
                     "for that row; where no CTCAE grade was collected, severity is used "
                     "(MILD = 1, MODERATE = 2, SEVERE = 3).")],
    )  # fmt: skip


def validate_params(params: dict) -> None:
    """Checked by pv.analysis.api before the data are loaded: TableError when bad."""
    grade_groups(params.get("grade_groups"))
