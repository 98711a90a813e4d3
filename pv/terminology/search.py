"""Term search: by name or code, case-insensitive, ranked exact > word prefix > substring.

Terms of a release never change once loaded, so each process keeps a small in-memory
index per release (837 CTCAE terms; a MedDRA release is about 80,000 LLTs).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from sqlmodel import Session, select

from pv.terminology.models import Term, TerminologyRelease

EXACT, WORD_PREFIX, SUBSTRING = 0, 1, 2
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Hit:
    id: int
    code: str
    term: str
    soc: str
    rank: int


@dataclass(frozen=True)
class _Entry:
    id: int
    code: str
    term: str
    soc: str
    lower: str
    words: tuple[str, ...]


_cache: dict[tuple[int, str], list[_Entry]] = {}
_lock = threading.Lock()


def current_release(session: Session, name: str = "CTCAE") -> TerminologyRelease | None:
    """The newest loaded release of a terminology (by load time)."""
    return session.exec(
        select(TerminologyRelease)
        .where(TerminologyRelease.name == name)
        .order_by(TerminologyRelease.loaded_at.desc(), TerminologyRelease.id.desc())  # type: ignore[attr-defined]
    ).first()


def _index(session: Session, release: TerminologyRelease) -> list[_Entry]:
    key = (release.id or 0, f"{release.name} {release.version} {release.loaded_at}")
    entries = _cache.get(key)
    if entries is None:
        rows = session.exec(
            select(Term.id, Term.code, Term.term, Term.soc).where(Term.release_id == release.id)
        ).all()
        entries = [
            _Entry(r[0], r[1], r[2], r[3], r[2].lower(), tuple(_WORD.findall(r[2].lower())))
            for r in rows
        ]
        entries.sort(key=lambda e: e.lower)
        with _lock:
            _cache[key] = entries
    return entries


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


def search_terms(
    session: Session, query: str, *, limit: int = 20, release: TerminologyRelease | None = None
) -> list[Hit]:
    q = " ".join(query.lower().split())
    if not q:
        return []
    release = release or current_release(session)
    if release is None:
        return []
    hits: list[Hit] = []
    for e in _index(session, release):
        r = rank(e.lower, e.words, e.code, q)
        if r is not None:
            hits.append(Hit(e.id, e.code, e.term, e.soc, r))
    hits.sort(key=lambda h: (h.rank, len(h.term), h.term.lower()))
    return hits[:limit]
