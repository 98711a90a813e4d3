"""Blinding in a real Chromium (issue 13, point 7).

The demo study is made blinded (as an admin would, `pvtracker blinding set`). The safety
officer, without the unblinded permission, opens the subject's page: the arm reads
"Blinded" and the combination arm's name is nowhere on the page. A wrong password is
refused in place; with the reason and the right password the facts and the unblinding
section are swapped for the arm and the unblinding record, and stay so after a reload.
A second officer sees that the subject was unblinded, by whom and why, and still a masked
arm. A screenshot goes to /tmp.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pv.audit.service import Actor
from pv.blinding.service import set_blinded
from pv.db import make_engine, write_session
from tests.live.conftest import COMBINATION_ARM, Person

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]
REASON = "SUSAR: expedited report to the regulator needs the treatment"


def _blind(live: LiveServer) -> None:
    engine = make_engine(live.db_url)
    try:
        with write_session(engine) as session:
            set_blinded(session=session, actor=Actor.system("live-test"),
                        study_id=live.study_id, blinded=True)  # fmt: skip
    finally:
        engine.dispose()


def test_a_masked_arm_and_unblinding_one_subject(live_server: LiveServer, browser: Browser) -> None:
    live = live_server
    _blind(live)
    officer = Person(browser, live, live.officer, live.officer_password)
    page = officer.page
    page.goto(f"/subjects/{live.subject_id}")
    arm = page.get_by_test_id("subject-arm")
    assert arm.inner_text().strip() == "Blinded"
    assert COMBINATION_ARM not in page.content()

    form = page.get_by_test_id("unblind-form")
    form.get_by_label("Reason for unblinding").fill(REASON)
    form.get_by_label("Your password (signature)").fill("not the password")
    form.get_by_role("button", name="Sign and unblind").click()
    alert = page.get_by_test_id("unblinding").get_by_role("alert")
    alert.wait_for()
    assert "the password is wrong" in alert.inner_text()
    assert COMBINATION_ARM not in page.content()
    # the reason typed is kept; the password is asked again
    form = page.get_by_test_id("unblind-form")
    assert form.get_by_label("Reason for unblinding").input_value() == REASON
    form.get_by_label("Your password (signature)").fill(live.officer_password)
    form.get_by_role("button", name="Sign and unblind").click()
    done = page.get_by_test_id("unblinded-now")
    done.wait_for()
    assert f"this subject's arm is {COMBINATION_ARM}" in done.inner_text()
    record = page.get_by_test_id("unblinding-list").inner_text()
    assert REASON in record and f"({live.officer})" in record
    assert page.get_by_test_id("unblind-form").count() == 0
    # the swap also replaced the subject's facts: the arm shows without a reload
    assert COMBINATION_ARM in page.get_by_test_id("subject-arm").inner_text()
    officer.shot(Path("/tmp/pv-blinding-unblinded.png"))

    page.reload()
    assert COMBINATION_ARM in page.get_by_test_id("subject-arm").inner_text()

    other = Person(browser, live, live.officer2, live.officer2_password)
    other.page.goto(f"/subjects/{live.subject_id}")
    assert other.page.get_by_test_id("subject-arm").inner_text().strip() == "Blinded"
    assert REASON in other.page.get_by_test_id("unblinding-list").inner_text()
    assert COMBINATION_ARM not in other.page.content()
    assert officer.problems == [] and other.problems == []
