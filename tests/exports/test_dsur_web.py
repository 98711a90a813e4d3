"""The DSUR download (pv.web.dsur) and the reports page's DSUR form: who may have it, the
file (the hand-built study of tests/exports/test_dsur.py, same hand-derived counts), a
blinded study pooled, and refusals shown beside the fields in the fragment htmx swaps in."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from sqlalchemy import update

from pv.db import write_session
from pv.study.models import Study
from tests.exports.test_dsur import HEADER_ROW, LIST, STUDY, TAB, TABULATION, build_study, rows
from tests.web.conftest import app_env, world  # noqa: F401 (fixtures)
from tests.web.webhelpers import login

PERIOD = f"study={STUDY}&from=2021-01-01&to=2021-12-31"
HX = {"HX-Request": "true"}


def _env(world):  # type: ignore[no-untyped-def]  # noqa: F811
    build_study(world.engine)
    return world


def test_officers_and_admins_download_the_workbook(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    env = _env(world)
    for who in ("officer", "admin"):
        client, _ = login(env.app, who)
        r = client.get(f"/reports/dsur.xlsx?{PERIOD}")
        assert r.status_code == 200, r.text
        assert f"{STUDY}-dsur-2021-01-01-2021-12-31.xlsx" in r.headers["content-disposition"]
        wb = load_workbook(io.BytesIO(r.content))
        assert rows(wb[TAB]) == TABULATION
        assert len(rows(wb[LIST])) == 3  # e1, e2, e5 (tests/exports/test_dsur.py)
    for who in ("dsmb", "inv1"):  # a sponsor's document: not the DSMB's, not a site's
        client, _ = login(env.app, who)
        assert client.get(f"/reports/dsur.xlsx?{PERIOD}").status_code == 403


def test_the_reports_page_offers_the_form_to_officers_only(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    env = _env(world)
    officer, _ = login(env.app, "officer")
    page = officer.get(f"/reports?study={STUDY}")
    assert page.status_code == 200 and 'data-testid="dsur-form"' in page.text
    dsmb, _ = login(env.app, "dsmb")
    page = dsmb.get(f"/reports?study={STUDY}")
    assert page.status_code == 200 and 'data-testid="dsur-form"' not in page.text


def _error(html: str, field: str) -> str | None:
    found = re.search(rf'data-testid="dsur-error-{field}">([^<]*)<', html)
    return found.group(1) if found else None


def test_refusals_are_shown_beside_the_fields(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    env = _env(world)
    officer, _ = login(env.app, "officer")
    r = officer.get(f"/reports/dsur?study={STUDY}&from=2021-13-01&to=2021-12-31", headers=HX)
    assert r.status_code == 422  # the page's htmx swaps 422 answers (base.html)
    assert 'data-testid="dsur-form"' in r.text and "<html" not in r.text  # the fragment
    assert "is not a date of the calendar" in (_error(r.text, "from") or "")
    assert _error(r.text, "to") is None
    assert 'value="2021-13-01"' in r.text  # what was typed stays in the field
    assert f'<option value="{STUDY}" selected>' in r.text  # and the study chosen
    r = officer.get(f"/reports/dsur?study={STUDY}&from=2022-01-01&to=2021-12-31", headers=HX)
    assert r.status_code == 422
    assert _error(r.text, "to") == (
        "the end of the reporting period (2021-12-31) is before its start (2022-01-01)"
    )
    r = officer.get(f"/reports/dsur?study={STUDY}&from=&to=2021-12-31", headers=HX)
    assert _error(r.text, "from") == "give a date (YYYY-MM-DD)"
    r = officer.get("/reports/dsur?study=NOPE&from=2021-01-01&to=2021-12-31", headers=HX)
    assert r.status_code == 422 and _error(r.text, "study") == "no such study"
    # the file itself refuses the same way, naming the field
    r = officer.get(f"/reports/dsur.xlsx?study={STUDY}&from=2021-01-01&to=soon")
    assert r.status_code == 422 and "to: &#39;soon&#39; is not a date" in r.text
    assert (
        officer.get("/reports/dsur.xlsx?study=NOPE&from=2021-01-01&to=2021-12-31").status_code
        == 404
    )


def test_a_checked_form_downloads_at_once(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    env = _env(world)
    officer, _ = login(env.app, "officer")
    r = officer.get(f"/reports/dsur?{PERIOD}&lang=en", headers=HX)
    assert r.status_code == 200 and "HX-Redirect" not in r.headers  # swapped: refusals cleared
    assert 'data-testid="dsur-error' not in r.text
    target = f"/reports/dsur.xlsx?{PERIOD}&lang=en"
    assert f'href="{target.replace("&", "&amp;")}"' in r.text
    # the swapped form's loader asks once more and is sent to the file
    go = f"/reports/dsur?{PERIOD}&lang=en&go=1"
    assert f'hx-get="{go.replace("&", "&amp;")}" hx-trigger="load"' in r.text
    r = officer.get(go, headers=HX)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == target
    assert officer.get(target).status_code == 200
    # a refused form has no loader
    r = officer.get(f"/reports/dsur?study={STUDY}&from=x&to=2021-12-31&go=1", headers=HX)
    assert r.status_code == 422 and "HX-Redirect" not in r.headers and "dsur-go" not in r.text


def test_a_blinded_study_is_pooled_for_a_reader_who_may_not_see_arms(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    env = _env(world)
    with write_session(env.engine) as s:
        s.execute(update(Study).where(Study.id == STUDY).values(blinded=True))
    officer, _ = login(env.app, "officer")
    r = officer.get(f"/reports/dsur.xlsx?{PERIOD}")
    assert r.status_code == 200 and "-blinded" in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    assert wb[TAB].cell(HEADER_ROW, 2).value == "Blinded"
    assert rows(wb[TAB]) == [[t[0], t[1] + t[2], t[3], t[4]] for t in TABULATION]
    assert {r[6] for r in rows(wb[LIST])} == {"Blinded"}
    # an officer with the unblinded permission sees the arms
    from pv.auth.models import User

    with write_session(env.engine) as s:
        s.execute(update(User).where(User.username == "officer").values(unblinded=True))
    r = officer.get(f"/reports/dsur.xlsx?{PERIOD}")
    assert r.status_code == 200 and "-blinded" not in r.headers["content-disposition"]
    assert rows(load_workbook(io.BytesIO(r.content))[TAB]) == TABULATION


def test_the_workbook_language(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    env = _env(world)
    officer, _ = login(env.app, "officer")
    r = officer.get(f"/reports/dsur.xlsx?{PERIOD}&lang=zh-Hans")
    assert r.status_code == 200 and "-zh-Hans.xlsx" in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    assert rows(wb.worksheets[2])[0][13] == "重症肺炎"  # data stay as entered
    r = officer.get(f"/reports/dsur?{PERIOD}&lang=xx", headers=HX)
    assert r.status_code == 422
    assert _error(r.text, "lang") == (
        "&#39;xx&#39; is not a workbook language; choose one of en, zh-Hans"
    )
