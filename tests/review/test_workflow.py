"""The review workflow: allowed and refused transitions, by role, through the services."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from pv.db import write_session
from pv.events.models import Status
from pv.events.rules import EventInput
from pv.events.service import NotEditable, ValidationFailed, VersionConflict, to_input, update_event
from pv.review import service as review
from pv.review.workflow import RoleRefused, TransitionRefused, can_transition, transition_refusal
from tests.review.sending import send_report

from .conftest import MILD_HEADACHE, PASSWORD, SERIOUS_PNEUMONIA, World

ROLES = ("investigator", "officer", "dsmb", "admin")
# The rule as the issue states it, written out independently of the implementation.
ALLOWED = {
    ("draft", "submitted"): {"investigator", "admin"},
    ("submitted", "under_review"): {"officer"},
    ("submitted", "queried"): {"officer"},
    ("under_review", "queried"): {"officer"},
    ("queried", "answered"): {"investigator"},
    ("queried", "under_review"): {"officer"},
    ("answered", "under_review"): {"officer"},
    ("answered", "queried"): {"officer"},
    ("under_review", "assessed"): {"officer"},
    ("answered", "assessed"): {"officer"},
    ("assessed", "locked"): {"officer", "admin"},
    ("locked", "assessed"): {"admin"},
}
CASES = [(a, b, r) for a, b in itertools.product(Status, Status) for r in ROLES]


@pytest.mark.parametrize(("current", "to", "role"), CASES)
def test_only_the_listed_transitions_are_allowed_and_only_to_their_roles(current, to, role):
    allowed = role in ALLOWED.get((current.value, to.value), set())
    assert can_transition(current, to, role) is allowed
    assert (transition_refusal(current, to, role) is None) is allowed


def test_a_system_actor_without_a_role_moves_nothing():
    assert not can_transition("submitted", "under_review", None)


def _assess(world: World, event_id: int, version: int, who: str = "officer"):
    with write_session(world.engine) as s:
        return review.save_assessment(
            session=s,
            actor=world.actor(who),
            event_id=event_id,
            expected_version=version,
            awareness_date=date(2021, 3, 4),
            seriousness_confirmed=True,
            causality={"belimumab": "possible", "prednisone": "probable"},
            password=PASSWORD,
        )


def _send_reports(world: World, ev: int) -> None:
    """Mark the event's unsent expedited reports sent today (as an officer)."""
    from sqlmodel import col, select

    from pv.review.models import ExpeditedReport
    from pv.timeutil import today

    with write_session(world.engine) as s:
        for report_id in s.exec(
            select(ExpeditedReport.id).where(
                ExpeditedReport.event_id == ev,
                col(ExpeditedReport.submitted_date).is_(None),
                col(ExpeditedReport.cancelled_at).is_(None),
            )
        ).all():
            send_report(s, world.actor("officer"), report_id, today(), PASSWORD)


def test_the_whole_path_from_submitted_to_locked_and_back(world: World):
    ev = world.report(SERIOUS_PNEUMONIA)
    with write_session(world.engine) as s:
        event = review.start_review(
            session=s, actor=world.actor("officer"), event_id=ev, expected_version=1
        )
        assert (event.status, event.version) == ("under_review", 2)
        q = review.open_query(
            session=s,
            actor=world.actor("officer"),
            event_id=ev,
            expected_version=2,
            question="Chest X-ray result?",
        )
    assert world.event(ev).status == "queried"
    with write_session(world.engine) as s:
        review.answer_query(
            session=s,
            actor=world.actor("inv1"),
            query_id=q.id,
            answer="Right lower lobe consolidation.",
        )
    assert (world.event(ev).status, world.event(ev).version) == ("answered", 4)
    _assess(world, ev, 4)
    assert world.event(ev).status == "assessed"
    _send_reports(world, ev)  # locking waits for every expedited report to be sent
    with write_session(world.engine) as s:
        review.lock_event(
            session=s,
            actor=world.actor("officer"),
            event_id=ev,
            expected_version=5,
            password=PASSWORD,
        )
    assert world.event(ev).status == "locked"
    with write_session(world.engine) as s:
        review.unlock_event(
            session=s,
            actor=world.actor("admin"),
            event_id=ev,
            expected_version=6,
            reason="late follow-up from the site",
            password=PASSWORD,
        )
    assert (world.event(ev).status, world.event(ev).version) == ("assessed", 7)


@pytest.mark.parametrize("who", ["inv1", "dsmb", "admin"])
def test_only_an_officer_starts_a_review(world: World, who: str):
    ev = world.report(SERIOUS_PNEUMONIA)
    with pytest.raises(RoleRefused), write_session(world.engine) as s:
        review.start_review(session=s, actor=world.actor(who), event_id=ev, expected_version=1)
    assert world.event(ev).status == "submitted"


def test_a_draft_is_not_reviewed_and_an_assessment_needs_a_review_first(world: World):
    draft = world.report(MILD_HEADACHE, submit=False)
    with pytest.raises(TransitionRefused), write_session(world.engine) as s:
        review.start_review(
            session=s, actor=world.actor("officer"), event_id=draft, expected_version=1
        )
    ev = world.report(SERIOUS_PNEUMONIA)
    with pytest.raises(TransitionRefused):
        _assess(world, ev, 1)  # submitted -> assessed skips the review
    assert world.event(ev).status == "submitted"


