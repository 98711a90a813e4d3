"""The expedited-report dashboard: every live clock of a study, most urgent first."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlmodel import Session, col

from pv.events.models import AdverseEvent, Status
from pv.review import clocks
from pv.review.models import Assessment, ExpeditedReport, ReportKind
from pv.study.models import Subject
from pv.timeutil import utcnow


@dataclass(frozen=True)
class ClockItem:
    report_id: int | None  # None: a serious draft's 24 h clock (no row yet)
    event_id: int
    site_id: int
    usubjid: str
    term: str
    kind: str
    awareness_date: date  # day 0 (for the 24 h clock: the day the site learned)
    clock_days: int
    due_date: date
    due_at: datetime | None  # the 24 h clock's exact deadline (UTC)
    fatal_or_life_threatening: bool
    submitted_date: date | None
    status: str  # open | overdue | submitted
    due_soon: bool
    late: bool  # sent after its deadline
    days_left: int | None  # None once sent

    def as_json(self) -> dict[str, object]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in out.items()}


def _item(
    *,
    due_date: date,
    due_at: datetime | None,
    submitted_date: date | None,
    submitted_at: datetime | None,
    day: date,
    now: datetime | None,
    **fields: object,
) -> ClockItem:
    """The clock's state seen on `day` (dates), or at `now` for the 24 h clock."""
    if now is not None and due_at is not None:
        state = clocks.sae_status(due_at, submitted_at, now)
    else:
        state = clocks.status(due_date, submitted_date, day)
    if due_at is not None and submitted_at is not None:
        late = clocks.sae_late(due_at, submitted_at)
    else:
        late = clocks.late(due_date, submitted_date)
    return ClockItem(
        due_date=due_date,
        due_at=due_at,
        submitted_date=submitted_date,
        status=state,
        due_soon=state == clocks.OPEN and clocks.due_soon(due_date, None, day),
        late=late,
        days_left=None if submitted_date else clocks.days_left(due_date, day),
        **fields,  # type: ignore[arg-type]
    )


def _draft_start(aware: str | None, created: datetime) -> datetime:
    return clocks.site_awareness(aware) or created


def list_clocks(
    session: Session,
    *,
    study_id: str,
    today: date | None = None,
    site_ids: Collection[int] | None = None,
    include_drafts: bool = False,
) -> list[ClockItem]:
    """Every live clock of a study (sponsor's SUSAR reports and the sites' 24 h SAE
    reports): most urgent first, sent ones last.

    With `today`, every clock is judged by dates as of that day; without it, now (UTC),
    to the minute for the 24 h clock. `include_drafts` adds serious drafts (the site's
    own view: officers do not see drafts), whose 24 h clock runs from their awareness date
    (AEAWAREDTC), else from their creation.
    """
    now = None if today is not None else utcnow()
    day = today or now.date()  # type: ignore[union-attr]
    ae, r, a = AdverseEvent, ExpeditedReport, Assessment
    q = (
        select(
            r,
            col(ae.aedecod),
            col(ae.aeterm),
            col(ae.aesdth),
            col(ae.aeslife),
            col(ae.site_id),
            col(Subject.usubjid),
            col(a.fatal_or_life_threatening),
        )
        .join(ae, col(ae.id) == r.event_id)
        .join(Subject, col(Subject.id) == ae.subject_id)
        .outerjoin(a, col(a.event_id) == r.event_id)
        .where(col(r.study_id) == study_id, col(r.cancelled_at).is_(None))
    )
    if site_ids is not None:
        q = q.where(col(ae.site_id).in_(site_ids))
    items = [
        _item(
            report_id=rep.id,
            event_id=rep.event_id,
            site_id=site,
            usubjid=usubjid,
            term=decod or term,
            kind=rep.kind,
            awareness_date=rep.start_date,
            clock_days=rep.clock_days,
            due_date=rep.due_date,
            due_at=rep.due_at,
            submitted_date=rep.submitted_date,
            submitted_at=rep.submitted_at,
            day=day,
            now=now,
            fatal_or_life_threatening=bool(flt) if flt is not None else bool(dth or life),
        )
        for rep, decod, term, dth, life, site, usubjid, flt in session.execute(q)
    ]
    if include_drafts:
        q2 = (
            select(
                col(ae.id),
                col(ae.site_id),
                col(ae.aedecod),
                col(ae.aeterm),
                col(ae.aesdth),
                col(ae.aeslife),
                col(ae.created_at),
                col(Subject.usubjid),
                col(ae.aeawaredtc),
            )
            .join(Subject, col(Subject.id) == ae.subject_id)
            .where(
                col(ae.study_id) == study_id,
                col(ae.status) == Status.draft,
                col(ae.aeser).is_(True),
            )
        )
        if site_ids is not None:
            q2 = q2.where(col(ae.site_id).in_(site_ids))
        items += [
            _item(
                report_id=None,
                event_id=eid,
                site_id=site,
                usubjid=usubjid,
                term=decod or term,
                kind=ReportKind.investigator_sae_24h.value,
                awareness_date=start.date(),
                clock_days=1,
                due_date=clocks.sae_due(start).date(),
                due_at=clocks.sae_due(start),
                submitted_date=None,
                submitted_at=None,
                day=day,
                now=now,
                fatal_or_life_threatening=bool(dth or life),
            )
            for eid, site, decod, term, dth, life, created, usubjid, aware in session.execute(q2)
            for start in [_draft_start(aware, created)]
        ]
    return sorted(items, key=lambda i: (i.status == clocks.SUBMITTED, i.due_date, i.event_id))
