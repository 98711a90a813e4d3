"""Issue 17 point 3: every page of the review queue, for every filter the queue benchmark
requests, equals what a plain reading of the tables says the queue shows (rows, their
content, their order, the counts), on a generated study of 3,000 events in every status
with open, sent, late and cancelled expedited reports, assessments and queries.

The oracle below reads whole tables through the ORM and computes each row and the urgency
order in Python, independently of pv.review.queue's statements (tiers, kept keys,
cursors).
"""

from __future__ import annotations

import random
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import select

from pv.db import read_session
from pv.events.models import AdverseEvent, Status
from pv.review import queue as queue_module
from pv.review.models import Assessment, ExpeditedReport, SafetyQuery
from pv.review.queue import PRIORITY, UNASSESSED, QueueFilters, QueueRow, queue_page
from pv.study.models import Arm, Site, Study, Subject
from pv.web.review import FILTERS as FORM_FIELDS
from pv.web.review import filters_from

STUDY = "NCTQ17ORACLE"
TODAY = date(2024, 6, 1)
T0 = datetime(2023, 1, 1, tzinfo=UTC)
N_EVENTS = 3000
SITES = 30  # ids 1..30: the benchmark's sites 3, 7 and 23 among them
# bench/bench_queue.py FILTERS: the queue benchmark's requests.
BENCH_FILTERS = [
    {},
    {"serious": "Y"},
    {"grade3": "1"},
    {"status": "submitted"},
    {"status": "under_review"},
    {"site": "7"},
    {"site": "23", "serious": "Y"},
    {"aesi": "infection"},
    {"aesi": "infection", "serious": "Y"},
    {"grade3": "1", "serious": "Y"},
    {"status": "assessed", "site": "3"},
    {"serious": "N", "aesi": "gc_toxicity"},
]
# "infections" and "xinfection" must not count as the "infection" grouping.
AESI = ["", "", "", "infection", "gc_toxicity", "infection,gc_toxicity", "gc_toxicity,infection",
        "hypersensitivity", "infections", "xinfection,gc_toxicity_x"]  # fmt: skip


