"""Loading a licensed MedDRA ASCII release, on a tiny synthetic release written here.

The codes and names below are invented for the test; no MedDRA content is used.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from pv.db import read_session
from pv.terminology.meddra import MeddraError, load_meddra
from pv.terminology.models import Term, TerminologyRelease

# ruff: noqa: E501  (the .asc lines are kept whole so they read like the real files)

FILES = {
    "soc.asc": ["90000001$Synthetic infections soc$SynInf$", "90000002$Synthetic skin soc$SynSkn$"],
    "hlgt.asc": ["91000001$Synthetic hlgt A$", "91000002$Synthetic hlgt B$"],
    "hlt.asc": ["92000001$Synthetic hlt A$", "92000002$Synthetic hlt B$"],
    "pt.asc": [
        "93000001$Synthetic pneumonia$$90000001$$$$$$$",
        "93000002$Synthetic rash$$90000002$$$$$$$",
    ],
    # pt$hlt$hlgt$soc$pt name$hlt name$hlgt name$soc name$abbrev$$pt soc$primary flag$
    "mdhier.asc": [
        "93000001$92000001$91000001$90000001$Synthetic pneumonia$Synthetic hlt A$Synthetic hlgt A$Synthetic infections soc$SynInf$$90000001$Y$",
        "93000002$92000002$91000002$90000002$Synthetic rash$Synthetic hlt B$Synthetic hlgt B$Synthetic skin soc$SynSkn$$90000002$Y$",
        "93000002$92000001$91000001$90000001$Synthetic rash$Synthetic hlt A$Synthetic hlgt A$Synthetic infections soc$SynInf$$90000002$N$",
    ],
    "llt.asc": [
        "94000001$Synthetic chest infection$93000001$$$$$$$Y$$",
        "94000002$Synthetic pneumonia$93000001$$$$$$$Y$$",
        "94000003$Synthetic skin eruption$93000002$$$$$$$N$$",
    ],
    "meddra_release.asc": ["99.0$English$$$"],
}


def _write(tmp_path, files=FILES):
    for name, lines in files.items():
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def test_it_links_llt_to_pt_and_primary_soc(engine, tmp_path):
    release_id, n = load_meddra(engine, _write(tmp_path))
    assert n == 3
    with read_session(engine) as s:
        release = s.get(TerminologyRelease, release_id)
        assert (release.name, release.version, release.term_count) == ("MedDRA", "99.0", 3)
        terms = {t.code: t for t in s.exec(select(Term).where(Term.release_id == release_id))}
        chest = terms["94000001"]
        assert (chest.term, chest.pt_code, chest.pt_term) == (
            "Synthetic chest infection",
            "93000001",
            "Synthetic pneumonia",
        )
        assert (chest.soc, chest.soc_code, chest.hlt_term) == (
            "Synthetic infections soc",
            "90000001",
            "Synthetic hlt A",
        )
        rash = terms["94000003"]
        # The rash PT sits under two SOCs; the primary one (flag Y) is used.
        assert rash.soc == "Synthetic skin soc" and rash.hlgt_term == "Synthetic hlgt B"
        assert rash.current is False  # llt_currency N
        assert chest.grade_text(3) is None  # MedDRA carries no grades


def test_it_refuses_an_incomplete_release(engine, tmp_path):
    files = dict(FILES)
    del files["mdhier.asc"]
    with pytest.raises(MeddraError, match="mdhier.asc"):
        load_meddra(engine, _write(tmp_path, files))


def test_it_refuses_an_llt_pointing_at_a_missing_pt(engine, tmp_path):
    files = dict(FILES)
    files["llt.asc"] = ["94000009$Orphan$93999999$$$$$$$Y$$"]
    with pytest.raises(MeddraError, match="93999999"):
        load_meddra(engine, _write(tmp_path, files))
    with read_session(engine) as s:
        assert (
            s.exec(select(TerminologyRelease).where(TerminologyRelease.name == "MedDRA")).all()
            == []
        )


def test_gitignore_keeps_meddra_files_out():
    from pathlib import Path

    ignore = (Path(__file__).parents[2] / ".gitignore").read_text()
    assert "*.asc" in ignore
