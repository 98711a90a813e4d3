"""Log-in defences (issue 13, point 2): throttling per account and per client address, the
account lock an administrator lifts, one argon2 verification for every kind of failure,
no typed name of an unknown account stored anywhere, and a bounded failure table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, text
from sqlmodel import select

from pv.audit.models import AuditEntry
from pv.audit.service import Actor
from pv.auth import passwords, throttle
from pv.auth.models import LoginFailure, User
from pv.auth.service import LoginRefused, LoginResult, login, unlock_user
from pv.db import read_session, write_session
from tests.auth.conftest import PASSWORD, attempt

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """The time the log-in service sees (pv.auth.service.utcnow), moved by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = T0
        monkeypatch.setattr("pv.auth.service.utcnow", lambda: self.now)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _login(env, username: str, password: str, address: str = "198.51.100.7"):  # type: ignore[no-untyped-def]
    with write_session(env.engine) as s:
        return login(session=s, username=username, password=password, address=address)


def _failures(env) -> list[LoginFailure]:  # type: ignore[no-untyped-def]
    with read_session(env.engine) as s:
        return list(s.exec(select(LoginFailure).order_by(LoginFailure.id)))


def _audit(env, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with read_session(env.engine) as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.action == action)))


def test_five_failures_then_429_with_retry_after_even_for_the_right_password(env) -> None:
    client = env.client
    for _ in range(5):
        r = attempt(client, "inv1", "not the password at all")
        assert r.status_code == 401 and "Wrong username or password." in r.text
    r = attempt(client, "inv1", PASSWORD)  # the right password, but it must wait
    assert r.status_code == 429
    assert 25 <= int(r.headers["Retry-After"]) <= 30
    assert "Too many failed log-ins. Try again in 1 minute." in r.text
    assert "pv_session" not in r.cookies
    # the refused attempt wrote nothing: still 5 failures, 5 audit entries
    assert len(_failures(env)) == 5 and len(_audit(env, "login_failed")) == 5


def test_delays_grow_and_a_success_clears_the_account(env, monkeypatch) -> None:
    clock = Clock(monkeypatch)
    for _ in range(5):
        assert _login(env, "inv1", "wrong guess here") == LoginRefused("wrong")
    assert _login(env, "inv1", PASSWORD) == LoginRefused("throttled", 30)
    clock.advance(10)
    assert _login(env, "inv1", PASSWORD) == LoginRefused("throttled", 20)
    clock.advance(20)
    assert _login(env, "inv1", "wrong guess here") == LoginRefused("wrong")  # 6th
    assert _login(env, "inv1", PASSWORD) == LoginRefused("throttled", 60)
    clock.advance(60)
    assert _login(env, "inv1", "wrong guess here") == LoginRefused("wrong")  # 7th
    assert _login(env, "inv1", PASSWORD) == LoginRefused("throttled", 120)
    clock.advance(120)
    assert isinstance(_login(env, "inv1", PASSWORD), LoginResult)
    # the success forgot the account's failures; another account's stay
    with write_session(env.engine) as s:
        throttle.record_failure(s, user_id=env.users["admin"].id, address="192.0.2.1",
                                now=clock.now)  # fmt: skip
    assert isinstance(_login(env, "inv1", PASSWORD), LoginResult)
    assert [(r.user_id, r.address) for r in _failures(env)] == [
        (env.users["admin"].id, "192.0.2.1")
    ]


def test_delay_schedule() -> None:
    assert [throttle.delay_after(n).total_seconds() for n in range(4, 12)] == [
        0, 30, 60, 120, 240, 480, 900, 900,
    ]  # fmt: skip


def test_the_address_is_throttled_whatever_names_it_types(env) -> None:
    """Unknown names are not stored, so they are throttled by the client address alone."""
    for i in range(5):
        assert _login(env, f"nobody-{i}", "some password 1") == LoginRefused("wrong")
    # now even a real account with its right password, from that address, waits
    refused = _login(env, "inv1", PASSWORD)
    assert refused.reason == "throttled" and refused.retry_after > 0  # type: ignore[union-attr]
    # another address is not held up
    assert isinstance(_login(env, "inv1", PASSWORD, address="203.0.113.9"), LoginResult)


