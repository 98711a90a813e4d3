"""Queries to the site, recoding, and the audit trail that rebuilds every reviewed event."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import col, select

from pv.audit.models import AuditEntry
from pv.db import read_session, write_session
from pv.events.models import AdverseEvent
from pv.events.rules import EventInput
from pv.events.service import (
    EVENT_FIELDS,
    ValidationFailed,
    VersionConflict,
    replay,
    snapshot,
    update_event,
)
from pv.review import service as review
from pv.review.queries import queries_for_event, queries_for_sites
from pv.review.queue import open_query_counts
from pv.review.workflow import RoleRefused, TransitionRefused
from tests.review.sending import send_report

from .conftest import HEADACHE, IRR, LUNG, MILD_HEADACHE, PASSWORD, SERIOUS_PNEUMONIA, World


def _ask(world: World, ev: int, question: str, field: str | None = None):
    with write_session(world.engine) as s:
        return review.open_query(
            session=s,
            actor=world.actor("officer"),
            event_id=ev,
            expected_version=world.event(ev).version,
            question=question,
            field=field,
        )


def _answer(world: World, query_id: int, who: str = "inv1", text: str = "see the report"):
    with write_session(world.engine) as s:
        return review.answer_query(
            session=s, actor=world.actor(who), query_id=query_id, answer=text
        )


def _close(world: World, query_id: int):
    with write_session(world.engine) as s:
        return review.close_query(session=s, actor=world.actor("officer"), query_id=query_id)


def test_query_open_answer_close(world: World):
    ev = world.report(SERIOUS_PNEUMONIA)
    first = _ask(world, ev, "Was a chest X-ray done?")  # straight from submitted
    second = _ask(world, ev, "Onset date to the day?", field="aestdtc")
    assert world.event(ev).status == "queried"
    with read_session(world.engine) as s:
        assert open_query_counts(s, [ev]) == {ev: 2}
        site1 = queries_for_sites(s, study_id=world.study_id, site_ids=[world.sites["01"].id])
        site2 = queries_for_sites(s, study_id=world.study_id, site_ids=[world.sites["02"].id])
        assert [q.id for q in site1] == [first.id, second.id] and site2 == []
    with pytest.raises(RoleRefused):
        _answer(world, first.id, who="inv2")  # another site's investigator
    with pytest.raises(RoleRefused):
        _answer(world, first.id, who="officer")
    with pytest.raises(ValidationFailed):
        _answer(world, first.id, text="   ")
    _answer(world, first.id, text="Yes: right lower lobe consolidation.")
    assert world.event(ev).status == "queried"  # one query still open
    with pytest.raises(TransitionRefused):
        _answer(world, first.id)  # answered already
    _answer(world, second.id, text="2021-03-02")
    assert world.event(ev).status == "answered"
    _close(world, first.id)
    _close(world, second.id)
    with pytest.raises(TransitionRefused):
        _close(world, second.id)
    with read_session(world.engine) as s:
        qs = queries_for_event(s, ev)
        assert [(q.status, q.answer) for q in qs] == [
            ("closed", "Yes: right lower lobe consolidation."),
            ("closed", "2021-03-02"),
        ]
        assert qs[1].field == "aestdtc" and qs[1].closed_by == world.users["officer"].id
        assert open_query_counts(s, [ev]) == {}
    assert world.event(ev).status == "answered"


def test_withdrawing_the_last_open_query_returns_the_event_to_review(world: World):
    ev = world.report(SERIOUS_PNEUMONIA)
    q = _ask(world, ev, "typo, ignore")
    _close(world, q.id)
    assert world.event(ev).status == "under_review"


def test_a_query_needs_a_question_and_an_event_field(world: World):
    ev = world.report(SERIOUS_PNEUMONIA)
    with pytest.raises(ValidationFailed) as err:
        _ask(world, ev, " ", field="shoe_size")
    assert {i.field for i in err.value.findings.errors} == {"question", "field"}
    assert _ask(world, ev, "Which drug?", field="aerel.belimumab").field == "aerel.belimumab"
    with pytest.raises(VersionConflict), write_session(world.engine) as s:
        review.open_query(
            session=s,
            actor=world.actor("officer"),
            event_id=ev,
            expected_version=1,
            question="stale page",
        )


def test_recode_with_a_reason_rederives_the_coding_and_aesi(world: World):
    ev = world.report(MILD_HEADACHE, aeterm="chills and headache during infusion")
    assert world.event(ev).aesi == ""
    officer = world.actor("officer")
    with pytest.raises(ValidationFailed) as err, write_session(world.engine) as s:
        review.recode_event(
            session=s, actor=officer, event_id=ev, expected_version=1, new_code=IRR, reason=""
        )
    assert [i.field for i in err.value.findings.errors] == ["reason"]
    for code in ("12345", HEADACHE):  # not a code; the same code
        with pytest.raises(ValidationFailed), write_session(world.engine) as s:
            review.recode_event(
                session=s, actor=officer, event_id=ev, expected_version=1, new_code=code, reason="x"
            )
    with pytest.raises(RoleRefused), write_session(world.engine) as s:
        review.recode_event(
            session=s,
            actor=world.actor("inv1"),
            event_id=ev,
            expected_version=1,
            new_code=IRR,
            reason="x",
        )
    with write_session(world.engine) as s:
        review.recode_event(
            session=s,
            actor=officer,
            event_id=ev,
            expected_version=1,
            new_code=IRR,
            reason="verbatim describes an infusion reaction",
        )
    event = world.event(ev)
    assert (event.aelltcd, event.aedecod, event.aebodsys, event.version, event.status) == (
        IRR,
        "Infusion related reaction",
        "Injury, poisoning and procedural complications",
        2,
        "submitted",
    )
    assert event.aesi == "infusion_reaction" and event.terminology == "CTCAE 5.0"
    with read_session(world.engine) as s:
        last = s.exec(
            select(AuditEntry)
            .where(AuditEntry.entity_id == str(ev), AuditEntry.entity_type == "adverse_event")
            .order_by(col(AuditEntry.id).desc())
        ).first()
    assert last.action == "recode" and last.reason == "verbatim describes an infusion reaction"
    assert last.changes["aesi"] == ["", "infusion_reaction"]
    assert last.changes["aelltcd"] == [HEADACHE, IRR]


def test_a_recode_to_a_term_without_the_grade_is_refused(world: World):
    ev = world.report(SERIOUS_PNEUMONIA, aetoxgr=4, aeslife=True)
    with pytest.raises(ValidationFailed) as err, write_session(world.engine) as s:
        review.recode_event(
            session=s,
            actor=world.actor("officer"),
            event_id=ev,
            expected_version=1,
            new_code=HEADACHE,
            reason="x",
        )
    assert err.value.findings.errors[0].message == "Headache has no grade 4"
    assert world.event(ev).aelltcd == LUNG


def test_audit_replay_rebuilds_every_event_after_review(world: World):
    officer = world.actor("officer")
    a = world.report(SERIOUS_PNEUMONIA)
    b = world.report(MILD_HEADACHE, site="02")
    c = world.report(MILD_HEADACHE, submit=False)
    with write_session(world.engine) as s:
        review.start_review(session=s, actor=officer, event_id=a, expected_version=1)
        review.recode_event(
            session=s,
            actor=officer,
            event_id=b,
            expected_version=1,
            new_code=IRR,
            reason="infusion",
        )
    q = _ask(world, a, "Grade?")
    with write_session(world.engine) as s:
        update_event(
            session=s,
            actor=world.actor("inv1"),
            event_id=a,
            expected_version=3,
            data=EventInput(**{**SERIOUS_PNEUMONIA, "aetoxgr": 4, "aeslife": True}),
            reason="ICU",
        )
    _answer(world, q.id)
    with write_session(world.engine) as s:
        review.save_assessment(
            session=s,
            actor=officer,
            event_id=a,
            expected_version=5,
            awareness_date=date(2021, 3, 3),
            seriousness_confirmed=True,
            causality={"belimumab": "possible", "prednisone": "possible"},
            password=PASSWORD,
        )
        from pv.review.models import ExpeditedReport
        from pv.timeutil import today

        for report_id in s.exec(  # locking waits for the SUSAR reports to be sent
            select(ExpeditedReport.id).where(
                ExpeditedReport.event_id == a, col(ExpeditedReport.submitted_date).is_(None)
            )
        ).all():
            send_report(s, officer, report_id, today(), PASSWORD)
        review.lock_event(
            session=s, actor=officer, event_id=a, expected_version=6, password=PASSWORD
        )
        review.unlock_event(
            session=s,
            actor=world.actor("admin"),
            event_id=a,
            expected_version=7,
            reason="correction",
            password=PASSWORD,
        )
    with read_session(world.engine) as s:
        for event in s.exec(select(AdverseEvent)).all():
            entries = s.exec(
                select(AuditEntry.changes)
                .where(
                    AuditEntry.entity_type == "adverse_event", AuditEntry.entity_id == str(event.id)
                )
                .order_by(col(AuditEntry.id))
            ).all()
            assert {k: replay(entries).get(k) for k in EVENT_FIELDS} == snapshot(event), event.id
        assert s.get(AdverseEvent, a).version == 8 and s.get(AdverseEvent, c).status == "draft"
