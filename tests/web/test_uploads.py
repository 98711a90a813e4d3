"""The upload screens: template, all-or-nothing upload with an error report, site scoping."""

from __future__ import annotations

import base64
import csv
import io
import re

from openpyxl import load_workbook
from sqlmodel import select

from pv.db import read_session
from pv.events.models import AdverseEvent
from tests.web.webhelpers import login

HEADER = ["USUBJID", "AETERM", "AELLTCD", "AETOXGR", "AESER", "AESTDTC", "AEENDTC", "AEOUT",
          "AEREL_BELIMUMAB", "AEREL_PREDNISONE"]  # fmt: skip


def _csv(rows):
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(HEADER)
    w.writerows(rows)
    return out.getvalue().encode()


def _row(usubjid, term="fever 007", grade="1"):
    return [usubjid, term, "10016558", grade, "N", "2021-03", "2021-04-02", "RECOVERED/RESOLVED",
            "NOT RELATED", "NOT RELATED"]  # fmt: skip


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
    data = _csv([_row(own), _row(own, term="NA")])
    r = client.post("/upload", data={"csrf_token": csrf, "study_id": world.study_id},
                    files={"file": ("events.csv", data, "text/csv")})  # fmt: skip
    assert r.status_code == 201 and "2 events stored" in r.text
    new = [e for e in _events(world)][before:]
    assert sorted(e.aeterm for e in new) == ["NA", "fever 007"]
    assert all(e.status == "submitted" and e.aedecod == "Fever" for e in new)
    assert any(e.aestdtc == "2021-03" for e in _events(world))


def test_one_bad_row_stores_nothing_and_is_named_with_a_downloadable_report(world):
    client, csrf = login(world.app, "inv1")
    before = len(_events(world))
    own, other = world.ids["own"][2], world.ids["other"][2]
    rows = [_row(own) for _ in range(5)] + [_row(own, grade="9"), _row(other)]
    r = client.post("/upload", data={"csrf_token": csrf, "study_id": world.study_id},
                    files={"file": ("events.csv", _csv(rows), "text/csv")},
                    headers={"HX-Request": "true"})  # fmt: skip
    assert r.status_code == 422 and "Nothing was stored" in r.text
    assert len(_events(world)) == before
    cells = re.findall(r"<tr><td class=\"num\">(\d+)</td><td>([A-Z_]+)</td>", r.text)
    assert ("7", "AETOXGR") in cells  # header is row 1: the 6th data row is row 7
    assert ("8", "USUBJID") in cells  # another site's subject is unknown here
    report = re.search(r'href="data:text/csv;base64,([^"]+)"', r.text).group(1)
    lines = list(csv.reader(io.StringIO(base64.b64decode(report).decode("utf-8-sig"))))
    assert lines[0] == ["row", "column", "value", "reason"]
    assert {(x[0], x[1]) for x in lines[1:]} >= {("7", "AETOXGR"), ("8", "USUBJID")}
    assert not r.text.lstrip().startswith("<!doctype")  # an htmx fragment, not a page


def test_a_csv_renamed_xlsx_is_refused(world):
    client, csrf = login(world.app, "inv1")
    r = client.post("/upload", data={"csrf_token": csrf, "study_id": world.study_id},
                    files={"file": ("events.xlsx", _csv([_row(world.ids["own"][2])]),
                                    "x")})  # fmt: skip
    assert r.status_code == 422 and "refused" in r.text


def test_upload_needs_a_writer_role_and_csrf(world):
    officer, csrf = login(world.app, "officer")
    assert officer.get("/upload").status_code == 403
    inv, _ = login(world.app, "inv1")
    r = inv.post("/upload", data={"study_id": world.study_id},
                 files={"file": ("e.csv", _csv([]), "text/csv")})  # fmt: skip
    assert r.status_code == 403
    assert inv.get("/upload/template/NCT00000000.xlsx").status_code == 404
