"""Everything the event review page shows, in one context (routes stay thin)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from pv import labels
from pv.audit.models import AuditEntry
from pv.auth.models import Role
from pv.blinding.policy import shown_arm
from pv.events.models import CRITERIA_LABELS, AdverseEvent, Status
from pv.events.service import subject_drugs
from pv.i18n import N_
from pv.i18n import gettext as _
from pv.review import clocks
from pv.review.models import ExpeditedReport, ReportKind
from pv.review.queries import can_query, queries_for_event
from pv.review.service import current_assessment
from pv.review.signing import event_signatures
from pv.review.workflow import can_transition
from pv.study.models import Drug, Site, Subject
from pv.terminology.models import Term
from pv.timeutil import today
from pv.web.deps import Auth
from pv.web.review_assess import (
    WHO_UMC,
    awareness_of,
    conflict_rows,
    default_awareness,
    rsi_rows,
    stored_values,
)
from pv.web.review_versions import version_grid

KIND_LABELS = {
    ReportKind.initial_7.value: N_("Initial SUSAR report (fatal or life-threatening: 7 days)"),
    ReportKind.followup_8.value: N_("Follow-up SUSAR report (8 more days: day 15)"),
    ReportKind.initial_15.value: N_("Initial SUSAR report (15 days)"),
    ReportKind.investigator_sae_24h.value: N_("Site's initial SAE report (24 hours)"),
}
labels.register("report_kind", KIND_LABELS)  # templates: label('report_kind', kind)
# What a query may be about, in this order (labels: pv.labels "query_field" and "criterion").
QUERY_FIELDS = ("aeterm", "aelltcd", "aetoxgr", "aeser", *CRITERIA_LABELS, "aestdtc", "aeendtc",
                "ongoing", "aeout", "aecontrt", "narrative")  # fmt: skip


def query_fields(drugs: list[Drug]) -> dict[str, str]:
    """{field: label} of what a query may be about, in the current language."""
    out = {k: labels.label("criterion" if k in CRITERIA_LABELS else "query_field", k)
           for k in QUERY_FIELDS}  # fmt: skip
    for d in drugs:
        out[f"aerel.{d.key}"] = _("Relationship to %(drug)s", drug=d.name)
        out[f"aeacn.{d.key}"] = _("Action taken with %(drug)s", drug=d.name)
    return out


def event_reports(session: Session, event_id: int) -> list[dict[str, Any]]:
    """The event's live expedited reports with their clock state today."""
    reports = session.exec(
        select(ExpeditedReport)
        .where(ExpeditedReport.event_id == event_id, col(ExpeditedReport.cancelled_at).is_(None))
        .order_by(col(ExpeditedReport.due_date), col(ExpeditedReport.id))
    ).all()
    day = today()
    return [
        {
            "report": r,
            "label": labels.label("report_kind", r.kind),
            "status": clocks.status(r.due_date, r.submitted_date, day),
            "days_left": clocks.days_left(r.due_date, day),
            "late": clocks.late(r.due_date, r.submitted_date),
        }
        for r in reports
    ]


def assessment_history(session: Session, event_id: int) -> list[AuditEntry]:
    return list(
        session.exec(
            select(AuditEntry)
            .where(AuditEntry.entity_type == "assessment", AuditEntry.entity_id == str(event_id))
            .order_by(col(AuditEntry.id))
        )
    )


def review_context(
    session: Session,
    auth: Auth,
    event: AdverseEvent,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    typed: dict[str, str] | None = None,
    conflict_form: str | None = None,
    conflict_from: int | None = None,
) -> dict[str, Any]:
    """The page's context. `values`: the assessment form as typed; `errors`: per form
    ("assess", "recode", "query", "unlock"); `typed`: other forms' typed text; with
    `conflict_from` (the version the user's form was read at) the conflict box."""
    subject = session.get(Subject, event.subject_id)
    assert subject is not None and event.id is not None
    drugs = subject_drugs(session, subject)
    assessment = current_assessment(session, event.id)
    stored = stored_values(event, assessment, drugs)
    values = values or stored
    on = awareness_of(values, default_awareness(event, assessment))
    grid = version_grid(session, event, drugs)
    role, status = auth.role, event.status
    officer = role == Role.officer
    live = status not in (Status.draft, Status.locked)
    ctx: dict[str, Any] = {
        "auth": auth,
        "event": event,
        "subject": subject,
        "site": session.get(Site, event.site_id),
        "arm": shown_arm(session, auth.user, subject),  # masked in a blinded study
        "drugs": drugs,
        "grid": grid,
        "assessment": assessment,
        "assessment_history": assessment_history(session, event.id),
        "values": values,
        "rsi": rsi_rows(session, event, drugs, on),
        "who_umc": WHO_UMC,
        "reports": event_reports(session, event.id),
        "queries": queries_for_event(session, event.id),
        "query_fields": query_fields(drugs),
        "errors": errors or {},
        "typed": typed or {},
        "today": today().isoformat(),
        "term": session.get(Term, event.term_id) if event.term_id else None,
        # (signature, what changed since the version it signed when no longer valid)
        "signatures": [
            (sig, [] if sig.valid else grid.changes_since(sig.signature.record_version or 0))
            for sig in event_signatures(session, event)
        ],
        "can": {
            "start": can_transition(status, Status.under_review, role),
            "assess": officer
            and (status == Status.assessed or can_transition(status, Status.assessed, role)),
            "recode": officer and live,
            "query": can_query(status, role),  # at any time after submission (issue 15)
            "close_query": officer and status != Status.draft,
            "lock": can_transition(status, Status.locked, role),
            "unlock": status == Status.locked and can_transition(status, Status.assessed, role),
        },
    }
    # Expedited reporting (issue 16): each section adds its own part.
    from pv.web.case_data import case_data_context
    from pv.web.case_versions import versions_context
    from pv.web.submissions import submissions_context

    for part in (case_data_context, versions_context, submissions_context):
        ctx.update(part(session, auth, event, errors or {}))
    if conflict_from is not None:
        rows = grid.changes_since(conflict_from)
        if conflict_form == "assess":
            rows = conflict_rows(assessment, values, drugs) + [
                (_("Event: %(field)s", field=label), now, then) for label, now, then in rows
            ]
        elif conflict_form == "recode":
            now = f"{event.aedecod} ({event.aelltcd})" if event.aedecod else "—"
            rows = [(_("CTCAE term"), now, (typed or {}).get("recode_term", "—")), *rows]
        kept = ctx["can"].get(conflict_form or "", False)  # is the form still offered?
        ctx["conflict"] = {
            "version": event.version,
            "since": conflict_from,
            "rows": rows,
            "kept": kept,
        }
    return ctx
