"""The ClinicalTrials.gov export checked key by key against domain.md §10, its numbers
against the analysis tables, and the refusal of an inconsistent module."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pv.analysis.api import build_tables
from pv.exports import ctgov
from pv.exports.ctgov import CTGovExportError, export_ctgov
from pv.exports.ctgov_check import check_consistency
from tests.exports.conftest import STUDY, Demo

MODULE_KEYS = {
    "frequencyThreshold",
    "timeFrame",
    "description",
    "allCauseMortalityComment",
    "eventGroups",
    "seriousEvents",
    "otherEvents",
}
GROUP_KEYS = {
    "id",
    "title",
    "description",
    "deathsNumAffected",
    "deathsNumAtRisk",
    "seriousNumAffected",
    "seriousNumAtRisk",
    "otherNumAffected",
    "otherNumAtRisk",
}
EVENT_KEYS = {"term", "organSystem", "sourceVocabulary", "assessmentType", "stats"}
STATS_KEYS = {"groupId", "numEvents", "numAffected", "numAtRisk"}
ANALYSIS_KEYS = {
    "groupIds",
    "statisticalMethod",
    "paramType",
    "paramValue",
    "ciPctValue",
    "ciNumSides",
    "ciLowerLimit",
    "ciUpperLimit",
    "pValue",
}


@pytest.fixture(scope="module")
def exported(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("ctgov") / "results.json"
    export_ctgov(demo.engine, study_id=STUDY, out=path)
    return json.loads(path.read_text(encoding="utf-8"))["resultsSection"]


def test_module_keys_and_types(exported) -> None:  # type: ignore[no-untyped-def]
    module = exported["adverseEventsModule"]
    assert set(module) == MODULE_KEYS
    assert module["frequencyThreshold"] == "5"
    assert all(
        isinstance(module[k], str) and module[k]
        for k in ("timeFrame", "description", "allCauseMortalityComment")
    )
    assert [g["id"] for g in module["eventGroups"]] == ["EG000", "EG001"]
    for group in module["eventGroups"]:
        assert set(group) == GROUP_KEYS
        assert all(isinstance(group[k], int) for k in GROUP_KEYS - {"id", "title", "description"})
    for kind in ("seriousEvents", "otherEvents"):
        assert module[kind]
        for event in module[kind]:
            assert set(event) == EVENT_KEYS
            assert event["sourceVocabulary"] == "CTCAE (5.0)"
            assert event["assessmentType"] == "SYSTEMATIC_ASSESSMENT"
            assert [s["groupId"] for s in event["stats"]] == ["EG000", "EG001"]
            for s in event["stats"]:
                assert set(s) == STATS_KEYS and all(
                    isinstance(s[k], int) for k in STATS_KEYS - {"groupId"}
                )


def test_numbers_come_from_the_analysis_tables(exported, demo) -> None:  # type: ignore[no-untyped-def]
    module = exported["adverseEventsModule"]
    aet02, sae, deaths = build_tables(demo.engine, STUDY, ["AET02", "AET02_SAE", "DTHT01"])
    for group, arm in zip(module["eventGroups"], aet02.arms, strict=True):
        assert group["title"] == arm.label
        for kind in ("deaths", "serious", "other"):
            assert group[f"{kind}NumAtRisk"] == arm.N
        assert group["deathsNumAffected"] == deaths.rows[0].cells[arm.label].n
        assert group["seriousNumAffected"] == sae.rows[0].cells[arm.label].n
    serious = {(e["organSystem"], e["term"]): e for e in module["seriousEvents"]}
    terms = [r for r in sae.rows if r.row_type == "term"]
    assert set(serious) == {(r.soc, r.term) for r in terms}
    for row in terms:
        stats = serious[(row.soc, row.term)]["stats"]
        assert [(s["numAffected"], s["numEvents"]) for s in stats] == [
            (row.cells[a.label].n, row.cells[a.label].events) for a in sae.arms
        ]


def test_other_events_follow_the_threshold(demo) -> None:  # type: ignore[no-untyped-def]
    def others(threshold: float) -> list[dict[str, Any]]:
        return ctgov.build_results(demo.engine, study_id=STUDY, threshold=threshold)[
            "adverseEventsModule"
        ]["otherEvents"]

    every, common = others(0), others(20)
    assert len(common) < len(every)
    for event in common:
        assert any(100 * s["numAffected"] / s["numAtRisk"] >= 20 for s in event["stats"])
    below = [e for e in every if e not in common]
    assert below and all(
        all(100 * s["numAffected"] / s["numAtRisk"] < 20 for s in e["stats"]) for e in below
    )
    module = ctgov.build_results(demo.engine, study_id=STUDY, threshold=20)["adverseEventsModule"]
    assert module["frequencyThreshold"] == "20"
    assert check_consistency(module) == []


def test_rate_ratio_analyses_are_aet05s(exported, demo) -> None:  # type: ignore[no-untyped-def]
    (aet05,) = build_tables(demo.engine, STUDY, ["AET05"])
    measures = exported["outcomeMeasuresModule"]["outcomeMeasures"]
    overall = [r for r in aet05.rows if r.row_type == "overall"]
    assert len(measures) == len(overall)
    treated = next(a for a in aet05.arms if a.label != aet05.control)
    for measure, row in zip(measures, overall, strict=True):
        assert row.label in measure["title"]
        (analysis,) = measure["analyses"]
        assert set(analysis) >= ANALYSIS_KEYS
        assert analysis["paramType"] == "Rate Ratio"
        assert analysis["ciPctValue"] == "95" and analysis["ciNumSides"] == "TWO_SIDED"
        assert analysis["groupIds"] == ["OG001", "OG000"]
        cell = row.cells[treated.label]
        if cell.irr is not None and cell.irr == cell.irr and cell.irr != float("inf"):
            assert float(analysis["paramValue"]) == pytest.approx(cell.irr, abs=0.005)
            assert float(analysis["ciLowerLimit"]) == pytest.approx(cell.irr_low, abs=0.005)
        counts = [int(c["value"]) for c in measure["denoms"][0]["counts"]]
        assert counts == [a.N for a in aet05.arms]


def test_an_inconsistent_module_is_refused(exported, demo, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    good = exported["adverseEventsModule"]
    assert check_consistency(good) == []
    bad = copy.deepcopy(good)
    bad["eventGroups"][0]["otherNumAtRisk"] += 1
    bad["seriousEvents"][0]["stats"][1]["numAtRisk"] = 99
    bad["otherEvents"][0]["stats"][0]["numAffected"] = 1000
    problems = check_consistency(bad)
    assert any("EG000: at-risk numbers differ" in p for p in problems)
    assert any("99 at risk, but the event group has 30" in p for p in problems)
    assert any("1000 affected" in p for p in problems)
    bad2 = copy.deepcopy(good)
    bad2["frequencyThreshold"] = 5
    del bad2["otherEvents"][0]["stats"][1]
    problems = check_consistency(bad2)
    assert "frequencyThreshold must be text" in problems
    assert any("stats for groups ['EG000']" in p for p in problems)

    monkeypatch.setattr(ctgov, "build_results", lambda *a, **k: {"adverseEventsModule": bad})
    out = tmp_path / "refused.json"
    with pytest.raises(CTGovExportError, match="at-risk numbers differ"):
        export_ctgov(demo.engine, study_id=STUDY, out=out)
    assert not out.exists()
