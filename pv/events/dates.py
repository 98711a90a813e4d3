"""ISO 8601 dates as clinical data collects them: complete or partial ("2021", "2021-03").

A partial date is stored exactly as typed; comparisons use its earliest and latest
possible instants, so "2021-03" may be before, after or equal to "2021-03-15".

`parse_dtc` remembers the values it has parsed (an upload of 100,000 events holds a few
hundred distinct dates); a `PartialDate` is immutable, so one object serves every row
that has the same text. Invalid values are not remembered: each raises again.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, time

from pv.i18n import gettext as _

# ASCII digits only: `\d` would also match every other script's digits ("٢٠٢١-٠٣-١٥",
# full-width "２０２１"), which int() reads, so such a date would be stored as typed and
# then be unreadable for every other program (SDTM AESTDTC, study days). `fullmatch`: no
# trailing newline slips past "$".
_ISO = re.compile(
    r"(?P<y>[0-9]{4})(?:-(?P<m>[0-9]{2})(?:-(?P<d>[0-9]{2})"
    r"(?:T(?P<H>[0-9]{2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2}))?)?)?)?"
)
PRECISIONS = ("year", "month", "day", "minute", "second")
CACHE_SIZE = 8192


@dataclass(frozen=True)
class PartialDate:
    text: str
    precision: str
    earliest: datetime
    latest: datetime

    @property
    def complete(self) -> bool:
        return self.precision not in ("year", "month")

    @property
    def earliest_date(self) -> date:
        return self.earliest.date()

    @property
    def latest_date(self) -> date:
        return self.latest.date()


def parse_dtc(text: str) -> PartialDate:
    """Parse an SDTM --DTC value; raises ValueError with a readable message."""
    if type(text) is str:
        return _parse_cached(text)
    return _parse(text)


def _parse(text: str) -> PartialDate:
    """The parser itself (`parse_dtc` without the memory)."""
    t = text.strip()
    m = _ISO.fullmatch(t)
    if not m:
        raise ValueError(
            _(
                "'%(text)s' is not an ISO 8601 date: use YYYY, YYYY-MM, YYYY-MM-DD or "
                "YYYY-MM-DDThh:mm (digits 0-9)",
                text=text,
            )
        )
    y = int(m["y"])
    if y < 1900:
        raise ValueError(_("'%(text)s': year %(year)s is before 1900", text=text, year=y))
    if m["m"] is None:
        return PartialDate(t, "year", datetime(y, 1, 1), datetime(y, 12, 31, 23, 59, 59))
    mo = int(m["m"])
    if not 1 <= mo <= 12:
        raise ValueError(_("'%(text)s': month %(month)s does not exist", text=text, month=mo))
    last = calendar.monthrange(y, mo)[1]
    if m["d"] is None:
        return PartialDate(t, "month", datetime(y, mo, 1), datetime(y, mo, last, 23, 59, 59))
    d = int(m["d"])
    if not 1 <= d <= last:
        raise ValueError(
            _(
                "'%(text)s': day %(day)s does not exist in %(month)s",
                text=text,
                day=d,
                month=f"{y}-{mo:02d}",
            )
        )
    day = date(y, mo, d)
    if m["H"] is None:
        return PartialDate(
            t, "day", datetime.combine(day, time.min), datetime.combine(day, time(23, 59, 59))
        )
    hh, mm, ss = int(m["H"]), int(m["M"]), int(m["S"] or 0)
    if hh > 23 or mm > 59 or ss > 59:
        raise ValueError(
            _("'%(text)s': %(time)s is not a time of day", text=text, time=f"{hh:02d}:{mm:02d}")
        )
    at = datetime(y, mo, d, hh, mm, ss)
    return PartialDate(t, "second" if m["S"] else "minute", at, at)


# Keyed by the text as given (error messages quote it unstripped); only exact str values
# are looked up, anything else goes straight to `_parse` (and fails there as before).
_parse_cached = functools.lru_cache(maxsize=CACHE_SIZE)(_parse)
