"""Submissions of a report version on the review page: recipients, channel, the file sent with
its digest, the approver's signature, the E2B acknowledgement (pv.icsr.submissions).

The review page is the officers' and administrators' (REVIEWERS); officers record
submissions and upload ACKs, administrators see them. The stored file downloads for anyone
who may see the event, except that in a blinded study a user who may not see arms gets no
regulator submission's file (it carries the unblinded case: ICH E2A).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from pv.auth.models import Role
from pv.blinding.policy import arms_visible
from pv.db import write_session
from pv.events.service import ValidationFailed
from pv.i18n import gettext as _
from pv.icsr.models import Channel, RecipientKind, ReportFormat, ReportVersion, Submission
from pv.icsr.submissions import (
    attach_ack,
    fits,
    open_clocks,
    record_submission,
    submissions_of,
)
from pv.labels import label
from pv.review.signing import count_wrong_password, is_wrong_password
from pv.signatures.models import Signature
from pv.study.models import Study
from pv.web.deps import DB, Auth, PathId, WebAuth, engine, event_or_404, require
from pv.web.downloads import attachment
from pv.web.review_common import REVIEWERS, field_errors, parse_date, refusals, text
from pv.web.review_event import password
from pv.web.templating import render

router = APIRouter()
ACK_MAX_BYTES = 2 * 1024 * 1024  # an ACK is a few kilobytes
FIELDS = ("version_id", "recipient_kind", "recipient", "channel", "format", "sent_date",
          "clock_id")  # fmt: skip


def submissions_context(
    session: Session, auth: Auth, event: Any, errors: dict[str, Any]
) -> dict[str, Any]:
    """This section's part of the review page's context (pv.web.review_context)."""
    versions = list(
        session.exec(
            select(ReportVersion)
            .where(ReportVersion.event_id == event.id)
            .order_by(col(ReportVersion.number))
        )
    )
    subs = submissions_of(session, event.id)
    signed = {
        s.entity_id: s
        for s in session.exec(
            select(Signature).where(
                Signature.entity_type == "submission",
                col(Signature.entity_id).in_([str(x.id) for x in subs]),
            )
        )
    } if subs else {}  # fmt: skip
    clocks = open_clocks(session, event.id)
    latest = versions[-1] if versions else None
    default_clock = next((c for c in clocks if latest and fits(c, latest)), None)
    typed = dict(errors.get("submission_typed", {}))
    return {
        "submission": {
            "versions": [
                {
                    "version": v,
                    "rows": [
                        {"sub": s, "signature": signed.get(str(s.id))}
                        for s in subs
                        if s.report_version_id == v.id
                    ],
                }
                for v in versions
            ],
            "clocks": clocks,
            "can_record": auth.role == Role.officer and bool(versions),
            "can_ack": auth.role == Role.officer,
            "errors": errors.get("submission", {}),
            "ack_errors": errors.get("ack", {}),
            "typed": {
                "version_id": str(latest.id) if latest else "",
                "clock_id": str(default_clock.id) if default_clock else "",
                "recipient_kind": RecipientKind.regulator.value,
                "channel": Channel.gateway.value,
                "format": ReportFormat.e2b.value,
                "recipient": "",
                "sent_date": "",
            }
            | typed,
            "kinds": [(k.value, label("recipient_kind", k.value)) for k in RecipientKind],
            "channels": [(c.value, label("channel", c.value)) for c in Channel],
            "formats": [(f.value, label("report_format", f.value)) for f in ReportFormat],
        }
    }


def _page(request: Request, session: Session, auth: Auth, event_id: int, errors: dict[str, Any],
          status: int = 200) -> Response:  # fmt: skip
    from pv.web.review_context import review_context

    event = event_or_404(session, auth, event_id)
    ctx = review_context(session, auth, event, errors=errors)
    return render(request, "review/event.html", ctx, status_code=status,
                  partial="review/_reports.html")  # fmt: skip


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 12 else None


@router.post("/review/events/{event_id}/submissions")
async def record(request: Request, auth: WebAuth, event_id: PathId) -> Response:
    require(auth, Role.officer)
    form = await request.form()
    typed = {f: text(form, f) for f in FIELDS}
    errors: dict[str, str] = {}
    sent = parse_date(typed["sent_date"], "sent_date", errors) if typed["sent_date"] else None
    with write_session(engine(request)) as session:
        event_or_404(session, auth, event_id)
        version_id = _int(typed["version_id"])
        version = session.get(ReportVersion, version_id) if version_id else None
        if version is None or version.event_id != event_id:
            errors["version_id"] = _("choose a report version of this event")
        else:
            try:
                with refusals():
                    record_submission(
                        session, auth.actor, version_id=version.id,  # type: ignore[arg-type]
                        recipient_kind=typed["recipient_kind"], recipient=typed["recipient"],
                        channel=typed["channel"], format=typed["format"], sent_date=sent,
                        clock_id=_int(typed["clock_id"]), password=password(form),
                    )  # fmt: skip
                return _done(request, session, auth, event_id)
            except ValidationFailed as exc:
                errors = field_errors(exc) | errors  # a date that is no date says so
        session.rollback()
        if is_wrong_password(errors) and auth.actor.user_id is not None:
            count_wrong_password(session, auth.actor.user_id)  # throttled as a log-in
        return _page(request, session, auth, event_id,
                     {"submission": errors, "submission_typed": typed}, 422)  # fmt: skip


def _done(request: Request, session: Session, auth: Auth, event_id: int) -> Response:
    from pv.web.templating import is_htmx

    if is_htmx(request):
        session.flush()
        response = _page(request, session, auth, event_id, {})
        # the Report versions section counts what stands: it reloads itself on this
        response.headers["HX-Trigger"] = "pv-reports-changed"
        return response
    return RedirectResponse(f"/review/events/{event_id}?done=submission#reports", 303)


@router.get("/review/events/{event_id}/reports")
def section(request: Request, auth: WebAuth, session: DB, event_id: PathId) -> Response:
    """The section as it stands (htmx: after a new report version was prepared)."""
    require(auth, *REVIEWERS)
    return _page(request, session, auth, event_id, {})


@router.post("/review/submissions/{submission_id}/ack")
async def upload_ack(request: Request, auth: WebAuth, submission_id: PathId) -> Response:
    require(auth, Role.officer)
    form = await request.form()
    upload = form.get("ack")
    data = b""
    if upload is not None and not isinstance(upload, str):
        data = await upload.read(ACK_MAX_BYTES + 1)
    with write_session(engine(request)) as session:
        sub = session.get(Submission, submission_id)
        if sub is None:
            raise HTTPException(404, _("no such submission"))
        event_or_404(session, auth, sub.event_id)
        if len(data) > ACK_MAX_BYTES:
            errors = {"ack": _("the file is larger than %(n)s MB: it is no acknowledgement", n=2)}
        else:
            try:
                with refusals():
                    attach_ack(session, auth.actor, submission_id, data)
                return _done(request, session, auth, sub.event_id)
            except ValidationFailed as exc:
                errors = field_errors(exc)
        session.rollback()
        return _page(request, session, auth, sub.event_id,
                     {"ack": {str(submission_id): " · ".join(errors.values())}}, 422)  # fmt: skip


@router.get("/review/submissions/{submission_id}/file")
def download(auth: WebAuth, session: DB, submission_id: PathId) -> Response:
    """The file as sent (stored bytes), for whoever may see the event."""
    require(auth, *REVIEWERS)
    sub = session.get(Submission, submission_id)
    if sub is None:
        raise HTTPException(404, _("no such submission"))
    event = event_or_404(session, auth, sub.event_id)
    if sub.recipient_kind == RecipientKind.regulator and not arms_visible(
        auth.user, session.get(Study, event.study_id), session=session,
        subject_id=event.subject_id,
    ):  # fmt: skip
        raise HTTPException(403, _("this file carries the unblinded case: you may not see arms"))
    media = "application/xml" if sub.format == ReportFormat.e2b else "application/pdf"
    return Response(sub.file, media_type=media, headers=attachment(sub.file_name))
