"""Issue 15, points 7 and 8 in Chromium: the history people can read, the raw record for
administrators only, the xlsx download of a report table with the session's log-in, the
save banner and the favicon. Screenshots: /tmp/pv-finish-*.png."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlmodel import select

from pv.auth.models import User
from pv.auth.service import actor_for
from pv.db import make_engine, write_session
from pv.events.rules import EventInput
from pv.events.service import create_event, update_event
from pv.study.models import Subject
from tests.live.conftest import ADMIN, INVESTIGATOR, OFFICER, Person

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]
SHOTS = Path("/tmp")


def _event_with_a_recode(live: LiveServer) -> int:
    """A submitted infusion reaction with per-drug values, then a follow-up recoding it to
    Lung infection (both by the investigator, whose full name is set)."""
    engine = make_engine(live.db_url)
    try:
        with write_session(engine) as s:
            for username, full_name in ((INVESTIGATOR[0], "Li Wei"), (ADMIN[0], "Zhang Min")):
                user = s.exec(select(User).where(User.username == username)).one()
                user.full_name = full_name
                s.add(user)
            inv = s.exec(select(User).where(User.username == INVESTIGATOR[0])).one()
            subject = s.get(Subject, live.subject_id)
            data = dict(aeterm="shivers during infusion", aelltcd="10051792", aetoxgr=2,
                        aeser=False, aestdtc="2021-03-02", aeendtc="2021-03-04",
                        aeout="RECOVERED/RESOLVED",
                        aerel={"belimumab": "RELATED", "prednisone": "NOT RELATED"})  # fmt: skip
            event, _ = create_event(session=s, actor=actor_for(inv), subject=subject,
                                    data=EventInput(**data), submit=True)  # fmt: skip
            update_event(session=s, actor=actor_for(inv), event_id=event.id,
                         data=EventInput(**{**data, "aeterm": "fever and cough, pneumonia",
                                            "aelltcd": "10061229", "aetoxgr": 3}),
                         expected_version=event.version,
                         reason="CT confirmed pneumonia")  # fmt: skip
            return int(event.id)  # type: ignore[arg-type]
    finally:
        engine.dispose()


def test_history_downloads_banner_and_favicon(
    browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    from openpyxl import load_workbook
    from playwright.sync_api import expect

    live = live_server
    event_id = _event_with_a_recode(live)

    # The investigator saves a follow-up in the form: a clear success banner.
    inv = Person(browser, live, *INVESTIGATOR)
    page = inv.page
    page.goto(f"/events/{event_id}/edit")
    page.locator("select[name='aerel.prednisone']").select_option("POSSIBLY RELATED")
    page.locator("input[name=reason]").fill("prednisone dose raised the week before")
    page.get_by_role("button", name="Save follow-up").click()
    banner = page.get_by_role("status").filter(has_text="Saved (version")
    expect(banner).to_be_visible()
    expect(banner).to_have_text(re.compile(r"Saved \(version 3\)\."))
    box = banner.bounding_box()
    assert box is not None and box["height"] >= 36 and box["width"] >= 400, box
    inv.shot(SHOTS / "pv-finish-saved.png")

    # The history as a person reads it.
    history = page.locator("#history")
    expect(history).to_contain_text("Li Wei (inv01)")
    expect(history).to_contain_text(
        "CTCAE term: Infusion related reaction (10051792) → Lung infection (10061229)"
    )
    expect(history).to_contain_text("CTCAE grade: 2 → 3")
    expect(history).to_contain_text(
        "Relationship to the study drugs: Belimumab: Related; Prednisone: Not related → "
        "Belimumab: Related; Prednisone: Possibly related"
    )
    text = history.inner_text()
    for raw in ("aerel", "aelltcd", "belimumab:", "term_id", "{'"):
        assert raw not in text, raw
    expect(page.get_by_test_id("raw-record")).to_have_count(0)  # not for investigators
    history.scroll_into_view_if_needed()
    inv.shot(SHOTS / "pv-finish-history-investigator.png")
    assert not inv.problems, inv.problems

    # The administrator opens the stored record of an entry.
    admin = Person(browser, live, *ADMIN)
    page = admin.page
    page.goto(f"/events/{event_id}")
    raw = page.get_by_test_id("raw-record")
    expect(raw).to_have_count(3)
    expect(raw.nth(1).locator("pre")).not_to_be_visible()
    raw.nth(1).get_by_text("Raw record").click()
    expect(raw.nth(1).locator("pre")).to_be_visible()
    expect(raw.nth(1).locator("pre")).to_contain_text('"aelltcd": [')
    expect(raw.nth(1).locator("pre")).to_contain_text('"10061229"')
    expect(page.locator("#history")).to_contain_text("Lung infection (10061229)")
    raw.nth(1).scroll_into_view_if_needed()
    admin.shot(SHOTS / "pv-finish-history-admin.png")
    assert not admin.problems, admin.problems

    # A report table downloads as xlsx with the session's log-in (no token).
    officer = Person(browser, live, *OFFICER)
    page = officer.page
    page.goto(f"/reports?study={live.study_id}&table=AET02")
    expect(page.locator("#report-table")).to_be_visible()
    link = page.get_by_role("link", name="Download as Excel (xlsx)")
    expect(link).to_be_visible()
    officer.shot(SHOTS / "pv-finish-reports.png")
    with page.expect_download() as got:
        link.click()
    saved = tmp_path / "table.xlsx"
    got.value.save_as(saved)
    assert got.value.suggested_filename == f"{live.study_id}-AET02-en.xlsx"
    ws = load_workbook(saved).active
    assert str(ws["A1"].value).startswith("AET02: ")
    labels = [c.value for c in ws["A"] if isinstance(c.value, str)]
    shown = page.locator("#report-table tbody tr td:first-child").all_inner_texts()
    assert shown and all(t.strip() in labels for t in shown), (shown, labels)
    assert "Safety population (N)" in labels
    assert not officer.problems, officer.problems

    # The favicon.
    icon = httpx.get(f"{live.base_url}/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/")
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert href and httpx.get(f"{live.base_url}{href}").headers["content-type"].startswith("image/")
