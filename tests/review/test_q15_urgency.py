"""The review queue's urgency order (issue 15, point 3): open expedited reports first
(earliest due date first: the overdue ones, most overdue first), then new serious events
not yet assessed (oldest receipt first), then the rest by status; keyset pages cover
every event once in that order; a cursor belongs to its order; days since receipt."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta

import pytest
from sqlmodel import select

from pv.db import read_session, write_session
from pv.events.models import AdverseEvent, Status
from pv.review import service as review
from pv.review.models import ExpeditedReport
from pv.review.queue import PRIORITY, SORTS, UNASSESSED, QueueFilters, decode_cursor, queue_page
from tests.review.sending import send_report

from . import test_queue
from .conftest import MILD_HEADACHE, PASSWORD, SERIOUS_PNEUMONIA, World

queue = test_queue.queue  # the fixture: 21 events (a draft), two overdue SUSARs


def _walk(world: World, limit: int, sort: str, **kw) -> list[int]:
    seen, cursor = [], None
    with read_session(world.engine) as s:
        while True:
            page = queue_page(
                s, study_id=world.study_id, cursor=cursor, limit=limit, sort=sort, **kw
            )
            assert len(page.rows) <= limit
            seen += [r.id for r in page.rows]
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor


def _assess(world: World, event_id: int) -> None:
    """An officer assesses a new serious event (unrelated): it leaves tier 1."""
    officer = world.actor("officer")
    with write_session(world.engine) as s:
        review.start_review(session=s, actor=officer, event_id=event_id, expected_version=1)
        review.save_assessment(
            session=s,
            actor=officer,
            event_id=event_id,
            expected_version=2,
            awareness_date=date.today(),
            seriousness_confirmed=True,
            causality={"belimumab": "unlikely", "prednisone": "unlikely"},
            password=PASSWORD,
        )


def _arrives_while_one_left(world: World, leaving: int) -> int:
    """A new serious event enters tier 1 (last) after `leaving` was assessed: every page
    size walks the expected order, the new one in it and the assessed one once."""
    arriving = world.report(SERIOUS_PNEUMONIA)
    for limit in (1, 2, 50):
        walked = _walk(world, limit, "urgency")
        assert walked == _expected(world), limit
    assert arriving in walked and walked.count(leaving) == 1
    return arriving


def _expected(world: World, keep=lambda e: True) -> list[int]:
    """The urgency order computed from the tables, independently of the queue module."""
    with read_session(world.engine) as s:
        events = [e for e in s.exec(select(AdverseEvent)).all() if e.status != Status.draft]
        due: dict[int, date] = {}
        for r in s.exec(select(ExpeditedReport)).all():
            if r.submitted_date is None and r.cancelled_at is None:
                due[r.event_id] = min(due.get(r.event_id, r.due_date), r.due_date)

    def key(e: AdverseEvent) -> tuple:
        if e.id in due:
            return (0, due[e.id], 0, e.id)
        if e.aeser and e.status in UNASSESSED:
            return (1, (e.submitted_at or e.created_at).timestamp(), 0, e.id)
        return (2, PRIORITY.index(e.status), -e.updated_at.timestamp(), -e.id)

    return [e.id for e in sorted((e for e in events if keep(e)), key=key)]


@pytest.mark.parametrize("limit", [1, 3, 5, 50])
def test_urgency_pages_cover_every_event_once_urgent_first(queue: World, limit: int):
    walked = _walk(queue, limit, "urgency")
    assert walked == _expected(queue)
    overdue_first = [queue.ids[0], queue.extra[3]]  # due 2021-03-19, then 2021-03-25
    assert walked[:2] == overdue_first
    with read_session(queue.engine) as s:
        rows = queue_page(s, study_id=queue.study_id, limit=50).rows
    assert rows[0].overdue and rows[0].is_susar and rows[0].days_overdue > 1000
    new_serious = [r for r in rows[2:] if r.aeser and r.status in UNASSESSED]
    first_grade1 = next(i for i, r in enumerate(rows) if r.aetoxgr == 1)
    assert new_serious and all(rows.index(r) < first_grade1 for r in new_serious)
    received = [r.received_at for r in new_serious]
    assert received == sorted(received)  # oldest receipt first


def test_every_order_and_filter_pages_consistently(queue: World):
    site1 = queue.sites["01"].id
    for filters in (
        QueueFilters(),
        QueueFilters(serious=True),
        QueueFilters(serious=False),
        QueueFilters(site_id=site1),
        QueueFilters(status="submitted"),
        QueueFilters(overdue=True),
        QueueFilters(grade3=True, site_id=site1),
    ):
        everything = set(_walk(queue, 100, "status", filters=filters))
        for sort in SORTS:
            for limit in (1, 4):
                walked = _walk(queue, limit, sort, filters=filters)
                assert len(walked) == len(set(walked)), (sort, filters)
                assert set(walked) == everything, (sort, filters)
        if not filters.overdue:
            keep = {
                QueueFilters(): lambda e: True,
                QueueFilters(serious=True): lambda e: e.aeser,
                QueueFilters(serious=False): lambda e: not e.aeser,
                QueueFilters(site_id=site1): lambda e: e.site_id == site1,
                QueueFilters(status="submitted"): lambda e: e.status == "submitted",
                QueueFilters(grade3=True, site_id=site1): lambda e: (
                    e.aetoxgr >= 3 and e.site_id == site1
                ),
            }[filters]
            assert _walk(queue, 2, "urgency", filters=filters) == _expected(queue, keep)


def test_newest_is_latest_change_first(queue: World):
    with read_session(queue.engine) as s:
        rows = queue_page(s, study_id=queue.study_id, limit=100, sort="newest").rows
    stamps = [(r.updated_at, r.id) for r in rows]
    assert stamps == sorted(stamps, reverse=True) and len(rows) == 20  # the draft aside


def test_a_report_sent_moves_the_event_out_of_the_first_tier(queue: World):
    officer = queue.actor("officer")
    with read_session(queue.engine) as s:
        report = s.exec(
            select(ExpeditedReport).where(
                ExpeditedReport.event_id == queue.ids[0],
                ExpeditedReport.submitted_date == None,  # noqa: E711
            )
        ).first()
        assert report is not None
        rid, start = report.id, report.start_date
    with write_session(queue.engine) as s:
        send_report(s, officer, rid, start + timedelta(days=1), PASSWORD)
    walked = _walk(queue, 3, "urgency")
    assert walked == _expected(queue) and walked[0] == queue.extra[3]


def test_days_since_receipt(queue: World):
    later = date.today() + timedelta(days=10)
    with read_session(queue.engine) as s:
        rows = queue_page(s, study_id=queue.study_id, limit=100, today=later).rows
    for r in rows:
        assert r.received_at is not None
        assert r.days_since_receipt == (later - r.received_at.date()).days >= 10


def test_a_new_serious_event_sorts_by_receipt_not_on_top(queue: World):
    with read_session(queue.engine) as s:
        before = queue_page(s, study_id=queue.study_id, limit=100).rows
    mild = queue.report(MILD_HEADACHE)
    serious = queue.report(SERIOUS_PNEUMONIA)
    with read_session(queue.engine) as s:
        rows = queue_page(s, study_id=queue.study_id, limit=100).rows
    ids = [r.id for r in rows]
    last_new_serious = max(i for i, r in enumerate(rows) if r.aeser and r.status in UNASSESSED)
    assert ids[last_new_serious] == serious  # newest receipt: last of its tier
    assert ids.index(mild) > last_new_serious  # a grade-1 event: after every new SAE
    assert len(rows) == len(before) + 2


def test_cursors_belong_to_their_order(queue: World):
    with read_session(queue.engine) as s:
        pages = {
            sort: queue_page(s, study_id=queue.study_id, limit=2, sort=sort).next_cursor
            for sort in SORTS
        }
        for sort, cursor in pages.items():
            assert cursor is not None
            decode_cursor(cursor, sort)
            for other in SORTS:
                if other != sort:
                    with pytest.raises(ValueError):
                        queue_page(s, study_id=queue.study_id, cursor=cursor, sort=other)
        with pytest.raises(ValueError):
            queue_page(s, study_id=queue.study_id, sort="alphabetical")
    for sort, payload in (
        ("urgency", "nonsense"),
        ("urgency", ["urgency", 9, 0, 0, 1]),  # no such tier
        ("urgency", ["urgency", 2, 99, 0, 1]),  # no such status
        ("status", ["status", 1.5, 0, 1]),  # not an integer
        ("status", ["status", 1, 0]),  # too short
        ("newest", ["newest", 10**300, 1]),  # out of range
        ("newest", ["newest", True, 1]),
    ):
        raw = payload if isinstance(payload, str) else json.dumps(payload)
        bad = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        with pytest.raises(ValueError):
            decode_cursor(bad, sort)


def test_kept_tier1_keys_never_hide_or_misplace_an_event(queue: World, monkeypatch):
    """Tier 1's sort keys are kept a few seconds; rows are checked live, and the events
    changed since the keys were read are merged in (no margin here: only what changed
    after the read counts as recent)."""
    from pv.review import queue as queue_module

    monkeypatch.setattr(queue_module, "RECENT_MARGIN", timedelta(0))
    monkeypatch.setattr(queue_module, "NEW_SERIOUS_TTL", 3600.0)
    leaving = queue.report(SERIOUS_PNEUMONIA)
    walked = _walk(queue, 2, "urgency")  # the keys are read and kept
    assert walked == _expected(queue) and leaving in walked
    _assess(queue, leaving)  # assessed: leaves tier 1
    _arrives_while_one_left(queue, leaving)
