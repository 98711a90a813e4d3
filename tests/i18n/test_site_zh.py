"""The investigator's screens in Simplified Chinese, with the committed catalog: the log-in
page, the event list and form, the subject form and the upload page speak Chinese; the
shared validation rules answer in the language of the work in hand; an upload job and its
error report (UTF-8 with a byte-order mark) are in the language of the user who uploaded."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest

from pv import i18n
from pv.events.dates import parse_dtc
from pv.events.rules import EventInput, check_event
from pv.inputs import parse_date
from tests.web.conftest import app_env, world  # noqa: F401 - the web fixtures
from tests.web.webhelpers import login, upload_and_wait

ZH = {"Accept-Language": "zh-CN"}
HEADER = ["USUBJID", "AETERM", "AELLTCD", "AETOXGR", "AESER", "AESTDTC", "AEENDTC", "AEOUT",
          "AEREL_BELIMUMAB", "AEREL_PREDNISONE"]  # fmt: skip


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_shared_rules_answer_in_the_language_of_the_work(zh: None) -> None:
    data = EventInput(aeterm="x", aetoxgr=7, aeser=True, aestdtc="2021-02-30")
    kwargs = {"term": None, "drug_keys": ["belimumab"], "consent_date": None,
              "today": date(2024, 1, 1), "submit": True}  # fmt: skip
    with i18n.use("zh-Hans"):
        messages = [i.message for i in check_event(data, **kwargs).errors]
        assert "分级必须为 1 至 5" in messages
        assert "严重事件需要病例描述" in messages
        assert "与 belimumab 的因果关系为必填项" in messages
        assert any("没有第 30 日" in m for m in messages)
        with pytest.raises(ValueError, match="不是 YYYY-MM-DD 格式的日期"):
            parse_date("15.03.2021")
    with i18n.use("en"):
        messages = [i.message for i in check_event(data, **kwargs).errors]
        assert "the grade must be 1 to 5" in messages
        assert "relationship to belimumab is required" in messages
        with pytest.raises(ValueError, match="'2021-13': month 13 does not exist"):
            parse_dtc("2021-13")


def test_the_site_screens_speak_chinese(world, zh: None) -> None:  # noqa: F811
    client, csrf = login(world.app, "inv1")
    events = _text(client.get("/events", headers=ZH).text)
    assert "不良事件" in events and "排序" in events and "Adverse events" not in events
    subjects = _text(client.get("/subjects", headers=ZH).text)
    assert "添加受试者" in subjects and "报告不良事件" in subjects
    upload = _text(client.get("/upload", headers=ZH).text)
    assert "上传不良事件" in upload and "CONFIRM_DUPLICATE" in upload
    assert 'data-refused="文件被拒绝：' in client.get("/upload", headers=ZH).text

    subject_id = world.ids["own"][1]
    form = client.get(f"/events/new?subject={subject_id}", headers=ZH).text
    assert "报告不良事件" in _text(form) and "严重性标准" in _text(form)
    r = client.post("/events", headers=ZH, data={
        "csrf_token": csrf, "subject_id": str(subject_id), "aeterm": "发热",
        "aetoxgr": "x", "action": "submit"})  # fmt: skip
    assert r.status_code == 422
    shown = _text(r.text)
    assert "事件未保存：下方有 1 个问题需要修改。" in shown and "请选择 1 至 5 的分级" in shown

    r = client.post("/subjects", headers=ZH, data={"csrf_token": csrf, "site": "",
                                                   "subjid": "../x", "age": "300"})  # fmt: skip
    assert r.status_code == 422
    shown = _text(r.text)
    assert "0 至 120 之间的数字" in shown and "不是有效的编号" in shown

    english = _text(client.get("/events").text)
    assert "Adverse events" in english and "不良事件" not in english


def test_a_wrong_password_is_told_in_chinese(world, zh: None) -> None:  # noqa: F811
    client, _ = login(world.app, "inv1")
    page = client.get("/login", headers=ZH)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert "用户名" in page.text
    r = client.post("/login", headers=ZH, data={"username": "inv1", "password": "nope",
                                                "csrf_token": token})  # fmt: skip
    assert "用户名或密码错误。" in r.text


def _header_only() -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(HEADER)
    return out.getvalue().encode()


def test_an_upload_job_speaks_the_uploaders_language(world, zh: None) -> None:  # noqa: F811
    client, csrf = login(world.app, "inv1")
    client.headers.update(ZH)
    _, state, fragment = upload_and_wait(client, csrf, world.study_id, "空.csv", _header_only())
    assert state is not None and state["status"] == "rejected"
    assert state["errors"][0]["reason"] == "文件中没有数据行"
    assert "未保存任何内容。" in _text(fragment) and "下载错误报告" in _text(fragment)
    raw = client.get(state["report"]).content
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens the Chinese as such
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["行", "列", "值", "原因"]
    assert rows[1][3] == "文件中没有数据行"


def test_an_upload_job_in_english_keeps_its_report_header(world) -> None:  # noqa: F811
    client, csrf = login(world.app, "inv1")
    _, state, _ = upload_and_wait(client, csrf, world.study_id, "empty.csv", _header_only())
    assert state is not None and state["errors"][0]["reason"] == "the file has no data rows"
    raw = client.get(state["report"]).content
    assert raw.startswith(b"\xef\xbb\xbfrow,column,value,reason\r\n")