def test_the_account_is_throttled_across_addresses(env) -> None:
    for i in range(5):
        assert _login(env, "inv1", "wrong guess", address=f"192.0.2.{i}") == LoginRefused("wrong")
    refused = _login(env, "inv1", PASSWORD, address="192.0.2.200")
    assert refused.reason == "throttled" and refused.retry_after > 0  # type: ignore[union-attr]
    # another account from a fresh address may log in
    assert isinstance(_login(env, "admin", PASSWORD, address="192.0.2.201"), LoginResult)


def test_ipv6_clients_are_counted_by_their_64_network() -> None:
    assert throttle.client_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert throttle.client_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert throttle.client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert throttle.client_key("192.0.2.1") == "192.0.2.1"
    assert throttle.client_key(None) is None


def _lock(env, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    """Ten failures of inv1 from ten addresses, each after the delay the last one set."""
    for i in range(throttle.LOCK_AFTER):
        refused = _login(env, "inv1", "wrong guess", address=f"192.0.2.{i}")
        assert refused.reason == ("locked" if i == throttle.LOCK_AFTER - 1 else "wrong")  # type: ignore[union-attr]
        clock.advance(throttle.MAX_DELAY.total_seconds())


def test_the_tenth_failure_locks_the_account_until_an_admin_unlocks_it(env, monkeypatch) -> None:
    clock = Clock(monkeypatch)
    _lock(env, clock)
    with read_session(env.engine) as s:
        assert s.get(User, env.users["inv1"].id).locked_at == T0 + 9 * throttle.MAX_DELAY
    lock = _audit(env, "lock")
    assert [(e.actor, e.entity_id) for e in lock] == [("login-throttle", str(env.users["inv1"].id))]
    # locked: the right password is refused too, with the lock named (423), through the form
    assert _login(env, "inv1", PASSWORD, address="203.0.113.1") == LoginRefused("locked")
    monkeypatch.undo()  # the web form uses the real clock
    r = attempt(env.client, "inv1", PASSWORD)
    assert r.status_code == 423
    assert "This account is locked after too many failed log-ins." in r.text
    # its API token stops working while locked
    assert env.client.get("/api/v1/subjects", headers=env.auth("inv1")).status_code == 401
    with write_session(env.engine) as s:
        assert unlock_user(
            session=s, actor=Actor.system("tests"), user=s.get(User, env.users["inv1"].id)
        )
    r = attempt(env.client, "inv1", PASSWORD)
    assert r.status_code == 303
    assert [e.actor for e in _audit(env, "unlock")] == ["tests"]


def test_every_kind_of_failure_costs_one_argon2_verification(env, monkeypatch) -> None:
    """Unknown, disabled, locked, password-less and wrong-password attempts each run the
    argon2 verification once (the same work as a right password), so the time of the
    answer does not tell them apart (bench/bench_login.py measures the times)."""
    from pv.auth.service import disable_user

    with write_session(env.engine) as s:
        disable_user(session=s, actor=Actor.system("tests"),
                     user=s.get(User, env.users["inv2"].id))  # fmt: skip
        locked = s.get(User, env.users["admin"].id)
        locked.locked_at = T0
        s.add(locked)
    calls: list[str] = []
    real = passwords._hasher

    class Counting:  # argon2's PasswordHasher, counting its verifications
        def verify(self, hash_: str, password: str) -> bool:
            calls.append(hash_)
            return real.verify(hash_, password)

        def hash(self, password: str) -> str:
            return real.hash(password)

    monkeypatch.setattr(passwords, "_hasher", Counting())
    cases = {
        "unknown": ("no-such-user", PASSWORD),
        "disabled": ("inv2", PASSWORD),
        "locked": ("admin", PASSWORD),  # its right password
        "password-less": ("officer", PASSWORD),
        "wrong password": ("inv1", "a wrong password"),
        "right password": ("inv1", PASSWORD),
    }
    for i, (case, (name, password)) in enumerate(cases.items()):
        before = len(calls)
        result = _login(env, name, password, address=f"192.0.2.{i}")
        assert len(calls) - before == 1, case
        assert isinstance(result, LoginResult) == (case == "right password"), case
    # the refused accounts were checked against the dummy hash, not their own
    assert calls[:3] == [passwords.DUMMY_HASH] * 3 and calls[3] == passwords.DUMMY_HASH


def test_the_typed_name_of_an_unknown_account_is_stored_nowhere(env) -> None:
    name = "mallory-typed-this-name"
    for i in range(3):
        r = attempt(env.client, f"{name}{i}", "a guess at it")
        assert r.status_code == 401
    r = attempt(env.client, "inv1", "a guess at it")  # an existing account
    assert r.status_code == 401
    with read_session(env.engine) as s:
        for table in ("audit_log", "login_failure"):
            rows = s.execute(text(f"SELECT * FROM {table}")).all()
            assert not any(name in str(value) for row in rows for value in row), table
    rows = _failures(env)
    assert [(r.user_id, r.address) for r in rows] == [
        (None, "testclient"), (None, "testclient"), (None, "testclient"),
        (env.users["inv1"].id, "testclient"),
    ]  # fmt: skip
    # the audit trail has the existing account's failure only: actor "anonymous"
    failed = _audit(env, "login_failed")
    assert [(e.actor, e.actor_id, e.entity_type, e.entity_id) for e in failed] == [
        ("anonymous", None, "user", str(env.users["inv1"].id))
    ]


def test_two_hundred_wrong_passwords_write_five_rows(env) -> None:
    """The attack of the issue: many wrong passwords from one client. Only the first five
    are checked and written; the rest are refused (429) without a write."""
    codes = [attempt(env.client, "inv1", f"guess number {i}").status_code for i in range(200)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    assert len(_failures(env)) == 5 and len(_audit(env, "login_failed")) == 5


def test_the_failure_table_is_bounded(env, monkeypatch) -> None:
    now = T0
    with write_session(env.engine) as s:
        # one address: at most KEY_CAP rows
        for i in range(throttle.KEY_CAP + 15):
            throttle.record_failure(s, user_id=None, address="192.0.2.50",
                                    now=now + timedelta(seconds=i))  # fmt: skip
        # one account: at most KEY_CAP rows too
        for i in range(throttle.KEY_CAP + 15):
            throttle.record_failure(s, user_id=env.users["inv1"].id, address=f"10.9.{i}.1",
                                    now=now + timedelta(seconds=i))  # fmt: skip
    with read_session(env.engine) as s:
        count = s.exec(select(func.count()).select_from(LoginFailure).where(
            LoginFailure.address == "192.0.2.50")).one()  # fmt: skip
        assert count == throttle.KEY_CAP
        count = s.exec(select(func.count()).select_from(LoginFailure).where(
            LoginFailure.user_id == env.users["inv1"].id)).one()  # fmt: skip
        assert count == throttle.KEY_CAP
    # many addresses: the whole table is capped (the oldest go first)
    monkeypatch.setattr(throttle, "TABLE_CAP", 50)
    with write_session(env.engine) as s:
        for i in range(120):
            throttle.record_failure(s, user_id=None, address=f"198.18.{i}.1",
                                    now=now + timedelta(minutes=1, seconds=i))  # fmt: skip
    rows = _failures(env)
    assert len(rows) == 50 and rows[-1].address == "198.18.119.1"
    # a day later every old row is gone
    with write_session(env.engine) as s:
        throttle.record_failure(s, user_id=None, address="192.0.2.99",
                                now=now + throttle.RETENTION + timedelta(hours=1))  # fmt: skip
    assert [r.address for r in _failures(env)] == ["192.0.2.99"]
