"""Request dependencies: database sessions, the signed-in user, CSRF, scoping helpers."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Path, Query, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from pv import i18n
from pv.audit.service import Actor
from pv.auth.models import Role, User, UserSession
from pv.auth.service import (
    actor_for,
    session_for,
    token_for,
    token_use_due,
    touch,
    touch_due,
    touch_token,
    visible_site_ids,
)
from pv.db import read_session, run_db, write_session
from pv.events.models import AdverseEvent
from pv.inputs import INT_MAX
from pv.study.models import Site, Study, Subject

SESSION_COOKIE = "pv_session"
LOGIN_CSRF_COOKIE = "pv_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class LoginRequired(Exception):
    """Raised for a page request without a valid session: redirect to the log-in page."""


def engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def db(request: Request) -> Iterator[Session]:
    with read_session(engine(request)) as session:
        yield session


DB = Annotated[Session, Depends(db)]


@dataclass
class Auth:
    user: User
    sites: set[int] | None  # None: all sites
    csrf_token: str | None = None

    @property
    def actor(self) -> Actor:
        return actor_for(self.user)

    @property
    def role(self) -> str:
        return self.user.role

    def can_see_site(self, site_id: int) -> bool:
        return self.sites is None or site_id in self.sites


def _origin_ok(request: Request) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True  # not sent by every client; the token below is what protects
    return urlsplit(origin).netloc == request.headers.get("host", request.url.netloc)


async def _check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, expected) or not _origin_ok(request):
        raise HTTPException(403, i18n.gettext("CSRF check failed: reload the page and try again"))


def sign_in_check(session: Session, request: Request, token: str) -> tuple[Auth, UserSession]:
    """The user behind a session cookie, read in the caller's session (LoginRequired when
    unknown, ended or expired), and the session row for touch_when_due."""
    found = session_for(session, token, request.app.state.settings)
    if found is None:
        raise LoginRequired()
    user, row = found
    auth = Auth(user=user, sites=visible_site_ids(session, user), csrf_token=row.csrf_token)
    apply_language(session, auth)
    return auth, row


def apply_language(session: Session, auth: Auth) -> None:
    """The request's language once the user is known: their own setting first; else what
    the cookie or the browser named (set by pv.app.Language); else the default of the
    study of their site."""
    if i18n.normalize(auth.user.language):
        i18n.set_language(i18n.normalize(auth.user.language) or i18n.DEFAULT)
        return
    if i18n.chosen() or not auth.sites:
        return
    language = session.exec(
        select(Study.language)
        .join(Site, Site.study_id == Study.id)
        .where(Site.id.in_(sorted(auth.sites)))  # type: ignore[union-attr]
        .order_by(Site.id)
        .limit(1)
    ).first()
    if i18n.normalize(language):
        i18n.set_language(i18n.normalize(language) or i18n.DEFAULT)


def touch_when_due(request: Request, row: UserSession) -> None:
    """Move the session's idle clock on, at most once a minute, in its own short write
    transaction (a page view takes no write lock). Called after the reading session has
    ended: an in-memory SQLite database has one connection, which cannot nest them."""
    if touch_due(row):
        with write_session(engine(request)) as writer:
            touch(writer, row.id)


async def web_auth(request: Request) -> Auth:
    """The signed-in user of a browser request; unsafe methods must carry the CSRF token."""
    token = session_token(request)
    eng = engine(request)

    def check() -> Auth:
        with read_session(eng) as session:
            auth, row = sign_in_check(session, request, token)
        touch_when_due(request, row)
        return auth

    auth = await run_db(eng, check)
    if request.method in UNSAFE:
        await _check_csrf(request, auth.csrf_token or "")
    return auth


def session_token(request: Request) -> str:
    """The session cookie of a safe (GET) request, not yet checked: a route that reads the
    database anyway checks it with sign_in_check in its own session (one connection and one
    transaction per request on the hottest pages)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired()
    return token


def api_auth(request: Request) -> Auth:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401, i18n.gettext("a bearer token is required"), {"WWW-Authenticate": "Bearer"}
        )
    with read_session(engine(request)) as session:
        found = token_for(session, token.strip())
        if found is None:
            raise HTTPException(  # unknown, expired or revoked
                401, i18n.gettext("invalid or revoked token"), {"WWW-Authenticate": "Bearer"}
            )
        user, row = found
        auth = Auth(user=user, sites=visible_site_ids(session, user))
        apply_language(session, auth)
    if token_use_due(row):  # the token's last use, at most once a minute
        with write_session(engine(request)) as writer:
            touch_token(writer, row.id)  # type: ignore[arg-type]
    return auth


# Integers in paths and query strings: bounded to what an INTEGER column holds, so a value
# such as 99999999999999999999 is refused before it reaches the database (SQLite raises
# OverflowError on it: a 500). Out of range or not a number: 422, which `errors` turns into
# 404 for a page's path (no such page) and keeps for a query or the API. Every route with an
# int parameter uses one of these (tests/security/test_bounded_ints.py walks app.routes).
PathId = Annotated[int, Path(ge=1, le=INT_MAX, description="a row id, 1 to 2^31-1")]
QueryId = Annotated[int, Query(ge=1, le=INT_MAX, description="a row id, 1 to 2^31-1")]
PageNo = Annotated[int, Query(ge=1, le=INT_MAX, description="page number, from 1")]

WebAuth = Annotated[Auth, Depends(web_auth)]
SessionToken = Annotated[str, Depends(session_token)]
ApiAuth = Annotated[Auth, Depends(api_auth)]


def require(auth: Auth, *roles: str) -> None:
    if auth.role not in roles:
        raise HTTPException(403, i18n.gettext("your role may not do this"))


# Who may do what with adverse events (the rest is scoped by site).
EVENT_READERS = (Role.investigator, Role.officer, Role.admin)
EVENT_WRITERS = (Role.investigator, Role.admin)


def subject_or_404(session: Session, auth: Auth, subject: Subject | None) -> Subject:
    """A subject the user may see; another site's subject is indistinguishable from none."""
    if subject is None or not auth.can_see_site(subject.site_id):
        raise HTTPException(404, i18n.gettext("no such subject"))
    return subject


def event_or_404(session: Session, auth: Auth, event_id: int) -> AdverseEvent:
    event = session.get(AdverseEvent, event_id)
    if event is None or not auth.can_see_site(event.site_id):
        raise HTTPException(404, i18n.gettext("no such event"))
    if event.status == "draft" and auth.role not in (Role.investigator, Role.admin):
        raise HTTPException(
            404, i18n.gettext("no such event")
        )  # drafts belong to the site until submitted
    return event


def new_token() -> str:
    return secrets.token_urlsafe(32)
