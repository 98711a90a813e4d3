"""Treatment emergence: which adverse events count as treatment-emergent (TEAE).

The rule follows admiral's `derive_var_trtemfl` (pharmaverse/admiral,
R/derive_var_trtemfl.R; its cases in tests/testthat/test-derive_var_trtemfl.R are
re-expressed in tests/analysis/test_teae_admiral.py). `TEAERule`, default shown, is
applied to every event of a subject who received study drug; the first case that applies
decides, as in admiral:

1. Analysis date. The onset date (AESTDTC) is used as collected when complete. A
   partial onset date is imputed, and flagged, as follows:
   - month and year known ("2021-03"): the first dose date when the first dose falls in
     that month, otherwise the first day of the month (flag "D");
   - year only ("2021"): the first dose date when the first dose falls in that year,
     otherwise 1 January (flag "M");
   - no usable date: the first dose date (flag "Y").
   The imputation never moves an event that could have started after the first dose to
   before it, so a partial date never hides a possible TEAE ("first-dose" imputation).
   With `imputation="earliest"` partial dates go to the earliest possible day instead.
   Dates are stored as collected; imputation happens only here, at analysis time.
2. Not treated: no first dose, no TEAE.
3. Ended before treatment: an event whose end date (AEENDTC; a partial one at its latest
   possible day) is before the first dose is not emergent, whatever its onset -- admiral:
   a missing start is emergent as the worst case "unless we know that the AE end date
   was before treatment".
4. No onset date: emergent (the worst case; its analysis date is the first dose).
5. Window. An event is treatment-emergent when its analysis date is on or after the
   first dose and no later than the end of the window: the last dose + `window_days`
   (default 30; admiral `end_window`, days compared without the time of day as admiral's
   default `ignore_time_for_trt_end = TRUE`). A subject whose daily-dose record has no end
   date is still on treatment: the window stays open (up to the data cut-off). The window
   closes earlier at the subject's own end of observation: end of study (DM), disposition
   (DS) or death (DM), whichever is first (data.py `_observation`).
6. Worsening of a pre-existing event (`worsening=True`). An event is pre-existing when
   it is marked so (AdverseEvent.preexisting), or when an initial grade (AEITOXGR,
   `initial_grade`) was collected and it started before the first dose. It is
   treatment-emergent only through a worsening:
   - a worsening date (worsened_dtc, imputed as above) inside the window; the analysis
     date is then the worsening date;
   - else, with an initial grade: its grade (AETOXGR, else severity) above the initial
     grade, or the grade unknown (admiral `initial_intensity < intensity`, an unknown
     intensity counting as the worst case); the worsening date was not collected, so the
     analysis date is the first dose (the onset, if later). A pre-existing event with
     neither a worsening date
     nor an initial grade is not a TEAE (admiral would flag a missing initial intensity;
     here the flag without a worsening date means "did not worsen", as entered).
7. Episodes collected over several records (SDTM "log" collection; admiral `group_var`):
   records of one subject sharing AEGRPID, else AESPID, form an episode. An episode with
   any record starting before the first dose is pre-existing as a whole: its records do
   not count as new events, and the initial grade is not used (as admiral ignores
   `initial_intensity` with `group_var`). Ordering the episode's records by onset
   (undated ones last), a record that starts within the window with a grade above that
   of the record just before it is a worsening (the first record has none before it);
   from it on, every later record of the episode that starts within the window counts,
   whatever its grade. admiral's code flags those later records even past the window;
   its documentation says "all subsequent records in the treatment window": we follow
   the documentation. An episode whose records all start on or after the first dose is
   a set of new events (rule 5). A one-record episode is an ordinary event (rule 6).

Data cut-off: events whose analysis date is after the cut-off are dropped before any
counting, and exposure is truncated at the cut-off (see data.py).

With the default rule the CDISC pilot's SDTM data (CDISCPILOT01) reproduce the sponsor's
ADaM flag ADAE.TRTEMFL for every one of its 1,191 events (tests/analysis), also with the
pilot's AESPID episodes and DM end of study and death dates loaded
(tests/analysis/test_observation.py).
"""

from __future__ import annotations

import calendar
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import pandas as pd

EPOCH = date(1970, 1, 1).toordinal()
NO_DAY = np.nan

FLAG_NONE, FLAG_DAY, FLAG_MONTH, FLAG_ALL = "", "D", "M", "Y"


