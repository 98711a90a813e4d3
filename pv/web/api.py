"""The JSON API, /api/v1: subjects and adverse events, with a personal bearer token.

Access (every query is scoped, and another site's data is indistinguishable from none):

- investigators read and write the subjects and events of their own sites (drafts included);
- safety officers read every site's subjects and submitted events, and write nothing here;
- admins read and write everything;
- DSMB members get 403 on every route here: they read aggregate reports, not patient-level
  data.

Status codes: 401 no or bad token; 403 role not allowed; 404 unknown or another site's
subject/event (never 403: existence is not revealed); 422 invalid input, as
`{"errors": [{"field": ..., "message": ...}]}` with every problem at once, each naming its
SDTM field (`aerel.<drug>` for one drug); 409 stale `version` (the body carries the stored
event as `current`) or a duplicate subject; 423 the event is locked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pv.auth.models import Role
from pv.blinding.policy import ArmMasker, arms_visible, shown_arm
from pv.db import write_session
from pv.events import service
from pv.events.models import SERIOUS_CRITERIA, AdverseEvent, Status
from pv.events.rules import EventInput, Issue, check_event
from pv.study.models import Arm, Site, Study, Subject
from pv.study.service import StudyError, add_subject, subject_problems, update_subject
from pv.timeutil import today
from pv.web import api_schemas as sch
from pv.web.deps import DB, EVENT_READERS, EVENT_WRITERS, ApiAuth, Auth, event_or_404, require
from pv.web.json_body import StrictJsonRoute


def api_router() -> APIRouter:
    """A router of the JSON API (/api/v1): strict JSON bodies, the bearer scheme, the
    common 401/403 answers (this module's routes, pv.web.api_case's)."""
    return APIRouter(
        prefix="/api/v1",
        tags=["api"],
        route_class=StrictJsonRoute,  # a JSON body repeating a key is 422 naming it
        # Documents the bearer scheme in /openapi.json; `api_auth` does the checking.
        dependencies=[Depends(HTTPBearer(auto_error=False))],
        responses={
            401: {"model": sch.Detail, "description": "no or invalid bearer token"},
            403: {"model": sch.Detail, "description": "the role may not use this route"},
        },
    )


router = api_router()
MAX_LIMIT = 200
T = TypeVar("T")


def _readers(auth: ApiAuth) -> Auth:
    require(auth, *EVENT_READERS)
    return auth


def _writers(auth: ApiAuth) -> Auth:
    require(auth, *EVENT_WRITERS)
    return auth


Reader = Annotated[Auth, Depends(_readers)]
Writer = Annotated[Auth, Depends(_writers)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"page size, at most {MAX_LIMIT}")]
Offset = Annotated[int, Query(ge=0, le=sch.INT_MAX)]
EventId = Annotated[int, Path(ge=1, le=sch.INT_MAX)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": sch.Detail, "description": "no such item (or another site's)"}
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": sch.ErrorList, "description": "invalid input; each error names its field"}
}


class _Reply(Exception):
    """An error answer built inside a write transaction; raising it rolls the transaction back."""

    def __init__(self, status: int, body: dict[str, Any]):
        self.status, self.body = status, body


def _errors(issues: Iterable[Issue]) -> _Reply:
    return _Reply(422, {"errors": [sch.problem(i).model_dump() for i in issues]})


def _write(request: Request, work: Callable[[Session], T]) -> T | JSONResponse:
    try:
        with write_session(request.app.state.engine) as session:
            return work(session)
    except _Reply as reply:
        return JSONResponse(reply.body, status_code=reply.status)
    except IntegrityError:  # a concurrent request stored the same thing first
        return JSONResponse({"detail": "a concurrent change conflicted; retry"}, status_code=409)


# --- subjects -------------------------------------------------------------------------------


def _subjects(auth: Auth) -> Any:
    q = (
        select(Subject, Site, Arm)
        .join(Site, col(Site.id) == Subject.site_id)
        .join(Arm, col(Arm.id) == Subject.arm_id, isouter=True)
    )
    if auth.sites is not None:
        q = q.where(col(Subject.site_id).in_(auth.sites))
    return q


@router.get("/subjects", response_model=sch.SubjectPage)
def list_subjects(
    auth: Reader,
    session: DB,
    study: sch.SafeStr | None = None,
    site: sch.SafeStr | None = None,
    arm: sch.SafeStr | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> sch.SubjectPage:
    """The subjects of the caller's sites (every site for officers and admins).

    `site` is a site code, `arm` an arm code or label; ordered by USUBJID.
    """
    q = _subjects(auth)
    if study:
        q = q.where(Subject.study_id == study)
    if site:
        q = q.where(Site.code == site)
    masker = ArmMasker(session, auth.user)  # blinded studies mask the arm (pv.blinding)
    if arm:
        q = q.where(or_(col(Arm.code) == arm, col(Arm.label) == arm))
        q = q.where(col(Subject.study_id).not_in(masker.hidden_study_ids()))
    total = session.exec(select(func.count()).select_from(q.subquery())).one()
    rows = session.exec(q.order_by(Subject.usubjid, Subject.id).offset(offset).limit(limit))
    items = [sch.subject_out(s, site, masker.arm(s, a)) for s, site, a in rows]
    return sch.SubjectPage(total=total, limit=limit, offset=offset, items=items)


@router.get("/subjects/{usubjid}", response_model=sch.SubjectOut, responses=NOT_FOUND)
def get_subject(auth: Reader, session: DB, usubjid: sch.SafeStr) -> sch.SubjectOut:
    """One subject; 404 when it does not exist or belongs to another site."""
    row = session.exec(_subjects(auth).where(Subject.usubjid == usubjid)).first()
    if row is None:
        raise HTTPException(404, "no such subject")
    subject, site, arm = row
    return sch.subject_out(subject, site, ArmMasker(session, auth.user).arm(subject, arm))


@router.post(
    "/subjects",
    status_code=201,
    response_model=sch.SubjectOut,
    responses={**INVALID, 409: {"model": sch.Detail, "description": "subject exists"}},
)
def create_subject(request: Request, auth: Writer, body: sch.SubjectIn) -> Any:
    """Add a subject; USUBJID is built as STUDYID-SITE-SUBJID and returned.

    Investigators add subjects to their own sites only: any other site code (existing or
    not) is `422 site: unknown site`. `arm` is the arm code or label. Dates must not lie in
    the future, and randomization not before consent.
    """

    def work(session: Session) -> sch.SubjectOut:
        problems: list[Issue] = []
        study = session.get(Study, body.study_id)
        arm = None
        if study is None:
            raise _errors([Issue("study_id", "unknown study")])
        site = session.exec(
            select(Site).where(Site.study_id == study.id, Site.code == body.site)
        ).first()
        if site is None or site.id is None or not auth.can_see_site(site.id):
            problems.append(Issue("site", "unknown site"))
        if body.arm is not None and not arms_visible(auth.user, study):
            problems.append(Issue("arm", "this study is blinded: the arm is not yours to set"))
        elif body.arm is not None:
            arms = session.exec(select(Arm).where(Arm.study_id == study.id)).all()
            arm = next((a for a in arms if body.arm in (a.code, a.label)), None)
            if arm is None:
                problems.append(
                    Issue("arm", "unknown arm; one of: " + ", ".join(a.code for a in arms))
                )
        problems += [Issue(f, m) for f, m in subject_problems(  # the rules of add_subject
            subjid=body.subjid, consent_date=body.consent_date,
            randomization_date=body.randomization_date, today=today(),
        )]  # fmt: skip
        if problems or site is None:
            raise _errors(problems)
        if session.exec(
            select(Subject.id).where(
                Subject.study_id == study.id,
                Subject.usubjid == f"{study.id}-{site.code}-{body.subjid}",
            )
        ).first():
            raise _Reply(409, {"detail": "this subject already exists"})
        try:
            subject = add_subject(
                session=session, actor=auth.actor, study_id=study.id, site=site, arm=arm,
                subjid=body.subjid, sex=body.sex, age=body.age, weight_kg=body.weight_kg,
                consent_date=body.consent_date, randomization_date=body.randomization_date,
                race=body.race, height_cm=body.height_cm,
            )  # fmt: skip
        except StudyError as exc:
            raise _errors([Issue(f, m) for f, m in exc.problems] or [Issue("subjid", str(exc))]
                          ) from None  # fmt: skip
        return sch.subject_out(subject, site, arm)

    return _write(request, work)


@router.patch(
    "/subjects/{usubjid}",
    response_model=sch.SubjectOut,
    responses={**NOT_FOUND, **INVALID},
)
def update_subject_api(request: Request, auth: Writer, usubjid: sch.SafeStr,
                       body: sch.SubjectPatch) -> Any:  # fmt: skip
    """Change a subject's baseline (sex, age, weight, race, height), end of study, death or
    disposition: a partial update (fields left out keep their values, null clears one),
    audited with `reason`. Investigators change their own sites' subjects only (another's
    is 404, as for reading). Every rule is checked on the result, each problem naming its
    field (422); nothing is stored unless all pass."""

    def work(session: Session) -> sch.SubjectOut:
        row = session.exec(_subjects(auth).where(Subject.usubjid == usubjid)).first()
        if row is None:
            raise _Reply(404, {"detail": "no such subject"})
        subject, site, arm = row
        names = body.model_fields_set - {"reason", "death_date_unknown"}
        changes = {name: getattr(body, name) for name in names}
        if "died" in changes:
            changes["died"] = changes["died"] == "Y"
        try:
            update_subject(session=session, actor=auth.actor, subject=subject,
                           reason=body.reason, death_date_unknown=body.death_date_unknown,
                           **changes)  # fmt: skip
        except StudyError as exc:
            raise _errors([Issue(f, m) for f, m in exc.problems] or [Issue("subject", str(exc))]
                          ) from None  # fmt: skip
        return sch.subject_out(subject, site, ArmMasker(session, auth.user).arm(subject, arm))

    return _write(request, work)


# --- adverse events -------------------------------------------------------------------------


def _event_out(event: AdverseEvent, subject: Subject, site: Site, arm: Arm | None,
               warnings: list[Issue] | None = None) -> sch.EventOut:  # fmt: skip
    if warnings is None:  # warnings depend on the dates and the consent date only
        data, consent = service.to_input(event), subject.consent_date
        warnings = check_event(data, term=None, drug_keys=[], consent_date=consent,
                               today=today(), submit=False).warnings  # fmt: skip
    return sch.event_out(event, subject, site, arm, warnings)


def _events(auth: Auth) -> Any:
    q = (
        select(AdverseEvent, Subject, Site, Arm)
        .join(Subject, col(Subject.id) == AdverseEvent.subject_id)
        .join(Site, col(Site.id) == AdverseEvent.site_id)
        .join(Arm, col(Arm.id) == Subject.arm_id, isouter=True)
    )
    if auth.sites is not None:
        q = q.where(col(AdverseEvent.site_id).in_(auth.sites))
    if auth.role not in (Role.investigator, Role.admin):
        q = q.where(AdverseEvent.status != Status.draft)  # drafts stay with the site
    return q


def _full(
    session: Session, event: AdverseEvent, warnings: list[Issue] | None = None, *, user: Any
) -> sch.EventOut:
    subject = session.get(Subject, event.subject_id)
    site = session.get(Site, event.site_id)
    assert subject is not None and site is not None
    arm = shown_arm(session, user, subject)  # masked in a blinded study (pv.blinding)
    return _event_out(event, subject, site, arm, warnings)


@router.get("/events", response_model=sch.EventPage)
def list_events(
    auth: Reader,
    session: DB,
    usubjid: sch.SafeStr | None = None,
    status: Status | None = None,
    serious: Literal["Y", "N"] | None = None,
    term: Annotated[sch.SafeStr | None, Query(max_length=100)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> sch.EventPage:
    """Adverse events the caller may see, oldest first.

    Filters: `usubjid` (exact; another site's subject simply matches nothing), `status`,
    `serious` (Y/N), `term` (part of the verbatim or coded term, any case). Officers see
    submitted events only; drafts stay with the site.
    """
    q = _events(auth)
    if usubjid:
        q = q.where(Subject.usubjid == usubjid)
    if status:
        q = q.where(AdverseEvent.status == status.value)
    if serious:
        q = q.where(AdverseEvent.aeser == (serious == "Y"))
    if term:
        words = term.strip().lower()
        q = q.where(
            or_(
                func.lower(AdverseEvent.aeterm).contains(words, autoescape=True),
                func.lower(AdverseEvent.aedecod).contains(words, autoescape=True),
            )
        )
    total = session.exec(select(func.count()).select_from(q.subquery())).one()
    rows = session.exec(q.order_by(AdverseEvent.id).offset(offset).limit(limit))
    masker = ArmMasker(session, auth.user)  # blinded studies mask the arm (pv.blinding)
    items = [_event_out(e, s, site, masker.arm(s, a)) for e, s, site, a in rows]
    return sch.EventPage(total=total, limit=limit, offset=offset, items=items)


@router.get("/events/{event_id}", response_model=sch.EventOut, responses=NOT_FOUND)
def get_event(auth: Reader, session: DB, event_id: EventId) -> sch.EventOut:
    """One event; 404 when it does not exist or belongs to another site."""
    return _full(session, event_or_404(session, auth, event_id), user=auth.user)


_FLAGS = {"aeser", "aeongo", "aepreex", *SERIOUS_CRITERIA}
_FIELDS = tuple(f for f in sch.EventIn.model_fields
                if f not in ("usubjid", "submit", "confirm_duplicate",
                             "confirm_before_consent"))  # fmt: skip


def _overlay(
    data: EventInput, body: sch.EventIn | sch.EventPatch, names: Iterable[str]
) -> EventInput:
    """Copy the named API fields onto an EventInput, converting Y/N and merging per drug."""
    for name in names:
        value = getattr(body, name)
        if name == "aeser":
            data.aeser = None if value is None else value == "Y"
        elif name in _FLAGS:
            setattr(data, sch.INPUT_NAMES.get(name, name), value == "Y")
        elif name in ("aerel", "aeacn"):
            merged = dict(getattr(data, name)) if value is not None else {}
            for key, answer in (value or {}).items():
                if answer is None:
                    merged.pop(key, None)
                else:
                    merged[key] = answer
            setattr(data, name, merged)
        else:
            setattr(data, sch.INPUT_NAMES.get(name, name), value)
    return data


@router.post(
    "/events",
    status_code=201,
    response_model=sch.EventOut,
    responses={**INVALID, 409: {"model": sch.Duplicate, "description": "likely duplicate"}},
)
def create_event_api(request: Request, auth: Writer, body: sch.EventIn) -> Any:
    """Report an adverse event.

    A post is a **submission** (every completeness rule applies) unless `"submit": false`,
    which saves a draft to complete later with PATCH. An unknown USUBJID, or another site's,
    is `422 usubjid: no such subject` (the body was understood, it names nothing the caller
    can see), exactly as for a subject that does not exist.

    A likely duplicate (a stored event of the subject, drafts included, with the same coded
    term and onset day: AESTDTC up to the day, a partial date matching only the same
    partial date) is `409` with `duplicate_of`, the ids of those events, and nothing is
    stored, unless the body says `"confirm_duplicate": true`.

    An onset before the subject's informed consent is `422` (field
    `confirm_before_consent`, the warning as its message) unless the body says
    `"confirm_before_consent": true`; a serious event submitted needs `aeawaredtc`, when the
    site became aware (the start of its 24-hour clock).
    """

    def work(session: Session) -> sch.EventOut:
        q = select(Subject).where(Subject.usubjid == body.usubjid)
        if auth.sites is not None:
            q = q.where(col(Subject.site_id).in_(auth.sites))
        subject = session.exec(q.order_by(col(Subject.id))).first()
        if subject is None:
            raise _errors([Issue("usubjid", "no such subject")])
        data = _overlay(EventInput(), body, _FIELDS)
        try:
            event, findings = service.create_event(
                session=session, actor=auth.actor, subject=subject, data=data,
                submit=body.submit, confirm_duplicate=body.confirm_duplicate,
                confirm_before_consent=body.confirm_before_consent,
            )  # fmt: skip
        except service.ValidationFailed as exc:
            raise _errors(exc.findings.errors) from None
        except service.DuplicateEvent as exc:
            raise _Reply(409, {"detail": f"{exc}; post again with \"confirm_duplicate\": "
                                         "true to store it anyway",
                               "duplicate_of": exc.existing_ids}) from None  # fmt: skip
        return _full(session, event, findings.warnings, user=auth.user)

    return _write(request, work)


@router.patch(
    "/events/{event_id}",
    response_model=sch.EventOut,
    responses={
        **NOT_FOUND,
        **INVALID,
        409: {"model": sch.Conflict, "description": "stale version"},
        423: {"model": sch.Detail, "description": "the event is locked"},
    },
)
def update_event_api(
    request: Request, auth: Writer, event_id: EventId, body: sch.EventPatch
) -> Any:
    """Change an event: a partial update from `version`, the version it is based on.

    Fields left out keep their stored values; `null` clears one; `aerel`/`aeacn` are merged
    per drug (null removes a drug's answer). Once submitted, every change needs a `reason`
    (422 naming `reason` without one) and makes a new version. `"submit": true` submits a
    draft. A stale `version` is 409 with the stored event as `current`; a locked event 423.
    """

    def work(session: Session) -> sch.EventOut:
        service.lock_for_update(session, event_id)
        event = event_or_404(session, auth, event_id)
        data = _overlay(service.to_input(event), body, body.model_fields_set & set(_FIELDS))
        try:
            event, findings = service.update_event(
                session=session, actor=auth.actor, event_id=event_id, data=data,
                expected_version=body.version, reason=body.reason, submit=body.submit,
                confirm_before_consent=body.confirm_before_consent,
            )  # fmt: skip
        except service.VersionConflict as exc:
            current = _full(session, exc.current, user=auth.user).model_dump(mode="json")
            detail = (
                f"the event changed: it is at version {exc.current.version}, not {body.version}"
            )
            raise _Reply(409, {"detail": detail, "current": current}) from None
        except service.NotEditable as exc:
            raise _Reply(423, {"detail": str(exc)}) from None
        except service.ValidationFailed as exc:
            raise _errors(exc.findings.errors) from None
        return _full(session, event, findings.warnings, user=auth.user)

    return _write(request, work)
