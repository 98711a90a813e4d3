"""Queries to the site: the officer asks, the site's investigator answers, the officer closes.

While the event is in review (submitted, under review, queried, answered), it is
"queried" exactly while one of its queries is open: raising one queries the event,
answering the last open one makes it "answered", and withdrawing (closing) the last open
one unanswered returns it to "under_review". Corrections the answer calls for go through
`pv.events.service.update_event` with a reason, as any follow-up does.

Queries at any time (issue 15): an officer may also ask about an assessed or locked event
(follow-up information on a SUSAR). Such a query does not move the event: an assessed
event stays assessed and a locked one stays locked (a follow-up request does not unlock
it). Answering it records the answer and a follow-up version of the event (version + 1,
audit action "answer"), as answering the last query of a queried event does; the queue
then shows the event "changed since" its assessment. On an assessed event the site may
also correct fields through the follow-up form, as on any assessed event. On a locked
event the lock stays: its fields change only after an administrator unlocks it (with a
reason), as before; the answer itself is always accepted. The officer closes the query
on either.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlmodel import Session, col, select

from pv.audit.service import Actor, diff, record
from pv.auth.models import Role
from pv.events.models import AdverseEvent, Status
from pv.events.rules import Findings
from pv.events.service import INPUT_FIELDS, ValidationFailed, snapshot
from pv.i18n import N_
from pv.i18n import gettext as _
from pv.inputs import text_problem
from pv.labels import label
from pv.notify.service import query_answered, query_raised
from pv.review.models import QueryStatus, SafetyQuery
from pv.review.reports import sync_sae_clock
from pv.review.workflow import (
    RoleRefused,
    TransitionRefused,
    at_site,
    load_event,
    move,
    open_queries,
    require_role,
    save_event,
)
from pv.timeutil import utcnow

MAX_TEXT = 4000
REQUIRED = {"question": N_("the question is required"), "answer": N_("the answer is required")}
QUERY_FIELDS = ("status", "answer", "answered_by", "answered_at", "closed_by", "closed_at")
# Queried without changing status: the assessment (and a lock) stands while the site answers.
SETTLED = frozenset({Status.assessed, Status.locked})


def can_query(status: str, role: str | None) -> bool:
    """An officer may raise a query on any event a site has submitted (not a draft)."""
    return role == Role.officer and status != Status.draft


def _audit(
    session: Session, actor: Actor, query: SafetyQuery, before: dict[str, object], action: str
) -> None:
    session.add(query)
    session.flush()
    after = {f: getattr(query, f) for f in QUERY_FIELDS}
    if action == "create":
        after = {
            "event_id": query.event_id,
            "field": query.field,
            "question": query.question,
            **after,
        }
    record(
        session=session,
        actor=actor,
        action=action,
        entity_type="safety_query",
        entity_id=str(query.id),
        study_id=query.study_id,
        site_id=query.site_id,
        changes=diff(before, after),
    )


def _text(findings: Findings, name: str, value: str | None) -> str:
    text = (value or "").strip()
    if not text:
        findings.error(name, _(REQUIRED[name]) if name in REQUIRED else _("this is required"))
    elif (problem := text_problem(text, max_length=MAX_TEXT, multiline=True)) is not None:
        findings.error(name, problem)  # the shared text rule (pv.inputs), length included
    return text


def open_query(
    *,
    session: Session,
    actor: Actor,
    event_id: int,
    expected_version: int,
    question: str,
    field: str | None = None,
) -> SafetyQuery:
    """Ask the site a question about an event (optionally about one field)."""
    require_role(actor, Role.officer)
    event = load_event(session, event_id, expected_version)
    if event.status == Status.draft:
        raise TransitionRefused(_("a draft cannot be queried; the site has not submitted it"))
    findings = Findings()
    text = _text(findings, "question", question)
    field = (field or "").strip() or None
    if field is not None and field.split(".")[0] not in INPUT_FIELDS:
        findings.error("field", _("'%(field)s' is not a field of the event", field=field))
    if not findings.ok:
        raise ValidationFailed(findings)
    if event.status not in SETTLED and event.status != Status.queried:
        starting = event.status == Status.submitted
        move(session, actor, event, Status.queried, action="query")
        if starting:
            sync_sae_clock(session, actor, event)
    query = SafetyQuery(
        event_id=event_id,
        study_id=event.study_id,
        site_id=event.site_id,
        field=field,
        question=text,
        raised_by=actor.user_id,
        raised_by_name=actor.username,
    )
    _audit(session, actor, query, {}, "create")
    query_raised(session, query)
    return query


def _load(session: Session, query_id: int) -> tuple[SafetyQuery, AdverseEvent]:
    query = session.get(SafetyQuery, query_id, with_for_update=True, populate_existing=True)
    if query is None:
        raise LookupError(f"no query {query_id}")
    event = load_event(session, query.event_id, None)
    return query, event


def answer_query(*, session: Session, actor: Actor, query_id: int, answer: str) -> SafetyQuery:
    """The site's investigator answers; the last answer makes the event "answered"."""
    require_role(actor, Role.investigator)
    query, event = _load(session, query_id)
    if not at_site(session, actor, query.site_id):
        raise RoleRefused(_("only an investigator of the event's site answers its queries"))
    if query.status != QueryStatus.open:
        raise TransitionRefused(
            _("the query is %(status)s, not open", status=label("query_status", query.status))
        )
    findings = Findings()
    text = _text(findings, "answer", answer)
    if not findings.ok:
        raise ValidationFailed(findings)
    before = {f: getattr(query, f) for f in QUERY_FIELDS}
    query.status, query.answer = QueryStatus.answered, text
    query.answered_by, query.answered_at = actor.user_id, utcnow()
    _audit(session, actor, query, before, "answer")
    query_answered(session, query)
    if event.status in SETTLED:  # the follow-up version; the status (and a lock) stays
        save_event(session, actor, event, snapshot(event), action="answer")
    elif open_queries(session, event.id) == 0 and event.status == Status.queried:  # type: ignore[arg-type]
        move(session, actor, event, Status.answered, action="answer")
    return query


