"""Adverse events of special interest (AESI) for NCT04660565: project-defined groupings.

The catalogue lives in `terminologies/aesi/` (groupings.csv, terms.csv, rules.json; see
the README there). It maps CTCAE v5.0 codes to grouping keys, GC-toxicity domains and
flags, and applies the two rules: serious infection and possible infusion reaction.
It groups events only: no GTI weights are shipped and no GTI score is computed.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pv import paths

GTI_DOMAIN_LABELS: dict[str, str] = {
    "bmi": "Body mass index",
    "glucose": "Glucose tolerance",
    "blood_pressure": "Blood pressure",
    "lipids": "Lipids",
    "bone": "Bone",
    "myopathy": "Steroid myopathy",
    "skin": "Skin toxicity",
    "neuropsychiatric": "Neuropsychiatric toxicity",
    "infection": "Infection",
    "damage": "Damage items (GTI Specific List)",
}
GC_TOXICITY = "gc_toxicity"


@dataclass(frozen=True)
class Grouping:
    key: str
    label: str
    description: str


class AesiCatalog:
    """CTCAE code -> AESI groupings, sub-groups and flags, plus the catalogue's rules."""

    def __init__(
        self,
        groupings: list[Grouping],
        members: dict[str, dict[str, str]],
        flags: dict[str, set[str]],
        rules: dict[str, Any],
    ) -> None:
        self.groupings = groupings
        self.rules = rules
        self._members = members  # grouping key -> {code: subgroup ("" when none)}
        self._flags = flags

    def subgroups(self, grouping_key: str) -> list[str]:
        found = {s for s in self._members.get(grouping_key, {}).values() if s}
        order = list(GTI_DOMAIN_LABELS)
        return sorted(found, key=lambda s: (order.index(s) if s in order else len(order), s))

    def classify(self, code: str | None) -> list[str]:
        if not code:
            return []
        code = code.strip()
        return [g.key for g in self.groupings if code in self._members[g.key]]

    def subgroup_of(self, code: str | None, grouping_key: str) -> str | None:
        if not code:
            return None
        return self._members.get(grouping_key, {}).get(code.strip()) or None

    def flags(self, code: str | None) -> set[str]:
        return set(self._flags.get(code.strip(), set())) if code else set()

    def is_serious_infection(
        self, *, code: str | None, grade: int | None, serious: bool | None
    ) -> bool:
        rule = self.rules["serious_infection"]
        if rule["grouping"] not in self.classify(code):
            return False
        if grade is not None and grade >= int(rule["min_grade"]):
            return True
        return bool(rule.get("or_serious")) and serious is True

    def possible_infusion_reaction(
        self, *, code: str | None, onset: datetime | None, infusion_starts: Sequence[datetime]
    ) -> bool:
        """Onset within [start, start + window] of any infusion of the rule's drug.

        `infusion_starts` are the starts of that drug's infusions (the caller filters by
        drug); onset and starts must be all naive or all aware.
        """
        rule = self.rules["possible_infusion_reaction"]
        if onset is None or not set(rule["groupings"]) & set(self.classify(code)):
            return False
        if self.flags(code) & set(rule.get("exclude_flags", [])):
            return False
        window = timedelta(hours=float(rule["window_hours"]))
        return any(start <= onset <= start + window for start in infusion_starts)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def _read(directory: Path) -> AesiCatalog:
    groupings = [
        Grouping(r["key"], r["label"], r["description"])
        for r in _read_csv(directory / "groupings.csv")
    ]
    members: dict[str, dict[str, str]] = {g.key: {} for g in groupings}
    flags: dict[str, set[str]] = {}
    for row in _read_csv(directory / "terms.csv"):
        key, code, subgroup = row["grouping"], row["ctcae_code"], row["subgroup"]
        if key not in members:
            raise ValueError(f"terms.csv: unknown grouping {key!r} for code {code}")
        if code in members[key]:
            raise ValueError(f"terms.csv: code {code} listed twice in {key!r}")
        if key == GC_TOXICITY and subgroup not in GTI_DOMAIN_LABELS:
            raise ValueError(f"terms.csv: unknown {GC_TOXICITY} subgroup {subgroup!r}")
        members[key][code] = subgroup
        if row["flag"]:
            flags.setdefault(code, set()).add(row["flag"])
    rules: dict[str, Any] = json.loads((directory / "rules.json").read_text(encoding="utf-8"))
    for ref in rules.get("subgroup_references", []):
        target, source = members[ref["grouping"]], members[ref["source_grouping"]]
        for code in source:
            target.setdefault(code, ref["subgroup"])
    return AesiCatalog(groupings, members, flags, rules)


@functools.lru_cache(maxsize=1)
def _load_default() -> AesiCatalog:
    return _read(paths.AESI_DIR)


def load_aesi(directory: Path | None = None) -> AesiCatalog:
    """The AESI catalogue; the shipped one (cached) unless `directory` is given."""
    return _load_default() if directory is None else _read(directory)
