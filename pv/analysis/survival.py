"""Time to the first treatment-emergent event of an AESI grouping, for Kaplan-Meier charts.

The same time origin and censoring as AET05 (aet05.first_events): day 1 is the first dose;
a subject with a TEAE in the grouping has time = days from the first dose to its first
onset (inclusive, at least 1), every other safety subject is censored at the end of the
time at risk (data.py `risk_days`: last dose + TEAE window, or the cut-off). The survival
estimate is `stats.kaplan_meier`; for arms it equals AET05's `extra["km"]` of that
grouping's row. This module adds the life table a chart needs (numbers at risk, censored
times) and the pooled curve (all safety subjects), which AET05 does not carry.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pv.analysis import aesi, stats
from pv.analysis.aet05 import first_events
from pv.analysis.counting import Context
from pv.analysis.data import StudyData
from pv.analysis.table import ArmInfo
from pv.i18n import N_

POOLED = N_("All subjects")  # a key in the frames; shown translated (style.group)
LIFE_COLUMNS = ["group", "N", "time", "at_risk", "events", "censored", "surv"]


def arm_infos(data: StudyData) -> list[ArmInfo]:
    """The study's arms with their safety-population N, in display order."""
    sizes = data.arm_sizes()
    return [
        ArmInfo(
            id=int(a.id),
            label=str(a.label),
            code=str(a.code),
            N=int(sizes[i]),
            is_control=bool(a.is_control),
        )
        for i, a in enumerate(data.arms.itertuples())
    ]


def time_to_first(data: StudyData, key: str = "infection") -> pd.DataFrame:
    """One row per safety subject: subj (position), arm (position), time (days), event (0/1)."""
    ctx = Context(data=data, arms=arm_infos(data), control=None)
    ev = ctx.teaes()
    ev = ev[aesi.member(ev, key)]
    firsts = first_events(ctx, ev, np.zeros(len(ev), dtype=np.int64))
    safety = data.safety
    time = safety["risk_days"].to_numpy(dtype=float).copy()
    event = np.zeros(len(safety), dtype=np.int8)
    pos = pd.Index(safety.index).get_indexer(firsts["subj"].to_numpy())
    time[pos], event[pos] = firsts["t"].to_numpy(dtype=float), 1
    return pd.DataFrame(
        {
            "subj": safety.index.to_numpy(),
            "arm": safety["arm"].to_numpy(dtype=np.int64),
            "time": time,
            "event": event,
        }
    )


def life_table(time: np.ndarray, event: np.ndarray, group: str) -> pd.DataFrame:
    """Rows at time 0 and at every distinct event or censoring time.

    at_risk: subjects with time >= t (all N at time 0); surv: the Kaplan-Meier estimate
    of stats.kaplan_meier just after t (a step function, constant between event times).
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    n = len(time)
    km = stats.kaplan_meier(time, event) if n else {"curve": [], "median": None}
    curve = np.asarray(km["curve"], dtype=float).reshape(-1, 2)
    times = np.unique(time)
    at_risk = n - np.searchsorted(np.sort(time), times, side="left")
    events = np.array([int(event[time == t].sum()) for t in times], dtype=np.int64)
    censored = np.array([int((time == t).sum()) for t in times], dtype=np.int64) - events
    surv = np.ones(len(times))
    if len(curve):
        idx = np.searchsorted(curve[:, 0], times, side="right") - 1
        surv = np.where(idx >= 0, curve[np.maximum(idx, 0), 1], 1.0)
    frame = pd.DataFrame(
        {
            "group": group,
            "N": n,
            "time": np.concatenate([[0.0], times]),
            "at_risk": np.concatenate([[n], at_risk]),
            "events": np.concatenate([[0], events]),
            "censored": np.concatenate([[0], censored]),
            "surv": np.concatenate([[1.0], surv]),
        }
    )
    frame.attrs["median"] = km["median"]
    frame.attrs["median_ci"] = (km.get("median_low"), km.get("median_high"))
    return frame[LIFE_COLUMNS]


def km_table(data: StudyData, key: str = "infection", *, pooled: bool = False) -> pd.DataFrame:
    """Life tables of each arm (or of all safety subjects when pooled), stacked.

    attrs: "medians" {group: median days or None} (R survival's print.survfit rule, see
    stats.kaplan_meier), "median_ci" {group: (low, high)} (95%, Brookmeyer-Crowley on the
    log-log band; None where not reached), "logrank_p" (by arm, else None), "cox" {arm:
    {hr, low, high, p} or None} for each arm against the control arm (by arm with a control
    arm, else {}), "key" (the AESI grouping) and "groups" (group labels in display order).
    """
    tte = time_to_first(data, key)
    infos = arm_infos(data)
    if pooled:
        groups = [(POOLED, np.ones(len(tte), dtype=bool))]
    else:
        groups = [(a.label, tte["arm"].to_numpy() == i) for i, a in enumerate(infos)]
    parts = [life_table(tte["time"][m], tte["event"][m], label) for label, m in groups]
    frame = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame({c: pd.Series(dtype=float) for c in LIFE_COLUMNS})
    )
    cox: dict[str, object] = {}
    control = [i for i, a in enumerate(infos) if a.is_control]
    if not pooled and control:
        arm = tte["arm"].to_numpy()
        for i, a in enumerate(infos):
            if i != control[0]:
                two = (arm == i) | (arm == control[0])
                time, event = tte["time"].to_numpy()[two], tte["event"].to_numpy()[two]
                cox[a.label] = stats.cox_ph(time, event, arm[two] == i)
    frame.attrs = {
        "medians": {p["group"].iloc[0]: p.attrs["median"] for p in parts},
        "median_ci": {p["group"].iloc[0]: p.attrs["median_ci"] for p in parts},
        "cox": cox,
        "logrank_p": None
        if pooled
        else stats.logrank(tte["time"].to_numpy(), tte["event"].to_numpy(), tte["arm"].to_numpy()),
        "key": key,
        "groups": [label for label, _ in groups],
    }
    return frame


def at_risk(frame: pd.DataFrame, group: str, times: np.ndarray) -> np.ndarray:
    """Number at risk of `group` at each of `times` (subjects whose time is >= t)."""
    g = frame[frame["group"] == group]
    n = int(g["N"].iloc[0]) if len(g) else 0
    rows = g.iloc[1:]  # the time-0 row repeats N
    t = rows["time"].to_numpy()
    leaving = (rows["events"] + rows["censored"]).to_numpy()
    gone_before = np.array([leaving[t < x].sum() for x in np.asarray(times, float)])
    return (n - gone_before).astype(np.int64)
