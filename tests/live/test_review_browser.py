"""The safety review in a real Chromium (issue 5 acceptance).

The investigator's site reports four events through the API. The officer filters the
queue to serious infections, opens one, starts the review and raises a query on its onset
date; the investigator answers it from the queries list; the officer closes the query,
assesses the event as a SUSAR and sees the report due 15 days after awareness, then locks
it. A second officer, whose page was read before all that, saves an assessment from the
old version and is shown the conflict: the first officer's values next to their own. A
fatal SUSAR is then due in 7 days. Screenshots of the queue, the review page, the
conflict, the clocks dashboard and the charts page go to /tmp.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.live.conftest import Person

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]

SHOTS = Path("/tmp")
LUNG, SEPSIS, HEADACHE = "10061229", "10040047", "10019211"
AWARE, FATAL_AWARE = date(2021, 3, 4), date(2021, 5, 3)


def _shot(person: Person, name: str) -> None:
    person.shot(SHOTS / f"pv-review-{name}.png")


def _report(live: LiveServer, **fields: Any) -> int:
    body = {
        "usubjid": live.usubjid,
        "aeout": "RECOVERED/RESOLVED",
        "aerel": {"belimumab": "POSSIBLY RELATED", "prednisone": "NOT RELATED"},
        "aeacn": {k: "DOSE NOT CHANGED" for k in live.drug_keys},
        **fields,
    }
    if body.get("aeser") == "Y":  # a serious event says when the site became aware
        body.setdefault("aeawaredtc", body.get("aestdtc"))
    with live.api() as client:
        r = client.post("/api/v1/events", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _events(live: LiveServer) -> dict[str, int]:
    serious = {"aeser": "Y", "aeshosp": "Y", "narrative": "Admitted to hospital."}
    return {
        "infection": _report(live, aeterm="fever and productive cough", aelltcd=LUNG,
                             aetoxgr=3, aestdtc="2021-03-02", aeendtc="2021-03-20", **serious),
        "fatal": _report(live, aeterm="septic shock", aelltcd=SEPSIS, aetoxgr=5, aesdth="Y",
                         aeslife="Y", aestdtc="2021-05-01", aeendtc="2021-05-06", aeout="FATAL",
                         **serious),
        "headache": _report(live, aeterm="severe headache", aelltcd=HEADACHE, aetoxgr=3,
                            aestdtc="2021-03-05", aeendtc="2021-03-06", **serious),
        "mild": _report(live, aeterm="chesty cough", aelltcd=LUNG, aetoxgr=2, aeser="N",
                        aestdtc="2021-04-02", aeendtc="2021-04-09"),
    }  # fmt: skip


def _send(page: Page, password: str) -> None:
    """Prepare the initial report version and record its E2B submission to the regulator,
    signed "approved" (what "Mark as sent" was before issue 16); the clock shows it sent."""
    from playwright.sync_api import expect

    page.get_by_test_id("prepare-version").click()
    expect(page.get_by_test_id("version-table")).to_be_visible()
    page.reload()  # the submissions form offers the new version
    form = page.get_by_test_id("submission-form")
    form.locator("input[name=recipient]").fill("NMPA Center for Drug Evaluation")
    form.locator("input[name=password]").fill(password)  # approved for submission: signed
    form.get_by_role("button", name="Record submission").click()
    expect(page.get_by_test_id("submissions")).to_contain_text("NMPA Center for Drug Evaluation")
    expect(page.get_by_test_id("event-reports")).to_contain_text("sent")


def _filter_queue(page: Page, name: str, value: str) -> None:
    """Choose a filter and wait until htmx has swapped the filtered queue in (the form is
    part of the swapped fragment: the next choice must act on the new one)."""
    from playwright.sync_api import expect

    page.wait_for_load_state("load")  # htmx binds its triggers once the page has loaded
    wanted = re.compile(rf"[?&]{name}={value}(&|$)")
    for attempt in range(3):
        # Act on a settled page: a swap in progress would replace the form chosen in.
        page.wait_for_function(HTMX_IDLE)
        select = page.locator(f"#queue select[name={name}]")
        if attempt and select.input_value() == value:
            # A just-swapped form may not have had its htmx trigger bound yet on a busy
            # machine: the value is chosen, ask for the filtered queue again.
            select.dispatch_event("change")
        else:
            select.select_option(value)
        try:
            expect(page).to_have_url(wanted, timeout=5_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
    page.wait_for_function(HTMX_IDLE)
    expect(page.locator(f"#queue select[name={name}]")).to_have_value(value)


HTMX_IDLE = (
    "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
)


def _assess(page: Page, aware: date, causality: dict[str, str], password: str) -> None:
    from playwright.sync_api import expect

    page.wait_for_load_state("load")  # htmx binds its triggers once the page has loaded
    form = page.get_by_test_id("assessment-form")
    form.locator("input[name=awareness_date]").fill(aware.isoformat())
    form.locator("input[name=awareness_date]").press("Tab")  # a typed date counts on leaving
    # the RSI's expectedness is fetched again for the new awareness date
    expect(form.locator("#expectedness legend")).to_contain_text(aware.isoformat())
    form.locator("input[name=seriousness_confirmed][value=Y]").check()
    for key, value in causality.items():
        form.locator(f"select[name='causality.{key}']").select_option(value)
    form.locator("input[name=password]").fill(password)  # the assessment is signed


def test_officer_assesses_queries_and_locks_a_serious_infection(
    browser: Browser, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    live = live_server
    ids = _events(live)
    officer = Person(browser, live, live.officer, live.officer_password)
    page = officer.page

    # The queue, filtered to serious infections.
    page.goto("/review")
    expect(page.get_by_test_id("queue-table").locator("tbody tr")).to_have_count(4)
    _filter_queue(page, "aesi", "infection")
    _filter_queue(page, "serious", "Y")
    rows = page.get_by_test_id("queue-table").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="fever and productive cough")).to_have_count(1)
    expect(rows.filter(has_text="septic shock")).to_have_count(1)
    expect(page.locator("#queue .tabs a[data-status=submitted] .count")).to_have_text("2")
    assert "aesi=infection" in page.url and "serious=Y" in page.url  # the URL keeps the filter
    _shot(officer, "queue")

    # Open the infection, start the review; a second officer opens it now (version 2).
    rows.filter(has_text="fever and productive cough").get_by_role("link").click()
    page.wait_for_url(re.compile(rf"/review/events/{ids['infection']}$"))
    page.get_by_role("button", name="Start review").click()
    expect(page.get_by_test_id("event-status")).to_have_text("under review")
    second = Person(browser, live, live.officer2, live.officer2_password)
    second.page.goto(f"/review/events/{ids['infection']}")
    expect(second.page.get_by_test_id("event-version")).to_have_text("2")

    # Raise a query on the onset date.
    queries = page.get_by_test_id("queries")
    queries.locator("select[name=field]").select_option("aestdtc")
    queries.locator("textarea[name=question]").fill("Please confirm the onset date.")
    queries.get_by_role("button", name="Send the query").click()
    expect(page.get_by_test_id("event-status")).to_have_text("queried")

    # The investigator answers from the queries list.
    site = Person(browser, live, live.investigator, live.investigator_password)
    site.page.goto("/queries")
    listing = site.page.get_by_test_id("query-list")
    expect(listing).to_contain_text("Please confirm the onset date.")
    listing.get_by_role("link", name="Lung infection").click()
    site.page.wait_for_url(re.compile(rf"/events/{ids['infection']}#queries$"))
    answer = site.page.get_by_test_id("query").first
    answer.locator("textarea[name=answer]").fill("Confirmed from the admission notes: 2 March.")
    answer.get_by_role("button", name="Send answer").click()
    site.page.wait_for_url(re.compile(r"answered="))
    expect(site.page.get_by_test_id("query").first).to_contain_text("answered")

    # The officer reads the answer, closes the query and assesses a SUSAR: due on day 15.
    page.reload()
    expect(page.get_by_test_id("event-status")).to_have_text("answered")
    expect(page.get_by_test_id("query").first).to_contain_text("Confirmed from the admission")
    page.get_by_role("button", name="Close the query").click()
    expect(page.get_by_test_id("query").first).to_contain_text("closed")
    _assess(page, AWARE, {"belimumab": "probable", "prednisone": "unlikely"}, live.officer_password)
    page.get_by_role("button", name="Save assessment").click()
    expect(page.get_by_test_id("susar-result")).to_contain_text("SUSAR")
    due = (AWARE + timedelta(days=15)).isoformat()
    expect(page.get_by_test_id("due-date")).to_have_text(due)
    expect(page.get_by_test_id("event-reports")).to_contain_text(due)
    _shot(officer, "event")

    # Lock it once the SUSAR report is sent (a prepared report version, its submission to
    # the regulator recorded); the second officer's stale save shows the conflict with both
    # values.
    _send(page, live.officer_password)
    page.get_by_test_id("lock-form").locator("input[name=password]").fill(live.officer_password)
    page.get_by_role("button", name="Lock the event").click()
    expect(page.get_by_test_id("event-status")).to_have_text("locked")
    _assess(second.page, date(2021, 3, 6), {"belimumab": "possible", "prednisone": "unlikely"},
            live.officer2_password)  # fmt: skip
    with second.page.expect_response(lambda r: r.request.method == "POST") as saved:
        second.page.get_by_role("button", name="Save assessment").click()
    assert saved.value.status == 409
    conflict = second.page.get_by_test_id("conflict")
    expect(conflict).to_contain_text("now version")
    row = conflict.locator("tr", has_text="Awareness date")
    expect(row).to_contain_text("2021-03-04")
    expect(row).to_contain_text("2021-03-06")
    expect(conflict.locator("tr", has_text="Causality: Belimumab")).to_contain_text("probable")
    expect(conflict).to_contain_text("can no longer be made")  # locked: no form to save again
    _shot(second, "conflict")

    # A fatal SUSAR is due on day 7 (its follow-up on day 15).
    page.goto(f"/review/events/{ids['fatal']}")
    page.get_by_role("button", name="Start review").click()
    _assess(page, FATAL_AWARE, {"belimumab": "possible", "prednisone": "unlikely"},
            live.officer_password)  # fmt: skip
    page.get_by_role("button", name="Save assessment").click()
    expect(page.get_by_test_id("susar-result")).to_contain_text("fatal or life-threatening")
    expect(page.get_by_test_id("due-date").first).to_have_text(
        (FATAL_AWARE + timedelta(days=7)).isoformat()
    )

    # The clocks dashboard and the charts page.
    page.goto("/clocks")
    expect(page.get_by_test_id("clocks-overdue")).to_contain_text("Sepsis")
    _shot(officer, "clocks")
    page.goto("/charts")
    expect(page.locator("img.chart")).to_have_count(4)
    _shot(officer, "charts")
    for person in (officer, second, site):
        assert not person.problems, person.problems
        person.context.close()
