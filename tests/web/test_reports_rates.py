"""Issue 14, points 3 and 5 on the web: AET05_ALL offered, the rate CI method and level as
parameters of the page, the downloads and the JSON API, the rate ratio with its bound, and
AET05's time-to-event lines (the numbers themselves: tests/analysis/test_rates_round2.py and
test_survival_round2.py)."""

from __future__ import annotations

import csv
import html as htmllib
import io
from datetime import date

from pv.analysis.api import build_table
from pv.analysis.render import display
from tests.web.test_reports import _page_cells, demo_env  # noqa: F401 - the fixture
from tests.web.webhelpers import login


def test_rates_page_downloads_and_api_take_the_ci_method_and_level(demo_env) -> None:  # noqa: F811
    env = demo_env
    client, _ = login(env.app, "officer")
    page = client.get("/reports", params={"study": env.study_id})
    assert page.status_code == 200
    assert '<option value="AET05_ALL"' in page.text  # offered in the table select
    assert 'data-testid="conf-type"' in page.text and 'value="byar"' in page.text
    q = {"study": env.study_id, "table": "AET05_ALL", "cutoff": "2022-06-30",
         "conf_type": "byar", "conf_level": "0.9"}  # fmt: skip
    part = client.get("/reports", params=q, headers={"HX-Request": "true"})
    assert part.status_code == 200
    direct = build_table(env.engine, env.study_id, "AET05_ALL", cutoff=date(2022, 6, 30),
                         params={"conf_type": "byar", "conf_level": "0.9"})  # fmt: skip
    shown = display(direct)
    assert _page_cells(part.text) == [[r.label, *values] for r, values in shown.rows]
    text = htmllib.unescape(part.text)
    assert "90% CI for rates: Byar's approximation." in text
    assert "events / patient-years  rate per 100 PY (90% CI)" in text
    # the downloads carry the parameters
    assert "&conf_type=byar&conf_level=0.9" in part.text
    csv_text = client.get("/reports/table.csv", params=q).content.decode("utf-8-sig")
    recs = list(csv.DictReader(io.StringIO(csv_text)))
    assert {"irr", "irr_low", "irr_high", "irr_bound_side", "p_value"} <= set(recs[0])
    compared = [r for r in recs if r["irr"] or r["irr_bound_side"]]
    assert compared and all(r["arm"] != "Total" for r in compared)
    # the JSON API: the same parameters, recorded
    api = env.client.get("/api/v1/tables/AET05_ALL", params=q, headers=env.auth("officer"))
    assert api.status_code == 200
    body = api.json()
    assert body["params"]["conf_type"] == "byar" and body["params"]["conf_level"] == 0.9
    assert body["rate_of"] == "events"


def test_bad_ci_parameters_are_422_naming_the_parameter(demo_env) -> None:  # noqa: F811
    env = demo_env
    h = env.auth("officer")
    r = env.client.get("/api/v1/tables/AET05", headers=h,
                       params={"study": env.study_id, "conf_type": "wald"})  # fmt: skip
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "conf_type must be one of exact, byar, normal, normal_log, not 'wald'"
    )
    r = env.client.get("/api/v1/tables/AET05", headers=h,
                       params={"study": env.study_id, "conf_level": "95"})  # fmt: skip
    assert r.status_code == 422 and r.json()["detail"].startswith("conf_level must be")
    client, _ = login(env.app, "officer")
    page = client.get("/reports", params={"study": env.study_id, "table": "AET05_ALL",
                                          "conf_level": "1.5"})  # fmt: skip
    assert page.status_code == 422


def test_aet05_page_shows_time_to_event_lines(demo_env) -> None:  # noqa: F811
    env = demo_env
    client, _ = login(env.app, "officer")
    part = client.get("/reports", params={"study": env.study_id, "table": "AET05"},
                      headers={"HX-Request": "true"})  # fmt: skip
    assert part.status_code == 200
    direct = build_table(env.engine, env.study_id, "AET05")
    lines = display(direct).survival
    assert lines[0].startswith("Time to first event (days from the first dose)")
    assert lines[1].startswith("Any TEAE: ") and "HR " in lines[1]
    text = htmllib.unescape(part.text)
    assert 'data-testid="time-to-event"' in part.text
    for line in lines:
        assert line in text
