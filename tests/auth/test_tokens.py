"""Sessions and tokens (issue 13, point 3): tokens expire (90 days by default,
PV_TOKEN_DAYS), record their last use at most once a minute, are listed and revoked by
their owner on /account, and are revoked with the user's sessions on password change and
disable; PV_SINGLE_SESSION ends the user's other sessions at log-in."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import select

from pv.app import create_app
from pv.audit.models import AuditEntry
from pv.audit.service import Actor
from pv.auth.models import ApiToken, User
from pv.auth.service import _sha, disable_user, issue_token, set_password
from pv.db import read_session, write_session
from pv.settings import Settings, get_settings
from pv.timeutil import utcnow
from tests.auth.conftest import PASSWORD, signed_in

SUBJECTS = "/api/v1/subjects"


def _row(env, token: str) -> ApiToken:  # type: ignore[no-untyped-def]
    with read_session(env.engine) as s:
        return s.exec(select(ApiToken).where(ApiToken.token_hash == _sha(token))).one()


def _shift(env, token: str, **fields) -> None:  # type: ignore[no-untyped-def]
    with write_session(env.engine) as s:
        row = s.exec(select(ApiToken).where(ApiToken.token_hash == _sha(token))).one()
        for name, value in fields.items():
            setattr(row, name, value)
        s.add(row)


def test_tokens_expire_after_90_days_by_default(env) -> None:
    row = _row(env, env.tokens["inv1"])
    assert row.expires_at - row.created_at == timedelta(days=90)
    assert env.client.get(SUBJECTS, headers=env.auth("inv1")).status_code == 200
    _shift(env, env.tokens["inv1"], expires_at=utcnow() - timedelta(seconds=1))
    r = env.client.get(SUBJECTS, headers=env.auth("inv1"))
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"


def test_a_token_from_before_expiry_existed_expires_90_days_after_creation(env) -> None:
    _shift(env, env.tokens["inv1"], expires_at=None, created_at=utcnow() - timedelta(days=89))
    assert env.client.get(SUBJECTS, headers=env.auth("inv1")).status_code == 200
    _shift(env, env.tokens["inv1"], created_at=utcnow() - timedelta(days=91))
    assert env.client.get(SUBJECTS, headers=env.auth("inv1")).status_code == 401


def test_the_lifetime_is_a_setting(env, monkeypatch) -> None:
    monkeypatch.setenv("PV_TOKEN_DAYS", "7")
    get_settings.cache_clear()
    try:
        with write_session(env.engine) as s:
            token = issue_token(session=s, actor=Actor.system("tests"),
                                user=s.get(User, env.users["inv1"].id))  # fmt: skip
    finally:
        get_settings.cache_clear()
    row = _row(env, token)
    assert row.expires_at - row.created_at == timedelta(days=7)


def test_last_use_is_written_at_most_once_a_minute(env) -> None:
    assert _row(env, env.tokens["inv1"]).last_used_at is None
    assert env.client.get(SUBJECTS, headers=env.auth("inv1")).status_code == 200
    first = _row(env, env.tokens["inv1"]).last_used_at
    assert first is not None and utcnow() - first < timedelta(seconds=30)
    assert env.client.get(SUBJECTS, headers=env.auth("inv1")).status_code == 200
    assert _row(env, env.tokens["inv1"]).last_used_at == first  # within the minute
    earlier = utcnow() - timedelta(minutes=2)
    _shift(env, env.tokens["inv1"], last_used_at=earlier)
    assert env.client.get(SUBJECTS, headers=env.auth("inv1")).status_code == 200
    assert _row(env, env.tokens["inv1"]).last_used_at > earlier + timedelta(minutes=1)


def test_the_owner_lists_creates_and_revokes_tokens_on_the_account_page(env) -> None:
    client, csrf = signed_in(env.app, "inv1")
    page = client.get("/account")
    assert page.status_code == 200 and "Personal API tokens" in page.text
    # app_env's token (revoked when the fixture set the password) and env's new one
    assert page.text.count('data-testid="token-row"') == 2
    assert page.text.count('data-state="revoked"') == 1
    assert page.text.count('data-state="active"') == 1
    # a new token, shown once
    r = client.post("/account/tokens", data={"label": "nightly export", "csrf_token": csrf})
    assert r.status_code == 200
    new = re.search(r"<code>(pvt_[^<]+)</code>", r.text).group(1)  # type: ignore[union-attr]
    assert "nightly export" in r.text
    assert env.client.get(SUBJECTS, headers={"Authorization": f"Bearer {new}"}).status_code == 200
    again = client.get("/account")
    assert new not in again.text and "nightly export" in again.text
    assert again.text.count('data-testid="token-row"') == 3
    # revoke it as htmx does: the row comes back, revoked
    row = _row(env, new)
    r = client.post(f"/account/tokens/{row.id}/revoke",
                    headers={"HX-Request": "true", "X-CSRF-Token": csrf})  # fmt: skip
    assert r.status_code == 200
    assert r.text.strip().startswith(f'<tr id="token-{row.id}"') and "Revoked" in r.text
    assert 'data-state="revoked"' in r.text and "revoke-token" not in r.text
    assert env.client.get(SUBJECTS, headers={"Authorization": f"Bearer {new}"}).status_code == 401
    revoked = [e for e in _audit(env) if e.action == "revoke_token"]
    assert [(e.actor, e.entity_id) for e in revoked] == [("inv1", str(env.users["inv1"].id))]
    # the other token still works
    assert env.client.get(SUBJECTS, headers=env.auth("inv1")).status_code == 200


def _audit(env) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with read_session(env.engine) as s:
        return list(s.exec(select(AuditEntry).order_by(AuditEntry.id)))


def test_nobody_revokes_another_users_token_or_without_the_csrf_token(env) -> None:
    client, csrf = signed_in(env.app, "inv1")
    admins = _row(env, env.tokens["admin"])
    r = client.post(f"/account/tokens/{admins.id}/revoke", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 404
    own = _row(env, env.tokens["inv1"])
    assert client.post(f"/account/tokens/{own.id}/revoke").status_code == 403
    assert not _row(env, env.tokens["admin"]).revoked and not _row(env, env.tokens["inv1"]).revoked


def test_a_password_change_revokes_tokens_and_ends_sessions(env) -> None:
    client, _ = signed_in(env.app, "inv1")
    with write_session(env.engine) as s:
        user = s.get(User, env.users["inv1"].id)
        set_password(
            session=s, actor=Actor.system("tests"), user=user, password="fresh maple kayak"
        )
    assert env.client.get(SUBJECTS, headers=env.auth("inv1")).status_code == 401
    r = client.get("/", follow_redirects=False)
    assert r.status_code in (302, 303, 307) and r.headers["location"].startswith("/login")
    row = _row(env, env.tokens["inv1"])
    assert row.revoked and row.revoked_at is not None
    assert env.client.get(SUBJECTS, headers=env.auth("admin")).status_code == 200  # others: kept


def test_disable_revokes_tokens_and_ends_sessions(env) -> None:
    client, _ = signed_in(env.app, "inv1")
    with write_session(env.engine) as s:
        disable_user(session=s, actor=Actor.system("tests"), user=s.get(User, env.users["inv1"].id))
    assert env.client.get(SUBJECTS, headers=env.auth("inv1")).status_code == 401
    assert client.get("/", follow_redirects=False).status_code in (302, 303, 307)
    assert _row(env, env.tokens["inv1"]).revoked


def test_single_session_ends_the_other_sessions(env) -> None:
    # default (off): two browsers stay signed in
    first, _ = signed_in(env.app, "inv1")
    second, _ = signed_in(env.app, "inv1")
    assert first.get("/", follow_redirects=False).status_code == 200
    assert second.get("/", follow_redirects=False).status_code == 200
    # PV_SINGLE_SESSION=1: a new log-in ends the others
    app = create_app(Settings(database_url=str(env.engine.url), upload_worker="thread",
                              single_session=True), env.engine)  # fmt: skip
    with TestClient(app):
        third, _ = signed_in(app, "inv1")
        assert third.get("/", follow_redirects=False).status_code == 200
        for old in (first, second):
            assert old.get("/", follow_redirects=False).status_code in (302, 303, 307)
        # another user's session is not touched
        other, _ = signed_in(app, "admin")
        assert third.get("/", follow_redirects=False).status_code == 200
        assert other.get("/", follow_redirects=False).status_code == 200


def test_single_session_is_read_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("PV_SINGLE_SESSION", "true")
    monkeypatch.setenv("PV_TOKEN_DAYS", "30")
    s = Settings()
    assert s.single_session is True and s.token_days == 30
    monkeypatch.delenv("PV_SINGLE_SESSION")
    assert Settings().single_session is False
    assert PASSWORD  # (the fixtures' password)
