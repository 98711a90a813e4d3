"""Accounts, log-in sessions and API tokens: the only write path for them."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, select

from pv.audit.service import Actor, diff, record
from pv.auth.models import ApiToken, Role, User, UserSession, UserSite
from pv.auth.passwords import DUMMY_HASH, check_strength, hash_password, verify_password
from pv.i18n import gettext as _
from pv.inputs import MAX_LENGTH, text_problem
from pv.settings import Settings
from pv.study.models import Site
from pv.timeutil import utcnow


class AccountError(ValueError):
    pass


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def actor_for(user: User) -> Actor:
    return Actor(username=user.username, user_id=user.id, role=user.role)


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
    actor: Actor,
    username: str,
    role: str,
    password: str | None = None,
    sites: list[Site] | None = None,
    full_name: str | None = None,
) -> User:
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
    if password is not None and (problem := check_strength(password)):
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
        actor=actor,
        action="create",
        entity_type="user",
        entity_id=user.id,
        changes=diff(
            {}, {"username": username, "role": role, "sites": [s.id for s in sites or []]}
        ),
    )
    return user


def set_password(*, session: Session, actor: Actor, user: User, password: str) -> None:
    if problem := check_strength(password):
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
    for token in session.exec(select(ApiToken).where(ApiToken.user_id == user.id)):
        token.revoked = True
        session.add(token)


def issue_token(*, session: Session, actor: Actor, user: User) -> str:
    """A new personal API token; only its SHA-256 is stored."""
    token = "pvt_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_sha(token)))  # type: ignore[arg-type]
    record(
        session=session,
        actor=actor,
        action="issue_token",
        entity_type="user",
        entity_id=user.id,
        changes={},
    )
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.exec(
        select(ApiToken).where(ApiToken.token_hash == _sha(token), ApiToken.revoked.is_(False))
    ).first()
    if row is None:
        return None
    user = session.get(User, row.user_id)
    return user if user and not user.disabled else None


@dataclass
class LoginResult:
    user: User
    session_token: str  # goes into the cookie; never stored
    csrf_token: str


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = get_user(session, username)
    if user is None or user.disabled:
        verify_password(DUMMY_HASH, password)  # same cost whether or not the user exists
        return None
    return user if verify_password(user.password_hash, password) else None


def login(*, session: Session, username: str, password: str) -> LoginResult | None:
    """Check the password and open a new session (always a new id: no fixation)."""
    user = authenticate(session, username, password)
    if user is None:
        record(
            session=session,
            actor=Actor(username=username[:80]),
            action="login_failed",
            entity_type="user",
            entity_id=username[:80],
        )
        return None
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
    if row.ended_at is not None or user.disabled:
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
