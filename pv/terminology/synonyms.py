"""Synonyms of CTCAE terms: the words clinicians write, in Chinese and English.

The curated list lives in `terminologies/synonyms/synonyms.tsv` (word, language, term,
note). A query matches a synonym when it is the synonym (exact), begins it (prefix), or,
for Chinese, which has no spaces between words, when the two share most of their
characters in order (similar: "重症肺炎" and "肺部感染" both find 肺炎). An ASCII query of
two or more letters also matches the pinyin initials of a Chinese synonym ("fy" finds
肺炎). `SynonymIndex` precomputes everything a query needs, so matching stays well
under a millisecond over the whole list.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pv import paths

SYNONYMS_TSV = paths.TERMINOLOGIES / "synonyms" / "synonyms.tsv"
LANGUAGES = ("zh", "en")
COLUMNS = ["word", "language", "term", "note"]
_HEADER = "\t".join(COLUMNS)

# Match kinds, best first.
EXACT, PREFIX, SIMILAR, PINYIN = "exact", "prefix", "similar", "pinyin"

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ALL_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[a-z0-9]+")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
# Dropped from Chinese queries and words: spaces and punctuation (full-width forms are
# folded to ASCII first by NFKC).
_CJK_NOISE = re.compile(r"[\s,.;:!?()\[\]{}'\"、。·《》“”‘’\-_/]+")


class SynonymFileError(ValueError):
    """The synonym file is malformed (the message names the line)."""


@dataclass(frozen=True)
class Synonym:
    word: str
    language: str
    term: str
    note: str


@dataclass(frozen=True)
class Match:
    """A synonym matched by a query: the term it names, how, and how closely
    (`closeness` sorts ascending within a kind)."""

    term: str
    kind: str
    closeness: tuple[float, ...]
    word: str
    initials: str | None = None


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def normalize(text: str) -> str:
    """Case, width and spacing folded: NFKC, lower case, single spaces; a text with
    Chinese characters also loses its spaces and punctuation."""
    t = " ".join(unicodedata.normalize("NFKC", text).lower().split())
    if has_cjk(t):
        t = _CJK_NOISE.sub("", t)
    return t


def initials(word: str) -> str | None:
    """The pinyin initials of an all-Chinese word ("肺炎" -> "fy"), else None."""
    if not _ALL_CJK.fullmatch(word):
        return None
    from pypinyin import Style, lazy_pinyin

    letters = "".join(p[:1] for p in lazy_pinyin(word, style=Style.FIRST_LETTER))
    letters = letters.lower()
    return letters if letters.isascii() and letters.isalpha() else None


def read_synonyms(path: Path = SYNONYMS_TSV) -> list[Synonym]:
    """Every row of a synonym file, checked: the header, four columns, a known
    language, no empty cell, no word listed twice for the same term."""
    rows: list[Synonym] = []
    seen: set[tuple[str, str]] = set()
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header != COLUMNS:
            raise SynonymFileError(f"{path.name}: the header must be {_HEADER!r}")
        for line, cells in enumerate(reader, start=2):
            if not cells or not any(c.strip() for c in cells):
                continue
            if len(cells) != len(COLUMNS):
                raise SynonymFileError(f"{path.name} line {line}: {len(cells)} columns, not 4")
            word, language, term, note = (c.strip() for c in cells)
            if not (word and term and note):
                raise SynonymFileError(f"{path.name} line {line}: an empty cell")
            if language not in LANGUAGES:
                raise SynonymFileError(f"{path.name} line {line}: language {language!r}")
            key = (normalize(word), term)
            if key in seen:
                raise SynonymFileError(f"{path.name} line {line}: {word} -> {term} twice")
            seen.add(key)
            rows.append(Synonym(word, language, term, note))
    return rows


@lru_cache(maxsize=1)
def shipped_synonyms() -> tuple[Synonym, ...]:
    """The project's synonym list (read once per process)."""
    return tuple(read_synonyms())


def _common_in_order(a: str, b: str) -> int:
    """Length of the longest common subsequence of two short strings."""
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


@dataclass(frozen=True)
class _En:
    key: str  # normalized
    squashed: str  # letters and digits only: "cushingssyndrome"
    words: tuple[str, ...]
    word: str
    term: str


