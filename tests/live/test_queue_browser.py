"""Urgent work first and queries at any time, in a real Chromium (issue 15, points 3-4).

The site reports a fatal sepsis, a mild headache and a serious lung infection through the
API; the officer assesses the sepsis as a SUSAR with an awareness date years ago (its
7-day report is long overdue). The queue opens on it; the new SAE comes before the
grade-1 event; days since receipt are shown; the other orders are selectable. The officer
raises a query on the assessed SUSAR (it stays assessed); the investigator sees the count
in the navigation and on the home page, the query list names the field "Reported term"
(not "aeterm"), and answers; the count goes away and the event stays assessed with a new
version. Screenshots: /tmp/pv-queue-*.png.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.live.conftest import Person

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]

SHOTS = Path("/tmp")
LUNG, SEPSIS, HEADACHE = "10061229", "10040047", "10019211"


def _report(live: LiveServer, **fields: Any) -> int:
    body = {
        "usubjid": live.usubjid,
        "aeout": "RECOVERED/RESOLVED",
        "aerel": {"belimumab": "POSSIBLY RELATED", "prednisone": "NOT RELATED"},
        "aeacn": {k: "DOSE NOT CHANGED" for k in live.drug_keys},
        **fields,
    }
    with live.api() as client:
        r = client.post("/api/v1/events", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _assess_old_susar(live: LiveServer, event_id: int) -> None:
    """The officer's assessment, through the service: aware on 2021-05-03, so its 7-day
    report was due on 2021-05-10."""
    from pv.auth.service import actor_for, get_user
    from pv.db import make_engine, write_session
    from pv.review import service as review

    engine = make_engine(live.db_url)
    try:
        with write_session(engine) as s:
            user = get_user(s, live.officer)
            assert user is not None
            officer = actor_for(user)
            review.start_review(session=s, actor=officer, event_id=event_id, expected_version=1)
        with write_session(engine) as s:
            review.save_assessment(
                session=s,
                actor=officer,
                event_id=event_id,
                expected_version=2,
                awareness_date=date(2021, 5, 3),
                seriousness_confirmed=True,
                causality={"belimumab": "possible", "prednisone": "unlikely"},
                password=live.officer_password,  # the officer signs "assessed"
            )
    finally:
        engine.dispose()


def test_urgent_work_first_and_a_query_on_an_assessed_susar(
    browser: Browser, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    live = live_server
    serious = {"aeser": "Y", "aeshosp": "Y", "narrative": "Admitted to hospital."}
    sepsis = _report(live, aeterm="septic shock", aelltcd=SEPSIS, aetoxgr=5, aesdth="Y",
                     aeslife="Y", aestdtc="2021-05-01", aeendtc="2021-05-06", aeout="FATAL",
                     aeawaredtc="2021-05-03", **serious)  # fmt: skip
    mild = _report(live, aeterm="mild headache", aelltcd=HEADACHE, aetoxgr=1, aeser="N",
                   aestdtc="2021-06-01", aeendtc="2021-06-02")  # fmt: skip
    sae = _report(live, aeterm="fever and productive cough", aelltcd=LUNG, aetoxgr=3,
                  aestdtc="2021-06-03", aeendtc="2021-06-20", aeawaredtc="2021-06-04",
                  **serious)  # fmt: skip
    _assess_old_susar(live, sepsis)

    # The queue opens on the overdue SUSAR; the new SAE before the grade-1 event.
    officer = Person(browser, live, live.officer, live.officer_password)
    page = officer.page
    page.goto("/review")
    table = page.get_by_test_id("queue-table")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("septic shock")
    expect(rows.nth(0)).to_contain_text("SUSAR")
    expect(rows.nth(0)).to_contain_text("overdue")
    expect(rows.nth(0)).to_contain_text("2021-05-10")
    expect(rows.nth(0)).to_contain_text(re.compile(r"\d{4} days late"))
    expect(rows.nth(1)).to_contain_text("fever and productive cough")
    expect(rows.nth(2)).to_contain_text("mild headache")
    expect(table.locator("thead")).to_contain_text("Days since receipt")
    expect(rows.nth(0).get_by_test_id("days-since-receipt")).to_have_text("0")
    expect(page.get_by_test_id("queue-order")).to_contain_text("Overdue expedited reports first")
    expect(page.get_by_test_id("queue-sort")).to_have_value("")
    officer.shot(SHOTS / "pv-queue-urgent.png")

    # Another order: by status (the sepsis, assessed, goes last).
    page.wait_for_load_state("load")
    page.get_by_test_id("queue-sort").select_option("status")
    expect(page).to_have_url(re.compile(r"sort=status"))
    expect(page.get_by_test_id("queue-order")).to_contain_text("New reports and answered")
    expect(page.get_by_test_id("queue-table").locator("tbody tr").nth(2)).to_contain_text(
        "septic shock"
    )

    # A query on the assessed SUSAR: it stays assessed.
    page.goto(f"/review/events/{sepsis}")
    expect(page.get_by_test_id("event-status")).to_have_text("assessed")
    queries = page.get_by_test_id("queries")
    queries.locator("select[name=field]").select_option("aeterm")
    queries.locator("textarea[name=question]").fill("Please send the discharge summary.")
    queries.get_by_role("button", name="Send the query").click()
    expect(page.get_by_test_id("query").first).to_contain_text("Please send the discharge")
    expect(page.get_by_test_id("query").first).to_contain_text("Reported term")
    expect(page.get_by_test_id("event-status")).to_have_text("assessed")
    officer.shot(SHOTS / "pv-queue-query-assessed.png")

    # The investigator sees the count in the navigation and on the home page.
    site = Person(browser, live, live.investigator, live.investigator_password)
    spage = site.page
    expect(spage.get_by_test_id("open-query-count")).to_have_text("1")
    home = spage.get_by_test_id("home-queries")
    expect(home.get_by_test_id("home-query-count")).to_have_text("1")
    expect(home).to_contain_text("Please send the discharge summary.")
    expect(home).to_contain_text("Reported term")
    site.shot(SHOTS / "pv-queue-home.png")

    # The query list names the field by its label.
    spage.get_by_test_id("nav-queries").click()
    listing = spage.get_by_test_id("query-list")
    expect(listing.get_by_test_id("query-about")).to_have_text("Reported term")
    expect(listing).not_to_contain_text("aeterm")
    site.shot(SHOTS / "pv-queue-queries.png")

    # The answer: the count goes away; the event stays assessed, one version on.
    listing.get_by_role("link", name="Sepsis").click()
    spage.wait_for_url(re.compile(rf"/events/{sepsis}#queries$"))
    answer = spage.get_by_test_id("query").first
    answer.locator("textarea[name=answer]").fill("Discharge summary uploaded to the ISF.")
    answer.get_by_role("button", name="Send answer").click()
    spage.wait_for_url(re.compile(r"answered="))
    expect(spage.get_by_test_id("query").first).to_contain_text("answered")
    expect(spage.get_by_test_id("open-query-count")).to_have_count(0)
    site.shot(SHOTS / "pv-queue-answered.png")

    page.reload()
    expect(page.get_by_test_id("event-status")).to_have_text("assessed")
    expect(page.get_by_test_id("event-version")).to_have_text("4")
    expect(page.get_by_test_id("query").first).to_contain_text("Discharge summary uploaded")
    page.get_by_role("button", name="Close the query").click()
    expect(page.get_by_test_id("query").first).to_contain_text("closed")
    page.goto("/review")
    first = page.get_by_test_id("queue-table").locator("tbody tr").nth(0)
    expect(first).to_contain_text("changed since")
    assert {sae, mild}  # reported above; their order is checked on the first queue
    assert not officer.problems and not site.problems, officer.problems + site.problems
