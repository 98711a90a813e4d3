"""The rules an adverse-event record must satisfy. Pure functions; every problem at once.

Consistency rules apply to every save (a draft included); completeness rules apply when
the event is submitted. Each issue names the field (SDTM name) it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pv.events.dates import PartialDate, parse_dtc
from pv.events.models import ACTIONS, OUTCOMES, RELATIONSHIPS, SERIOUS_CRITERIA
from pv.terminology.models import Term

FATAL = "FATAL"
MAX_TEXT = 4000


@dataclass
class EventInput:
    """An AE as entered (form, API or spreadsheet), already converted to Python types."""

    aeterm: str | None = None
    aelltcd: str | None = None
    aetoxgr: int | None = None
    aeser: bool | None = None
    aesdth: bool = False
    aeslife: bool = False
    aeshosp: bool = False
    aesdisab: bool = False
    aescong: bool = False
    aesmie: bool = False
    aerel: dict[str, str] = field(default_factory=dict)
    aeacn: dict[str, str] = field(default_factory=dict)
    aeout: str | None = None
    aestdtc: str | None = None
    aeendtc: str | None = None
    ongoing: bool = False
    aecontrt: str | None = None
    narrative: str | None = None


@dataclass(frozen=True)
class Issue:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class Findings:
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    def error(self, name: str, message: str) -> None:
        self.errors.append(Issue(name, message))

    def warn(self, name: str, message: str) -> None:
        self.warnings.append(Issue(name, message))

    @property
    def ok(self) -> bool:
        return not self.errors


def _date(f: Findings, name: str, value: str | None, today: date) -> PartialDate | None:
    if not value:
        return None
    try:
        d = parse_dtc(value)
    except ValueError as exc:
        f.error(name, str(exc))
        return None
    if d.earliest_date > today:
        f.error(name, f"{value} is in the future")
    return d


def check_event(
    data: EventInput,
    *,
    term: Term | None,
    drug_keys: list[str],
    consent_date: date | None,
    today: date,
    submit: bool,
    release_label: str = "CTCAE 5.0",
) -> Findings:
    f = Findings()
    # Completeness, on submission.
    if submit:
        for name, label in (
            ("aeterm", "the reported (verbatim) term"),
            ("aelltcd", "a coded term"),
            ("aetoxgr", "a CTCAE grade"),
            ("aestdtc", "an onset date"),
            ("aeout", "an outcome"),
        ):
            if getattr(data, name) in (None, ""):
                f.error(name, f"{label} is required")
        if data.aeser is None:
            f.error("aeser", "say whether the event is serious")
        for key in drug_keys:
            if not data.aerel.get(key):
                f.error(f"aerel.{key}", f"relationship to {key} is required")
    for name in ("aeterm", "aecontrt", "narrative"):
        value = getattr(data, name)
        if value is not None and len(value) > MAX_TEXT:
            f.error(name, f"at most {MAX_TEXT} characters")

    # Coding and grade.
    if data.aelltcd and term is None:
        f.error("aelltcd", f"'{data.aelltcd}' is not a {release_label} code")
    if data.aetoxgr is not None:
        if not 1 <= data.aetoxgr <= 5:
            f.error("aetoxgr", "the grade must be 1 to 5")
        elif term is not None and term.graded and term.grade_text(data.aetoxgr) is None:
            allowed = ", ".join(str(g) for g in term.allowed_grades)
            f.error(
                "aetoxgr",
                f"grade {data.aetoxgr} does not exist for {term.term} (allowed: {allowed})",
            )

    # Death: grade 5 <=> outcome fatal <=> the "results in death" criterion.
    g5, fatal, death = data.aetoxgr == 5, data.aeout == FATAL, data.aesdth
    if g5 or fatal or death:
        if not g5:
            f.error("aetoxgr", "a fatal event is grade 5")
        if not fatal:
            f.error("aeout", "grade 5 or death means the outcome is FATAL")
        if not death:
            f.error("aesdth", "grade 5 or a fatal outcome means the criterion 'results in death'")

    # Seriousness: serious <=> at least one criterion.
    criteria = [c for c in SERIOUS_CRITERIA if getattr(data, c)]
    if data.aeser and not criteria:
        f.error("aeser", "a serious event needs at least one seriousness criterion")
    if data.aeser is False and criteria:
        f.error("aeser", "seriousness criteria are ticked, so the event is serious")
    if data.aeser and not (data.narrative or "").strip():
        f.error("narrative", "a serious event needs a narrative")

    # Controlled terms.
    if data.aeout and data.aeout not in OUTCOMES:
        f.error("aeout", f"'{data.aeout}' is not one of: {', '.join(OUTCOMES)}")
    for name, allowed in (("aerel", RELATIONSHIPS), ("aeacn", ACTIONS)):
        for key, value in getattr(data, name).items():
            if key not in drug_keys:
                f.error(
                    f"{name}.{key}",
                    f"'{key}' is not a study drug of this subject "
                    f"({', '.join(drug_keys) or 'none'})",
                )
            elif value and value not in allowed:
                f.error(f"{name}.{key}", f"'{value}' is not one of: {', '.join(allowed)}")

    # Dates.
    onset = _date(f, "aestdtc", data.aestdtc, today)
    end = _date(f, "aeendtc", data.aeendtc, today)
    if onset and end and end.latest < onset.earliest:
        f.error("aeendtc", f"the end ({end.text}) is before the onset ({onset.text})")
    if data.ongoing and data.aeendtc:
        f.error("aeendtc", "an ongoing event has no end date")
    if data.ongoing and data.aeout in (
        "RECOVERED/RESOLVED",
        "RECOVERED/RESOLVED WITH SEQUELAE",
        FATAL,
    ):
        f.error("ongoing", f"an event with outcome {data.aeout} is not ongoing")
    if onset and consent_date and onset.latest_date < consent_date:
        f.warn("aestdtc", f"onset {onset.text} is before informed consent ({consent_date})")
    return f
