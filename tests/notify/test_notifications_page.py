"""The Notifications page and the unread count in the header (no SMTP: in-app only)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlmodel import select

from pv.audit.service import Actor
from pv.auth.models import User
from pv.auth.service import actor_for, set_password
from pv.db import read_session, write_session
from pv.events.rules import EventInput
from pv.events.service import create_event
from pv.notify.models import Notification
from pv.study.service import add_subject
from tests.web.conftest import app_env  # noqa: F401
from tests.web.webhelpers import PASSWORD, login

SERIOUS = dict(
    aeterm="pneumonia", aelltcd="10061229", aetoxgr=3, aeser=True, aeshosp=True,
    aerel={"belimumab": "POSSIBLY RELATED", "prednisone": "NOT RELATED"},
    aeacn={"belimumab": "DRUG INTERRUPTED", "prednisone": "DOSE NOT CHANGED"},
    aeout="RECOVERED/RESOLVED", aestdtc="2021-03-02", aeendtc="2021-03-20",
    aeawaredtc="2021-03-02", narrative="Admitted for intravenous antibiotics.",
)  # fmt: skip


@pytest.fixture
def env(app_env, monkeypatch):  # noqa: F811
    from pv.settings import get_settings

    monkeypatch.delenv("PV_SMTP_HOST", raising=False)
    get_settings.cache_clear()
    with write_session(app_env.engine) as s:
        for name in ("inv1", "officer"):
            set_password(session=s, actor=Actor.system("tests"),
                         user=s.get(User, app_env.users[name].id), password=PASSWORD)  # fmt: skip
        subject = add_subject(session=s, actor=Actor.system("tests"), study_id=app_env.study_id,
                              site=app_env.site1, subjid="0007", arm=app_env.arms["BELI+PRED"],
                              consent_date=date(2021, 1, 5))  # fmt: skip
        app_env.subject_id = subject.id
    return app_env


def report(env, n: int = 1) -> list[int]:
    ids = []
    with write_session(env.engine) as s:
        from pv.study.models import Subject

        subject = s.get(Subject, env.subject_id)
        for _ in range(n):
            ev, _f = create_event(session=s, actor=actor_for(env.users["inv1"]), subject=subject,
                                  data=EventInput(**SERIOUS), submit=True,
                                  confirm_duplicate=True)  # fmt: skip
            ids.append(ev.id)
    return ids


def unread_badge(html: str) -> str | None:
    m = re.search(r'data-testid="unread-count"[^>]*>(\d+)<', html)
    return m.group(1) if m else None


def test_the_header_counts_unread_notifications_and_opening_one_marks_it_read(env) -> None:
    client, csrf = login(env.app, "officer")
    home = client.get("/")
    assert 'href="/notifications"' in home.text and unread_badge(home.text) is None
    first, second = report(env, 2)
    page = client.get("/notifications")
    assert page.status_code == 200 and unread_badge(page.text) == "2"
    assert "2 unread notifications" in page.text
    # newest first, identifiers shown, no narrative or verbatim term
    assert page.text.index(f"event {second} (") < page.text.index(f"event {first} (")
    assert "Admitted for intravenous" not in page.text and "pneumonia" not in page.text
    with read_session(env.engine) as s:
        mine = s.exec(select(Notification).where(Notification.event_id == first,
                                                 Notification.user_id == env.users["officer"].id)
                      ).one()  # fmt: skip
    r = client.post(f"/notifications/{mine.id}/open", data={"csrf_token": csrf},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == f"/review/events/{first}"
    assert unread_badge(client.get("/").text) == "1"
    # mark all read
    r = client.post("/notifications/read", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/notifications")
    assert unread_badge(page.text) is None and "0 unread notifications" in page.text


def test_another_users_notification_is_neither_opened_nor_marked(env) -> None:
    (event_id,) = report(env)
    client, csrf = login(env.app, "inv1")
    assert "No notifications." in client.get("/notifications").text
    with read_session(env.engine) as s:
        theirs = s.exec(select(Notification).where(Notification.event_id == event_id)).first()
    r = client.post(f"/notifications/{theirs.id}/open", data={"csrf_token": csrf},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/notifications"
    with read_session(env.engine) as s:
        assert s.get(Notification, theirs.id).read_at is None


def test_opening_needs_the_csrf_token(env) -> None:
    report(env)
    client, _csrf = login(env.app, "officer")
    with read_session(env.engine) as s:
        n = s.exec(select(Notification)).first()
    r = client.post(f"/notifications/{n.id}/open", data={}, follow_redirects=False)
    assert r.status_code == 403
    with read_session(env.engine) as s:
        assert s.get(Notification, n.id).read_at is None


def test_the_page_needs_a_login(env) -> None:
    from fastapi.testclient import TestClient

    r = TestClient(env.app).get("/notifications", follow_redirects=False)
    assert r.status_code in (302, 303) and "/login" in r.headers["location"]
