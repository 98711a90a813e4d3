"""The subject page (its arm as the blinding policy shows it, its events, its unblindings)
and unblinding one subject with a reason and a signature."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from pv.blinding import policy
from pv.blinding.service import (
    BlindingError,
    SignatureError,
    TooManyPasswords,
    may_unblind,
    unblind_subject,
    unblindings,
)
from pv.db import write_session
from pv.events.models import AdverseEvent
from pv.review.signing import count_wrong_password
from pv.study.models import Site, Study, Subject
from pv.web.deps import DB, EVENT_READERS, Auth, PathId, WebAuth, engine, require, subject_or_404
from pv.web.templating import is_htmx, render

router = APIRouter()


def _context(session: Session, auth: Auth, subject: Subject, *,
             errors: dict[str, str] | None = None, reason: str = "",
             done: bool = False) -> dict[str, Any]:  # fmt: skip
    study = session.get(Study, subject.study_id)
    events = session.exec(
        select(AdverseEvent)
        .where(AdverseEvent.subject_id == subject.id)
        .order_by(col(AdverseEvent.aeseq), col(AdverseEvent.id))
    ).all()
    if auth.role not in ("investigator", "admin"):
        events = [e for e in events if e.status != "draft"]
    visible = policy.arms_visible(auth.user, study, session=session, subject_id=subject.id)
    return {
        "auth": auth,
        "subject": subject,
        "study": study,
        "site": session.get(Site, subject.site_id),
        "arm": policy.shown_arm(session, auth.user, subject),
        "arm_masked": not visible and subject.arm_id is not None,
        "events": events,
        "unblindings": unblindings(session, subject.id or 0),
        "can_unblind": not visible and may_unblind(auth.user, study),
        "errors": errors or {},
        "reason": reason,
        "done": done,
    }


@router.get("/subjects/{subject_id}")
def subject_page(request: Request, auth: WebAuth, session: DB, subject_id: PathId) -> Response:
    require(auth, *EVENT_READERS)
    subject = subject_or_404(session, auth, session.get(Subject, subject_id))
    return render(request, "subjects/detail.html", _context(session, auth, subject))


@router.post("/subjects/{subject_id}/unblind")
async def unblind(request: Request, auth: WebAuth, subject_id: PathId) -> Response:
    """Unblind the subject for the signed-in user: reason and password (a signature). htmx
    swaps the facts and the unblinding section (#subject-main): the arm shows at once."""
    require(auth, *EVENT_READERS)
    form = await request.form()
    reason = str(form.get("reason") or "")
    password = str(form.get("password") or "")
    errors: dict[str, str] = {}
    wrong = False
    with write_session(engine(request)) as session:
        subject = subject_or_404(session, auth, session.get(Subject, subject_id))
        try:
            unblind_subject(session=session, user=auth.user, subject=subject, reason=reason,
                            password=password)  # fmt: skip
        except SignatureError as exc:  # a wrong password: counted as a failed log-in
            errors["password"] = str(exc)
            wrong = True
        except TooManyPasswords as exc:
            errors["password"] = str(exc)
        except BlindingError as exc:
            errors["reason"] = str(exc)
        if errors:
            session.rollback()
            if wrong:
                count_wrong_password(session, auth.user.id or 0)
            ctx = _context(session, auth, subject, errors=errors, reason=reason)
            return render(request, "subjects/detail.html", ctx, status_code=422,
                          partial="subjects/_unblinding.html")  # fmt: skip
        if not is_htmx(request):
            return RedirectResponse(f"/subjects/{subject_id}", status_code=303)
        session.flush()
        ctx = _context(session, auth, subject, done=True)
        return render(request, "subjects/detail.html", ctx, partial="subjects/_unblinding.html")
