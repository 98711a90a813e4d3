"""The AE form's term search in a real Chromium (issue 15, points 1 and 8): everyday words
and misspellings find the CTCAE term with the reason shown beside it, and choosing a term
closes the list and shows the chosen term with its grades. Screenshots: /tmp/pv-search-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.live.conftest import INVESTIGATOR, Person

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]

SHOTS = Path("/tmp")
LUNG_INFECTION = ("10061229", "Lung infection")


@pytest.fixture
def investigator(browser: Browser, live_server: LiveServer) -> Iterator[Person]:
    person = Person(browser, live_server, *INVESTIGATOR)
    yield person
    person.context.close()
    assert not person.problems, person.problems


def _search(page: Page, typed: str) -> list[str]:
    """Type into the term search as a person would; the options the list then shows."""
    from playwright.sync_api import expect

    box = page.get_by_test_id("term-search")
    box.fill("")
    with page.expect_response(lambda r: "/terms/search" in r.url and "q=" + typed[:3] in r.url):
        box.press_sequentially(typed, delay=25)
    options = page.locator("#term-results ul.typeahead-results [role=option]")
    # the last keystroke's answer is the one shown
    expect(options.first).to_be_visible()
    page.wait_for_load_state("networkidle")
    return [t.strip() for t in options.all_inner_texts()]


def test_everyday_words_and_misspellings_find_the_term_and_a_choice_closes_the_list(
    investigator: Person, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    page = investigator.page
    page.goto(f"/events/new?subject={live_server.subject_id}")
    code, term = LUNG_INFECTION

    # what clinicians write: the synonym, with why it matched, in the first three
    shown = _search(page, "pneumonia")
    first_three = shown[:3]
    assert any(o.startswith(term) for o in first_three), shown
    option = page.locator("#term-results [role=option]", has_text=term).first
    expect(option).to_contain_text("pneumonia: synonym of Lung infection")
    expect(option).to_contain_text(code)
    investigator.shot(SHOTS / "pv-search-synonym.png")

    # a misspelling finds it too, and says how
    shown = _search(page, "pnuemonia")
    assert any(o.startswith(term) for o in shown[:3]), shown
    option = page.locator("#term-results [role=option]", has_text=term).first
    expect(option).to_contain_text(
        "pnuemonia: close to pneumonia (spelling), synonym of Lung infection"
    )
    investigator.shot(SHOTS / "pv-search-misspelling.png")

    # choosing it closes the list and shows the chosen term with its grades
    option.click()
    expect(page.get_by_test_id("chosen-term")).to_have_text(term)
    expect(page.locator("#term-results [role=option]")).to_have_count(0)
    expect(page.locator("ul.typeahead-results")).to_be_hidden()
    expect(page.locator("#grade-choices")).to_be_visible()
    expect(page.locator("input[name=aelltcd]")).to_have_value(code)
    investigator.shot(SHOTS / "pv-search-chosen.png")

    # typing again opens a new list; the choice stays until another is made
    shown = _search(page, "diarhea")
    assert shown[0].startswith("Diarrhea"), shown
    expect(page.locator("#term-results [role=option]").first).to_contain_text(
        "diarhea: close to Diarrhea (spelling)"
    )
    expect(page.get_by_test_id("chosen-term")).to_have_text(term)
    page.locator("#term-results [role=option]").first.click()
    expect(page.get_by_test_id("chosen-term")).to_have_text("Diarrhea")
    expect(page.locator("ul.typeahead-results")).to_have_count(0)
    assert re.search(r"/events/new\?subject=\d+$", page.url)
