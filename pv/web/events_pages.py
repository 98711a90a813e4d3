"""Investigator screens for adverse events: list, report form, follow-up, history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, or_
from sqlmodel import Session, select

from pv.audit.models import AuditEntry
from pv.blinding.policy import shown_arm
from pv.db import write_session
from pv.events.duplicates import DuplicateEvent, StoredEvent
from pv.events.models import ACTIONS, OUTCOMES, RELATIONSHIPS, AdverseEvent, Status
from pv.events.rules import EventInput
from pv.events.service import (
    NotEditable,
    ValidationFailed,
    VersionConflict,
    create_event,
    subject_drugs,
    to_input,
    update_event,
)
from pv.i18n import N_
from pv.i18n import gettext as _
from pv.icsr.casedata import CaseVersionConflict, check_case_data, get_case_data, save_case_data
from pv.inputs import INT_MAX, parse_id
from pv.labels import register
from pv.study.models import Site, Subject
from pv.timeutil import today
from pv.web.case_data import (
    case_from_form,
    form_case_version,
    has_data,
    is_case_field,
    is_fatal,
    sae_section,
    split_errors,
    stored_case,
)
from pv.web.deps import (
    DB,
    EVENT_READERS,
    EVENT_WRITERS,
    Auth,
    PageNo,
    PathId,
    QueryId,
    WebAuth,
    engine,
    event_or_404,
    require,
    subject_or_404,
)
from pv.web.forms import event_from_form, form_values
from pv.web.history_view import FIELDS as HISTORY_FIELDS
from pv.web.history_view import raw_record, readable_history
from pv.web.templating import render, templates
from pv.web.terms import term_by_code

router = APIRouter()
# The history partial (events/_history.html, also on the review page) reads these.
templates.env.globals.update(readable_history=readable_history, raw_record=raw_record)
PAGE_SIZE = 25
# What an entry of an event's history records (AuditEntry.action), as the history shows it.
register(
    "audit_action",
    {
        "create": N_("create"),
        "update": N_("update"),
        "submit": N_("submit"),
        "start_review": N_("start_review"),
        "recode": N_("recode"),
        "assess": N_("assess"),
        "reassess": N_("reassess"),
        "query": N_("query"),
        "answer": N_("answer"),
        "withdraw_query": N_("withdraw_query"),
        "lock": N_("lock"),
        "unlock": N_("unlock"),
        "status": N_("status"),
    },
)
# The history's labels of the fields of a pre-existing condition and an episode (issue 14),
# next to "Present before the first dose" and "Worsened on" (pv.web.history_view).
HISTORY_FIELDS.update({
    "initial_grade": N_("CTCAE grade at the first dose"),
    "aegrpid": N_("Episode (group) id"),
    "aespid": N_("Sponsor record id"),
})  # fmt: skip
SORTS = {
    "updated": AdverseEvent.updated_at.desc(),  # type: ignore[attr-defined]
    "onset": AdverseEvent.aestdtc.desc(),  # type: ignore[union-attr]
    "grade": AdverseEvent.aetoxgr.desc(),  # type: ignore[union-attr]
    "subject": Subject.usubjid,
}


def _scoped(q: Any, auth: Auth) -> Any:
    if auth.sites is not None:
        return q.where(AdverseEvent.site_id.in_(auth.sites))  # type: ignore[attr-defined]
    return q.where(AdverseEvent.status != Status.draft)


@router.get("/events")
def event_list(
    request: Request,
    auth: WebAuth,
    session: DB,
    subject: str = "",
    status: str = "",
    serious: str = "",
    q: str = "",
    sort: str = "updated",
    page: PageNo = 1,
) -> Response:
    require(auth, *EVENT_READERS)
    base = select(AdverseEvent, Subject.usubjid).join(
        Subject, Subject.id == AdverseEvent.subject_id
    )
    base = _scoped(base, auth)
    if subject:
        base = base.where(Subject.usubjid.contains(subject.strip()))  # type: ignore[attr-defined]
    if status in Status.__members__:
        base = base.where(AdverseEvent.status == status)
    if serious in ("Y", "N"):
        base = base.where(AdverseEvent.aeser == (serious == "Y"))
    if q.strip():
        like = f"%{q.strip().lower()}%"
        base = base.where(
            or_(
                func.lower(AdverseEvent.aeterm).like(like),
                func.lower(AdverseEvent.aedecod).like(like),
            )
        )
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    page = max(page, 1)
    order = SORTS.get(sort, SORTS["updated"])
    rows = session.exec(
        base.order_by(order, AdverseEvent.id.desc())  # type: ignore[union-attr]
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    ctx = {
        "auth": auth,
        "rows": rows,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "statuses": list(Status.__members__),
        "f": {"subject": subject, "status": status, "serious": serious, "q": q, "sort": sort},
    }
    return render(request, "events/list.html", ctx, partial="events/_table.html")


def _form_context(
    session: Session,
    auth: Auth,
    subject: Subject,
    values: dict[str, Any],
    errors: dict[str, str],
    **extra: Any,
) -> dict[str, Any]:
    term = term_by_code(session, values["aelltcd"]) if values.get("aelltcd") else None
    drugs = subject_drugs(session, subject)
    case_typed: dict[str, Any] | None = extra.pop("case", None)
    case_version: int | None = extra.pop("case_version", None)
    event: AdverseEvent | None = extra.get("event")
    if case_typed is None and event is not None and event.id is not None:
        case_typed, case_version = stored_case(session, event.id)
    return {
        "auth": auth,
        "subject": subject,
        "drugs": drugs,
        # the SAE case sections (pv.web.case_data), shown while "serious" is Yes
        "sae": sae_section(
            drugs=drugs,
            values=case_typed,
            errors=split_errors(errors)[1],
            shown=values.get("aeser") == "Y",
            fatal=is_fatal(aesdth=bool(values.get("aesdth")), aeout=values.get("aeout")),
            version=case_version,
            heading=True,
        ),
        "values": values,
        "errors": errors,
        "term": term,
        "outcomes": OUTCOMES,
        "relationships": RELATIONSHIPS,
        "actions": ACTIONS,
        **extra,
    }


@router.get("/events/new")
def new_event(request: Request, auth: WebAuth, session: DB, subject: QueryId) -> Response:
    require(auth, *EVENT_WRITERS)
    subj = subject_or_404(session, auth, session.get(Subject, subject))
    values = form_values(EventInput())
    return render(request, "events/form.html", _form_context(session, auth, subj, values, {}))


@router.get("/events/preexisting-fields")
def preexisting_fields(request: Request, auth: WebAuth, preexisting: str = "",
                       initial_grade: str = "", worsened_dtc: str = "") -> Response:  # fmt: skip
    """The form's pre-existing section as the box now stands (htmx, on ticking it): the
    grade at the first dose and the worsening date while ticked, nothing otherwise; what
    was typed in it is kept."""
    require(auth, *EVENT_WRITERS)
    values = {"preexisting": preexisting == "Y", "initial_grade": parse_id(initial_grade),
              "worsened_dtc": worsened_dtc.strip()[:20] or None}  # fmt: skip
    return render(request, "events/_preexisting.html", {"auth": auth, "values": values,
                                                        "errors": {}})  # fmt: skip


@router.get("/events/sae-case-fields")
def sae_case_fields(request: Request, auth: WebAuth, session: DB, subject: QueryId,
                    event: Annotated[int, Query(ge=0, le=INT_MAX)] = 0) -> Response:  # fmt: skip
    """The form's SAE case sections as "serious" (and "results in death", the outcome) now
    stand (htmx, on changing them): what was typed in them is kept; when they were hidden,
    an event's stored case data comes back."""
    require(auth, *EVENT_WRITERS)
    subj = subject_or_404(session, auth, session.get(Subject, subject))
    q = request.query_params
    drugs = subject_drugs(session, subj)
    version = form_case_version(q)
    if q.get("sae_shown") == "1":
        case = case_from_form(q, [d.key for d in drugs])
    elif event:
        stored = event_or_404(session, auth, event)
        if stored.subject_id != subj.id:
            raise HTTPException(404, _("no such event"))
        case, version = stored_case(session, event)
    else:
        case = {}
    sae = sae_section(drugs=drugs, values=case, shown=q.get("aeser") == "Y",
                      fatal=is_fatal(aesdth=q.get("aesdth") == "Y", aeout=q.get("aeout")),
                      version=version, heading=True)  # fmt: skip
    return render(request, "events/_sae_case.html", {"auth": auth, "sae": sae})


