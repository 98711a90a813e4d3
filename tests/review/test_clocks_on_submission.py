"""Issue 15, points 2 and 6 through the services: every serious event gets the site's 24 h
clock when it is submitted (form/API path, spreadsheet path, demo), from its awareness
date; an onset before consent needs a confirmation; a draft SAE needs no narrative; an
event is not locked while one of its expedited reports is unsent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import col, select

from pv.db import read_session, write_session
from pv.demo.generate import build_demo
from pv.events.bulk import BulkRow, create_events_bulk
from pv.events.models import AdverseEvent, Status
from pv.events.rules import CONSENT_FIELD, EventInput
from pv.events.service import ValidationFailed, create_event, update_event
from pv.review import service as review
from pv.review.deadlines import list_clocks
from pv.review.models import ExpeditedReport, ReportKind
from pv.review.workflow import TransitionRefused, change_status
from pv.study.models import Subject
from pv.timeutil import today
from tests.review.sending import send_report

from .conftest import MILD_HEADACHE, PASSWORD, SERIOUS_PNEUMONIA, World


def _reports(world: World, ev: int) -> list[ExpeditedReport]:
    with read_session(world.engine) as s:
        return list(
            s.exec(select(ExpeditedReport).where(ExpeditedReport.event_id == ev).order_by(
                col(ExpeditedReport.id)))
        )  # fmt: skip


def _sae(world: World, ev: int) -> ExpeditedReport:
    [report] = [r for r in _reports(world, ev) if r.kind == ReportKind.investigator_sae_24h]
    return report


def test_a_submitted_sae_has_its_24_hour_clock_before_any_officer_opens_it(world: World):
    ev = world.report(SERIOUS_PNEUMONIA)
    report = _sae(world, ev)
    assert report.start_at == datetime(2021, 3, 2, tzinfo=UTC)  # AEAWAREDTC 2021-03-02
    assert report.due_at == datetime(2021, 3, 3, tzinfo=UTC)
    assert report.submitted_at is not None and world.event(ev).status == Status.submitted
    with read_session(world.engine) as s:
        [item] = list_clocks(s, study_id=world.study_id)  # the officers' clocks page
    assert (item.kind, item.status, item.late) == ("investigator_sae_24h", "submitted", True)


def test_a_report_within_24_hours_is_on_time(world: World):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    world.report(SERIOUS_PNEUMONIA, aeawaredtc=(now - timedelta(hours=3)).strftime(
        "%Y-%m-%dT%H:%M"))  # fmt: skip
    with read_session(world.engine) as s:
        [item] = list_clocks(s, study_id=world.study_id)
    assert (item.status, item.late, item.due_at) == ("submitted", False, now + timedelta(hours=21))


def test_a_draft_sae_has_no_stored_clock_and_no_narrative_needed(world: World):
    ev = world.report(SERIOUS_PNEUMONIA, narrative=None, aeawaredtc=None, submit=False)
    assert world.event(ev).status == Status.draft and _reports(world, ev) == []
    with pytest.raises(ValidationFailed) as err, write_session(world.engine) as s:
        update_event(session=s, actor=world.actor("inv1"), event_id=ev, expected_version=1,
                     data=EventInput(**{**SERIOUS_PNEUMONIA, "narrative": None}),
                     submit=True)  # fmt: skip
    assert [e.field for e in err.value.findings.errors] == ["narrative"]
    with write_session(world.engine) as s:
        update_event(session=s, actor=world.actor("inv1"), event_id=ev, expected_version=1,
                     data=EventInput(**SERIOUS_PNEUMONIA), submit=True)  # fmt: skip
    assert _sae(world, ev).start_date == date(2021, 3, 2)


def test_an_event_made_serious_by_a_follow_up_gets_its_clock_then(world: World):
    mild = {**SERIOUS_PNEUMONIA, "aeser": False, "aeshosp": False, "aeawaredtc": None}
    ev = world.report(mild)
    assert _reports(world, ev) == []
    with write_session(world.engine) as s:
        update_event(session=s, actor=world.actor("inv1"), event_id=ev, expected_version=1,
                     data=EventInput(**{**SERIOUS_PNEUMONIA, "aeawaredtc": "2021-03-05"}),
                     reason="admitted")  # fmt: skip
    assert _sae(world, ev).start_date == date(2021, 3, 5)


def test_onset_before_consent_needs_a_confirmation_once(world: World):
    early = {**SERIOUS_PNEUMONIA, "aestdtc": "2020-12-30", "aeawaredtc": "2020-12-31"}
    with pytest.raises(ValidationFailed) as err:
        world.report(early)  # consent 2021-01-04
    [issue] = err.value.findings.errors
    assert issue.field == CONSENT_FIELD and "before informed consent" in issue.message
    world.report(MILD_HEADACHE)  # a subject (consent 2021-01-04)
    with write_session(world.engine) as s:
        subject = s.exec(select(Subject).order_by(col(Subject.id).desc())).first()
        event, found = create_event(session=s, actor=world.actor("inv1"), subject=subject,
                                    data=EventInput(**early), submit=True,
                                    confirm_before_consent=True)  # fmt: skip
        ev = event.id
    assert [w.field for w in found.warnings] == ["aestdtc"]
    # A follow-up that keeps the confirmed onset is not asked again; a new early onset is.
    with write_session(world.engine) as s:
        update_event(
            session=s,
            actor=world.actor("inv1"),
            event_id=ev,
            expected_version=1,
            data=EventInput(**{**early, "aecontrt": "amoxicillin"}),
            reason="treatment",
        )
    with pytest.raises(ValidationFailed) as err, write_session(world.engine) as s:
        update_event(
            session=s,
            actor=world.actor("inv1"),
            event_id=ev,
            expected_version=2,
            data=EventInput(**{**early, "aestdtc": "2020-12-29"}),
            reason="onset",
        )
    assert [e.field for e in err.value.findings.errors] == [CONSENT_FIELD]


def test_locking_is_refused_while_an_expedited_report_is_unsent(world: World):
    ev = world.report(SERIOUS_PNEUMONIA)
    officer = world.actor("officer")
    with write_session(world.engine) as s:
        review.start_review(session=s, actor=officer, event_id=ev, expected_version=1)
        review.save_assessment(
            session=s,
            actor=officer,
            event_id=ev,
            expected_version=2,
            awareness_date=date(2021, 3, 4),
            seriousness_confirmed=True,
            causality={"belimumab": "possible", "prednisone": "probable"},
            password=PASSWORD,
        )
    unsent = [r for r in _reports(world, ev) if r.submitted_date is None]
    assert [r.kind for r in unsent] == ["initial_15"]  # a SUSAR: the 15-day report
    with pytest.raises(ValidationFailed) as err, write_session(world.engine) as s:
        review.lock_event(
            session=s, actor=officer, event_id=ev, expected_version=3, password=PASSWORD
        )
    [issue] = err.value.findings.errors
    assert issue.field == "lock"
    assert issue.message == (
        "1 expedited report of this event is not sent: record its submission before locking"
    )
    refused = pytest.raises(
        TransitionRefused, match="not sent: record its submission before locking"
    )
    with refused, write_session(world.engine) as s:  # the generic route refuses it too
        change_status(session=s, actor=officer, event_id=ev, to="locked", expected_version=3)
    assert world.event(ev).status == Status.assessed
    with write_session(world.engine) as s:
        send_report(s, officer, unsent[0].id, today(), PASSWORD)  # fmt: skip
        review.lock_event(
            session=s, actor=officer, event_id=ev, expected_version=3, password=PASSWORD
        )
    assert world.event(ev).status == Status.locked


def test_the_sponsor_day_0_defaults_to_the_day_the_site_submitted(world: World):
    from pv.web.review_assess import default_awareness

    ev = world.report(SERIOUS_PNEUMONIA)
    event = world.event(ev)
    assert default_awareness(event, None) == event.submitted_at.date()  # type: ignore[union-attr]


def test_serious_rows_of_an_upload_get_their_clocks(world: World):
    world.report(SERIOUS_PNEUMONIA)  # a subject to report for
    with read_session(world.engine) as s:
        usubjid = s.exec(select(Subject.usubjid)).first()
    rows = [
        BulkRow(usubjid, EventInput(**{**SERIOUS_PNEUMONIA, "aestdtc": "2021-04-01",
                                       "aeendtc": "2021-04-20", "aeawaredtc": "2021-04-02T09:00"})),
        BulkRow(usubjid, EventInput(**{**SERIOUS_PNEUMONIA, "aeser": False, "aeshosp": False,
                                       "aeawaredtc": None, "aestdtc": "2021-04-05",
                                       "aeendtc": "2021-04-20"})),
    ]  # fmt: skip
    with write_session(world.engine) as s:
        ids = create_events_bulk(session=s, actor=world.actor("inv1"), study_id=world.study_id,
                                 rows=rows, submit=True)  # fmt: skip
    report = _sae(world, ids[0])
    assert report.start_at == datetime(2021, 4, 2, 9, 0, tzinfo=UTC) and report.submitted_at
    assert _reports(world, ids[1]) == []


def test_every_demo_sae_has_its_clock_from_an_awareness_date(engine):  # type: ignore[no-untyped-def]
    build_demo(engine, seed=42)
    with read_session(engine) as s:
        saes = s.exec(select(AdverseEvent).where(col(AdverseEvent.aeser).is_(True))).all()
        assert saes
        for ev in saes:
            onset = date.fromisoformat(ev.aestdtc[:10])  # type: ignore[index]
            aware = date.fromisoformat(ev.aeawaredtc)  # type: ignore[arg-type]
            assert aware - onset in (timedelta(0), timedelta(days=1)), ev.id
            [clock] = s.exec(select(ExpeditedReport).where(
                ExpeditedReport.event_id == ev.id,
                ExpeditedReport.kind == ReportKind.investigator_sae_24h)).all()  # fmt: skip
            assert clock.start_date == aware and clock.submitted_at is not None


def test_the_queue_tags_an_event_whose_24_hour_report_was_late(world: World):
    from pv.review.queue import queue_page

    now = datetime.now(UTC)
    late = world.report(SERIOUS_PNEUMONIA)  # aware 2021-03-02, submitted now: late
    on_time = world.report(SERIOUS_PNEUMONIA, aeawaredtc=now.strftime("%Y-%m-%d"))
    with read_session(world.engine) as s:
        rows = {r.id: r for r in queue_page(s, study_id=world.study_id, limit=100).rows}
    assert rows[late].late_report and not rows[on_time].late_report
