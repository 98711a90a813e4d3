"""Queries to the site: the list of open queries, an event's queries, answer and close.

The officer raises a query from the review page (review_event.py). The investigator sees
the open queries of their sites here, answers on the event's page (the `_queries.html`
partial, loaded into the investigator's event page) and may correct the event through
the follow-up form. Another site's query or event is a 404 on every route.

Every page's navigation shows an investigator the open queries to their sites
(`open_query_count`, a template global); lists show the field a query is about by its
label ("Reported term", not "aeterm").
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, col, select

from pv.auth.models import Role, UserSite
from pv.db import write_session
from pv.events.models import AdverseEvent
from pv.events.service import ValidationFailed, subject_drugs
from pv.i18n import gettext as _
from pv.review.models import QueryStatus, SafetyQuery
from pv.review.queries import answer_query, close_query, queries_for_event, queries_for_sites
from pv.study.models import Drug, Subject
from pv.web.deps import DB, EVENT_READERS, Auth, PathId, WebAuth, engine, event_or_404, require
from pv.web.review_common import QUERY_READERS, field_errors, pick_study, refusals, safe_back, text
from pv.web.review_context import query_fields
from pv.web.templating import render, templates

router = APIRouter()
STATUSES = ("open", "answered", "closed", "all")


def open_query_count(request: Request, user: Any) -> int | None:
    """The open queries to an investigator's sites, for the navigation: one count on
    ix_safetyquery_site_status. None for other roles, and where it cannot be read without
    nesting transactions (an in-memory SQLite database has a single connection)."""
    if user is None or getattr(user, "role", None) != Role.investigator or user.id is None:
        return None
    eng = engine(request)
    if isinstance(eng.pool, StaticPool):
        return None
    with eng.connect() as conn:
        n = conn.execute(
            select(func.count())
            .select_from(SafetyQuery)
            .join(UserSite, col(UserSite.site_id) == SafetyQuery.site_id)
            .where(col(UserSite.user_id) == user.id, col(SafetyQuery.status) == QueryStatus.open)
        ).scalar_one()
    return int(n)


templates.env.globals["open_query_count"] = open_query_count


def study_query_fields(session: Session, study_id: str) -> dict[str, str]:
    """{field: label} of what a query of the study may be about (its drugs included)."""
    drugs = session.exec(select(Drug).where(Drug.study_id == study_id).order_by(col(Drug.id)))
    return query_fields(list(drugs))


@router.get("/queries")
def query_list(
    request: Request, auth: WebAuth, session: DB, study: str = "", status: str = "open"
) -> Response:
    require(auth, *QUERY_READERS)
    studies, study_id = pick_study(session, study)
    status = status if status in STATUSES else "open"
    queries = []
    if study_id is not None:
        queries = queries_for_sites(
            session,
            study_id=study_id,
            site_ids=auth.sites,
            status=None if status == "all" else status,
        )
    ids = {q.event_id for q in queries}
    events = {}
    if ids:
        rows = session.exec(
            select(AdverseEvent, Subject.usubjid)
            .join(Subject, col(Subject.id) == AdverseEvent.subject_id)
            .where(col(AdverseEvent.id).in_(ids))
        ).all()
        events = {e.id: (e, usubjid) for e, usubjid in rows}
    ctx = {
        "auth": auth,
        "studies": studies,
        "study": study_id,
        "status": status,
        "statuses": STATUSES,
        "queries": queries,
        "events": events,
        "query_fields": study_query_fields(session, study_id) if study_id else {},
    }
    return render(request, "review/queries.html", ctx, partial="review/_query_list.html")


def _queries_context(
    session: Session, auth: Auth, event: AdverseEvent, **extra: Any
) -> dict[str, Any]:
    subject = session.get(Subject, event.subject_id)
    assert subject is not None and event.id is not None
    return {
        "auth": auth,
        "event": event,
        "subject": subject,
        "queries": queries_for_event(session, event.id),
        "query_fields": query_fields(subject_drugs(session, subject)),
        "can": {"query": False, "close_query": False},
        "errors": {},
        "typed": {},
        **extra,
    }


@router.get("/events/{event_id}/queries")
def event_queries(request: Request, auth: WebAuth, session: DB, event_id: PathId) -> Response:
    """An event's queries; the investigator's event page loads the partial with htmx."""
    require(auth, *EVENT_READERS)
    event = event_or_404(session, auth, event_id)
    ctx = _queries_context(session, auth, event)
    return render(request, "review/event_queries.html", ctx, partial="review/_queries.html")


def _query_or_404(session: Session, auth: Auth, query_id: int) -> SafetyQuery:
    query = session.get(SafetyQuery, query_id)
    if query is None or not auth.can_see_site(query.site_id):
        raise HTTPException(404, _("no such query"))
    return query


@router.post("/queries/{query_id}/answer")
async def answer(request: Request, auth: WebAuth, query_id: PathId) -> Response:
    require(auth, Role.investigator)
    form = await request.form()
    with write_session(engine(request)) as session:
        query = _query_or_404(session, auth, query_id)
        event_id = query.event_id
        try:
            with refusals():
                answer_query(
                    session=session,
                    actor=auth.actor,
                    query_id=query_id,
                    answer=text(form, "answer"),
                )
            return RedirectResponse(f"/events/{event_id}?answered={query_id}#queries", 303)
        except ValidationFailed as exc:
            errors = {f"answer-{query_id}": field_errors(exc).get("answer", str(exc))}
        session.rollback()
        event = event_or_404(session, auth, event_id)
        ctx = _queries_context(
            session, auth, event, errors=errors, typed={f"answer-{query_id}": text(form, "answer")}
        )
        return render(request, "review/event_queries.html", ctx, status_code=422)


@router.post("/queries/{query_id}/close")
async def close(request: Request, auth: WebAuth, query_id: PathId) -> Response:
    require(auth, Role.officer)
    form = await request.form()
    with write_session(engine(request)) as session:
        query = _query_or_404(session, auth, query_id)
        event_id = query.event_id
        with refusals():
            close_query(session=session, actor=auth.actor, query_id=query_id)
    back = safe_back(text(form, "back"), f"/review/events/{event_id}?done=close#queries")
    return RedirectResponse(back, 303)