def _case_of(form: Any, data: EventInput, drug_keys: list[str]) -> dict[str, Any] | None:
    """The case data posted with a serious event (its sections were on the form), else None:
    a non-serious event leaves the stored case data as it is."""
    if not data.aeser or form.get("sae_shown") != "1":
        return None
    return case_from_form(form, drug_keys)


def _save_case(session: Session, auth: Auth, event: AdverseEvent, case: dict[str, Any] | None,
               expected: int | None) -> None:  # fmt: skip
    """Store the case data in the event's transaction (a refusal raises: nothing of either
    is stored). Nothing typed and nothing stored: no case row."""
    if case is None or event.id is None:
        return
    if not has_data(case) and get_case_data(session, event.id) is None:
        return
    save_case_data(session, auth.actor, event.id, case, expected_version=expected)


def _case_errors(errors: dict[str, str], case: dict[str, Any] | None, data: EventInput,
                 drug_keys: list[str]) -> dict[str, str]:  # fmt: skip
    """The event's errors and, when the case data was not checked yet (the event was
    refused first), the case data's own: every problem of the form at once."""
    if case is None or any(is_case_field(k) for k in errors):
        return errors
    _clean, findings = check_case_data(case, event=data, drug_keys=drug_keys, today=today())
    out = dict(errors)
    for issue in findings.errors:
        if is_case_field(issue.field):
            out[issue.field] = (f"{out[issue.field]} · {issue.message}"
                                if issue.field in out else issue.message)  # fmt: skip
    return out


