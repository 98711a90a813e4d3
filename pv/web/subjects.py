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
from pv.study.service import (
    DISPOSITIONS,
    HEIGHT_CM_RANGE,
    RACES,
    StudyError,
    add_subject,
    subject_problems,
    update_subject,
)
from pv.timeutil import today
from pv.web.deps import (
    DB,
    EVENT_READERS,
    Auth,
    PageNo,
    PathId,
    WebAuth,
    engine,
    require,
    subject_or_404,
)
from pv.web.templating import is_htmx, render, templates

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
    return {"auth": auth, "sites": sites, "arms": arms, "values": values, "errors": errors,
            "races": RACES}  # fmt: skip


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
            "race",
            "height_cm",
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
    if values["race"] and values["race"] not in RACES and "race" not in errors:
        errors["race"] = _("choose a race from the list")
    elif values["race"]:
        parsed["race"] = values["race"]
    for name, (lo, hi) in (("age", AGE_RANGE), ("weight_kg", WEIGHT_KG_RANGE),
                           ("height_cm", HEIGHT_CM_RANGE)):  # fmt: skip
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


# --- baseline and end of study of one subject (the subject page's section) -----------------

EOS_TEXT = ("race", "height_cm", "disposition", "disposition_date", "disposition_reason",
            "end_of_study_date", "death_date", "death_cause", "reason")  # fmt: skip


def eos_values(subject: Subject) -> dict[str, Any]:
    """The section's form as stored."""
    values = {k: getattr(subject, k) for k in EOS_TEXT if k != "reason"}
    values = {k: "" if v is None else str(v) for k, v in values.items()}
    if subject.height_cm is not None:
        values["height_cm"] = f"{subject.height_cm:g}"
    values["died"] = subject.died
    values["death_date_unknown"] = subject.died and not subject.death_date
    values["reason"] = ""
    return values


def _eos_parse(form: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The section's values as typed, the changes for `update_subject`, and the errors of
    what cannot be converted (the rules themselves are update_subject's)."""
    values: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in EOS_TEXT}
    values["died"] = form.get("died") == "Y"
    values["death_date_unknown"] = form.get("death_date_unknown") == "Y"
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {}
    for name in ("race", "disposition", "disposition_date", "disposition_reason",
                 "death_date", "death_cause"):  # fmt: skip
        changes[name] = values[name] or None
    if values["race"] and values["race"] not in RACES:
        errors["race"] = _("choose a race from the list")
    if values["disposition"] and values["disposition"] not in DISPOSITIONS:
        errors["disposition"] = _("choose a disposition from the list")
    changes["died"] = values["died"]
    changes["height_cm"] = None
    if values["height_cm"]:
        lo, hi = HEIGHT_CM_RANGE
        try:
            if not _NUMBER.fullmatch(values["height_cm"]):
                raise ValueError
            height = float(values["height_cm"])
            if not lo <= height <= hi:
                raise ValueError
            changes["height_cm"] = height
        except ValueError:
            errors["height_cm"] = _("a number from %(lo)s to %(hi)s", lo=lo, hi=hi)
    changes["end_of_study_date"] = None
    if values["end_of_study_date"]:
        try:
            changes["end_of_study_date"] = parse_date(values["end_of_study_date"])
        except ValueError as exc:
            errors["end_of_study_date"] = str(exc)
    return values, changes, errors


def _eos_ctx(auth: Auth, subject: Subject, values: dict[str, Any], errors: dict[str, str],
             saved: bool = False) -> dict[str, Any]:  # fmt: skip
    return {"auth": auth, "subject": subject, "eos_values": values, "eos_errors": errors,
            "eos_saved": saved}  # fmt: skip


@router.post("/subjects/{subject_id}/end-of-study")
async def end_of_study(request: Request, auth: WebAuth, subject_id: PathId) -> Response:
    """Save the subject's baseline (race, height) and end of study (disposition, its date
    and reason, the end-of-study date, death): every problem at once, shown next to its
    field in the section htmx swaps (#end-of-study); nothing is stored unless all pass.
    Investigators change only their own sites' subjects (another's is 404)."""
    require(auth, Role.investigator, Role.admin)
    form = await request.form()
    values, changes, errors = _eos_parse(form)
    with write_session(engine(request)) as session:
        subject = subject_or_404(session, auth, session.get(Subject, subject_id))
        if not errors:
            try:
                update_subject(session=session, actor=auth.actor, subject=subject,
                               reason=values["reason"] or None,
                               death_date_unknown=values["death_date_unknown"],
                               **changes)  # fmt: skip
            except StudyError as exc:
                for name, message in exc.problems or [("disposition", str(exc))]:
                    errors[name] = f"{errors[name]} · {message}" if name in errors else message
        if errors:
            session.rollback()  # nothing of a refused form is stored
            session.refresh(subject)
            ctx = _eos_ctx(auth, subject, values, errors)
            return render(request, "subjects/_end_of_study.html", ctx, status_code=422)
        if not is_htmx(request):
            return RedirectResponse(f"/subjects/{subject_id}?saved=1", status_code=303)
        session.flush()
        ctx = _eos_ctx(auth, subject, eos_values(subject), {}, saved=True)
        return render(request, "subjects/_end_of_study.html", ctx)


templates.env.globals["subject_eos_values"] = eos_values
