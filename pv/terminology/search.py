"""Term search: by name or code, case-insensitive, and by the words clinicians write.

Ranked, best first: the name or code itself > a synonym itself ("pneumonia", "肺炎") >
a word of the name begins with the query > a synonym begins with the query > a Chinese
synonym close to the query ("重症肺炎" -> 肺炎) > the pinyin initials of a Chinese synonym
("fy" -> 肺炎) > the query inside a word of the name > a name or English synonym spelt
nearly as typed ("pnuemonia" -> pneumonia -> Lung infection: a few edits apart, by
rapidfuzz; only tried when the query, of four letters or more, has few better matches).
When a licensed MedDRA release is loaded, its LLT names find the CTCAE term of their PT
too ("Chest infection" -> Lung infection), ranked as synonyms. Each term appears once,
with the best way it matched; a hit found through a synonym, a near spelling or a MedDRA
LLT says so in `why` (translated).

Terms of a release never change once loaded, so each process keeps a small in-memory
index per release (837 CTCAE terms and their synonyms; a MedDRA release is about
80,000 LLTs).
"""

from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA
from sqlmodel import Session, col, select

from pv.i18n import gettext as _
from pv.terminology import synonyms as syn
from pv.terminology.models import Term, TerminologyRelease

EXACT, SYNONYM, WORD_PREFIX, SYNONYM_PREFIX, SYNONYM_SIMILAR, PINYIN, SUBSTRING, SPELLING = range(8)
MEDDRA = "MedDRA"
# Near spellings are looked for when fewer terms than this matched otherwise.
SPELLING_WHEN_FEWER = 5
# Latin letters (and the spaces, hyphens and apostrophes between words) only.
_LATIN = re.compile(r"[a-z][a-z '\-]*")
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
class _Near:
    """What a near spelling is compared with: a name, a word of a name (four letters or
    more) or an English synonym; `synonym` is the synonym as written."""

    key: str
    entry: _Entry
    kind: int  # 0 a name, 1 a synonym, 2 a word of a name
    synonym: str | None = None


@dataclass(frozen=True)
class _Index:
    entries: list[_Entry]
    by_name: dict[str, _Entry]
    synonyms: syn.SynonymIndex
    near: list[_Near]
    near_keys: list[str]


@dataclass(frozen=True)
class _Llt:
    name: str
    entries: tuple[_Entry, ...]  # the CTCAE terms of its PT


@dataclass(frozen=True)
class _MeddraIndex:
    """The LLTs of a MedDRA release whose PT is a CTCAE term's: names sorted for prefix
    look-ups, and every word of every name (bisect, no scan over 80,000 names)."""

    llts: list[_Llt]
    names: list[tuple[str, int]]  # (lower-case name, llt index), sorted
    words: list[tuple[str, int]]  # (word, llt index), sorted


# Why a term matched: by its name (None), a synonym, a MedDRA LLT (with the term it
# leads to) or a near spelling (with what was typed).
_Why = syn.Match | tuple[_Llt, _Entry] | tuple[str, _Near] | None

_cache: dict[tuple[int, str], _Index] = {}
_meddra_cache: dict[tuple[tuple[int, str], tuple[int, str]], _MeddraIndex] = {}
_lock = threading.Lock()


def current_release(session: Session, name: str = "CTCAE") -> TerminologyRelease | None:
    """The newest loaded release of a terminology (by load time)."""
    return session.exec(
        select(TerminologyRelease)
        .where(TerminologyRelease.name == name)
        .order_by(col(TerminologyRelease.loaded_at).desc(), col(TerminologyRelease.id).desc())
    ).first()


def _newest_releases(session: Session) -> dict[str, TerminologyRelease]:
    """The newest loaded release of each terminology (one query: CTCAE and MedDRA)."""
    newest: dict[str, TerminologyRelease] = {}
    for r in session.exec(
        select(TerminologyRelease).order_by(
            col(TerminologyRelease.loaded_at).desc(), col(TerminologyRelease.id).desc()
        )
    ):
        newest.setdefault(r.name, r)
    return newest


