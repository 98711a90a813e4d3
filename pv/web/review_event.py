"""The event review page and its forms: start review, recode, assess, query, lock, unlock.

Every POST carries the event `version` it was read at. A refused form re-renders the page
with every message (422), a stale version with the other person's saved values next to
the user's own (409); nothing of a refused form is stored. Success redirects (303) back
to the page, at the section that changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData

from pv.auth.models import Role
from pv.db import write_session
from pv.events.rules import Findings
from pv.events.service import ValidationFailed, VersionConflict, subject_drugs
from pv.review import service
from pv.review.queries import open_query
from pv.review.signing import count_wrong_password, is_wrong_password, signer
from pv.study.models import Subject
from pv.timeutil import today
from pv.web.deps import DB, Auth, PathId, WebAuth, engine, event_or_404, require
from pv.web.review_assess import awareness_of, rsi_rows, service_arguments, typed_values
from pv.web.review_common import REVIEWERS, field_errors, form_version, refusals, text
from pv.web.review_context import review_context
from pv.web.templating import render
from pv.web.terms import term_by_code

router = APIRouter()


def password(form: FormData) -> str:
    """The signer's password as typed (never stripped, never shown again)."""
    value = form.get("password")
    return value if isinstance(value, str) else ""


Work = Callable[[Session, Auth, int, FormData, int, dict[str, Any]], None]


@router.get("/review/events/{event_id}")
def review_page(request: Request, auth: WebAuth, session: DB, event_id: PathId) -> Response:
    require(auth, *REVIEWERS)
    event = event_or_404(session, auth, event_id)
    return render(request, "review/event.html", review_context(session, auth, event))


@router.get("/review/events/{event_id}/expectedness")
def expectedness_fragment(
    request: Request, auth: WebAuth, session: DB, event_id: PathId
) -> Response:
    """The RSI's expectedness per drug for another awareness date (the form's date field
    asks for it); without htmx, the whole page with that date in the form."""
    require(auth, *REVIEWERS)
    event = event_or_404(session, auth, event_id)
    subject = session.get(Subject, event.subject_id)
    assert subject is not None
    values = typed_values(request.query_params, subject_drugs(session, subject))
    ctx = review_context(session, auth, event, values=values)
    return render(request, "review/event.html", ctx, partial="review/_expectedness.html")


async def _post(
    request: Request,
    auth: WebAuth,
    event_id: int,
    roles: tuple[str, ...],
    form_name: str,
    work: Work,
    anchor: str,
) -> Response:
    """Run one review action; re-render the page on a refused or stale form."""
    require(auth, *roles)
    form = await request.form()
    version = form_version(form)
    keep: dict[str, Any] = {}
    with write_session(engine(request)) as session:
        event_or_404(session, auth, event_id)
        try:
            with refusals():
                work(session, auth, event_id, form, version, keep)
            return RedirectResponse(f"/review/events/{event_id}?done={form_name}#{anchor}", 303)
        except ValidationFailed as exc:
            status, errors = 422, {form_name: field_errors(exc)}
            conflict_from = None
        except VersionConflict:
            status, errors, conflict_from = 409, {}, version
        session.rollback()  # nothing of a refused form is stored
        if errors and is_wrong_password(errors[form_name]) and auth.actor.user_id is not None:
            count_wrong_password(session, auth.actor.user_id)  # throttled as a log-in
        event = event_or_404(session, auth, event_id)
        ctx = review_context(
            session,
            auth,
            event,
            errors=errors,
            conflict_form=form_name,
            conflict_from=conflict_from,
            **keep,
        )
        return render(request, "review/event.html", ctx, status_code=status)


def _start(
    session: Session, auth: Auth, event_id: int, form: FormData, version: int, keep: dict[str, Any]
) -> None:
    service.start_review(
        session=session, actor=auth.actor, event_id=event_id, expected_version=version
    )


