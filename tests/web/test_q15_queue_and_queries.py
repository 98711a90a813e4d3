"""Issue 15, points 3-4 on the pages: the queue's order select, days since receipt and
its cursors (a cursor of another order is the BAD_CURSOR 422); a query on an assessed
event, counted in the investigator's navigation and home page, listed by field label."""

from __future__ import annotations

import html
import re

from pv.review.queue import SORTS
from pv.web.review import BAD_CURSOR
from tests.web.reviewhelpers import HX, add_event, assessment_form, event, post, queries, version
from tests.web.webhelpers import login


def _next(page: str) -> str | None:
    found = re.search(r'href="([^"]+)"[^>]*data-testid="next-page"', page)
    return html.unescape(found.group(1)) if found else None


def test_the_queue_offers_three_orders_and_days_since_receipt(world):
    officer, _ = login(world.app, "officer")
    page = officer.get("/review")
    assert page.status_code == 200
    assert "Days since receipt" in page.text and 'data-testid="days-since-receipt"' in page.text
    assert "Overdue expedited reports first" in page.text
    for sort in SORTS:
        assert f'value="{"" if sort == "urgency" else sort}"' in page.text
        r = officer.get("/review", params={"sort": sort}, headers=HX)
        assert r.status_code == 200 and "<html" not in r.text
    assert officer.get("/review", params={"sort": "sideways"}).status_code == 200  # default


def test_a_cursor_of_another_order_is_a_422(world):
    for _ in range(3):
        add_event(world)
    officer, _ = login(world.app, "officer")
    with_cursor = None
    from pv.db import read_session
    from pv.review.queue import queue_page

    with read_session(world.engine) as s:
        with_cursor = queue_page(s, study_id=world.study_id, limit=1).next_cursor
    assert with_cursor
    ok = officer.get("/review", params={"cursor": with_cursor})
    assert ok.status_code == 200
    for sort in ("status", "newest"):
        bad = officer.get("/review", params={"cursor": with_cursor, "sort": sort})
        assert bad.status_code == 422 and BAD_CURSOR.split(" (")[0] in html.unescape(bad.text)


def test_a_query_on_an_assessed_event_reaches_the_site_with_counts_and_labels(world):
    own = world.ids["own"][1]
    officer, csrf = login(world.app, "officer")
    r = post(officer, csrf, f"/review/events/{own}/start", version=str(version(world, own)))
    assert r.status_code == 303
    r = post(officer, csrf, f"/review/events/{own}/assess", **assessment_form(world, own))
    assert r.status_code == 303 and event(world, own).status == "assessed"
    page = officer.get(f"/review/events/{own}")
    assert "Send the query" in page.text  # the query form stays
    before = version(world, own)
    r = post(
        officer,
        csrf,
        f"/review/events/{own}/queries",
        version=str(before),
        field="aeterm",
        question="Please send the discharge summary.",
    )
    assert r.status_code == 303 and event(world, own).status == "assessed"

    inv, inv_csrf = login(world.app, "inv1")
    home = inv.get("/").text
    assert re.search(r'data-testid="open-query-count"[^>]*>1<', home)
    assert re.search(r'data-testid="home-query-count">1<', home)
    assert "Please send the discharge summary." in home and "Reported term" in home
    listing = inv.get("/queries").text
    assert '<td data-testid="query-about">Reported term</td>' in listing
    assert ">aeterm<" not in listing
    other, _ = login(world.app, "inv2")  # another site: no count
    assert 'data-testid="open-query-count"' not in other.get("/").text

    query_id = queries(world, own)[0].id
    r = post(inv, inv_csrf, f"/queries/{query_id}/answer", answer="Sent by fax today.")
    assert r.status_code == 303
    assert (event(world, own).status, version(world, own)) == ("assessed", before + 1)
    home = inv.get("/").text
    assert 'data-testid="open-query-count"' not in home
    assert re.search(r'data-testid="home-query-count">0<', home)
