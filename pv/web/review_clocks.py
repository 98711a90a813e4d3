"""The expedited-report dashboard: overdue first, then due soon, then the rest; mark sent.

Officers and admins see every clock of the study; investigators only their sites' 24 h
SAE clocks (their serious drafts included, whose clock already runs). Marking a report
sent is the safety officer's.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from pv.auth.models import Role
from pv.db import write_session
from pv.events.models import AdverseEvent
from pv.events.service import ValidationFailed
from pv.i18n import gettext as _
from pv.i18n import ngettext
from pv.review import clocks
from pv.review.deadlines import ClockItem, list_clocks
from pv.review.models import ExpeditedReport, ReportKind
from pv.review.reports import mark_report_sent
from pv.review.signing import count_wrong_password, is_wrong_password
from pv.timeutil import today
from pv.web.deps import DB, Auth, PathId, WebAuth, engine, event_or_404, require
from pv.web.review_common import (
    QUERY_READERS,
    field_errors,
    parse_date,
    pick_study,
    refusals,
    safe_back,
    text,
)
from pv.web.review_context import review_context
from pv.web.review_event import password
from pv.web.templating import render

router = APIRouter()
SHOW = ("open", "all")


def _sections(items: list[ClockItem]) -> list[tuple[str, str, list[ClockItem]]]:
    """(key, heading, items): overdue, due soon, other open, sent."""
    overdue = [i for i in items if i.status == clocks.OVERDUE]
    soon = [i for i in items if i.status == clocks.OPEN and i.due_soon]
    later = [i for i in items if i.status == clocks.OPEN and not i.due_soon]
    sent = [i for i in items if i.status == clocks.SUBMITTED]
    return [
        ("overdue", _("Overdue"), overdue),
        (
            "soon",
            ngettext("Due within %(num)d day", "Due within %(num)d days", clocks.DUE_SOON_DAYS),
            soon,
        ),
        ("open", _("Open, due later"), later),
        ("sent", _("Sent"), sent),
    ]


def _clocks_context(
    session: Session, auth: Auth, study: str, show: str, errors: dict[str, str] | None = None
) -> dict[str, object]:
    studies, study_id = pick_study(session, study)
    show = show if show in SHOW else "open"
    items: list[ClockItem] = []
    if study_id is not None:
        investigator = auth.role == Role.investigator
        items = list_clocks(
            session, study_id=study_id, site_ids=auth.sites, include_drafts=investigator
        )
        if investigator:
            items = [i for i in items if i.kind == ReportKind.investigator_sae_24h]
    sections = _sections(items)
    if show == "open":
        sections = [s for s in sections if s[0] != "sent"]
    return {
        "auth": auth,
        "studies": studies,
        "study": study_id,
        "show": show,
        "sections": sections,
        "errors": errors or {},
        "today": today().isoformat(),
        "counts": {k: len(v) for k, _, v in _sections(items)}
        | {"late": sum(1 for i in items if i.late)},  # "late": sent after the deadline
    }


@router.get("/clocks")
def clocks_page(
    request: Request, auth: WebAuth, session: DB, study: str = "", show: str = "open"
) -> Response:
    require(auth, *QUERY_READERS)
    ctx = _clocks_context(session, auth, study, show)
    return render(request, "review/clocks.html", ctx, partial="review/_clocks_table.html")


@router.post("/clocks/{report_id}/sent")
async def mark_sent(request: Request, auth: WebAuth, report_id: PathId) -> Response:
    require(auth, Role.officer)
    form = await request.form()
    back = safe_back(text(form, "back"), "/clocks")
    errors: dict[str, str] = {}
    sent = parse_date(text(form, "sent_date"), "sent_date", errors)
    with write_session(engine(request)) as session:
        report = session.get(ExpeditedReport, report_id)
        event = session.get(AdverseEvent, report.event_id) if report else None
        if report is None or event is None or not auth.can_see_site(event.site_id):
            raise HTTPException(404, _("no such expedited report"))
        if sent is not None:
            try:
                with refusals():
                    mark_report_sent(
                        session=session,
                        actor=auth.actor,
                        report_id=report_id,
                        sent_date=sent,
                        password=password(form),
                    )
                return RedirectResponse(back, 303)
            except ValidationFailed as exc:
                errors = field_errors(exc)
        session.rollback()
        if is_wrong_password(errors) and auth.actor.user_id is not None:
            count_wrong_password(session, auth.actor.user_id)  # throttled as a log-in
        message = " · ".join(errors.values())
        if back.startswith(f"/review/events/{event.id}"):
            event = event_or_404(session, auth, event.id)  # type: ignore[arg-type]
            ctx = review_context(session, auth, event, errors={"sent": {str(report_id): message}})
            return render(request, "review/event.html", ctx, status_code=422)
        ctx = _clocks_context(session, auth, text(form, "study"), "all", {str(report_id): message})
        return render(request, "review/clocks.html", ctx, status_code=422)
