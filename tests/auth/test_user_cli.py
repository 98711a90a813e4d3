"""`pvtracker user ...` (issue 13, points 2 to 4): data-changing user commands act as an
administrator named by --as or PV_ACTOR and record that user; the first administrator
bootstraps itself; read-only commands need no --as; unlock, tokens and revoke-token."""

from __future__ import annotations

import pytest
from sqlmodel import select

from pv.audit.models import AuditEntry
from pv.auth.models import ApiToken, User
from pv.db import make_engine, read_session, write_session
from pv.timeutil import utcnow
from tests.commands import Commands

PW = "lantern otter quarry\n"


@pytest.fixture
def cli(db_url, monkeypatch, capsys):
    commands = Commands(monkeypatch, capsys, db_url)
    yield commands
    commands.close()


@pytest.fixture
def db(db_url):
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _entries(db, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with read_session(db) as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.action == action)
                           .order_by(AuditEntry.id)))  # fmt: skip


def _user(db, name: str) -> User:  # type: ignore[no-untyped-def]
    with read_session(db) as s:
        return s.exec(select(User).where(User.username == name)).one()


def test_the_first_admin_bootstraps_itself_then_everything_needs_as(cli, db) -> None:
    # no admin yet: a non-admin cannot be created without --as
    code, _, err = cli("user", "add", "olga", "--role", "officer", "--password-stdin", stdin=PW)
    assert code == 2 and "--as USERNAME" in err
    code, out, _ = cli("user", "add", "root", "--role", "admin", "--password-stdin", stdin=PW)
    assert code == 0 and "created admin root" in out
    root = _user(db, "root")
    [created] = _entries(db, "create")
    assert (created.actor, created.actor_id, created.entity_id, created.reason) == (
        "root", root.id, str(root.id), "bootstrap",
    )  # fmt: skip
    # an active admin exists: a second admin needs --as too
    code, _, err = cli("user", "add", "root2", "--role", "admin", "--password-stdin", stdin=PW)
    assert code == 2 and "--as USERNAME" in err
    code, _, _ = cli("user", "add", "olga", "--role", "officer", "--as", "root",
                     "--password-stdin", stdin=PW)  # fmt: skip
    assert code == 0
    created = _entries(db, "create")[-1]
    assert (created.actor, created.actor_id, created.reason) == ("root", root.id, None)
    # an officer may not administer users; an unknown --as is refused
    code, _, err = cli("user", "add", "x1", "--role", "dsmb", "--as", "olga",
                       "--password-stdin", stdin=PW)  # fmt: skip
    assert code == 2 and "may not do this" in err
    code, _, err = cli("user", "add", "x1", "--role", "dsmb", "--as", "ghost",
                       "--password-stdin", stdin=PW)  # fmt: skip
    assert code == 2 and "no active user" in err
    with read_session(db) as s:
        assert s.exec(select(User).where(User.username == "x1")).first() is None


@pytest.fixture
def admin(cli):
    assert cli("user", "add", "root", "--role", "admin", "--password-stdin", stdin=PW)[0] == 0
    code = cli("user", "add", "olga", "--role", "officer", "--as", "root",
               "--password-stdin", stdin=PW)[0]  # fmt: skip
    assert code == 0
    return "root"


@pytest.mark.parametrize(
    "command",
    [
        ("set-password", "olga", "--password-stdin"),
        ("disable", "olga"),
        ("unlock", "olga"),
        ("token", "olga"),
        ("revoke-token", "1"),
    ],
)
def test_every_changing_user_command_refuses_without_an_admin(cli, db, admin, command) -> None:
    before = len(_entries(db, "create")) + len(_entries(db, "set_password"))
    code, _, err = cli("user", *command, stdin="autumn pebble kettle\n")
    assert code == 2 and "--as USERNAME" in err
    code, _, err = cli("user", *command, "--as", "olga", stdin="autumn pebble kettle\n")
    assert code == 2 and "may not do this" in err
    assert len(_entries(db, "create")) + len(_entries(db, "set_password")) == before
    assert not _user(db, "olga").disabled


def test_pv_actor_names_the_admin_and_is_recorded(cli, db, admin, monkeypatch) -> None:
    monkeypatch.setenv("PV_ACTOR", "root")
    code, out, _ = cli("user", "set-password", "olga", "--password-stdin",
                       stdin="autumn pebble kettle\n")  # fmt: skip
    assert code == 0 and "password set for olga" in out
    [entry] = _entries(db, "set_password")
    assert (entry.actor, entry.actor_id) == ("root", _user(db, "root").id)
    code, _, err = cli("user", "set-password", "olga", "--password-stdin", stdin="olga12345678\n")
    assert code == 2 and "must not contain the user name" in err


def test_tokens_listed_and_revoked_by_an_admin(cli, db, admin) -> None:
    code, out, _ = cli("user", "token", "olga", "--as", "root", "--label", "etl job",
                       "--days", "30")  # fmt: skip
    assert code == 0
    token = out.strip().splitlines()[-1]
    with read_session(db) as s:
        row = s.exec(select(ApiToken)).one()
    assert token.startswith("pvt_") and f"API token {row.id} for olga" in out
    assert (row.expires_at - row.created_at).days == 30 and row.label == "etl job"
    code, out, _ = cli("user", "tokens", "olga")  # read only: no --as
    assert code == 0
    line = [x for x in out.splitlines() if x.strip().startswith(str(row.id))][0]
    assert "active" in line and "etl job" in line
    assert row.expires_at.strftime("%Y-%m-%d %H:%M") in line
    code, out, _ = cli("user", "revoke-token", str(row.id), "--as", "root")
    assert code == 0 and f"revoked API token {row.id}" in out
    code, out, _ = cli("user", "tokens", "olga")
    assert "revoked" in out
    [entry] = _entries(db, "revoke_token")
    assert (entry.actor, entry.entity_id) == ("root", str(_user(db, "olga").id))
    code, _, err = cli("user", "revoke-token", "999", "--as", "root")
    assert code == 2 and "no API token 999" in err


def test_unlock_lifts_the_lock_and_list_shows_it(cli, db, admin) -> None:
    with write_session(db) as s:
        olga = s.exec(select(User).where(User.username == "olga")).one()
        olga.locked_at = utcnow()
        s.add(olga)
    code, out, _ = cli("user", "list")
    assert code == 0
    [line] = [x for x in out.splitlines() if x.startswith("olga ")]
    assert "locked since" in line
    code, out, _ = cli("user", "unlock", "olga", "--as", "root")
    assert code == 0 and "unlocked olga" in out
    assert _user(db, "olga").locked_at is None
    [entry] = _entries(db, "unlock")
    assert entry.actor == "root"
    code, out, _ = cli("user", "list")
    [line] = [x for x in out.splitlines() if x.startswith("olga ")]
    assert "active" in line and "locked" not in line
    code, out, _ = cli("user", "unlock", "olga", "--as", "root")
    assert code == 0 and "olga was not locked" in out


def test_disable_as_an_admin(cli, db, admin) -> None:
    code, out, _ = cli("user", "disable", "olga", "--as", "root")
    assert code == 0 and "disabled olga" in out
    [entry] = _entries(db, "disable")
    assert entry.actor == "root" and _user(db, "olga").disabled
    # a disabled admin cannot act
    assert cli("user", "disable", "root", "--as", "root")[0] == 0
    code, _, err = cli("user", "token", "olga", "--as", "root")
    assert code == 2 and "no active user" in err
