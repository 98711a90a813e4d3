"""The interface language: the user's own setting, then the switch's cookie, then the
browser's Accept-Language, then the study's default; `<html lang>` and Content-Language
say which; the header's switch changes it; dates stay ISO in both languages."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from pv import i18n
from pv.auth.models import User
from pv.db import read_session, write_session
from pv.study.models import Study
from tests.web.webhelpers import login

ZH = "zh-Hans"


def _lang(html: str) -> str:
    return re.search(r'<html lang="([^"]+)"', html).group(1)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "header, expected",
    [
        (None, None),
        ("", None),
        ("zh-CN,zh;q=0.9,en;q=0.8", ZH),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR, de;q=0.9", None),
        ("fr-FR, zh-TW;q=0.5, en;q=0.4", ZH),  # every Chinese tag reads zh-Hans
        ("en;q=0.2, zh-Hans;q=0.7", ZH),
        ("zh;q=0, en;q=0.1", "en"),  # q=0: not acceptable
        ("zh_CN", ZH),
        ("*", None),
        ("en;q=abc, zh", ZH),  # a broken q-value skips that entry only
        ("x" * 5000, None),
    ],
)
def test_accept_language_is_read_by_its_q_values(header: str | None, expected: str | None) -> None:
    assert i18n.from_accept_language(header) == expected


def test_tags_are_normalized() -> None:
    assert i18n.normalize("ZH-hans") == ZH and i18n.normalize("zh_CN.UTF-8") == ZH
    assert i18n.normalize("en_GB") == "en" and i18n.normalize("ja") is None
    assert i18n.normalize(None) is None


def test_the_login_page_follows_the_browser_then_the_cookie(app_env) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app_env.app)
    r = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert _lang(r.text) == ZH and r.headers["content-language"] == ZH
    assert "Accept-Language" in r.headers["vary"]
    assert "登录" in r.text  # the log-in button, from the catalog
    r = client.get("/login", headers={"Accept-Language": "en-US"})
    assert _lang(r.text) == "en" and r.headers["content-language"] == "en"
    # The switch before log-in: a cookie, which wins over the browser.
    r = client.post("/language", data={"lang": ZH, "next": "/login"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert f"{i18n.LANGUAGE_COOKIE}={ZH}" in r.headers["set-cookie"]
    r = client.get("/login", headers={"Accept-Language": "en-US"})
    assert _lang(r.text) == ZH


def test_the_switch_refuses_an_unknown_language_and_a_foreign_target(app_env) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app_env.app)
    assert client.post("/language", data={"lang": "xx"}).status_code == 422
    r = client.post("/language", data={"lang": "en", "next": "//evil.example/"},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_a_signed_in_users_choice_is_saved_and_follows_them(world) -> None:  # type: ignore[no-untyped-def]
    env = world
    client, csrf = login(env.app, "inv1")
    home = client.get("/", headers={"Accept-Language": "en"})
    assert _lang(home.text) == "en"
    # The switch needs the CSRF token of the session.
    refused = client.post("/language", data={"lang": ZH, "next": "/events"},
                          follow_redirects=False)  # fmt: skip
    assert refused.status_code == 403
    r = client.post("/language", data={"lang": ZH, "next": "/events", "csrf_token": csrf},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/events"
    with read_session(env.engine) as s:
        assert s.exec(select(User.language).where(User.username == "inv1")).one() == ZH
    # Another browser, English by its headers: after log-in the user's setting wins.
    other, _ = login(env.app, "inv1")
    page = other.get("/events", headers={"Accept-Language": "en-US"})
    assert _lang(page.text) == ZH and "不良事件" in page.text
    # The API follows the user's setting too.
    api = env.client.get("/api/v1/events", headers=env.auth("inv1"))
    assert api.headers["content-language"] == ZH


def test_the_study_default_applies_when_neither_user_nor_browser_names_one(world) -> None:  # type: ignore[no-untyped-def]
    env = world
    with write_session(env.engine) as s:
        study = s.get(Study, env.study_id)
        study.language = ZH
        s.add(study)
    client, _ = login(env.app, "inv1")
    assert _lang(client.get("/events").text) == ZH  # no Accept-Language sent
    assert _lang(client.get("/events", headers={"Accept-Language": "en"}).text) == "en"
    # An officer has no site of their own: the configured default (English).
    officer, _ = login(env.app, "officer")
    assert _lang(officer.get("/review").text) == "en"


def test_dates_stay_iso_in_chinese(world) -> None:  # type: ignore[no-untyped-def]
    env = world
    client, _ = login(env.app, "inv1")
    _, event_id, _ = env.ids["own"]
    page = client.get(f"/events/{event_id}", headers={"Accept-Language": "zh-CN"})
    assert _lang(page.text) == ZH
    assert "2021-03" in page.text and "2021-04-01" in page.text  # as entered, ISO 8601
    assert not re.search(r"\d{1,2}/\d{1,2}/\d{4}|\d{4}年\d{1,2}月", page.text)
