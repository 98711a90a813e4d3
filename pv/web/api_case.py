"""The SAE case data of a serious event in the JSON API (/api/v1/events/{id}/sae-case).

`GET` answers the stored payload (pv.icsr.casedata), its `version` (0 while nothing is
stored) and `drug_keys`, the subject's study drugs that dechallenge and rechallenge are keyed
by. `PUT` replaces the whole payload (a field left out is cleared), optionally from
`version`, the version the change is based on. The read-only fields of GET (`event_id`,
`drug_keys`, `updated_at`, `updated_by`) may be sent back and are ignored, so a client can
put back what it got with its changes; any other unknown field is refused.

Access is the event API's (pv.web.api): a bearer token; investigators read and write their
own sites' events, safety officers every site's submitted events (case data is theirs to
complete too), admins everything, DSMB members nothing (403). Another site's event, or an
officer asking for a draft, is 404. Status codes: 422 every problem at once as
`{"errors": [{"field", "message"}]}` (`conmeds[0].start`, `dechallenge.belimumab`; `aeser`
for an event that is not serious); 409 a stale `version` (the body carries the stored case
data as `current`); 423 the event is locked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pv.auth.models import Role
from pv.db import write_session
from pv.events.models import AdverseEvent
from pv.events.rules import Issue
from pv.events.service import NotEditable, ValidationFailed, subject_drugs
from pv.i18n import gettext as _
from pv.icsr import casedata
from pv.icsr.models import AUTOPSY, CHALLENGE_RESULTS, QUALIFICATIONS, SaeCase
from pv.review.workflow import RoleRefused
from pv.study.models import Subject
from pv.web import api_schemas as sch
from pv.web.api import Reader, api_router  # who reads events reads their case data
from pv.web.deps import DB, ApiAuth, Auth, event_or_404, require

router = api_router()
# Who writes case data: the event's site, and the safety officers who complete the case.
CASE_WRITERS = (Role.investigator, Role.officer, Role.admin)
READ_ONLY = ("event_id", "drug_keys", "updated_at", "updated_by")
EventId = Annotated[int, Path(ge=1, le=sch.INT_MAX)]


def _writers(auth: ApiAuth) -> Auth:
    require(auth, *CASE_WRITERS)
    return auth


Writer = Annotated[Auth, Depends(_writers)]

# --- the bodies -------------------------------------------------------------------------------

_DTC = (
    "ISO 8601, partial allowed: YYYY, YYYY-MM, YYYY-MM-DD (or YYYY-MM-DDThh:mm); not in the future"
)
Dtc = Annotated[str | None, Field(default=None, max_length=casedata.DATE_MAX, description=_DTC)]
Name = Annotated[str | None, Field(default=None, max_length=casedata.NAME_MAX)]
FreeText = Annotated[str | None, Field(default=None, max_length=casedata.TEXT_MAX)]
Result = Literal[CHALLENGE_RESULTS]  # type: ignore[valid-type]
_ITEMS = {"maxItems": casedata.MAX_ITEMS}


class HistoryItem(BaseModel):
    """Relevant medical history (E2B D.7.1.r)."""

    model_config = ConfigDict(extra="forbid")
    term: str = Field(max_length=casedata.NAME_MAX, description="the condition (required)")
    start: Dtc
    ongoing: bool | None = Field(default=None, description="still present (null: unknown)")


class ConMed(BaseModel):
    """A concomitant medication (E2B G.k, characterisation concomitant)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=casedata.NAME_MAX, description="the medication (required)")
    dose: int | float | None = Field(
        default=None, ge=0, le=casedata.DOSE_MAX,
        description="a number, 0 or more (text such as \"12.5\" is accepted); needs `unit`",
    )  # fmt: skip
    unit: Name = Field(default=None, examples=["mg"])
    route: Name = Field(default=None, examples=["oral"])
    start: Dtc
    stop: Dtc = Field(default=None, description=_DTC + "; not before the start")
    indication: Name


