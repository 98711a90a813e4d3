"""The Chinese interface in a real Chromium whose language is zh-CN (issue 20).

An investigator logs in, reports an adverse event found by a Chinese word, fixes an upload
error and stores the file; a safety officer works the review queue, opens an assessment,
reads a table in Chinese and downloads its CSV and the DSMB workbook. On every page the
visible text (after the htmx swaps) holds no English phrase outside an allow-list: the
terminology (CTCAE terms, SOCs and grade texts are English data), the study's own record
(title, arms, sponsor), what the test typed, and codes. Screenshots: /tmp/pv-zh-*.png.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import select

from pv.db import make_engine, read_session
from pv.events.models import AdverseEvent
from pv.study.models import Arm, Drug, Site, Study
from pv.terminology.models import Term
from tests.icsr.pdftext import norm, page_texts
from tests.live.conftest import INVESTIGATOR, OFFICER

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]

SHOTS = Path("/tmp")
LUNG_INFECTION = ("10061229", "Lung infection")
TERM_ZH = "右下肺炎，发热咳嗽"
TERM_EN = "Right lower lobe pneumonia"
# Two or more English words in a row: a phrase of the interface left untranslated.
ENGLISH = re.compile(r"[A-Za-z][A-Za-z'’]+(?:[ \-/,:;()]+[A-Za-z][A-Za-z'’]+)+")
# Codes and names that are English in every language: the product, standards, units, and
# the peer rule the TEAE footnote cites (an R package and its function).
ALWAYS = ["pv-tracker", "NCI CTCAE v5.0", "CTCAE v5.0", "MedDRA", "CONFIRM_DUPLICATE",
          "English", "DSMB", "SUSAR", "TEAE", "AESI", "USUBJID", "AETERM", "AESTDTC",
          "RECOVERED/RESOLVED", "NOT RELATED", "POSSIBLY RELATED", "YYYY-MM-DDThh:mm",
          "YYYY-MM-DD", "YYYY-MM", "Kaplan-Meier",
          "admiral derive_var_trtemfl",
          # the upload's sheet names are codes, like the CDISC variable names
          "SAE_CASE, MEDICAL_HISTORY, CONMEDS, TESTS, CHALLENGE"]  # fmt: skip


def _data_texts(db_url: str) -> list[str]:
    """What the pages may show in English because it is data, not interface."""
    engine = make_engine(db_url)
    try:
        with read_session(engine) as s:
            out: set[str] = set()
            for t in s.exec(select(Term)):
                out.update(v for v in (t.term, t.soc, t.definition, t.navigational_note,
                                       t.grade_1, t.grade_2, t.grade_3, t.grade_4, t.grade_5)
                           if v)  # fmt: skip
            for st in s.exec(select(Study)):
                out.update(v for v in (st.title, st.official_title, st.sponsor, st.phase,
                                       st.brief_summary, st.overall_status, st.study_type,
                                       st.allocation, st.masking, st.conditions) if v)  # fmt: skip
            for a in s.exec(select(Arm)):
                out.update(v for v in (a.label, a.description, a.arm_type) if v)
            for d in s.exec(select(Drug)):
                out.update((d.name, d.key))
            for site in s.exec(select(Site)):
                out.update(v for v in (site.name, site.city, site.country) if v)
            return sorted(out)
    finally:
        engine.dispose()


def english_phrases(page: Page, allowed: list[str]) -> list[str]:
    text = page.evaluate("() => document.body.innerText")
    for a in sorted(allowed, key=len, reverse=True):
        text = text.replace(a, " ")
    return sorted(set(ENGLISH.findall(text)))


class ZhPerson:
    """One user's Chromium context in Simplified Chinese (Accept-Language zh-CN), logged in
    through the Chinese log-in page."""

    def __init__(self, browser: Browser, live: LiveServer, username: str, password: str,
                 allowed: list[str]) -> None:  # fmt: skip
        self.context = browser.new_context(base_url=live.base_url, locale="zh-CN",
                                           viewport={"width": 1360, "height": 900},
                                           accept_downloads=True)  # fmt: skip
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.allowed = allowed + [username, live.usubjid, live.study_id]
        self.problems: list[str] = []
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.goto("/login")
        self.check("login")
        self.page.locator("input[name=username]").fill(username)
        self.page.locator("input[name=password]").fill(password)
        self.page.locator("form[action='/login'] button[type=submit]").click()
        self.page.wait_for_url(re.compile(r"/$"))

    def check(self, name: str) -> None:
        """The page is in Chinese: `<html lang>`, and no English phrase but data."""
        assert self.page.locator("html").get_attribute("lang") == "zh-Hans", name
        self.page.screenshot(path=str(SHOTS / f"pv-zh-{name}.png"), full_page=True)
        found = english_phrases(self.page, self.allowed)
        assert not found, f"{name}: English left on the page: {found}"

    def close(self) -> None:
        assert not self.problems, self.problems
        self.context.close()


@pytest.fixture
def allowed(live_server: LiveServer) -> list[str]:
    return [*ALWAYS, *_data_texts(live_server.db_url)]


@pytest.fixture
def inv(browser: Browser, live_server: LiveServer, allowed: list[str]) -> Iterator[ZhPerson]:
    person = ZhPerson(browser, live_server, *INVESTIGATOR, allowed=allowed + [TERM_EN])
    yield person
    person.close()


def _csv(usubjid: str, drugs: list[str], onset: str) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["USUBJID", "AETERM", "AELLTCD", "AETOXGR", "AESER", "AESTDTC", "AEENDTC",
                "AEOUT", *[f"AEREL_{d.upper()}" for d in drugs]])  # fmt: skip
    w.writerow([usubjid, "带状疱疹", "10040555", "2", "N", onset, "", "RECOVERING/RESOLVING",
                *["NOT RELATED"] * len(drugs)])  # fmt: skip
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # as Excel saves "CSV UTF-8"


def test_investigator_works_in_chinese(inv: ZhPerson, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    live, page = live_server, inv.page
    inv.check("home")
    # The header's switch: English and back, the user's setting saved each time.
    page.get_by_test_id("language-switch").get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_test_id("language-switch").get_by_role("button", name="简体中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")

    # 1. Report an AE, the term found by a Chinese word, the reason shown in Chinese.
    page.goto(f"/events/new?subject={live.subject_id}")
    inv.check("event-form")
    page.locator("input[name=aeterm]").fill(TERM_ZH)
    page.locator("input[name=aeterm_en]").fill(TERM_EN)
    with page.expect_response(lambda r: "/terms/search" in r.url):
        page.get_by_test_id("term-search").press_sequentially("肺炎", delay=30)
    option = page.locator("ul.typeahead-results button", has_text=LUNG_INFECTION[1]).first
    expect(option).to_be_visible()
    expect(page.locator("ul.typeahead-results")).to_contain_text("肺炎")
    expect(page.locator("ul.typeahead-results")).to_contain_text("同义词")
    inv.check("term-search")
    option.click()
    expect(page.get_by_test_id("chosen-term")).to_have_text(LUNG_INFECTION[1])
    page.locator("input[name=aetoxgr][value='2']").check()
    page.locator("input[name=aestdtc]").fill("2021-03-10")
    page.locator("#aeser-N").check()
    page.locator("select[name=aeout]").select_option("RECOVERED/RESOLVED")
    for key in live.drug_keys:
        page.locator(f"select[name='aerel.{key}']").select_option("NOT RELATED")
    # A mistake first: the end before the onset, explained in Chinese beside the field.
    page.locator("input[name=aeendtc]").fill("2021-03-01")
    page.locator("button[name=action][value=submit]").click()
    expect(page.locator("#error-aeendtc")).to_be_visible()
    inv.check("event-form-error")
    page.locator("input[name=aeendtc]").fill("2021-03-20")
    page.locator("button[name=action][value=submit]").click()
    page.wait_for_url(re.compile(r"/events/\d+\?saved=1$"))
    expect(page.locator("main")).to_contain_text(TERM_ZH)
    inv.check("event-saved")
    page.goto("/events")
    expect(page.locator("main")).to_contain_text(TERM_ZH)
    inv.check("events")

    # 2. An upload with an error, then fixed.
    page.goto("/upload")
    inv.check("upload")
    page.locator("input[type=file]").set_input_files(
        {"name": "不良事件.csv", "mimeType": "text/csv",
         "buffer": _csv(live.usubjid, live.drug_keys, "2021-02-30")})  # fmt: skip
    page.locator("form[data-upload-form] button[type=submit]").click()
    expect(page.locator("#upload-result")).to_contain_text("AESTDTC", timeout=30_000)
    expect(page.locator("#upload-result")).to_contain_text("2021-02-30")
    inv.check("upload-error")
    page.locator("input[type=file]").set_input_files(
        {"name": "不良事件.csv", "mimeType": "text/csv",
         "buffer": _csv(live.usubjid, live.drug_keys, "2021-02-28")})  # fmt: skip
    page.locator("form[data-upload-form] button[type=submit]").click()
    expect(page.get_by_test_id("upload-stored")).to_be_visible(timeout=30_000)
    inv.check("upload-stored")
    engine = make_engine(live.db_url)
    try:
        with read_session(engine) as s:
            terms = set(s.exec(select(AdverseEvent.aeterm)).all())
    finally:
        engine.dispose()
    assert {TERM_ZH, "带状疱疹"} <= terms
    for path in ("/subjects", "/queries", "/clocks"):
        page.goto(path)
        inv.check(path.strip("/"))


def test_safety_officer_works_in_chinese(browser: Browser, live_server: LiveServer,
                                         allowed: list[str], tmp_path: Path) -> None:  # fmt: skip
    from playwright.sync_api import expect

    live = live_server
    # An event to review, reported through the API by the site.
    body = {"usubjid": live.usubjid, "aeterm": TERM_ZH, "aeterm_en": TERM_EN,
            "aelltcd": LUNG_INFECTION[0], "aetoxgr": 3, "aeser": "Y", "aeshosp": "Y",
            "aestdtc": "2021-03-10", "aeawaredtc": "2021-03-10",
            "aeout": "RECOVERING/RESOLVING", "aeongo": "N",
            "aerel": dict.fromkeys(live.drug_keys, "POSSIBLY RELATED"),
            "narrative": "患者输注后第3天出现发热、咳嗽，胸部CT示右下肺炎，住院抗感染治疗。",
            "submit": True}  # fmt: skip
    with live.api(live.investigator_token) as api:
        r = api.post("/api/v1/events", json=body)
        assert r.status_code == 201, r.text
        event_id = r.json()["id"]
    officer = ZhPerson(browser, live, *OFFICER, allowed=allowed + [TERM_EN])
    page = officer.page
    try:
        officer.check("officer-home")
        page.goto("/review")
        expect(page.locator("main")).to_contain_text(TERM_ZH)
        officer.check("review-queue")
        page.goto(f"/review/events/{event_id}")
        expect(page.locator("main")).to_contain_text(body["narrative"])
        officer.check("review-event")
        # The case's CIOMS I form with Chinese labels: the reported term and narrative read
        # back from the PDF as written.
        with page.expect_download() as got:
            page.get_by_test_id("icsr-downloads").get_by_role(
                "link", name="CIOMS I 表（PDF，中文标签）").click()  # fmt: skip
        pdf = tmp_path / "cioms.pdf"
        got.value.save_as(pdf)
        assert got.value.suggested_filename.endswith("-CIOMS-zh-Hans.pdf")
        text = "".join(page_texts(pdf.read_bytes()))
        assert norm(TERM_ZH) in text and norm(body["narrative"]) in text
        assert norm("可疑不良反应报告") in text
        for path in ("/clocks", "/charts", "/admin/rsi"):
            page.goto(path)
            officer.check(path.strip("/").replace("/", "-"))
        # A table in Chinese, and its CSV with a byte-order mark.
        page.goto(f"/reports?study={live.study_id}&table=AET01&lang=zh-Hans")
        expect(page.locator("#report-table")).to_be_visible()
        officer.check("reports-table")
        with page.expect_download() as got:
            page.locator("a[href*='/reports/table.csv']").first.click()
        saved = tmp_path / "table.csv"
        got.value.save_as(saved)
        raw = saved.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") and re.search("[\u4e00-\u9fff]", raw.decode())
        # The DSMB workbook in Chinese.
        page.locator("form[action='/reports/dsmb.xlsx'] select[name=lang]").select_option("zh-Hans")
        # The date field is ISO text in Chinese too; its calendar button opens the browser's
        # picker, whose choice (a date input's value is always YYYY-MM-DD) is written back.
        dsmb_form = page.locator("form[action='/reports/dsmb.xlsx']")
        expect(dsmb_form.get_by_test_id("calendar-cutoff")).to_have_text("日历")
        dsmb_form.get_by_test_id("calendar-cutoff").click()
        dsmb_form.locator("input.date-picker").evaluate(
            "p => { p.value = '2021-12-31'; p.dispatchEvent(new Event('change')); }"
        )
        expect(dsmb_form.locator("input[name=cutoff]")).to_have_value("2021-12-31")
        with page.expect_download() as got:
            page.locator("form[action='/reports/dsmb.xlsx'] button[type=submit]").click()
        book_path = tmp_path / "dsmb.xlsx"
        got.value.save_as(book_path)
        from openpyxl import load_workbook

        book = load_workbook(book_path, read_only=True)
        assert any(re.search("[\u4e00-\u9fff]", name) for name in book.sheetnames)
    finally:
        officer.close()
