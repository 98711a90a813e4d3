"""Values safe to put in a spreadsheet cell (reliability.md: formula injection).

Rules every sheet of every workbook follows:

- Text is always written as a string cell (`t="inlineStr"`), never as a formula, so a
  value typed by a user such as ``=1+1`` or ``+cmd|' /C calc'!A0`` is shown, not evaluated,
  and reads back as exactly the text that was typed. Text that a spreadsheet would
  evaluate or convert when someone edits the cell (it begins with ``= + - @``, a tab,
  CR or LF, or with a digit or ".", so it may read as a number or date: subject "0012",
  site "001", partial date "2021-03") also gets the quotePrefix cell style, the XML form
  of Excel's leading apostrophe: the apostrophe is not part of the value, and editing
  the cell keeps it text.
- Numbers stay numbers (a negative dose or study day is not an attack); booleans become
  "Yes"/"No"; NaN and infinities are left empty.
- Complete dates and date-times become real Excel dates (serial numbers with a date
  format); dates before 1 March 1900, which Excel cannot show, stay ISO text. Partial
  ISO 8601 dates ("2021-03", "2021") stay text exactly as collected: Excel has no
  partial date, and inventing a day would misstate the data.
- Characters that XML 1.0 cannot carry (C0 controls other than tab, CR and LF; lone
  surrogates; U+FFFE/U+FFFF) are replaced by U+FFFD so that their presence stays
  visible; everything else, including tab, CR and LF, is kept.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import date, datetime
from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
QUOTE_FIRST = frozenset("".join(TRIGGERS) + "0123456789.")
REPLACEMENT = "\ufffd"
_ILLEGAL = [
    *range(0x00, 0x09),
    0x0B,
    0x0C,
    *range(0x0E, 0x20),
    *range(0xD800, 0xE000),
    0xFFFE,
    0xFFFF,
]
_ILLEGAL_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in _ILLEGAL) + "]")
# One pass for the fast writer: escape markup, keep CR (XML readers turn a raw CR into
# LF) and replace the characters XML cannot carry.
XML_TEXT = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;", **{c: REPLACEMENT for c in _ILLEGAL}}
)
EXCEL_EPOCH = date(1899, 12, 30).toordinal()
FIRST_SERIAL_DATE = date(1900, 3, 1)  # before it Excel's 1900 leap-year bug shifts serials


def clean_text(text: str) -> str:
    """The text with characters illegal in XML replaced by U+FFFD (visible)."""
    return _ILLEGAL_RE.sub(REPLACEMENT, text)


def needs_quote(text: str) -> bool:
    """Whether a spreadsheet would evaluate or convert this text when the cell is edited."""
    return bool(text) and text[0] in QUOTE_FIRST


def number(value: Any) -> float | int | None:
    """A finite Python number, or None (NaN, infinity, None)."""
    if value is None or isinstance(value, bool):
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def serial(value: date | datetime) -> float | int:
    """Excel serial day number (1900 date system) of a date or naive date-time."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueError("Excel date-times have no time zone: convert to naive UTC first")
        seconds = value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
        days = value.toordinal() - EXCEL_EPOCH
        return days + seconds / 86400 if seconds else days
    return value.toordinal() - EXCEL_EPOCH


@functools.lru_cache(maxsize=65536)
def iso_value(text: str | None) -> date | datetime | str | None:
    """An SDTM --DTC value for a cell: a date or date-time when complete, else the text.

    "2021-03-05" -> date, "2021-03-05T14:30" -> datetime, "2021-03" -> "2021-03" (partial
    dates stay text, as collected); unparseable text is returned unchanged.
    """
    if not text:
        return None
    t = text.strip()
    try:
        if len(t) == 10:
            d = date.fromisoformat(t)
            return d if d >= FIRST_SERIAL_DATE else t
        if len(t) >= 16 and t[10] == "T":
            moment = datetime.fromisoformat(t)
            if moment.tzinfo is None and moment.date() >= FIRST_SERIAL_DATE:
                return moment
    except ValueError:
        pass
    return text


def safe_cell(ws: WriteOnlyWorksheet, value: Any) -> WriteOnlyCell:
    """A write-only cell holding `value` by the rules above (styles are set by the caller)."""
    cell = WriteOnlyCell(ws)
    if isinstance(value, bool):
        value = "Yes" if value else "No"
    if isinstance(value, str):
        text = clean_text(value)
        cell.value = text
        cell.data_type = "s"  # openpyxl would make text beginning with "=" a formula
        if needs_quote(text):
            cell.quotePrefix = True
        return cell
    if isinstance(value, date):
        if isinstance(value, datetime) and value.tzinfo is not None:
            raise ValueError("Excel date-times have no time zone: convert to naive UTC first")
        day = value.date() if isinstance(value, datetime) else value
        if day < FIRST_SERIAL_DATE:  # Excel cannot show it (and openpyxl writes serial 0)
            return safe_cell(ws, value.isoformat())
        cell.value = value
        return cell
    cell.value = number(value)
    return cell
