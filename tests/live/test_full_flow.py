"""One adverse event from the site to the DSMB, in a real Chromium (issue 7, item 8).

The investigator reports a serious infection through the web form; the safety officer
finds it at the head of the review queue, starts the review and assesses it as a SUSAR
(due 15 days after awareness); a DSMB member downloads the closed-session workbook from
the safety-tables page; the test opens the file with openpyxl and finds the event, with
its arm, seriousness and coded term, in the listing of all AEs and in the SAE listing.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import openpyxl
import pytest

from tests.live.conftest import COMBINATION_ARM, Person

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]

VERBATIM = "productive cough, fever 39.2 C, admitted"
CODED = "Lung infection"
ONSET, AWARE, CUTOFF = "2021-03-02", date(2021, 3, 4), date(2021, 12, 31)


def _listing(path: Path, sheet: str) -> list[dict[str, object]]:
    """The data rows of a listing sheet as {header: value}; headers are on the row whose
    first cell is "Site" (title and footnote rows come before it)."""
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = list(wb[sheet].iter_rows(values_only=True))
    wb.close()
    head = next(i for i, r in enumerate(rows) if r and r[0] == "Site")
    names = rows[head]
    return [dict(zip(names, r, strict=False)) for r in rows[head + 1 :] if any(r)]


def test_an_sae_goes_from_the_site_to_the_dsmb_workbook(
    browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    live = live_server

    # 1. The investigator reports the SAE through the web form.
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
    page.locator("input[name=aestdtc]").fill(ONSET)
    page.locator("input[name=aeawaredtc]").fill(ONSET)  # when the site became aware
    page.locator("select[name=aeout]").select_option("RECOVERING/RESOLVING")
    for key in live.drug_keys:
        page.locator(f"select[name='aerel.{key}']").select_option("POSSIBLY RELATED")
        page.locator(f"select[name='aeacn.{key}']").select_option("DOSE NOT CHANGED")
    page.locator("textarea[name=narrative]").fill("Admitted with pneumonia; IV antibiotics.")
    page.locator("button[name=action][value=submit]").click()
    page.wait_for_url(re.compile(r"/events/(\d+)\?saved=1$"))
    event_id = int(re.search(r"/events/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    expect(page.get_by_role("heading", level=1)).to_contain_text("serious")

    # 2. The officer finds it in the queue and assesses it as a SUSAR.
    officer = Person(browser, live, live.officer, live.officer_password)
    page = officer.page
    page.goto("/review")
    row = page.get_by_test_id("queue-table").locator("tbody tr", has_text=CODED)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("serious")
    row.get_by_role("link").click()
    page.wait_for_url(re.compile(rf"/review/events/{event_id}$"))
    page.get_by_role("button", name="Start review").click()
    expect(page.get_by_test_id("event-status")).to_have_text("under review")
    page.wait_for_load_state("load")
    form = page.get_by_test_id("assessment-form")
    form.locator("input[name=awareness_date]").fill(AWARE.isoformat())
    form.locator("input[name=awareness_date]").press("Tab")  # a typed date counts on leaving
    expect(form.locator("#expectedness legend")).to_contain_text(AWARE.isoformat())
    form.locator("input[name=seriousness_confirmed][value=Y]").check()
    for key, value in {"belimumab": "probable", "prednisone": "unlikely"}.items():
        form.locator(f"select[name='causality.{key}']").select_option(value)
    form.locator("input[name=password]").fill(live.officer_password)  # signed "assessed"
    page.get_by_role("button", name="Save assessment").click()
    expect(page.get_by_test_id("susar-result")).to_contain_text("SUSAR")
    expect(page.get_by_test_id("due-date")).to_have_text((AWARE + timedelta(days=15)).isoformat())

    # 3. A DSMB member downloads the closed-session workbook.
    dsmb = Person(browser, live, live.dsmb, live.dsmb_password)
    page = dsmb.page
    page.goto("/reports")
    download_form = page.locator("form[action='/reports/dsmb.xlsx']")
    download_form.locator("input[name=cutoff]").fill(CUTOFF.isoformat())
    download_form.locator("select[name=report]").select_option("closed")
    with page.expect_download(timeout=120_000) as started:
        download_form.get_by_role("button", name="Download .xlsx").click()
    download = started.value
    assert download.failure() is None, download.failure()
    assert download.suggested_filename == f"{live.study_id}-dsmb-closed-{CUTOFF}.xlsx"
    path = tmp_path / download.suggested_filename
    download.save_as(path)

    # 4. The event is in the workbook: all AEs and SAEs, with its arm and coding.
    for sheet in ("All AEs", "SAEs"):
        found = [r for r in _listing(path, sheet) if r["Verbatim term"] == VERBATIM]
        assert len(found) == 1, f"{sheet}: {found}"
        event = found[0]
        assert event["Subject"] == live.usubjid
        assert event["Arm"] == COMBINATION_ARM
        assert event["Coded term"] == CODED
        assert event["CTCAE grade"] == 3
        assert event["Serious"] == "Yes"
        assert "Hospitalization" in str(event["Serious criteria"])
    for person in (site, officer, dsmb):
        assert not person.problems, person.problems
        person.context.close()
