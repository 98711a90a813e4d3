"""Term search: by name or code, case-insensitive, and by the words clinicians write.

Ranked, best first: the name or code itself > a synonym itself ("pneumonia", "肺炎") >
a word of the name begins with the query > a synonym begins with the query > a Chinese
synonym close to the query ("重症肺炎" -> 肺炎) > the pinyin initials of a Chinese synonym
("fy" -> 肺炎) > the query inside a word of the name. Each term appears once, with the
best way it matched; a hit found through a synonym says so in `why` (translated).

Terms of a release never change once loaded, so each process keeps a small in-memory
index per release (837 CTCAE terms and their synonyms; a MedDRA release is about
80,000 LLTs).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from sqlmodel import Session, select

from pv.i18n import gettext as _
from pv.terminology import synonyms as syn
from pv.terminology.models import Term, TerminologyRelease

EXACT, SYNONYM, WORD_PREFIX, SYNONYM_PREFIX, SYNONYM_SIMILAR, PINYIN, SUBSTRING = range(7)
_SYNONYM_RANK = {
    syn.EXACT: SYNONYM,
    syn.PREFIX: SYNONYM_PREFIX,
    syn.SIMILAR: SYNONYM_SIMILAR,
    syn.PINYIN: PINYIN,
}
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Hit:
    id: int
    code: str
    term: str
    soc: str
    rank: int
    # Why it matched, when not by its name or code ("肺炎: synonym of Lung infection").
    why: str | None = None


@dataclass(frozen=True)
class _Entry:
    id: int
    code: str
    term: str
    soc: str
    lower: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class _Index:
    entries: list[_Entry]
    by_name: dict[str, _Entry]
    synonyms: syn.SynonymIndex


_cache: dict[tuple[int, str], _Index] = {}
_lock = threading.Lock()


def current_release(session: Session, name: str = "CTCAE") -> TerminologyRelease | None:
    """The newest loaded release of a terminology (by load time)."""
    return session.exec(
        select(TerminologyRelease)
        .where(TerminologyRelease.name == name)
        .order_by(TerminologyRelease.loaded_at.desc(), TerminologyRelease.id.desc())  # type: ignore[attr-defined]
    ).first()


def _index(session: Session, release: TerminologyRelease) -> _Index:
    key = (release.id or 0, f"{release.name} {release.version} {release.loaded_at}")
    index = _cache.get(key)
    if index is None:
        rows = session.exec(
            select(Term.id, Term.code, Term.term, Term.soc).where(Term.release_id == release.id)
        ).all()
        entries = [
            _Entry(r[0], r[1], r[2], r[3], r[2].lower(), tuple(_WORD.findall(r[2].lower())))
            for r in rows
        ]
        entries.sort(key=lambda e: e.lower)
        by_name: dict[str, _Entry] = {}
        for e in entries:
            by_name.setdefault(e.term, e)
        index = _Index(entries, by_name, syn.SynonymIndex(syn.shipped_synonyms(), by_name))
        with _lock:
            _cache[key] = index
    return index


def rank(entry_lower: str, words: tuple[str, ...], code: str, q: str) -> int | None:
    if q in (entry_lower, code):
        return EXACT
    if entry_lower.startswith(q) or code.startswith(q) or any(w.startswith(q) for w in words):
        return WORD_PREFIX
    parts = q.split()
    if len(parts) > 1 and all(any(w.startswith(p) for w in words) for p in parts):
        return WORD_PREFIX
    if q in entry_lower:
        return SUBSTRING
    return None


def _why(m: syn.Match) -> str:
    if m.kind == syn.PINYIN:
        return _("%(word)s: pinyin initials %(initials)s", word=m.word, initials=m.initials)
    return _("%(word)s: synonym of %(term)s", word=m.word, term=m.term)


def search_terms(
    session: Session, query: str, *, limit: int = 20, release: TerminologyRelease | None = None
) -> list[Hit]:
    q = " ".join(query.lower().split())
    if not q:
        return []
    release = release or current_release(session)
    if release is None:
        return []
    index = _index(session, release)
    # term id -> (sort key, entry, the synonym match or None for the name)
    best: dict[int, tuple[tuple, _Entry, syn.Match | None]] = {}
    parts = q.split()
    for e in index.entries:
        # every way to match needs the query (or each of its words) inside the name, or
        # the code to begin with it: a quick test first
        if not (
            q in e.lower
            or e.code.startswith(q)
            or (len(parts) > 1 and all(p in e.lower for p in parts))
        ):
            continue
        r = rank(e.lower, e.words, e.code, q)
        if r is not None:
            best[e.id] = ((r, (0,), len(e.term), e.lower), e, None)
    for m in index.synonyms.match(query):
        e = index.by_name[m.term]
        key = (_SYNONYM_RANK[m.kind], m.closeness, len(e.term), e.lower)
        found = best.get(e.id)
        if found is None or key < found[0]:
            best[e.id] = (key, e, m)
    ranked = sorted(best.values(), key=lambda b: b[0])[:limit]
    return [
        Hit(e.id, e.code, e.term, e.soc, key[0], _why(m) if m is not None else None)
        for key, e, m in ranked
    ]
