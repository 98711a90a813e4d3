"""Consistency rules of a ClinicalTrials.gov results Adverse Events module (domain.md §10).

`check_consistency(module)` returns every problem found (empty: consistent). The export
refuses to write a module with problems. Rules: the keys the registry requires are there;
each event group's at-risk number is the same for deaths, serious and other events; every
serious or other event has exactly one stats entry per event group, whose at-risk number
is the group's; nobody is affected more often than at risk, no term has fewer events than
affected participants, no group has fewer affected participants overall than under one
of its terms; each "other" event reaches the frequency threshold in at least one group.
"""

from __future__ import annotations

import re
from typing import Any

GROUP_KEYS = (
    "id",
    "title",
    "description",
    "deathsNumAffected",
    "deathsNumAtRisk",
    "seriousNumAffected",
    "seriousNumAtRisk",
    "otherNumAffected",
    "otherNumAtRisk",
)
MODULE_KEYS = (
    "frequencyThreshold",
    "timeFrame",
    "description",
    "allCauseMortalityComment",
    "eventGroups",
    "seriousEvents",
    "otherEvents",
)
EVENT_KEYS = ("term", "organSystem", "sourceVocabulary", "assessmentType", "stats")
STATS_KEYS = ("groupId", "numEvents", "numAffected", "numAtRisk")
ASSESSMENT_TYPES = ("SYSTEMATIC_ASSESSMENT", "NON_SYSTEMATIC_ASSESSMENT")
GROUP_ID = re.compile(r"^EG[0-9]{3}$")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_consistency(module: dict[str, Any]) -> list[str]:
    """Every inconsistency of an adverseEventsModule, as readable messages."""
    problems = [f"missing {k}" for k in MODULE_KEYS if k not in module]
    threshold = None
    try:
        threshold = float(module.get("frequencyThreshold", ""))
        if not 0 <= threshold <= 100:
            problems.append(f"frequencyThreshold {threshold} is not a percentage")
    except (TypeError, ValueError):
        problems.append(f"frequencyThreshold {module.get('frequencyThreshold')!r} is not a number")
    if not isinstance(module.get("frequencyThreshold"), str):
        problems.append("frequencyThreshold must be text")
    at_risk: dict[str, int] = {}
    for i, group in enumerate(module.get("eventGroups") or []):
        gid = group.get("id", f"#{i}")
        problems += [f"event group {gid}: missing {k}" for k in GROUP_KEYS if k not in group]
        if not GROUP_ID.match(str(gid)):
            problems.append(f"event group id {gid!r} is not EG000-style")
        if gid in at_risk:
            problems.append(f"event group id {gid} is used twice")
        risks = {k: group.get(f"{k}NumAtRisk") for k in ("deaths", "serious", "other")}
        if len(set(risks.values())) != 1:
            problems.append(
                f"event group {gid}: at-risk numbers differ "
                f"(deaths {risks['deaths']}, serious {risks['serious']}, "
                f"other {risks['other']})"
            )
        for kind in ("deaths", "serious", "other"):
            affected, risk = group.get(f"{kind}NumAffected"), group.get(f"{kind}NumAtRisk")
            if not (_count(affected) and _count(risk)):
                problems.append(f"event group {gid}: {kind} counts must be whole numbers >= 0")
            elif affected > risk:
                problems.append(
                    f"event group {gid}: {affected} affected by {kind} events but {risk} at risk"
                )
        at_risk[gid] = risks["serious"] if _count(risks["serious"]) else -1
    if not at_risk:
        problems.append("no event groups")
    for kind in ("serious", "other"):
        problems += _events(module, kind, at_risk, threshold)
    return problems


def _events(
    module: dict[str, Any], kind: str, at_risk: dict[str, int], threshold: float | None
) -> list[str]:
    problems: list[str] = []
    groups = {g.get("id"): g for g in module.get("eventGroups") or []}
    seen: set[tuple[str, str]] = set()
    for event in module.get(f"{kind}Events") or []:
        name = f"{kind} event {event.get('term')!r} ({event.get('organSystem')})"
        problems += [f"{name}: missing {k}" for k in EVENT_KEYS if k not in event]
        key = (str(event.get("term")), str(event.get("organSystem")))
        if key in seen:
            problems.append(f"{name} is listed twice")
        seen.add(key)
        if event.get("assessmentType") not in ASSESSMENT_TYPES:
            problems.append(f"{name}: assessmentType {event.get('assessmentType')!r}")
        stats = event.get("stats") or []
        ids = [s.get("groupId") for s in stats]
        if sorted(ids, key=str) != sorted(at_risk, key=str):
            problems.append(f"{name}: stats for groups {ids}, event groups are {list(at_risk)}")
        reaches = False
        for s in stats:
            gid = s.get("groupId")
            problems += [f"{name}, {gid}: missing {k}" for k in STATS_KEYS if k not in s]
            n, risk, events = s.get("numAffected"), s.get("numAtRisk"), s.get("numEvents")
            if not (_count(n) and _count(risk) and _count(events)):
                problems.append(f"{name}, {gid}: counts must be whole numbers >= 0")
                continue
            if gid in at_risk and risk != at_risk[gid]:
                problems.append(
                    f"{name}, {gid}: {risk} at risk, but the event group has {at_risk[gid]}"
                )
            if n > risk:
                problems.append(f"{name}, {gid}: {n} affected but {risk} at risk")
            if events < n:
                problems.append(f"{name}, {gid}: {events} events for {n} affected participants")
            total = groups.get(gid, {}).get(f"{kind}NumAffected")
            if _count(total) and n > total:
                problems.append(
                    f"{name}, {gid}: {n} affected, more than the group's "
                    f"{total} with any {kind} event"
                )
            if threshold is not None and risk and 100.0 * n / risk >= threshold - 1e-9:
                reaches = True
        if kind == "other" and threshold is not None and stats and not reaches:
            problems.append(f"{name}: below the {threshold:g}% threshold in every group")
    return problems
