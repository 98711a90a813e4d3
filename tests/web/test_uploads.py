"""The upload screens: template, all-or-nothing upload with an error report, site scoping."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from pv.db import read_session
from pv.events.models import AdverseEvent
from tests.web.webhelpers import login, upload_and_wait

HEADER = ["USUBJID", "AETERM", "AELLTCD", "AETOXGR", "AESER", "AESTDTC", "AEENDTC", "AEOUT",
          "AEREL_BELIMUMAB", "AEREL_PREDNISONE"]  # fmt: skip


def _csv(rows):
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(HEADER)
    w.writerows(rows)
    return out.getvalue().encode()


def _row(usubjid, term="fever 007", grade="1", onset="2021-03"):
    return [usubjid, term, "10016558", grade, "N", onset, "2021-04-02", "RECOVERED/RESOLVED",
            "NOT RELATED", "NOT RELATED"]  # fmt: skip


def _day(i):
    """A distinct onset date per row (rows that differ are no duplicates of each other)."""
    return (date(2014, 1, 1) + timedelta(days=i)).isoformat()  # i < 2600: before the end


def _events(env):
    with read_session(env.engine) as s:
        return s.exec(select(AdverseEvent)).all()


def test_the_template_lists_the_users_own_subjects(world):
    client, _ = login(world.app, "inv1")
    r = client.get(f"/upload/template/{world.study_id}.xlsx")
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.content))
    text = " ".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row
                    if c.value is not None)  # fmt: skip
    assert world.ids["own"][2] in text and world.ids["other"][2] not in text
    header = [c.value for c in next(wb.worksheets[0].iter_rows(max_row=1))]
    assert "USUBJID" in header and "AETOXGR" in header


def test_an_upload_is_stored_whole(world):
    client, csrf = login(world.app, "inv1")
    before = len(_events(world))
    own = world.ids["own"][2]
    data = _csv([_row(own), _row(own, term="NA", onset="2021-03-05")])
    r, state, fragment = upload_and_wait(client, csrf, world.study_id, "events.csv", data)
    assert r.status_code == 202 and r.headers["location"].startswith("/upload/jobs/")
    assert state["status"] == "stored" and state["stored"] == 2
    assert "2 events stored" in fragment and 'data-testid="upload-stored"' in fragment
    new = [e for e in _events(world)][before:]
    assert sorted(e.aeterm for e in new) == ["NA", "fever 007"]
    assert all(e.status == "submitted" and e.aedecod == "Fever" for e in new)
    assert any(e.aestdtc == "2021-03" for e in _events(world))


def test_one_bad_row_stores_nothing_and_is_named_with_a_downloadable_report(world):
    client, csrf = login(world.app, "inv1")
    before = len(_events(world))
    own, other = world.ids["own"][2], world.ids["other"][2]
    rows = [_row(own, onset=f"2021-02-0{i + 1}") for i in range(5)]
    rows += [_row(own, grade="9"), _row(other)]
    r, state, fragment = upload_and_wait(client, csrf, world.study_id, "events.csv", _csv(rows))
    assert state["status"] == "rejected" and "Nothing was stored" in fragment
    assert len(_events(world)) == before
    cells = re.findall(r"<tr><td class=\"num\">(\d+)</td><td>([A-Z_]+)</td>", fragment)
    assert ("7", "AETOXGR") in cells  # header is row 1: the 6th data row is row 7
    assert ("8", "USUBJID") in cells  # another site's subject is unknown here
    # Root causes only: the wrong grade is one problem, not one per rule it then breaks.
    assert [c for c in cells if c[0] == "7"] == [("7", "AETOXGR")]
    assert state["error_count"] == len(cells) == 2
    report = client.get(state["report"])
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert lines[0] == ["row", "column", "value", "reason"]
    assert {(x[0], x[1]) for x in lines[1:]} == {("7", "AETOXGR"), ("8", "USUBJID")}
    assert not fragment.lstrip().startswith("<!doctype")  # an htmx fragment, not a page


def test_the_page_shows_the_first_1000_errors_and_the_report_has_them_all(world):
    client, csrf = login(world.app, "inv1")
    own = world.ids["own"][2]
    rows = [_row(own, grade="9", onset=_day(i))
            for i in range(1200)]  # fmt: skip
    _, state, fragment = upload_and_wait(client, csrf, world.study_id, "many.csv", _csv(rows))
    assert state["error_count"] == 1200 and len(state["errors"]) == 1000
    assert fragment.count('<tr><td class="num">') == 1000
    assert "The first 1000 problems are shown; the report has all 1200." in fragment
    report = client.get(state["report"]).content.decode("utf-8-sig").splitlines()
    assert len(report) == 1 + 1200 and report[-1].startswith("1201,AETOXGR,9,")


def test_a_csv_renamed_xlsx_is_refused(world):
    client, csrf = login(world.app, "inv1")
    _, state, fragment = upload_and_wait(client, csrf, world.study_id, "events.xlsx",
                                         _csv([_row(world.ids["own"][2])]))  # fmt: skip
    assert state["status"] == "refused" and "not an xlsx file" in state["refused"]
    assert "The file was refused" in fragment and "Nothing was stored" in fragment


def test_a_body_over_the_limit_is_refused_before_it_is_read_with_its_real_size(world):
    client, csrf = login(world.app, "inv1")
    limit = world.app.state.settings.upload_max_bytes
    big = b"x" * (limit + 300 * 1024)
    r = client.post("/upload", data={"csrf_token": csrf, "study_id": world.study_id},
                    files={"file": ("big.csv", big, "text/csv")},
                    headers={"HX-Request": "true"})  # fmt: skip
    assert r.status_code == 413
    # The declared size of the whole body: the file plus a few hundred bytes of envelope.
    m = re.search(r"the file is ([0-9.]+) MB; at most ([0-9.]+) MB may be uploaded", r.text)
    assert m, r.text
    assert float(m.group(2)) == limit / 2**20 and float(m.group(1)) > float(m.group(2))
    assert 'data-testid="upload-refused"' in r.text


def test_a_body_without_length_is_cut_off_at_the_limit():
    """A chunked body (no Content-Length) is counted while it streams and cut off."""
    import asyncio

    from pv.app import BodyLimit

    received = []

    async def app(scope, receive, send):
        while True:
            m = await receive()
            received.append(len(m.get("body", b"")))
            if not m.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    chunks = [b"x" * 1000] * 100

    async def receive():
        body = chunks.pop() if chunks else b""
        return {"type": "http.request", "body": body, "more_body": bool(chunks)}

    sent = []

    async def send(message):
        sent.append(message)

    limited = BodyLimit(app, upload_limit=10_000, other_limit=5_000)
    scope = {"type": "http", "method": "POST", "path": "/events/new", "headers": []}
    asyncio.run(limited(scope, receive, send))
    assert sent[0]["status"] == 413 and sum(received) <= 5_000
    assert b"larger than 4.9 KB" in sent[1]["body"]


def test_a_job_is_its_owners_only(world):
    client, csrf = login(world.app, "inv1")
    r, state, _ = upload_and_wait(client, csrf, world.study_id, "e.csv",
                                  _csv([_row(world.ids["own"][2])]))  # fmt: skip
    other, _ = login(world.app, "inv2")
    assert other.get(r.headers["location"]).status_code == 404
    assert other.get(r.headers["location"] + "/errors.csv").status_code == 404
    assert client.get("/upload/jobs/" + "0" * 32).status_code == 404
    assert client.get("/upload/jobs/" + "9" * 500).status_code == 404


@pytest.mark.parametrize("when", ["checking", "storing"])
def test_cancel_before_the_store_stores_nothing(world, monkeypatch, when):
    """A cancel reaches the worker at its next progress write or phase change, the last
    one being the change into the store (a cancel pressed as checking ends); nothing is
    stored."""
    from pv.imports import jobs

    client, csrf = login(world.app, "inv1")
    before = len(_events(world))
    own = world.ids["own"][2]
    rows = [_row(own, onset=_day(i)) for i in range(300)]
    original = jobs._Reporter.on_phase

    def cancel_then_go_on(self, name):
        if name == when:  # the user presses Cancel just before the worker enters `when`
            r = client.post(
                f"/upload/jobs/{self.job_id}/cancel",
                headers={"HX-Request": "true", "X-CSRF-Token": csrf},
            )
            assert r.status_code == 200
        original(self, name)

    monkeypatch.setattr(jobs._Reporter, "on_phase", cancel_then_go_on)
    _, state, fragment = upload_and_wait(client, csrf, world.study_id, "e.csv", _csv(rows))
    assert state["status"] == "cancelled" and "was cancelled" in fragment
    assert len(_events(world)) == before


def test_progress_is_recorded_while_the_job_runs(world, monkeypatch):
    from pv.imports import jobs

    monkeypatch.setattr(jobs, "PROGRESS_EVERY", 0.0)
    seen = []
    original = jobs._Reporter.write

    def record(self, **kw):
        original(self, **kw)
        seen.append((self.phase.value, dict(self.counts)))

    monkeypatch.setattr(jobs._Reporter, "write", record)
    client, csrf = login(world.app, "inv1")
    own = world.ids["own"][2]
    rows = [_row(own, onset=_day(i)) for i in range(2500)]
    _, state, _ = upload_and_wait(client, csrf, world.study_id, "e.csv", _csv(rows))
    assert state["status"] == "stored" and state["rows_stored"] == 2500, state["errors"][:3]
    phases = [p for p, _ in seen]
    assert phases.index("reading") < phases.index("checking") < phases.index("storing")
    # The CSV's line count less its header: the estimate is the row count itself.
    assert {c["rows_total"] for p, c in seen if p == "reading" and c["rows_read"]} == {2500}
    read = [c["rows_read"] for p, c in seen if p == "reading"]
    assert 0 < max(read) <= 2500 and read == sorted(read)
    checked = [c["rows_checked"] for p, c in seen if p == "checking"]
    assert max(checked) >= 2000 and checked == sorted(checked)


def test_the_page_states_the_limits_and_the_duplicate_rule(world):
    client, _ = login(world.app, "inv1")
    text = re.sub(r"\s+", " ", client.get("/upload").text)
    assert "(at most 20 MB and 200,000 rows)" in text
    assert "unless its CONFIRM_DUPLICATE cell says Y" in text


def test_upload_needs_a_writer_role_and_csrf(world):
    officer, csrf = login(world.app, "officer")
    assert officer.get("/upload").status_code == 403
    inv, _ = login(world.app, "inv1")
    r = inv.post("/upload", data={"study_id": world.study_id},
                 files={"file": ("e.csv", _csv([]), "text/csv")})  # fmt: skip
    assert r.status_code == 403
    assert inv.get("/upload/template/NCT00000000.xlsx").status_code == 404
