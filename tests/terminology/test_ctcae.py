"""The CTCAE v5.0 release: loading, grade texts and term search ranking."""

from __future__ import annotations

import csv

from sqlmodel import select

from pv import paths
from pv.db import read_session
from pv.terminology.ctcae import load_ctcae
from pv.terminology.models import Term, TerminologyRelease
from pv.terminology.search import EXACT, SPELLING, SUBSTRING, WORD_PREFIX, search_terms


def _term(session, name):
    return session.exec(select(Term).where(Term.term == name)).one()


def test_it_loads_837_terms_in_26_socs_once(engine):
    load_ctcae(engine)  # already loaded by the fixture: a second load changes nothing
    with read_session(engine) as s:
        releases = s.exec(select(TerminologyRelease)).all()
        assert [(r.name, r.version, r.term_count) for r in releases] == [("CTCAE", "5.0", 837)]
        terms = s.exec(select(Term)).all()
        assert len(terms) == 837
        assert len({t.soc for t in terms}) == 26


def test_the_shipped_csv_is_the_unmodified_source():
    import hashlib

    digest = hashlib.sha256(paths.CTCAE_V5_CSV.read_bytes()).hexdigest()
    assert digest == "daa128208d9de55355ddc0ac7cac133e5b3b7b7f6c8cb5ca59c933251459a097"


def test_grade_texts_keep_the_dash_as_no_grade(engine):
    with read_session(engine) as s:
        anaphylaxis = _term(s, "Anaphylaxis")
        assert anaphylaxis.code == "10002218"
        assert anaphylaxis.allowed_grades == [3, 4, 5]
        assert anaphylaxis.grade_1 is None and anaphylaxis.grade_2 is None
        cushingoid = _term(s, "Cushingoid")
        assert cushingoid.allowed_grades == [1, 2, 3]
        assert cushingoid.grade_4 is None and cushingoid.grade_5 is None
        irr = _term(s, "Infusion related reaction")
        assert irr.allowed_grades == [1, 2, 3, 4, 5]
        assert irr.grade_5 == "Death"
        assert "Allergic reaction" in (irr.navigational_note or "") or irr.definition


def test_every_term_matches_the_csv_row(engine):
    with paths.CTCAE_V5_CSV.open(encoding="utf-8", newline="") as fh:
        rows = {r["meddra_code"]: r for r in csv.DictReader(fh)}
    with read_session(engine) as s:
        for t in s.exec(select(Term)):
            row = rows[t.code]
            assert (t.term, t.soc) == (row["term"], row["soc"])
            for g in range(1, 6):
                expected = (
                    None if row[f"grade_{g}"].strip() in ("", "-") else row[f"grade_{g}"].strip()
                )
                assert t.grade_text(g) == expected


def test_search_ranks_exact_then_word_prefix_then_substring(engine):
    with read_session(engine) as s:
        hits = search_terms(s, "pain", limit=50)
        assert hits[0].term == "Pain" and hits[0].rank == EXACT
        ranks = [h.rank for h in hits]
        assert ranks == sorted(ranks)
        assert ranks.count(EXACT) == 1 and WORD_PREFIX in ranks
        assert {"Pain in extremity", "Back pain"} <= {h.term for h in hits}
        # "infus" starts words of the infusion terms; it is inside no other term (what
        # follows them is only spelt nearly so: "infes")
        hits = search_terms(s, "INFUS")
        assert [h.term for h in hits[:2]] == [
            "Infusion related reaction",
            "Infusion site extravasation",
        ]
        assert all(h.rank == SPELLING for h in hits[2:])
        # substring only: "ectio" is inside "infection" words but starts none of them
        sub = search_terms(s, "ectio", limit=100)
        assert sub and all(h.rank == SUBSTRING for h in sub)
        assert any(h.term == "Lung infection" for h in sub)


def test_search_by_code_and_by_several_word_prefixes(engine):
    with read_session(engine) as s:
        assert [h.term for h in search_terms(s, "10002218")] == ["Anaphylaxis"]
        assert search_terms(s, "infus rel")[0].term == "Infusion related reaction"
        assert search_terms(s, "   ") == []
        assert search_terms(s, "zzzz-no-such-term") == []
