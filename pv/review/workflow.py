"""The review workflow: which status changes are allowed, to whom, and the one place that
writes them (audit entry + version bump on the event).

    draft -> submitted -> under_review -> (queried <-> answered) -> assessed -> locked

Decisions beyond the diagram:
- submitted -> queried is allowed: an officer may query a new report before anything
  else (raising the query starts the review).
- queried -> under_review is allowed when the officer closes (withdraws) the last open
  query before it was answered; the status is "queried" exactly while a query is open.
- Review and assessment are the safety officer's; an administrator locks and is the
  only one who unlocks (with a reason). Re-assessing an assessed event keeps it assessed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from pv.audit.service import Actor, diff, record
from pv.auth.models import Role, UserSite
from pv.events.models import AdverseEvent, Status
from pv.events.rules import Findings
from pv.events.service import (
    NotEditable,
    ValidationFailed,
    VersionConflict,
    lock_for_update,
    snapshot,
)
from pv.i18n import gettext as _
from pv.i18n import ngettext
from pv.labels import label
from pv.review.models import Assessment, ExpeditedReport, QueryStatus, SafetyQuery
from pv.timeutil import utcnow

S, R = Status, Role
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (S.draft, S.submitted): frozenset({R.investigator, R.admin}),
    (S.submitted, S.under_review): frozenset({R.officer}),
    (S.submitted, S.queried): frozenset({R.officer}),
    (S.under_review, S.queried): frozenset({R.officer}),
    (S.queried, S.answered): frozenset({R.investigator}),
    (S.queried, S.under_review): frozenset({R.officer}),
    (S.answered, S.under_review): frozenset({R.officer}),
    (S.answered, S.queried): frozenset({R.officer}),
    (S.under_review, S.assessed): frozenset({R.officer}),
    (S.answered, S.assessed): frozenset({R.officer}),
    (S.assessed, S.locked): frozenset({R.officer, R.admin}),
    (S.locked, S.assessed): frozenset({R.admin}),
}
REVIEWING = frozenset({S.under_review, S.queried, S.answered})


class TransitionRefused(ValueError):
    """The change is not allowed from the event's current status."""


class RoleRefused(PermissionError):
    """The actor's role may not make this change."""


def transition_refusal(current: str, to: str, role: str | None) -> str | None:
    """Why `role` may not move an event from `current` to `to`; None when allowed."""
    roles = TRANSITIONS.get((current, to))
    if roles is None:
        return _(
            "an event cannot go from %(current)s to %(to)s",
            current=label("status", current),
            to=label("status", to),
        )
    if role not in roles:
        return _(
            "a %(role)s user cannot move an event from %(current)s to %(to)s",
            role=label("role", role) if role else _("system"),
            current=label("status", current),
            to=label("status", to),
        )
    return None


def can_transition(current: str, to: str, role: str | None) -> bool:
    return transition_refusal(current, to, role) is None


def check(current: str, to: str, role: str | None) -> None:
    """Raise TransitionRefused (no such edge) or RoleRefused (edge, wrong role)."""
    reason = transition_refusal(current, to, role)
    if reason is None:
        return
    if (current, to) in TRANSITIONS:
        raise RoleRefused(reason)
    if current == S.locked:
        raise NotEditable(_("the event is locked; an administrator must unlock it first"))
    raise TransitionRefused(reason)


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        names = [label("role", r) for r in roles]
        text = names[0] if names else ""
        for name in names[1:]:
            text = _("%(first)s or %(other)s", first=text, other=name)
        raise RoleRefused(_("this needs the role %(roles)s", roles=text))


def load_event(session: Session, event_id: int, expected_version: int | None) -> AdverseEvent:
    """The event, locked for this transaction; VersionConflict when it moved on."""
    event = lock_for_update(session, event_id)
    if event is None:
        raise LookupError(f"no event {event_id}")
    if expected_version is not None and event.version != expected_version:
        raise VersionConflict(event)
    return event


