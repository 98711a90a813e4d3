"""The administrators' pages (issue 13, points 2 and 3): every account's state (locked
accounts shown), unlocking one, anyone's API tokens and revoking them; other roles are
refused."""

from __future__ import annotations

import re

from sqlmodel import select

from pv.audit.models import AuditEntry
from pv.auth.models import ApiToken, User
from pv.auth.service import _sha
from pv.db import read_session, write_session
from pv.timeutil import utcnow
from tests.auth.conftest import PASSWORD, attempt, signed_in


def _lock(env, name: str) -> None:  # type: ignore[no-untyped-def]
    with write_session(env.engine) as s:
        user = s.get(User, env.users[name].id)
        user.locked_at = utcnow()
        s.add(user)


def test_the_users_page_shows_locked_accounts_and_an_admin_unlocks_one(env) -> None:
    _lock(env, "inv1")
    admin, csrf = signed_in(env.app, "admin")
    assert 'data-testid="nav-users"' in admin.get("/").text
    page = admin.get("/admin/users")
    assert page.status_code == 200
    row = re.search(r'data-username="inv1">(.*?)</tr>', page.text, re.S).group(1)  # type: ignore[union-attr]
    assert "Locked since" in row
    row = re.search(r'data-username="officer">(.*?)</tr>', page.text, re.S).group(1)  # type: ignore[union-attr]
    assert "Active" in row and "Locked" not in row
    assert attempt(env.client, "inv1", PASSWORD).status_code == 423
    uid = env.users["inv1"].id
    detail = admin.get(f"/admin/users/{uid}")
    assert "Unlock" in detail.text and 'data-testid="unlock-form"' in detail.text
    # the unlock form needs the CSRF token
    assert admin.post(f"/admin/users/{uid}/unlock").status_code == 403
    r = admin.post(f"/admin/users/{uid}/unlock", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    with read_session(env.engine) as s:
        assert s.get(User, uid).locked_at is None
        entry = s.exec(select(AuditEntry).where(AuditEntry.action == "unlock")).one()
        assert (entry.actor, entry.entity_id) == ("admin", str(uid))
    assert 'data-testid="unlock-form"' not in admin.get(f"/admin/users/{uid}").text
    assert attempt(env.client, "inv1", PASSWORD).status_code == 303


def test_an_admin_revokes_another_users_token(env) -> None:
    admin, csrf = signed_in(env.app, "admin")
    with read_session(env.engine) as s:
        token = s.exec(
            select(ApiToken).where(ApiToken.token_hash == _sha(env.tokens["inv1"]))
        ).one()
    page = admin.get(f"/admin/users/{env.users['inv1'].id}")
    assert f'action="/admin/tokens/{token.id}/revoke"' in page.text
    r = admin.post(f"/admin/tokens/{token.id}/revoke",
                   headers={"HX-Request": "true", "X-CSRF-Token": csrf})  # fmt: skip
    assert r.status_code == 200 and 'data-state="revoked"' in r.text and "Revoked" in r.text
    assert env.client.get("/api/v1/subjects", headers=env.auth("inv1")).status_code == 401
    with read_session(env.engine) as s:
        entry = s.exec(select(AuditEntry).where(AuditEntry.action == "revoke_token")).one()
        assert (entry.actor, entry.entity_id) == ("admin", str(env.users["inv1"].id))


def test_other_roles_may_not_open_the_admin_pages(env) -> None:
    inv, csrf = signed_in(env.app, "inv1")
    assert 'data-testid="nav-users"' not in inv.get("/").text
    assert inv.get("/admin/users").status_code == 403
    assert inv.get(f"/admin/users/{env.users['admin'].id}").status_code == 403
    with read_session(env.engine) as s:
        token = s.exec(
            select(ApiToken).where(ApiToken.token_hash == _sha(env.tokens["admin"]))
        ).one()
    r = inv.post(f"/admin/tokens/{token.id}/revoke", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403
    _lock(env, "admin")
    assert inv.post(f"/admin/users/{env.users['admin'].id}/unlock",
                    headers={"X-CSRF-Token": csrf}).status_code == 403  # fmt: skip
    with read_session(env.engine) as s:
        assert not s.get(ApiToken, token.id).revoked
        assert s.get(User, env.users["admin"].id).locked_at is not None
