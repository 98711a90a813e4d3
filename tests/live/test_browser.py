"""The investigator's AE form in a real Chromium (issue 3 acceptance).

Logs in, codes "infus" -> "Infusion related reaction" through the typeahead, sees the term's
five grade texts, submits a grade 2 event and finds it in the event list. Then picks
Anaphylaxis, whose grades 1 and 2 do not exist, forces grade 1 anyway (a tampered or stale
form), and checks that the error is shown beside the grade choices with nothing typed lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, select

from pv.db import make_engine
from pv.terminology.models import Term

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]

INFUSION = ("10051792", "Infusion related reaction")
ANAPHYLAXIS = ("10002218", "Anaphylaxis")
SCREENSHOTS = Path("/tmp")


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.base_url)
    context.set_default_timeout(10_000)
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    pg.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield pg
    context.close()
    assert not problems, problems


def _grade_texts(db_url: str, code: str) -> list[str | None]:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            term = session.exec(select(Term).where(Term.code == code)).first()
            assert term is not None, f"CTCAE term {code} is not loaded"
            return [term.grade_text(g) for g in range(1, 6)]
    finally:
        engine.dispose()


def _log_in(page: Page, live: LiveServer) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(live.investigator)
    page.get_by_label("Password").fill(live.investigator_password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))


def _open_report_form(page: Page, live: LiveServer) -> None:
    page.goto("/subjects")
    row = page.locator("tr", has_text=live.usubjid)
    row.get_by_role("link", name="Report an AE").click()
    page.wait_for_url(re.compile(rf"/events/new\?subject={live.subject_id}$"))


def _choose_term(page: Page, typed: str, term: str) -> None:
    from playwright.sync_api import expect

    with page.expect_response(lambda r: "/terms/search" in r.url) as searched:
        page.get_by_test_id("term-search").press_sequentially(typed, delay=30)
    option = page.locator("ul.typeahead-results button", has_text=term)
    try:
        expect(option.first).to_be_visible()
    except AssertionError as exc:
        raise AssertionError(
            f"typing {typed!r} offered no {term!r}: the typeahead asked "
            f"{searched.value.url} and showed {page.locator('#term-results').inner_html()!r}"
        ) from exc
    option.first.click()
    expect(page.get_by_test_id("chosen-term")).to_have_text(term)


def _fill_rest(page: Page, live: LiveServer, onset: str) -> None:
    page.locator("input[name=aestdtc]").fill(onset)
    page.locator("#aeser-N").check()
    page.locator("select[name=aeout]").select_option("RECOVERED/RESOLVED")
    for key in live.drug_keys:
        page.locator(f"select[name='aerel.{key}']").select_option("POSSIBLY RELATED")
        page.locator(f"select[name='aeacn.{key}']").select_option("DOSE NOT CHANGED")


def test_investigator_reports_an_event_in_the_browser(page: Page, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    live = live_server
    _log_in(page, live)

    # 1. Infusion related reaction: the five grade texts, a grade 2 submission, the list.
    _open_report_form(page, live)
    page.locator("input[name=aeterm]").fill("Chills and flushing during belimumab infusion")
    _choose_term(page, "infus", INFUSION[1])
    grades = page.locator("#grade-choices label")
    expect(grades).to_have_count(5)
    for g, text in enumerate(_grade_texts(live.db_url, INFUSION[0]), start=1):
        assert text, f"{INFUSION[1]} should define grade {g}"
        expect(grades.nth(g - 1)).to_contain_text(f"Grade {g}")
        expect(grades.nth(g - 1)).to_contain_text(text)
        expect(page.locator(f"input[name=aetoxgr][value='{g}']")).to_be_enabled()
    expect(page.locator("input[name=aelltcd]")).to_have_value(INFUSION[0])
    page.locator("input[name=aetoxgr][value='2']").check()
    _fill_rest(page, live, onset="2021-03-10")
    page.locator("input[name=aeendtc]").fill("2021-03-11")
    page.screenshot(path=str(SCREENSHOTS / "pv-live-infusion-form.png"), full_page=True)
    page.locator("button[name=action][value=submit]").click()
    page.wait_for_url(re.compile(r"/events/\d+\?saved=1$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(INFUSION[1])

    page.goto("/events")
    table = page.get_by_test_id("event-table")
    row = table.locator("tbody tr", has_text="Chills and flushing during belimumab infusion")
    expect(row).to_have_count(1)
    cells = row.locator("td")
    expect(cells.nth(0)).to_have_text(live.usubjid)
    expect(cells.nth(2)).to_have_text(INFUSION[1])
    expect(cells.nth(3)).to_have_text("2")
    expect(cells.nth(5)).to_have_text("2021-03-10")
    expect(cells.nth(6)).to_have_text("submitted")

    # 2. Anaphylaxis has no grade 1 or 2: force grade 1 and expect the error beside the field.
    _open_report_form(page, live)
    verbatim = "Anaphylactic reaction after contrast"
    page.locator("input[name=aeterm]").fill(verbatim)
    _choose_term(page, "anaph", ANAPHYLAXIS[1])
    for g in (1, 2):
        expect(page.locator(f"input[name=aetoxgr][value='{g}']")).to_be_disabled()
    for g in (3, 4, 5):
        expect(page.locator(f"input[name=aetoxgr][value='{g}']")).to_be_enabled()
    page.evaluate(
        "document.querySelector(\"input[name=aetoxgr][value='1']\").removeAttribute('disabled')"
    )
    page.locator("input[name=aetoxgr][value='1']").check()
    _fill_rest(page, live, onset="2021-04-02")
    page.locator("input[name=aecontrt]").fill("epinephrine 0.5 mg IM")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.locator("button[name=action][value=submit]").click()
    assert answer.value.status == 422
    page.wait_for_load_state()
    page.screenshot(path=str(SCREENSHOTS / "pv-live-grade-error.png"), full_page=True)

    expect(page.get_by_role("alert").first).to_contain_text("not saved")
    error = page.locator("#grade-choices #error-aetoxgr")  # inside the grade fieldset
    expect(error).to_be_visible()
    expect(error).to_contain_text("grade 1 does not exist for Anaphylaxis")
    expect(page.locator("#grade-choices")).to_have_class(re.compile(r"\bhas-error\b"))
    # Nothing typed is lost.
    expect(page.locator("input[name=aeterm]")).to_have_value(verbatim)
    expect(page.locator("input[name=aestdtc]")).to_have_value("2021-04-02")
    expect(page.locator("input[name=aecontrt]")).to_have_value("epinephrine 0.5 mg IM")
    expect(page.locator("input[name=aelltcd]")).to_have_value(ANAPHYLAXIS[0])
    expect(page.get_by_test_id("chosen-term")).to_have_text(ANAPHYLAXIS[1])
    expect(page.locator("#aeser-N")).to_be_checked()
    expect(page.locator("select[name=aeout]")).to_have_value("RECOVERED/RESOLVED")
    for key in live.drug_keys:
        expect(page.locator(f"select[name='aerel.{key}']")).to_have_value("POSSIBLY RELATED")
    # The valid grades can still be chosen, and nothing was stored.
    expect(page.locator("input[name=aetoxgr][value='3']")).to_be_enabled()
    page.goto("/events")
    expect(page.get_by_test_id("event-table").locator("tbody tr", has_text=verbatim)).to_have_count(
        0
    )
