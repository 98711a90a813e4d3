"""Fixtures of the log-in defence, password and token tests: the web app of tests/web (a
study, two sites, one user per role) with a password for inv1, and helpers to log in
through the form."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from pv.audit.service import Actor
from pv.auth.models import User
from pv.auth.service import set_password
from pv.db import write_session
from tests.web.conftest import app_env  # noqa: F401  (the web fixtures)

PASSWORD = "tawny ferret juggles"


@pytest.fixture
def env(app_env):  # noqa: F811
    """app_env with passwords for inv1 and admin (set_password revokes the tokens that
    app_env issued: new ones are issued into env.tokens)."""
    from pv.auth.service import issue_token

    with write_session(app_env.engine) as s:
        for name in ("inv1", "admin"):
            user = s.get(User, app_env.users[name].id)
            set_password(session=s, actor=Actor.system("tests"), user=user, password=PASSWORD)
            app_env.tokens[name] = issue_token(session=s, actor=Actor.system("tests"), user=user)
    return app_env


def form_token(client: TestClient) -> str:
    page = client.get("/login")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def attempt(client: TestClient, username: str, password: str):  # type: ignore[no-untyped-def]
    """One log-in through the form (a fresh form token each time, as a browser)."""
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": form_token(client)},
        follow_redirects=False,
    )


def signed_in(app, username: str, password: str = PASSWORD) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    r = attempt(client, username, password)
    assert r.status_code == 303, r.text
    home = client.get("/")
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', home.text).group(1)  # type: ignore[union-attr]
    return client, csrf
