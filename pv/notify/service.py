"""Notifications: who is told what, written in the caller's transaction, and how a
notification reads (in the reader's language, when it is shown or e-mailed).

A notification row holds identifiers only (event id, USUBJID, AESEQ, site code, query
field): never the verbatim term, the narrative or a query's text, so an e-mail carries
nothing a mailbox should not hold. The text is made from these at display time.

E-mail goes out after the transaction commits (pv.notify.mail), never inside it; a row
whose e-mail failed keeps `emailed_at` empty and `pvtracker notify` sends it later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import event as sa_event
from sqlmodel import Session, col, select

from pv import labels
from pv.audit.service import Actor, record
from pv.auth.models import Role, User, UserSite
from pv.events.models import CRITERIA_LABELS, AdverseEvent, Status
from pv.i18n import gettext as _
from pv.i18n import ngettext
from pv.notify.models import Notification
from pv.study.models import Site, Subject

SERIOUS_EVENT = "serious_event"
QUERY_RAISED = "query_raised"
QUERY_ANSWERED = "query_answered"
DIGEST = "digest"

# Session.info keys: the ids to e-mail once the transaction commits.
_PENDING = "pv_notify_pending"
_LISTENING = "pv_notify_listening"

# How many digest lines an e-mail or the page shows (the rest are counted).
DIGEST_SHOWN = 50


def _user_ids(users: Iterable[User | int]) -> list[int]:
    seen: dict[int, None] = {}
    for u in users:
        uid = u if isinstance(u, int) else u.id
        if uid is not None:
            seen[int(uid)] = None
    return list(seen)


def notify(
    session: Session,
    *,
    kind: str,
    users: Iterable[User | int],
    study_id: str | None,
    event_id: int | None = None,
    query_id: int | None = None,
    params: Mapping[str, Any],
    email: bool = True,
) -> list[Notification]:
    """One notification per user, in the caller's transaction. With `email` (and SMTP
    configured) they are e-mailed once that transaction commits."""
    rows = [
        Notification(
            user_id=uid,
            kind=kind,
            study_id=study_id,
            event_id=event_id,
            query_id=query_id,
            params=dict(params),
        )
        for uid in _user_ids(users)
    ]
    if not rows:
        return rows
    session.add_all(rows)
    session.flush()
    if email:
        _email_after_commit(session, [r.id for r in rows if r.id is not None])
    return rows


def _email_after_commit(session: Session, ids: list[int]) -> None:
    session.info.setdefault(_PENDING, []).extend(ids)
    if not session.info.get(_LISTENING):
        sa_event.listen(session, "after_commit", _after_commit)
        sa_event.listen(session, "after_rollback", _after_rollback)
        session.info[_LISTENING] = True


def _after_commit(session: Session) -> None:
    ids = session.info.pop(_PENDING, None)
    if ids:
        from pv.notify import mail

        mail.send_soon(session.get_bind(), ids)  # type: ignore[arg-type]


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


# --- who is told ------------------------------------------------------------------------


def active_officers(session: Session) -> list[User]:
    return list(
        session.exec(
            select(User)
            .where(User.role == Role.officer, col(User.disabled).is_(False))
            .order_by(col(User.id))
        )
    )


def site_investigators(session: Session, site_id: int) -> list[User]:
    return list(
        session.exec(
            select(User)
            .join(UserSite, col(UserSite.user_id) == User.id)
            .where(
                UserSite.site_id == site_id,
                User.role == Role.investigator,
                col(User.disabled).is_(False),
            )
            .order_by(col(User.id))
        )
    )


def _event_params(session: Session, event: AdverseEvent) -> dict[str, Any]:
    subject = session.get(Subject, event.subject_id)
    site = session.get(Site, event.site_id)
    return {
        "usubjid": subject.usubjid if subject else "",
        "aeseq": event.aeseq,
        "site": site.code if site else "",
        "study": event.study_id,
    }


def event_saved(
    session: Session, event: AdverseEvent, before: Mapping[str, Any] | None = None
) -> list[Notification]:
    """After an event is written (`before`: its fields before the change, None for a new
    event): a serious event newly submitted, or a submitted event that has just become
    serious, is told to every active safety officer."""
    if not event.aeser or event.status == Status.draft:
        return []
    if before is not None and before.get("aeser") and before.get("status") != Status.draft:
        return []  # it was already a submitted serious event: the officers know it
    return notify(
        session,
        kind=SERIOUS_EVENT,
        users=active_officers(session),
        study_id=event.study_id,
        event_id=event.id,
        params=_event_params(session, event),
    )


def query_raised(session: Session, query: Any) -> list[Notification]:
    """A query raised on an event: told to the investigators of the event's site."""
    event = session.get(AdverseEvent, query.event_id)
    if event is None:
        return []
    return notify(
        session,
        kind=QUERY_RAISED,
        users=site_investigators(session, query.site_id),
        study_id=query.study_id,
        event_id=query.event_id,
        query_id=query.id,
        params={**_event_params(session, event), "field": query.field},
    )


def query_answered(session: Session, query: Any) -> list[Notification]:
    """A query answered: told to the officer who raised it (if still active)."""
    event = session.get(AdverseEvent, query.event_id)
    officer = session.get(User, query.raised_by) if query.raised_by else None
    if event is None or officer is None or officer.disabled:
        return []
    return notify(
        session,
        kind=QUERY_ANSWERED,
        users=[officer],
        study_id=query.study_id,
        event_id=query.event_id,
        query_id=query.id,
        params={**_event_params(session, event), "field": query.field},
    )


