"""The review queue, the clocks dashboard and the charts on the demo trial (204 events):
keyset pagination through every page, filters and counts, a forged cursor, marking a
report sent, chart images. Every page with and without HX-Request.
"""

from __future__ import annotations

import html
import re
from datetime import date

import pytest
from sqlmodel import select

from pv.auth.passwords import hash_password
from pv.auth.service import actor_for, set_password
from pv.db import read_session, write_session
from pv.demo.cli import DEMO_USERS
from pv.demo.generate import build_demo
from pv.events.models import AdverseEvent
from pv.review.queue import QueueFilters, queue_page, status_counts
from tests.web.reviewhelpers import HX, post
from tests.web.webhelpers import PASSWORD, login


@pytest.fixture
def demo(app_env):
    # The demo's review is signed by its officer with the demo's password (DEMO_USERS):
    # the officer and admin of app_env are the demo's users, with the demo's passwords.
    with write_session(app_env.engine) as s:
        for name, role, password in DEMO_USERS:
            known = app_env.users.get(name)
            if known is not None and known.role == role:
                s.get(type(known), known.id).password_hash = hash_password(password)
    build_demo(app_env.engine, seed=42)
    with write_session(app_env.engine) as s:
        for name in ("officer", "inv1", "admin"):
            user = s.get(type(app_env.users[name]), app_env.users[name].id)
            set_password(session=s, actor=actor_for(user), user=user, password=PASSWORD)
    return app_env


def _row_ids(page: str) -> list[int]:
    table = page.split('data-testid="queue-table"', 1)[1].split("</table>", 1)[0]
    return [int(i) for i in re.findall(r'href="/review/events/(\d+)"', table)]


def _next(page: str) -> str | None:
    found = re.search(r'href="([^"]+)"[^>]*data-testid="next-page"', page)
    return html.unescape(found.group(1)) if found else None


def test_the_queue_pages_through_every_event_once_in_queue_order(demo):
    officer, _ = login(demo.app, "officer")
    with read_session(demo.engine) as s:
        expected = [r.id for r in queue_page(s, study_id=demo.study_id, limit=10_000).rows]
        counts = status_counts(s, study_id=demo.study_id)
    url, seen, pages = "/review", [], 0
    while url:
        page = officer.get(url, headers=HX if pages % 2 else {})
        assert page.status_code == 200
        assert ("<html" in page.text) == (pages % 2 == 0)
        seen += _row_ids(page.text)
        url, pages = _next(page.text), pages + 1
    assert seen == expected and len(seen) == sum(counts.values()) > 50
    assert pages == -(-len(seen) // 50)
    first = officer.get("/review").text
    assert f'data-status="submitted">submitted <span class="count">{counts["submitted"]}<' in first


def test_queue_filters_narrow_the_rows_and_the_counts(demo):
    officer, _ = login(demo.app, "officer")
    page = officer.get("/review", params={"aesi": "infection", "serious": "Y"}, headers=HX)
    assert page.status_code == 200 and "<html" not in page.text
    ids = _row_ids(page.text)
    with read_session(demo.engine) as s:
        rows = s.exec(select(AdverseEvent).where(AdverseEvent.id.in_(ids))).all()  # type: ignore[attr-defined]
        counts = status_counts(
            s, study_id=demo.study_id, filters=QueueFilters(aesi="infection", serious=True)
        )
    assert rows and all(r.aeser and "infection" in r.aesi.split(",") for r in rows)
    assert len(ids) == sum(counts.values())
    grade3 = _row_ids(officer.get("/review", params={"grade3": "1", "status": "submitted"}).text)
    with read_session(demo.engine) as s:
        graded = s.exec(select(AdverseEvent).where(AdverseEvent.id.in_(grade3))).all()  # type: ignore[attr-defined]
    assert graded and all(r.aetoxgr >= 3 and r.status == "submitted" for r in graded)
    overdue = officer.get("/review", params={"overdue": "1"}).text
    assert _row_ids(overdue) and "overdue</span>" in overdue


def test_a_forged_cursor_is_a_clear_422(demo):
    officer, _ = login(demo.app, "officer")
    for cursor in ("not-a-cursor", "eyJhIjoxfQ", "W10"):
        r = officer.get("/review", params={"cursor": cursor})
        assert r.status_code == 422 and "cursor is not valid" in r.text


def test_the_clocks_dashboard_lists_overdue_susars_and_a_submission_closes_them(demo):
    officer, csrf = login(demo.app, "officer")
    for headers in ({}, HX):
        page = officer.get("/clocks", headers=headers)
        assert page.status_code == 200 and ("<html" in page.text) == (headers == {})
    assert "Mark as sent" not in page.text and "/sent" not in page.text
    overdue = page.text.split('data-testid="clocks-overdue"', 1)[1].split("</section>", 1)[0]
    # an open clock links to its event's expedited reports, where the officer records
    # the submission that closes it
    link = re.search(
        r'<a href="(/review/events/(\d+)#reports)" data-testid="clock-submit">', overdue
    )
    event_id = link.group(2)
    review = officer.get(link.group(1).split("#")[0]).text
    form = review.split('data-testid="submission-form"', 1)[1].split("</form>", 1)[0]
    clock_id = re.search(r'<option value="(\d+)" selected>', form.split('name="clock_id"')[1])
    version_id = re.search(r'<option value="(\d+)" selected>', form.split('name="version_id"')[1])
    fields = dict(
        version_id=version_id.group(1), clock_id=clock_id.group(1), recipient_kind="regulator",
        recipient="NMPA Center for Drug Evaluation", channel="gateway", format="e2b",
        password=PASSWORD,
    )  # fmt: skip
    url = f"/review/events/{event_id}/submissions"
    r = post(officer, csrf, url, sent_date="2099-01-01", **fields)
    assert r.status_code == 422 and "in the future" in r.text
    r = post(officer, csrf, url, sent_date=date.today().isoformat(), **fields)
    assert r.status_code == 303
    sent = officer.get("/clocks", params={"show": "all"}).text
    assert f'href="/review/events/{event_id}#reports" data-testid="clock-submit"' not in sent
    done = sent.split('data-testid="clocks-sent"', 1)[1].split("</section>", 1)[0]
    assert date.today().isoformat() in done and 'data-testid="report-late"' in done
    inv, _ = login(demo.app, "inv1")
    mine = inv.get("/clocks", params={"show": "all"}).text
    assert "SUSAR report" not in mine.split("<main>", 1)[1]


def test_charts_are_pngs_and_bad_parameters_are_clear(demo):
    officer, _ = login(demo.app, "officer")
    page = officer.get("/charts", params={"cutoff": "2021-12-31", "pooled": "1"}, headers=HX)
    assert "<html" not in page.text
    assert (
        'src="/charts/aesi_forest.png?study=NCT04660565&amp;cutoff=2021-12-31&amp;pooled=1"'
        in page.text
    )
    png = officer.get("/charts/aesi_forest.png", params={"cutoff": "2021-12-31", "pooled": "1"})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert officer.get("/charts/aesi_forest.png", params={"cutoff": "June"}).status_code == 422
    assert officer.get("/charts/no_such_chart.png").status_code == 404
    assert officer.get("/charts/km_infection.png", params={"study": "NCT0"}).status_code == 404
    assert officer.get("/charts/subject/999999/timeline.png").status_code == 404
