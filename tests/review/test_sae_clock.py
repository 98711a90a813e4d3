"""The site's 24 h SAE clock: from the audit trail, or an explicit site-awareness time."""

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


def test_the_clock_runs_from_the_first_serious_version_to_the_first_serious_submission(world):
    ev = world.report(MILD_HEADACHE, submit=False)  # a non-serious draft
    inv = world.actor("inv1")
    with write_session(world.engine) as s:
        update_event(
            session=s,
            actor=inv,
            event_id=ev,
            expected_version=1,
            data=EventInput(**SERIOUS_PNEUMONIA),
        )
    with read_session(world.engine) as s:  # a serious draft: the site's clock is running
        [item] = list_clocks(s, study_id=world.study_id, include_drafts=True)
        assert list_clocks(s, study_id=world.study_id) == []  # officers do not see drafts
    assert (item.report_id, item.kind, item.status) == (None, "investigator_sae_24h", "open")
    with write_session(world.engine) as s:
        update_event(
            session=s,
            actor=inv,
            event_id=ev,
            expected_version=2,
            data=EventInput(**SERIOUS_PNEUMONIA),
            submit=True,
        )
        review.start_review(
            session=s, actor=world.actor("officer"), event_id=ev, expected_version=3
        )
    created, serious, submitted, _review = _audit_times(world, ev)
    report = _sae_report(world, ev)
    assert report.start_at == serious and report.submitted_at == submitted
    assert report.due_at == serious + timedelta(hours=24) and report.clock_days == 1
    with read_session(world.engine) as s:
        [item] = list_clocks(s, study_id=world.study_id)
    assert (item.status, item.late, item.days_left) == ("submitted", False, None)


def test_an_explicit_site_awareness_starts_the_clock_and_shows_a_late_report(world: World):
    ev = world.report(SERIOUS_PNEUMONIA)
    learned = datetime.now(UTC) - timedelta(days=3)
    with write_session(world.engine) as s:
        review.start_review(
            session=s,
            actor=world.actor("officer"),
            event_id=ev,
            expected_version=1,
            site_awareness=learned,
        )
    report = _sae_report(world, ev)
    assert report.start_at == learned and report.due_at == learned + timedelta(hours=24)
    with read_session(world.engine) as s:
        [item] = list_clocks(s, study_id=world.study_id)
    assert (item.status, item.late) == ("submitted", True)


def test_a_non_serious_event_has_no_site_clock(world: World):
    ev = world.report(MILD_HEADACHE)
    with write_session(world.engine) as s:
        review.start_review(
            session=s, actor=world.actor("officer"), event_id=ev, expected_version=1
        )
    with read_session(world.engine) as s:
        assert list_clocks(s, study_id=world.study_id, include_drafts=True) == []
