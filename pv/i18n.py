"""Translations: gettext through Babel catalogs, English and Simplified Chinese.

Every user-visible string goes through `gettext` (`_`) or `ngettext` at the moment it is
shown, in the language of the request (or of the command, or of the upload job) being
served. Strings defined at import time are marked with `N_` and translated where they are
used. Catalogs live in `pv/locale/<locale>/LC_MESSAGES/messages.po`; `make i18n` extracts
and updates them, and set-up compiles them to `.mo` (not committed). A catalog whose `.mo`
is missing or older than its `.po` is compiled in memory from the `.po` instead, so a
checkout that skipped the compile step still speaks Chinese.

Language tags are BCP 47 (`en`, `zh-Hans`); the catalog folder uses Babel's locale id
(`zh_Hans`). Dates stay ISO 8601 (YYYY-MM-DD) in every language: they are never passed
through a locale's date format.
"""

from __future__ import annotations

import gettext as _gettext
import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
DEFAULT = "en"
# Tag -> the language's own name (shown in the switch) and the catalog's locale id.
LANGUAGES: dict[str, str] = {"en": "English", "zh-Hans": "简体中文"}
_LOCALE_IDS = {"en": None, "zh-Hans": "zh_Hans"}
LANGUAGE_COOKIE = "pv_lang"


@dataclass
class _Current:
    """The language of the work in hand. A mutable holder in a context variable: the
    request's middleware sets it from the cookie and Accept-Language, and the sign-in
    dependency (which may run in a worker thread with a copy of the context) changes the
    same object to the user's own setting."""

    language: str = DEFAULT
    # Whether a cookie or Accept-Language named it (else a study's default may apply).
    chosen: bool = False


_current: ContextVar[_Current | None] = ContextVar("pv_language", default=None)
_catalogs: dict[str, _gettext.NullTranslations] = {}


def normalize(tag: str | None) -> str | None:
    """A supported language tag for `tag` (case and separator insensitive), or None.
    Every Chinese tag maps to zh-Hans, the only Chinese catalog: a reader of Traditional
    Chinese is better served by it than by English."""
    if not tag:
        return None
    t = tag.strip().replace("_", "-").lower()
    if t == "en" or t.startswith("en-"):
        return "en"
    if t == "zh" or t.startswith("zh-"):
        return "zh-Hans"
    return None


_ACCEPT = re.compile(r"\s*([A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?")


def from_accept_language(header: str | None) -> str | None:
    """The supported language a browser prefers most (RFC 9110 section 12.5.4 q-values;
    ties keep the header's order), or None when it names none of ours."""
    if not header:
        return None
    best: tuple[float, int, str] | None = None
    for i, part in enumerate(header[:1000].split(",")[:50]):
        m = _ACCEPT.fullmatch(part)
        if not m:
            continue
        try:
            q = float(m.group(2)) if m.group(2) is not None else 1.0
        except ValueError:
            continue
        tag = normalize(m.group(1))
        if tag is None or q <= 0:
            continue
        if best is None or (-q, i) < (-best[0], best[1]):
            best = (q, i, tag)
    return best[2] if best else None


def _compile_po(po: Path) -> _gettext.GNUTranslations:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        catalog = read_po(f)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def translations(language: str) -> _gettext.NullTranslations:
    """The catalog of a language (cached per process)."""
    found = _catalogs.get(language)
    if found is not None:
        return found
    locale_id = _LOCALE_IDS.get(language)
    t: _gettext.NullTranslations
    if locale_id is None:
        t = _gettext.NullTranslations()
    else:
        folder = LOCALE_DIR / locale_id / "LC_MESSAGES"
        po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
        if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
            with mo.open("rb") as f:
                t = _gettext.GNUTranslations(f)
        elif po.exists():
            log.info("compiling %s in memory (run `make i18n-compile`)", po)
            t = _compile_po(po)
        else:
            log.warning("no catalog for %s in %s", language, folder)
            t = _gettext.NullTranslations()
    _catalogs[language] = t
    return t


def current() -> str:
    holder = _current.get()
    return holder.language if holder is not None else DEFAULT


def set_language(language: str) -> None:
    """Switch the work in hand to `language` (a supported tag)."""
    holder = _current.get()
    if holder is None:
        _current.set(_Current(language))
    else:
        holder.language = language


def chosen() -> bool:
    """Whether the client named the current language (cookie or Accept-Language)."""
    holder = _current.get()
    return holder is not None and holder.chosen


def begin(language: str, *, chosen: bool = False) -> Any:
    """Start a fresh language holder for a request or a job; returns the reset token."""
    return _current.set(_Current(language, chosen))


def end(token: Any) -> None:
    _current.reset(token)


@contextmanager
def use(language: str | None) -> Iterator[None]:
    """Run a block (a command, an export, a test) in `language`."""
    token = begin(normalize(language) or DEFAULT)
    try:
        yield
    finally:
        end(token)


def gettext(message: str, **variables: Any) -> str:
    """`message` in the current language; `%(name)s` placeholders are filled from
    `variables` after translation (so a translation may move them)."""
    text = translations(current()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    """The form of `singular`/`plural` for `n` by the catalog's plural rule; `%(num)d`
    is `n`."""
    text = translations(current()).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def pgettext(context: str, message: str, **variables: Any) -> str:
    """`message` in a context that tells two senses of one English word apart."""
    text = translations(current()).pgettext(context, message)
    return text % variables if variables else text


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark only"
    """Mark a string for extraction; it is translated where it is shown."""
    return message


_ = gettext
