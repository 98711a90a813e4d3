"""Expedited reports: their clocks follow the assessment; a recorded submission closes them
(pv.icsr.submissions.record_submission).

The investigator's 24 h SAE clock starts when the site became aware of the event
(AEAWAREDTC; a date without a time counts from the start of that day, UTC: see
clocks.site_awareness) and stops when the record was first submitted while serious (read
from the audit trail). It is stored when a serious event is submitted (and, for events
stored before AEAWAREDTC existed, when the officer starts the review: then it starts when
the record first said "serious"), and shown for serious drafts (not yet sent) without a row.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, col, select

from pv.audit.models import AuditEntry
from pv.audit.service import Actor, diff, record
from pv.events.models import AdverseEvent, Status
from pv.review import clocks
from pv.review.models import Assessment, ExpeditedReport, ReportKind
from pv.timeutil import utcnow

REPORT_FIELDS = (
    "event_id",
    "kind",
    "clock_days",
    "start_date",
    "due_date",
    "start_at",
    "due_at",
    "submitted_date",
    "submitted_at",
    "cancelled_at",
)


def _snap(report: ExpeditedReport) -> dict[str, object]:
    return {f: getattr(report, f) for f in REPORT_FIELDS}


def _audit(
    session: Session,
    actor: Actor,
    report: ExpeditedReport,
    before: dict[str, object],
    action: str,
    reason: str | None = None,
) -> None:
    session.add(report)
    session.flush()
    record(
        session=session,
        actor=actor,
        action=action,
        entity_type="expedited_report",
        entity_id=str(report.id),
        study_id=report.study_id,
        changes=diff(before, _snap(report)),
        reason=reason,
    )


def _live(session: Session, event_id: int | None) -> list[ExpeditedReport]:
    return list(
        session.exec(
            select(ExpeditedReport).where(
                ExpeditedReport.event_id == event_id, col(ExpeditedReport.cancelled_at).is_(None)
            )
        )
    )


def sync_susar_reports(
    session: Session, actor: Actor, event: AdverseEvent, assessment: Assessment
) -> list[ExpeditedReport]:
    """Make the unsent SUSAR reports match the assessment; sent ones are history."""
    wanted = {}
    if assessment.is_susar:
        wanted = {
            c.kind.value: c
            for c in clocks.susar_clocks(
                assessment.awareness_date,
                fatal_or_life_threatening=assessment.fatal_or_life_threatening,
            )
        }
    have = {
        r.kind: r for r in _live(session, event.id) if r.kind != ReportKind.investigator_sae_24h
    }
    for kind, report in have.items():
        if report.submitted_date is not None:
            continue
        before = _snap(report)
        clock = wanted.get(kind)
        if clock is None:
            report.cancelled_at = utcnow()
            _audit(session, actor, report, before, "cancel", "no longer a SUSAR of this kind")
        elif (report.start_date, report.due_date) != (clock.start_date, clock.due_date):
            report.start_date, report.due_date = clock.start_date, clock.due_date
            _audit(session, actor, report, before, "update", "awareness date changed")
    for kind, clock in wanted.items():
        if kind in have:
            continue
        report = ExpeditedReport(
            event_id=event.id,  # type: ignore[arg-type]
            study_id=event.study_id,
            kind=kind,
            clock_days=clock.clock_days,
            start_date=clock.start_date,
            due_date=clock.due_date,
        )
        _audit(session, actor, report, {}, "create")
    return [r for r in _live(session, event.id) if r.kind != ReportKind.investigator_sae_24h]


def sae_moments(session: Session, event_id: int) -> tuple[datetime | None, datetime | None]:
    """(first recorded as serious, first submitted while serious), from the audit trail."""
    rows = session.exec(
        select(AuditEntry.at, AuditEntry.changes)
        .where(AuditEntry.entity_type == "adverse_event", AuditEntry.entity_id == str(event_id))
        .order_by(col(AuditEntry.id))
    ).all()
    state: dict[str, object] = {}
    start = sent = None
    for at, changes in rows:
        state.update({k: v[1] for k, v in changes.items()})
        if state.get("aeser") is True:
            start = start or at
            if state.get("status") not in (None, Status.draft):
                sent = sent or at
    return start, sent


def sync_sae_clock(
    session: Session, actor: Actor, event: AdverseEvent, site_awareness: datetime | None = None
) -> ExpeditedReport | None:
    """Store the investigator's 24 h clock of a serious event (once); a later change of the
    event's awareness date (a follow-up correcting it) moves the stored clock."""
    if not event.aeser or event.id is None:
        return None
    aware = clocks.site_awareness(event.aeawaredtc)
    have = [r for r in _live(session, event.id) if r.kind == ReportKind.investigator_sae_24h]
    if have:
        report = have[0]
        stored = report.start_at
        if stored is not None and stored.tzinfo is None:
            stored = stored.replace(tzinfo=UTC)
        if aware is not None and stored != aware:
            before = _snap(report)
            due = clocks.sae_due(aware)
            report.start_at, report.start_date = aware, aware.date()
            report.due_at, report.due_date = due, due.date()
            _audit(session, actor, report, before, "update", "awareness date changed")
        return report
    start, sent = sae_moments(session, event.id)
    start = site_awareness or aware or start or event.created_at
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    due = clocks.sae_due(start)
    report = ExpeditedReport(
        event_id=event.id,
        study_id=event.study_id,
        clock_days=1,
        kind=ReportKind.investigator_sae_24h,
        start_date=start.date(),
        due_date=due.date(),
        start_at=start,
        due_at=due,
        submitted_at=sent,
        submitted_date=sent.date() if sent else None,
    )
    _audit(session, actor, report, {}, "create")
    return report


def store_sae_clock(session: Session, actor: Actor, *, event_id: int, study_id: str,
                    aeawaredtc: str | None, sent: datetime) -> ExpeditedReport:  # fmt: skip
    """The 24 h clock of a serious event submitted at `sent` (spreadsheet uploads)."""
    start = clocks.site_awareness(aeawaredtc) or sent
    due = clocks.sae_due(start)
    report = ExpeditedReport(
        event_id=event_id,
        study_id=study_id,
        clock_days=1,
        kind=ReportKind.investigator_sae_24h,
        start_date=start.date(),
        due_date=due.date(),
        start_at=start,
        due_at=due,
        submitted_at=sent,
        submitted_date=sent.date(),
    )
    _audit(session, actor, report, {}, "create")
    return report
