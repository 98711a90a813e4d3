"""Daily and cumulative dose per subject and study day, from dosing records (vectorised).

The rules are those of pv.exposure.derive.cumulative_dose_mg: a daily (QD) record gives
`dose_mg` on every day from its start date to its end date, both inclusive (the start
day only when there is no end); a single administration (ONCE) gives `dose_mg` on its
start date. Day 1 is the subject's first dose of any study drug (`origin`), so the row of
study day d holds the total given on or before origin + d - 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SERIES_COLUMNS = ["subject_id", "study_day", "date", "daily_mg", "cumulative_mg"]


def first_doses(exposure: pd.DataFrame) -> pd.Series:
    """Date (midnight) of each subject's first dose, indexed by subject_id."""
    return exposure.groupby("subject_id")["start"].min().dt.normalize()


@dataclass(frozen=True)
class DoseTotals:
    """Daily and cumulative doses of many subjects in flat arrays (no per-row frame).

    Subject i (`subjects[i]`) owns positions base[i] .. base[i] + lengths[i] - 1 of the
    flat arrays, study days 1 .. lengths[i] (day 1 = day0[i]). `running` is the running
    total over the whole flat array; a subject's cumulative dose on its day d is
    running[base + d - 1] - before[i]. 8 bytes per subject-day (16 with `daily`): a study
    of 10^4 subjects dosed daily for years stays in tens of MiB.
    """

    subjects: np.ndarray
    day0: np.ndarray  # datetime64[ns], midnight of day 1
    base: np.ndarray
    lengths: np.ndarray
    running: np.ndarray
    before: np.ndarray
    daily: np.ndarray | None = None  # dose given on each subject-day, when asked for

    def cumulative(self, pos: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Cumulative dose of subject positions `pos` on study days `day` (1 .. length)."""
        return self.running[self.base[pos] + day - 1] - self.before[pos]


def dose_totals(
    exposure: pd.DataFrame, origin: pd.Series | None = None, *, daily: bool = False
) -> DoseTotals:
    """The doses of `exposure` (subject_id, dose_mg, frequency, start, end) by subject and
    study day; origin: day 1 per subject_id (default: each subject's first record)."""
    if exposure.empty:
        empty = np.zeros(0, dtype=np.int64)
        return DoseTotals(
            np.zeros(0), np.zeros(0, "datetime64[ns]"), empty, empty, np.zeros(0),
            np.zeros(0), np.zeros(0) if daily else None,
        )  # fmt: skip
    if origin is None:
        origin = first_doses(exposure)
    ex = exposure.sort_values(["subject_id", "start"], kind="stable")
    subjects = pd.Index(ex["subject_id"].unique())
    sub = subjects.get_indexer(ex["subject_id"])
    own = first_doses(ex).reindex(subjects)
    day0 = origin.reindex(subjects).fillna(own).clip(upper=own).to_numpy(dtype="datetime64[ns]")
    start = ex["start"].dt.normalize().to_numpy(dtype="datetime64[ns]")
    is_daily = ex["frequency"].astype(str).str.upper().eq("QD").to_numpy()
    end = ex["end"].dt.normalize().fillna(ex["start"].dt.normalize()).to_numpy("datetime64[ns]")
    end = np.where(is_daily, end, start)
    one_day = np.timedelta64(1, "D")
    off0 = ((start - day0[sub]) // one_day).astype(np.int64)
    off1 = np.maximum(((end - day0[sub]) // one_day).astype(np.int64), off0)
    lengths = np.maximum.reduceat(off1 + 1, _starts(sub))
    base = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    total = int(lengths.sum())
    dose = ex["dose_mg"].to_numpy(dtype=float)
    # Dose changes on the days they happen, then two running sums in place: the dose given
    # each day, then the running total (one array of total + 1 floats, reused).
    values = np.zeros(total + 1)
    np.add.at(values, base[sub] + off0, dose)
    np.add.at(values, base[sub] + off1 + 1, -dose)
    np.cumsum(values, out=values)
    values[np.abs(values) < 1e-9] = 0.0  # a block's doses cancel exactly at its end
    per_day = values[:total].copy() if daily else None
    np.cumsum(values, out=values)
    running = values[:total]
    before = np.where(base > 0, values[np.maximum(base - 1, 0)], 0.0)
    return DoseTotals(subjects.to_numpy(), day0, base, lengths, running, before, per_day)


def dose_series(exposure: pd.DataFrame, origin: pd.Series | None = None) -> pd.DataFrame:
    """One row per subject and day from day 1 to the subject's last dosing day (for one
    subject's chart; a study-level summary uses dose_totals and by_day_summary).

    exposure: subject_id, dose_mg, frequency, start, end (datetimes); origin: day 1 per
    subject_id (default: the first record of `exposure` itself).
    """
    return series_frame(dose_totals(exposure, origin, daily=True))


def series_frame(t: DoseTotals) -> pd.DataFrame:
    """The rows of dose_series from totals built with daily=True."""
    if not len(t.subjects):
        return pd.DataFrame({c: pd.Series(dtype=float) for c in SERIES_COLUMNS})
    owner = np.repeat(np.arange(len(t.subjects)), t.lengths)
    day_index = np.arange(len(t.running)) - t.base[owner]
    return pd.DataFrame(
        {
            "subject_id": t.subjects[owner],
            "study_day": day_index + 1,
            "date": t.day0[owner] + day_index * np.timedelta64(1, "D"),
            "daily_mg": t.daily,
            "cumulative_mg": t.running - t.before[owner],
        }
    )


def _starts(sub: np.ndarray) -> np.ndarray:
    """Index of the first record of each subject (records sorted by subject)."""
    return np.flatnonzero(np.concatenate([[True], sub[1:] != sub[:-1]]))


def cumulative_at(totals: DoseTotals, subject_id: object, study_day: object) -> np.ndarray:
    """Cumulative dose of each (subject, study day) pair: held after the subject's last
    dosing day; 0 before day 1 or for a subject without records."""
    who = np.asarray(subject_id)
    day = np.asarray(study_day, dtype=float)
    out = np.zeros(len(who))
    if not len(totals.subjects) or not len(who):
        return out
    pos = pd.Index(totals.subjects).get_indexer(who)
    ok = (pos >= 0) & (day >= 1)
    p = np.where(ok, pos, 0)
    d = np.clip(np.nan_to_num(day, nan=1.0), 1, totals.lengths[p]).astype(np.int64)
    return np.where(ok, totals.cumulative(p, d), 0.0)


def by_day_summary(
    totals: DoseTotals, group: pd.Series, min_subjects: int = 5, block_days: int = 64
) -> pd.DataFrame:
    """Median and quartiles of the cumulative dose per group and study day, over the subjects
    still dosed that day; days with fewer than `min_subjects` subjects are dropped.

    group: label per subject_id (subjects without one are left out). Columns: group,
    study_day, subjects, median, q1, q3 (mg), groups in sorted order. Worked through
    `block_days` days at a time (a subjects x days block), so memory stays small however
    many subject-days there are.
    """
    labels = group.reindex(totals.subjects).to_numpy()
    parts = []
    for g in sorted({x for x in labels if isinstance(x, str)}):
        pos = np.flatnonzero(labels == g)
        pos = pos[np.argsort(-totals.lengths[pos], kind="stable")]  # longest first
        longest = int(totals.lengths[pos[0]]) if len(pos) else 0
        for first in range(1, longest + 1, block_days):
            days = np.arange(first, min(first + block_days, longest + 1))
            dosed = pos[totals.lengths[pos] >= first]  # a prefix: sorted by length
            block = np.full((len(dosed), len(days)), np.nan)
            valid = days[None, :] <= totals.lengths[dosed][:, None]
            rows, cols = np.nonzero(valid)
            block[rows, cols] = totals.cumulative(dosed[rows], days[cols])
            n = valid.sum(axis=0)
            keep = n >= min_subjects
            if not keep.any():
                continue
            kept = block[:, keep]
            q1, q3 = np.nanquantile(kept, [0.25, 0.75], axis=0)
            parts.append(
                pd.DataFrame(
                    {
                        "group": g,
                        "study_day": days[keep],
                        "subjects": n[keep],
                        "median": np.nanmedian(kept, axis=0),
                        "q1": q1,
                        "q3": q3,
                    }
                )
            )
    if not parts:
        return pd.DataFrame(
            {
                "group": pd.Series(dtype=object),
                "study_day": pd.Series(dtype=np.int64),
                "subjects": pd.Series(dtype=np.int64),
                "median": pd.Series(dtype=float),
                "q1": pd.Series(dtype=float),
                "q3": pd.Series(dtype=float),
            }
        )
    return pd.concat(parts, ignore_index=True)
