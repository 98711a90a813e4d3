"""Who may use each review route: role x route x own/other site, and CSRF on every POST.

inv1 works at site 01 ("own"), inv2 at site 02 ("other"); officers, DSMB members and
admins are not tied to a site. A wrong role is a 403; another site's event, query or
subject is a 404, exactly as if it did not exist.
"""

from __future__ import annotations

from datetime import date

import pytest

from pv.auth.service import actor_for
from pv.db import write_session
from pv.review import service as review
from tests.web.reviewhelpers import HX, add_event, post, queries, reports, version
from tests.web.webhelpers import PASSWORD, login

USERS = ("inv1", "inv2", "officer", "dsmb", "admin")


@pytest.fixture
def scene(world):
    """world plus a query on each site's event and an open SUSAR report at site 01."""
    env = world
    officer = actor_for(env.users["officer"])
    susar, _ = add_event(env)
    with write_session(env.engine) as s:
        for key in ("own", "other"):
            review.open_query(
                session=s,
                actor=officer,
                event_id=env.ids[key][1],
                expected_version=1,
                question="Which infusion?",
            )
        review.start_review(session=s, actor=officer, event_id=susar, expected_version=1)
        review.save_assessment(
            session=s,
            actor=officer,
            event_id=susar,
            expected_version=2,
            awareness_date=date(2021, 3, 4),
            seriousness_confirmed=True,
            causality={"belimumab": "probable", "prednisone": "unlikely"},
            password=PASSWORD,  # the officer's own (world sets it): signed "assessed"
        )
    env.susar = susar
    env.query = {k: queries(env, env.ids[k][1])[0].id for k in ("own", "other")}
    env.report = reports(env, susar)[0].id
    return env


def _ids(env):
    return {
        "own": env.ids["own"][1],
        "other": env.ids["other"][1],
        "own_subject": env.ids["own"][0],
        "other_subject": env.ids["other"][0],
        "own_q": env.query["own"],
        "other_q": env.query["other"],
        "report": env.report,
    }


REVIEW = {"inv1": 403, "inv2": 403, "officer": 200, "dsmb": 403, "admin": 200}
OWN_EVENT = {"inv1": 200, "inv2": 404, "officer": 200, "dsmb": 403, "admin": 200}
OTHER_EVENT = {**OWN_EVENT, "inv1": 404, "inv2": 200}
CHARTS = {"inv1": 403, "inv2": 403, "officer": 200, "dsmb": 200, "admin": 200}
GETS = [
    ("/review", REVIEW),
    ("/review?serious=Y", REVIEW),
    ("/review/events/{own}", REVIEW),
    ("/review/events/{other}", REVIEW),
    ("/review/events/{own}/expectedness?awareness_date=2021-03-05", REVIEW),
    ("/queries", {**REVIEW, "inv1": 200, "inv2": 200}),
    ("/events/{own}/queries", OWN_EVENT),
    ("/events/{other}/queries", OTHER_EVENT),
    ("/clocks", {**REVIEW, "inv1": 200, "inv2": 200}),
    ("/admin/rsi", REVIEW),
    ("/charts", CHARTS),
    ("/charts/km_infection.png", CHARTS),
    ("/charts/subject/{own_subject}/timeline.png", OWN_EVENT),
    ("/charts/subject/{other_subject}/prednisone.png", OTHER_EVENT),
]


def test_it_scopes_every_new_page_fragment_and_image_by_role_and_site(scene):
    ids = _ids(scene)
    for user in USERS:
        client, _ = login(scene.app, user)
        for route, expected in GETS:
            url = route.format(**ids)
            for headers in ({}, HX):
                r = client.get(url, headers=headers)
                assert r.status_code == expected[user], (user, url, headers, r.text[:300])
                if r.status_code == 200 and url.endswith(".png"):
                    assert r.headers["content-type"] == "image/png"
                    assert r.headers["cache-control"] == "no-store"


# POST route -> {user: status}; the allowed user of each is exercised in test_review_pages.
OFFICER_ONLY = {"inv1": 403, "inv2": 403, "dsmb": 403, "admin": 403}
POSTS = [
    ("/review/events/{own}/start", OFFICER_ONLY),
    ("/review/events/{own}/recode", OFFICER_ONLY),
    ("/review/events/{own}/assess", OFFICER_ONLY),
    ("/review/events/{own}/queries", OFFICER_ONLY),
    ("/review/events/{own}/lock", {**OFFICER_ONLY, "admin": 409}),  # queried: nothing to lock
    ("/review/events/{own}/unlock", {**OFFICER_ONLY, "officer": 403, "admin": 409}),
    ("/queries/{own_q}/answer", {"inv2": 404, "officer": 403, "dsmb": 403, "admin": 403}),
    ("/queries/{other_q}/answer", {"inv1": 404, "officer": 403, "dsmb": 403, "admin": 403}),
    ("/queries/{own_q}/close", OFFICER_ONLY),
    ("/review/events/{own}/submissions", OFFICER_ONLY),  # recording a submission
    ("/admin/rsi", {**OFFICER_ONLY, "officer": 403, "admin": None}),
]


def test_it_refuses_every_new_post_to_the_wrong_role_or_another_site(scene):
    ids = _ids(scene)
    before = {k: version(scene, ids[k]) for k in ("own", "other")}
    for user in USERS:
        client, csrf = login(scene.app, user)
        for route, expected in POSTS:
            if expected.get(user) is None:
                continue
            url = route.format(**ids)
            form = {
                "version": str(before["own"]),
                "answer": "It was the third.",
                "sent_date": "2021-03-10",
                "question": "?",
                "reason": "because",
            }
            r = post(client, csrf, url, **form)
            assert r.status_code == expected[user], (user, url, r.text[:300])
    assert {k: version(scene, ids[k]) for k in ("own", "other")} == before
    assert all(q.status == "open" for k in ("own", "other") for q in queries(scene, ids[k]))
    assert reports(scene, scene.susar)[0].submitted_date is None


def test_every_new_post_refuses_a_missing_or_wrong_csrf_token(scene):
    ids = _ids(scene)
    officer, _ = login(scene.app, "officer")
    inv, _ = login(scene.app, "inv1")
    admin, _ = login(scene.app, "admin")
    routes = [(officer, r) for r, _ in POSTS if "answer" not in r and "unlock" not in r]
    routes += [
        (inv, "/queries/{own_q}/answer"),
        (admin, "/review/events/{own}/unlock"),
        (admin, "/admin/rsi"),
    ]
    before = version(scene, ids["own"])
    for client, route in routes:
        url = route.format(**ids)
        for token in (None, "not-the-token"):
            r = post(
                client,
                token,
                url,
                version=str(before),
                answer="x",
                question="x",
                sent_date="2021-03-10",
                reason="x",
                label="x",
                codes="10019211",
            )
            assert r.status_code == 403 and "CSRF" in r.text, (url, token, r.status_code)
    assert version(scene, ids["own"]) == before
    assert queries(scene, ids["own"])[0].status == "open"
