"""Term search by synonym: the curated Chinese and English words of CTCAE v5.0 terms, the
queries sites write (fixtures), ranking, and the reason each hit gives."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pv import paths
from pv.db import read_session
from pv.terminology import synonyms as syn
from pv.terminology.search import (
    EXACT,
    PINYIN,
    SPELLING,
    SUBSTRING,
    SYNONYM,
    SYNONYM_PREFIX,
    SYNONYM_SIMILAR,
    WORD_PREFIX,
    search_terms,
)
from pv.web.templating import templates

HERE = Path(__file__).parent


def _ctcae_terms() -> set[str]:
    with paths.CTCAE_V5_CSV.open(encoding="utf-8", newline="") as fh:
        return {r["term"] for r in csv.DictReader(fh)}


def _fixture(name: str) -> list[tuple[str, str]]:
    with (HERE / name).open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        assert next(reader) == ["query", "term"]
        return [(q, t) for q, t in reader]


def test_the_shipped_file_is_well_formed_and_every_term_is_a_ctcae_v5_term():
    rows = syn.read_synonyms()
    terms = _ctcae_terms()
    missing = sorted({(s.word, s.term) for s in rows if s.term not in terms})
    assert missing == []
    by_language = {lang: [s for s in rows if s.language == lang] for lang in syn.LANGUAGES}
    assert len(by_language["zh"]) >= 180
    assert len(by_language["en"]) >= 150
    assert all(syn.has_cjk(s.word) for s in by_language["zh"])
    assert not any(syn.has_cjk(s.word) for s in by_language["en"])
    wanted = {
        ("肺炎", "Lung infection"),
        ("带状疱疹", "Shingles"),
        ("尿路感染", "Urinary tract infection"),
        ("输液反应", "Infusion related reaction"),
        ("高血糖", "Hyperglycemia"),
        ("骨质疏松", "Osteoporosis"),
        ("pneumonia", "Lung infection"),
        ("UTI", "Urinary tract infection"),
        ("high blood sugar", "Hyperglycemia"),
        ("neutropenia", "Neutrophil count decreased"),
        ("herpes zoster", "Shingles"),
        ("hypersensitivity", "Allergic reaction"),
    }
    assert wanted <= {(s.word, s.term) for s in rows}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("word\tlanguage\tterm\n", "header"),
        ("word\tlanguage\tterm\tnote\n肺炎\tzh\tLung infection\n", "columns"),
        ("word\tlanguage\tterm\tnote\n肺炎\tfr\tLung infection\tx\n", "language"),
        ("word\tlanguage\tterm\tnote\n肺炎\tzh\t\tx\n", "empty"),
        ("word\tlanguage\tterm\tnote\n肺炎\tzh\tFever\tx\n肺炎\tzh\tFever\ty\n", "twice"),
    ],
)
def test_a_malformed_synonym_file_is_refused_with_its_line(tmp_path, text, problem):
    path = tmp_path / "synonyms.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(syn.SynonymFileError, match=problem):
        syn.read_synonyms(path)


def _misses(engine, fixture: str) -> tuple[int, list[str]]:
    rows = _fixture(fixture)
    misses = []
    with read_session(engine) as s:
        for query, term in rows:
            top = [h.term for h in search_terms(s, query, limit=15)[:3]]
            if term not in top:
                misses.append(f"{query} -> {term}: got {top}")
    return len(rows), misses


def test_chinese_queries_as_sites_write_them_find_the_term_in_the_first_three(engine):
    rows = _fixture("chinese_terms.tsv")
    assert len(rows) == 150 and len({q for q, _ in rows}) == 150
    assert _ctcae_terms() >= {t for _, t in rows}
    n, misses = _misses(engine, "chinese_terms.tsv")
    assert misses == [], f"{len(misses)} of {n} not in the first three:\n" + "\n".join(misses)


def test_english_everyday_words_find_the_term_in_the_first_three(engine):
    assert _ctcae_terms() >= {t for _, t in _fixture("english_terms.tsv")}
    n, misses = _misses(engine, "english_terms.tsv")
    assert n >= 50
    assert misses == [], f"{len(misses)} of {n} not in the first three:\n" + "\n".join(misses)


def test_each_hit_says_why_it_matched(engine):
    with read_session(engine) as s:
        first = search_terms(s, "肺炎")[0]
        assert (first.term, first.rank) == ("Lung infection", SYNONYM)
        assert first.why == "肺炎: synonym of Lung infection"
        first = search_terms(s, "pneumonia")[0]
        assert first.why == "pneumonia: synonym of Lung infection"
        # a longer phrase: the synonym inside it is named
        first = search_terms(s, "重症肺炎")[0]
        assert (first.term, first.rank) == ("Lung infection", SYNONYM_SIMILAR)
        assert first.why == "肺炎: synonym of Lung infection"
        for q in ("fy", "FY"):
            first = search_terms(s, q)[0]
            assert (first.term, first.rank) == ("Lung infection", PINYIN)
            assert first.why == "肺炎: pinyin initials fy"
        # found by its own name or code: no reason needed
        assert search_terms(s, "Shingles")[0].why is None
        assert search_terms(s, "10002218")[0].why is None


def test_ranking_names_synonyms_closeness_and_pinyin(engine):
    with read_session(engine) as s:
        # a synonym itself beats a word of a name beginning with the query
        hits = search_terms(s, "neutropenia")
        assert [h.term for h in hits[:2]] == ["Neutrophil count decreased", "Febrile neutropenia"]
        assert [h.rank for h in hits[:2]] == [SYNONYM, WORD_PREFIX]
        # the name itself beats a synonym naming it: one hit per term, the best reason
        hits = search_terms(s, "shingles", limit=50)
        assert hits[0].term == "Shingles" and hits[0].rank == EXACT
        assert [h.term for h in hits].count("Shingles") == 1
        # the closer Chinese synonym first: 间质性肺炎 is pneumonitis, not lung infection
        assert [h.term for h in search_terms(s, "间质性肺炎")[:2]] == [
            "Pneumonitis",
            "Lung infection",
        ]
        assert search_terms(s, "关节疼痛")[0].term == "Arthralgia"
        # a Chinese word begun: every term of a synonym starting so
        assert search_terms(s, "带状")[0].term == "Shingles"
        # pinyin initials rank below the names a 2-letter query begins, above substrings
        hits = search_terms(s, "fy", limit=30)
        ranks = [h.rank for h in hits]
        assert ranks == sorted(ranks) and PINYIN in ranks and SUBSTRING in ranks
        # ranks ascend and the limit holds
        hits = search_terms(s, "感染", limit=5)
        assert len(hits) == 5 and len({h.term for h in hits}) == 5
        # full-width letters, spaces and punctuation in Chinese are folded
        assert search_terms(s, "ＣＭＶ 感染")[0].term == "Cytomegalovirus infection reactivation"
        assert search_terms(s, "肺部 感染。")[0].term == "Lung infection"


def test_every_ctcae_name_still_finds_itself_first(engine):
    with read_session(engine) as s:
        for term in sorted(_ctcae_terms()):
            first = search_terms(s, term, limit=3)[0]
            assert (first.term, first.rank, first.why) == (term, EXACT, None), term


def test_the_term_picker_shows_the_reason(engine):
    with read_session(engine) as s:
        hits = search_terms(s, "尿路感染", limit=15)
    html = templates.env.get_template("events/_term_results.html").render(hits=hits, q="尿路感染")
    assert "Urinary tract infection" in html
    assert '<span class="soc why">尿路感染: synonym of Urinary tract infection</span>' in html
    html = templates.env.get_template("events/_term_results.html").render(hits=[], q="<b>zz")
    assert 'No CTCAE term matches "&lt;b&gt;zz".' in html


def test_the_command_shows_the_reason(db_url, monkeypatch, capsys):
    from pv.cli import main
    from pv.db import _engines
    from pv.settings import get_settings

    monkeypatch.setenv("PV_DATABASE_URL", db_url)
    monkeypatch.setenv("PV_LANGUAGE", "en")
    get_settings.cache_clear()
    try:
        assert main(["terminology", "search", "带状疱疹", "--limit", "3"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0] == (
            "10040555  Shingles  [Infections and infestations]  (带状疱疹: synonym of Shingles)"
        )
        assert main(["terminology", "search", "Shingles", "--limit", "1"]) == 0
        assert capsys.readouterr().out.splitlines() == [
            "10040555  Shingles  [Infections and infestations]"
        ]
    finally:
        get_settings.cache_clear()
        _engines.pop(db_url, None)


def test_pinyin_initials_of_chinese_words_only():
    assert syn.initials("肺炎") == "fy"
    assert syn.initials("高血压") == "gxy"
    assert syn.initials("CMV感染") is None
    assert syn.normalize("  Ｈigh   BLOOD sugar ") == "high blood sugar"


def test_the_reason_is_translated_in_the_language_of_the_work(engine, monkeypatch):
    import gettext

    from pv import i18n

    class Catalog(gettext.NullTranslations):
        def gettext(self, message):
            return {
                "%(word)s: synonym of %(term)s": "%(word)s：%(term)s 的同义词",
                "%(word)s: pinyin initials %(initials)s": "%(word)s：拼音首字母 %(initials)s",
                "%(word)s: close to %(term)s (spelling)": "%(word)s：拼写接近 %(term)s",
            }.get(message, message)

    monkeypatch.setitem(i18n._catalogs, "zh-Hans", Catalog())
    with read_session(engine) as s, i18n.use("zh-Hans"):
        assert search_terms(s, "带状疱疹")[0].why == "带状疱疹：Shingles 的同义词"
        assert search_terms(s, "gxy")[0].why == "高血压：拼音首字母 gxy"
        assert search_terms(s, "fatique")[0].why == "fatique：拼写接近 Fatigue"
    with read_session(engine) as s:
        assert search_terms(s, "带状疱疹")[0].why == "带状疱疹: synonym of Shingles"


def test_a_misspelling_finds_the_term_below_every_other_match(engine):
    with read_session(engine) as s:
        first = search_terms(s, "pnuemonia")[0]
        assert (first.term, first.rank) == ("Lung infection", SPELLING)
        assert first.why == "pnuemonia: close to pneumonia (spelling), synonym of Lung infection"
        first = search_terms(s, "Diarhea")[0]
        assert (first.term, first.why) == ("Diarrhea", "Diarhea: close to Diarrhea (spelling)")
        # as far as it is typed: a misspelt beginning
        assert "Lung infection" in [h.term for h in search_terms(s, "pnuemon")[:3]]
        # only when few terms match better, and always below them
        hits = search_terms(s, "rash", limit=50)
        assert SPELLING not in [h.rank for h in hits]
        hits = search_terms(s, "hypoglycaemia", limit=50)
        ranks = [h.rank for h in hits]
        assert hits[0].term == "Hypoglycemia" and ranks == sorted(ranks)
        # short, Chinese or far-off queries are not guessed at
        assert search_terms(s, "xyz") == []
        assert search_terms(s, "qwertyuiop") == []
        assert all(h.rank != SPELLING for h in search_terms(s, "肺炎感染病", limit=50))


def _fake_meddra(tmp_path, lung_code: str):
    """A tiny invented MedDRA release: two LLTs under the PT that is CTCAE's Lung
    infection, one under a PT no CTCAE term has. No MedDRA content."""
    files = {
        "soc.asc": ["90000001$Synthetic infections soc$SynInf$"],
        "hlgt.asc": ["91000001$Synthetic hlgt$"],
        "hlt.asc": ["92000001$Synthetic hlt$"],
        "pt.asc": [
            f"{lung_code}$Lung infection$$90000001$$$$$$$",
            "93000009$Synthetic orphan pt$$90000001$$$$$$$",
        ],
        "mdhier.asc": [
            f"{lung_code}$92000001$91000001$90000001$Lung infection$Synthetic hlt$Synthetic hlgt$"
            "Synthetic infections soc$SynInf$$90000001$Y$",
            "93000009$92000001$91000001$90000001$Synthetic orphan pt$Synthetic hlt$"
            "Synthetic hlgt$Synthetic infections soc$SynInf$$90000001$Y$",
        ],
        "llt.asc": [
            f"{lung_code}$Lung infection${lung_code}$$$$$$$Y$$",
            f"94000001$Zzyzx bronchial infection${lung_code}$$$$$$$Y$$",
            f"94000002$Zzyzx lobar consolidation${lung_code}$$$$$$$N$$",
            "94000003$Zzyzx orphan finding$93000009$$$$$$$Y$$",
        ],
        "meddra_release.asc": ["99.9$English$$$"],
    }
    for name, lines in files.items():
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def test_meddra_llt_names_find_the_ctcae_term_when_a_release_is_loaded(engine, tmp_path):
    from pv.terminology.meddra import load_meddra

    with read_session(engine) as s:
        assert search_terms(s, "zzyzx bronchial") == []
        lung = search_terms(s, "Lung infection")[0]
    load_meddra(engine, _fake_meddra(tmp_path, lung.code))
    with read_session(engine) as s:
        first = search_terms(s, "Zzyzx bronchial infection")[0]
        assert (first.term, first.code, first.rank) == ("Lung infection", lung.code, SYNONYM)
        assert first.why == "Zzyzx bronchial infection: MedDRA LLT of Lung infection"
        # begun, or each word begun; a non-current LLT too
        assert search_terms(s, "zzyzx bron")[0].term == "Lung infection"
        first = search_terms(s, "lobar zzy")[0]
        assert (first.term, first.rank) == ("Lung infection", SYNONYM_PREFIX)
        assert first.why == "Zzyzx lobar consolidation: MedDRA LLT of Lung infection"
        # an LLT whose PT no CTCAE term codes is not offered (the form codes to CTCAE)
        assert search_terms(s, "zzyzx orphan") == []
        # CTCAE names still come first, without a MedDRA reason
        first = search_terms(s, "Lung infection")[0]
        assert (first.term, first.rank, first.why) == ("Lung infection", EXACT, None)