def _populate(engine: Engine) -> None:
    rng = random.Random(17)
    stamp = lambda: T0 + timedelta(seconds=rng.randrange(0, 400 * 86400))  # noqa: E731
    statuses = list(Status)
    events, subjects = [], []
    for i in range(1, 121):
        arm = None if i % 17 == 0 else i % 3 + 1
        subjects.append(dict(id=i, study_id=STUDY, site_id=i % SITES + 1, usubjid=f"Q17-{i:04d}",
                             subjid=f"{i:04d}", arm_id=arm))  # fmt: skip
    shared = stamp()  # a few events changed at the same instant: ties broken by id
    for i in range(1, N_EVENTS + 1):
        subject = subjects[i % len(subjects)]
        status = rng.choice(statuses)
        grade = rng.choice([None, 1, 1, 2, 2, 3, 4, 5]) if status == "draft" else rng.randint(1, 5)
        created = stamp()
        updated = shared if i % 97 == 0 else created + timedelta(seconds=rng.randrange(0, 900_000))
        submitted = None if status == "draft" or i % 11 == 0 else created + timedelta(hours=2)
        events.append(dict(
            id=i, study_id=STUDY, subject_id=subject["id"], site_id=subject["site_id"],
            aeseq=i, status=status, version=rng.randint(1, 3), aeterm=f"term {i % 50}",
            aedecod=None if i % 13 == 0 else f"Decod {i % 40}", aetoxgr=grade,
            aeser=(None if status == "draft" and i % 3 == 0 else rng.random() < 0.35),
            aesdth=grade == 5, aeslife=grade == 4 and i % 2 == 0, aerel={}, aeacn={},
            aesi=rng.choice(AESI), created_at=created, updated_at=updated, submitted_at=submitted,
        ))  # fmt: skip
    reports, assessments, queries = [], [], []
    for e in events:
        if e["status"] == "draft":
            continue
        r = rng.random()
        if e["aeser"] and r < 0.25 or r < 0.03:  # 0 to 3 reports: open, sent (late), cancelled
            for k in range(rng.randint(1, 3)):
                due = date(2024, 5, 1) + timedelta(days=rng.randrange(0, 60))
                kind = rng.choice(["open", "open", "sent", "late", "cancelled", "late_24h"])
                sent = {"sent": due - timedelta(days=1), "late": due + timedelta(days=2)}
                reports.append(dict(
                    event_id=e["id"], study_id=STUDY, kind="initial_15", clock_days=15,
                    start_date=due - timedelta(days=15), due_date=due,
                    submitted_date=sent.get(kind, due if kind == "late_24h" else None),
                    due_at=(T0 + timedelta(days=500)) if kind == "late_24h" else None,
                    submitted_at=(T0 + timedelta(days=500, hours=k + 1))
                    if kind == "late_24h" else None,
                    cancelled_at=T0 + timedelta(days=400) if kind == "cancelled" else None,
                ))  # fmt: skip
        if e["status"] in ("assessed", "locked") or rng.random() < 0.1:
            assessments.append(dict(
                event_id=e["id"], study_id=STUDY, event_version=rng.randint(1, 3),
                awareness_date=date(2023, 6, 1), seriousness_confirmed=True, causality={},
                rsi_expectedness={}, expectedness={}, override_reasons={}, rsi_versions={},
                suspect_drugs=[], is_susar=rng.random() < 0.3, assessed_by_name="oracle",
            ))  # fmt: skip
        for _ in range(rng.choice([0, 0, 0, 1, 2])):
            queries.append(dict(
                event_id=e["id"], study_id=STUDY, site_id=e["site_id"], question="Onset?",
                status=rng.choice(["open", "answered", "closed"]), raised_by_name="oracle",
            ))  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(Study), [dict(id=STUDY, title="Oracle")])
        arms = [dict(id=a, study_id=STUDY, label=f"Arm {a}", code=f"A{a}", is_control=a == 1,
                     position=a) for a in (1, 2, 3)]  # fmt: skip
        conn.execute(insert(Arm), arms)
        conn.execute(insert(Site), [dict(id=s, study_id=STUDY, code=f"{s:02d}", name=f"Site {s}")
                                    for s in range(1, SITES + 1)])  # fmt: skip
        conn.execute(insert(Subject), subjects)
        conn.execute(insert(AdverseEvent), events)
        conn.execute(insert(ExpeditedReport), reports)
        conn.execute(insert(Assessment), assessments)
        conn.execute(insert(SafetyQuery), queries)


def _keeps(e: AdverseEvent, f: QueueFilters) -> bool:
    return (
        e.status != Status.draft
        and f.status in (None, e.status)
        and f.site_id in (None, e.site_id)
        and (f.serious is None or bool(e.aeser) == f.serious)
        and (not f.grade3 or (e.aetoxgr or 0) >= 3)
        and (not f.aesi or f.aesi in e.aesi.split(","))
    )


