"""The SAE case data (issue 16 point 1) as the investigator and the officer meet it in
Chromium.

- The AE form: answering "serious" Yes brings in (htmx) the case sections; "Add a row"
  twice gives two medication rows; a stop date before the start is refused beside that
  row's stop field with everything typed kept and nothing stored; corrected, the event and
  its case data are saved together and shown on the event page.
- The review page: the officer changes the reporter; a wrong country is refused beside the
  field after the htmx swap of the section (nothing stored), the corrected one saved and
  still there after a reload.
- In Chinese: the section headings are translated.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, select

from pv.db import make_engine
from pv.events.models import AdverseEvent
from pv.icsr.models import SaeCase
from tests.live.conftest import INVESTIGATOR, OFFICER, Person
from tests.live.test_browser import INFUSION, SCREENSHOTS, _choose_term

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]


def _case(live: LiveServer, event_id: int) -> SaeCase | None:
    engine = make_engine(live.db_url)
    try:
        with Session(engine) as s:
            return s.exec(select(SaeCase).where(SaeCase.event_id == event_id)).first()
    finally:
        engine.dispose()


def _serious_event(page: Page, live: LiveServer) -> None:
    """The event part of the form: a grade 3 infusion reaction, hospitalized."""
    page.locator("input[name=aeterm]").fill("rigors and fever during belimumab infusion")
    _choose_term(page, "infus", INFUSION[1])
    page.locator("input[name=aetoxgr][value='3']").check()
    page.locator("input[name=aestdtc]").fill("2021-05-03")
    page.locator("select[name=aeout]").select_option("RECOVERING/RESOLVING")
    for key in live.drug_keys:
        page.locator(f"select[name='aerel.{key}']").select_option("POSSIBLY RELATED")
        page.locator(f"select[name='aeacn.{key}']").select_option("DRUG INTERRUPTED")
    page.locator("textarea[name=narrative]").fill("Admitted overnight for rigors and fever.")


def test_the_investigator_enters_the_case_data_with_the_event(
    browser: Browser, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    live = live_server
    inv = Person(browser, live, *INVESTIGATOR)
    page = inv.page
    page.goto(f"/events/new?subject={live.subject_id}")
    _serious_event(page, live)
    # No case sections before "serious" is answered Yes.
    expect(page.get_by_test_id("sae-reporter")).to_have_count(0)
    with page.expect_response(lambda r: "/events/sae-case-fields" in r.url):
        page.locator("#aeser-Y").check()
    expect(page.get_by_test_id("sae-reporter")).to_be_visible()
    for heading in ("Reporter", "Hospitalization", "Relevant medical history",
                    "Concomitant medications", "Relevant tests and results",
                    "Dechallenge and rechallenge"):  # fmt: skip
        expect(page.locator("#sae-case legend", has_text=heading)).to_be_visible()
    expect(page.get_by_test_id("sae-death")).to_have_count(0)  # not a fatal event
    # "No" takes them away again, "Yes" brings them back; "results in death" adds the death
    page.locator("#aeser-N").check()
    expect(page.get_by_test_id("sae-reporter")).to_have_count(0)
    page.locator("#aeser-Y").check()
    expect(page.get_by_test_id("sae-reporter")).to_be_visible()
    page.locator("input[name=aesdth]").check()
    expect(page.get_by_test_id("sae-death")).to_be_visible()
    page.locator("input[name=aesdth]").uncheck()
    expect(page.get_by_test_id("sae-death")).to_have_count(0)
    page.locator("input[name=aeshosp]").check()
    page.get_by_test_id("aeawaredtc").fill("2021-05-03")

    page.get_by_test_id("sae-reporter_name").fill("Dr Li Wei")
    page.get_by_test_id("sae-reporter_qualification").select_option("1")
    page.get_by_test_id("sae-reporter_country").fill("CN")
    page.get_by_test_id("sae-hosp_admit_date").fill("2021-05-03")
    page.get_by_test_id("sae-hosp_discharge_date").fill("2021-05-05")
    # Two medication rows, added one after the other.
    add = page.get_by_test_id("add-conmeds")
    add.click()
    expect(page.get_by_test_id("conmeds-row-0")).to_be_visible()
    add.click()
    expect(page.get_by_test_id("conmeds-row-1")).to_be_visible()
    first, second = page.get_by_test_id("conmeds-row-0"), page.get_by_test_id("conmeds-row-1")
    first.get_by_label("Medication, row 1").fill("Hydroxychloroquine")
    first.get_by_label("Dose, row 1").fill("200")
    first.get_by_label("Unit, row 1").fill("mg")
    first.get_by_label("Start date, row 1").fill("2020-01-10")
    second.get_by_label("Medication, row 2").fill("Paracetamol")
    second.get_by_label("Dose, row 2").fill("1")
    second.get_by_label("Unit, row 2").fill("g")
    second.get_by_label("Start date, row 2").fill("2021-05-04")
    second.get_by_label("Stop date, row 2").fill("2021-05-02")  # before its start
    page.get_by_test_id("dechallenge-belimumab").select_option("yes")
    stored = live.count(AdverseEvent)

    page.locator("button[name=action][value=submit]").click()
    stop_error = page.get_by_test_id("error-conmeds-1-stop")
    expect(stop_error).to_have_text("the stop (2021-05-02) is before the start (2021-05-04)")
    # beside that row's stop field: in the same cell, just below the input
    cell = page.get_by_test_id("conmeds-1-stop").locator("xpath=..")
    expect(cell.get_by_test_id("error-conmeds-1-stop")).to_be_visible()
    expect(page.get_by_role("alert").first).to_contain_text("The event was not saved")
    # What was typed is kept; nothing is stored.
    expect(page.get_by_test_id("conmeds-1-stop")).to_have_value("2021-05-02")
    expect(page.get_by_test_id("conmeds-0-name")).to_have_value("Hydroxychloroquine")
    expect(page.get_by_test_id("sae-reporter_name")).to_have_value("Dr Li Wei")
    expect(page.get_by_test_id("dechallenge-belimumab")).to_have_value("yes")
    expect(page.locator("#aeser-Y")).to_be_checked()
    box = page.get_by_test_id("sae-conmeds")
    box.scroll_into_view_if_needed()
    box.screenshot(path=str(SCREENSHOTS / "pv-live-case-form-refused-rows.png"))
    inv.shot(SCREENSHOTS / "pv-live-case-form-refused.png")
    assert live.count(AdverseEvent) == stored
    assert live.count(SaeCase) == 0

    page.get_by_test_id("conmeds-1-stop").fill("2021-05-06")
    page.locator("button[name=action][value=submit]").click()
    page.wait_for_url(re.compile(r"/events/\d+\?saved=1$"))
    event_id = int(re.search(r"/events/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    # The event page shows the case data as stored.
    section = page.get_by_test_id("case-data")
    expect(section.get_by_test_id("sae-reporter_name")).to_have_text("Dr Li Wei")
    expect(section.get_by_test_id("sae-reporter_qualification")).to_have_text("Physician")
    expect(section.get_by_test_id("sae-hosp_discharge_date")).to_have_text("2021-05-05")
    expect(section.get_by_test_id("conmeds-0-name")).to_have_text("Hydroxychloroquine")
    expect(section.get_by_test_id("conmeds-1-stop")).to_have_text("2021-05-06")
    expect(section.get_by_test_id("dechallenge-belimumab")).to_have_text(
        "Yes: abated after stopping"
    )
    section.scroll_into_view_if_needed()
    inv.shot(SCREENSHOTS / "pv-live-case-form-saved.png")
    case = _case(live, event_id)
    assert case is not None and case.version == 1
    assert [(m["name"], m["dose"], m["stop"]) for m in case.conmeds] == [
        ("Hydroxychloroquine", 200, None),
        ("Paracetamol", 1, "2021-05-06"),
    ]
    assert not inv.problems, inv.problems

    # The officer changes the reporter on the review page.
    off = Person(browser, live, *OFFICER)
    page = off.page
    page.goto(f"/review/events/{event_id}")
    form = page.get_by_test_id("case-data-form")
    expect(form.get_by_test_id("sae-reporter_name")).to_have_value("Dr Li Wei")
    form.get_by_test_id("sae-reporter_contact").fill("li.wei@hospital.example.cn")
    form.get_by_test_id("sae-reporter_country").fill("XX")
    with page.expect_response(lambda r: r.url.endswith(f"/review/events/{event_id}/sae-case")):
        form.get_by_test_id("save-case-data").click()
    error = page.get_by_test_id("error-reporter_country")
    expect(error).to_have_text(
        "'XX' is not an ISO 3166-1 alpha-2 country code (two letters, such as CN or US)"
    )
    expect(page.get_by_test_id("sae-refused")).to_contain_text("The case data was not saved")
    expect(page.get_by_test_id("sae-reporter_contact")).to_have_value("li.wei@hospital.example.cn")
    # caret="initial": Playwright's caret-hiding inline style, copied by htmx's settle onto
    # the swapped section, would be refused by the CSP (style-src 'self')
    page.get_by_test_id("sae-reporter").screenshot(
        path=str(SCREENSHOTS / "pv-live-case-review-refused.png"), caret="initial"
    )
    assert _case(live, event_id).reporter_contact is None  # type: ignore[union-attr]
    page.get_by_test_id("sae-reporter_country").fill("CN")
    page.get_by_test_id("sae-reporter_name").fill("Dr Li Wei (principal investigator)")
    page.get_by_test_id("save-case-data").click()
    expect(page.get_by_test_id("sae-saved")).to_have_text("Case data saved (version 2).")
    expect(page.get_by_test_id("error-reporter_country")).to_have_count(0)
    page.get_by_test_id("case-data").scroll_into_view_if_needed()
    off.shot(SCREENSHOTS / "pv-live-case-review-saved.png")
    page.reload()
    expect(page.get_by_test_id("sae-reporter_name")).to_have_value(
        "Dr Li Wei (principal investigator)"
    )
    expect(page.get_by_test_id("sae-reporter_contact")).to_have_value("li.wei@hospital.example.cn")
    case = _case(live, event_id)
    assert case is not None and case.version == 2 and case.updated_by_name == OFFICER[0]
    assert not off.problems, off.problems


def test_the_case_sections_are_in_chinese(browser: Browser, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    live = live_server
    context = browser.new_context(base_url=live.base_url, locale="zh-CN",
                                  viewport={"width": 1360, "height": 900})  # fmt: skip
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto("/login")
        page.locator("input[name=username]").fill(INVESTIGATOR[0])
        page.locator("input[name=password]").fill(INVESTIGATOR[1])
        page.locator("form[action='/login'] button[type=submit]").click()
        page.wait_for_url(re.compile(r"/$"))
        page.goto(f"/events/new?subject={live.subject_id}")
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
        page.locator("#aeser-Y").check()
        page.locator("input[name=aesdth]").check()  # a fatal event: the death section too
        expect(page.get_by_test_id("sae-death")).to_be_visible()
        legends = page.locator("#sae-case legend")
        expect(legends).to_have_text(["报告者", "住院", "死亡", "相关既往病史", "合并用药",
                                      "相关检查及结果", "去激发与再激发"])  # fmt: skip
        expect(page.locator("#sae-case h2")).to_have_text("严重不良事件（SAE）病例资料")
        page.get_by_test_id("add-conmeds").click()
        expect(page.get_by_test_id("sae-conmeds").locator("th").first).to_have_text("药品名称")
        page.get_by_test_id("sae-case").screenshot(path=str(SCREENSHOTS / "pv-zh-case-form.png"))
    finally:
        context.close()
