"""The user's notifications: the list (newest first), opening one (marks it read and goes
to what it is about), marking all read; and the unread count in the header."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, update
from sqlalchemy.pool import StaticPool
from sqlmodel import col, select

from pv.db import write_session
from pv.notify.models import Notification
from pv.notify.service import link_of, render
from pv.timeutil import utcnow
from pv.web.deps import DB, PathId, WebAuth, engine
from pv.web.templating import render as render_page
from pv.web.templating import templates

router = APIRouter()
SHOWN = 200


def unread_count(request: Request, user: Any) -> int | None:
    """The signed-in user's unread notifications, for the header: one count on the
    (user_id, read_at) index. None where it cannot be read without nesting transactions
    (an in-memory SQLite database has a single connection)."""
    if user is None or getattr(user, "id", None) is None:
        return None
    eng = engine(request)
    if isinstance(eng.pool, StaticPool):
        return None
    with eng.connect() as conn:
        n = conn.execute(
            select(func.count())
            .select_from(Notification)
            .where(col(Notification.user_id) == user.id, col(Notification.read_at).is_(None))
        ).scalar_one()
    return int(n)


templates.env.globals["unread_notifications"] = unread_count


@router.get("/notifications")
def notification_list(request: Request, auth: WebAuth, session: DB) -> Response:
    rows = session.exec(
        select(Notification)
        .where(Notification.user_id == auth.user.id)
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .limit(SHOWN)
    ).all()
    items = []
    for n in rows:
        subject, text, link = render(n)
        items.append({"n": n, "subject": subject, "text": text, "link": link})
    unread = sum(1 for n in rows if n.read_at is None)
    ctx = {"auth": auth, "items": items, "unread": unread}
    return render_page(request, "notifications/list.html", ctx)


@router.post("/notifications/{notification_id}/open")
def open_notification(request: Request, auth: WebAuth, notification_id: PathId) -> Response:
    """Mark one of the user's notifications read and go to what it is about."""
    with write_session(engine(request)) as session:
        n = session.get(Notification, notification_id)
        if n is None or n.user_id != auth.user.id:
            return RedirectResponse("/notifications", 303)
        if n.read_at is None:
            n.read_at = utcnow()
            session.add(n)
        link = link_of(n)
    return RedirectResponse(link, 303)


@router.post("/notifications/read")
def mark_all_read(request: Request, auth: WebAuth) -> Response:
    with write_session(engine(request)) as session:
        session.execute(
            update(Notification)
            .where(col(Notification.user_id) == auth.user.id, col(Notification.read_at).is_(None))
            .values(read_at=utcnow())
        )
    return RedirectResponse("/notifications", 303)