def _key(release: TerminologyRelease) -> tuple[int, str]:
    return (release.id or 0, f"{release.name} {release.version} {release.loaded_at}")


def _near_list(entries: list[_Entry], synonyms: syn.SynonymIndex) -> list[_Near]:
    near: list[_Near] = []
    by_name = {e.term: e for e in entries}
    for e in entries:
        near.append(_Near(e.lower, e, 0))
        if len(e.words) > 1:
            near.extend(_Near(w, e, 2) for w in set(e.words) if len(w) >= 4 and w.isalpha())
    for en in synonyms.en:
        near.append(_Near(en.key, by_name[en.term], 1, en.word))
    return near


def _index(session: Session, release: TerminologyRelease) -> _Index:
    key = _key(release)
    index = _cache.get(key)
    if index is None:
        rows = session.exec(
            select(Term.id, Term.code, Term.term, Term.soc).where(Term.release_id == release.id)
        ).all()
        entries = [
            _Entry(r[0] or 0, r[1], r[2], r[3], r[2].lower(), tuple(_WORD.findall(r[2].lower())))
            for r in rows
        ]
        entries.sort(key=lambda e: e.lower)
        by_name: dict[str, _Entry] = {}
        for e in entries:
            by_name.setdefault(e.term, e)
        synonyms = syn.SynonymIndex(syn.shipped_synonyms(), by_name)
        near = _near_list(entries, synonyms)
        index = _Index(entries, by_name, synonyms, near, [n.key for n in near])
        with _lock:
            _cache[key] = index
    return index


def _meddra_index(
    session: Session, index: _Index, ctcae: TerminologyRelease, meddra: TerminologyRelease
) -> _MeddraIndex:
    key = (_key(ctcae), _key(meddra))
    found = _meddra_cache.get(key)
    if found is not None:
        return found
    rows = session.exec(
        select(Term.code, Term.term, Term.pt_code).where(Term.release_id == meddra.id)
    ).all()
    pt_of = {code: pt for code, _name, pt in rows}
    # A CTCAE term is a MedDRA LLT (most are PTs too): its PT collects the LLTs under it.
    by_pt: dict[str, list[_Entry]] = {}
    for e in index.entries:
        by_pt.setdefault(pt_of.get(e.code) or e.code, []).append(e)
    llts: list[_Llt] = []
    names: list[tuple[str, int]] = []
    words: list[tuple[str, int]] = []
    for _code, name, pt in rows:
        targets = by_pt.get(pt or "")
        if not targets or name in index.by_name:
            continue
        i = len(llts)
        llts.append(_Llt(name, tuple(targets)))
        lower = " ".join(name.lower().split())
        names.append((lower, i))
        words.extend((w, i) for w in set(_WORD.findall(lower)))
    names.sort()
    words.sort()
    found = _MeddraIndex(llts, names, words)
    with _lock:
        _meddra_cache[key] = found
    return found


def _starting(sorted_pairs: list[tuple[str, int]], prefix: str, cap: int = 400) -> list[int]:
    """Indexes of the pairs whose text begins with `prefix` (at most `cap`)."""
    out: list[int] = []
    i = bisect.bisect_left(sorted_pairs, (prefix, -1))
    while i < len(sorted_pairs) and len(out) < cap and sorted_pairs[i][0].startswith(prefix):
        out.append(sorted_pairs[i][1])
        i += 1
    return out


def _meddra_matches(mi: _MeddraIndex, q: str) -> list[tuple[int, tuple, _Llt]]:
    """(rank, closeness, LLT) of the LLTs a query names (exact: SYNONYM), begins, or
    whose words each begin with a word of the query (SYNONYM_PREFIX)."""
    out: list[tuple[int, tuple, _Llt]] = []
    seen: set[int] = set()
    for i in _starting(mi.names, q):
        seen.add(i)
        llt = mi.llts[i]
        exact = len(llt.name) == len(q) and llt.name.lower() == q
        out.append((SYNONYM if exact else SYNONYM_PREFIX, (len(llt.name) - len(q),), llt))
    parts = q.split()
    if not parts or syn.has_cjk(q):
        return out
    candidates = set(_starting(mi.words, parts[0]))
    for i in candidates - seen:
        llt = mi.llts[i]
        ws = _WORD.findall(llt.name.lower())
        if all(any(w.startswith(p) for w in ws) for p in parts):
            out.append((SYNONYM_PREFIX, (len(llt.name) - len(q),), llt))
    return out


