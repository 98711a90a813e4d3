"""The site's 24 h SAE clock: from the awareness date (AEAWAREDTC), stored at submission."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from pv.audit.models import AuditEntry
from pv.db import read_session, write_session
from pv.events.rules import EventInput
from pv.events.service import update_event
from pv.review import service as review
from pv.review.deadlines import list_clocks
from pv.review.models import ExpeditedReport

from .conftest import MILD_HEADACHE, SERIOUS_PNEUMONIA, World


def _sae_report(world: World, ev: int) -> ExpeditedReport:
    with read_session(world.engine) as s:
        return s.exec(
            select(ExpeditedReport).where(
                ExpeditedReport.event_id == ev, ExpeditedReport.kind == "investigator_sae_24h"
            )
        ).one()


def _audit_times(world: World, ev: int) -> list[datetime]:
    with read_session(world.engine) as s:
        return list(
            s.exec(
                select(AuditEntry.at)
                .where(AuditEntry.entity_type == "adverse_event", AuditEntry.entity_id == str(ev))
                .order_by(col(AuditEntry.id))
            )
        )


def test_the_clock_runs_from_awareness_and_is_stored_at_the_submission(world):
    ev = world.report(MILD_HEADACHE, submit=False)  # a non-serious draft
    inv = world.actor("inv1")
    learned = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    serious = {**SERIOUS_PNEUMONIA, "aeawaredtc": learned.strftime("%Y-%m-%dT%H:%M")}
    with write_session(world.engine) as s:
        update_event(
            session=s, actor=inv, event_id=ev, expected_version=1, data=EventInput(**serious)
        )
    with read_session(world.engine) as s:  # a serious draft: the site's clock is running
        [item] = list_clocks(s, study_id=world.study_id, include_drafts=True)
        assert list_clocks(s, study_id=world.study_id) == []  # officers do not see drafts
    assert (item.report_id, item.kind, item.status) == (None, "investigator_sae_24h", "open")
    assert item.due_at == learned + timedelta(hours=24)
    with write_session(world.engine) as s:
        update_event(
            session=s,
            actor=inv,
            event_id=ev,
            expected_version=2,
            data=EventInput(**serious),
            submit=True,
        )
    # Stored at the submission: no officer needs to open the event.
    _created, _serious, submitted = _audit_times(world, ev)
    report = _sae_report(world, ev)
    assert report.start_at == learned and report.submitted_at == submitted
    assert report.due_at == learned + timedelta(hours=24) and report.clock_days == 1
    with write_session(world.engine) as s:
        review.start_review(
            session=s, actor=world.actor("officer"), event_id=ev, expected_version=3
        )
    assert _sae_report(world, ev).id == report.id  # one clock, not another
    with read_session(world.engine) as s:
        [item] = list_clocks(s, study_id=world.study_id)
    assert (item.status, item.late, item.days_left) == ("submitted", False, None)


def test_an_awareness_date_two_days_ago_makes_the_report_late(world: World):
    learned = (datetime.now(UTC) - timedelta(days=2)).date()
    ev = world.report(SERIOUS_PNEUMONIA, aeawaredtc=learned.isoformat())
    report = _sae_report(world, ev)  # stored at the submission
    start = datetime(learned.year, learned.month, learned.day, tzinfo=UTC)  # 00:00 UTC
    assert report.start_at == start and report.due_at == start + timedelta(hours=24)
    with read_session(world.engine) as s:
        [item] = list_clocks(s, study_id=world.study_id)
    assert (item.status, item.late, item.awareness_date) == ("submitted", True, learned)


def test_a_follow_up_correcting_the_awareness_moves_the_clock(world: World):
    today = datetime.now(UTC).date()
    ev = world.report(SERIOUS_PNEUMONIA, aeawaredtc=(today - timedelta(days=3)).isoformat())
    with write_session(world.engine) as s:
        update_event(
            session=s,
            actor=world.actor("inv1"),
            event_id=ev,
            expected_version=1,
            data=EventInput(**{**SERIOUS_PNEUMONIA, "aeawaredtc": today.isoformat()}),
            reason="the site learned of it today",
        )
    report = _sae_report(world, ev)
    assert report.start_date == today and not clocks_late(report)


def clocks_late(report: ExpeditedReport) -> bool:
    from pv.review import clocks

    due, sent = report.due_at, report.submitted_at
    assert due is not None and sent is not None
    return clocks.sae_late(due.replace(tzinfo=UTC), sent.replace(tzinfo=UTC))


def test_a_non_serious_event_has_no_site_clock(world: World):
    ev = world.report(MILD_HEADACHE)
    with write_session(world.engine) as s:
        review.start_review(
            session=s, actor=world.actor("officer"), event_id=ev, expected_version=1
        )
    with read_session(world.engine) as s:
        assert list_clocks(s, study_id=world.study_id, include_drafts=True) == []
