"""Accounts, log-in sessions and API tokens: the only write path for them."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from pv.audit.service import Actor, diff, record
from pv.auth import throttle
from pv.auth.models import ApiToken, Role, User, UserSession, UserSite
from pv.auth.passwords import check_strength, hash_password, verify_password
from pv.i18n import gettext as _
from pv.inputs import MAX_LENGTH, text_problem
from pv.settings import Settings, get_settings
from pv.study.models import Site, Study
from pv.timeutil import utcnow


class AccountError(ValueError):
    pass


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def actor_for(user: User) -> Actor:
    return Actor(username=user.username, user_id=user.id, role=user.role)


# The audit actor of a failed log-in: whoever typed it is not known (the typed name is
# never recorded); the entry's entity is the account that was tried.
ANONYMOUS = Actor.system("anonymous")
THROTTLE = Actor.system("login-throttle")


def get_user(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def user_sites(session: Session, user: User) -> list[Site]:
    return list(
        session.exec(
            select(Site)
            .join(UserSite, UserSite.site_id == Site.id)
            .where(UserSite.user_id == user.id)
            .order_by(Site.study_id, Site.code)
        )
    )


def visible_site_ids(session: Session, user: User) -> set[int] | None:
    """The sites a user may see: None means every site (officers, DSMB, admins)."""
    if user.role != Role.investigator:
        return None
    return {s.id for s in user_sites(session, user) if s.id is not None}


def create_user(
    *,
    session: Session,
    actor: Actor | None,
    username: str,
    role: str,
    password: str | None = None,
    sites: list[Site] | None = None,
    full_name: str | None = None,
    reason: str | None = None,
) -> User:
    """A new account. `actor` None: the new user is recorded as its own creator (the
    bootstrap of the first administrator, `pvtracker user add NAME --role admin`)."""
    username = username.strip()
    # The shared text rule (pv.inputs): no control or bidi characters in names.
    for name, value in (("username", username), ("full_name", full_name or "")):
        if (problem := text_problem(value, max_length=MAX_LENGTH[name])) is not None:
            raise AccountError(_("%(field)s: %(problem)s", field=name, problem=problem))
    if not username:
        raise AccountError(_("a username has 1 to 80 characters"))
    if role not in Role.__members__:
        raise AccountError(_("role must be one of: %(roles)s", roles=", ".join(Role.__members__)))
    if get_user(session, username):
        raise AccountError(_("user '%(username)s' already exists", username=username))
    if role == Role.investigator and not sites:
        raise AccountError(_("an investigator is bound to at least one site (--site)"))
    if password is not None and (
        problem := check_strength(password, username=username, study_ids=study_ids(session))
    ):
        raise AccountError(problem)
    user = User(
        username=username,
        role=role,
        full_name=full_name,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    session.flush()
    for site in sites or []:
        session.add(UserSite(user_id=user.id, site_id=site.id))  # type: ignore[arg-type]
    record(
        session=session,
        actor=actor or actor_for(user),
        action="create",
        entity_type="user",
        entity_id=user.id,
        changes=diff(
            {}, {"username": username, "role": role, "sites": [s.id for s in sites or []]}
        ),
        reason=reason,
    )
    return user


def study_ids(session: Session) -> list[str]:
    """The ids of the studies in the database (a password must not contain one)."""
    return list(session.exec(select(Study.id)))  # type: ignore[arg-type]


def set_password(*, session: Session, actor: Actor, user: User, password: str) -> None:
    """A new password: ends the user's sessions and revokes their API tokens."""
    if problem := check_strength(password, username=user.username, study_ids=study_ids(session)):
        raise AccountError(problem)
    user.password_hash = hash_password(password)
    session.add(user)
    record(
        session=session,
        actor=actor,
        action="set_password",
        entity_type="user",
        entity_id=user.id,
        changes={"password": ["***", "***"]},
    )
    _end_sessions(session, user)
    _revoke_tokens(session, user)


def disable_user(*, session: Session, actor: Actor, user: User) -> None:
    user.disabled = True
    session.add(user)
    record(
        session=session,
        actor=actor,
        action="disable",
        entity_type="user",
        entity_id=user.id,
        changes={"disabled": [False, True]},
    )
    _end_sessions(session, user)
    _revoke_tokens(session, user)


