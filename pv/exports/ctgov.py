"""ClinicalTrials.gov results: the Adverse Events module and the rate-ratio analyses.

    export_ctgov(engine, study_id="NCT04660565", threshold=5.0, out=Path("results.json"))

writes ``{"resultsSection": {"adverseEventsModule": ..., "outcomeMeasuresModule": ...}}``
with the API v2 keys (domain.md §10). Every number comes from the analysis layer, built
from one load of the study so that all share the safety population as denominator:

- one event group per arm (EG000, ...), at risk = the arm's safety population;
- deaths: DTHT01 (fatal adverse events, treatment-emergent or not);
- serious events: AET02_SAE, every serious TEAE term; the group's seriousNumAffected is
  its "subjects with at least one serious TEAE";
- other events: AET02 over the non-serious TEAEs, the terms reaching the frequency
  threshold (percent of the arm) in at least one arm; otherNumAffected counts subjects
  with at least one of those events (AET02 over just them);
- the rate ratios of AET05 (first occurrence per 100 patient-years; each arm against the
  control arm, exact conditional 95% CI and two-sided p) for any TEAE and each AESI
  grouping, as outcome measures with `analyses` (paramType "Rate Ratio").

The module is checked (ctgov_check.check_consistency) and not written when inconsistent.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from pv.analysis.api import TABLES, build_from_data
from pv.analysis.data import StudyData, load_study
from pv.analysis.table import Table
from pv.exports.ctgov_check import check_consistency
from pv.exports.ctgov_rates import rate_ratio_measures
from pv.study.models import Arm

NAMES = ("AET02", "AET02_SAE", "DTHT01", "AET05")
ASSESSMENT = "SYSTEMATIC_ASSESSMENT"
MORTALITY = (
    "Deaths recorded as adverse events with a fatal outcome (outcome fatal, 'results in "
    "death' or CTCAE grade 5) in the safety population, whatever their cause and "
    "whether treatment-emergent or not."
)


class CTGovExportError(ValueError):
    """The module is inconsistent; `problems` lists why."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "refusing to export an inconsistent adverse events module: " + "; ".join(problems)
        )


def _subset(data: StudyData, mask: np.ndarray) -> StudyData:
    """The same study (subjects, denominators) with only some of its events."""
    return dataclasses.replace(data, events=data.events[mask].reset_index(drop=True))


def _vocabulary(data: StudyData, engine: Engine) -> str:
    from pv.events.models import AdverseEvent

    with engine.connect() as conn:
        labels = conn.execute(
            sa.select(col(AdverseEvent.terminology), sa.func.count())
            .where(col(AdverseEvent.study_id) == data.study_id, col(AdverseEvent.status) != "draft")
            .group_by(col(AdverseEvent.terminology))
            .order_by(sa.func.count().desc())
        ).all()
    label = next((lab for lab, _ in labels if lab), "CTCAE 5.0")
    if label.upper().startswith("CTCAE"):
        version = label[5:].strip() or "5.0"
        return f"CTCAE ({version})"
    return "MedDRA" if "MEDDRA" in label.upper() else label


def _stats(table: Table, row: Any, groups: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "groupId": gid,
            "numEvents": int(row.cells[label].events or 0),
            "numAffected": int(row.cells[label].n or 0),
            "numAtRisk": int(row.cells[label].N or 0),
        }
        for gid, label in groups
    ]


def _terms(table: Table) -> list[Any]:
    return sorted(
        (r for r in table.rows if r.row_type == "term"), key=lambda r: (str(r.soc), str(r.term))
    )


def _overall(table: Table, label: str) -> int:
    rows = [r for r in table.rows if r.row_type == "overall"]
    return int(rows[0].cells[label].n or 0) if rows else 0


