"""The case of an expedited report: everything a CIOMS I form or an E2B(R3) ICSR says about
one serious adverse event, gathered once from the database (`build_case`) so that both
outputs say the same thing.

Text is kept as written: a reported term or narrative in Chinese stays Chinese, with its
language (`lang`, ISO 639-1 "zh" or "en") beside it, and the English translation of the
term (`term_en`) where the site gave one (ICH E2B(R3) E.i.1.1a/b native term and language,
E.i.1.2 the term in English). Dates are ISO 8601 text as collected (partial dates stay
partial). A value nobody knows is None; the outputs mark it (E2B nullFlavor="UNK",
CIOMS "unknown").

The SAE case data (pv.icsr.models.SaeCase: reporter contact, hospitalization dates,
medical history, concomitant medications, tests, dechallenge/rechallenge, death details)
fill the fields below that have defaults. A report version (pv.icsr.models.ReportVersion)
stores a case frozen with `case_to_json`; `case_from_json` gives it back, equal field by
field, so a version's CIOMS I form and E2B(R3) file are built from what was frozen.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any

# ISO 639-1 code of a text: Chinese when it holds a CJK ideograph, else English.
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
MEDDRA_VERSION = "20.1"  # CTCAE v5.0 terms are MedDRA v20.1 lowest level terms


def language_of(text: str | None) -> str | None:
    if not text:
        return None
    return "zh" if _CJK.search(text) else "en"


@dataclass(frozen=True)
class Study:
    id: str  # the sponsor's study number (pv-tracker study id)
    registration: str | None  # NCT number (C.5.1.r.1)
    registration_country: str | None  # ISO 3166-1 alpha-2 of the register ("US" for CT.gov)
    title: str
    sponsor: str | None
    study_type: str = "1"  # E2B C.5.4: 1 clinical trial, 2 individual patient use, 3 other


@dataclass(frozen=True)
class Reporter:
    """The primary source (C.2.r): the site's investigator who reported the event."""

    name: str | None
    qualification: str | None  # E2B C.2.r.4: 1 physician, 2 pharmacist, 3 other HCP ...
    organisation: str | None  # the site
    country: str | None  # ISO 3166-1 alpha-2
    contact: str | None = None  # phone or e-mail, as given (C.2.r.2.7 telephone / e-mail)


@dataclass(frozen=True)
class Patient:
    id: str  # USUBJID (D.1 patient initials are not collected: the subject id stands in)
    subjid: str
    age: int | None  # years at onset
    sex: str | None  # "M", "F", None
    weight_kg: float | None
    arm: str | None  # the arm label (a blinded report masks it)


@dataclass(frozen=True)
class Reaction:
    term: str  # as reported (E.i.1.1a), any language
    lang: str | None  # its language (E.i.1.1b)
    term_en: str | None  # English translation (E.i.1.2); the term itself when English
    llt_code: str | None  # MedDRA LLT code (E.i.2.1b); CTCAE v5.0 codes are LLT codes
    llt_name: str | None  # the CTCAE / MedDRA term of the code
    soc: str | None
    meddra_version: str
    grade: int | None  # CTCAE grade
    start: str | None  # ISO 8601 as collected, partial allowed (E.i.4)
    end: str | None  # (E.i.5)
    ongoing: bool
    outcome: str | None  # SDTM AEOUT code (E.i.7 mapped by the outputs)
    criteria: dict[str, bool]  # {aesdth, aeslife, aeshosp, aesdisab, aescong, aesmie}


@dataclass(frozen=True)
class Dose:
    dose: float
    unit: str
    route: str | None
    frequency: str  # ONCE | QD
    start: str  # ISO 8601 date-time or date
    end: str | None


@dataclass(frozen=True)
class SuspectDrug:
    key: str
    name: str
    role: str  # "suspect" | "concomitant" (E2B G.k.1: 1 | 2)
    doses: tuple[Dose, ...]  # the doses given up to the onset, oldest first
    first_dose: str | None  # ISO 8601
    last_dose: str | None  # the last dose before the onset
    action: str | None  # SDTM AEACN code for this drug (G.k.8)
    investigator_causality: str | None  # the site's (RELATED, POSSIBLY RELATED, ...)
    sponsor_causality: str | None  # WHO-UMC category (certain, probable, ...)
    expectedness: str | None  # "expected" | "unexpected" against the RSI in force
    # CIOMS 20 / 21, E2B G.k.9.i.4: pv.icsr.models.CHALLENGE_RESULTS (yes, no, na, unknown)
    dechallenge: str | None = None  # did the reaction abate after stopping the drug?
    rechallenge: str | None = None  # did it reappear after reintroduction?
    indication: str | None = None  # the study's indication (G.k.7.r.1)


@dataclass(frozen=True)
class HistoryItem:
    """Relevant medical history (CIOMS 23, E2B D.7.1.r): a condition as written."""

    term: str
    start: str | None  # ISO 8601, partial allowed
    ongoing: bool | None  # None: unknown


