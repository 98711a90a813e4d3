"""/api/docs in a real Chromium (issue 13, point 8): Swagger UI, served by the app from the
npm package swagger-ui-dist, renders the JSON API under the app's own CSP with no request
to any other host (every such request is refused here, as offline), and an operation (the
events list) is visibly there and opens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]


@pytest.fixture
def docs_page(browser: Browser, live_server: LiveServer) -> Iterator[tuple[Page, list[str]]]:
    context = browser.new_context(base_url=live_server.base_url)
    context.set_default_timeout(15_000)
    problems: list[str] = []
    outside: list[str] = []

    def only_the_app(route: Route) -> None:
        if route.request.url.startswith(live_server.base_url):
            route.continue_()
        else:  # offline: nothing but the app answers
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_app)
    page = context.new_page()
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield page, problems
    context.close()
    assert outside == [], outside
    assert problems == [], problems


def test_the_api_docs_show_the_events_operation(docs_page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page, _ = docs_page
    r = page.goto("/api/docs")
    assert r is not None and r.ok
    assert "script-src 'self'" in (r.headers.get("content-security-policy") or "")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("pv-tracker")
    events = page.locator(".opblock.opblock-get").filter(has_text="/api/v1/events").first
    expect(events).to_be_visible()
    expect(events.locator(".opblock-summary-path")).to_have_text("/api/v1/events")
    # Every operation shown is one of the JSON API: no HTML page is documented.
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert paths and all(p.strip().replace("\u200b", "").startswith("/api/") for p in paths)
    assert "/api/v1/tables/{name}" in [p.replace("\u200b", "") for p in paths]
    # Opening the operation shows its parameters.
    events.locator(".opblock-summary").click()
    expect(events.locator(".parameters-container")).to_be_visible()
    expect(events.get_by_text("Parameters", exact=True)).to_be_visible()