def build_results(
    engine: Engine, *, study_id: str, threshold: float = 5.0, cutoff: date | None = None
) -> dict[str, Any]:
    """The resultsSection (adverse events and rate-ratio outcome measures), unchecked."""
    if not 0 <= threshold <= 100:
        raise ValueError("the frequency threshold is a percentage between 0 and 100")
    columns: set[str] = set()
    for name in NAMES:
        columns |= TABLES[name].COLUMNS
    data = load_study(engine, study_id, columns=columns | {"aeser"}, cutoff=cutoff)
    aet02, sae, deaths, rates = (build_from_data(data, n) for n in NAMES)
    nonserious = build_from_data(_subset(data, ~data.events["aeser"].to_numpy(bool)), "AET02")
    groups = [(f"EG{i:03d}", a.label) for i, a in enumerate(aet02.arms)]
    other_rows = [
        r
        for r in _terms(nonserious)
        if any(
            r.cells[lab].N and 100.0 * r.cells[lab].n / r.cells[lab].N >= threshold
            for _, lab in groups
        )
    ]
    wanted = {(r.soc, r.term) for r in other_rows}
    ev = data.events
    pairs = zip(ev["aebodsys"].astype(object), ev["aedecod"].astype(object), strict=True)
    chosen = np.fromiter(((s, t) in wanted for s, t in pairs), dtype=bool, count=len(ev))
    other_any = build_from_data(_subset(data, chosen & ~ev["aeser"].to_numpy(bool)), "AET02")
    with engine.connect() as conn:
        described = dict(
            conn.execute(
                sa.select(col(Arm.label), col(Arm.description)).where(col(Arm.study_id) == study_id)
            ).all()
        )
    vocabulary = _vocabulary(data, engine)
    dead = next(r for r in deaths.rows if r.row_type == "overall")

    def event(row: Any, table: Table) -> dict[str, Any]:
        return {
            "term": row.term,
            "organSystem": row.soc,
            "sourceVocabulary": vocabulary,
            "assessmentType": ASSESSMENT,
            "stats": _stats(table, row, groups),
        }

    window = data.rule.window_days
    until = f"the data cut-off ({cutoff.isoformat()})" if cutoff else "the end of the data"
    module = {
        "frequencyThreshold": f"{threshold:g}",
        "timeFrame": f"From the first dose of study drug to {window} days after the last dose "
        f"(treatment-emergent adverse events), up to {until}.",
        "description": f"Safety population: participants assigned to an arm who received any "
        f"study drug, analysed by arm. {data.rule.footnote()} Terms are "
        f"{vocabulary} terms.",
        "allCauseMortalityComment": MORTALITY,
        "eventGroups": [
            {
                "id": gid,
                "title": label,
                "description": described.get(label) or label,
                "deathsNumAffected": int(dead.cells[label].n or 0),
                "deathsNumAtRisk": int(dead.cells[label].N or 0),
                "seriousNumAffected": _overall(sae, label),
                "seriousNumAtRisk": next(a.N for a in sae.arms if a.label == label),
                "otherNumAffected": _overall(other_any, label),
                "otherNumAtRisk": next(a.N for a in other_any.arms if a.label == label),
            }
            for gid, label in groups
        ],
        "seriousEvents": [event(r, sae) for r in _terms(sae)],
        "otherEvents": [event(r, nonserious) for r in other_rows],
    }
    return {
        "adverseEventsModule": module,
        "outcomeMeasuresModule": {"outcomeMeasures": rate_ratio_measures(rates, until, described)},
    }


def check_results(results: dict[str, Any]) -> list[str]:
    """The module's own rules, and the outcome measures' denominators against its at-risk."""
    module = results["adverseEventsModule"]
    problems = check_consistency(module)
    at_risk = [g.get("seriousNumAtRisk") for g in module.get("eventGroups", [])]
    for m in results.get("outcomeMeasuresModule", {}).get("outcomeMeasures", []):
        counts = [int(c["value"]) for d in m.get("denoms", []) for c in d.get("counts", [])]
        if counts != at_risk:
            problems.append(
                f"outcome measure {m.get('title')!r}: participants {counts}, "
                f"but the event groups have {at_risk} at risk"
            )
    return problems


def export_ctgov(
    engine: Engine,
    *,
    study_id: str,
    threshold: float = 5.0,
    out: Path | str | BinaryIO,
    cutoff: date | None = None,
) -> dict[str, Any]:
    """Write the resultsSection as JSON; raises CTGovExportError when inconsistent."""
    results = build_results(engine, study_id=study_id, threshold=threshold, cutoff=cutoff)
    problems = check_results(results)
    if problems:
        raise CTGovExportError(problems)
    payload = {"resultsSection": results}
    text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    if isinstance(out, Path | str):
        Path(out).write_text(text, encoding="utf-8")
    else:
        out.write(text.encode("utf-8"))
    return payload