def _lock(
    session: Session, auth: Auth, event_id: int, form: FormData, version: int, keep: dict[str, Any]
) -> None:
    service.lock_event(
        session=session,
        actor=auth.actor,
        event_id=event_id,
        expected_version=version,
        password=password(form),
    )


def _unlock(
    session: Session, auth: Auth, event_id: int, form: FormData, version: int, keep: dict[str, Any]
) -> None:
    keep["typed"] = {"unlock_reason": text(form, "reason")}
    service.unlock_event(
        session=session,
        actor=auth.actor,
        event_id=event_id,
        expected_version=version,
        reason=text(form, "reason"),
        password=password(form),
    )


def _recode(
    session: Session, auth: Auth, event_id: int, form: FormData, version: int, keep: dict[str, Any]
) -> None:
    code = text(form, "aelltcd")
    term = term_by_code(session, code) if code else None
    keep["typed"] = {
        "recode_code": code,
        "recode_reason": text(form, "reason"),
        "recode_term": f"{term.term} ({term.code})" if term else code or "—",
    }
    service.recode_event(
        session=session,
        actor=auth.actor,
        event_id=event_id,
        expected_version=version,
        new_code=code,
        reason=text(form, "reason"),
    )


def _assess(
    session: Session, auth: Auth, event_id: int, form: FormData, version: int, keep: dict[str, Any]
) -> None:
    event = event_or_404(session, auth, event_id)
    subject = session.get(Subject, event.subject_id)
    assert subject is not None
    drugs = subject_drugs(session, subject)
    values = typed_values(form, drugs)
    keep["values"] = values
    on = awareness_of(values, today())  # an invalid date is reported by service_arguments
    args, errors = service_arguments(values, rsi_rows(session, event, drugs, on))
    if errors:  # the form's own checks, shown like the service's (and the signature's)
        findings = Findings()
        for name, message in errors.items():
            findings.error(name, message)
        signer(session, auth.actor, password(form), findings)
        raise ValidationFailed(findings)
    service.save_assessment(
        session=session,
        actor=auth.actor,
        event_id=event_id,
        expected_version=version,
        password=password(form),
        **args,
    )


def _query(
    session: Session, auth: Auth, event_id: int, form: FormData, version: int, keep: dict[str, Any]
) -> None:
    keep["typed"] = {"question": text(form, "question"), "query_field": text(form, "field")}
    open_query(
        session=session,
        actor=auth.actor,
        event_id=event_id,
        expected_version=version,
        question=text(form, "question"),
        field=text(form, "field") or None,
    )


OFFICER = (Role.officer,)
LOCKERS = (Role.officer, Role.admin)
ADMIN = (Role.admin,)


@router.post("/review/events/{event_id}/start")
async def start_review(request: Request, auth: WebAuth, event_id: PathId) -> Response:
    return await _post(request, auth, event_id, OFFICER, "start", _start, "status")


@router.post("/review/events/{event_id}/recode")
async def recode(request: Request, auth: WebAuth, event_id: PathId) -> Response:
    return await _post(request, auth, event_id, OFFICER, "recode", _recode, "coding")


@router.post("/review/events/{event_id}/assess")
async def assess(request: Request, auth: WebAuth, event_id: PathId) -> Response:
    return await _post(request, auth, event_id, OFFICER, "assess", _assess, "assessment")


@router.post("/review/events/{event_id}/queries")
async def raise_query(request: Request, auth: WebAuth, event_id: PathId) -> Response:
    return await _post(request, auth, event_id, OFFICER, "query", _query, "queries")


@router.post("/review/events/{event_id}/lock")
async def lock(request: Request, auth: WebAuth, event_id: PathId) -> Response:
    return await _post(request, auth, event_id, LOCKERS, "lock", _lock, "status")


@router.post("/review/events/{event_id}/unlock")
async def unlock(request: Request, auth: WebAuth, event_id: PathId) -> Response:
    return await _post(request, auth, event_id, ADMIN, "unlock", _unlock, "status")
