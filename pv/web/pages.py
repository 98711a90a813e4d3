"""Log-in, log-out and the home page (study, arms with subject counts, latest events; an
investigator's open queries)."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from pv import i18n
from pv.auth.models import Role
from pv.auth.service import LoginRefused, login, logout, set_language
from pv.blinding.policy import arms_visible, masked_arm
from pv.db import write_session
from pv.events.models import AdverseEvent, Status
from pv.i18n import gettext as _
from pv.review.queries import queries_for_sites
from pv.study.models import Arm, Site, Study, Subject
from pv.web.account import login_refused
from pv.web.deps import (
    DB,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Auth,
    WebAuth,
    engine,
    new_token,
    web_auth,
)
from pv.web.review_queries import study_query_fields
from pv.web.templating import render

router = APIRouter()


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    token = new_token()
    resp = render(request, "auth/login.html", {"login_csrf": token, "next": _safe_next(next)})
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.secure_cookies,
    )
    return resp


@router.post("/login")
def login_submit(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form("/"),
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return render(
            request,
            "auth/login.html",
            {
                "error": i18n.gettext("Your log-in form expired; try again."),
                "login_csrf": expected,
                "next": _safe_next(next),
                "username": username,
            },
            status_code=403,
        )
    with write_session(engine(request)) as session:
        result = login(
            session=session,
            username=username.strip(),
            password=password,
            address=request.client.host if request.client else None,
            single_session=request.app.state.settings.single_session,
        )
    if isinstance(result, LoginRefused):
        return login_refused(request, result, expected, _safe_next(next), username)
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(
        SESSION_COOKIE,
        result.session_token,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
        path="/",
    )
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    if i18n.normalize(result.user.language):
        resp.set_cookie(i18n.LANGUAGE_COOKIE, i18n.normalize(result.user.language) or "",
                        max_age=365 * 24 * 3600, httponly=True, samesite="lax",
                        secure=request.app.state.settings.secure_cookies, path="/")  # fmt: skip
    return resp


@router.post("/logout")
def logout_submit(request: Request, auth: WebAuth) -> Response:
    with write_session(engine(request)) as session:
        logout(session=session, token=request.cookies.get(SESSION_COOKIE, ""))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.post("/language")
async def choose_language(request: Request) -> Response:
    """The language switch in the header. Signed in: saved as the user's own setting (it
    follows them to any browser) and, after a CSRF check, in a cookie; before log-in: the
    cookie alone. Then back to the page the switch was on."""
    form = await request.form()
    language = i18n.normalize(str(form.get("lang", "")))
    target = _safe_next(str(form.get("next", "/")))
    if language is None:
        raise HTTPException(422, i18n.gettext("Unknown language."))
    if request.cookies.get(SESSION_COOKIE):
        auth = await web_auth(request)  # checks the CSRF token of a signed-in user
        with write_session(engine(request)) as session:
            set_language(session, user_id=auth.user.id or 0, language=language)
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(
        i18n.LANGUAGE_COOKIE,
        language,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
        path="/",
    )
    return resp


@router.get("/")
def home(request: Request, auth: WebAuth, session: DB) -> Response:
    studies = []
    for study in session.exec(select(Study).order_by(Study.id)):
        arms = session.exec(
            select(Arm).where(Arm.study_id == study.id).order_by(Arm.position, Arm.id)
        ).all()
        q = select(Subject.arm_id, func.count()).where(Subject.study_id == study.id)
        if auth.sites is not None:
            q = q.where(Subject.site_id.in_(auth.sites))  # type: ignore[attr-defined]
        counts = dict(session.exec(q.group_by(Subject.arm_id)).all())
        shown = [(a, counts.get(a.id, 0)) for a in arms]
        if not arms_visible(auth.user, study):  # blinded: one masked row, all randomized
            randomized = sum(n for arm_id, n in counts.items() if arm_id is not None)
            shown = [(masked_arm(study.id), randomized)] if arms else []
        studies.append(
            {
                "study": study,
                "arms": shown,
                "subjects": sum(counts.values()),
            }
        )
    latest = []
    if auth.role != "dsmb":
        q2 = (
            select(AdverseEvent, Subject.usubjid, Site.code)
            .join(Subject, Subject.id == AdverseEvent.subject_id)
            .join(Site, Site.id == AdverseEvent.site_id)
        )
        if auth.sites is not None:
            q2 = q2.where(AdverseEvent.site_id.in_(auth.sites))  # type: ignore[attr-defined]
        else:
            q2 = q2.where(AdverseEvent.status != Status.draft)
        latest = session.exec(q2.order_by(AdverseEvent.updated_at.desc()).limit(10)).all()  # type: ignore[attr-defined]
    ctx = {"auth": auth, "studies": studies, "latest": latest, "open_queries": None}
    if auth.role == Role.investigator:
        ctx["open_queries"] = _open_queries(session, auth, [s["study"].id for s in studies])
    return render(request, "home.html", ctx)


def _open_queries(session: Session, auth: Auth, study_ids: list[str]) -> list[tuple[Any, ...]]:
    """An investigator's open queries, oldest first: (query, event, USUBJID, what it is
    about, as a label)."""
    out: list[tuple[Any, ...]] = []
    for study_id in study_ids:
        queries = queries_for_sites(session, study_id=study_id, site_ids=auth.sites)
        if not queries:
            continue
        fields = study_query_fields(session, study_id)
        rows = session.exec(
            select(AdverseEvent, Subject.usubjid)
            .join(Subject, col(Subject.id) == AdverseEvent.subject_id)
            .where(col(AdverseEvent.id).in_({q.event_id for q in queries}))
        ).all()
        events = {e.id: (e, usubjid) for e, usubjid in rows}
        for q in queries:
            ev, usubjid = events[q.event_id]
            about = fields.get(q.field, q.field) if q.field else _("the event")
            out.append((q, ev, usubjid, about))
    return out
