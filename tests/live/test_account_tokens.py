"""The account page in a real Chromium (issue 13, point 3): the investigator opens their
account from the header, sees their API token (label, created, expires, last used), creates
a labelled token that is shown once, and revokes the seeded token with its button: htmx
swaps the row, which now says "Revoked", and the API refuses that token while the other
still works. Screenshot: /tmp/pv-account-tokens.png.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.live.conftest import Person

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]


def test_the_owner_creates_and_revokes_a_token_on_the_account_page(
    browser: Browser, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    live = live_server
    # the seeded token works, and its use is recorded
    with live.api() as api:
        assert api.get("/api/v1/subjects").status_code == 200
    person = Person(browser, live, live.investigator, live.investigator_password)
    page = person.page
    page.get_by_test_id("account-link").click()
    page.wait_for_url(re.compile(r"/account$"))
    expect(page.get_by_role("heading", name="Personal API tokens")).to_be_visible()
    rows = page.get_by_test_id("token-row")
    expect(rows).to_have_count(1)
    seeded = rows.first
    expect(seeded.get_by_test_id("token-state")).to_have_text("Active")
    cells = seeded.locator("td")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", cells.nth(2).inner_text())  # expires
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", cells.nth(3).inner_text())  # used

    # a new token, labelled, shown once
    page.get_by_label("Label").fill("weekly listing script")
    page.get_by_role("button", name="Create a token").click()
    shown = page.get_by_test_id("new-token")
    expect(shown).to_contain_text("shown only once")
    new_token = shown.locator("code").inner_text()
    assert new_token.startswith("pvt_")
    expect(page.get_by_test_id("token-row")).to_have_count(2)
    expect(page.get_by_test_id("token-row").filter(has_text="weekly listing script")).to_have_count(
        1
    )

    # revoke the seeded token: htmx replaces its row in place
    seeded = page.get_by_test_id("token-row").filter(has_not_text="weekly listing script")
    with page.expect_response(lambda r: "/revoke" in r.url and r.status == 200):
        seeded.get_by_test_id("revoke-token").click()
    seeded = page.get_by_test_id("token-row").filter(has_not_text="weekly listing script")
    expect(seeded.get_by_test_id("token-state")).to_have_text(re.compile(r"^Revoked \d{4}-"))
    expect(seeded.get_by_test_id("revoke-token")).to_have_count(0)
    expect(page.get_by_test_id("new-token")).to_be_visible()  # no page reload: a swap
    page.screenshot(path="/tmp/pv-account-tokens.png", full_page=True)

    with live.api() as api:
        assert api.get("/api/v1/subjects").status_code == 401
    with live.api(token=new_token) as api:
        assert api.get("/api/v1/subjects").status_code == 200
    page.reload()  # the token is not shown again
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    assert new_token not in page.content()
    assert person.problems == []
