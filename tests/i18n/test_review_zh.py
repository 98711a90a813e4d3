"""The safety-review screens in Simplified Chinese, with the committed catalog: the queue,
the event review page, its form errors, the clocks, queries, RSI and charts pages speak
Chinese; the queue's kept rows and filter form follow the language of the request."""

from __future__ import annotations

from pv import i18n
from pv.review.workflow import transition_refusal
from tests.web.conftest import app_env, world  # noqa: F401 - the web fixtures
from tests.web.reviewhelpers import add_event, assessment_form, post, text_of, version
from tests.web.webhelpers import login

ZH = {"Accept-Language": "zh-CN"}


def test_workflow_refusals_are_translated(zh: None) -> None:
    with i18n.use("zh-Hans"):
        assert "事件不能从" in (transition_refusal("locked", "submitted", "officer") or "")
    with i18n.use("en"):
        assert transition_refusal("locked", "submitted", "officer") == (
            "an event cannot go from locked to submitted"
        )


def test_the_review_screens_speak_chinese(world, zh: None) -> None:  # noqa: F811
    event_id, _ = add_event(world)
    officer, csrf = login(world.app, "officer")

    queue = text_of(officer.get("/review", headers=ZH).text)
    assert "审评队列" in queue and "特别关注" in queue and "严重" in queue
    assert "Review queue" not in queue and "Special interest" not in queue
    # The kept row and filter form are per language: English again in English.
    english = text_of(officer.get("/review").text)
    assert "Review queue" in english and "Special interest" in english and "serious" in english

    start = f"/review/events/{event_id}/start"
    r = post(officer, csrf, start, version=str(version(world, event_id)))
    assert r.status_code == 303, r.text
    form = assessment_form(world, event_id, awareness_date="")
    r = officer.post(
        f"/review/events/{event_id}/assess", data={"csrf_token": csrf, **form}, headers=ZH
    )
    assert r.status_code == 422
    shown = text_of(r.text)
    assert "评估未保存：下方有 1 个问题需要修正。" in shown
    assert "请按 YYYY-MM-DD 格式输入获知日期" in shown

    r = post(officer, csrf, f"/review/events/{event_id}/assess", **assessment_form(world, event_id))
    assert r.status_code == 303, r.text
    page = text_of(officer.get(f"/review/events/{event_id}", headers=ZH).text)
    assert "申办方评估" in page and "SUSAR：严重、非预期、怀疑相关" in page
    assert "SUSAR 首次报告（15 天）" in page and "编码核查" in page and "全部版本" in page
    assert "Sponsor assessment" not in page and "Expedited reports" not in page

    english = officer.get(f"/review/events/{event_id}").text  # markup kept in placeholders
    assert "Reported as <strong>“pneumonia”</strong>, coded to <strong>Lung infection" in english
    assert 'due <strong data-testid="due-date">2021-03-19</strong> (day 15)' in english

    for url, words in (
        ("/clocks?show=all", "快速报告时限"),
        ("/queries", "质疑"),
        ("/admin/rsi", "参考安全性信息"),
        ("/charts", "图表"),
    ):
        r = officer.get(url, headers=ZH)
        assert r.status_code == 200 and words in text_of(r.text), url

    r = officer.get("/review?cursor=garbage", headers=ZH)
    assert r.status_code == 422 and "此页面链接已损坏" in r.text