class LabTest(BaseModel):
    """A relevant test and its result (E2B F.r)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=casedata.NAME_MAX, description="the test (required)")
    date: Dtc
    value: FreeText = Field(
        default=None, description='the result as written: a number or text such as "negative"'
    )
    unit: Name
    low: Name = Field(default=None, description="normal range, low end, as written")
    high: Name = Field(default=None, description="normal range, high end, as written")


class _Payload(BaseModel):
    reporter_name: Name
    reporter_qualification: Literal[tuple(QUALIFICATIONS)] | None = Field(  # type: ignore[valid-type]
        default=None,
        description="E2B C.2.r.4: "
        + ", ".join(f"{k} {v}" for k, v in QUALIFICATIONS.items()),
    )  # fmt: skip
    reporter_country: str | None = Field(
        default=None, pattern="^[A-Za-z]{2}$", examples=["CN"],
        description="ISO 3166-1 alpha-2 (stored upper-case)",
    )  # fmt: skip
    reporter_contact: Name = Field(default=None, description="phone or e-mail")
    hosp_admit_date: Dtc
    hosp_discharge_date: Dtc = Field(default=None, description=_DTC + "; not before admission")
    death_date: Dtc = Field(
        default=None, description=_DTC + "; a fatal event only, not before its onset"
    )
    death_cause: FreeText = Field(default=None, description="reported cause (fatal event only)")
    autopsy: Literal[AUTOPSY] | None = Field(  # type: ignore[valid-type]
        default=None, description="autopsy done: Y, N or U (unknown); fatal event only"
    )
    autopsy_cause: FreeText = Field(
        default=None, description="autopsy-determined cause; only with autopsy Y"
    )
    medical_history: list[HistoryItem] = Field(default_factory=list, max_length=casedata.MAX_ITEMS)
    conmeds: list[ConMed] = Field(default_factory=list, max_length=casedata.MAX_ITEMS)
    tests: list[LabTest] = Field(default_factory=list, max_length=casedata.MAX_ITEMS)
    dechallenge: dict[str, Result] = Field(
        default_factory=dict,
        description="per study drug key (see `drug_keys`): did the reaction abate after "
        "stopping it (CIOMS I box 20)",
    )
    rechallenge: dict[str, Result] = Field(
        default_factory=dict,
        description="per study drug key: did the reaction reappear after reintroduction "
        "(CIOMS I box 21)",
    )


class SaeCaseOut(_Payload):
    """The SAE case data of a serious event."""

    event_id: int
    version: int = Field(description="0 while nothing is stored; PUT it back as `version`")
    drug_keys: list[str] = Field(description="the subject's study drugs (dechallenge keys)")
    updated_at: datetime | None = None
    updated_by: str | None = None


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()  # items are flat: no $defs to carry along


def _any(schema: dict[str, Any]) -> Any:
    """A body field the service checks (every problem at once, pv.icsr.casedata), documented
    with the schema it follows."""
    return Annotated[Any, WithJsonSchema(schema)]


def _field_schema(name: str) -> dict[str, Any]:
    return dict(SaeCaseOut.model_json_schema()["properties"][name])


class _CaseInBase(BaseModel):
    """The whole SAE case data (a field left out is cleared), from `version`.

    The values are checked by the service (every problem at once, each naming its field);
    unknown fields are refused, the read-only fields of the GET answer are ignored."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})
    version: int | None = Field(
        default=None, ge=0, le=sch.INT_MAX,
        description="the version the change is based on (0: nothing stored yet); a stale "
        "one is 409. Left out: no check",
    )  # fmt: skip


_IN_SCHEMAS = {
    **{name: _field_schema(name) for name in casedata.CASE_SCALARS + casedata.CASE_CHALLENGES},
    "medical_history": {"type": "array", **_ITEMS, "items": _schema(HistoryItem)},
    "conmeds": {"type": "array", **_ITEMS, "items": _schema(ConMed)},
    "tests": {"type": "array", **_ITEMS, "items": _schema(LabTest)},
}
# Every payload field typed Any for pydantic (the service checks and names each problem)
# and documented with the schema it follows.
SaeCaseIn = create_model(  # type: ignore[call-overload]
    "SaeCaseIn",
    __base__=_CaseInBase,
    **{name: (_any(_IN_SCHEMAS[name]), None) for name in casedata.CASE_FIELDS},
)