@dataclass(frozen=True)
class TEAERule:
    window_days: int = 30
    worsening: bool = True
    imputation: str = "first-dose"  # or "earliest"

    def __post_init__(self) -> None:
        if self.window_days < 0:
            raise ValueError("the TEAE window cannot be negative")
        if self.imputation not in ("first-dose", "earliest"):
            raise ValueError(f"unknown imputation rule {self.imputation!r}")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def footnote(self) -> str:
        """The TEAE rule as a footnote, in the current language."""
        from pv.i18n import gettext as _
        from pv.i18n import ngettext

        if self.worsening:
            rule = ngettext(
                "Treatment-emergent adverse event (TEAE): onset on or after the first dose of "
                "study drug and no later than %(num)d day after the last dose (open while "
                "dosing is ongoing) or a pre-existing event that worsened in that window.",
                "Treatment-emergent adverse event (TEAE): onset on or after the first dose of "
                "study drug and no later than %(num)d days after the last dose (open while "
                "dosing is ongoing) or a pre-existing event that worsened in that window.",
                self.window_days,
            )
        else:
            rule = ngettext(
                "Treatment-emergent adverse event (TEAE): onset on or after the first dose of "
                "study drug and no later than %(num)d day after the last dose (open while "
                "dosing is ongoing) (worsening of pre-existing events not counted).",
                "Treatment-emergent adverse event (TEAE): onset on or after the first dose of "
                "study drug and no later than %(num)d days after the last dose (open while "
                "dosing is ongoing) (worsening of pre-existing events not counted).",
                self.window_days,
            )
        if self.worsening:
            emergence = _(
                "An event without an onset date counts unless it is known to have ended "
                "before the first dose. The window closes earlier at the subject's end of "
                "study, discontinuation or death. A pre-existing event counts when it "
                "worsens in the window: a worsening date in the window, a grade above its "
                "initial grade (AEITOXGR), or, in an episode recorded over several records "
                "(AEGRPID, else AESPID), a record of higher grade than the one before it "
                "(as admiral derive_var_trtemfl)."
            )
        else:
            emergence = _(
                "An event without an onset date counts unless it is known to have ended "
                "before the first dose. The window closes earlier at the subject's end of "
                "study, discontinuation or death. Records of an episode recorded over "
                "several records (AEGRPID, else AESPID) that began before the first dose "
                "do not count (as admiral derive_var_trtemfl)."
            )
        if self.imputation == "first-dose":
            imputation = _(
                "Partial onset dates are imputed to the first dose date when the first dose "
                "falls in the known month (or year), otherwise to the first day of that month "
                "(or year); a missing onset date is imputed to the first dose date."
            )
        else:
            imputation = _("Partial onset dates are imputed to the earliest possible day.")
        return _(
            "%(rule)s %(emergence)s %(imputation)s Imputed dates are flagged in the data.",
            rule=rule,
            emergence=emergence,
            imputation=imputation,
        )


def day_number(d: date | None) -> float:
    return NO_DAY if d is None else float(d.toordinal() - EPOCH)


def _parse_one(text: str) -> tuple[float, float, str]:
    """(earliest day, latest day, precision flag) for one ISO 8601 (possibly partial) date."""
    s = text.strip()[:10]
    try:
        if len(s) == 10:
            d = date.fromisoformat(s)
            n = float(d.toordinal() - EPOCH)
            return n, n, FLAG_NONE
        if len(s) == 7 and s[4] == "-":
            y, m = int(s[:4]), int(s[5:7])
            last = calendar.monthrange(y, m)[1]
            first = date(y, m, 1).toordinal() - EPOCH
            return float(first), float(first + last - 1), FLAG_DAY
        if len(s) == 4 and s.isdigit():
            y = int(s)
            return (
                float(date(y, 1, 1).toordinal() - EPOCH),
                float(date(y, 12, 31).toordinal() - EPOCH),
                FLAG_MONTH,
            )
    except ValueError:
        pass
    return NO_DAY, NO_DAY, FLAG_ALL


