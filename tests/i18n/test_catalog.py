"""The zh-Hans catalog is complete and sound: every string the sources mark has a Chinese
translation, none is empty, fuzzy or left in English, and every translation carries exactly
the placeholders of its English original."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from pv import i18n

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "pv" / "locale" / "zh_Hans" / "LC_MESSAGES" / "messages.po"
# %(name)s / %(num)d style, a positional %s / %d, and a literal %%.
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?([sdifrx%])")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


def placeholders(text: str) -> list[tuple[str | None, str]]:
    """The placeholders of a message, sorted (a translation may reorder them); a literal
    %% counts too, since a template's new-style gettext formats every message."""
    return sorted((m.group(1) or "", m.group(2)) for m in PLACEHOLDER.finditer(text))


def _catalog():  # type: ignore[no-untyped-def]
    with PO.open("rb") as f:
        return read_po(f)


def _messages() -> list:  # type: ignore[type-arg]
    return [m for m in _catalog() if m.id]


def _ids(m) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return tuple(m.id) if isinstance(m.id, (list, tuple)) else (m.id,)


def _strings(m) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return tuple(m.string) if isinstance(m.string, (list, tuple)) else (m.string,)


def test_the_catalog_holds_every_string_the_sources_mark(tmp_path: Path) -> None:
    """What `make i18n` would extract now is all in the catalog (a new string without a
    translation fails here, not on a Chinese screen)."""
    pot = tmp_path / "messages.pot"
    args = ["-F", str(ROOT / "babel.cfg"), "-k", "N_", "-k", "pgettext:1c,2", "-o", str(pot)]
    CommandLineInterface().run(
        ["pybabel", "--quiet", "extract", *args, str(ROOT / "pv"), str(ROOT / "templates")]
    )
    with pot.open("rb") as f:
        extracted = {(m.context, _ids(m)[0]) for m in read_po(f) if m.id}
    in_catalog = {(m.context, _ids(m)[0]) for m in _messages()}  # obsolete ones are apart
    missing = sorted(extracted - in_catalog, key=str)
    assert len(extracted) > 500  # the screens, messages, tables and commands
    assert not missing, f"{len(missing)} strings not in the catalog (run make i18n): {missing[:20]}"


def test_every_message_has_a_chinese_translation() -> None:
    problems = []
    for m in _messages():
        ids, strings = _ids(m), _strings(m)
        if "fuzzy" in m.flags:
            problems.append(("fuzzy", ids[0]))
        for s in strings:
            if not s.strip():
                problems.append(("empty", ids[0]))
            elif s in ids:
                problems.append(("left in English", ids[0]))
            elif not CJK.search(s) and re.search(r"[A-Za-z]{3,}", PLACEHOLDER.sub("", ids[0])):
                # An English sentence needs Chinese words; a msgid of placeholders and
                # codes alone ("%(a)s / %(b)s", "CTCAE v5.0") need not have any.
                problems.append(("no Chinese", ids[0]))
    assert not problems, f"{len(problems)} problems: {problems[:30]}"


def test_translations_keep_the_placeholders_of_the_english() -> None:
    problems = []
    for m in _messages():
        ids, strings = _ids(m), _strings(m)
        expected = placeholders(ids[-1])  # the plural's (a singular may spell out the 1)
        for s in strings:
            if s and placeholders(s) != expected and placeholders(s) != placeholders(ids[0]):
                problems.append((ids[0], s))
    assert not problems, f"{len(problems)} mismatches: {problems[:20]}"


def test_plural_forms_follow_the_catalog_rule() -> None:
    catalog = _catalog()
    assert catalog.num_plurals == 1  # Chinese has one form
    plurals = [m for m in _messages() if m.pluralizable]
    assert plurals, "counted messages go through ngettext"
    assert all(len(_strings(m)) == 1 for m in plurals)


@pytest.mark.parametrize(
    "english, chinese",
    [("Adverse events", "不良事件"), ("Log out", "退出登录")],
)
def test_the_running_program_speaks_the_catalog(english: str, chinese: str) -> None:
    with i18n.use("zh-Hans"):
        assert i18n.gettext(english) == chinese
    with i18n.use("en"):
        assert i18n.gettext(english) == english


def test_plural_messages_are_filled_in_chinese() -> None:
    plurals = [m for m in _messages() if m.pluralizable and "%(num)d" in _ids(m)[1]]
    assert plurals
    m = plurals[0]
    with i18n.use("zh-Hans"):
        names = {name for name, _ in placeholders(_ids(m)[1]) if name and name != "num"}
        text = i18n.ngettext(_ids(m)[0], _ids(m)[1], 7, **dict.fromkeys(names, "X"))
    assert "7" in text and CJK.search(text)