def _oracle(engine: Engine, f: QueueFilters) -> tuple[list[QueueRow], dict[str, int]]:
    """The queue for `f`, most urgent first, and its counts per status, from the tables."""
    with read_session(engine) as s:
        pairs = s.exec(select(AdverseEvent, Subject).where(AdverseEvent.subject_id == Subject.id))
        events = [(e, subject) for e, subject in pairs.all() if e.study_id == STUDY]
        reports = s.exec(select(ExpeditedReport)).all()
        assessed = {a.event_id: a for a in s.exec(select(Assessment)).all()}
        queries = s.exec(select(SafetyQuery)).all()
    due: dict[int, date] = {}
    late: set[int] = set()
    for r in reports:
        if r.submitted_date is None and r.cancelled_at is None:
            due[r.event_id] = min(due.get(r.event_id, r.due_date), r.due_date)
        if r.cancelled_at is None and (
            (r.submitted_at is not None and r.due_at is not None and r.submitted_at > r.due_at)
            or (r.due_at is None and r.submitted_date and r.submitted_date > r.due_date)
        ):
            late.add(r.event_id)
    open_queries: dict[int, int] = {}
    for q in queries:
        if q.status == "open":
            open_queries[q.event_id] = open_queries.get(q.event_id, 0) + 1

    def row(e: AdverseEvent, subject: Subject) -> QueueRow:
        received = e.submitted_at or e.created_at
        a = assessed.get(e.id)
        next_due = due.get(e.id)
        return QueueRow(
            id=e.id, usubjid=subject.usubjid, site_id=e.site_id, arm_id=subject.arm_id,
            aeseq=e.aeseq, aeterm=e.aeterm, aedecod=e.aedecod, aetoxgr=e.aetoxgr, aeser=e.aeser,
            fatal_or_life_threatening=e.aesdth or e.aeslife, aesi=e.aesi, status=e.status,
            version=e.version, updated_at=e.updated_at, received_at=received,
            days_since_receipt=(TODAY - received.date()).days,
            open_queries=open_queries.get(e.id, 0), next_due=next_due,
            overdue=next_due is not None and next_due < TODAY,
            days_left=None if next_due is None else (next_due - TODAY).days,
            is_susar=None if a is None else a.is_susar,
            changed_since_assessment=a is not None and a.event_version != e.version,
            late_report=e.id in late, changed_day=e.updated_at.strftime("%Y-%m-%d"),
            changed_time=e.updated_at.strftime("%H:%M"),
        )  # fmt: skip

    def urgency(e: AdverseEvent) -> tuple:
        if e.id in due:
            return (0, due[e.id], e.id)
        if e.aeser and e.status in UNASSESSED:
            return (1, e.submitted_at or e.created_at, e.id)
        return (2, PRIORITY.index(e.status), -e.updated_at.timestamp(), -e.id)

    counting = QueueFilters(**{**{k.name: getattr(f, k.name) for k in fields(f)}, "status": None})
    counts = {s.value: 0 for s in PRIORITY if s != Status.draft}
    for e, _ in events:
        if _keeps(e, counting):
            counts[e.status] += 1
    shown = sorted(((e, subject) for e, subject in events if _keeps(e, f)),
                   key=lambda p: urgency(p[0]))  # fmt: skip
    return [row(e, subject) for e, subject in shown], counts


def _pages(engine: Engine, f: QueueFilters, limit: int) -> list[QueueRow]:
    out, cursor = [], None
    with read_session(engine) as s:
        while True:
            page = queue_page(s, study_id=STUDY, filters=f, cursor=cursor, limit=limit, today=TODAY)
            assert len(page.rows) <= limit
            out += page.rows
            if page.next_cursor is None:
                return out
            cursor = page.next_cursor


def test_every_bench_filter_pages_exactly_what_the_tables_say(engine: Engine):
    _populate(engine)
    queue_module._NEW_SERIOUS.clear()
    for values in BENCH_FILTERS:
        f = filters_from({name: values.get(name, "") for name in FORM_FIELDS})
        expected, counts = _oracle(engine, f)
        assert len(expected) > 8, values  # pages of 4: cursors in the tiers
        for limit in (50, 4):
            got = _pages(engine, f, limit)
            assert [r.id for r in got] == [r.id for r in expected], (values, limit)
            for mine, theirs in zip(got, expected, strict=True):
                assert mine == theirs, (values, limit, mine, theirs)
        with read_session(engine) as s:
            assert queue_module.status_counts(s, study_id=STUDY, filters=f) == counts, values


def test_rows_are_equal_to_and_hash_like_queue_rows_made_by_init(engine: Engine):
    """The rows _decorate builds (their __dict__ filled) are QueueRows like any other: equal,
    of equal hash (the rendered-row cache's key), frozen."""
    _populate(engine)
    with read_session(engine) as s:
        rows = queue_page(s, study_id=STUDY, limit=50, today=TODAY).rows
    for r in rows:
        again = QueueRow(**{k.name: getattr(r, k.name) for k in fields(QueueRow)})
        assert again == r and hash(again) == hash(r) and vars(again) == vars(r)
        try:
            r.status = "locked"  # type: ignore[misc]
        except AttributeError:
            pass
        else:
            raise AssertionError("a queue row must stay frozen")