def close_query(*, session: Session, actor: Actor, query_id: int) -> SafetyQuery:
    """The officer closes an answered query, or withdraws an open one."""
    require_role(actor, Role.officer)
    query, event = _load(session, query_id)
    if query.status == QueryStatus.closed:
        raise TransitionRefused(_("the query is already closed"))
    was_open = query.status == QueryStatus.open
    before = {f: getattr(query, f) for f in QUERY_FIELDS}
    query.status, query.closed_by, query.closed_at = QueryStatus.closed, actor.user_id, utcnow()
    _audit(session, actor, query, before, "close")
    if was_open and event.status == Status.queried and open_queries(session, event.id) == 0:  # type: ignore[arg-type]
        move(session, actor, event, Status.under_review, action="withdraw_query")
    return query


def queries_for_event(session: Session, event_id: int) -> list[SafetyQuery]:
    return list(
        session.exec(
            select(SafetyQuery)
            .where(SafetyQuery.event_id == event_id)
            .order_by(col(SafetyQuery.id))
        )
    )


def queries_for_sites(
    session: Session,
    *,
    study_id: str,
    site_ids: Collection[int] | None,
    status: str | None = QueryStatus.open,
) -> list[SafetyQuery]:
    """A site's (or every site's, `site_ids=None`) queries, oldest first."""
    q = select(SafetyQuery).where(SafetyQuery.study_id == study_id)
    if site_ids is not None:
        q = q.where(col(SafetyQuery.site_id).in_(site_ids))
    if status is not None:
        q = q.where(SafetyQuery.status == status)
    return list(session.exec(q.order_by(col(SafetyQuery.raised_at), col(SafetyQuery.id))))
