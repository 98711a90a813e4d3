"""Issue 14 capture as an investigator meets it in Chromium.

- The AE form: ticking "pre-existing" brings in (htmx) the grade at the first dose and the
  worsening date; a grade above the event's and a worsening before the onset are refused
  beside their fields, what was typed kept; the corrected event shows them on its page and
  in its history.
- The subject page: the End of study section refuses a disposition DEATH without "died"
  beside the field (htmx swap, nothing stored), then stores the disposition and the death
  and shows them, also after a reload.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from pv.audit.models import AuditEntry
from pv.events.models import AdverseEvent
from tests.live.conftest import INVESTIGATOR, Person
from tests.live.test_browser import INFUSION, SCREENSHOTS, _choose_term, _fill_rest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]


def test_a_pre_existing_condition_is_entered_refused_then_saved(
    browser: Browser, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    live = live_server
    inv = Person(browser, live, *INVESTIGATOR)
    page = inv.page
    page.goto(f"/events/new?subject={live.subject_id}")
    page.locator("input[name=aeterm]").fill("flushing, known before the first infusion")
    _choose_term(page, "infus", INFUSION[1])
    page.locator("input[name=aetoxgr][value='2']").check()
    _fill_rest(page, live, onset="2021-05-03")
    page.locator("input[name=aeendtc]").fill("2021-05-20")
    # The section is not there until the box is ticked.
    expect(page.get_by_test_id("initial-grade")).to_have_count(0)
    page.get_by_test_id("preexisting").check()
    expect(page.get_by_test_id("initial-grade")).to_be_visible()
    # Grade 3 at the first dose is above the event's grade 2; 2021-05-01 is before the
    # onset 2021-05-03.
    page.get_by_test_id("initial-grade").select_option("3")
    page.get_by_test_id("worsened-dtc").fill("2021-05-01")
    page.get_by_test_id("aegrpid").fill("IRR-1")
    stored = live.count(AdverseEvent)
    page.locator("button[name=action][value=submit]").click()
    expect(page.locator("#error-initial_grade")).to_have_text(
        "the grade at the first dose (3) is above the event's grade (2): record the condition "
        "at its worst grade"
    )
    expect(page.locator("#error-worsened_dtc")).to_have_text(
        "the worsening (2021-05-01) is before the onset (2021-05-03)"
    )
    expect(page.get_by_role("alert").first).to_contain_text("The event was not saved")
    # What was typed is still there, the section open.
    expect(page.get_by_test_id("preexisting")).to_be_checked()
    expect(page.get_by_test_id("initial-grade")).to_have_value("3")
    expect(page.get_by_test_id("worsened-dtc")).to_have_value("2021-05-01")
    expect(page.get_by_test_id("aegrpid")).to_have_value("IRR-1")
    page.get_by_test_id("preexisting-fieldset").scroll_into_view_if_needed()
    inv.shot(SCREENSHOTS / "pv-live-capture-preexisting-errors.png")
    assert live.count(AdverseEvent) == stored

    page.get_by_test_id("initial-grade").select_option("1")
    page.get_by_test_id("worsened-dtc").fill("2021-05-10")
    page.locator("button[name=action][value=submit]").click()
    page.wait_for_url(re.compile(r"/events/\d+\?saved=1$"))
    expect(page.get_by_test_id("preexisting")).to_have_text(
        "Yes: grade 1 at the first dose · worsened on 2021-05-10"
    )
    expect(page.get_by_test_id("episode")).to_have_text("AEGRPID IRR-1")
    history = page.locator("#history")
    expect(history).to_contain_text("CTCAE grade at the first dose")
    expect(history).to_contain_text("Worsened on")
    inv.shot(SCREENSHOTS / "pv-live-capture-preexisting-saved.png")
    assert live.count(AdverseEvent) == stored + 1
    assert not inv.problems, inv.problems


def test_the_end_of_study_and_a_death_are_recorded_on_the_subject_page(
    browser: Browser, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    live = live_server
    inv = Person(browser, live, *INVESTIGATOR)
    page = inv.page
    page.goto(f"/subjects/{live.subject_id}")
    section = page.get_by_test_id("end-of-study")
    expect(section.get_by_test_id("eos-disposition")).to_have_text("still in the study")
    audited = live.count(AuditEntry)
    section.get_by_test_id("eos-disposition-input").select_option("DEATH")
    section.get_by_test_id("eos-disposition-date").fill("2021-06-02")
    section.get_by_test_id("eos-end-date").fill("2021-06-02")
    section.get_by_test_id("eos-death-cause").fill("sepsis")
    section.get_by_test_id("eos-save").click()
    # The section is swapped in place (htmx), the errors beside their fields.
    expect(page.locator("#eos-error-died")).to_have_text(
        "the disposition DEATH means the subject died: tick 'died'"
    )
    expect(page.locator("#eos-error-death_cause")).to_have_text("a cause of death needs 'died'")
    expect(page.get_by_test_id("eos-not-saved")).to_contain_text("2 problems")
    expect(page.get_by_test_id("eos-death-cause")).to_have_value("sepsis")
    expect(page.get_by_test_id("eos-disposition")).to_have_text("still in the study")
    assert page.url.endswith(f"/subjects/{live.subject_id}")  # no page load
    page.get_by_test_id("end-of-study").scroll_into_view_if_needed()
    inv.shot(SCREENSHOTS / "pv-live-capture-eos-errors.png")
    assert live.count(AuditEntry) == audited

    page.get_by_test_id("eos-died").check()
    page.get_by_test_id("eos-death-date").fill("2021-06-02")
    page.get_by_test_id("eos-race-input").select_option("ASIAN")
    page.get_by_test_id("eos-height-input").fill("158")
    page.get_by_test_id("eos-save").click()
    expect(page.get_by_test_id("eos-saved")).to_be_visible()
    expect(page.get_by_test_id("eos-disposition")).to_have_text("Death · 2021-06-02")
    expect(page.get_by_test_id("eos-death")).to_have_text(
        "Died on 2021-06-02 · primary cause: sepsis"
    )
    expect(page.get_by_test_id("eos-date")).to_have_text("2021-06-02")
    inv.shot(SCREENSHOTS / "pv-live-capture-eos-saved.png")
    page.reload()
    expect(page.get_by_test_id("eos-disposition")).to_have_text("Death · 2021-06-02")
    expect(page.get_by_test_id("eos-race")).to_have_text("Asian")
    expect(page.get_by_test_id("eos-height")).to_have_text("158")
    assert live.count(AuditEntry) == audited + 1
    assert not inv.problems, inv.problems