class CaseConflict(BaseModel):
    """409: the case data changed since `version`; `current` is what is stored now."""

    detail: str
    current: SaeCaseOut


# --- the routes -------------------------------------------------------------------------------


def _drug_keys(session: Session, event: AdverseEvent) -> list[str]:
    subject = session.get(Subject, event.subject_id)
    assert subject is not None
    return [d.key for d in subject_drugs(session, subject)]


def _out(session: Session, event: AdverseEvent, row: SaeCase | None) -> SaeCaseOut:
    stored = row is not None and row.id is not None
    return SaeCaseOut(
        **casedata.case_data_dict(row if stored else None),
        event_id=event.id,  # type: ignore[arg-type]
        version=row.version if stored and row is not None else 0,
        drug_keys=_drug_keys(session, event),
        updated_at=row.updated_at if stored and row is not None else None,
        updated_by=row.updated_by_name if stored and row is not None else None,
    )


def _problems(issues: list[Issue]) -> JSONResponse:
    return JSONResponse({"errors": [sch.problem(i).model_dump() for i in issues]}, 422)


class _Reply(Exception):
    """An answer decided inside the write transaction; raising it rolls it back."""

    def __init__(self, response: JSONResponse):
        self.response = response


@router.get(
    "/events/{event_id}/sae-case",
    response_model=SaeCaseOut,
    responses={404: {"model": sch.Detail, "description": "no such event (or another site's)"}},
)
def get_sae_case(auth: Reader, session: DB, event_id: EventId) -> SaeCaseOut:
    """The SAE case data of an event (empty, version 0, while none is stored), with the
    subject's study drug keys that `dechallenge` and `rechallenge` are keyed by."""
    event = event_or_404(session, auth, event_id)
    return _out(session, event, casedata.get_case_data(session, event_id))


@router.put(
    "/events/{event_id}/sae-case",
    response_model=SaeCaseOut,
    responses={
        404: {"model": sch.Detail, "description": "no such event (or another site's)"},
        409: {"model": CaseConflict, "description": "stale version"},
        422: {"model": sch.ErrorList, "description": "invalid; each error names its field"},
        423: {"model": sch.Detail, "description": "the event is locked"},
    },
)
def put_sae_case(request: Request, auth: Writer, event_id: EventId, body: SaeCaseIn) -> Any:
    """Replace the SAE case data of a serious event (every field; one left out is cleared).

    Rules (all problems at once): dates ISO 8601, partial allowed, not in the future;
    discharge not before admission; a medication's stop not before its start; death
    details only for a fatal event, the death not before the onset, an autopsy cause only
    with autopsy Y; qualification, country (ISO 3166-1 alpha-2), autopsy and challenge
    results from their lists; dechallenge/rechallenge keyed by `drug_keys`; at most 50
    items a list, each with its term or name; a dose a number from 0 and with its unit.
    Saved for a serious event that is not locked; audited (entity `sae_case`)."""
    data = body.model_dump(exclude_unset=True)
    version = data.pop("version", None)
    for name in READ_ONLY:
        data.pop(name, None)

    def work(session: Session) -> SaeCaseOut:
        event = event_or_404(session, auth, event_id)  # site scoping: another's is 404
        try:
            row = casedata.save_case_data(session, auth.actor, event_id, data,
                                          expected_version=version)  # fmt: skip
        except casedata.CaseVersionConflict as exc:
            current = _out(session, event, exc.current).model_dump(mode="json")
            raise _Reply(JSONResponse({"detail": exc.message, "current": current}, 409)
                         ) from None  # fmt: skip
        except NotEditable as exc:
            raise _Reply(JSONResponse({"detail": str(exc)}, 423)) from None
        except RoleRefused as exc:
            raise _Reply(JSONResponse({"detail": str(exc)}, 403)) from None
        except ValidationFailed as exc:
            raise _Reply(_problems(exc.findings.errors)) from None
        return _out(session, event, row)

    try:
        with write_session(request.app.state.engine) as session:
            return work(session)
    except _Reply as reply:
        return reply.response
    except HTTPException:
        raise
    except IntegrityError:  # a concurrent request stored the case data first
        return JSONResponse({"detail": _("a concurrent change conflicted; retry")}, 409)
