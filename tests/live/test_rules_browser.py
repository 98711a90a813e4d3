"""The intake rules as an investigator meets them in Chromium (issue 12, points 4 and 5).

- The subject form refuses a SUBJID a spreadsheet would run as a formula and a
  randomization before consent, each message beside its field, nothing typed lost; the
  corrected subject is stored.
- The same event reported twice: the form shows the event already stored (AESEQ, term,
  onset) and stores the second only after "Save anyway".
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from pv.events.models import AdverseEvent
from pv.study.models import Subject
from tests.live.conftest import INVESTIGATOR, Person
from tests.live.test_browser import INFUSION, SCREENSHOTS, _choose_term, _fill_rest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]


def test_the_subject_form_names_each_bad_field_and_keeps_what_was_typed(
    browser: Browser, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    live = live_server
    before = live.count(Subject)
    inv = Person(browser, live, *INVESTIGATOR)
    page = inv.page
    page.goto("/subjects/new")
    page.locator("input[name=subjid]").fill("=1+1")
    page.locator("input[name=age]").fill("41")
    page.locator("input[name=consent_date]").fill("2021-02-10")
    page.locator("input[name=randomization_date]").fill("2021-02-01")
    page.get_by_role("button", name="Add subject").click()
    expect(page.get_by_role("alert").first).to_contain_text("The subject was not saved")
    expect(page.locator("#error-subjid")).to_contain_text("not a valid id")
    expect(page.locator("#error-randomization_date")).to_contain_text("consent")
    expect(page.locator("input[name=subjid]")).to_have_value("=1+1")
    expect(page.locator("input[name=age]")).to_have_value("41")
    inv.shot(SCREENSHOTS / "pv-live-subject-errors.png")
    assert live.count(Subject) == before

    page.locator("input[name=subjid]").fill("0042")
    page.locator("input[name=randomization_date]").fill("2021-02-12")
    page.get_by_role("button", name="Add subject").click()
    expect(page.locator("body")).to_contain_text("0042")
    assert live.count(Subject) == before + 1
    assert not inv.problems, inv.problems


def _report_infusion_reaction(page: Page, live: LiveServer, verbatim: str) -> None:
    page.goto(f"/events/new?subject={live.subject_id}")
    page.locator("input[name=aeterm]").fill(verbatim)
    _choose_term(page, "infus", INFUSION[1])
    page.locator("input[name=aetoxgr][value='2']").check()
    _fill_rest(page, live, onset="2021-05-03")
    page.locator("input[name=aeendtc]").fill("2021-05-04")
    page.locator("button[name=action][value=submit]").click()


def test_a_likely_duplicate_is_shown_and_stored_only_when_confirmed(
    browser: Browser, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    live = live_server
    inv = Person(browser, live, *INVESTIGATOR)
    page = inv.page
    _report_infusion_reaction(page, live, "flushing during the infusion")
    page.wait_for_url(re.compile(r"/events/\d+\?saved=1$"))
    first = int(re.search(r"/events/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    stored = live.count(AdverseEvent)

    _report_infusion_reaction(page, live, "flushing, reported again by the nurse")
    notice = page.get_by_test_id("duplicate-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("looks like an event already reported")
    row = notice.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_contain_text(INFUSION[1])
    expect(row.locator("td").nth(2)).to_have_text("2021-05-03")
    expect(row.locator("a")).to_have_attribute("href", f"/events/{first}")
    expect(page.locator("input[name=aeterm]")).to_have_value(
        "flushing, reported again by the nurse"
    )
    inv.shot(SCREENSHOTS / "pv-live-duplicate.png")
    assert live.count(AdverseEvent) == stored

    page.get_by_test_id("save-anyway").click()
    page.wait_for_url(re.compile(r"/events/\d+\?saved=1$"))
    assert live.count(AdverseEvent) == stored + 1
    assert not inv.problems, inv.problems
