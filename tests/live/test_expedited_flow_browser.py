"""Issue 16's acceptance walk in a real Chromium: expedited reporting end to end.

A site reports a serious infection; the safety officer assesses it as a SUSAR (the 15-day
clock opens), then on the review page, without reloading it:
1. completes the SAE case data (reporter, hospitalization, a concomitant medication, a
   test, dechallenge) and sees it saved;
2. prepares the initial report (version 1) and downloads its CIOMS I PDF and its E2B(R3)
   XML: the PDF's text and the XML carry the case data just typed;
3. records the submission to the regulator, signed with the password; the file stored is
   the one downloaded (same SHA-256), and the clock shows "sent";
4. uploads the regulator's acknowledgement (an MCCI_IN200101UV01 accepting the report) and
   sees "accepted"; the clocks page lists the report under "Sent", not open.

Screenshots: /tmp/pv-expedited-*.png.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from lxml import etree

from pv.icsr.ack import build_ack
from pv.icsr.models import AckOutcome
from tests.icsr.pdftext import norm, page_texts
from tests.live.conftest import Person
from tests.live.test_review_browser import LUNG, _assess, _report

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]
SHOTS = Path("/tmp")
HL7 = {"h": "urn:hl7-org:v3"}
REGULATOR = "NMPA Center for Drug Evaluation"
# Awareness a few days ago: the 15-day clock is open, not overdue, when it is sent today.
AWARE = date.today() - timedelta(days=3)


def _download(page: Page, link_name: str, target: Path) -> bytes:
    with page.expect_download() as got:
        page.get_by_test_id("version-downloads").get_by_role("link", name=link_name).click()
    got.value.save_as(target)
    return target.read_bytes()


def test_the_officer_sends_a_susar_and_sees_its_clock_closed(
    live_server: LiveServer, browser: Browser, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    live = live_server
    onset = AWARE.isoformat()
    event_id = _report(live, aeterm="fever and productive cough", aelltcd=LUNG, aetoxgr=3,
                       aeser="Y", aeshosp="Y", aestdtc=onset, aeawaredtc=onset,
                       aeout="RECOVERING/RESOLVING", narrative="Admitted to hospital.")  # fmt: skip
    officer = Person(browser, live, live.officer, live.officer_password)
    page = officer.page
    page.goto(f"/review/events/{event_id}")
    page.get_by_role("button", name="Start review").click()
    _assess(page, AWARE, {"belimumab": "probable", "prednisone": "unlikely"}, live.officer_password)
    page.get_by_role("button", name="Save assessment").click()
    expect(page.get_by_test_id("susar-result")).to_contain_text("SUSAR")
    due = (AWARE + timedelta(days=15)).isoformat()
    expect(page.get_by_test_id("event-reports")).to_contain_text(due)
    expect(page.get_by_test_id("event-reports")).to_contain_text("open")

    # 1. The SAE case data, saved by htmx on the review page.
    case = page.get_by_test_id("case-data")
    case.get_by_test_id("sae-reporter_name").fill("Dr Li Wei")
    case.get_by_test_id("sae-reporter_contact").fill("+86 10 6915 5000")
    case.get_by_test_id("sae-hosp_admit_date").fill(onset)
    if case.get_by_test_id("conmeds-0-name").count() == 0:
        case.get_by_test_id("add-conmeds").click()
    case.get_by_test_id("conmeds-0-name").fill("Omeprazole")
    case.get_by_test_id("conmeds-0-dose").fill("20")
    case.get_by_test_id("conmeds-0-unit").fill("mg")
    case.get_by_test_id("conmeds-0-start").fill("2020-06-01")
    if case.get_by_test_id("tests-0-name").count() == 0:
        case.get_by_test_id("add-tests").click()
    case.get_by_test_id("tests-0-name").fill("C-reactive protein")
    case.get_by_test_id("tests-0-value").fill("85")
    case.get_by_test_id("tests-0-unit").fill("mg/L")
    case.get_by_test_id("dechallenge-belimumab").select_option("na")
    case.get_by_test_id("save-case-data").click()
    expect(page.get_by_test_id("case-data").get_by_test_id("sae-saved")).to_contain_text(
        "Case data saved")  # fmt: skip
    officer.shot(SHOTS / "pv-expedited-case-data.png")

    # 2. The initial report version and its two files.
    page.get_by_test_id("prepare-version").click()
    expect(page.get_by_test_id("version-saved")).to_have_text("Version 1 saved.")
    pdf = _download(page, "CIOMS I (English)", tmp_path / "cioms.pdf")
    text = norm(" ".join(page_texts(pdf)))
    for value in ("Dr Li Wei", "+86 10 6915 5000", "Omeprazole", "C-reactive protein", "85"):
        assert norm(value) in text, value
    xml = _download(page, "E2B(R3) XML", tmp_path / "e2b.xml")
    doc = etree.fromstring(xml)  # well-formed
    # G.k.2.2 the medicinal product as reported: the study drugs and the conmed typed above
    products = doc.xpath("//h:kindOfProduct/h:name/text()", namespaces=HL7)
    assert "Omeprazole" in products, products
    # F.r.2.1 the test name as written, F.r.3.2 its value
    assert "C-reactive protein" in doc.xpath("//h:code/h:originalText/text()", namespaces=HL7)

    # 3. The submission to the regulator: the Expedited reports section already offers
    # version 1 (it reloaded itself when the version was prepared), signed "approved".
    form = page.get_by_test_id("submission-form")
    expect(form.locator("select[name=version_id] option")).to_have_count(1)
    form.locator("select[name=recipient_kind]").select_option("regulator")
    form.locator("input[name=recipient]").fill(REGULATOR)
    form.locator("select[name=channel]").select_option("gateway")
    form.locator("select[name=format]").select_option("e2b")
    form.locator("input[name=password]").fill(live.officer_password)
    form.get_by_role("button", name="Record submission").click()
    submissions = page.get_by_test_id("submissions")
    expect(submissions).to_contain_text(REGULATOR)
    digest = hashlib.sha256(xml).hexdigest()
    expect(submissions).to_contain_text(f"SHA-256 {digest[:12]}")  # the file downloaded
    expect(page.get_by_test_id("event-reports")).to_contain_text("sent")
    officer.shot(SHOTS / "pv-expedited-submitted.png")

    # 4. The regulator's ACK accepts it.
    ack = tmp_path / "ack.xml"
    ack.write_bytes(build_ack(xml, AckOutcome.accepted))
    row = submissions.locator("tr[data-testid^=submission-]").first
    row.locator("input[name=ack]").set_input_files(str(ack))
    row.get_by_role("button", name="Upload ACK").click()
    expect(page.get_by_test_id("submissions")).to_contain_text("accepted")
    officer.shot(SHOTS / "pv-expedited-ack.png")

    page.goto("/clocks?show=all")
    expect(page.get_by_test_id("clocks-sent")).to_contain_text(due)
    for key in ("overdue", "soon", "open"):  # the sections present list no such clock
        section = page.get_by_test_id(f"clocks-{key}")
        if section.count():
            expect(section).not_to_contain_text(due)
    officer.shot(SHOTS / "pv-expedited-clocks.png")
    assert officer.problems == []