@dataclass(frozen=True)
class ConMed:
    """A concomitant medication (CIOMS 22, E2B G.k with G.k.1 = 2)."""

    name: str
    dose: float | None
    unit: str | None
    route: str | None
    start: str | None  # ISO 8601, partial allowed
    stop: str | None  # None with start set: ongoing
    indication: str | None


@dataclass(frozen=True)
class LabTest:
    """A relevant test and its result (CIOMS 13, E2B F.r)."""

    name: str
    date: str | None  # ISO 8601, partial allowed
    value: str | None  # as written: a number goes to F.r.3.2, other text to F.r.3.4
    unit: str | None
    low: str | None  # normal range, as written
    high: str | None


@dataclass(frozen=True)
class Death:
    """Death details (E2B D.9; CIOMS 8-12 "patient died" with date and cause)."""

    date: str | None  # ISO 8601, partial allowed
    cause: str | None  # the reported cause
    autopsy: str | None  # "Y" | "N" | "U" (done, not done, unknown)
    autopsy_cause: str | None


@dataclass(frozen=True)
class Change:
    """One difference of a follow-up from the version before (dotted path, old, new)."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class SignatureLine:
    """An electronic signature of the case's record (pv.review.signing), as printed."""

    meaning: str  # assessed | locked | unlocked | approved (pv.signatures.service.MEANINGS)
    name: str  # the printed name
    at: str  # YYYY-MM-DD HH:MM:SS, UTC
    version: int | None  # the event version signed
    valid: bool  # for the record as it now stands


@dataclass(frozen=True)
class Case:
    case_id: str  # worldwide unique case id (C.1.8.1): country-sender-study-event
    report_id: str  # sender's safety report id (C.1.1), the case id and its version
    version: int  # 1 = initial; 2, 3 ... follow-ups
    initial: bool
    report_kind: str | None  # ReportKind of the clock it answers (initial_7 ...)
    first_received: date  # C.1.4: awareness date (day 0)
    most_recent: date  # C.1.5
    created: date  # C.1.2 (the date the report is written)
    study: Study
    sender: str  # C.3: the sponsor
    reporter: Reporter
    patient: Patient
    reaction: Reaction
    drugs: tuple[SuspectDrug, ...]
    treatment: str | None  # treatment given for the event, as written
    narrative: str | None  # as written (H.1; H.5.r in its own language)
    narrative_lang: str | None
    susar: bool
    fatal_or_life_threatening: bool
    blinded: bool = False  # the product names of a blinded study are masked
    extra: dict[str, str] = field(default_factory=dict)
    signatures: tuple[SignatureLine, ...] = ()  # oldest first
    hospital_admission: str | None = None  # ISO 8601, partial allowed
    hospital_discharge: str | None = None
    history: tuple[HistoryItem, ...] = ()
    conmeds: tuple[ConMed, ...] = ()
    tests: tuple[LabTest, ...] = ()
    death: Death | None = None
    changes: tuple[Change, ...] = ()  # a follow-up: what changed since the last version
    note: str | None = None  # a follow-up: the officer's summary of what is new

    @property
    def serious(self) -> bool:
        return any(self.reaction.criteria.values())


# --- frozen versions: a case as JSON and back -----------------------------------------
_DATES = ("first_received", "most_recent", "created")
_NESTED: dict[str, Any] = {
    "study": Study, "reporter": Reporter, "patient": Patient, "reaction": Reaction,
    "death": Death,
}  # fmt: skip
_TUPLES: dict[str, Any] = {
    "drugs": SuspectDrug, "signatures": SignatureLine, "history": HistoryItem,
    "conmeds": ConMed, "tests": LabTest, "changes": Change,
}  # fmt: skip


def case_to_json(case: Case) -> dict[str, Any]:
    """The case as plain JSON (dates as ISO text), for ReportVersion.snapshot."""
    data = asdict(case)
    for name in _DATES:
        data[name] = data[name].isoformat()
    return data


def case_from_json(data: dict[str, Any]) -> Case:
    """The case `case_to_json` froze; keys a later release added take their defaults."""
    known = {f.name for f in fields(Case)}
    values: dict[str, Any] = {k: v for k, v in data.items() if k in known}
    for name in _DATES:
        values[name] = date.fromisoformat(values[name])
    for name, kind in _NESTED.items():
        if values.get(name) is not None:
            values[name] = _build(kind, values[name])
    for name, kind in _TUPLES.items():
        values[name] = tuple(_build(kind, x) for x in values.get(name) or ())
    return Case(**values)


def _build(kind: Any, data: dict[str, Any]) -> Any:
    known = {f.name for f in fields(kind)}
    values = {k: v for k, v in data.items() if k in known}
    if kind is SuspectDrug:
        values["doses"] = tuple(Dose(**d) for d in values.get("doses") or ())
    return kind(**values)
