"""The user's own account page (/account): their personal API tokens (label, created,
expires, last used, state), a new token (shown once) and revoking one (htmx swaps the row);
the administrators' pages (/admin/users): every account's state, unlocking a locked one,
anyone's tokens and revoking them; and the answers of a refused log-in (429 with Retry-After
while throttled, 423 when the account is locked)."""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, select

from pv import i18n
from pv.auth.models import ApiToken, Role, User
from pv.auth.service import (
    AccountError,
    LoginRefused,
    issue_token,
    revoke_token,
    token_expiry,
    token_state,
    tokens_of,
    unlock_user,
)
from pv.db import write_session
from pv.i18n import ngettext
from pv.web.deps import DB, Auth, PathId, WebAuth, engine, require
from pv.web.templating import render

router = APIRouter()


def login_refused(
    request: Request, refused: LoginRefused, login_csrf: str, next_url: str, username: str
) -> Response:
    """The log-in page again with what went wrong: 401 for a wrong name or password (one
    answer for unknown, disabled and password-less accounts), 429 with Retry-After while
    throttled, 423 when the account is locked."""
    headers = {}
    if refused.reason == "throttled":
        minutes = -(-refused.retry_after // 60)
        error = ngettext(
            "Too many failed log-ins. Try again in %(num)d minute.",
            "Too many failed log-ins. Try again in %(num)d minutes.",
            minutes,
        )
        status, headers = 429, {"Retry-After": str(refused.retry_after)}
    elif refused.reason == "locked":
        error = i18n.gettext(
            "This account is locked after too many failed log-ins. An administrator must unlock it."
        )
        status = 423
    else:
        error = i18n.gettext("Wrong username or password.")
        status = 401
    resp = render(
        request,
        "auth/login.html",
        {"error": error, "login_csrf": login_csrf, "next": next_url, "username": username},
        status_code=status,
    )
    resp.headers.update(headers)
    return resp


def _rows(tokens: list[ApiToken]) -> list[dict]:  # type: ignore[type-arg]
    return [{"t": t, "state": token_state(t), "expires": token_expiry(t)} for t in tokens]


@router.get("/account", include_in_schema=False)
def account_page(request: Request, auth: WebAuth, session: DB) -> Response:
    user = auth.user
    ctx = {"auth": auth, "rows": _rows(tokens_of(session, user)), "new_token": None}
    return render(request, "auth/account.html", ctx)


@router.post("/account/tokens", include_in_schema=False)
def create_token(request: Request, auth: WebAuth, label: str = Form("")) -> Response:
    """A new token for the signed-in user, shown once: htmx swaps the token section (a
    reload of the page is then a GET, which does not show it again nor make another)."""
    error = None
    new = None
    with write_session(engine(request)) as session:
        try:
            new = issue_token(
                session=session,
                actor=auth.actor,
                user=auth.user,
                label=label,
                days=request.app.state.settings.token_days,
            )
        except AccountError as exc:
            error = str(exc)
        rows = _rows(tokens_of(session, auth.user))
    ctx = {"auth": auth, "rows": rows, "new_token": new, "error": error}
    return render(request, "auth/account.html", ctx, status_code=422 if error else 200,
                  partial="auth/_tokens.html")  # fmt: skip


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
def revoke_own_token(request: Request, auth: WebAuth, token_id: PathId) -> Response:
    """Revoke one of the signed-in user's tokens: htmx swaps the row; without htmx, the
    page again."""
    with write_session(engine(request)) as session:
        token = session.get(ApiToken, token_id)
        if token is None or token.user_id != auth.user.id:
            raise HTTPException(404, i18n.gettext("no such token"))
        revoke_token(session=session, actor=auth.actor, token=token)
        rows = _rows([token]) if request.headers.get("hx-request") == "true" else None
        if rows is None:
            rows = _rows(tokens_of(session, auth.user))
    ctx = {"auth": auth, "rows": rows, "new_token": None, "row": rows[0]}
    return render(request, "auth/account.html", ctx, partial="auth/_token_row.html")


# --- Administrators: every user's state and tokens ------------------------------------------


def _admin(auth: Auth) -> None:
    require(auth, Role.admin)


def _user_or_404(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(404, i18n.gettext("no such user"))
    return user


@router.get("/admin/users", include_in_schema=False)
def admin_users(request: Request, auth: WebAuth, session: DB) -> Response:
    """Every account: role, disabled or locked, its active tokens."""
    _admin(auth)
    users = session.exec(select(User).order_by(User.username)).all()
    active: dict[int, int] = {}
    for token in session.exec(select(ApiToken).where(ApiToken.revoked.is_(False))):  # type: ignore[attr-defined]
        if token_state(token) == "active":
            active[token.user_id] = active.get(token.user_id, 0) + 1
    ctx = {"auth": auth, "users": users, "active": active}
    return render(request, "auth/admin_users.html", ctx)


@router.get("/admin/users/{user_id}", include_in_schema=False)
def admin_user(request: Request, auth: WebAuth, session: DB, user_id: PathId) -> Response:
    _admin(auth)
    target = _user_or_404(session, user_id)
    ctx = {"auth": auth, "target": target, "rows": _rows(tokens_of(session, target)),
           "revoke_base": "/admin/tokens"}  # fmt: skip
    return render(request, "auth/admin_user.html", ctx)


@router.post("/admin/users/{user_id}/unlock", include_in_schema=False)
def admin_unlock(request: Request, auth: WebAuth, user_id: PathId) -> Response:
    _admin(auth)
    with write_session(engine(request)) as session:
        unlock_user(session=session, actor=auth.actor, user=_user_or_404(session, user_id))
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.post("/admin/tokens/{token_id}/revoke", include_in_schema=False)
def admin_revoke_token(request: Request, auth: WebAuth, token_id: PathId) -> Response:
    """An administrator revokes anyone's token: htmx swaps the row; without htmx, back to
    the user's page."""
    _admin(auth)
    with write_session(engine(request)) as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            raise HTTPException(404, i18n.gettext("no such token"))
        revoke_token(session=session, actor=auth.actor, token=token)
        row = _rows([token])[0]
    if request.headers.get("hx-request") != "true":
        return RedirectResponse(f"/admin/users/{token.user_id}", status_code=303)
    ctx = {"auth": auth, "row": row, "revoke_base": "/admin/tokens"}
    return render(request, "auth/_token_row.html", ctx)
