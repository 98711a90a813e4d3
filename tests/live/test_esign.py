"""An electronic signature in a real Chromium (issue 13 point 5 acceptance).

The site reports a serious infection through the API. The officer starts the review,
fills in the assessment and the sign box ("Sign: assessed", with the statement), types a
wrong password: the page comes back with the message next to the password field, the
typed assessment kept, and nothing stored. With the right password the assessment is
saved and the signature (printed name, UTC time, meaning, version, valid) is on the event
page. Screenshots: /tmp/pv-esign-refused.png, /tmp/pv-esign-signed.png.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.live.conftest import Person

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]

SHOTS = Path("/tmp")
LUNG = "10061229"
PRINTED_NAME = "Olivia Chen"


def _name_the_officer(live: LiveServer) -> None:
    from sqlmodel import Session, select

    from pv.auth.models import User
    from pv.db import make_engine

    engine = make_engine(live.db_url)
    try:
        with Session(engine) as s:
            user = s.exec(select(User).where(User.username == live.officer)).one()
            user.full_name = PRINTED_NAME
            s.add(user)
            s.commit()
    finally:
        engine.dispose()


def _report(live: LiveServer) -> int:
    body = {
        "usubjid": live.usubjid,
        "aeterm": "fever and productive cough",
        "aelltcd": LUNG,
        "aetoxgr": 3,
        "aeser": "Y",
        "aeshosp": "Y",
        "aestdtc": "2021-03-02",
        "aeendtc": "2021-03-20",
        "aeawaredtc": "2021-03-02",
        "aeout": "RECOVERED/RESOLVED",
        "narrative": "Admitted to hospital.",
        "aerel": {"belimumab": "POSSIBLY RELATED", "prednisone": "NOT RELATED"},
        "aeacn": {k: "DOSE NOT CHANGED" for k in live.drug_keys},
    }
    with live.api() as client:
        r = client.post("/api/v1/events", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_an_officer_signs_an_assessment_and_a_wrong_password_is_refused(
    browser: Browser, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    from pv.review.models import Assessment
    from pv.signatures.models import Signature

    live = live_server
    _name_the_officer(live)
    event_id = _report(live)
    officer = Person(browser, live, live.officer, live.officer_password)
    page = officer.page
    page.goto(f"/review/events/{event_id}")
    page.get_by_role("button", name="Start review").click()
    expect(page.get_by_test_id("event-status")).to_have_text("under review")
    page.wait_for_load_state("load")

    form = page.get_by_test_id("assessment-form")
    form.locator("input[name=awareness_date]").fill("2021-03-04")
    form.locator("input[name=awareness_date]").press("Tab")
    expect(form.locator("#expectedness legend")).to_contain_text("2021-03-04")
    form.locator("input[name=seriousness_confirmed][value=Y]").check()
    form.locator("select[name='causality.belimumab']").select_option("probable")
    form.locator("select[name='causality.prednisone']").select_option("unlikely")
    box = form.get_by_test_id("sign-assessed")
    expect(box).to_contain_text("Sign: assessed")
    expect(box).to_contain_text("By entering my password I sign this record as “assessed”.")

    # A wrong password: refused, the message next to the field, nothing stored.
    box.get_by_label("Password").fill(live.officer_password + "x")
    with page.expect_response(lambda r: r.request.method == "POST") as sent:
        form.get_by_role("button", name="Save assessment").click()
    assert sent.value.status == 422
    box = page.get_by_test_id("assessment-form").get_by_test_id("sign-assessed")
    expect(box.get_by_test_id("sign-error")).to_have_text(
        "The password is wrong: nothing was signed or saved."
    )
    expect(box.get_by_test_id("sign-error")).to_be_visible()
    expect(box.get_by_label("Password")).to_have_value("")  # never filled in again
    form = page.get_by_test_id("assessment-form")
    expect(form.locator("select[name='causality.belimumab']")).to_have_value("probable")
    expect(page.get_by_test_id("event-status")).to_have_text("under review")
    expect(page.get_by_test_id("signatures")).to_have_count(0)
    expect(page.locator("#signatures")).to_contain_text("Nothing signed yet.")
    assert live.count(Signature) == 0 and live.count(Assessment) == 0
    box.scroll_into_view_if_needed()
    officer.shot(SHOTS / "pv-esign-refused.png")

    # The right password: saved and signed; the signature is on the page.
    box.get_by_label("Password").fill(live.officer_password)
    before = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    form.get_by_role("button", name="Save assessment").click()
    page.wait_for_url(re.compile(r"done=assess"))
    expect(page.get_by_test_id("event-status")).to_have_text("assessed")
    expect(page.get_by_test_id("susar-result")).to_contain_text("SUSAR")
    rows = page.get_by_test_id("signatures").get_by_test_id("signature")
    expect(rows).to_have_count(1)
    cells = rows.first.locator("td")
    expect(cells.nth(0)).to_have_text("assessed")
    expect(cells.nth(1)).to_have_text(f"{PRINTED_NAME} ({live.officer})")
    expect(cells.nth(3)).to_have_text("Event")
    expect(cells.nth(4)).to_have_text("3")
    expect(cells.nth(5)).to_have_text("valid for the current version")
    when = datetime.strptime(cells.nth(2).inner_text().strip(), "%Y-%m-%d %H:%M:%S")
    assert before <= when <= datetime.now(UTC).replace(tzinfo=None)  # UTC
    assert live.count(Signature) == 1 and live.count(Assessment) == 1
    page.locator("#signatures").scroll_into_view_if_needed()
    officer.shot(SHOTS / "pv-esign-signed.png")
    assert not officer.problems, officer.problems
