"""Issue 15, point 8: the reports page's downloads with the session's log-in (xlsx, JSON),
the save confirmation and the favicon."""

from __future__ import annotations

import io
import json

from openpyxl import load_workbook

from pv.analysis.api import build_table
from tests.web.webhelpers import IRR, login


def test_a_table_downloads_as_xlsx_with_the_session(world):
    env = world
    client, _ = login(env.app, "officer")
    page = client.get(f"/reports?study={env.study_id}&table=AET01")
    assert 'data-testid="download-xlsx"' in page.text and "/reports/table.xlsx?study=" in page.text
    r = client.get(f"/reports/table.xlsx?study={env.study_id}&table=AET01")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert f"{env.study_id}-AET01-en.xlsx" in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    ws = wb.active
    table = build_table(env.engine, env.study_id, "AET01")
    assert ws["A1"].value == f"AET01: {table.title}"
    cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c for c in cells if c.data_type == "f"]  # never a formula
    labels = [c.value for c in ws["A"] if isinstance(c.value, str)]
    assert table.rows[0].label in labels
    # numbers stay numbers
    assert any(isinstance(c.value, int | float) for c in cells)
    # the table's language is honoured
    zh = client.get(f"/reports/table.xlsx?study={env.study_id}&table=AET01&lang=zh-Hans")
    assert zh.status_code == 200 and "-zh-Hans.xlsx" in zh.headers["content-disposition"]
    zh_title = load_workbook(io.BytesIO(zh.content)).active["A1"].value
    assert (
        zh_title
        == f"AET01: {build_table(env.engine, env.study_id, 'AET01', language='zh-Hans').title}"
    )
    # investigators may not, and nobody without a session
    inv, _ = login(env.app, "inv1")
    assert inv.get(f"/reports/table.xlsx?study={env.study_id}").status_code == 403
    anonymous = env.client.get(f"/reports/table.xlsx?study={env.study_id}", follow_redirects=False)
    assert anonymous.status_code in (401, 303)


def test_the_json_download_needs_no_token(world):
    env = world
    client, _ = login(env.app, "dsmb")
    r = client.get(f"/reports/table.json?study={env.study_id}&table=AET02")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    api = env.client.get("/api/v1/tables/AET02", params={"study": env.study_id},
                         headers=env.auth("dsmb")).json()  # fmt: skip
    assert json.loads(r.content)["rows"] == api["rows"]


def test_saving_shows_a_success_banner(world):
    client, csrf = login(world.app, "inv1")
    ev = world.ids["own"][1]
    data = {**IRR, "aetoxgr": "3", "version": "1", "reason": "worse", "csrf_token": csrf}
    r = client.post(f"/events/{ev}", data=data)
    assert r.status_code == 200
    assert '<p class="banner ok" role="status" data-testid="saved">Saved (version 2).</p>' in r.text


def test_the_favicon_is_served(world):
    r = world.client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/")
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    page = world.client.get("/login")
    assert '<link rel="icon" href="/static/favicon.svg"' in page.text
    assert world.client.get("/static/favicon.svg").headers["content-type"].startswith("image/svg")
