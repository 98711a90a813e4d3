"""Request and response bodies of the JSON API (/api/v1). Field names are SDTM, lower case.

Text is checked by the shared input rules of `pv.inputs` (the same messages as the web
forms, the upload and the CLI). Every request body forbids unknown fields, so a misspelt
field is a 422 naming it instead of being silently ignored. Y/N flags are the strings "Y"
and "N"; dates are ISO 8601 text and may be partial ("2021", "2021-03"): they are stored
and returned exactly as sent.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema

from pv import inputs
from pv.events.models import ACTIONS, OUTCOMES, RELATIONSHIPS, SERIOUS_CRITERIA, AdverseEvent
from pv.events.rules import Issue
from pv.study.models import Arm, Site, Subject
from pv.study.service import CAUSE_MAX, DISPOSITIONS, HEIGHT_CM_RANGE, RACES

INT_MAX = inputs.INT_MAX  # an INTEGER column's largest value


def _safe(text: str) -> str:
    """The shared text rule (`pv.inputs`) for query and path text: no control or bidi
    characters, no unpaired surrogates; each parameter sets its own length."""
    problem = inputs.text_problem(text, max_length=inputs.MAX_LENGTH["narrative"])
    if problem is not None:
        raise ValueError(problem)
    return text


def _rule(field: str) -> AfterValidator:
    def check(text: str) -> str:
        problem = inputs.field_text_problem(field, text)
        if problem is not None:
            raise ValueError(problem)
        return text

    return AfterValidator(check)


def _text(field: str) -> object:
    """A body text field under the shared rule of `field`: its message (length included)
    is the one the web forms, the upload and the CLI give."""
    schema = {"maxLength": inputs.MAX_LENGTH[field]}
    return Annotated[str, _rule(field), Field(json_schema_extra=schema)]


def _identifier(text: str) -> str:
    problem = inputs.identifier_problem(text, max_length=inputs.MAX_LENGTH["subjid"])
    if problem is not None:
        raise ValueError(problem)
    return text


def _iso_date(value: object) -> date:
    """YYYY-MM-DD with ASCII digits (pydantic's date would also take a number of seconds)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("a date as YYYY-MM-DD")
    return inputs.parse_date(value)


SafeStr = Annotated[str, AfterValidator(_safe)]
SubjId = Annotated[
    str,
    AfterValidator(_identifier),
    Field(json_schema_extra={"pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$", "minLength": 1,
                             "maxLength": inputs.MAX_LENGTH["subjid"]}),
]  # fmt: skip
IsoDate = Annotated[
    date, PlainValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date"})
]
YN = Literal["Y", "N"]
Outcome = Literal[OUTCOMES]  # type: ignore[valid-type]
Relationship = Literal[RELATIONSHIPS]  # type: ignore[valid-type]
Action = Literal[ACTIONS]  # type: ignore[valid-type]
DrugKey = Annotated[SafeStr, Field(min_length=1, max_length=40)]
Dtc = Annotated[
    _text("aestdtc"),  # type: ignore[valid-type]
    Field(description="ISO 8601; partial allowed: YYYY, YYYY-MM, YYYY-MM-DD"),
]
AwareDtc = Annotated[
    _text("aestdtc"),  # type: ignore[valid-type]
    Field(
        description="when the site became aware of the event, ISO 8601: YYYY-MM-DD or "
        "YYYY-MM-DDThh:mm (UTC); required when a serious event is submitted. The site's "
        "24-hour SAE clock starts then (a date alone: at 00:00 UTC)",
        examples=["2024-05-02", "2024-05-02T14:30"],
    ),
]
TermText = _text("aeterm")
TermEnglishText = _text("aeterm_en")
CodeText = _text("aelltcd")
TreatmentText = _text("aecontrt")
NarrativeText = _text("narrative")
ReasonText = _text("reason")
Grade = Annotated[int, Field(strict=True, ge=1, le=5, description="CTCAE grade 1-5")]


def _episode_id(text: str) -> str:
    problem = inputs.text_problem(text, max_length=EPISODE_ID_MAX)
    if problem is not None:
        raise ValueError(problem)
    return text


EPISODE_ID_MAX = 40
EpisodeId = Annotated[str, AfterValidator(_episode_id),
                      Field(json_schema_extra={"maxLength": EPISODE_ID_MAX})]  # fmt: skip
# The API's SDTM names of EventInput fields named otherwise (AEONGO; SUPPAE-style AEPREEX,
# AEITOXGR and AEWRSDTC, as the SDTM import and the spreadsheet upload name them).
API_NAMES = {"ongoing": "aeongo", "preexisting": "aepreex", "initial_grade": "aeitoxgr",
             "worsened_dtc": "aewrsdtc"}  # fmt: skip
INPUT_NAMES = {v: k for k, v in API_NAMES.items()}
MAX_DRUGS = 20
Race = Literal[RACES]  # type: ignore[valid-type]
Disposition = Literal[DISPOSITIONS]  # type: ignore[valid-type]


def _cause(text: str) -> str:
    problem = inputs.text_problem(text, max_length=CAUSE_MAX)
    if problem is not None:
        raise ValueError(problem)
    return text


CauseText = Annotated[
    str, AfterValidator(_cause), Field(json_schema_extra={"maxLength": CAUSE_MAX})
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    field: str = Field(description="the SDTM name of the field (`aerel.<drug>` for one drug)")
    message: str


class ErrorList(BaseModel):
    """422: every problem found at once, each naming its field."""

    errors: list[Problem]


class Detail(BaseModel):
    detail: str


# --- subjects -------------------------------------------------------------------------------


class SubjectIn(_Body):
    study_id: SafeStr = Field(max_length=64, examples=["NCT04660565"])
    site: SafeStr = Field(max_length=40, description="site code, e.g. '01'", examples=["01"])
    subjid: SubjId = Field(
        examples=["0012"],
        description='kept exactly as typed ("007" stays "007"); letters, digits, . _ -',
    )
    arm: SafeStr | None = Field(default=None, max_length=200, description="arm code or label")
    sex: Literal["M", "F", "U"] | None = None
    age: int | None = Field(
        default=None, strict=True, ge=inputs.AGE_RANGE[0], le=inputs.AGE_RANGE[1]
    )
    weight_kg: float | None = Field(
        default=None, ge=inputs.WEIGHT_KG_RANGE[0], le=inputs.WEIGHT_KG_RANGE[1]
    )
    consent_date: IsoDate | None = None
    randomization_date: IsoDate | None = Field(
        default=None, description="not before the consent date"
    )
    race: Race | None = Field(default=None, description="DM RACE (CDISC C74457)")
    height_cm: float | None = Field(default=None, ge=HEIGHT_CM_RANGE[0], le=HEIGHT_CM_RANGE[1])


class SubjectPatch(_Body):
    """A change of a subject's baseline, end of study, death or disposition: fields left out
    keep their stored values, null clears one. Every rule is checked on the values the
    subject would hold (422 naming each field): the disposition date is required with a
    disposition (its reason with OTHER), the end of study needs a disposition, a disposition
    DEATH needs `died`, a death needs its date unless `death_date_unknown`, no date is in
    the future, before informed consent, or after the death."""

    sex: Literal["M", "F", "U"] | None = None
    age: int | None = Field(
        default=None, strict=True, ge=inputs.AGE_RANGE[0], le=inputs.AGE_RANGE[1]
    )
    weight_kg: float | None = Field(
        default=None, ge=inputs.WEIGHT_KG_RANGE[0], le=inputs.WEIGHT_KG_RANGE[1]
    )
    race: Race | None = Field(default=None, description="DM RACE (CDISC C74457)")
    height_cm: float | None = Field(default=None, ge=HEIGHT_CM_RANGE[0], le=HEIGHT_CM_RANGE[1])
    end_of_study_date: IsoDate | None = Field(
        default=None, description="DM RFENDTC: the subject's last day in the study"
    )
    disposition: Disposition | None = Field(
        default=None, description="DS DSDECOD of the disposition event (CDISC C66727); null "
        "while the subject is in the study",
    )  # fmt: skip
    disposition_date: Dtc | None = Field(default=None, description="DS DSSTDTC")
    disposition_reason: CauseText | None = Field(
        default=None, description="DS DSTERM, the reason as reported (required with OTHER)"
    )
    died: YN | None = Field(default=None, description="DM DTHFL")
    death_date: Dtc | None = Field(default=None, description="DM DTHDTC")
    death_date_unknown: bool = Field(
        default=False, description="true: the subject died on a date no one knows"
    )
    death_cause: CauseText | None = Field(default=None, description="primary cause of death")
    reason: ReasonText | None = Field(default=None, description="kept in the audit trail")


class SubjectOut(BaseModel):
    usubjid: str
    subjid: str
    study_id: str
    site: str
    site_name: str
    arm: str | None
    arm_label: str | None
    sex: str | None
    age: int | None
    weight_kg: float | None
    consent_date: date | None
    randomization_date: date | None
    end_of_study_date: date | None
    race: str | None = None
    height_cm: float | None = None
    died: YN = "N"
    death_date: str | None = None
    death_cause: str | None = None
    disposition: str | None = None
    disposition_date: str | None = None
    disposition_reason: str | None = None


class SubjectPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[SubjectOut]


# --- adverse events -------------------------------------------------------------------------


class _EventFields(_Body):
    aeterm: TermText | None = Field(default=None, description="verbatim term")
    aeterm_en: TermEnglishText | None = Field(
        default=None,
        description="English translation of a verbatim term written in another language "
        "(ICH E2B(R3) E.i.1.2; the SAS transport export needs it for non-ASCII terms)",
    )
    aelltcd: CodeText | None = Field(
        default=None, description="CTCAE code as text", examples=["10002218"]
    )
    aetoxgr: Grade | None = None
    aeser: YN | None = None
    aesdth: YN | None = None
    aeslife: YN | None = None
    aeshosp: YN | None = None
    aesdisab: YN | None = None
    aescong: YN | None = None
    aesmie: YN | None = None
    aestdtc: Dtc | None = None
    aeendtc: Dtc | None = None
    aeout: Outcome | None = None
    aerel: dict[DrugKey, Relationship | None] | None = Field(
        default=None,
        max_length=MAX_DRUGS,
        description="investigator's causality per study drug key, e.g. "
        '{"belimumab": "RELATED", "prednisone": "NOT RELATED"}',
    )
    aeacn: dict[DrugKey, Action | None] | None = Field(
        default=None, max_length=MAX_DRUGS, description="action taken with each study drug"
    )
    aeongo: YN | None = Field(default=None, description="ongoing at the time of the report")
    aecontrt: TreatmentText | None = Field(default=None, description="treatment given")
    narrative: NarrativeText | None = None
    aeawaredtc: AwareDtc | None = None
    aepreex: YN | None = Field(
        default=None,
        description="Y: a condition present before the first dose (medical history) that "
        "worsened after it; a later grade above its grade at the first dose is "
        "treatment-emergent (admiral derive_var_trtemfl)",
    )
    aeitoxgr: Grade | None = Field(
        default=None,
        description="CTCAE grade of the pre-existing condition at the first dose (only with "
        "aepreex Y; required when such an event is submitted; not above aetoxgr)",
    )
    aewrsdtc: Dtc | None = Field(
        default=None,
        description="when the pre-existing condition worsened (ISO 8601, partial allowed; "
        "only with aepreex Y; not before the onset nor after the end)",
    )
    aegrpid: EpisodeId | None = Field(
        default=None, description="episode (group) id: the records of one event collected as "
        "a log (SDTM AEGRPID), at most 40 characters",
    )  # fmt: skip
    aespid: EpisodeId | None = Field(
        default=None, description="sponsor-defined record id (SDTM AESPID), at most 40 characters"
    )


class EventIn(_EventFields):
    """A new adverse event. Posting submits it unless `"submit": false` saves a draft."""

    usubjid: SafeStr = Field(max_length=80)
    submit: bool = Field(
        default=True, description="false: save a draft (completeness rules wait for the submission)"
    )
    confirm_duplicate: bool = Field(
        default=False,
        description="true: store it even when it is a likely duplicate (same subject, coded "
        "term and onset day as a stored event), which is otherwise 409 with `duplicate_of`",
    )
    confirm_before_consent: bool = Field(
        default=False,
        description="true: store it although the onset is before the subject's informed "
        "consent, which is otherwise 422 (an error of field `confirm_before_consent`)",
    )


class EventPatch(_EventFields):
    """A partial update: fields left out keep their stored values; null clears one.

    `aerel`/`aeacn` are merged per drug key (null removes that drug's answer).
    """

    version: int = Field(
        strict=True, ge=1, le=INT_MAX, description="the version the change is based on"
    )
    reason: ReasonText | None = Field(
        default=None, description="required once the event is submitted"
    )
    submit: bool = Field(default=False, description="true submits a draft")
    confirm_before_consent: bool = Field(
        default=False,
        description="true: accept a new onset before the subject's informed consent "
        "(otherwise 422)",
    )


class EventOut(BaseModel):
    id: int
    version: int
    status: str
    usubjid: str
    study_id: str
    site: str
    arm: str | None
    aeseq: int
    aeterm: str
    aeterm_en: str | None = None
    aelltcd: str | None
    aedecod: str | None = Field(description="CTCAE term of the code")
    aebodsys: str | None = Field(description="system organ class")
    terminology: str | None = Field(description="terminology release used, e.g. CTCAE 5.0")
    aetoxgr: int | None
    aeser: YN | None = Field(description="null while a draft leaves it unanswered")
    aesdth: YN
    aeslife: YN
    aeshosp: YN
    aesdisab: YN
    aescong: YN
    aesmie: YN
    aestdtc: str | None
    aeendtc: str | None
    aeout: str | None
    aerel: dict[str, str]
    aeacn: dict[str, str]
    aeongo: YN
    aecontrt: str | None
    narrative: str | None
    aeawaredtc: str | None = Field(
        default=None, description="when the site became aware (ISO 8601, as entered)"
    )
    aepreex: YN = Field(default="N", description="present before the first dose")
    aeitoxgr: int | None = Field(default=None, description="CTCAE grade at the first dose")
    aewrsdtc: str | None = Field(default=None, description="when it worsened (ISO 8601)")
    aegrpid: str | None = None
    aespid: str | None = None
    related: bool = Field(description="related to any study drug (investigator)")
    drug_withdrawn: bool
    aesi: list[str] = Field(description="AESI grouping keys derived from the coded term")
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    warnings: list[Problem] = Field(
        default_factory=list, description="e.g. onset before informed consent"
    )


class EventPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[EventOut]


class Conflict(BaseModel):
    """409: the event changed since `version`; `current` is what is stored now."""

    detail: str
    current: EventOut


class Duplicate(BaseModel):
    """409: a likely duplicate of the stored events `duplicate_of` (ids, oldest first): the
    same subject, coded term and onset day. Post again with `"confirm_duplicate": true` to
    store it anyway."""

    detail: str
    duplicate_of: list[int]


def problem(issue: Issue) -> Problem:
    # EventInput.ongoing is AEONGO in the API (and see API_NAMES); every other name is
    # already the SDTM one.
    return Problem(field=API_NAMES.get(issue.field, issue.field),
                   message=issue.message)  # fmt: skip


def subject_out(subject: Subject, site: Site, arm: Arm | None) -> SubjectOut:
    values = subject.model_dump(exclude={"site_id", "arm_id"})
    values["died"] = "Y" if subject.died else "N"
    return SubjectOut(**values, site=site.code,
                      site_name=site.name, arm=arm.code if arm else None,
                      arm_label=arm.label if arm else None)  # fmt: skip


def event_out(event: AdverseEvent, subject: Subject, site: Site, arm: Arm | None,
              warnings: list[Issue]) -> EventOut:  # fmt: skip
    values = event.model_dump(exclude={"site_id", "subject_id", "ongoing", "aesi"})
    values.update({flag: "Y" if getattr(event, flag) else "N" for flag in SERIOUS_CRITERIA})
    return EventOut(**values | {"aeser": {True: "Y", False: "N"}.get(event.aeser),
                    "usubjid": subject.usubjid,
                    "aeongo": "Y" if event.ongoing else "N", "site": site.code,
                    "aepreex": "Y" if event.preexisting else "N",
                    "aeitoxgr": event.initial_grade, "aewrsdtc": event.worsened_dtc,
                    "arm": arm.code if arm else None,
                    "aesi": [k for k in (event.aesi or "").split(",") if k],
                    "warnings": [problem(w) for w in warnings]})  # fmt: skip
