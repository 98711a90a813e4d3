"""The shared input rules (pv/inputs.py), pure: text, identifiers, dates, ids."""

from __future__ import annotations

from datetime import date

import pytest

from pv.events.dates import parse_dtc
from pv.events.rules import EventInput, check_event
from pv.inputs import (
    INT_MAX,
    InputError,
    check,
    field_text_problem,
    identifier_problem,
    parse_date,
    parse_id,
    text_problem,
    text_problems,
)


@pytest.mark.parametrize(
    "text",
    ["发热伴寒战", "Müller-Lüdenscheidt", "حمى", "עברית\u200f", "ok \u061c", "😀 emoji",
     "tab\tinside", "", "x" * 200, "fullwidth ＡＢＣ"],
)  # fmt: skip
def test_text_of_any_script_is_allowed(text):
    if "\t" in text:  # a tab is a control character on one line, fine in a multi-line field
        assert text_problem(text, max_length=200, multiline=True) is None
        assert "U+0009" in text_problem(text, max_length=200)
    else:
        assert text_problem(text, max_length=200) is None


@pytest.mark.parametrize("code", [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)])
def test_every_c0_and_c1_control_is_refused_on_one_line(code):
    problem = text_problem(f"a{chr(code)}b", max_length=10)
    assert problem is not None and f"U+{code:04X}" in problem
    multi = text_problem(f"a{chr(code)}b", max_length=10, multiline=True)
    if chr(code) in "\t\n\r":
        assert multi is None
    else:
        assert multi == problem


@pytest.mark.parametrize("code", [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
def test_bidi_overrides_and_isolates_are_refused(code):
    problem = text_problem(f"a{chr(code)}b", max_length=10, multiline=True)
    assert (
        problem == f"must not contain bidirectional override or isolate characters (U+{code:04X})"
    )


def test_nul_surrogates_and_length():
    assert text_problem("a\x00", max_length=5) == "must not contain a NUL character (U+0000)"
    assert "unpaired surrogate, U+DC00" in text_problem("a\udc00", max_length=5)
    assert text_problem("abcdef", max_length=5) == "at most 5 characters"
    # characters are named before the length, whatever the order in the text
    assert "U+202E" in text_problem("x" * 50 + "\u202e", max_length=5)
    assert field_text_problem("aeterm", "x" * 201) == "at most 200 characters"
    assert field_text_problem("narrative", "line\r\nline") is None
    assert field_text_problem("aeterm", "line\nline") is not None


@pytest.mark.parametrize("ok", ["0012", "007", "A", "1E5", "S-01.a_b", "x" * 40])
def test_identifiers_allowed(ok):
    assert identifier_problem(ok, max_length=40) is None


@pytest.mark.parametrize(
    ("bad", "says"),
    [("../x", "not a valid id"), ("=1+1", "not a valid id"), ("+1", "not a valid id"),
     ("-1", "not a valid id"), ("@A1", "not a valid id"), (".hidden", "not a valid id"),
     ("a b", "not a valid id"), ("a/b", "not a valid id"), ("a\\b", "not a valid id"),
     ("Ä1", "not a valid id"), ("１２", "not a valid id"), ("x" * 41, "at most 40"),
     ("", "is required"), ("a\x00", "U+0000"), ("a\u202e", "U+202E")],
)  # fmt: skip
def test_identifiers_refused(bad, says):
    problem = identifier_problem(bad, max_length=40)
    assert problem is not None and says in problem


def test_dates_take_ascii_digits_only():
    assert parse_date("2021-03-15") == date(2021, 3, 15)
    assert parse_date(" 2021-03-15 ") == date(2021, 3, 15)
    for bad in ("٢٠٢١-٠٣-١٥", "２０２１-０３-１５", "2021-3-15", "20210315", "2021-03-15T00:00"):
        with pytest.raises(ValueError, match="digits 0-9"):
            parse_date(bad)
    with pytest.raises(ValueError, match="not a date of the calendar"):
        parse_date("2021-02-30")
    with pytest.raises(ValueError, match=r"U\+0000"):
        parse_date("2021-03-15\x00")


def test_partial_dates_take_ascii_digits_only():
    assert parse_dtc("2021-03").precision == "month"
    for bad in ("٢٠٢١-٠٣-١٥", "２０２１", "2021-0٣", "2021-03-15T1٠:00", "2021\n"):
        with pytest.raises(ValueError, match="digits 0-9"):
            parse_dtc(bad if not bad.endswith("\n") else bad + "x")


def test_parse_id_bounds():
    assert parse_id("1") == 1 and parse_id(str(INT_MAX)) == INT_MAX
    for bad in (None, "", "0", "-1", str(INT_MAX + 1), "9" * 20, "1e3", "١٢", "１２", " 1", "0x1"):
        assert parse_id(bad) is None, bad


def test_check_raises_naming_the_field():
    check("subjid", None)
    with pytest.raises(InputError) as exc:
        check("subjid", "at most 40 characters")
    assert (exc.value.field, exc.value.message) == ("subjid", "at most 40 characters")


def test_check_event_refuses_text_once_per_field():
    data = EventInput(aeterm="a\u202eb", aelltcd="1\x00", aeout="FATAL\x00", aestdtc="٢٠٢١",
                      narrative="n\x07")  # fmt: skip
    found = check_event(data, term=None, drug_keys=[], consent_date=None,
                        today=date(2026, 1, 1), submit=False)  # fmt: skip
    by_field: dict[str, list[str]] = {}
    for issue in found.errors:
        by_field.setdefault(issue.field, []).append(issue.message)
    assert "U+202E" in by_field["aeterm"][0]
    assert by_field["aelltcd"] == ["must not contain a NUL character (U+0000)"]  # not also
    assert by_field["narrative"] == ["must not contain control characters (U+0007)"]
    assert "digits 0-9" in by_field["aestdtc"][0]


def test_the_fast_path_misses_nothing():
    """text_problems skips the regex for printable text: every refused character must be
    non-printable, and the result must equal field_text_problem field by field."""
    for code in range(0x110000):
        ch = chr(code)
        if text_problem(ch, max_length=1, multiline=True) is not None:
            assert not ch.isprintable(), f"U+{code:04X}"
    values = [("aeterm", "a\u202eb"), ("aelltcd", "10051792"), ("narrative", "a\r\nb\x07"),
              ("aecontrt", "x" * 4001), ("aestdtc", "2021"), ("aeout", None),
              ("aeendtc", "\u00a0x\u00ady")]  # fmt: skip
    expected = [(n, p) for n, v in values if v and (p := field_text_problem(n, v))]
    assert text_problems(values) == expected
    assert [n for n, _ in expected] == ["aeterm", "narrative", "aecontrt"]
