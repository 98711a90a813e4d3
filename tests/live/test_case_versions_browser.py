"""The review page's "Report versions" section in a real Chromium (issue 16 point 2): the
officer prepares the initial report with a note, sees version 1 swapped in by htmx with its
downloads, refreshes it (nothing sent yet: the same number), and downloads the E2B(R3) XML
and the Chinese-label CIOMS I form of version 1: the very bytes pv.icsr.versions builds.
Screenshot: /tmp/pv-case-versions.png."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pv.db import make_engine, read_session
from pv.icsr.models import ReportFormat
from tests.live.conftest import Person

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]
LUNG = "10061229"


def _serious(live: LiveServer) -> int:
    body = {"usubjid": live.usubjid, "aeterm": "fever and productive cough", "aelltcd": LUNG,
            "aetoxgr": 3, "aeser": "Y", "aeshosp": "Y", "aestdtc": "2021-03-02",
            "aeendtc": "2021-03-20", "aeawaredtc": "2021-03-02", "aeout": "RECOVERED/RESOLVED",
            "narrative": "Admitted to hospital.",
            "aerel": {"belimumab": "POSSIBLY RELATED", "prednisone": "NOT RELATED"},
            "aeacn": {k: "DOSE NOT CHANGED" for k in live.drug_keys}}  # fmt: skip
    with live.api() as client:
        r = client.post("/api/v1/events", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _files(live: LiveServer, event_id: int) -> dict[ReportFormat, tuple[str, bytes]]:
    from pv.icsr.versions import get_version, version_file

    engine = make_engine(live.db_url)
    try:
        with read_session(engine) as s:
            v = get_version(s, event_id, 1)
            return {f: version_file(v, f, masked=False) for f in ReportFormat}
    finally:
        engine.dispose()


def test_the_officer_prepares_and_downloads_a_report_version(
    live_server: LiveServer, browser: Browser, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    event_id = _serious(live_server)
    officer = Person(browser, live_server, live_server.officer, live_server.officer_password)
    page = officer.page
    page.goto(f"/review/events/{event_id}")
    section = page.get_by_test_id("case-versions")
    expect(section.get_by_test_id("no-versions")).to_be_visible()
    button = section.get_by_test_id("prepare-version")
    expect(button).to_have_text("Prepare initial report")
    section.get_by_test_id("version-note").fill("Initial SUSAR report to the NMPA")
    button.click()
    section = page.get_by_test_id("case-versions")  # swapped by htmx
    expect(section.get_by_test_id("version-saved")).to_have_text("Version 1 saved.")
    row = section.get_by_test_id("version-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Initial report")
    expect(row).to_contain_text("Initial SUSAR report to the NMPA")
    expect(row).to_contain_text("not sent")
    expect(section.get_by_test_id("prepare-version")).to_have_text("Refresh version 1")
    # refresh: still one version, marked refreshed, the note kept
    section.get_by_test_id("prepare-version").click()
    expect(page.get_by_test_id("case-versions").get_by_test_id("version-row")).to_contain_text(
        "(refreshed)")  # fmt: skip
    expect(page.get_by_test_id("version-row")).to_have_count(1)
    officer.shot(Path("/tmp/pv-case-versions.png"))
    files = _files(live_server, event_id)
    links = page.get_by_test_id("version-downloads")
    for text, fmt in (("E2B(R3) XML", ReportFormat.e2b),
                      ("CIOMS I (Chinese labels)", ReportFormat.cioms_zh)):  # fmt: skip
        with page.expect_download() as got:
            links.get_by_role("link", name=text).click()
        name, data = files[fmt]
        assert got.value.suggested_filename == name
        target = tmp_path / name
        got.value.save_as(target)
        assert target.read_bytes() == data  # the version's bytes, as a submission stores
    assert officer.problems == []
