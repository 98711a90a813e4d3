"""The AESI catalogue for NCT04660565: its content against CTCAE v5.0, and its rules."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pv import paths
from pv.terminology.aesi import GTI_DOMAIN_LABELS, AesiCatalog, load_aesi

AESI = paths.AESI_DIR
ANAPHYLAXIS = "10002218"
ALLERGIC_REACTION = "10001718"
SJS = "10042033"
INFUSION_RELATED_REACTION = "10051792"
FEBRILE_NEUTROPENIA = "10016288"
PAPULOPUSTULAR_RASH = "10069138"
RASH_PUSTULAR = "10037888"
CONJUNCTIVITIS = "10010741"
HYPERGLYCEMIA = "10020639"
CUSHINGOID = "10011655"
LUNG_INFECTION = "10061229"
HBV_REACTIVATION = "10058827"
SHINGLES = "10040555"
HYPERTENSION = "10020772"


def _rows(name: str) -> list[dict[str, str]]:
    with (AESI / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def ctcae() -> dict[str, dict[str, str]]:
    with paths.CTCAE_V5_CSV.open(encoding="utf-8", newline="") as fh:
        return {r["meddra_code"]: r for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def cat() -> AesiCatalog:
    return load_aesi()


def test_file_headers() -> None:
    with (AESI / "groupings.csv").open(encoding="utf-8") as fh:
        assert fh.readline().strip() == "key,label,description"
    with (AESI / "terms.csv").open(encoding="utf-8") as fh:
        assert fh.readline().strip() == "grouping,subgroup,ctcae_code,ctcae_term,flag"
    keys = [r["key"] for r in _rows("groupings.csv")]
    assert keys == ["infection", "hypersensitivity", "infusion_reaction", "gc_toxicity"]


def test_every_listed_code_and_term_exists_exactly_in_ctcae(ctcae) -> None:
    rows = _rows("terms.csv")
    assert rows
    for row in rows:
        assert row["ctcae_code"] in ctcae, row
        assert ctcae[row["ctcae_code"]]["term"] == row["ctcae_term"], row


def test_no_duplicate_rows_within_a_grouping() -> None:
    pairs = [(r["grouping"], r["ctcae_code"]) for r in _rows("terms.csv")]
    assert len(pairs) == len(set(pairs))


def test_subgroups_only_for_gc_toxicity_and_all_known() -> None:
    for row in _rows("terms.csv"):
        if row["grouping"] == "gc_toxicity":
            assert row["subgroup"] in GTI_DOMAIN_LABELS, row
        else:
            assert row["subgroup"] == "", row


def test_flags_are_from_the_documented_vocabulary() -> None:
    known = {"", "opportunistic", "verbatim_review", "presumed_infection", "delayed_type"}
    assert {r["flag"] for r in _rows("terms.csv")} <= known


def test_groupings_in_file_order(cat) -> None:
    assert [g.key for g in cat.groupings] == [
        "infection",
        "hypersensitivity",
        "infusion_reaction",
        "gc_toxicity",
    ]
    assert all(g.label and g.description for g in cat.groupings)


def test_infection_is_the_soc_minus_non_infective_terms_plus_febrile_neutropenia(
    cat, ctcae
) -> None:
    soc = {c for c, r in ctcae.items() if r["soc"] == "Infections and infestations"}
    listed = {r["ctcae_code"] for r in _rows("terms.csv") if r["grouping"] == "infection"}
    assert soc - listed == {PAPULOPUSTULAR_RASH, CONJUNCTIVITIS}
    assert listed - soc == {FEBRILE_NEUTROPENIA}


def test_rash_terms_of_the_infection_soc(cat) -> None:
    # Papulopustular rash is the non-infective (EGFR-inhibitor type) eruption: not an
    # infection, but a GC skin toxicity (steroid acne has no comedones either).
    assert "infection" not in cat.classify(PAPULOPUSTULAR_RASH)
    assert cat.subgroup_of(PAPULOPUSTULAR_RASH, "gc_toxicity") == "skin"
    # Rash pustular is a boil (CTCAE synonym), graded by anti-infective treatment.
    assert "infection" in cat.classify(RASH_PUSTULAR)
    assert cat.classify(CONJUNCTIVITIS) == []


def test_febrile_neutropenia_is_a_presumed_infection(cat) -> None:
    assert "infection" in cat.classify(FEBRILE_NEUTROPENIA)
    assert cat.flags(FEBRILE_NEUTROPENIA) == {"presumed_infection"}


def test_opportunistic_flags(cat) -> None:
    assert "opportunistic" in cat.flags(HBV_REACTIVATION)
    assert "opportunistic" in cat.flags(SHINGLES)
    assert cat.flags(LUNG_INFECTION) == set()
    for row in _rows("terms.csv"):
        if row["flag"] in ("opportunistic", "verbatim_review", "presumed_infection"):
            assert row["grouping"] == "infection"


def test_hypersensitivity_and_infusion_reaction(cat) -> None:
    assert cat.classify(ANAPHYLAXIS) == ["hypersensitivity"]
    assert cat.classify(INFUSION_RELATED_REACTION) == ["infusion_reaction"]
    assert cat.subgroups("hypersensitivity") == []


def test_gc_toxicity_subgroups(cat) -> None:
    assert cat.classify(HYPERGLYCEMIA) == ["gc_toxicity"]
    assert cat.subgroup_of(HYPERGLYCEMIA, "gc_toxicity") == "glucose"
    assert cat.subgroup_of(CUSHINGOID, "gc_toxicity") == "damage"
    assert cat.subgroup_of(HYPERTENSION, "gc_toxicity") == "blood_pressure"
    assert cat.subgroup_of(HYPERGLYCEMIA, "infection") is None
    assert cat.subgroups("gc_toxicity") == list(GTI_DOMAIN_LABELS)


def test_gc_infection_domain_references_the_infection_grouping(cat) -> None:
    rows = _rows("terms.csv")
    assert not [r for r in rows if r["subgroup"] == "infection"]  # not duplicated
    assert cat.classify(LUNG_INFECTION) == ["infection", "gc_toxicity"]
    assert cat.subgroup_of(LUNG_INFECTION, "gc_toxicity") == "infection"


def test_unknown_and_missing_codes(cat) -> None:
    for code in (None, "", "99999999"):
        assert cat.classify(code) == []
        assert cat.flags(code) == set()
        assert cat.subgroup_of(code, "gc_toxicity") is None
    assert cat.classify(f" {ANAPHYLAXIS} ") == ["hypersensitivity"]


T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("code", "onset", "expected"),
    [
        (ANAPHYLAXIS, T0, True),
        (ANAPHYLAXIS, T0 + timedelta(hours=23, minutes=59), True),
        (ANAPHYLAXIS, T0 + timedelta(hours=24), True),
        (ANAPHYLAXIS, T0 + timedelta(hours=24, minutes=1), False),
        (ANAPHYLAXIS, T0 - timedelta(minutes=1), False),
        (ALLERGIC_REACTION, T0 + timedelta(hours=2), True),
        (HYPERTENSION, T0 + timedelta(hours=2), False),
        (INFUSION_RELATED_REACTION, T0 + timedelta(hours=2), False),
        (SJS, T0 + timedelta(hours=2), False),  # delayed-type hypersensitivity
        (ANAPHYLAXIS, None, False),
        (None, T0, False),
    ],
)
def test_possible_infusion_reaction(cat, code, onset, expected) -> None:
    assert cat.possible_infusion_reaction(code=code, onset=onset, infusion_starts=[T0]) is expected


def test_possible_infusion_reaction_any_infusion(cat) -> None:
    starts = [T0, T0 + timedelta(days=14), T0 + timedelta(days=28)]
    onset = T0 + timedelta(days=14, hours=5)
    assert cat.possible_infusion_reaction(code=ANAPHYLAXIS, onset=onset, infusion_starts=starts)
    assert not cat.possible_infusion_reaction(
        code=ANAPHYLAXIS, onset=T0 + timedelta(days=7), infusion_starts=starts
    )
    assert not cat.possible_infusion_reaction(code=ANAPHYLAXIS, onset=T0, infusion_starts=[])


@pytest.mark.parametrize(
    ("code", "grade", "serious", "expected"),
    [
        (LUNG_INFECTION, 3, False, True),
        (LUNG_INFECTION, 4, None, True),
        (LUNG_INFECTION, 2, True, True),
        (LUNG_INFECTION, 2, False, False),
        (LUNG_INFECTION, None, None, False),
        (LUNG_INFECTION, None, True, True),
        (FEBRILE_NEUTROPENIA, 3, False, True),
        (HYPERTENSION, 4, True, False),
        (None, 5, True, False),
    ],
)
def test_is_serious_infection(cat, code, grade, serious, expected) -> None:
    assert cat.is_serious_infection(code=code, grade=grade, serious=serious) is expected


def test_rules_shape() -> None:
    rules = json.loads((AESI / "rules.json").read_text(encoding="utf-8"))
    pir = rules["possible_infusion_reaction"]
    assert (pir["drug"], pir["window_hours"], pir["groupings"]) == (
        "belimumab",
        24,
        ["hypersensitivity"],
    )
    si = rules["serious_infection"]
    assert (si["grouping"], si["min_grade"], si["or_serious"]) == ("infection", 3, True)


def test_default_catalogue_is_cached_and_directory_is_honoured(tmp_path: Path) -> None:
    assert load_aesi() is load_aesi()
    for name in ("groupings.csv", "terms.csv", "rules.json"):
        (tmp_path / name).write_text((AESI / name).read_text(encoding="utf-8"), encoding="utf-8")
    other = load_aesi(tmp_path)
    assert other is not load_aesi()
    assert other.classify(ANAPHYLAXIS) == ["hypersensitivity"]


def test_loader_rejects_unknown_gc_subgroup(tmp_path: Path) -> None:
    for name in ("groupings.csv", "rules.json"):
        (tmp_path / name).write_text((AESI / name).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "terms.csv").write_text(
        "grouping,subgroup,ctcae_code,ctcae_term,flag\n"
        "gc_toxicity,kidney,10011368,Creatinine increased,\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="subgroup"):
        load_aesi(tmp_path)


SCORE_KEY = re.compile(r"weight(?!\s+gain)|score|points|\bmcda\b|1000minds", re.IGNORECASE)


def test_no_gti_weights_or_scores_shipped() -> None:
    files = sorted(p.name for p in AESI.iterdir())
    assert set(files) >= {"groupings.csv", "terms.csv", "rules.json", "README.md"}
    # Machine-readable files: no weight/score-like field names or values.
    rules = json.loads((AESI / "rules.json").read_text(encoding="utf-8"))

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                assert not SCORE_KEY.search(key), key
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(rules)
    for name in ("groupings.csv", "terms.csv"):
        for row in _rows(name):
            for column, value in row.items():
                assert not SCORE_KEY.search(column)
                if column != "ctcae_code":
                    assert not re.fullmatch(r"[-+]?\d+(\.\d+)?", value), (name, column, value)
    for row in _rows("terms.csv"):
        assert not SCORE_KEY.search(row["ctcae_term"]), row
    # The README may say "no weights", but must hold no number tied to weight/score/points.
    readme = (AESI / "README.md").read_text(encoding="utf-8")
    assert not re.search(r"(weight|score|points)\s*[:=]?\s*[-+]?\d", readme, re.IGNORECASE)
    assert not re.search(r"\d+\s*(points|pts)\b", readme, re.IGNORECASE)
