"""parse_dtc remembers what it parsed: the remembered answer is the parser's own, for every
form, and invalid values keep failing with the same message (pure: no database)."""

from __future__ import annotations

import calendar
import itertools

import pytest

from pv.events import dates
from pv.events.dates import PartialDate, _parse, parse_dtc

VALID = [
    "2021", "1900", "2021-03", "2020-02", "2021-02", "2021-12", "2021-03-05", "2020-02-29",
    "2021-01-31", "2021-03-05T00:00", "2021-03-05T18:30", "2021-03-05T23:59:59",
    "2021-03-05T07:08:09", " 2021-03-05 ", "2021-03-05\n", "\t2021",
]  # fmt: skip
INVALID = [
    "", " ", "21", "2021-3", "2021-03-5", "2021/03/05", "1899", "1899-12-31", "2021-00",
    "2021-13", "2021-02-29", "2021-04-31", "2021-03-00", "2021-03-05T24:00",
    "2021-03-05T12:60", "2021-03-05T12:30:60", "2021-03-05T1230", "2021-03-05 12:30",
    "2021-03-05T12", "２０２１", "2021-03-05Z", "NA", "UNK",
]  # fmt: skip


def _outcome(fn, text):  # type: ignore[no-untyped-def]
    try:
        return fn(text)
    except (ValueError, AttributeError, TypeError) as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize("text", VALID + INVALID)
def test_the_remembered_answer_is_the_parsers_own(text: str) -> None:
    dates._parse_cached.cache_clear()
    first = _outcome(parse_dtc, text)  # parsed (and remembered when valid)
    again = _outcome(parse_dtc, text)  # from memory
    assert first == again == _outcome(_parse, text)


def test_every_day_of_a_leap_and_a_common_year_and_partial_forms() -> None:
    dates._parse_cached.cache_clear()
    for year, month in itertools.product((2020, 2021), range(1, 13)):
        last = calendar.monthrange(year, month)[1]
        for day in range(1, 33):
            text = f"{year}-{month:02d}-{day:02d}"
            for t in (text, f"{text}T08:15", f"{text}T08:15:30"):
                for _ in range(2):
                    assert _outcome(parse_dtc, t) == _outcome(_parse, t)
            if day <= last:
                d = parse_dtc(text)
                assert (d.precision, d.earliest_date.day, d.latest.hour) == ("day", day, 23)
        month_text = f"{year}-{month:02d}"
        assert parse_dtc(month_text) == _parse(month_text)
        assert parse_dtc(month_text).latest.day == last


def test_invalid_values_are_not_remembered_and_fail_the_same_way() -> None:
    dates._parse_cached.cache_clear()
    for _ in range(3):
        with pytest.raises(ValueError, match="day 30 does not exist in 2021-02"):
            parse_dtc("2021-02-30")
    assert dates._parse_cached.cache_info().currsize == 0


def test_non_text_fails_as_before_and_is_not_looked_up() -> None:
    dates._parse_cached.cache_clear()
    for value in (None, 2021, b"2021"):
        assert _outcome(parse_dtc, value) == _outcome(_parse, value)
    with pytest.raises(AttributeError):
        parse_dtc(["2021"])  # type: ignore[arg-type]  # unhashable: not a TypeError
    assert dates._parse_cached.cache_info().currsize == 0


def test_one_object_per_text_and_it_cannot_be_changed() -> None:
    dates._parse_cached.cache_clear()
    a, b = parse_dtc("2021-03-05"), parse_dtc("2021-03-05")
    assert a is b and isinstance(a, PartialDate)
    with pytest.raises(AttributeError):
        a.text = "2022"  # type: ignore[misc]
    assert parse_dtc(" 2021-03-05") == _parse(" 2021-03-05")  # keyed by the text as given
