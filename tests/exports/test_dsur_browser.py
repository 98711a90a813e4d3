"""The reports page's DSUR form in a real Chromium (tests/live's server and browser): the
form names its own study (the page shows another study's tables); a wrong date is refused
beside its field after the htmx swap (the page stays, the typed values too); corrected,
the same button downloads the workbook, whose tabulation is the hand-derived one of
tests/exports/test_dsur.py. Screenshot: /tmp/dsur-form-refused.png."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from openpyxl import load_workbook

from pv.db import make_engine
from tests.exports.test_dsur import LIST, STUDY, TAB, TABULATION, build_study, rows
from tests.live.conftest import Person, browser, live_server  # noqa: F401 (fixtures)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]
SHOT = Path("/tmp/dsur-form-refused.png")


def test_refused_beside_the_field_then_downloaded(
    live_server: LiveServer,  # noqa: F811
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    engine = make_engine(live_server.db_url)
    try:
        build_study(engine)
    finally:
        engine.dispose()
    officer = Person(browser, live_server, live_server.officer, live_server.officer_password)
    page = officer.page
    page.goto("/reports?study=NCT04660565")  # the tables of another study
    form = page.get_by_test_id("dsur-form")
    form.get_by_label("Study").select_option(STUDY)  # the DSUR form's own choice
    form.get_by_label("Reporting period from").fill("2021-13-01")
    form.get_by_label("to (data lock point)").fill("2021-12-31")
    form.get_by_role("button", name="Download DSUR .xlsx").click()
    error = page.get_by_test_id("dsur-error-from")
    error.wait_for()
    assert "is not a date of the calendar" in error.inner_text()
    # the page is still the reports page, with the form and what was typed
    assert page.get_by_role("heading", name="Safety tables").is_visible()
    form = page.get_by_test_id("dsur-form")
    assert form.get_by_label("Reporting period from").input_value() == "2021-13-01"
    assert form.get_by_label("Study").input_value() == STUDY
    assert page.get_by_test_id("dsur-error-to").count() == 0
    officer.shot(SHOT)

    form.get_by_label("Reporting period from").fill("2021-01-01")
    with page.expect_download() as got:
        form.get_by_role("button", name="Download DSUR .xlsx").click()
    saved = tmp_path / "dsur.xlsx"
    got.value.save_as(saved)
    assert got.value.suggested_filename == f"{STUDY}-dsur-2021-01-01-2021-12-31.xlsx"
    wb = load_workbook(saved)
    assert rows(wb[TAB]) == TABULATION
    assert len(rows(wb[LIST])) == 3
    assert page.get_by_test_id("dsur-error-from").count() == 0
    assert officer.problems == []
