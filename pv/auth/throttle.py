"""Log-in throttling: failed log-ins counted per account and per client address.

The rules (issue 13, point 2):

- Free attempts: up to FREE_FAILURES (5) failures of an account, or from an address, within
  WINDOW (15 minutes). After that every further attempt must wait: 30 s after the 5th
  failure, then twice as long after each further one (60 s, 120 s, 240 s, ...), at most
  15 minutes. An attempt made while waiting is answered 429 with Retry-After, without
  checking the password and without writing anything.
- Lock: the LOCK_AFTER-th (10th) failure of an existing account within LOCK_WINDOW (24
  hours) locks it (User.locked_at) until an administrator unlocks it
  (`pvtracker user unlock USERNAME --as ADMIN`). With the delays above an attacker reaches
  it after about 16 minutes of patient guessing from one address, sooner from many
  addresses; a user who mistypes a few times is only slowed down. A successful log-in
  forgets that account's failures (failures against other accounts stay).
- Attempts against a locked account cost the same argon2 verification, are answered 423
  whatever the password, and count for the address.
- What is stored: a LoginFailure row holds the time, the account's id when the typed name
  is an existing account, and the client address (IPv6 reduced to its /64 network, which
  one client usually controls whole). The typed name of an unknown account is never
  stored, so an unknown name is throttled by address only.
- Bounded: rows older than RETENTION (24 hours) are deleted; at most KEY_CAP rows are kept
  per account and per address, and at most TABLE_CAP rows in all (the oldest go first), so
  anonymous clients cannot grow the database without bound.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from pv.auth.models import LoginFailure

WINDOW = timedelta(minutes=15)
FREE_FAILURES = 5
FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)
LOCK_AFTER = 10
LOCK_WINDOW = timedelta(hours=24)
RETENTION = LOCK_WINDOW
KEY_CAP = 30
TABLE_CAP = 10_000


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def client_key(address: str | None) -> str | None:
    """The stored form of a client address: IPv4 as is, IPv6 as its /64 network."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:64] or None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def delay_after(failures: int) -> timedelta:
    """How long to wait after the n-th failure within the window (0 while free)."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    return min(FIRST_DELAY * 2 ** (failures - FREE_FAILURES), MAX_DELAY)


def _recent(session: Session, column, value, now: datetime) -> list[datetime]:  # type: ignore[no-untyped-def]
    rows = session.exec(
        select(LoginFailure.at)
        .where(column == value, LoginFailure.at >= now - WINDOW)
        .order_by(col(LoginFailure.at).desc())
        .limit(KEY_CAP)
    ).all()
    return [_aware(t) for t in rows]


def _wait(times: list[datetime], now: datetime) -> int:
    if len(times) < FREE_FAILURES:
        return 0
    remaining = delay_after(len(times)) - (now - max(times))
    return max(0, math.ceil(remaining.total_seconds()))


def retry_after(
    session: Session, *, user_id: int | None, address: str | None, now: datetime
) -> int:
    """Seconds the next attempt for this account or from this address must wait (0: may
    try now). Reads only."""
    waits = [0]
    if address:
        waits.append(_wait(_recent(session, LoginFailure.address, address, now), now))
    if user_id is not None:
        waits.append(_wait(_recent(session, LoginFailure.user_id, user_id, now), now))
    return max(waits)


def record_failure(
    session: Session, *, user_id: int | None, address: str | None, now: datetime
) -> None:
    """Store one failure and keep the table bounded."""
    session.add(LoginFailure(at=now, user_id=user_id, address=address))
    session.flush()
    session.exec(delete(LoginFailure).where(col(LoginFailure.at) < now - RETENTION))  # type: ignore[call-overload]
    for column, value in ((LoginFailure.user_id, user_id), (LoginFailure.address, address)):
        if value is None:
            continue
        _keep_newest(session, select(LoginFailure.id).where(column == value), KEY_CAP)
    _keep_newest(session, select(LoginFailure.id), TABLE_CAP)


def _keep_newest(session: Session, query, keep: int) -> None:  # type: ignore[no-untyped-def]
    old = session.exec(
        query.order_by(col(LoginFailure.at).desc(), col(LoginFailure.id).desc()).offset(keep)
    ).all()
    if old:
        session.exec(delete(LoginFailure).where(col(LoginFailure.id).in_(list(old))))  # type: ignore[call-overload]


def account_failures(session: Session, user_id: int, now: datetime) -> int:
    """Failures of an account within the lock window."""
    return int(
        session.exec(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.user_id == user_id, LoginFailure.at >= now - LOCK_WINDOW)
        ).one()
    )


def clear_account(session: Session, user_id: int) -> None:
    """Forget an account's failures (after a successful log-in, or an unlock)."""
    session.exec(delete(LoginFailure).where(col(LoginFailure.user_id) == user_id))  # type: ignore[call-overload]
