"""Treatment emergence: which adverse events count as treatment-emergent (TEAE).

The rule (`TEAERule`, default shown) is applied to every event of a subject who
received study drug:

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
2. Window. An event is treatment-emergent when its analysis date is on or after the
   first dose and no later than the last dose + `window_days` (default 30). A subject
   whose daily-dose record has no end date is still on treatment: the window stays open
   (up to the data cut-off).
3. Worsening. An event marked pre-existing is treatment-emergent only if it worsened
   (worsened_dtc, imputed as above) inside the same window; its analysis date is then the
   worsening date. A pre-existing event that did not worsen is never a TEAE.

Data cut-off: events whose analysis date is after the cut-off are dropped before any
counting, and exposure is truncated at the cut-off (see data.py).

With the default rule the CDISC pilot's SDTM data (CDISCPILOT01) reproduce the sponsor's
ADaM flag ADAE.TRTEMFL for every one of its 1,191 events (tests/analysis).
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
        if self.imputation == "first-dose":
            imputation = _(
                "Partial onset dates are imputed to the first dose date when the first dose "
                "falls in the known month (or year), otherwise to the first day of that month "
                "(or year); a missing onset date is imputed to the first dose date."
            )
        else:
            imputation = _("Partial onset dates are imputed to the earliest possible day.")
        return _(
            "%(rule)s %(imputation)s Imputed dates are flagged in the data.",
            rule=rule,
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


def treatment_emergent(
    onset: np.ndarray,
    worsened: np.ndarray | None,
    preexisting: np.ndarray | None,
    first_dose: np.ndarray,
    last_dose: np.ndarray,
    ongoing: np.ndarray,
    rule: TEAERule,
) -> tuple[np.ndarray, np.ndarray]:
    """(TEAE flag, analysis day) per event; all inputs are per-event day numbers/flags."""
    end = np.where(ongoing, np.inf, last_dose + rule.window_days)

    def in_window(day: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return (day >= first_dose) & (day <= end)

    te = in_window(onset)
    analysis = onset
    if preexisting is not None:
        pre = np.asarray(preexisting, dtype=bool)
        if rule.worsening and worsened is not None:
            worse_te = in_window(worsened)
            te = np.where(pre, worse_te, te)
            analysis = np.where(pre & ~np.isnan(worsened), worsened, onset)
        else:
            te = te & ~pre
    return te & ~np.isnan(first_dose), analysis
