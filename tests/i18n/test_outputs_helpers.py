"""A stand-in Chinese catalog for the output tests.

The merged zh-Hans catalog arrives after these outputs are written, so the tests do not
compare against it: they patch `pv.i18n.translations` with a translator that marks every
message it is asked for (MARK + the English). A text that carries the mark went through
gettext in the table's (or chart's, or workbook's) language; a text without it did not:
the data (terms, SOCs, arm labels, numbers) must never carry it. The mark is Chinese, so
the charts must draw real CJK glyphs.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pv import i18n

MARK = "中文·"


class MarkingTranslator(_gettext.NullTranslations):
    def gettext(self, message: str) -> str:
        return MARK + message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return MARK + (singular if n == 1 else plural)

    def pgettext(self, context: str, message: str) -> str:
        return MARK + message

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        return MARK + (singular if n == 1 else plural)


def marked(text: str | None) -> bool:
    return bool(text) and MARK in str(text)


@contextmanager
def fake_chinese(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """zh-Hans translates through MarkingTranslator; English stays the real NullTranslations."""
    real = i18n.translations
    fake = MarkingTranslator()

    def translations(language: str) -> _gettext.NullTranslations:
        return fake if language == "zh-Hans" else real(language)

    monkeypatch.setattr(i18n, "translations", translations)
    yield
