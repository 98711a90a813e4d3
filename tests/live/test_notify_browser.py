"""In-app notifications in a real Chromium (issue 15, point 5).

A safety officer's header shows no unread count; an investigator submits a serious
adverse event through the web form; the officer's header now shows 1 unread, the
Notifications page lists it (event id, USUBJID, AESEQ, site; no narrative, no verbatim
term), opening it goes to the event's review page and the count is gone. The server has
no SMTP configured: in-app only. Screenshots: /tmp/pv-notify-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.live.conftest import Person

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]

SHOTS = Path("/tmp")
CODED = "Lung infection"
VERBATIM = "Right lower lobe pneumonia with fever"
NARRATIVE = "Admitted with pneumonia; IV antibiotics started."


def test_the_officer_sees_a_new_sae_in_the_header_and_opens_it(
    browser: Browser, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    live = live_server
    officer = Person(browser, live, live.officer, live.officer_password)
    off = officer.page
    link = off.get_by_test_id("notifications-link")
    expect(link).to_be_visible()
    expect(off.get_by_test_id("unread-count")).to_have_count(0)

    # The investigator submits a serious event through the web form.
    site = Person(browser, live, live.investigator, live.investigator_password)
    page = site.page
    page.goto(f"/events/new?subject={live.subject_id}")
    page.locator("input[name=aeterm]").fill(VERBATIM)
    with page.expect_response(lambda r: "/terms/search" in r.url):
        page.get_by_test_id("term-search").press_sequentially("lung inf", delay=30)
    page.locator("ul.typeahead-results button", has_text=CODED).first.click()
    expect(page.get_by_test_id("chosen-term")).to_have_text(CODED)
    page.locator("input[name=aetoxgr][value='3']").check()
    page.locator("#aeser-Y").check()
    page.locator("input[name=aeshosp]").check()
    page.locator("input[name=aestdtc]").fill("2021-03-02")
    aware = page.locator("input[name=aeawaredtc]")
    if aware.count():  # the awareness date (issue 15, point 2)
        aware.fill("2021-03-03")
    page.locator("select[name=aeout]").select_option("RECOVERING/RESOLVING")
    for key in live.drug_keys:
        page.locator(f"select[name='aerel.{key}']").select_option("POSSIBLY RELATED")
        page.locator(f"select[name='aeacn.{key}']").select_option("DOSE NOT CHANGED")
    page.locator("textarea[name=narrative]").fill(NARRATIVE)
    page.locator("button[name=action][value=submit]").click()
    page.wait_for_url(re.compile(r"/events/(\d+)\?saved=1$"))
    event_id = int(re.search(r"/events/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    # the investigator is not notified of their own report
    expect(page.get_by_test_id("unread-count")).to_have_count(0)

    # The officer's next page shows one unread notification in the header.
    off.goto("/review")
    badge = off.get_by_test_id("unread-count")
    expect(badge).to_have_text("1")
    officer.shot(SHOTS / "pv-notify-header.png")

    link.click()
    off.wait_for_url(re.compile(r"/notifications$"))
    expect(off.get_by_role("heading", level=1)).to_have_text("Notifications")
    expect(off.get_by_test_id("notifications-summary")).to_contain_text("1 unread notification")
    item = off.get_by_test_id("notification-list").get_by_test_id("notification")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(f"New serious adverse event: event {event_id}")
    expect(item).to_contain_text(live.usubjid)
    expect(item).to_contain_text("AESEQ 1")
    expect(item).to_contain_text("site 01")
    expect(item.locator(".tag")).to_have_text("Unread")
    body = off.locator("main").inner_text()
    assert NARRATIVE not in body and VERBATIM not in body
    officer.shot(SHOTS / "pv-notify-list.png")

    # Opening it goes to the event's review page; the count is gone.
    item.get_by_role("button", name="Open").click()
    off.wait_for_url(re.compile(rf"/review/events/{event_id}$"))
    expect(off.get_by_role("heading", level=1)).to_contain_text(CODED)
    expect(off.get_by_test_id("unread-count")).to_have_count(0)
    officer.shot(SHOTS / "pv-notify-opened.png")

    off.goto("/notifications")
    expect(off.get_by_test_id("notifications-summary")).to_contain_text("0 unread notifications")
    expect(item.locator(".tag")).to_have_count(0)  # no "Unread" tag once read
    officer.shot(SHOTS / "pv-notify-read.png")

    # The second officer's notification is their own: still unread.
    other = Person(browser, live, live.officer2, live.officer2_password)
    expect(other.page.get_by_test_id("unread-count")).to_have_text("1")
    for person in (officer, site, other):
        assert person.problems == [], person.problems
        person.context.close()