def parse_dates(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised `_parse_one`: the distinct strings are parsed once each."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    parsed = [_parse_one(u) if isinstance(u, str) else (NO_DAY, NO_DAY, FLAG_ALL) for u in uniques]
    parsed.append((NO_DAY, NO_DAY, FLAG_ALL))  # code -1 (None / NaN)
    lo = np.array([p[0] for p in parsed])[codes]
    hi = np.array([p[1] for p in parsed])[codes]
    flag = np.array([p[2] for p in parsed], dtype=object)[codes]
    return lo, hi, flag


def impute(
    values: pd.Series | np.ndarray,
    first_dose: np.ndarray,
    rule: TEAERule,
    *,
    missing_to_first_dose: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(analysis day, imputation flag) for each date string, given each row's first dose.

    A missing date becomes the first dose date (onset dates) or stays missing
    (`missing_to_first_dose=False`: worsening dates, where missing means "did not worsen").
    """
    lo, hi, flag = parse_dates(values)
    if rule.imputation == "first-dose":
        fd = np.asarray(first_dose, dtype=float)
        covers = (lo <= fd) & (fd <= hi) & (flag != FLAG_NONE)
        day = np.where(covers, fd, lo)
    else:
        day = lo
        fd = np.asarray(first_dose, dtype=float)
    if missing_to_first_dose:
        day = np.where(flag == FLAG_ALL, fd, day)
    return day, flag


def bounded_day(values: pd.Series | np.ndarray | list[object], known: np.ndarray) -> np.ndarray:
    """Day number of a (possibly partial) date: the earliest possible day, but not before
    a date known from the subject's other data (`known`, e.g. the last recorded event),
    and never outside the collected month or year.

    admiral's rule for dates such as the death date (`impute_dtc_dt` with
    `date_imputation = "first"` and `min_dates`): a partial date goes to the first day of
    its period unless a known date of the same period is later. So a death recorded as
    "2024-03" for a subject whose fatal event started on 2024-03-15 is dated 2024-03-15,
    and no recorded event falls after the end of observation it defines. Values may be
    ISO 8601 text, dates or None; missing or unreadable values give NaN.
    """
    text = pd.Series(
        [v.isoformat() if hasattr(v, "isoformat") else v for v in values], dtype=object
    )
    lo, hi, _flag = parse_dates(text)
    k = np.asarray(known, dtype=float)
    with np.errstate(invalid="ignore"):
        day = np.where(np.isnan(k), lo, np.clip(k, lo, hi))
    return np.where(np.isnan(lo), np.nan, day)


def window_end(
    last_dose: np.ndarray, ongoing: np.ndarray, stop: np.ndarray, rule: TEAERule
) -> np.ndarray:
    """Last day of each subject's TEAE window: last dose + window (open while dosing is
    ongoing), but no later than the subject's end of observation `stop` (end of study,
    disposition, death; NaN when none is known)."""
    end = np.where(ongoing, np.inf, np.asarray(last_dose, dtype=float) + rule.window_days)
    stop = np.asarray(stop, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(stop), end, np.fmin(end, stop))


def treatment_emergent(
    onset: np.ndarray,
    worsened: np.ndarray | None,
    preexisting: np.ndarray | None,
    first_dose: np.ndarray,
    last_dose: np.ndarray,
    ongoing: np.ndarray,
    rule: TEAERule,
    *,
    onset_missing: np.ndarray | None = None,
    end_latest: np.ndarray | None = None,
    initial_grade: np.ndarray | None = None,
    grade: np.ndarray | None = None,
    episode: np.ndarray | None = None,
    tiebreak: np.ndarray | None = None,
    stop: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(TEAE flag, analysis day) per event; all inputs are per-event arrays.

    onset: imputed onset day (`impute`); onset_missing: no usable onset was collected (the
    onset is then the first dose, imputation flag "Y"); end_latest: the latest possible
    end day (NaN when unknown or ongoing); initial_grade / grade: AEITOXGR and the grade
    (CTCAE, else severity; NaN or 0 = unknown); episode: integer code of the record's
    episode within its subject (AEGRPID, else AESPID; -1 for none) -- codes must be
    unique across subjects; tiebreak: sort key for records of an episode starting on the
    same day (e.g. the rank of the onset text, which may carry a time); stop: the
    subject's end of observation (see `window_end`).
    """
    n = len(onset)
    onset = np.asarray(onset, dtype=float)
    first_dose = np.asarray(first_dose, dtype=float)
    end = window_end(last_dose, ongoing, np.full(n, np.nan) if stop is None else stop, rule)
    missing = np.zeros(n, bool) if onset_missing is None else np.asarray(onset_missing, bool)
    treated = ~np.isnan(first_dose)

    def in_window(day: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return (day >= first_dose) & (day <= end)

    with np.errstate(invalid="ignore"):
        before = (onset < first_dose) & ~missing  # started before treatment (known)
        # admiral: "event before treatment": the end is known to be before the first dose.
        ended_before = (
            np.zeros(n, bool) if end_latest is None else np.asarray(end_latest) < first_dose
        )
    pre = np.zeros(n, bool) if preexisting is None else np.asarray(preexisting, dtype=bool)
    has_initial = (
        np.zeros(n, bool)
        if initial_grade is None
        else ~np.isnan(np.asarray(initial_grade, dtype=float))
    )
    g = np.zeros(n) if grade is None else np.asarray(grade, dtype=float)
    g = np.where(g > 0, g, np.nan)  # 0 = unknown grade

    # Multi-record episodes (admiral group_var): an episode with any record starting
    # before the first dose is pre-existing as a whole; its records are new AEs only
    # through a worsening.
    multi = np.zeros(n, bool)
    episode_pre = np.zeros(n, bool)
    group_worse = np.zeros(n, bool)
    if episode is not None:
        ep = np.asarray(episode, dtype=np.int64)
        grouped = ep >= 0
        if grouped.any():
            idx = np.flatnonzero(grouped)
            codes, inverse = np.unique(ep[idx], return_inverse=True)
            size = np.bincount(inverse, minlength=len(codes))
            any_pre = np.bincount(inverse, weights=before[idx], minlength=len(codes)) > 0
            multi[idx] = size[inverse] > 1
            episode_pre[idx] = any_pre[inverse] & multi[idx]
            if rule.worsening:
                group_worse[idx] = _episode_worsening(
                    inverse, onset[idx], missing[idx], g[idx], first_dose[idx], end[idx],
                    None if tiebreak is None else np.asarray(tiebreak)[idx],
                )  # fmt: skip

    # A pre-existing event: marked so, or (outside a multi-record episode) an initial
    # grade was collected and the event started before the first dose. A record of a
    # pre-existing episode without an onset date stays emergent as the worst case
    # (admiral: a missing start is "Y" before any other rule but the end-date one).
    pre = pre | (has_initial & before & ~multi)
    te = in_window(onset) & ~pre & (~episode_pre | missing)
    analysis = onset.copy()
    if rule.worsening:
        worse_te = np.zeros(n, bool)
        if worsened is not None:
            worsened = np.asarray(worsened, dtype=float)
            dated = pre & ~np.isnan(worsened)
            worse_te = dated & in_window(worsened)
            analysis = np.where(dated, worsened, analysis)
        else:
            dated = np.zeros(n, bool)
        # admiral initial_intensity < intensity (or either unknown): a worsening whose date
        # was not collected is taken at the first dose (the event was present then), or at
        # the onset of an event marked pre-existing that started later.
        with np.errstate(invalid="ignore"):
            graded = pre & ~dated & has_initial & ~multi
            worse_grade = graded & ~(g <= np.asarray(initial_grade, dtype=float))
        analysis = np.where(worse_grade, np.fmax(first_dose, onset), analysis)
        te = te | worse_te | worse_grade | (group_worse & episode_pre)
    return te & treated & ~ended_before, analysis


def _episode_worsening(
    episode: np.ndarray,
    onset: np.ndarray,
    missing: np.ndarray,
    grade: np.ndarray,
    first_dose: np.ndarray,
    end: np.ndarray,
    tiebreak: np.ndarray | None,
) -> np.ndarray:
    """Worsened records of multi-record episodes (admiral `group_var`).

    Records of an episode are ordered by onset (records without an onset last, as R's
    `arrange`); a record is a worsening when it starts on or after the first dose, within
    the TEAE window, and its grade is above the grade of the record just before it (the
    first record has none before it, so it can never be one; an unknown grade on either
    side is no worsening). Every later record of the episode that starts within the
    window is flagged too, whatever its grade ("once an AE record in a group is flagged,
    all subsequent records in the treatment window are flagged").
    """
    n = len(episode)
    tie = np.zeros(n) if tiebreak is None else tiebreak.astype(float)
    day = np.where(missing, np.inf, onset)
    order = np.lexsort((np.arange(n), tie, day, episode))
    ep, d, g = episode[order], day[order], grade[order]
    fd, wend = first_dose[order], end[order]
    same = np.r_[False, ep[1:] == ep[:-1]]
    prev = np.r_[np.nan, g[:-1]]
    prev = np.where(same, prev, np.nan)
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(d) & (d >= fd) & (d <= wend)
        worse = inside & (g > prev)
    seen = pd.Series(worse).groupby(ep).cummax().to_numpy(bool)
    out = np.zeros(n, bool)
    out[order] = seen & inside
    return out