def unlock_user(*, session: Session, actor: Actor, user: User) -> bool:
    """Lift the lock that log-in failures put on an account; False when it was not locked.
    The account's failure count starts again from zero."""
    throttle.clear_account(session, user.id)  # type: ignore[arg-type]
    if user.locked_at is None:
        return False
    record(
        session=session,
        actor=actor,
        action="unlock",
        entity_type="user",
        entity_id=user.id,
        changes={"locked_at": [user.locked_at, None]},
    )
    user.locked_at = None
    session.add(user)
    return True


# --- Personal API tokens ------------------------------------------------------------------


def issue_token(
    *,
    session: Session,
    actor: Actor,
    user: User,
    label: str | None = None,
    days: int | None = None,
) -> str:
    """A new personal API token, valid for `days` (default PV_TOKEN_DAYS, 90); only its
    SHA-256 is stored, the token itself is shown once."""
    label = (label or "").strip() or None
    if label is not None and (problem := text_problem(label, max_length=80)) is not None:
        raise AccountError(_("label: %(problem)s", problem=problem))
    days = get_settings().token_days if days is None else days
    token = "pvt_" + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        user_id=user.id,  # type: ignore[arg-type]
        token_hash=_sha(token),
        label=label,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="issue_token",
        entity_type="user",
        entity_id=user.id,
        changes={
            "token": [None, row.id],
            "label": [None, label],
            "expires_at": [None, row.expires_at],
        },
    )
    return token


def token_expiry(row: ApiToken) -> datetime:
    """When a token expires (a token made before expiry existed: its creation + the
    configured lifetime)."""
    if row.expires_at is not None:
        return _aware(row.expires_at)
    return _aware(row.created_at) + timedelta(days=get_settings().token_days)


def token_state(row: ApiToken, now: datetime | None = None) -> str:
    """ "revoked", "expired" or "active"."""
    if row.revoked:
        return "revoked"
    if token_expiry(row) <= (now or utcnow()):
        return "expired"
    return "active"


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """A user's tokens, newest first."""
    return list(
        session.exec(
            select(ApiToken)
            .where(ApiToken.user_id == user.id)
            .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())
        )
    )


def revoke_token(*, session: Session, actor: Actor, token: ApiToken) -> bool:
    """Revoke one token (its owner or an admin); False when it was already revoked."""
    if token.revoked:
        return False
    token.revoked = True
    token.revoked_at = utcnow()
    session.add(token)
    record(
        session=session,
        actor=actor,
        action="revoke_token",
        entity_type="user",
        entity_id=token.user_id,
        changes={"token": [token.id, None]},
    )
    return True


def token_for(session: Session, token: str) -> tuple[User, ApiToken] | None:
    """The active user and token row behind a bearer token; None when unknown, revoked,
    expired, or the user is disabled or locked."""
    found = session.exec(
        select(ApiToken, User)
        .join(User, col(User.id) == ApiToken.user_id)
        .where(ApiToken.token_hash == _sha(token))
    ).first()
    if found is None:
        return None
    row, user = found
    if token_state(row) != "active" or user.disabled or user.locked_at is not None:
        return None
    return user, row


def user_for_token(session: Session, token: str) -> User | None:
    found = token_for(session, token)
    return found[0] if found else None


def token_use_due(row: ApiToken) -> bool:
    """Whether a token's last use should be written (at most once a minute)."""
    return row.last_used_at is None or utcnow() - _aware(row.last_used_at) > TOUCH_EVERY


def touch_token(session: Session, token_id: int) -> None:
    row = session.get(ApiToken, token_id)
    if row is not None:
        row.last_used_at = utcnow()
        session.add(row)


# --- Log-in ---------------------------------------------------------------------------------


@dataclass
class LoginResult:
    user: User
    session_token: str  # goes into the cookie; never stored
    csrf_token: str


@dataclass
class LoginRefused:
    """A refused log-in: "wrong" (unknown user, wrong password, disabled or password-less
    account: one answer for all), "throttled" (too many failures: wait retry_after
    seconds) or "locked" (an administrator must unlock the account)."""

    reason: str
    retry_after: int = 0