def _errors(exc: ValidationFailed) -> dict[str, str]:
    out: dict[str, str] = {}
    for issue in exc.findings.errors:
        out[issue.field] = (
            f"{out[issue.field]} · {issue.message}" if issue.field in out else issue.message
        )
    return out


@router.post("/events")
async def create_event_page(request: Request, auth: WebAuth) -> Response:
    require(auth, *EVENT_WRITERS)
    form = await request.form()
    subject_id = str(form.get("subject_id") or "")
    with write_session(engine(request)) as session:
        n = parse_id(subject_id)
        subj = subject_or_404(session, auth, session.get(Subject, n) if n is not None else None)
        drugs = subject_drugs(session, subj)
        keys = [d.key for d in drugs]
        data, errors = event_from_form(form, keys)
        case = _case_of(form, data, keys)
        submit = form.get("action") == "submit"
        duplicates: list[StoredEvent] = []
        if not errors:
            try:
                event, _findings = create_event(
                    session=session, actor=auth.actor, subject=subj, data=data, submit=submit,
                    confirm_duplicate=_confirmation(form),
                    confirm_before_consent=form.get("confirm_before_consent") == "1",
                )  # fmt: skip
                _save_case(session, auth, event, case, None)  # the same transaction
                return RedirectResponse(f"/events/{event.id}?saved=1", status_code=303)
            except ValidationFailed as exc:
                errors = _errors(exc)
            except DuplicateEvent as exc:
                duplicates = exc.existing
        session.rollback()  # nothing of a refused form is stored
        errors = _case_errors(errors, case, data, keys)
        action = "submit" if submit else "draft"
        ctx = _form_context(session, auth, subj, form_values(data), errors,
                            duplicates=duplicates, action=action, case=case)  # fmt: skip
        # 409: a likely duplicate, shown with the stored events and a "Save anyway".
        return render(request, "events/form.html", ctx, status_code=409 if duplicates else 422)


def _confirmation(form: Any) -> bool | frozenset[int]:
    """What the form confirms: the likely duplicates it showed (hidden `duplicate_of` ids,
    so that an onset changed to match other events asks again), any when it names none;
    nothing without `confirm_duplicate=1`."""
    if form.get("confirm_duplicate") != "1":
        return False
    ids = [parse_id(str(v)) for v in form.getlist("duplicate_of")]
    shown = frozenset(i for i in ids if i is not None)
    return shown or True


def _history(session: Session, event: AdverseEvent) -> list[AuditEntry]:
    return list(
        session.exec(
            select(AuditEntry)
            .where(AuditEntry.entity_type == "adverse_event", AuditEntry.entity_id == str(event.id))
            .order_by(AuditEntry.id)
        )
    )


def _event_context(session: Session, auth: Auth, event: AdverseEvent) -> dict[str, Any]:
    subject = session.get(Subject, event.subject_id)
    assert subject is not None
    return {
        "auth": auth,
        "event": event,
        "subject": subject,
        "site": session.get(Site, event.site_id),
        "arm": shown_arm(session, auth.user, subject),  # masked in a blinded study
        "drugs": subject_drugs(session, subject),
        "history": _history(session, event),
        "sae_clock": _sae_clock(session, event),
        "sae": _stored_sae(session, subject, event),
    }