def _near_spellings(index: _Index, q: str) -> list[tuple[tuple, _Near, int]]:
    """Names, words of names and English synonyms a few edits from the query (a
    transposition is one edit), whole or as far as the query goes: (closeness, what,
    edits), nearest first."""
    letters = q.replace(" ", "")
    if len(letters) < 4 or not _LATIN.fullmatch(q):
        return []
    n = len(q)
    whole_edits = 1 if n <= 5 else 2 if n <= 11 else 3
    out: list[tuple[tuple, _Near, int]] = []
    for _key_text, d, i in process.extract(
        q, index.near_keys, scorer=OSA.distance, score_cutoff=whole_edits, limit=None
    ):
        near = index.near[i]
        out.append(((d, 0, near.kind, abs(len(near.key) - n)), near, int(d)))
    if n >= 5:
        prefix_edits = 1 if n <= 7 else 2
        heads = [k[:n] if len(k) > n else "" for k in index.near_keys]
        for _key_text, d, i in process.extract(
            q, heads, scorer=OSA.distance, score_cutoff=prefix_edits, limit=None
        ):
            if heads[i]:
                near = index.near[i]
                out.append(((d, 1, near.kind, abs(len(near.key) - n)), near, int(d)))
    out.sort(key=lambda x: x[0])
    return out


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


def _why_near(typed: str, near: _Near) -> str:
    if near.synonym is not None:
        return _(
            "%(word)s: close to %(synonym)s (spelling), synonym of %(term)s",
            word=typed,
            synonym=near.synonym,
            term=near.entry.term,
        )
    return _("%(word)s: close to %(term)s (spelling)", word=typed, term=near.entry.term)


def _why_llt(llt: _Llt, entry: _Entry) -> str:
    return _("%(word)s: MedDRA LLT of %(term)s", word=llt.name, term=entry.term)


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
    meddra: TerminologyRelease | None = None
    if release is None:
        newest = _newest_releases(session)
        release, meddra = newest.get("CTCAE"), newest.get(MEDDRA)
    elif release.name != MEDDRA:
        meddra = current_release(session, MEDDRA)
    if release is None:
        return []
    index = _index(session, release)
    # term id -> (sort key, entry, why: None for the name, else what gives it)
    best: dict[int, tuple[tuple, _Entry, _Why]] = {}
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
    if meddra is not None and release.name != MEDDRA:
        mi = _meddra_index(session, index, release, meddra)
        for r, closeness, llt in _meddra_matches(mi, q):
            for e in llt.entries:
                key = (r, closeness, len(e.term), e.lower)
                found = best.get(e.id)
                if found is None or key < found[0]:
                    best[e.id] = (key, e, (llt, e))
    if len(best) < SPELLING_WHEN_FEWER:
        typed = " ".join(query.split())
        for closeness, near, _d in _near_spellings(index, q):
            e = near.entry
            if e.id not in best:
                best[e.id] = ((SPELLING, closeness, len(e.term), e.lower), e, (typed, near))
    ranked = sorted(best.values(), key=lambda b: b[0])[:limit]
    return [Hit(e.id, e.code, e.term, e.soc, key[0], _reason(why)) for key, e, why in ranked]


def _reason(why: _Why) -> str | None:
    if why is None:
        return None
    if isinstance(why, syn.Match):
        return _why(why)
    if isinstance(why[0], _Llt):
        return _why_llt(why[0], why[1])
    return _why_near(why[0], why[1])  # type: ignore[arg-type]
