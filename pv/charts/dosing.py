"""Daily and cumulative dose per subject and study day, from dosing records (vectorised).

The rules are those of pv.exposure.derive.cumulative_dose_mg: a daily (QD) record gives
`dose_mg` on every day from its start date to its end date, both inclusive (the start
day only when there is no end); a single administration (ONCE) gives `dose_mg` on its
start date. Day 1 is the subject's first dose of any study drug (`origin`), so the row of
study day d holds the total given on or before origin + d - 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SERIES_COLUMNS = ["subject_id", "study_day", "date", "daily_mg", "cumulative_mg"]


def first_doses(exposure: pd.DataFrame) -> pd.Series:
    """Date (midnight) of each subject's first dose, indexed by subject_id."""
    return exposure.groupby("subject_id")["start"].min().dt.normalize()


def dose_series(exposure: pd.DataFrame, origin: pd.Series | None = None) -> pd.DataFrame:
    """One row per subject and day from day 1 to the subject's last dosing day.

    exposure: subject_id, dose_mg, frequency, start, end (datetimes); origin: day 1 per
    subject_id (default: the first record of `exposure` itself).
    """
    if exposure.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in SERIES_COLUMNS})
    if origin is None:
        origin = first_doses(exposure)
    ex = exposure.sort_values(["subject_id", "start"], kind="stable")
    subjects = pd.Index(ex["subject_id"].unique())
    sub = subjects.get_indexer(ex["subject_id"])
    own = first_doses(ex).reindex(subjects)
    day0 = origin.reindex(subjects).fillna(own).clip(upper=own).to_numpy(dtype="datetime64[ns]")
    start = ex["start"].dt.normalize().to_numpy(dtype="datetime64[ns]")
    daily = ex["frequency"].astype(str).str.upper().eq("QD").to_numpy()
    end = ex["end"].dt.normalize().fillna(ex["start"].dt.normalize()).to_numpy("datetime64[ns]")
    end = np.where(daily, end, start)
    one_day = np.timedelta64(1, "D")
    off0 = ((start - day0[sub]) // one_day).astype(np.int64)
    off1 = np.maximum(((end - day0[sub]) // one_day).astype(np.int64), off0)
    length = np.maximum.reduceat(off1 + 1, _starts(sub))
    base = np.concatenate([[0], np.cumsum(length)[:-1]])
    total = int(length.sum())
    dose = ex["dose_mg"].to_numpy(dtype=float)
    diff = np.zeros(total + 1)
    np.add.at(diff, base[sub] + off0, dose)
    np.add.at(diff, base[sub] + off1 + 1, -dose)
    per_day = np.cumsum(diff)[:total]
    per_day[np.abs(per_day) < 1e-9] = 0.0
    owner = np.repeat(np.arange(len(subjects)), length)
    day_index = np.arange(total) - base[owner]
    running = np.cumsum(per_day)
    before = np.concatenate([[0.0], running])[base][owner]
    return pd.DataFrame(
        {
            "subject_id": subjects.to_numpy()[owner],
            "study_day": day_index + 1,
            "date": day0[owner] + day_index * one_day,
            "daily_mg": per_day,
            "cumulative_mg": running - before,
        }
    )


def _starts(sub: np.ndarray) -> np.ndarray:
    """Index of the first record of each subject (records sorted by subject)."""
    return np.flatnonzero(np.concatenate([[True], sub[1:] != sub[:-1]]))


def cumulative_at(series: pd.DataFrame, subject_id: object, study_day: object) -> np.ndarray:
    """Cumulative dose of each (subject, study day) pair: held after the subject's last
    dosing day; 0 before day 1 or for a subject without records. `series` as built by
    dose_series (one contiguous block of days 1..L per subject)."""
    who = np.asarray(subject_id)
    day = np.asarray(study_day, dtype=float)
    out = np.zeros(len(who))
    if series.empty or not len(who):
        return out
    ids = series["subject_id"].to_numpy()
    starts = _starts(ids)
    lengths = np.diff(np.append(starts, len(ids)))
    pos = pd.Index(ids[starts]).get_indexer(who)
    ok = (pos >= 0) & (day >= 1)
    p = np.where(ok, pos, 0)
    offset = np.clip(np.nan_to_num(day, nan=1.0) - 1, 0, lengths[p] - 1).astype(np.int64)
    values = series["cumulative_mg"].to_numpy()[starts[p] + offset]
    return np.where(ok, values, 0.0)


def by_day_summary(series: pd.DataFrame, group: pd.Series, min_subjects: int = 5) -> pd.DataFrame:
    """Median and quartiles of the cumulative dose per group and study day, over the subjects
    still dosed that day; days with fewer than `min_subjects` subjects are dropped.

    group: label per subject_id. Columns: group, study_day, subjects, median, q1, q3 (mg).
    """
    frame = series.assign(group=group.reindex(series["subject_id"]).to_numpy())
    frame = frame[frame["group"].notna()]
    g = frame.groupby(["group", "study_day"], sort=True)["cumulative_mg"]
    out = pd.DataFrame(
        {
            "subjects": g.size(),
            "median": g.median(),
            "q1": g.quantile(0.25),
            "q3": g.quantile(0.75),
        }
    ).reset_index()
    return out[out["subjects"] >= min_subjects].reset_index(drop=True)
