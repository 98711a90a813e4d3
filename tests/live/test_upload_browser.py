"""The spreadsheet upload in a real Chromium, against a served app whose uploads run in
its worker process (issue 12, points 2 and 3).

What the investigator sees after the htmx swaps: the bad row's error (row, column, value,
reason) with the count and the report link, and nothing stored; then a valid file stored
with its count; then a large file's live progress and its cancel, with nothing stored.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pv.events.models import AdverseEvent
from tests.live.conftest import INVESTIGATOR, Person

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.live.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]

SHOTS = Path("/tmp")
FEVER = "10016558"


def _csv(usubjid: str, drugs: list[str], n: int, *, bad_grade_at: int | None = None,
         confirmed: bool = False) -> bytes:  # fmt: skip
    """n valid fever events of one subject: one a day from 2021-01-16 (no likely duplicates)
    for a small file; one a minute for a large one, confirmed as not duplicates. Row
    `bad_grade_at` (0-based) gets grade 9."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["USUBJID", "AETERM", "AELLTCD", "AETOXGR", "AESER", "AESTDTC", "AEENDTC",
                "AEOUT", *[f"AEREL_{d.upper()}" for d in drugs], "CONFIRM_DUPLICATE"])  # fmt: skip
    start = datetime(2021, 1, 16)
    for i in range(n):
        step = timedelta(minutes=i) if confirmed else timedelta(days=i)
        onset = (start + step).strftime("%Y-%m-%dT%H:%M")
        grade = "9" if i == bad_grade_at else "1"
        w.writerow([usubjid, "fever after visit", FEVER, grade, "N", onset, "2021-06-30",
                    "RECOVERED/RESOLVED", *["NOT RELATED"] * len(drugs),
                    "Y" if confirmed else ""])  # fmt: skip
    return out.getvalue().encode("utf-8")


@pytest.fixture
def inv(browser: Browser, live_server: LiveServer) -> Person:
    """The site's investigator, logged in."""
    return Person(browser, live_server, *INVESTIGATOR)


def _upload(person: Person, name: str, data: bytes) -> None:
    page = person.page
    page.goto("/upload")
    page.locator("input[type=file][name=file]").set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": data}
    )
    page.get_by_role("button", name="Upload").click()


def test_the_investigator_sees_the_bad_rows_error_then_a_stored_file(
    inv: Person, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    live = live_server
    before = live.count(AdverseEvent)
    page = inv.page

    _upload(inv, "visit-3.csv", _csv(live.usubjid, live.drug_keys, 5, bad_grade_at=2))
    errors = page.get_by_test_id("upload-errors")
    expect(errors).to_be_visible()
    row = errors.locator("tbody tr")
    expect(row).to_have_count(1)  # the root cause only
    # Header is row 1: the third data row is row 4.
    expect(row.locator("td")).to_have_text(["4", "AETOXGR", "9", re.compile(r"grade")])
    expect(page.get_by_test_id("upload-rejected")).to_contain_text(
        "visit-3.csv: 1 problem in 5 rows. Nothing was stored."
    )
    report = page.get_by_test_id("upload-report")
    expect(report).to_be_visible()
    with page.expect_download() as download:
        report.click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "row,column,value,reason" and "4,AETOXGR,9," in text
    inv.shot(SHOTS / "pv-upload-error.png")
    assert live.count(AdverseEvent) == before

    _upload(inv, "visit-3-fixed.csv", _csv(live.usubjid, live.drug_keys, 5))
    expect(page.get_by_test_id("upload-stored")).to_contain_text("5 events stored")
    assert live.count(AdverseEvent) == before + 5
    # The same file again is five likely duplicates: refused, nothing new stored.
    _upload(inv, "visit-3-fixed.csv", _csv(live.usubjid, live.drug_keys, 5))
    expect(page.get_by_test_id("upload-rejected")).to_contain_text("Nothing was stored")
    assert live.count(AdverseEvent) == before + 5
    assert not inv.problems, inv.problems


def test_a_large_upload_shows_its_progress_and_can_be_cancelled(
    inv: Person, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    live = live_server
    before = live.count(AdverseEvent)
    page = inv.page
    _upload(inv, "big.csv", _csv(live.usubjid, live.drug_keys, 100_000, confirmed=True))
    progress = page.get_by_test_id("upload-progress")
    expect(progress).to_be_visible()
    expect(progress).to_contain_text("Rows read")
    # The numbers move while the file is read and checked (the element polls itself).
    expect(page.get_by_test_id("rows-read")).not_to_have_text("0", timeout=20_000)
    inv.shot(SHOTS / "pv-upload-progress.png")
    page.get_by_test_id("upload-cancel").click()
    expect(page.get_by_test_id("upload-cancelled")).to_contain_text(
        "The upload of big.csv was cancelled. Nothing was stored.", timeout=30_000
    )
    assert live.count(AdverseEvent) == before
    assert not inv.problems, inv.problems


def test_a_file_over_the_size_limit_is_refused_on_the_page(
    inv: Person, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    live = live_server
    before = live.count(AdverseEvent)
    posts: list[str] = []
    inv.page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    big = _csv(live.usubjid, live.drug_keys, 1) + b"x" * (21 * 1024 * 1024)
    _upload(inv, "too-big.csv", big)
    refused = inv.page.get_by_test_id("upload-refused")
    expect(refused).to_contain_text("The file was refused")
    expect(refused).to_contain_text("the file is 21.0 MB; at most 20 MB may be uploaded")
    expect(refused).to_contain_text("Nothing was stored")
    inv.shot(SHOTS / "pv-upload-too-big.png")
    # Refused in the page, before a byte is sent (the server's own refusal of such a body,
    # while it streams in, is tested in tests/web/test_uploads.py).
    assert posts == []
    assert live.count(AdverseEvent) == before
    assert not inv.problems, inv.problems