def login(
    *,
    session: Session,
    username: str,
    password: str,
    address: str | None = None,
    single_session: bool = False,
) -> LoginResult | LoginRefused:
    """Check the password and open a new session (always a new id: no fixation).

    Throttled attempts (pv/auth/throttle.py) are refused before the password is checked
    and write nothing. Every other attempt costs exactly one argon2 verification, whether
    the account exists, is disabled, locked or has no password, so the time of the answer
    does not tell which. A failure is stored for throttling (account id and client address,
    never the typed name) and, for an existing account, in the audit trail against the
    account with the actor "anonymous"."""
    now = utcnow()
    address = throttle.client_key(address)
    user = get_user(session, username) if username else None
    wait = throttle.retry_after(
        session, user_id=user.id if user else None, address=address, now=now
    )
    if wait:
        return LoginRefused("throttled", wait)
    usable = user is not None and not user.disabled and user.locked_at is None
    ok = verify_password(user.password_hash if usable else None, password)  # type: ignore[union-attr]
    if user is not None and user.locked_at is not None:
        throttle.record_failure(session, user_id=user.id, address=address, now=now)
        return LoginRefused("locked")
    if not ok or user is None:
        throttle.record_failure(
            session, user_id=user.id if user else None, address=address, now=now
        )
        if user is not None:
            _failed(session, user, address, now)
            if user.locked_at is not None:
                return LoginRefused("locked")
        return LoginRefused("wrong")
    throttle.clear_account(session, user.id)  # type: ignore[arg-type]
    if single_session:
        _end_sessions(session, user)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(UserSession(id=_sha(token), user_id=user.id, csrf_token=csrf))  # type: ignore[arg-type]
    record(
        session=session,
        actor=actor_for(user),
        action="login",
        entity_type="user",
        entity_id=user.id,
    )
    return LoginResult(user, token, csrf)


def session_for(
    session: Session, token: str, settings: Settings
) -> tuple[User, UserSession] | None:
    """The live session behind a cookie value, or None when unknown, ended or expired."""
    found = session.exec(
        select(UserSession, User)
        .join(User, col(User.id) == UserSession.user_id)
        .where(UserSession.id == _sha(token))
    ).first()  # one statement: this runs on every page view
    if found is None:
        return None
    row, user = found
    if row.ended_at is not None or user.disabled or user.locked_at is not None:
        return None
    now = utcnow()
    created, seen = _aware(row.created_at), _aware(row.last_seen_at)
    if now - created > timedelta(minutes=settings.session_absolute_minutes):
        return None
    if now - seen > timedelta(minutes=settings.session_idle_minutes):
        return None
    return user, row


TOUCH_EVERY = timedelta(minutes=1)


def touch_due(row: UserSession) -> bool:
    """Whether the idle clock of a session should move on (at most once a minute)."""
    return utcnow() - _aware(row.last_seen_at) > TOUCH_EVERY


def touch(session: Session, session_id: str) -> None:
    """Move the idle clock of a live session on to now (in the caller's write transaction)."""
    row = session.get(UserSession, session_id)
    if row is not None and row.ended_at is None:
        row.last_seen_at = utcnow()
        session.add(row)


def logout(*, session: Session, token: str) -> None:
    row = session.get(UserSession, _sha(token))
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
        session.add(row)
        user = session.get(User, row.user_id)
        if user:
            record(
                session=session,
                actor=actor_for(user),
                action="logout",
                entity_type="user",
                entity_id=user.id,
            )


def _failed(session: Session, user: User, address: str | None, now: datetime) -> None:
    """Audit a failed log-in of an existing account; lock it at the LOCK_AFTER-th failure."""
    record(
        session=session,
        actor=ANONYMOUS,
        action="login_failed",
        entity_type="user",
        entity_id=user.id,  # type: ignore[arg-type]
        changes={"address": [None, address]},
    )
    if throttle.account_failures(session, user.id, now) >= throttle.LOCK_AFTER:  # type: ignore[arg-type]
        user.locked_at = now
        session.add(user)
        record(
            session=session,
            actor=THROTTLE,
            action="lock",
            entity_type="user",
            entity_id=user.id,  # type: ignore[arg-type]
            changes={"locked_at": [None, now]},
        )


def _revoke_tokens(session: Session, user: User) -> None:
    now = utcnow()
    for token in session.exec(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))  # type: ignore[attr-defined]
    ):
        token.revoked = True
        token.revoked_at = now
        session.add(token)


def _end_sessions(session: Session, user: User) -> None:
    for row in session.exec(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    ):
        row.ended_at = utcnow()
        session.add(row)


def _aware(dt):  # type: ignore[no-untyped-def]
    from datetime import UTC

    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def set_language(session: Session, *, user_id: int, language: str | None) -> None:
    """The user's interface language (a supported tag; None: follow the browser). A
    preference, not trial data: it is not audited."""
    user = session.get(User, user_id)
    if user is not None:
        user.language = language
        session.add(user)