def test_change_status_refuses_shortcuts(world: World):
    ev = world.report(SERIOUS_PNEUMONIA)
    officer = world.actor("officer")
    with write_session(world.engine) as s:
        review.start_review(session=s, actor=officer, event_id=ev, expected_version=1)
    for to in ("assessed", "queried", "locked", "draft"):
        with pytest.raises(TransitionRefused), write_session(world.engine) as s:
            review.change_status(session=s, actor=officer, event_id=ev, to=to, expected_version=2)
    assert (world.event(ev).status, world.event(ev).version) == ("under_review", 2)


def test_two_officers_from_the_same_version_one_wins(world: World):
    ev = world.report(SERIOUS_PNEUMONIA)
    with write_session(world.engine) as s:
        review.start_review(
            session=s, actor=world.actor("officer"), event_id=ev, expected_version=1
        )
    _assess(world, ev, 2)
    with write_session(world.engine) as s, pytest.raises(VersionConflict) as err:
        review.save_assessment(
            session=s,
            actor=world.actor("officer2"),
            event_id=ev,
            expected_version=2,
            awareness_date=date(2021, 3, 5),
            seriousness_confirmed=False,
            causality={"belimumab": "unlikely", "prednisone": "unlikely"},
            reason="mine",
            password=PASSWORD,
        )
    assert err.value.current.version == 3
    with write_session(world.engine) as s:
        assert review.current_assessment(s, ev).awareness_date == date(2021, 3, 4)


def test_a_locked_event_refuses_every_change_until_an_admin_unlocks_it_with_a_reason(world):
    ev = world.report(SERIOUS_PNEUMONIA)
    with write_session(world.engine) as s:
        review.start_review(
            session=s, actor=world.actor("officer"), event_id=ev, expected_version=1
        )
    _assess(world, ev, 2)
    _send_reports(world, ev)
    with write_session(world.engine) as s:
        review.lock_event(
            session=s,
            actor=world.actor("admin"),
            event_id=ev,
            expected_version=3,
            password=PASSWORD,
        )
    data = to_input(world.event(ev))
    data.aeendtc = "2021-03-25"
    attempts = {
        "follow-up": lambda s: update_event(
            session=s,
            actor=world.actor("inv1"),
            event_id=ev,
            data=data,
            expected_version=4,
            reason="late",
        ),
        "assessment": lambda s: review.save_assessment(
            session=s,
            actor=world.actor("officer"),
            event_id=ev,
            expected_version=4,
            awareness_date=date(2021, 3, 4),
            seriousness_confirmed=False,
            causality={"belimumab": "unlikely", "prednisone": "unlikely"},
            reason="again",
            password=PASSWORD,
        ),
        "recode": lambda s: review.recode_event(
            session=s,
            actor=world.actor("officer"),
            event_id=ev,
            expected_version=4,
            new_code="10040555",
            reason="zoster",
        ),
    }  # a query stays possible (issue 15: tests/review/test_q15_queries_any_time.py)
    for name, attempt in attempts.items():
        with pytest.raises(NotEditable), write_session(world.engine) as s:
            attempt(s)
        assert world.event(ev).version == 4, name
    for who in ("officer", "inv1"):
        with pytest.raises(RoleRefused), write_session(world.engine) as s:
            review.unlock_event(
                session=s,
                actor=world.actor(who),
                event_id=ev,
                expected_version=4,
                reason="please",
                password=PASSWORD,
            )
    with pytest.raises(ValidationFailed) as err, write_session(world.engine) as s:
        review.unlock_event(
            session=s,
            actor=world.actor("admin"),
            event_id=ev,
            expected_version=4,
            reason="  ",
            password=PASSWORD,
        )
    assert err.value.findings.errors[0].field == "reason"
    assert world.event(ev).status == "locked"
    with write_session(world.engine) as s:
        review.unlock_event(
            session=s,
            actor=world.actor("admin"),
            event_id=ev,
            expected_version=4,
            reason="site sent the discharge letter",
            password=PASSWORD,
        )
    with write_session(world.engine) as s:
        event, _ = update_event(
            session=s,
            actor=world.actor("inv1"),
            event_id=ev,
            data=data,
            expected_version=5,
            reason="discharge letter",
        )
        assert (event.status, event.aeendtc) == ("assessed", "2021-03-25")


def test_an_investigator_correction_keeps_a_queried_event_queried(world: World):
    ev = world.report(SERIOUS_PNEUMONIA)
    with write_session(world.engine) as s:
        review.open_query(
            session=s,
            actor=world.actor("officer"),
            event_id=ev,
            expected_version=1,
            question="Grade?",
            field="aetoxgr",
        )
    data = EventInput(**{**SERIOUS_PNEUMONIA, "aetoxgr": 4, "aeslife": True})
    with write_session(world.engine) as s:
        event, _ = update_event(
            session=s,
            actor=world.actor("inv1"),
            event_id=ev,
            data=data,
            expected_version=2,
            reason="ICU admission",
        )
        assert (event.status, event.version, event.aetoxgr) == ("queried", 3, 4)
