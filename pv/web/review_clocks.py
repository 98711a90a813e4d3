"""The expedited-report dashboard: overdue first, then due soon, then the rest.

Officers and admins see every clock of the study; investigators only their sites' 24 h
SAE clocks (their serious drafts included, whose clock already runs). A SUSAR clock closes
when the officer records its submission on the event's review page (its "Expedited
reports" section, pv.web.submissions): each open clock links there.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from pv.auth.models import Role
from pv.i18n import gettext as _
from pv.i18n import ngettext
from pv.review import clocks
from pv.review.deadlines import ClockItem, list_clocks
from pv.review.models import ReportKind
from pv.timeutil import today
from pv.web.deps import DB, Auth, WebAuth, require
from pv.web.review_common import (
    QUERY_READERS,
    pick_study,
)
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
