"""Queries at any time (issue 15, point 4): an officer queries an assessed or a locked
event; it keeps its status (a follow-up request does not unlock it); the answer is a
follow-up version; a locked event's fields stay locked; a draft cannot be queried."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import col, select

from pv.audit.models import AuditEntry
from pv.db import read_session, write_session
from pv.events.rules import EventInput
from pv.events.service import NotEditable, to_input, update_event
from pv.review import service as review
from pv.review.queries import answer_query, can_query, close_query
from pv.review.queue import queue_page
from pv.review.workflow import TransitionRefused

from .conftest import MILD_HEADACHE, PASSWORD, SERIOUS_PNEUMONIA, World


def _assessed(world: World, susar: bool, fields: dict | None = None) -> int:
    ev = world.report(fields or SERIOUS_PNEUMONIA)
    officer = world.actor("officer")
    causality = "possible" if susar else "unlikely"
    with write_session(world.engine) as s:
        review.start_review(session=s, actor=officer, event_id=ev, expected_version=1)
        review.save_assessment(
            session=s,
            actor=officer,
            event_id=ev,
            expected_version=2,
            awareness_date=date(2021, 3, 4),
            seriousness_confirmed=fields is None,
            causality={"belimumab": causality, "prednisone": causality},
            password=PASSWORD,
        )
    return ev


def _ask(world: World, ev: int, field: str | None = "aeterm") -> int:
    with write_session(world.engine) as s:
        q = review.open_query(
            session=s,
            actor=world.actor("officer"),
            event_id=ev,
            expected_version=world.event(ev).version,
            question="Please send the discharge summary.",
            field=field,
        )
        return int(q.id)  # type: ignore[arg-type]


def _answers(world: World, ev: int) -> list[str]:
    with read_session(world.engine) as s:
        return list(
            s.exec(
                select(AuditEntry.action)
                .where(AuditEntry.entity_type == "adverse_event", AuditEntry.entity_id == str(ev))
                .order_by(col(AuditEntry.id))
            )
        )


def test_an_assessed_susar_is_queried_answered_as_a_follow_up_and_stays_assessed(world: World):
    ev = _assessed(world, susar=True)
    version = world.event(ev).version
    query_id = _ask(world, ev)
    assert (world.event(ev).status, world.event(ev).version) == ("assessed", version)
    with write_session(world.engine) as s:
        answer_query(session=s, actor=world.actor("inv1"), query_id=query_id, answer="Sent by fax.")
    after = world.event(ev)
    assert (after.status, after.version) == ("assessed", version + 1)
    assert _answers(world, ev)[-1] == "answer"
    with read_session(world.engine) as s:
        row = next(r for r in queue_page(s, study_id=world.study_id, limit=100).rows if r.id == ev)
    assert row.changed_since_assessment and row.open_queries == 0
    data = to_input(after)
    data.aeendtc = "2021-03-21"
    with write_session(world.engine) as s:  # the site may correct an assessed event
        event, _ = update_event(
            session=s,
            actor=world.actor("inv1"),
            event_id=ev,
            data=data,
            expected_version=version + 1,
            reason="discharge summary",
        )
        assert (event.status, event.aeendtc) == ("assessed", "2021-03-21")
    with write_session(world.engine) as s:
        close_query(session=s, actor=world.actor("officer"), query_id=query_id)
    assert world.event(ev).status == "assessed"


def test_a_locked_event_is_queried_and_answered_but_stays_locked(world: World):
    ev = _assessed(world, susar=False, fields=MILD_HEADACHE)  # no report: it can be locked
    with write_session(world.engine) as s:
        review.lock_event(
            session=s,
            actor=world.actor("officer"),
            event_id=ev,
            expected_version=3,
            password=PASSWORD,
        )
    query_id = _ask(world, ev, field=None)
    assert (world.event(ev).status, world.event(ev).version) == ("locked", 4)
    with write_session(world.engine) as s:
        answer_query(session=s, actor=world.actor("inv1"), query_id=query_id, answer="None.")
    assert (world.event(ev).status, world.event(ev).version) == ("locked", 5)
    data: EventInput = to_input(world.event(ev))
    data.aeendtc = "2021-03-22"
    with pytest.raises(NotEditable), write_session(world.engine) as s:
        update_event(
            session=s,
            actor=world.actor("inv1"),
            event_id=ev,
            data=data,
            expected_version=5,
            reason="late",
        )
    with write_session(world.engine) as s:
        close_query(session=s, actor=world.actor("officer"), query_id=query_id)
    assert world.event(ev).status == "locked"


def test_a_draft_is_not_queried_and_only_officers_query(world: World):
    draft = world.report(MILD_HEADACHE, submit=False)
    with pytest.raises(TransitionRefused), write_session(world.engine) as s:
        review.open_query(
            session=s,
            actor=world.actor("officer"),
            event_id=draft,
            expected_version=1,
            question="?",
        )
    assert world.event(draft).status == "draft"
    for status in ("submitted", "under_review", "queried", "answered", "assessed", "locked"):
        assert can_query(status, "officer") and not can_query(status, "investigator")
    assert not can_query("draft", "officer")
