"""Subjects of the user's sites: list and add."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import Session, select

from pv.auth.models import Role
from pv.blinding.policy import ArmMasker
from pv.db import write_session
from pv.events.models import AdverseEvent
from pv.i18n import gettext as _
from pv.inputs import AGE_RANGE, MAX_LENGTH, WEIGHT_KG_RANGE, parse_date, parse_id, text_problem
from pv.study.models import Arm, Site, Subject
from pv.study.service import StudyError, add_subject, subject_problems
from pv.timeutil import today
from pv.web.deps import DB, EVENT_READERS, Auth, PageNo, WebAuth, engine, require
from pv.web.templating import render

router = APIRouter()
PAGE_SIZE = 50
_NUMBER = re.compile(r"[0-9]{1,3}(\.[0-9]{1,2})?")  # ASCII digits: age, weight in kg


def _sites(session: Session, auth: Auth) -> list[Site]:
    q = select(Site).order_by(Site.study_id, Site.code)
    if auth.sites is not None:
        q = q.where(Site.id.in_(auth.sites))  # type: ignore[union-attr]
    return list(session.exec(q))


@router.get("/subjects")
def subject_list(
    request: Request, auth: WebAuth, session: DB, q: str = "", page: PageNo = 1
) -> Response:
    require(auth, *EVENT_READERS)
    events = (
        select(AdverseEvent.subject_id, func.count().label("n"))
        .group_by(AdverseEvent.subject_id)
        .subquery()
    )
    base = (
        select(Subject, Site.code, Arm.label, events.c.n)
        .join(Site, Site.id == Subject.site_id)
        .outerjoin(Arm, Arm.id == Subject.arm_id)
        .outerjoin(events, events.c.subject_id == Subject.id)
    )
    if auth.sites is not None:
        base = base.where(Subject.site_id.in_(auth.sites))  # type: ignore[attr-defined]
    if q.strip():
        base = base.where(Subject.usubjid.contains(q.strip()))  # type: ignore[attr-defined]
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    page = max(page, 1)
    rows = session.exec(
        base.order_by(Subject.usubjid).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    ).all()
    masker = ArmMasker(session, auth.user)  # blinded studies: the arm masked (pv.blinding)
    rows = [(s, site, masker.label(s, arm), n) for s, site, arm, n in rows]
    return render(
        request,
        "subjects/list.html",
        {
            "auth": auth,
            "rows": rows,
            "total": total,
            "page": page,
            "q": q,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "can_add": auth.role in (Role.investigator, Role.admin),
        },
    )


def _form_ctx(
    session: Session, auth: Auth, values: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    sites = _sites(session, auth)
    arms = list(
        session.exec(
            select(Arm)
            .where(Arm.study_id.in_({s.study_id for s in sites}))  # type: ignore[attr-defined]
            .order_by(Arm.position)
        )
    )
    masker = ArmMasker(session, auth.user)  # no arm of a blinded study to choose from
    arms = [a for a in arms if masker.study_visible(a.study_id)]
    return {"auth": auth, "sites": sites, "arms": arms, "values": values, "errors": errors}


@router.get("/subjects/new")
def new_subject(request: Request, auth: WebAuth, session: DB) -> Response:
    require(auth, Role.investigator, Role.admin)
    return render(request, "subjects/form.html", _form_ctx(session, auth, {}, {}))


def _parse(form: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The form's values as typed, the converted ones, and the errors by field.

    The rules are the shared ones (`pv.inputs`, `subject_problems`), as for the API and the
    CLI; a value the text rule refuses is not converted further.
    """
    values = {
        k: str(form.get(k) or "").strip()
        for k in (
            "site",
            "subjid",
            "arm",
            "sex",
            "age",
            "weight_kg",
            "consent_date",
            "randomization_date",
        )
    }
    parsed: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, value in values.items():  # SUBJID: the identifier rule, below
        problem = text_problem(value, max_length=MAX_LENGTH["arm"])
        if name != "subjid" and problem is not None:
            errors[name] = problem
    if values["sex"] and values["sex"] not in ("M", "F", "U"):
        errors.setdefault("sex", _("M, F or U"))
    for name, (lo, hi) in (("age", AGE_RANGE), ("weight_kg", WEIGHT_KG_RANGE)):
        if values[name] and name not in errors:
            try:
                if not _NUMBER.fullmatch(values[name]) or (name == "age" and "." in values[name]):
                    raise ValueError
                v: int | float = (int if name == "age" else float)(values[name])
                if not lo <= v <= hi:
                    raise ValueError
                parsed[name] = v
            except ValueError:
                errors[name] = _("a number from %(lo)s to %(hi)s", lo=lo, hi=hi)
    for name in ("consent_date", "randomization_date"):
        if values[name] and name not in errors:
            try:
                parsed[name] = parse_date(values[name])
            except ValueError as exc:
                errors[name] = str(exc)
    for name, problem in subject_problems(
        subjid=values["subjid"],
        consent_date=parsed.get("consent_date"),
        randomization_date=parsed.get("randomization_date"),
        today=today(),
    ):
        errors.setdefault(name, problem)
    return values, parsed, errors


@router.post("/subjects")
async def create_subject(request: Request, auth: WebAuth) -> Response:
    require(auth, Role.investigator, Role.admin)
    form = await request.form()
    values, parsed, errors = _parse(form)
    with write_session(engine(request)) as session:
        sites = {str(s.id): s for s in _sites(session, auth)}
        site = sites.get(values["site"])
        if site is None:
            errors["site"] = _("choose one of your sites")
        arm = None
        if values["arm"]:
            arm_id = parse_id(values["arm"])
            arm = session.get(Arm, arm_id) if arm_id is not None else None
            if arm is not None and not ArmMasker(session, auth.user).study_visible(arm.study_id):
                arm = None  # a blinded study's arm is not chosen by a blinded user
            if arm is None or (site and arm.study_id != site.study_id):
                errors["arm"] = _("choose an arm of the site's study")
        if not errors and site is not None:
            try:
                add_subject(
                    session=session,
                    actor=auth.actor,
                    study_id=site.study_id,
                    site=site,
                    subjid=values["subjid"],
                    arm=arm,
                    sex=values["sex"] or None,
                    **parsed,
                )
                return RedirectResponse("/subjects", status_code=303)
            except StudyError as exc:
                errors.update(dict(exc.problems) or {"subjid": str(exc)})
        session.rollback()
        return render(
            request, "subjects/form.html", _form_ctx(session, auth, values, errors), status_code=422
        )
