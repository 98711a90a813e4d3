"""The rate-ratio analyses of the ClinicalTrials.gov export, in the outcome-measures shape.

AET05's rows for any TEAE and for each AESI grouping become outcome measures (rate of
first occurrence per 100 patient-years, 95% CI, per arm) whose `analyses` give the
incidence rate ratio of each arm against the control arm with its exact conditional 95%
CI and two-sided p-value, all as the analysis layer computed them. Values are text, as
the registry holds them; a ratio that cannot be estimated (no first event in a group)
is "NA" with a comment.
"""

from __future__ import annotations

import math
from typing import Any

from pv.analysis.table import Table


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "NA"
    return f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "NA"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def rate_ratio_measures(
    rates: Table, until: str, described: dict[str, str | None] | None = None
) -> list[dict[str, Any]]:
    """AET05's any-TEAE and AESI rows as outcome measures with rate-ratio analyses."""
    groups = [(f"OG{i:03d}", a) for i, a in enumerate(rates.arms)]
    control = next((gid for gid, a in groups if a.label == rates.control), None)
    measures = []
    for row in (r for r in rates.rows if r.row_type == "overall"):
        analyses = []
        for gid, arm in groups:
            cell = row.cells[arm.label]
            if control is None or gid == control:
                continue
            analysis = {
                "groupIds": [gid, control],
                "groupDescription": f"{arm.label} vs {rates.control}: "
                f"{row.label}, first occurrence per 100 patient-years",
                "nonInferiorityType": "SUPERIORITY",
                "pValue": _p(cell.p_value),
                "statisticalMethod": "Exact conditional test for two Poisson rates (binomial)",
                "paramType": "Rate Ratio",
                "paramValue": _num(cell.irr),
                "ciPctValue": "95",
                "ciNumSides": "TWO_SIDED",
                "ciLowerLimit": _num(cell.irr_low),
                "ciUpperLimit": _num(cell.irr_high),
            }
            if cell.irr is None or not math.isfinite(cell.irr):
                analysis["estimateComment"] = "Not estimable: no first events in a group."
            analyses.append(analysis)
        measures.append(
            {
                "type": "OTHER_PRE_SPECIFIED",
                "title": f"Exposure-adjusted incidence rate of {row.label} (first occurrence)",
                "description": " ".join(
                    rates.footnotes[:1] + [f for f in rates.footnotes if f.startswith("95% CI")]
                ),
                "populationDescription": "Safety population",
                "reportingStatus": "POSTED",
                "paramType": "NUMBER",
                "dispersionType": "95% Confidence Interval",
                "unitOfMeasure": "participants with a first event per 100 patient-years",
                "timeFrame": f"From the first dose to the end of the treatment-emergence window, "
                f"up to {until}.",
                "groups": [
                    {
                        "id": gid,
                        "title": a.label,
                        "description": (described or {}).get(a.label) or a.label,
                    }
                    for gid, a in groups
                ],
                "denoms": [
                    {
                        "units": "Participants",
                        "counts": [{"groupId": gid, "value": str(a.N)} for gid, a in groups],
                    }
                ],
                "classes": [
                    {
                        "categories": [
                            {
                                "measurements": [
                                    {
                                        "groupId": gid,
                                        "value": _num(row.cells[a.label].rate, 1),
                                        "lowerLimit": _num(row.cells[a.label].rate_low, 1),
                                        "upperLimit": _num(row.cells[a.label].rate_high, 1),
                                    }
                                    for gid, a in groups
                                ]
                            }
                        ]
                    }
                ],
                "analyses": analyses,
            }
        )
    return measures
