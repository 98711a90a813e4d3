"""Web pages: log-in sessions, CSRF, site scoping on every route, the AE form, audit replay."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from pv.audit.models import AuditEntry
from pv.auth.models import User, UserSession
from pv.auth.service import actor_for
from pv.db import read_session, write_session
from pv.events.models import AdverseEvent
from pv.events.rules import EventInput
from pv.events.service import EVENT_FIELDS, create_event, replay, snapshot, update_event
from pv.study.models import Subject
from pv.timeutil import utcnow
from tests.web.webhelpers import IRR, PASSWORD, _input, login


def test_it_shows_the_study_and_both_arms_after_login(world):
    client, _ = login(world.app, "officer")
    page = client.get("/")
    assert "NCT04660565" in page.text
    assert (
        "Glucocorticoid monotherapy Group" in page.text and "Combination therapy Group" in page.text
    )
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_pages_redirect_to_login_without_a_session(world):
    r = TestClient(world.app).get(f"/events/{world.ids['own'][1]}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_login_sets_a_new_session_id_with_safe_cookie_flags(world):
    client = TestClient(world.app)
    client.cookies.set("pv_session", "attacker-chosen")
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login",
        data={"username": "inv1", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    new_id = re.search(r"pv_session=([^;]+)", cookie).group(1)
    assert new_id != "attacker-chosen" and len(new_id) >= 40


def test_wrong_password_and_missing_login_token_are_refused(world):
    client = TestClient(world.app)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    bad = client.post("/login", data={"username": "inv1", "password": "nope", "csrf_token": token})
    assert bad.status_code == 401 and "Wrong username or password" in bad.text
    assert "pv_session" not in bad.headers.get("set-cookie", "")
    forged = TestClient(world.app).post("/login", data={"username": "inv1", "password": PASSWORD})
    assert forged.status_code == 403


def test_logout_ends_the_session_and_a_replayed_cookie_is_refused(world):
    client, csrf = login(world.app, "inv1")
    old = client.cookies.get("pv_session")
    assert (
        client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    )
    replay_client = TestClient(world.app)
    replay_client.cookies.set("pv_session", old)
    assert replay_client.get("/", follow_redirects=False).status_code == 303


def test_idle_sessions_expire(world):
    client, _ = login(world.app, "inv1")
    with write_session(world.engine) as s:
        for row in s.exec(select(UserSession)):
            row.last_seen_at = utcnow() - timedelta(minutes=31)
            s.add(row)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_activity_moves_the_idle_clock_at_most_once_a_minute(world):
    client, _ = login(world.app, "inv1")

    def seen_and_set(minutes_ago=None):
        with write_session(world.engine) as s:
            row = s.exec(select(UserSession)).one()
            before = row.last_seen_at
            if minutes_ago is not None:
                row.last_seen_at = utcnow() - timedelta(minutes=minutes_ago)
                s.add(row)
            return before

    seen_and_set(minutes_ago=29)  # idle for 29 minutes: still live, the clock moves on
    assert client.get("/", follow_redirects=False).status_code == 200
    moved = seen_and_set()
    assert utcnow() - moved.replace(tzinfo=utcnow().tzinfo) < timedelta(minutes=1)
    seen_and_set(minutes_ago=0.5)  # seen 30 s ago: a page view writes nothing
    stamp = seen_and_set()
    assert client.get("/", follow_redirects=False).status_code == 200
    assert seen_and_set() == stamp
    seen_and_set(minutes_ago=29)  # and 29 minutes later the session is still alive
    assert client.get("/", follow_redirects=False).status_code == 200


def test_passwords_are_stored_as_argon2id_with_enough_memory(world):
    with read_session(world.engine) as s:
        stored = s.get(User, world.users["inv1"].id).password_hash
    m = re.match(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", stored)
    assert m and int(m.group(1)) >= 19 * 1024 and int(m.group(2)) >= 2


def _unsafe_routes(world):
    own_event = world.ids["own"][1]
    return [
        ("/events", {**IRR, "subject_id": world.ids["own"][0], "action": "draft"}),
        (f"/events/{own_event}", {**IRR, "version": "1", "reason": "r"}),
        ("/subjects", {"site": world.site1.id, "subjid": "new-1"}),
        ("/logout", {}),
    ]


def test_every_unsafe_route_refuses_a_missing_or_wrong_csrf_token(world):
    client, csrf = login(world.app, "inv1")
    for path, data in _unsafe_routes(world):
        assert client.post(path, data=data).status_code == 403, path
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 403, path
        r = client.post(
            path, data={**data, "csrf_token": csrf}, headers={"Origin": "https://evil.example"}
        )
        assert r.status_code == 403, path
    with read_session(world.engine) as s:  # nothing was written
        assert len(s.exec(select(AdverseEvent)).all()) == 2
        assert s.exec(select(Subject).where(Subject.subjid == "new-1")).first() is None


def test_htmx_requests_carry_the_token_in_a_header(world):
    client, csrf = login(world.app, "inv1")
    # IRR repeats the subject's stored event: confirmed as a likely duplicate.
    data = {**IRR, "subject_id": world.ids["own"][0], "action": "draft", "confirm_duplicate": "1"}
    r = client.post(
        "/events",
        data=data,
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
        follow_redirects=False,
    )
    assert r.status_code == 303


@pytest.mark.parametrize("user", ["inv1", "officer", "admin", "dsmb"])
def test_site_scoping_on_every_page_route(world, user):
    client, csrf = login(world.app, user)
    own_subj, own_ev, own_usubjid = world.ids["own"]
    other_subj, other_ev, other_usubjid = world.ids["other"]
    reads = ["/events/{e}", "/events/{e}/edit", "/events/{e}/history", "/events/new?subject={s}"]
    for template in reads:
        for subj, ev, mine in ((own_subj, own_ev, True), (other_subj, other_ev, False)):
            path = template.format(e=ev, s=subj)
            r = client.get(path, headers={"HX-Request": "true"} if "history" in path else {})
            if user == "inv1":
                expected = 200 if mine else 404
            elif user == "dsmb" or (user == "officer" and ("edit" in path or "new" in path)):
                expected = 403
            else:
                expected = 200
            assert r.status_code == expected, (user, path, r.status_code)
    post = client.post(
        f"/events/{other_ev}", data={**IRR, "version": "1", "reason": "x", "csrf_token": csrf}
    )
    assert post.status_code == {"inv1": 404, "admin": 200, "officer": 403, "dsmb": 403}[user]
    lists = client.get("/events"), client.get("/subjects")
    if user == "inv1":
        assert all(other_usubjid not in r.text for r in lists)
        assert own_usubjid in lists[1].text
    elif user != "dsmb":
        assert all(other_usubjid in r.text for r in lists)
    else:
        assert all(r.status_code == 403 for r in lists)


def test_the_form_shows_every_error_beside_its_field_and_keeps_the_input(world):
    client, csrf = login(world.app, "inv1")
    data = {
        **IRR,
        "aelltcd": "10002218",
        "aetoxgr": "1",
        "aeser": "Y",
        "aeshosp": "Y",
        "aeterm": "throat swelling 007",
        "subject_id": world.ids["own"][0],
        "action": "submit",
        "csrf_token": csrf,
    }
    r = client.post("/events", data=data)
    assert r.status_code == 422
    assert set(re.findall(r'class="field-error" id="error-([^"]+)"', r.text)) == {
        "aetoxgr",
        "narrative",
        "aeawaredtc",
    }
    assert 'value="throat swelling 007"' in r.text and 'value="2021-03"' in r.text
    assert re.search(r'name="aetoxgr" value="1"\s+disabled', r.text)  # grade 1 cannot be chosen
    with read_session(world.engine) as s:
        assert len(s.exec(select(AdverseEvent)).all()) == 2


def test_a_follow_up_needs_a_reason_and_creates_a_new_version(world):
    client, csrf = login(world.app, "inv1")
    ev = world.ids["own"][1]
    changed = {**IRR, "aetoxgr": "3", "version": "1", "csrf_token": csrf}
    r = client.post(f"/events/{ev}", data=changed)
    assert r.status_code == 422 and 'id="error-reason"' in r.text
    r = client.post(
        f"/events/{ev}", data={**changed, "reason": "worse on review"}, follow_redirects=False
    )
    assert r.status_code == 303
    with read_session(world.engine) as s:
        event = s.get(AdverseEvent, ev)
        assert (event.version, event.aetoxgr) == (2, 3)
        last = s.exec(
            select(AuditEntry).where(AuditEntry.entity_id == str(ev)).order_by(AuditEntry.id.desc())
        ).first()
        assert last.reason == "worse on review" and last.changes["aetoxgr"] == [2, 3]
    stale = client.post(f"/events/{ev}", data={**changed, "aetoxgr": "1", "reason": "old tab"})
    assert stale.status_code == 409 and "Someone else saved this event" in stale.text


def test_audit_replay_rebuilds_every_event(world):
    env = world
    with write_session(env.engine) as s:
        actor = actor_for(env.users["inv1"])
        subject = s.get(Subject, env.ids["own"][0])
        draft, _ = create_event(
            session=s, actor=actor, subject=subject, data=EventInput(aeterm="headache")
        )
        update_event(
            session=s,
            actor=actor,
            event_id=draft.id,
            expected_version=1,
            data=EventInput(
                **{**_input(IRR), "aeterm": "headache", "aelltcd": "10019211", "aetoxgr": 1}
            ),
            submit=True,
        )
        update_event(
            session=s,
            actor=actor,
            event_id=env.ids["own"][1],
            expected_version=1,
            reason="ongoing after all",
            data=EventInput(
                **{
                    **_input(IRR),
                    "aeendtc": None,
                    "ongoing": True,
                    "aeout": "NOT RECOVERED/NOT RESOLVED",
                }
            ),
        )
    with read_session(env.engine) as s:
        events = s.exec(select(AdverseEvent)).all()
        assert len(events) == 3
        for event in events:
            entries = s.exec(
                select(AuditEntry.changes)
                .where(
                    AuditEntry.entity_type == "adverse_event", AuditEntry.entity_id == str(event.id)
                )
                .order_by(AuditEntry.id)
            ).all()
            rebuilt = replay(entries)
            live = {k: v for k, v in snapshot(event).items()}
            assert {k: rebuilt.get(k) for k in EVENT_FIELDS} == live, event.id


def test_adding_a_subject_shows_each_error_beside_its_field(world):
    client, csrf = login(world.app, "inv1")
    r = client.post(
        "/subjects",
        data={
            "csrf_token": csrf,
            "site": str(world.site1.id),
            "subjid": "",
            "age": "two hundred",
            "consent_date": "2999-01-01",
        },
    )
    assert r.status_code == 422
    assert set(re.findall(r'class="field-error" id="error-([^"]+)"', r.text)) == {
        "subjid",
        "age",
        "consent_date",
    }
    assert 'value="two hundred"' in r.text
    other_site = client.post(
        "/subjects", data={"csrf_token": csrf, "site": str(world.site2.id), "subjid": "x-9"}
    )
    assert other_site.status_code == 422 and 'id="error-site"' in other_site.text
    ok = client.post(
        "/subjects",
        data={
            "csrf_token": csrf,
            "site": str(world.site1.id),
            "subjid": "0012",
            "arm": str(world.arms["PRED"].id),
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    with read_session(world.engine) as s:
        assert (
            s.exec(select(Subject).where(Subject.subjid == "0012"))
            .one()
            .usubjid.endswith("-01-0012")
        )


def test_the_idle_clock_moves_on_an_in_memory_database():
    """One connection only (StaticPool): the clock's write comes after the reading session,
    on the ordinary pages and on the review queue, which signs in within its own reads."""
    from pv.app import create_app
    from pv.audit.service import Actor
    from pv.auth.service import create_user
    from pv.db import make_engine
    from pv.migrate import upgrade
    from pv.settings import Settings

    engine = make_engine("sqlite://")
    upgrade(engine)
    with write_session(engine) as s:
        create_user(session=s, actor=Actor.system("test"), username="officer", role="officer",
                    password=PASSWORD)  # fmt: skip
    app = create_app(Settings(database_url="sqlite://"), engine=engine)
    client, _ = login(app, "officer")
    for path in ("/", "/review"):
        with write_session(engine) as s:
            row = s.exec(select(UserSession)).one()
            row.last_seen_at = utcnow() - timedelta(minutes=10)
            s.add(row)
        assert client.get(path, follow_redirects=False).status_code == 200, path
        with read_session(engine) as s:
            seen = s.exec(select(UserSession)).one().last_seen_at
        assert utcnow() - seen.replace(tzinfo=utcnow().tzinfo) < timedelta(minutes=1), path
    engine.dispose()