def _stored_sae(session: Session, subject: Subject, event: AdverseEvent) -> dict[str, Any]:
    """The event's stored case data, read-only (the event page shows it when there is any)."""
    assert event.id is not None
    values, version = stored_case(session, event.id)
    return sae_section(drugs=subject_drugs(session, subject), values=values, editable=False,
                       fatal=is_fatal(event), version=version)  # fmt: skip


def _sae_clock(session: Session, event: AdverseEvent) -> dict[str, Any] | None:
    """The site's 24 h report of a serious event as the event page shows it, or None."""
    from pv.review import clocks
    from pv.review.models import ExpeditedReport, ReportKind
    from pv.timeutil import utcnow

    if not event.aeser or event.id is None:
        return None
    report = session.exec(
        select(ExpeditedReport).where(
            ExpeditedReport.event_id == event.id,
            ExpeditedReport.kind == ReportKind.investigator_sae_24h,
            ExpeditedReport.cancelled_at.is_(None),  # type: ignore[union-attr]
        )
    ).first()
    if report is None or report.due_at is None:
        return None
    due, sent = _utc(report.due_at), report.submitted_at and _utc(report.submitted_at)
    return {
        "start": _utc(report.start_at) if report.start_at else None,
        "due": due,
        "sent": sent,
        "status": clocks.sae_status(due, sent, utcnow()),
        "late": clocks.sae_late(due, sent),
    }


def _utc(moment: Any) -> Any:
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@router.get("/events/{event_id}")
def event_page(request: Request, auth: WebAuth, session: DB, event_id: PathId) -> Response:
    require(auth, *EVENT_READERS)
    event = event_or_404(session, auth, event_id)
    return render(request, "events/detail.html", _event_context(session, auth, event))


@router.get("/events/{event_id}/history")
def event_history(request: Request, auth: WebAuth, session: DB, event_id: PathId) -> Response:
    require(auth, *EVENT_READERS)
    event = event_or_404(session, auth, event_id)
    return render(request, "events/_history.html", _event_context(session, auth, event))


@router.get("/events/{event_id}/edit")
def edit_event(request: Request, auth: WebAuth, session: DB, event_id: PathId) -> Response:
    require(auth, *EVENT_WRITERS)
    event = event_or_404(session, auth, event_id)
    subject = session.get(Subject, event.subject_id)
    assert subject is not None
    ctx = _form_context(
        session, auth, subject, form_values(to_input(event)), {}, event=event, version=event.version
    )
    return render(request, "events/form.html", ctx)


@router.post("/events/{event_id}")
async def update_event_page(request: Request, auth: WebAuth, event_id: PathId) -> Response:
    require(auth, *EVENT_WRITERS)
    form = await request.form()
    version = str(form.get("version") or "")
    reason = str(form.get("reason") or "")
    with write_session(engine(request)) as session:
        event = event_or_404(session, auth, event_id)
        subject = session.get(Subject, event.subject_id)
        assert subject is not None
        keys = [d.key for d in subject_drugs(session, subject)]
        data, errors = event_from_form(form, keys)
        case = _case_of(form, data, keys)
        case_version = form_case_version(form)
        extra: dict[str, Any] = {"event": event, "version": version, "reason": reason,
                                 "case": case, "case_version": case_version}  # fmt: skip
        status_code = 422
        expected = parse_id(version)
        if expected is None:
            raise HTTPException(422, _("the form lost its version; reload the event"))
        if not errors:
            try:
                update_event(
                    session=session,
                    actor=auth.actor,
                    event_id=event_id,
                    data=data,
                    expected_version=expected,
                    reason=reason,
                    submit=form.get("action") == "submit",
                    confirm_before_consent=form.get("confirm_before_consent") == "1",
                )
                _save_case(session, auth, event, case, case_version)  # the same transaction
                return RedirectResponse(f"/events/{event_id}?saved=1", status_code=303)
            except ValidationFailed as exc:
                errors = _errors(exc)
            except CaseVersionConflict as exc:
                status_code = 409
                errors = {"sae_version": exc.message}
            except VersionConflict as exc:
                status_code = 409
                extra["conflict"] = form_values(to_input(exc.current))
                extra["conflict_version"] = exc.current.version
            except NotEditable as exc:
                raise HTTPException(409, str(exc)) from exc
        session.rollback()  # nothing of a refused form is stored
        errors = _case_errors(errors, case, data, keys)
        if case is None:
            extra.pop("case")  # the stored case data, as the sections were not on the form
        ctx = _form_context(session, auth, subject, form_values(data), errors, **extra)
        return render(request, "events/form.html", ctx, status_code=status_code)