# --- how it reads -----------------------------------------------------------------------


def field_label(field: str | None) -> str:
    """A query's field in words ("Onset date"), in the current language; a per-drug field
    names the drug key ("Relationship to study drug (belimumab)")."""
    if not field:
        return ""
    base, _sep, drug = field.partition(".")
    if base in CRITERIA_LABELS:
        text = labels.label("criterion", base)
    elif (text := labels.label("query_field", base, "")) == "":
        return field
    return _("%(field)s (%(drug)s)", field=text, drug=drug) if drug else text


def link_of(n: Notification) -> str:
    """Where the notification leads in the app (a path)."""
    if n.kind in (SERIOUS_EVENT, QUERY_ANSWERED) and n.event_id:
        return f"/review/events/{n.event_id}"
    if n.kind == QUERY_RAISED and n.event_id:
        return f"/events/{n.event_id}"
    if n.kind == DIGEST and n.study_id:
        return f"/clocks?study={n.study_id}"
    return "/notifications"


def _report_kind(kind: str) -> str:
    import pv.web.review_context  # noqa: F401  (registers the "report_kind" labels)

    return labels.label("report_kind", kind)


def _digest_text(p: Mapping[str, Any]) -> str:
    lines = []
    items = list(p.get("items") or [])
    for item in items[:DIGEST_SHOWN]:
        values = {
            "event": item.get("event"),
            "usubjid": item.get("usubjid", ""),
            "kind": _report_kind(str(item.get("kind", ""))),
            "due": item.get("due", ""),
        }
        if item.get("overdue"):
            lines.append(_("- Event %(event)s, %(usubjid)s: %(kind)s, overdue since %(due)s",
                           **values))  # fmt: skip
        else:
            lines.append(_("- Event %(event)s, %(usubjid)s: %(kind)s, due %(due)s", **values))
    more = int(p.get("total", len(items))) - min(len(items), DIGEST_SHOWN)
    if more > 0:
        lines.append(ngettext("... and %(num)d more", "... and %(num)d more", more))
    return "\n".join(lines)


def render(n: Notification) -> tuple[str, str, str]:
    """(subject, text, link) of a notification in the current language: the caller sets
    the reader's language (pv.i18n.use). The link is a path in the app."""
    p = n.params or {}
    ids = {
        "event": n.event_id,
        "usubjid": p.get("usubjid", ""),
        "aeseq": p.get("aeseq", ""),
        "site": p.get("site", ""),
        "study": p.get("study") or n.study_id or "",
    }
    link = link_of(n)
    if n.kind == SERIOUS_EVENT:
        subject = _("New serious adverse event: event %(event)s (%(usubjid)s, AESEQ %(aeseq)s)",
                    **ids)  # fmt: skip
        text = _("A serious adverse event was submitted at site %(site)s of %(study)s: "
                 "event %(event)s, subject %(usubjid)s, AESEQ %(aeseq)s.", **ids)  # fmt: skip
        return subject, text, link
    if n.kind in (QUERY_RAISED, QUERY_ANSWERED):
        field = field_label(p.get("field"))
        if n.kind == QUERY_RAISED:
            subject = _("Query on event %(event)s (%(usubjid)s, AESEQ %(aeseq)s)", **ids)
            text = _("A safety officer raised a query on event %(event)s, subject %(usubjid)s, "
                     "AESEQ %(aeseq)s, site %(site)s of %(study)s. Answer it on the event's page.",
                     **ids)  # fmt: skip
        else:
            subject = _("Query answered: event %(event)s (%(usubjid)s, AESEQ %(aeseq)s)", **ids)
            text = _("Site %(site)s answered your query on event %(event)s, subject "
                     "%(usubjid)s, AESEQ %(aeseq)s. Review the answer and close the query.",
                     **ids)  # fmt: skip
        if field:
            text += "\n" + _("Field: %(field)s", field=field)
        return subject, text, link
    if n.kind == DIGEST:
        total = int(p.get("total", len(p.get("items") or [])))
        subject = ngettext(
            "%(num)d expedited report due within 48 hours or overdue in %(study)s",
            "%(num)d expedited reports due within 48 hours or overdue in %(study)s",
            total,
            study=ids["study"],
        )
        text = _("Expedited reports of %(study)s on %(date)s:", study=ids["study"],
                 date=p.get("date", ""))  # fmt: skip
        return subject, text + "\n" + _digest_text(p), link
    return n.kind, "", link


# --- addresses --------------------------------------------------------------------------

ADDRESS = re.compile(r"[^@\s\"<>,;]+@[^@\s\"<>,;]+\.[^@\s\"<>,;.]+")


class AddressError(ValueError):
    pass


def set_email(
    session: Session, *, username: str, address: str | None, actor: Actor | None = None
) -> User:
    """Set (or, with None, clear) the address a user's notifications are e-mailed to."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise AddressError(_("no user '%(username)s'", username=username))
    address = (address or "").strip() or None
    if address is not None and (len(address) > 254 or not ADDRESS.fullmatch(address)):
        raise AddressError(_("'%(address)s' is not an e-mail address", address=address))
    before = user.email
    if before != address:
        user.email = address
        session.add(user)
        record(session=session, actor=actor or Actor.system("cli"), action="set_email",
               entity_type="user", entity_id=user.id or 0,
               changes={"email": [before, address]})  # fmt: skip
    return user