@dataclass(frozen=True)
class _Zh:
    key: str
    word: str
    term: str
    initials: str | None


class SynonymIndex:
    """The synonyms of the terms of one release, ready for matching."""

    def __init__(self, synonyms: Iterable[Synonym], terms: Iterable[str]) -> None:
        known = set(terms)
        self.en: list[_En] = []
        self.zh: list[_Zh] = []
        self.zh_exact: dict[str, list[_Zh]] = {}
        self.by_char: dict[str, list[int]] = {}
        for s in synonyms:
            if s.term not in known:
                continue
            key = normalize(s.word)
            if has_cjk(key):
                z = _Zh(key, s.word, s.term, initials(key))
                for ch in set(key):
                    self.by_char.setdefault(ch, []).append(len(self.zh))
                self.zh.append(z)
                self.zh_exact.setdefault(key, []).append(z)
            else:
                self.en.append(
                    _En(key, _NOT_ALNUM.sub("", key), tuple(_WORD.findall(key)), s.word, s.term)
                )
        # every beginning of every synonym's initials: "g", "gx", "gxy" -> 高血压
        self.pinyin: dict[str, list[_Zh]] = {}
        for z in self.zh:
            for n in range(1, len(z.initials or "") + 1):
                self.pinyin.setdefault((z.initials or "")[:n], []).append(z)

    def __len__(self) -> int:
        return len(self.en) + len(self.zh)

    def match(self, query: str) -> list[Match]:
        q = normalize(query)
        if not q:
            return []
        if has_cjk(q):
            return self._match_cjk(q)
        found = self._match_en(q)
        letters = q.replace(" ", "")
        if len(letters) >= 2 and letters.isascii() and letters.isalpha():
            found.extend(self._match_pinyin(letters))
        return found

    def _match_en(self, q: str) -> list[Match]:
        squashed = _NOT_ALNUM.sub("", q)
        parts = q.split()
        out: list[Match] = []
        for e in self.en:
            # every way to match needs the query (or each of its words) inside the synonym
            if not (
                q in e.key
                or (squashed and squashed in e.squashed)
                or (len(parts) > 1 and all(p in e.key for p in parts))
            ):
                continue
            if q == e.key or (squashed and squashed == e.squashed):
                out.append(Match(e.term, EXACT, (0,), e.word))
            elif (
                e.key.startswith(q)
                or any(w.startswith(q) for w in e.words)
                or (len(parts) > 1 and all(any(w.startswith(p) for w in e.words) for p in parts))
            ):
                out.append(Match(e.term, PREFIX, (len(e.key) - len(q),), e.word))
        return out

    def _match_pinyin(self, q: str) -> list[Match]:
        return [
            Match(z.term, PINYIN, (len(z.initials or "") - len(q), len(z.key)), z.word, z.initials)
            for z in self.pinyin.get(q, ())
        ]

    def _match_cjk(self, q: str) -> list[Match]:
        out: list[Match] = []
        for z in self.zh_exact.get(q, ()):
            out.append(Match(z.term, EXACT, (0,), z.word))
        # Candidates share at least one character with the query.
        shared: dict[int, int] = {}
        for ch in set(q):
            for i in self.by_char.get(ch, ()):
                shared[i] = shared.get(i, 0) + 1
        for i, n in shared.items():
            z = self.zh[i]
            if z.key == q:
                continue
            if z.key.startswith(q):
                out.append(Match(z.term, PREFIX, (len(z.key) - len(q),), z.word))
                continue
            shorter, longer = sorted((q, z.key), key=len)
            contained = shorter in longer and len(shorter) >= min(2, len(q))
            if not contained and n < 2:
                continue
            common = len(shorter) if contained else _common_in_order(q, z.key)
            if not (contained or (common >= 2 and common / len(longer) >= 0.5)):
                continue
            # Closer first: the characters the two have in common, in order, against both
            # lengths (关节疼痛 is nearer 关节痛 than 疼痛; 口腔感染 nearer 口腔真菌感染 than
            # 伤口感染); then a whole word inside the query (or the query inside a word),
            # then the shorter word.
            score = 2 * common / (len(q) + len(z.key))
            closeness = (-round(score, 4), 0 if contained else 1, len(z.key))
            out.append(Match(z.term, SIMILAR, closeness, z.word))
        return out
