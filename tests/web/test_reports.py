"""Safety tables on the web page, in the JSON API and in the CLI: one analysis, same numbers."""

from __future__ import annotations

import csv
import html as htmllib
import io
import re
from datetime import date

import pytest

from pv.analysis.api import build_table
from pv.analysis.render import display, to_csv
from pv.auth.passwords import hash_password
from pv.auth.service import actor_for, issue_token, set_password
from pv.db import write_session
from pv.demo.cli import DEMO_USERS
from pv.demo.generate import build_demo
from tests.web.webhelpers import PASSWORD, login


@pytest.fixture
def demo_env(app_env):
    # The demo's review is signed by its officer with the demo's password (DEMO_USERS): the
    # officer of app_env is the demo's officer, so it gets that password first.
    with write_session(app_env.engine) as s:
        user = s.get(type(app_env.users["officer"]), app_env.users["officer"].id)
        user.password_hash = hash_password(dict((n, p) for n, _r, p in DEMO_USERS)["officer"])
    build_demo(app_env.engine, seed=42)
    with write_session(app_env.engine) as s:
        for name in ("officer", "inv1", "dsmb"):
            user = s.get(type(app_env.users[name]), app_env.users[name].id)
            set_password(session=s, actor=actor_for(user), user=user, password=PASSWORD)
            # a password change revokes the user's tokens (issue 13): issue new ones
            app_env.tokens[name] = issue_token(session=s, actor=actor_for(user), user=user)
    return app_env


def _page_cells(html: str) -> list[list[str]]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    return [
        [htmllib.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows
    ]


@pytest.mark.parametrize("name", ["AET01", "AET02", "AET05"])
def test_the_page_the_json_and_the_csv_show_the_same_table(demo_env, name):
    env = demo_env
    client, _ = login(env.app, "officer")
    page = client.get(f"/reports?study={env.study_id}&table={name}&cutoff=2022-06-30",
                      headers={"HX-Request": "true"})  # fmt: skip
    assert page.status_code == 200 and 'id="report-table"' in page.text
    api = env.client.get(f"/api/v1/tables/{name}",
                         params={"study": env.study_id, "cutoff": "2022-06-30"},
                         headers=env.auth("officer")).json()  # fmt: skip
    direct = build_table(env.engine, env.study_id, name, cutoff=date(2022, 6, 30))
    # the page shows exactly the display strings of the analysis table
    shown = display(direct)
    assert _page_cells(page.text) == [[r.label, *values] for r, values in shown.rows]
    # the JSON carries the same counts, cell by cell
    assert api["cutoff"] == "2022-06-30"
    for row_json, row in zip(api["rows"], direct.rows, strict=True):
        assert row_json["label"] == row.label
        for col, cell in row.cells.items():
            assert row_json["cells"][col]["n"] == cell.n
            assert row_json["cells"][col]["N"] == cell.N
    # and the CSV of the CLI too
    records = list(csv.DictReader(io.StringIO(to_csv([direct]))))
    first = direct.rows[0]
    total = next(r for r in records if r["arm"] == "Total")
    assert int(total["n"]) == first.cells["Total"].n


def test_cutoff_changes_the_numbers(demo_env):
    env = demo_env
    early = env.client.get("/api/v1/tables/AET01",
                           params={"study": env.study_id, "cutoff": "2021-02-01"},
                           headers=env.auth("officer")).json()  # fmt: skip
    late = env.client.get("/api/v1/tables/AET01", params={"study": env.study_id},
                          headers=env.auth("officer")).json()  # fmt: skip
    assert early["rows"][0]["cells"]["Total"]["n"] < late["rows"][0]["cells"]["Total"]["n"]


def test_only_officers_dsmb_and_admins_read_tables(demo_env):
    env = demo_env
    q = {"study": env.study_id}
    assert (
        env.client.get("/api/v1/tables/AET02", params=q, headers=env.auth("inv1")).status_code
        == 403
    )
    assert (
        env.client.get("/api/v1/tables/AET02", params=q, headers=env.auth("dsmb")).status_code
        == 200
    )
    assert env.client.get("/api/v1/tables/AET02", params=q).status_code == 401
    inv, _ = login(env.app, "inv1")
    assert inv.get("/reports").status_code == 403
    dsmb, _ = login(env.app, "dsmb")
    assert dsmb.get("/reports").status_code == 200


def test_bad_parameters_are_clear_errors(demo_env):
    env = demo_env
    h = env.auth("officer")
    r = env.client.get("/api/v1/tables/AET99", params={"study": env.study_id}, headers=h)
    assert r.status_code == 422 and "unknown table" in r.json()["detail"]
    r = env.client.get(
        "/api/v1/tables/AET01", params={"study": env.study_id, "cutoff": "june"}, headers=h
    )
    assert r.status_code == 422 and "cutoff" in r.json()["detail"]
    r = env.client.get("/api/v1/tables/AET01", params={"study": "NCT00000000"}, headers=h)
    assert r.status_code == 404


def test_the_dsmb_workbook_downloads_for_officers_and_dsmb_only(demo_env):
    from openpyxl import load_workbook

    env = demo_env
    dsmb, _ = login(env.app, "dsmb")
    q = f"study={env.study_id}&cutoff=2022-06-30"
    r = dsmb.get(f"/reports/dsmb.xlsx?{q}&report=open")
    assert r.status_code == 200 and "dsmb-open" in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content), read_only=True)
    assert any("AET02" in name for name in wb.sheetnames)
    cells = " ".join(str(c) for ws in wb.worksheets[1:] for row in ws.iter_rows(values_only=True)
                     for c in row if c is not None)  # fmt: skip
    assert "Combination therapy Group" not in cells  # pooled: no arm after the cover
    closed = dsmb.get(f"/reports/dsmb.xlsx?{q}&report=closed")
    assert closed.status_code == 200
    inv, _ = login(env.app, "inv1")
    assert inv.get(f"/reports/dsmb.xlsx?{q}").status_code == 403
    assert dsmb.get(f"/reports/dsmb.xlsx?study={env.study_id}&cutoff=soon").status_code == 422
