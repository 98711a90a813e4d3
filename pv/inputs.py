"""The input rules every path shares: web forms, JSON API, spreadsheet upload and CLI.

Each rule is a pure function that returns the problem as a message (``None`` when the value
is acceptable); the caller names the field, so the same value gets the same message on every
path. ``check`` raises `InputError` (field and message) for callers that stop at the first
problem; the services and the API collect every problem at once.

**Text** (`text_problem`): any language is welcome (investigators write in Chinese, Arabic
names are fine); refused are the characters that corrupt storage or display, not scripts:

- NUL (PostgreSQL text cannot hold it) and every other C0/C1 control character and DEL;
  a multi-line field (narrative, treatment, reason) keeps tab, line feed and carriage
  return (browsers send a textarea's line breaks as CR LF);
- the bidirectional embedding, override and isolate characters U+202A-U+202E and
  U+2066-U+2069 (they reorder what a reviewer reads: "Trojan Source"); the plain marks
  LRM/RLM/ALM stay allowed, right-to-left scripts need them;
- unpaired surrogates (not Unicode text; UTF-8 cannot encode them);
- more characters than the field's limit (`MAX_LENGTH`).

**Identifiers** (`identifier_problem`, SUBJID and site id): ``[A-Za-z0-9][A-Za-z0-9._-]*``,
ASCII only, at most `MAX_LENGTH[field]` characters. They become part of USUBJID, of URLs,
SDTM exports and spreadsheet cells, so there is no path separator, no space and no leading
``=``/``+``/``-``/``@`` (a spreadsheet formula) or ``.`` (``..``).

**Dates** (`parse_date`): ``YYYY-MM-DD`` written with the ASCII digits 0-9 only. Python's
``\\d`` and ``int()`` accept every script's digits (``٢٠٢١``, full-width ``２０２１``); no
date or number rule of this project uses them (`pv.events.dates` does the same for partial
ISO 8601 dates).

**Integers** (`parse_id`): ASCII digits, 1 to `INT_MAX` (an INTEGER column's largest value;
SQLite refuses a bigger Python int with an OverflowError, PostgreSQL with an error).
"""

from __future__ import annotations

import re
from datetime import date

from pv.i18n import N_, ngettext
from pv.i18n import gettext as _

INT_MAX = 2**31 - 1

# Longest value per field (characters). Identifiers are limited by what USUBJID (80) holds:
# an 11-character NCT id, a site id (20), SUBJID (40) and two dashes make 73; add_subject
# refuses a longer USUBJID (a study id beyond 18 characters).
MAX_LENGTH: dict[str, int] = {
    "subjid": 40,
    "site": 20,
    "site_name": 200,
    "username": 80,
    "full_name": 200,
    "aeterm": 200,
    "aeterm_en": 200,
    "aelltcd": 20,
    "aeout": 40,
    "aestdtc": 20,
    "aeendtc": 20,
    "aecontrt": 4000,
    "narrative": 4000,
    "reason": 1000,
    "usubjid": 80,
    "arm": 200,
    "study_id": 64,
}
# A subject's age (years) and weight (kg), the same on every path (form, API, CLI).
AGE_RANGE = (0, 120)
WEIGHT_KG_RANGE = (1, 500)
MULTILINE = frozenset({"aecontrt", "narrative", "reason"})

# C0 controls, DEL, C1 controls, bidi embeddings/overrides/isolates, lone surrogates.
_BAD_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_BAD_MULTI = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
                        "\ud800-\udfff]")  # fmt: skip
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DIGITS = re.compile(r"[0-9]+")

IDENTIFIER_RULE = N_(
    "letters A-Z, digits 0-9, '.', '_' and '-' only, starting with a letter or digit"
)


class InputError(ValueError):
    """A value refused by an input rule; `field` names it, `message` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def _char_problem(ch: str) -> str:
    code = f"U+{ord(ch):04X}"
    if ch == "\x00":
        return _("must not contain a NUL character (%(code)s)", code=code)
    if "\ud800" <= ch <= "\udfff":
        return _("must be valid Unicode text (an unpaired surrogate, %(code)s)", code=code)
    if "\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069":
        return _(
            "must not contain bidirectional override or isolate characters (%(code)s)", code=code
        )
    return _("must not contain control characters (%(code)s)", code=code)


def text_problem(value: str, *, max_length: int, multiline: bool = False) -> str | None:
    """Why `value` cannot be stored as text, or None. Characters first, then the length."""
    bad = (_BAD_MULTI if multiline else _BAD_LINE).search(value)
    if bad is not None:
        return _char_problem(bad.group())
    if len(value) > max_length:
        return ngettext("at most %(num)d character", "at most %(num)d characters", max_length)
    return None


def field_text_problem(field: str, value: str) -> str | None:
    """`text_problem` with the limit and line mode of a named field (see `MAX_LENGTH`)."""
    return text_problem(value, max_length=MAX_LENGTH[field], multiline=field in MULTILINE)


def text_problems(values: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """`field_text_problem` over several named fields, as (field, problem) pairs.

    Runs once per row of a 100,000-row upload. Every refused character is non-printable
    (categories Cc, Cf, Cs), so a value that `str.isprintable()` (C speed) and short enough
    needs no regex search: the usual case costs a length check and one scan per field.
    """
    out = []
    for name, value in values:
        if value and (not value.isprintable() or len(value) > MAX_LENGTH[name]):
            problem = field_text_problem(name, value)
            if problem is not None:
                out.append((name, problem))
    return out


def identifier_problem(value: str, *, max_length: int) -> str | None:
    """Why `value` is not an identifier (SUBJID, site id), or None."""
    problem = text_problem(value, max_length=max_length)
    if problem is not None:
        return problem
    if not value:
        return _("is required")
    if not _IDENTIFIER.fullmatch(value):
        return _("'%(value)s' is not a valid id: %(rule)s", value=value, rule=_(IDENTIFIER_RULE))
    return None


def parse_date(value: str) -> date:
    """A complete date, YYYY-MM-DD with ASCII digits; ValueError with a readable message."""
    text = value.strip()
    m = _DATE.fullmatch(text)
    problem = text_problem(value, max_length=MAX_LENGTH["aestdtc"])
    if problem is not None:
        raise ValueError(problem)
    if m is None:
        raise ValueError(_("'%(text)s' is not a date as YYYY-MM-DD (digits 0-9)", text=text))
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ValueError(_("'%(text)s' is not a date of the calendar", text=text)) from None


def parse_id(value: str | None) -> int | None:
    """A row id typed in a form or query string: ASCII digits, 1 to INT_MAX; else None."""
    if value is None or not _DIGITS.fullmatch(value) or len(value) > 10:
        return None
    n = int(value)
    return n if 1 <= n <= INT_MAX else None


def check(field: str, problem: str | None) -> None:
    """Raise InputError for `field` when a rule found a problem."""
    if problem is not None:
        raise InputError(field, problem)
