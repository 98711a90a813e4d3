"""The table language on the web: `lang` on the reports page, the JSON API and the CSV
download (UTF-8 with a byte-order mark); an unknown language is a 422 that says so."""

from __future__ import annotations

from pv.auth.service import actor_for, set_password
from pv.db import write_session
from tests.i18n.test_outputs_helpers import MARK, fake_chinese
from tests.web.conftest import app_env  # noqa: F401  (the web fixtures)
from tests.web.webhelpers import PASSWORD, login


def _officer(env):  # type: ignore[no-untyped-def]
    with write_session(env.engine) as s:
        user = s.get(type(env.users["officer"]), env.users["officer"].id)
        set_password(session=s, actor=actor_for(user), user=user, password=PASSWORD)
    client, _ = login(env.app, "officer")
    return client


def test_api_lang_parameter(app_env, monkeypatch) -> None:  # noqa: F811
    env = app_env
    q = {"study": env.study_id}
    english = env.client.get("/api/v1/tables/AET01", params=q, headers=env.auth("officer"))
    assert english.status_code == 200 and english.json()["language"] == "en"
    assert english.json()["title"] == "Overview of adverse events"
    # the interface language does not change the table's
    browser = {**env.auth("officer"), "Accept-Language": "zh-CN"}
    again = env.client.get("/api/v1/tables/AET01", params=q, headers=browser)
    assert again.json()["title"] == "Overview of adverse events"
    bad = env.client.get("/api/v1/tables/AET01", params={**q, "lang": "klingon"},
                         headers=env.auth("officer"))  # fmt: skip
    assert bad.status_code == 422
    assert "klingon" in bad.text and "zh-Hans" in bad.text
    with fake_chinese(monkeypatch):
        zh = env.client.get("/api/v1/tables/AET01", params={**q, "lang": "zh-Hans"},
                            headers=env.auth("officer"))  # fmt: skip
    assert zh.status_code == 200
    body = zh.json()
    assert body["language"] == "zh-Hans" and body["title"].startswith(MARK)
    assert MARK in zh.text  # JSON with ensure_ascii=False: no \u escapes
    assert [a["label"] for a in body["arms"]] == [a["label"] for a in english.json()["arms"]]


def test_reports_page_offers_the_table_language_and_a_csv_with_bom(app_env, monkeypatch) -> None:  # noqa: F811
    env = app_env
    client = _officer(env)
    page = client.get(f"/reports?study={env.study_id}&table=AET01")
    assert page.status_code == 200
    assert 'name="lang"' in page.text and "Table language" in page.text
    assert 'value="zh-Hans"' in page.text and "简体中文" in page.text
    assert client.get(f"/reports?study={env.study_id}&lang=xx").status_code == 422
    with fake_chinese(monkeypatch):
        zh = client.get(f"/reports?study={env.study_id}&table=AET01&lang=zh-Hans",
                        headers={"HX-Request": "true"})  # fmt: skip
        assert zh.status_code == 200 and MARK + "Overview of adverse events" in zh.text
        assert 'lang="zh-Hans"' in zh.text and "lang=zh-Hans" in zh.text  # links keep it
        csv = client.get(f"/reports/table.csv?study={env.study_id}&table=AET01&lang=zh-Hans")
    assert csv.status_code == 200
    assert csv.content.startswith(b"\xef\xbb\xbf")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    text = csv.content.decode("utf-8-sig")
    assert text.startswith("table,row_type,soc,term") and MARK in text
    plain = client.get(f"/reports/table.csv?study={env.study_id}&table=AET02")
    assert plain.content.startswith(b"\xef\xbb\xbf") and MARK not in plain.text


def test_dsmb_workbook_route_takes_a_language(app_env, monkeypatch) -> None:  # noqa: F811
    import io

    from openpyxl import load_workbook

    env = app_env
    client = _officer(env)
    url = f"/reports/dsmb.xlsx?study={env.study_id}&cutoff=2021-12-31&report=open"
    assert client.get(url + "&lang=xx").status_code == 422
    with fake_chinese(monkeypatch):
        zh = client.get(url + "&lang=zh-Hans")
        en = client.get(url)
    assert zh.status_code == 200 and en.status_code == 200
    assert "zh-Hans" in zh.headers["content-disposition"]
    zh_names = load_workbook(io.BytesIO(zh.content), read_only=True).sheetnames
    en_names = load_workbook(io.BytesIO(en.content), read_only=True).sheetnames
    assert zh_names[0] == MARK + "Cover" and en_names[0] == "Cover"
    assert all(len(n) <= 31 for n in zh_names)
