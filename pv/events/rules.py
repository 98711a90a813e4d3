"""The rules an adverse-event record must satisfy. Pure functions; every problem at once.

Consistency rules apply to every save (a draft included); completeness rules apply when
the event is submitted. Each issue names the field (SDTM name) it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pv.events.dates import PartialDate, parse_dtc
from pv.events.models import ACTIONS, OUTCOMES, RELATIONSHIPS, SERIOUS_CRITERIA
from pv.i18n import N_
from pv.i18n import gettext as _
from pv.inputs import MAX_LENGTH, text_problem, text_problems
from pv.terminology.models import Term

FATAL = "FATAL"
# The field of the error raised when an onset before informed consent is not confirmed.
CONSENT_FIELD = "confirm_before_consent"
AWARE_MAX = 20  # the column's length (migration 0007)
ID_MAX = 40  # AEGRPID, AESPID (migration 0010)
MAX_TEXT = MAX_LENGTH["narrative"]  # the longest free text (narrative, treatment)


@dataclass(slots=True)  # 200,000 upload rows: ~30 MB less than with a __dict__ each
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
    # English translation of a verbatim term written in another language (E2B E.i.1.2).
    aeterm_en: str | None = None
    # When the site became aware of the event (ISO 8601 date or date-time): the start of
    # the investigator's 24 h SAE clock; required when a serious event is submitted.
    aeawaredtc: str | None = None
    # A condition present before the first dose (medical history) that worsened after it:
    # its CTCAE grade at the first dose (AEITOXGR) and the date it worsened (admiral
    # derive_var_trtemfl: a worsening is treatment-emergent, the same grade is not).
    preexisting: bool = False
    initial_grade: int | None = None
    worsened_dtc: str | None = None
    # Records of one episode collected as a log (SDTM AEGRPID, AESPID).
    aegrpid: str | None = None
    aespid: str | None = None


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
    if d.earliest.date() > today:
        f.error(name, _("%(value)s is in the future", value=value))
    return d


_REQUIRED = (
    ("aeterm", N_("the reported (verbatim) term is required")),
    ("aelltcd", N_("a coded term is required")),
    ("aetoxgr", N_("a CTCAE grade is required")),
    ("aestdtc", N_("an onset date is required")),
    ("aeout", N_("an outcome is required")),
)
# check_event reads the criteria one by one, in this order.
assert SERIOUS_CRITERIA == ("aesdth", "aeslife", "aeshosp", "aesdisab", "aescong", "aesmie")
_NOT_ONGOING = ("RECOVERED/RESOLVED", "RECOVERED/RESOLVED WITH SEQUELAE", FATAL)
_CONTROLLED = (("aerel", RELATIONSHIPS, ", ".join(RELATIONSHIPS)),
               ("aeacn", ACTIONS, ", ".join(ACTIONS)))  # fmt: skip


def check_event(
    data: EventInput,
    *,
    term: Term | None,
    drug_keys: list[str],
    consent_date: date | None,
    today: date,
    submit: bool,
    release_label: str = "CTCAE 5.0",
    consent_confirmed: bool | None = None,
) -> Findings:
    """Every problem of the record at once: errors (which block a save) and warnings.

    An onset before informed consent is a warning; with `consent_confirmed=False` (a save
    that must be confirmed: form, API) it is also an error of field `CONSENT_FIELD`, so the
    user confirms it explicitly. None (uploads, checks) leaves it a warning only.

    Runs once per row of a spreadsheet upload, so it reads each field once; the order of
    the findings is the order of the rules below.
    """
    f = Findings()
    errors = f.errors
    aeterm, aelltcd, aetoxgr, aeser = data.aeterm, data.aelltcd, data.aetoxgr, data.aeser
    aeout, aestdtc, aeendtc, narrative = data.aeout, data.aestdtc, data.aeendtc, data.narrative
    aerel = data.aerel
    # Completeness, on submission.
    if submit:
        for (name, message), value in zip(_REQUIRED, (aeterm, aelltcd, aetoxgr, aestdtc, aeout),
                                          strict=True):  # fmt: skip
            if value is None or value == "":
                errors.append(Issue(name, _(message)))
        if aeser is None:
            errors.append(Issue("aeser", _("say whether the event is serious")))
        for key in drug_keys:
            if not aerel.get(key):
                errors.append(
                    Issue(f"aerel.{key}", _("relationship to %(drug)s is required", drug=key))
                )
    # The shared text rule (pv.inputs): control and bidi characters, length. A date whose
    # text is refused here is not parsed again below.
    refused: set[str] = set()
    for name, problem in text_problems([("aeterm", aeterm), ("aelltcd", aelltcd),
                                        ("aeout", aeout), ("aestdtc", aestdtc),
                                        ("aeendtc", aeendtc), ("aecontrt", data.aecontrt),
                                        ("narrative", narrative),
                                        ("aeterm_en", data.aeterm_en)]):  # fmt: skip
        errors.append(Issue(name, problem))
        refused.add(name)

    # Coding and grade.
    if aelltcd and term is None and "aelltcd" not in refused:
        errors.append(
            Issue(
                "aelltcd",
                _("'%(code)s' is not a %(release)s code", code=aelltcd, release=release_label),
            )
        )
    if aetoxgr is not None:
        if not 1 <= aetoxgr <= 5:
            errors.append(Issue("aetoxgr", _("the grade must be 1 to 5")))
        elif term is not None and term.grade_text(aetoxgr) is None and term.graded:
            allowed = ", ".join(str(g) for g in term.allowed_grades)
            errors.append(Issue(
                "aetoxgr", _("grade %(grade)s does not exist for %(term)s (allowed: %(allowed)s)",
                             grade=aetoxgr, term=term.term, allowed=allowed)
            ))  # fmt: skip

    # Death: grade 5 <=> outcome fatal <=> the "results in death" criterion.
    g5, fatal, death = aetoxgr == 5, aeout == FATAL, data.aesdth
    if g5 or fatal or death:
        if not g5:
            errors.append(Issue("aetoxgr", _("a fatal event is grade 5")))
        if not fatal:
            errors.append(Issue("aeout", _("grade 5 or death means the outcome is FATAL")))
        if not death:
            errors.append(Issue("aesdth", _("grade 5 or a fatal outcome means the criterion "
                                            "'results in death'")))  # fmt: skip

    # Seriousness: serious <=> at least one criterion.
    criteria = bool(death or data.aeslife or data.aeshosp or data.aesdisab or data.aescong
                    or data.aesmie)  # fmt: skip
    if aeser and not criteria:
        errors.append(Issue("aeser", _("a serious event needs at least one seriousness criterion")))
    if aeser is False and criteria:
        errors.append(Issue("aeser", _("seriousness criteria are ticked, so the event is serious")))
    if submit and aeser and not (narrative or "").strip():
        # A draft may be saved without one; the narrative is required at submission.
        errors.append(Issue("narrative", _("a serious event needs a narrative")))

    # Controlled terms.
    if aeout and aeout not in OUTCOMES and "aeout" not in refused:
        errors.append(
            Issue(
                "aeout",
                _(
                    "'%(value)s' is not one of: %(allowed)s",
                    value=aeout,
                    allowed=", ".join(OUTCOMES),
                ),
            )
        )
    for name, allowed, allowed_text in _CONTROLLED:
        for key, value in getattr(data, name).items():
            if key not in drug_keys:
                errors.append(Issue(
                    f"{name}.{key}",
                    _("'%(key)s' is not a study drug of this subject (%(drugs)s)", key=key,
                      drugs=", ".join(drug_keys) or _("none")),
                ))  # fmt: skip
            elif value and value not in allowed:
                errors.append(
                    Issue(
                        f"{name}.{key}",
                        _(
                            "'%(value)s' is not one of: %(allowed)s",
                            value=value,
                            allowed=allowed_text,
                        ),
                    )
                )

    # Dates.
    onset = _date(f, "aestdtc", None if "aestdtc" in refused else aestdtc, today)
    end = _date(f, "aeendtc", None if "aeendtc" in refused else aeendtc, today)
    if onset and end and end.latest < onset.earliest:
        errors.append(
            Issue(
                "aeendtc",
                _(
                    "the end (%(end)s) is before the onset (%(onset)s)",
                    end=end.text,
                    onset=onset.text,
                ),
            )
        )
    ongoing = data.ongoing
    if ongoing and aeendtc:
        errors.append(Issue("aeendtc", _("an ongoing event has no end date")))
    if ongoing and aeout in _NOT_ONGOING:
        errors.append(
            Issue("ongoing", _("an event with outcome %(outcome)s is not ongoing", outcome=aeout))
        )
    if onset and consent_date and onset.latest.date() < consent_date:
        message = _(
            "onset %(onset)s is before informed consent (%(consent)s)",
            onset=onset.text,
            consent=consent_date,
        )
        f.warn("aestdtc", message)
        if consent_confirmed is False:
            errors.append(Issue(CONSENT_FIELD, _(
                "%(warning)s: confirm that the onset is before informed consent to save",
                warning=message)))  # fmt: skip
    _awareness(f, data, onset, today, submit=submit)
    if data.preexisting or data.initial_grade is not None or data.worsened_dtc:
        _preexisting(f, data, onset, end, today, submit=submit)
    if data.aegrpid or data.aespid:
        for name, value in (("aegrpid", data.aegrpid), ("aespid", data.aespid)):
            if value and (problem := text_problem(value, max_length=ID_MAX)) is not None:
                errors.append(Issue(name, problem))
    return f


def _preexisting(f: Findings, data: EventInput, onset: PartialDate | None,
                 end: PartialDate | None, today: date, *, submit: bool) -> None:  # fmt: skip
    """A condition present before the first dose: its grade then (AEITOXGR, 1 to 5, required
    at submission, not above the event's grade: the record is the condition as it worsened)
    and the date it worsened (ISO 8601, partial allowed, from the onset to the end); neither
    without the pre-existing flag."""
    grade, initial, text = data.aetoxgr, data.initial_grade, data.worsened_dtc
    if not data.preexisting:
        if initial is not None:
            f.error("initial_grade", _("a grade at the first dose is only for a condition "
                                       "present before the first dose"))  # fmt: skip
        if text:
            f.error("worsened_dtc", _("a worsening date is only for a condition present "
                                      "before the first dose"))  # fmt: skip
        return
    if initial is None:
        if submit:
            f.error("initial_grade", _("the CTCAE grade at the first dose of a pre-existing "
                                       "condition is required"))  # fmt: skip
    elif not 1 <= initial <= 5:
        f.error("initial_grade", _("the grade at the first dose must be 1 to 5"))
    elif grade is not None and 1 <= grade <= 5 and initial > grade:
        f.error("initial_grade", _("the grade at the first dose (%(initial)s) is above the "
                                   "event's grade (%(grade)s): record the condition at its "
                                   "worst grade", initial=initial, grade=grade))  # fmt: skip
    if not text:
        return
    worse, problem = _dtc_or_problem(text)
    if worse is None:
        f.error("worsened_dtc", _("worsening date: %(problem)s", problem=problem))
    elif worse.earliest.date() > today:
        f.error("worsened_dtc", _("%(value)s is in the future", value=text))
    elif onset is not None and worse.latest < onset.earliest:
        f.error("worsened_dtc", _("the worsening (%(worse)s) is before the onset (%(onset)s)",
                                  worse=worse.text, onset=onset.text))  # fmt: skip
    elif end is not None and worse.earliest > end.latest:
        f.error("worsened_dtc", _("the worsening (%(worse)s) is after the end (%(end)s)",
                                  worse=worse.text, end=end.text))  # fmt: skip


def _dtc_or_problem(text: str) -> tuple[PartialDate | None, str | None]:
    """A date or date-time field's value parsed (ISO 8601, partial allowed), or what is
    wrong with it."""
    problem = text_problem(text, max_length=AWARE_MAX)
    if problem is not None:
        return None, problem
    try:
        return parse_dtc(text), None
    except ValueError as exc:
        return None, str(exc)


def _awareness(f: Findings, data: EventInput, onset: PartialDate | None, today: date, *,
               submit: bool) -> None:  # fmt: skip
    """The date the site became aware (AEAWAREDTC): required when a serious event is
    submitted; a day (YYYY-MM-DD) or a moment (YYYY-MM-DDThh:mm), ISO digits 0-9; not before
    the onset's day, not in the future."""
    value = data.aeawaredtc
    if not value:
        if submit and data.aeser:
            f.error("aeawaredtc", _("the date the site became aware of a serious event is "
                                    "required (YYYY-MM-DD, or YYYY-MM-DDThh:mm)"))  # fmt: skip
        return
    aware, problem = _dtc_or_problem(value)
    if aware is None:
        f.error("aeawaredtc", _("date the site became aware: %(problem)s", problem=problem))
        return
    if aware.earliest.date() > today:
        f.error("aeawaredtc", _("the date the site became aware (%(value)s) is in the future",
                                value=value))  # fmt: skip
    elif not aware.complete:
        f.error("aeawaredtc", _("the date the site became aware needs the day: %(value)s is "
                                "not YYYY-MM-DD or YYYY-MM-DDThh:mm", value=value))  # fmt: skip
    elif (onset is not None and aware.latest.date() < onset.earliest.date()
          and not any(e.field == "aestdtc" for e in f.errors)):  # fmt: skip
        message = _("the site cannot have become aware (%(aware)s) before the onset (%(onset)s)",
                    aware=aware.text, onset=onset.text)  # fmt: skip
        f.error("aeawaredtc", message)
