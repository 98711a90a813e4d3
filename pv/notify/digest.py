"""The daily digest of expedited reports due within 48 hours or overdue, for the safety
officers (written by `pvtracker notify`).

Once a day per officer and study: the digest is itself a notification (kind "digest",
`params["date"]` the UTC day), so a second run the same day finds it and writes none,
and the in-app list shows it too. No urgent report, no digest.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session, col, select

from pv.notify.models import Notification
from pv.notify.service import DIGEST, active_officers, notify
from pv.review import clocks
from pv.review.deadlines import ClockItem, list_clocks
from pv.study.models import Study
from pv.timeutil import utcnow

WINDOW = timedelta(hours=48)
STORED = 200  # items kept in a digest's parameters (the total is kept too)


def urgent(item: ClockItem, now: datetime) -> bool:
    """Overdue, or open and due within 48 hours of `now`."""
    if item.status == clocks.OVERDUE:
        return True
    if item.status != clocks.OPEN:
        return False
    if item.due_at is not None:
        return item.due_at <= now + WINDOW
    return item.due_date <= (now + WINDOW).date()


def _due(item: ClockItem) -> str:
    if item.due_at is not None:
        return item.due_at.strftime("%Y-%m-%d %H:%M UTC")
    return item.due_date.isoformat()


def digest_params(items: list[ClockItem], day: date) -> dict[str, Any]:
    return {
        "date": day.isoformat(),
        "total": len(items),
        "items": [
            {
                "event": i.event_id,
                "usubjid": i.usubjid,
                "kind": i.kind,
                "due": _due(i),
                "overdue": i.status == clocks.OVERDUE,
            }
            for i in items[:STORED]
        ],
    }


def _already(session: Session, study_id: str, day: date) -> set[int]:
    """Officers who have the study's digest of `day` already."""
    since = datetime.combine(day - timedelta(days=1), time.min, tzinfo=UTC)
    rows = session.exec(
        select(Notification.user_id, Notification.params).where(
            Notification.kind == DIGEST,
            Notification.study_id == study_id,
            col(Notification.created_at) >= since,
        )
    )
    return {uid for uid, params in rows if (params or {}).get("date") == day.isoformat()}


def write_digests(
    session: Session, *, study_id: str | None = None, now: datetime | None = None
) -> list[Notification]:
    """Write today's digests (in the caller's transaction), not e-mailed yet: the caller
    sends them after its commit."""
    today = now.date() if now is not None else None  # a given moment: judged by dates
    now = now or utcnow()
    day = now.date()
    officers = active_officers(session)
    if not officers:
        return []
    studies = [study_id] if study_id else list(session.exec(select(Study.id).order_by(Study.id)))
    written: list[Notification] = []
    for sid in studies:
        items = [i for i in list_clocks(session, study_id=sid, today=today) if urgent(i, now)]
        if not items:
            continue
        have = _already(session, sid, day)
        users = [o for o in officers if o.id not in have]
        written += notify(session, kind=DIGEST, users=users, study_id=sid,
                          params=digest_params(items, day), email=False)  # fmt: skip
    return written