def open_queries(session: Session, event_id: int) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(SafetyQuery)
            .where(SafetyQuery.event_id == event_id, SafetyQuery.status == QueryStatus.open)
        ).one()
    )


def at_site(session: Session, actor: Actor, site_id: int) -> bool:
    if actor.user_id is None:
        return False
    return session.get(UserSite, (actor.user_id, site_id)) is not None


def save_event(
    session: Session,
    actor: Actor,
    event: AdverseEvent,
    before: dict[str, Any],
    *,
    action: str,
    reason: str | None = None,
) -> dict[str, list[Any]]:
    """Write the event's new state: version + 1, and every changed field in the audit."""
    event.version = before["version"] + 1
    event.updated_at = utcnow()
    changes = diff(before, snapshot(event))
    session.add(event)
    session.flush()
    record(
        session=session,
        actor=actor,
        action=action,
        entity_type="adverse_event",
        entity_id=str(event.id),
        study_id=event.study_id,
        site_id=event.site_id,
        changes=changes,
        reason=reason,
    )
    return changes


def move(
    session: Session,
    actor: Actor,
    event: AdverseEvent,
    to: str,
    *,
    action: str,
    reason: str | None = None,
) -> AdverseEvent:
    """Check and apply one transition: audit entry, version + 1."""
    check(event.status, to, actor.role)
    before = snapshot(event)
    event.status = to
    save_event(session, actor, event, before, action=action, reason=reason)
    return event


def change_status(
    *,
    session: Session,
    actor: Actor,
    event_id: int,
    to: str,
    expected_version: int,
    reason: str | None = None,
) -> AdverseEvent:
    """Move an event to another status (the generic route; services below do the same)."""
    event = load_event(session, event_id, expected_version)
    reason = (reason or "").strip() or None
    to = Status(to)
    check(event.status, to, actor.role)
    if to == S.submitted:
        raise TransitionRefused(_("submit a draft through the events service (update_event)"))
    if to == S.queried:
        raise TransitionRefused(_("raise a query (open_query) to query an event"))
    pending = open_queries(session, event.id) if event.id is not None else 0
    if to in (S.answered, S.under_review) and pending:
        raise TransitionRefused(
            ngettext("%(num)d query is open", "%(num)d queries are open", pending)
        )
    if to == S.answered and not at_site(session, actor, event.site_id):
        raise RoleRefused(_("only an investigator of the event's site answers its queries"))
    if to == S.assessed and event.status != S.locked and not _assessed(session, event.id):
        raise TransitionRefused(_("save an assessment to assess the event"))
    if to == S.locked and (unsent := unsent_reports(session, event.id)):
        raise TransitionRefused(unsent_message(unsent))
    if event.status == S.locked and reason is None:
        findings = Findings()
        findings.error("reason", _("unlocking needs a reason"))
        raise ValidationFailed(findings)
    actions = {S.under_review: "start_review", S.answered: "answer", S.locked: "lock"}
    action = "unlock" if event.status == S.locked else actions.get(to, "status")
    starting = event.status == S.submitted
    move(session, actor, event, to, action=action, reason=reason)
    if starting:
        from pv.review.reports import sync_sae_clock  # reports builds on this module

        sync_sae_clock(session, actor, event)
    return event


def unsent_message(unsent: int) -> str:
    return ngettext(
        "%(num)d expedited report of this event is not sent: record its submission before locking",
        "%(num)d expedited reports of this event are not sent: record their submissions "
        "before locking",
        unsent,
    )


def unsent_reports(session: Session, event_id: int | None) -> int:
    """The event's live expedited reports not sent yet (a locked event cannot change)."""
    return len(
        session.exec(
            select(ExpeditedReport.id).where(
                ExpeditedReport.event_id == event_id,
                col(ExpeditedReport.cancelled_at).is_(None),
                col(ExpeditedReport.submitted_date).is_(None),
            )
        ).all()
    )


def _assessed(session: Session, event_id: int | None) -> bool:
    return (
        session.exec(select(Assessment.id).where(Assessment.event_id == event_id)).first()
        is not None
    )
