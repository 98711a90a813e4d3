"""Read a ClinicalTrials.gov API v2 study record (protocolSection) into a plain spec.

Parsing is separate from writing: `parse_ctgov` returns a `StudySpec` or raises
`RecordError` listing every problem with the path of the field at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pv.i18n import N_
from pv.i18n import gettext as _

COMPARATOR_TYPES = {"ACTIVE_COMPARATOR", "PLACEBO_COMPARATOR", "SHAM_COMPARATOR", "NO_INTERVENTION"}
_AGE = re.compile(
    r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(year|month|week|day|hour|minute)s?\s*$", re.IGNORECASE
)
_AGE_UNIT_YEARS = {"year": 1.0, "month": 1 / 12, "week": 7 / 365.25, "day": 1 / 365.25}
_NCT = re.compile(r"^NCT[0-9]{8}$")
# designInfo.maskingInfo.masking values of a blinded study (pv.blinding): anyone masked.
BLINDED_MASKINGS = frozenset({"SINGLE", "DOUBLE", "TRIPLE", "QUADRUPLE"})


def blinded_from_masking(masking: str | None) -> bool:
    """A study is blinded when its ClinicalTrials.gov masking names anyone masked (SINGLE,
    DOUBLE, TRIPLE, QUADRUPLE); NONE (open label) or no masking given: open label."""
    return (masking or "").strip().upper() in BLINDED_MASKINGS


class RecordError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class ArmSpec:
    label: str
    arm_type: str | None
    description: str | None
    drug_names: list[str]
    is_control: bool = False
    code: str = ""


@dataclass
class DrugSpec:
    name: str
    intervention_type: str | None
    description: str | None
    other_names: list[str]


@dataclass
class SiteSpec:
    name: str
    city: str | None
    country: str | None


@dataclass
class StudySpec:
    nct_id: str
    title: str
    official_title: str | None = None
    sponsor: str | None = None
    phase: str | None = None
    overall_status: str | None = None
    study_type: str | None = None
    allocation: str | None = None
    masking: str | None = None
    enrollment: int | None = None
    start_date: str | None = None
    completion_date: str | None = None
    brief_summary: str | None = None
    conditions: str | None = None  # conditionsModule.conditions, joined with "; "
    min_age_years: float | None = None
    max_age_years: float | None = None
    sex: str | None = None
    arms: list[ArmSpec] = field(default_factory=list)
    drugs: list[DrugSpec] = field(default_factory=list)
    sites: list[SiteSpec] = field(default_factory=list)


class _Reader:
    """Walks the record, collecting a message per missing or mistyped field."""

    def __init__(self, record: Any):
        self.record = record
        self.problems: list[str] = []

    def get(self, path: str, kind: type | tuple[type, ...], *, required: bool = False) -> Any:
        node: Any = self.record
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                if required:
                    self.problems.append(_("%(path)s: missing", path=path))
                return None
        if node is None or isinstance(node, kind):
            if required and node in (None, "", []):
                self.problems.append(_("%(path)s: must not be empty", path=path))
            return node
        self.problems.append(_("%(path)s: expected %(expected)s, got %(got)s", path=path,
                               expected=_kind_name(kind), got=type(node).__name__))  # fmt: skip
        return None


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: N_("text"),
        int: N_("a whole number"),
        list: N_("a list"),
        dict: N_("an object"),
        bool: N_("true/false"),
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    words = [_(names[k]) if k in names else k.__name__ for k in kinds]
    text = words[0]
    for word in words[1:]:
        text = _("%(first)s or %(second)s", first=text, second=word)
    return text


def parse_age(text: str | None) -> float | None:
    if not text:
        return None
    m = _AGE.match(text)
    if not m:
        raise ValueError(text)
    unit = m.group(2).lower()
    return round(float(m.group(1)) * _AGE_UNIT_YEARS.get(unit, 1 / (365.25 * 24)), 4)


def _drug_name(intervention_name: str) -> str:
    """'Drug: Prednisone' -> 'Prednisone' (armGroups name interventions with their type)."""
    return (
        intervention_name.split(":", 1)[1].strip()
        if ":" in intervention_name
        else intervention_name.strip()
    )


def parse_ctgov(record: Any) -> StudySpec:
    r = _Reader(record)
    if not isinstance(record, dict):
        raise RecordError([_("(record): expected a JSON object")])
    p = "protocolSection"
    r.get(p, dict, required=True)
    nct = r.get(f"{p}.identificationModule.nctId", str, required=True)
    if nct and not _NCT.match(nct):
        r.problems.append(
            _(
                "%(path)s: '%(value)s' is not an NCT number (NCT + 8 digits)",
                path=f"{p}.identificationModule.nctId",
                value=nct,
            )
        )
    title = r.get(f"{p}.identificationModule.briefTitle", str, required=True)
    spec = StudySpec(nct_id=nct or "", title=title or "")
    spec.official_title = r.get(f"{p}.identificationModule.officialTitle", str)
    spec.sponsor = r.get(f"{p}.sponsorCollaboratorsModule.leadSponsor.name", str)
    spec.overall_status = r.get(f"{p}.statusModule.overallStatus", str)
    spec.start_date = r.get(f"{p}.statusModule.startDateStruct.date", str)
    spec.completion_date = r.get(f"{p}.statusModule.completionDateStruct.date", str)
    spec.brief_summary = r.get(f"{p}.descriptionModule.briefSummary", str)
    conditions = r.get(f"{p}.conditionsModule.conditions", list) or []
    spec.conditions = "; ".join(str(x) for x in conditions if isinstance(x, str) and x) or None
    spec.study_type = r.get(f"{p}.designModule.studyType", str)
    phases = r.get(f"{p}.designModule.phases", list) or []
    spec.phase = ", ".join(str(x) for x in phases) or None
    spec.allocation = r.get(f"{p}.designModule.designInfo.allocation", str)
    spec.masking = r.get(f"{p}.designModule.designInfo.maskingInfo.masking", str)
    count = r.get(f"{p}.designModule.enrollmentInfo.count", int)
    spec.enrollment = count if isinstance(count, int) and not isinstance(count, bool) else None
    spec.sex = r.get(f"{p}.eligibilityModule.sex", str)
    for bound in ("minimumAge", "maximumAge"):
        text = r.get(f"{p}.eligibilityModule.{bound}", str)
        try:
            years = parse_age(text)
        except ValueError:
            r.problems.append(
                _(
                    "%(path)s: '%(value)s' is not an age such as '18 Years'",
                    path=f"{p}.eligibilityModule.{bound}",
                    value=text,
                )
            )
            years = None
        setattr(spec, "min_age_years" if bound == "minimumAge" else "max_age_years", years)

    aim = f"{p}.armsInterventionsModule"
    groups = r.get(f"{aim}.armGroups", list, required=True) or []
    interventions = r.get(f"{aim}.interventions", list, required=True) or []
    for i, it in enumerate(interventions):
        where = f"{aim}.interventions[{i}]"
        if (
            not isinstance(it, dict)
            or not isinstance(it.get("name"), str)
            or not it["name"].strip()
        ):
            r.problems.append(_("%(path)s: missing", path=f"{where}.name"))
            continue
        others = it.get("otherNames") or []
        spec.drugs.append(
            DrugSpec(
                name=it["name"].strip(),
                intervention_type=it.get("type") if isinstance(it.get("type"), str) else None,
                description=it.get("description")
                if isinstance(it.get("description"), str)
                else None,
                other_names=[str(o) for o in others] if isinstance(others, list) else [],
            )
        )
    drug_names = {d.name for d in spec.drugs}
    for i, g in enumerate(groups):
        where = f"{aim}.armGroups[{i}]"
        if not isinstance(g, dict) or not isinstance(g.get("label"), str) or not g["label"].strip():
            r.problems.append(_("%(path)s: missing", path=f"{where}.label"))
            continue
        names = g.get("interventionNames") or []
        if not isinstance(names, list):
            r.problems.append(_("%(path)s: expected a list", path=f"{where}.interventionNames"))
            names = []
        drugs = [_drug_name(str(n)) for n in names]
        for n in drugs:
            if n not in drug_names:
                r.problems.append(
                    _(
                        "%(path)s: '%(value)s' is not among the interventions",
                        path=f"{where}.interventionNames",
                        value=n,
                    )
                )
        spec.arms.append(
            ArmSpec(
                label=g["label"].strip(),
                arm_type=g.get("type") if isinstance(g.get("type"), str) else None,
                description=g.get("description") if isinstance(g.get("description"), str) else None,
                drug_names=drugs,
            )
        )
    if groups and not spec.arms:
        r.problems.append(_("%(path)s: no usable arm", path=f"{aim}.armGroups"))
    labels = [a.label for a in spec.arms]
    if len(set(labels)) != len(labels):
        r.problems.append(_("%(path)s: arm labels must be unique", path=f"{aim}.armGroups"))

    locations = r.get(f"{p}.contactsLocationsModule.locations", list) or []
    for i, loc in enumerate(locations):
        if not isinstance(loc, dict) or not isinstance(loc.get("facility"), str):
            r.problems.append(
                _("%(path)s: missing", path=f"{p}.contactsLocationsModule.locations[{i}].facility")
            )
            continue
        spec.sites.append(
            SiteSpec(name=loc["facility"].strip(), city=loc.get("city"), country=loc.get("country"))
        )
    if r.problems:
        raise RecordError(r.problems)
    _choose_control(spec.arms)
    _assign_codes(spec.arms)
    return spec


def _choose_control(arms: list[ArmSpec]) -> None:
    """The comparator arm: one typed as a comparator; failing that, an arm whose study drugs
    are a strict subset of another arm's (prednisone alone vs prednisone + belimumab)."""
    typed = [a for a in arms if (a.arm_type or "").upper() in COMPARATOR_TYPES]
    if typed:
        typed[0].is_control = True
        return
    for a in arms:
        if a.drug_names and any(set(a.drug_names) < set(b.drug_names) for b in arms if b is not a):
            a.is_control = True
            return


def _assign_codes(arms: list[ArmSpec]) -> None:
    """Short ARMCD-style codes from the arms' study drugs (PRED, BELI+PRED), else A, B, ..."""
    seen: set[str] = set()
    for i, a in enumerate(arms):
        code = "+".join(sorted(n[:4].upper() for n in a.drug_names))[:20] or chr(65 + i)
        if code in seen:
            code = f"{code}{i + 1}"[:20]
        seen.add(code)
        a.code = code
