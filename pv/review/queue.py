"""The review queue: what needs the safety officer's attention first, fast at 10^6 events.

Three orders (`SORTS`):

- "urgency" (the default), four tiers:
  0. events with an open expedited report (unsent, not cancelled), earliest due date
     first: the overdue ones (most overdue first), then the ones due soonest;
  1. new serious events not yet assessed (submitted, under review, queried, answered),
     oldest receipt first (receipt: `submitted_at`, else `created_at`);
  2. the rest, as the "status" order below.
  Tier 0 is computed, not indexed: the open reports are few (ix_expeditedreport_open_due
  finds them; a report is open for days). One statement reads them, joins their events
  by primary key, filters and sorts the keys and limits them before the decorations
  (`_open_page`); a row's own due date (`next_due`) tells tier 0's events apart, and tier
  2 leaves them out with NOT EXISTS on ix_expeditedreport_event_id. Tier 1 has no index
  on the receipt time (an expression): its sort keys (receipt, id) come from the range of
  ix_ae_queue_receipt (migration 0012: both receipt columns, index-only) for the
  unassessed statuses, read and sorted (a backlog of tens in a live trial; 24,000 events
  in the 10^6-event benchmark, where one such read costs tens of milliseconds), kept per
  study and filters in each worker process, refreshed every NEW_SERIOUS_TTL seconds by
  merging in the keys changed since (a short read) and read whole again every
  NEW_SERIOUS_REBUILD seconds. Kept keys are never trusted for membership: every
  candidate row is read live and kept only if it is still a serious unassessed event
  matching the filters, and the events changed since the keys were read (an updated_at
  range of ix_ae_queue_serious: a submission, a follow-up making an event serious) are
  read with them; a page is therefore what a fresh read would give. When tier 0 left
  the last such page short, tier 0 and tier 1's first candidates are one statement
  (`_open_and_serious`): a page is one SQL statement in most cases.
  Tier 2 walks ix_ae_queue per status as before, skipping the rows of tiers 0 and 1
  (aeser IS NOT true in the unassessed statuses: tested on the index entries).
- "status": by status priority (new reports, then answered queries, then the rest of the
  workflow), then most recently changed first, then id. Each status is one range of the
  index ix_ae_queue (study_id, status, updated_at, id), so a page reads the index in order
  instead of sorting the table: the statuses are walked in priority order and each asks
  only for the rows still missing.
- "newest": most recently changed first, then id (ix_ae_updated).

Keyset pagination: the cursor is the last row's full sort key (the order's name, the tier
and the tier's keys, as integers), so an event inserted or changed meanwhile never shifts
the next page, and a cursor of another order is refused. Rows are Core tuples, not ORM
objects.
"""

from __future__ import annotations

import base64
import bisect
import json
import re
import time
from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, func, literal_column, or_, tuple_, union_all
from sqlalchemy import select as core_select
from sqlalchemy.sql import Select
from sqlmodel import Session, col, select

from pv.events.models import AdverseEvent, Status
from pv.review.models import Assessment, ExpeditedReport, QueryStatus, QueueTally, SafetyQuery
from pv.study.models import Subject
from pv.timeutil import today as utc_today
from pv.timeutil import utcnow

# "New and changed first": a new report, then a site's answer, then work in progress.
PRIORITY = (
    Status.submitted,
    Status.answered,
    Status.under_review,
    Status.queried,
    Status.assessed,
    Status.locked,
    Status.draft,
)
# Not assessed yet: a serious event in one of these is "new serious, not yet assessed".
UNASSESSED = (Status.submitted, Status.under_review, Status.queried, Status.answered)
SORTS = ("urgency", "newest", "status")
PAGE_SIZE = 50
AE = AdverseEvent
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)
KEY_MAX = 6 * 10**16  # a cursor's integers: as microseconds, years 69 to 3871


@dataclass(frozen=True)
class QueueFilters:
    site_id: int | None = None
    arm_id: int | None = None
    aesi: str | None = None  # an AESI grouping key, e.g. "infection"
    serious: bool | None = None
    grade3: bool = False  # CTCAE grade >= 3
    status: str | None = None
    overdue: bool = False  # has an expedited report past its due date, not sent


@dataclass(frozen=True)
class QueueRow:
    id: int
    usubjid: str
    site_id: int
    arm_id: int | None
    aeseq: int
    aeterm: str
    aedecod: str | None
    aetoxgr: int | None
    aeser: bool | None
    fatal_or_life_threatening: bool
    aesi: str
    status: str
    version: int
    updated_at: datetime
    received_at: datetime | None = None  # submitted_at (else created_at)
    days_since_receipt: int | None = None  # whole days from receipt to the page's day
    open_queries: int = 0
    next_due: date | None = None  # earliest due date of an unsent expedited report
    overdue: bool = False
    days_left: int | None = None  # days from the page's day to next_due (< 0: overdue)
    is_susar: bool | None = None  # None: not assessed
    changed_since_assessment: bool = False
    late_report: bool = False  # an expedited report (the site's 24 h one too) sent late
    changed_day: str = ""  # updated_at as shown: "2024-06-19" and "01:29" (UTC)
    changed_time: str = ""

    @property
    def days_overdue(self) -> int:
        return max(0, -(self.days_left or 0))


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None  # None on the last page


def _us(stamp: datetime) -> int:
    """A timestamp as integer microseconds since 1970 (UTC; naive read as UTC): exact,
    comparable, JSON-safe."""
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return (stamp - EPOCH) // MICRO


def _stamp(us: int) -> datetime:
    """The UTC timestamp of `_us` (aware: the columns' type asks for it)."""
    return EPOCH + us * MICRO


def encode_cursor(sort: str, key: tuple[int, ...]) -> str:
    raw = json.dumps([sort, *key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


KEY_LENGTH = {"urgency": 4, "status": 3, "newest": 2}


def decode_cursor(cursor: str, sort: str = "urgency") -> tuple[int, ...]:
    """The sort key a cursor of `sort` carries. Raises ValueError on anything that is not
    a cursor this module made for that order."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, *values = json.loads(raw)
        if name != sort or len(values) != KEY_LENGTH[sort]:
            raise ValueError("another order's cursor")
        if not all(type(v) is int and abs(v) <= KEY_MAX for v in values):
            raise ValueError("out of range")  # SQLite: no 500
        key = tuple(values)
        if sort == "urgency" and key[0] not in (0, 1, 2):
            raise ValueError("no such tier")
        prio = key[1] if sort == "urgency" and key[0] == 2 else key[0] if sort == "status" else 0
        if not 0 <= prio < len(PRIORITY):
            raise ValueError("no such status")
        return key
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise ValueError("not a queue cursor") from exc


def _statuses(filters: QueueFilters, include_drafts: bool) -> list[str]:
    wanted = [s for s in PRIORITY if include_drafts or s != Status.draft]
    return [s for s in wanted if filters.status in (None, "", s)]


def _open_due(session: Session, study_id: str) -> dict[int, date]:
    """{event id: earliest due date} of the events with an open expedited report (unsent,
    not cancelled): few at any time (ix_expeditedreport_open_due)."""
    rows = session.connection().execute(_open_due_statement(), {"study": study_id})
    return {event_id: _day(due) for event_id, due in rows}


@lru_cache(maxsize=1)
def _open_due_statement() -> Select:
    """A Core statement, built once: the ORM's execution layer cost more than the read."""
    r = ExpeditedReport
    return (
        core_select(col(r.event_id), func.min(r.due_date))
        .where(
            col(r.study_id) == bindparam("study"),
            col(r.submitted_date).is_(None),
            col(r.cancelled_at).is_(None),
        )
        .group_by(col(r.event_id))
    )


def _day(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value  # SQLite: min() as text


def _overdue_ids(session: Session, study_id: str, today: date) -> list[int]:
    return [e for e, due in _open_due(session, study_id).items() if due < today]


def _has_key(column: Any, key: str) -> Any:
    """The comma-separated AESI keys in `column` include `key` (LIKE wildcards escaped).

    Written on the bare column (the key alone, first, last or inside the list) rather than
    as one LIKE on "," || column || ",": a planner estimates conditions on a column from
    its statistics (a few distinct AESI values), but not on an expression. PostgreSQL,
    guessing an expression matched a handful of rows, sorted every event of a status
    instead of walking the queue index (66 ms a page at 10^6 events instead of 3 ms).
    """
    like = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    # A grouping key (lower-case letters, digits, "_") is written into the statement (built
    # once per filter): SQLite evaluates a LIKE on a bound pattern measurably slower.
    value: Any = (lambda v: literal_column(f"'{v}'")) if AESI_KEY.fullmatch(key) else str
    # No "LIKE '%key%'" before the four: a second condition on the column makes PostgreSQL
    # multiply the two selectivities, guess a handful of rows and sort every event of a
    # status instead of walking the queue index (150 ms a page at 10^6 events, not 3 ms).
    return or_(
        column == value(key),
        column.like(value(f"{like},%"), escape="\\"),
        column.like(value(f"%,{like}"), escape="\\"),
        column.like(value(f"%,{like},%"), escape="\\"),
    )


AESI_KEY = re.compile(r"[a-z0-9_]{1,40}")


def _status_in(statuses: Collection[str]) -> Any:
    """status IN (the given statuses), written into the statement (they are a statement's
    cache key): no list expanded at each execution."""
    known = {s.value for s in PRIORITY}
    assert all(s in known for s in statuses), statuses  # workflow names: safe as literals
    return col(AE.status).in_([literal_column(f"'{s}'") for s in statuses])


def _filtered(
    q: Select, study_id: str | None, filters: QueueFilters, site_ids: Collection[int] | None
) -> Select:
    if study_id is not None:
        q = q.where(col(AE.study_id) == study_id)
    if site_ids is not None:
        q = q.where(col(AE.site_id).in_(site_ids))
    if filters.site_id is not None:
        q = q.where(col(AE.site_id) == filters.site_id)
    if filters.arm_id is not None:
        q = q.where(col(Subject.arm_id) == filters.arm_id)
    if filters.aesi:
        q = q.where(_has_key(AE.aesi, filters.aesi))
    if filters.serious is not None:
        q = q.where(col(AE.aeser) == filters.serious)
    if filters.grade3:
        q = q.where(col(AE.aetoxgr) >= 3)
    return q


COLUMNS = (
    AE.id,
    Subject.usubjid,
    AE.site_id,
    Subject.arm_id,
    AE.aeseq,
    AE.aeterm,
    AE.aedecod,
    AE.aetoxgr,
    AE.aeser,
    AE.aesdth,
    AE.aeslife,
    AE.aesi,
    AE.status,
    AE.version,
    AE.updated_at,
    func.coalesce(AE.submitted_at, AE.created_at).label("received_at"),  # one stamp, not two
)
RECEIPT = func.coalesce(AE.submitted_at, AE.created_at)  # receipt: submission (else creation)
STAMP = AE.__table__.c.updated_at.type  # type: ignore[attr-defined]
DUE = ExpeditedReport.__table__.c.due_date.type  # type: ignore[attr-defined]


def _open_report(event_id: Any) -> Any:
    """An open expedited report (unsent, not cancelled) of the event `event_id`."""
    r = ExpeditedReport
    return (
        core_select(col(r.id))
        .where(
            col(r.event_id) == event_id,
            col(r.submitted_date).is_(None),
            col(r.cancelled_at).is_(None),
        )
        .exists()
    )


def _decorations(due: Any = None) -> tuple[Any, ...]:
    """Open queries, the earliest unsent report's due date and the assessment, per row:
    correlated subqueries and an outer join evaluated only for the rows a page returns
    (one statement per page instead of a query per decoration). `due`: the due date when
    the statement already has it (tier 0 reads the open reports first)."""
    q, r, a = SafetyQuery, ExpeditedReport, Assessment
    open_queries = (
        core_select(func.count())
        .select_from(q)
        .where(col(q.event_id) == AE.id, col(q.status) == QueryStatus.open)
        .scalar_subquery()
    )
    next_due = (
        core_select(func.min(r.due_date))
        .where(
            col(r.event_id) == AE.id, col(r.submitted_date).is_(None), col(r.cancelled_at).is_(None)
        )
        .scalar_subquery()
    )
    # A report sent after its deadline (the site's 24 h report: to the minute).
    late = (
        core_select(func.count())
        .select_from(r)
        .where(
            col(r.event_id) == AE.id,
            col(r.cancelled_at).is_(None),
            or_(
                col(r.submitted_at) > col(r.due_at),
                col(r.due_at).is_(None) & (col(r.submitted_date) > col(r.due_date)),
            ),
        )
        .scalar_subquery()
    )
    return (
        open_queries.label("open_queries"),
        (next_due if due is None else due).label("next_due"),
        col(a.is_susar).label("is_susar"),
        col(a.event_version).label("assessed_version"),
        late.label("late_reports"),
    )


def _base(study_id: str, filters: QueueFilters, site_ids: Collection[int] | None) -> Select:
    q: Select = core_select(*COLUMNS, *_decorations())
    q = q.join(Subject, col(Subject.id) == AE.subject_id)
    q = q.outerjoin(Assessment, col(Assessment.event_id) == AE.id)
    return _filtered(q, study_id, filters, site_ids)


@lru_cache(maxsize=1024)
def _status_page(
    study_id: str,
    filters: QueueFilters,
    site_ids: tuple[int, ...] | None,
    status: str,
    resume: bool,
    skip: bool = False,
) -> Select:
    """One status's slice of a page, newest change first; built once per filter shape
    (building a statement costs more than running it). Bound at execution: n (rows
    wanted), to resume after a cursor after_at and after_id; with `skip` (the urgency
    order's last tier) the events of tier 0 (with an open expedited report: a correlated
    NOT EXISTS on ix_expeditedreport_event_id, tested on the index entries, instead of a
    list of ids read first) are left out, and serious events of an unassessed status
    (tier 1)."""
    q = _base(study_id, filters, site_ids).where(col(AE.status) == status)
    if skip:
        q = q.where(~_open_report(AE.id))
        if status in UNASSESSED:
            q = q.where(col(AE.aeser).is_not(True))
    if resume:
        at = bindparam("after_at", type_=STAMP)
        q = q.where(tuple_(AE.updated_at, AE.id) < tuple_(at, bindparam("after_id")))
    return q.order_by(col(AE.updated_at).desc(), col(AE.id).desc()).limit(bindparam("n"))


@lru_cache(maxsize=1024)
def _open_page(
    study_id: str,
    filters: QueueFilters,
    site_ids: tuple[int, ...] | None,
    statuses: tuple[str, ...],
    resume: bool,
) -> Select:
    """Tier 0 of the urgency order in one statement: the events with an open expedited
    report (unsent, not cancelled; ix_expeditedreport_open_due finds the few), earliest due
    date first, then id, the filters applied in SQL, with the page's decorations (the due
    date is the open reports' own). Bound at execution: n; to resume after_due, after_id.

    The event's study is the report's (`expeditedreport.study_id`): the events are reached
    by primary key from the open reports. A condition on `adverseevent.study_id` would let
    SQLite walk a queue index range of the study instead (0.3 s at 10^6 events)."""
    r = ExpeditedReport
    open_due = (
        core_select(col(r.event_id).label("event_id"), func.min(r.due_date).label("due"))
        .where(
            col(r.study_id) == study_id,
            col(r.submitted_date).is_(None),
            col(r.cancelled_at).is_(None),
        )
        .group_by(col(r.event_id))
        .subquery("open_due")
    )
    # The page's events first (keys only), then their rows and decorations: decorations in
    # the sorted query itself would be computed for every open report's event, not n.
    keys: Select = core_select(open_due.c.event_id, open_due.c.due).select_from(open_due)
    keys = keys.join(AE, col(AE.id) == open_due.c.event_id)
    if filters.arm_id is not None:
        keys = keys.join(Subject, col(Subject.id) == AE.subject_id)
    keys = _filtered(keys, None, filters, site_ids)
    keys = keys.where(_status_in(statuses))
    if resume:
        after = tuple_(bindparam("after_due", type_=DUE), bindparam("after_id"))
        keys = keys.where(tuple_(open_due.c.due, open_due.c.event_id) > after)
    page = keys.order_by(open_due.c.due, open_due.c.event_id).limit(bindparam("n")).subquery()
    q: Select = core_select(*COLUMNS, *_decorations(page.c.due))
    q = q.select_from(page).join(AE, col(AE.id) == page.c.event_id)
    q = q.join(Subject, col(Subject.id) == AE.subject_id)
    q = q.outerjoin(Assessment, col(Assessment.event_id) == AE.id)
    return q.order_by(page.c.due, col(AE.id))


def _keys(
    study_id: str, filters: QueueFilters, site_ids: Collection[int] | None, *columns: Any
) -> Select:
    """The sort keys of the events the filters keep, without the page's decorations or
    joins (the subject is joined only for the arm filter): an index-only read where the
    index carries the keys."""
    q: Select = core_select(col(AE.id), *columns)
    if filters.arm_id is not None:
        q = q.join(Subject, col(Subject.id) == AE.subject_id)
    return _filtered(q, study_id, filters, site_ids)


@lru_cache(maxsize=1024)
def _new_serious_keys(
    study_id: str,
    filters: QueueFilters,
    site_ids: tuple[int, ...] | None,
    statuses: tuple[str, ...],
    resume: bool,
) -> Select:
    """Tier 1 of the urgency order: (id, receipt) of serious events not yet assessed,
    oldest receipt first, without tier 0's events (`skip`). No index holds the receipt
    time: the range of ix_ae_queue_serious for these statuses is read and sorted (keys
    only; the page's rows are then read by id)."""
    q = _keys(study_id, filters, site_ids, RECEIPT.label("receipt")).where(
        col(AE.aeser).is_(True),
        _status_in(statuses),
        col(AE.id).not_in(bindparam("skip", expanding=True)),
    )
    if resume:
        at = bindparam("after_at", type_=STAMP)
        q = q.where(tuple_(RECEIPT, AE.id) > tuple_(at, bindparam("after_id")))
    return q.order_by(RECEIPT, col(AE.id)).limit(bindparam("n"))


@lru_cache(maxsize=1024)
def _recent_serious_keys(
    study_id: str,
    filters: QueueFilters,
    site_ids: tuple[int, ...] | None,
    statuses: tuple[str, ...],
) -> Select:
    """(id, receipt) of the serious unassessed events changed since `since`: a range of
    ix_ae_queue_serious (study_id, aeser, status, updated_at) per status."""
    return _keys(study_id, filters, site_ids, RECEIPT.label("receipt")).where(
        *_changed_serious(statuses)
    )


def _changed_serious(statuses: tuple[str, ...]) -> tuple[Any, ...]:
    """Serious events in `statuses` changed since the bound `since`: tier 1's recent rows."""
    return (
        col(AE.aeser).is_(True),
        _status_in(statuses),
        col(AE.updated_at) >= bindparam("since", type_=STAMP),
    )


@lru_cache(maxsize=1024)
def _serious_rows(
    study_id: str,
    filters: QueueFilters,
    site_ids: tuple[int, ...] | None,
    statuses: tuple[str, ...],
) -> Any:
    """Tier 1's candidate rows in one statement: the events `ids` by primary key (kept
    keys), and the serious unassessed events changed since `since` (filtered in SQL: a
    short range of ix_ae_queue_serious per status), with the page's decorations. An event
    may come twice."""
    return union_all(_by_id(), _recent_rows(study_id, filters, site_ids, statuses))


def _recent_rows(
    study_id: str,
    filters: QueueFilters,
    site_ids: tuple[int, ...] | None,
    statuses: tuple[str, ...],
) -> Select:
    return _base(study_id, filters, site_ids).where(*_changed_serious(statuses))


@lru_cache(maxsize=1024)
def _open_and_serious(
    study_id: str,
    filters: QueueFilters,
    site_ids: tuple[int, ...] | None,
    statuses: tuple[str, ...],
    new: tuple[str, ...],
    resume: bool,
) -> Any:
    """Tier 0's page (`_open_page`) and tier 1's first candidates (`_serious_rows`) in one
    statement, for a page that tier 0 alone is not expected to fill. A row with a due date
    (`next_due`) is tier 0's: only those passing the filters count (the kept keys' rows are
    not filtered in SQL), and only the first n in order (tier 0's part gives them all)."""
    open_page = _open_page(study_id, filters, site_ids, statuses, resume).subquery()
    return union_all(
        _by_id(), _recent_rows(study_id, filters, site_ids, new), core_select(*open_page.c)
    )


# Per (database, study, filters, scope, statuses): did tier 0 leave the last first page
# short? Then the next one reads tier 0 and tier 1's first candidates in one statement. A
# hint only: a wrong guess costs a statement (or a few rows read for nothing), never a row.
_TIER0_SHORT: dict[Any, bool] = {}


# Tier 1's sort keys per (database, study, filters, scope, statuses): (refreshed at, UTC
# time before the last read, [(receipt µs, id)] sorted, fully read at). Each worker process
# keeps its own: every NEW_SERIOUS_TTL seconds the keys changed since the last read (the
# small "recent" range below) are merged in, instead of reading the whole range again (tens
# to hundreds of milliseconds at 10^6 events, on the worker's event loop); the whole range
# is read again every NEW_SERIOUS_REBUILD seconds, which drops the keys of the events that
# have left tier 1 (harmless meanwhile: rows are checked live, they only cost a read).
NEW_SERIOUS_TTL = 60.0  # staleness is harmless (rows are checked live): only the cost
NEW_SERIOUS_REBUILD = 900.0
RECENT_MARGIN = timedelta(seconds=60)  # a write committed this long after its updated_at
_NEW_SERIOUS: dict[Any, tuple[float, datetime, list[tuple[int, int]], float]] = {}


def _serious_keys(
    session: Session,
    study_id: str,
    filters: QueueFilters,
    scope: tuple[int, ...] | None,
    statuses: tuple[str, ...],
) -> tuple[list[tuple[int, int]], datetime]:
    """(kept keys, sorted; the time since which changed events are to be read too)."""
    conn = session.connection()
    key = (conn.engine.url, study_id, filters, scope, statuses)
    now = time.monotonic()
    hit = _NEW_SERIOUS.get(key)
    q = _recent_serious_keys(study_id, filters, scope, statuses)
    if hit is None or now - hit[3] >= NEW_SERIOUS_REBUILD:
        built = utcnow()
        whole = _new_serious_keys(study_id, filters, scope, statuses, False)
        rows = conn.execute(whole, {"skip": [], "n": 2**31 - 1})
        hit = (now, built, sorted((_us(at), event_id) for event_id, at in rows), now)
        _NEW_SERIOUS[key] = hit
        if len(_NEW_SERIOUS) > 512:
            for old in sorted(_NEW_SERIOUS, key=lambda k: _NEW_SERIOUS[k][0])[:128]:
                _NEW_SERIOUS.pop(old, None)
    elif now - hit[0] >= NEW_SERIOUS_TTL:  # merge the recent keys in: a short read
        built = utcnow()
        fresh = {(_us(at), event_id) for event_id, at in conn.execute(
            q, {"since": hit[1] - RECENT_MARGIN})}  # fmt: skip
        hit = (now, built, sorted(fresh.union(hit[2])), hit[3])
        _NEW_SERIOUS[key] = hit
    return hit[2], hit[1] - RECENT_MARGIN


def _new_serious(
    session: Session,
    study_id: str,
    filters: QueueFilters,
    site_ids: Collection[int] | None,
    statuses: tuple[str, ...],
    start: tuple[int, int] | None,
    need: int,
    keys: tuple[list[tuple[int, int]], datetime] | None = None,
    head: tuple[int, list[Any]] | None = None,
) -> list[tuple[tuple[int, ...], Any]]:
    """Up to `need` rows of tier 1 after `start` (receipt µs, id), in order, each read live.
    `keys` and `head`: the kept keys and the first read (rows of the first `head[0]` kept
    keys and of the changed events), when the caller's statement made it (tier 0's).

    The candidates are the kept keys and the events changed since they were read; one
    statement reads both, the next `need` kept keys' rows by primary key and the changed
    events' rows whole (`_serious_rows`). A live row is shown when it is (still) a serious
    unassessed event matching the filters, without an open report (tier 0's), at its
    current key; up to the last kept key read, every candidate is known, so the rows up
    to it are final; beyond it, only once the kept keys are exhausted. Otherwise the next
    kept keys are read (by primary key only: the changed events are known already)."""
    scope = None if site_ids is None else tuple(sorted(site_ids))
    kept, since = keys or _serious_keys(session, study_id, filters, scope, statuses)
    first = 0 if start is None else bisect.bisect_right(kept, start)
    conn = session.connection()
    known: dict[int, tuple[tuple[int, ...], Any]] = {}  # id: (key, row), valid rows read
    values: dict[str, Any] = {"since": since}
    q = _serious_rows(study_id, filters, scope, statuses)
    while True:
        if head is not None:
            batch, rows = kept[first : first + head[0]], head[1]
            q, values, head = _by_id(), {}, None
        else:
            batch = kept[first : first + max(need, 1)]
            rows = conn.execute(q, {"ids": [i for _, i in batch], **values}).all()
        first += len(batch)
        for row in rows:  # sort_key's tier 1, by position (the order of COLUMNS)
            if row[17] is not None or not row[8] or row[12] not in statuses:
                continue  # tier 0 (an open report's due date), not serious, another status
            key = (1, _us(row[15]), 0, row[0])
            if (start is None or (key[1], key[3]) > start) and _keeps(row, filters, site_ids):
                known[row[0]] = (key, row)
        done = first >= len(kept)
        last = None if done else (1, batch[-1][0], 0, batch[-1][1])
        final = sorted(v for v in known.values() if last is None or v[0] <= last)
        if len(final) >= need or done:
            return final[:need]
        q, values = _by_id(), {}  # the changed events are known: the next kept keys only


@lru_cache(maxsize=1024)
def _newest_keys(
    study_id: str,
    filters: QueueFilters,
    site_ids: tuple[int, ...] | None,
    status: str,
    resume: bool,
) -> Select:
    """The "newest" order, one status: (id, updated_at), latest change first, from the
    status's range of ix_ae_queue (index-only); the statuses are merged in Python."""
    q = _keys(study_id, filters, site_ids, col(AE.updated_at)).where(col(AE.status) == status)
    if resume:
        at = bindparam("after_at", type_=STAMP)
        q = q.where(tuple_(AE.updated_at, AE.id) < tuple_(at, bindparam("after_id")))
    return q.order_by(col(AE.updated_at).desc(), col(AE.id).desc()).limit(bindparam("n"))


@lru_cache(maxsize=1)
def _by_id() -> Select:
    """Events by primary key, with the page's decorations."""
    q: Select = core_select(*COLUMNS, *_decorations())
    q = q.join(Subject, col(Subject.id) == AE.subject_id)
    q = q.outerjoin(Assessment, col(Assessment.event_id) == AE.id)
    return q.where(col(AE.id).in_(bindparam("ids", expanding=True)))


def _keeps(row: Any, filters: QueueFilters, site_ids: Collection[int] | None) -> bool:
    """The filters of `_filtered`, on a row read by id (study aside: the ids come from
    the study's rows). By position (the order of COLUMNS): a Row's attributes cost more."""
    site_id = row[2]
    return (
        (site_ids is None or site_id in site_ids)
        and filters.site_id in (None, site_id)
        and filters.arm_id in (None, row[3])
        and (not filters.aesi or filters.aesi in (row[11] or "").split(","))
        and (filters.serious is None or bool(row[8]) == filters.serious)
        and (not filters.grade3 or (row[7] or 0) >= 3)
    )


def _rows_by_id(
    session: Session,
    filters: QueueFilters,
    site_ids: Collection[int] | None,
    statuses: Collection[str],
    ids: Collection[int],
) -> list[Any]:
    """The few events of `ids` (of one study) the filters keep: read by primary key and
    filtered here. With the filters (even the study) in the SQL, SQLite walks a whole
    queue index range instead (a bound study id: 0.3 s at 10^6 events for 100 ids)."""
    if not ids:
        return []
    rows = session.connection().execute(_by_id(), {"ids": list(ids)}).all()
    return [r for r in rows if r.status in statuses and _keeps(r, filters, site_ids)]


def _overdue_rows(
    session: Session,
    study_id: str,
    filters: QueueFilters,
    site_ids: Collection[int] | None,
    statuses: list[str],
    day: date,
) -> list[tuple[int, Any]]:
    """The few events with an overdue report, (priority, row) in the status order."""
    ids = _overdue_ids(session, study_id, day)
    rows = _rows_by_id(session, filters, site_ids, statuses, ids)
    newest_first = sorted(rows, key=lambda r: (r.updated_at, r.id), reverse=True)
    keyed = [(PRIORITY.index(r.status), r) for r in newest_first]
    return sorted(keyed, key=lambda t: t[0])  # stable: newest first within a status


def sort_key(sort: str, row: Any) -> tuple[int, ...]:
    """The row's place in `sort`, as integers (the cursor carries the last row's). In the
    urgency order, tier 0 is the row's own due date (`next_due`: its earliest open report's,
    the same as `_open_due`'s)."""
    prio, changed = PRIORITY.index(row.status), -_us(row.updated_at)
    if sort == "status":
        return (prio, changed, -row.id)
    if sort == "newest":
        return (changed, -row.id)
    if row.next_due is not None:
        return (0, _day(row.next_due).toordinal(), 0, row.id)
    if row.aeser and row.status in UNASSESSED:
        return (1, _us(row.received_at), 0, row.id)
    return (2, prio, changed, -row.id)


def queue_page(
    session: Session,
    *,
    study_id: str,
    filters: QueueFilters | None = None,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
    site_ids: Collection[int] | None = None,
    include_drafts: bool = False,
    today: date | None = None,
    sort: str = "urgency",
) -> QueuePage:
    """One page of the queue in `sort` (SORTS). `site_ids` scopes an investigator (None:
    every site). A cursor that is not one of this order's raises ValueError."""
    if sort not in SORTS:
        raise ValueError(f"no such order: {sort}")
    filters = filters or QueueFilters()
    day = today or utc_today()
    after = decode_cursor(cursor, sort) if cursor else None
    statuses = _statuses(filters, include_drafts)
    conn = session.connection()  # Core rows: the ORM's result layer costs more than the SQL
    scope = None if site_ids is None else tuple(sorted(site_ids))
    want = limit + 1
    found: list[tuple[tuple[int, ...] | None, Any]] = []

    def run(q: Select, values: dict[str, Any]) -> None:
        # Rows in the page's order: the key is computed for the cursor's row only.
        rows = conn.execute(q, {"n": want - len(found), **values}).all()
        found.extend((None, r) for r in rows)

    if filters.overdue:  # the few events with an overdue report, sorted here
        ids = [e for e, d in _open_due(session, study_id).items() if d < day]
        rows = _rows_by_id(session, filters, site_ids, statuses, ids)
        found = sorted((sort_key(sort, r), r) for r in rows)
        found = [(k, r) for k, r in found if after is None or k > after][:want]
    elif sort == "urgency":
        tier = after[0] if after else 0
        new = tuple(s for s in UNASSESSED if s in statuses)
        serious_next = tier <= 1 and bool(new) and filters.serious is not False
        keys: tuple[list[tuple[int, int]], datetime] | None = None
        head: tuple[int, list[Any]] | None = None
        if tier == 0 and statuses:  # one statement: open reports, their events, filtered
            values = {}
            if after is not None:
                values = {"after_due": date.fromordinal(after[1]), "after_id": after[3]}
            hint = (conn.engine.url, study_id, filters, scope, tuple(statuses), after is None)
            if serious_next and _TIER0_SHORT.get(hint):  # and tier 1's first rows with it
                keys = _serious_keys(session, study_id, filters, scope, new)
                batch = [i for _, i in keys[0][:want]]
                q = _open_and_serious(
                    study_id, filters, scope, tuple(statuses), new, after is not None
                )
                rows = conn.execute(q, {"n": want, "ids": batch, "since": keys[1], **values}).all()
                head = (len(batch), rows)
                first_tier: dict[int, tuple[tuple[int, ...], Any]] = {}
                for row in rows:  # tier 0's rows: with a due date, kept by the filters
                    if row[17] is None or row[12] not in statuses:
                        continue
                    key = sort_key("urgency", row)
                    if (after is None or key > after) and _keeps(row, filters, site_ids):
                        first_tier[row[0]] = (key, row)
                found += sorted(first_tier.values())[:want]
            else:
                run(
                    _open_page(study_id, filters, scope, tuple(statuses), after is not None), values
                )
            if len(_TIER0_SHORT) > 4096:
                _TIER0_SHORT.clear()
            _TIER0_SHORT[hint] = len(found) < want
        skip: dict[str, Any] = {}
        if len(found) < want and serious_next:
            resume = after is not None and tier == 1
            start = (after[1], after[3]) if resume else None  # type: ignore[index]
            found += _new_serious(
                session, study_id, filters, site_ids, new, start, want - len(found), keys, head
            )
        for prio, status in enumerate(PRIORITY):
            if len(found) >= want or status not in statuses:
                continue
            if filters.serious is True and status in UNASSESSED:
                continue  # every one of them is in tier 1
            resume = after is not None and tier == 2 and prio == after[1]
            if after is not None and tier == 2 and prio < after[1]:
                continue
            values = dict(skip)
            if resume:
                values.update(after_at=_stamp(-after[2]), after_id=-after[3])  # type: ignore[index]
            run(_status_page(study_id, filters, scope, status, resume, True), values)
    elif sort == "newest":
        resume = after is not None
        values: dict[str, Any] = {"n": want}
        if after:
            values.update(after_at=_stamp(-after[0]), after_id=-after[1])
        keys: list[tuple[int, ...]] = []
        for status in statuses:
            q = _newest_keys(study_id, filters, scope, status, resume)
            keys += [(-_us(at), -event_id) for event_id, at in conn.execute(q, values)]
        ids = [-k[1] for k in sorted(keys)[:want]]
        rows = _rows_by_id(session, filters, site_ids, statuses, ids)
        found = sorted((sort_key(sort, r), r) for r in rows)
    else:
        for prio, status in enumerate(PRIORITY):
            if status not in statuses or len(found) >= want:
                continue
            if after is not None and prio < after[0]:
                continue
            resume = after is not None and prio == after[0]
            values = {}
            if resume:
                values = {"after_at": _stamp(-after[1]), "after_id": -after[2]}  # type: ignore[index]
            run(_status_page(study_id, filters, scope, status, resume), values)
    more = len(found) > limit
    found = found[:limit]
    rows = _decorate([r for _, r in found], day)
    nxt = encode_cursor(sort, found[-1][0] or sort_key(sort, found[-1][1])) if more else None
    return QueuePage(rows=rows, next_cursor=nxt)


QUEUE_ROW_FIELDS = tuple(f.name for f in fields(QueueRow))
_new_object = object.__new__


def _decorate(rows: list[Any], day: date) -> list[QueueRow]:
    """QueueRows from the Core rows. Each is made the way a frozen dataclass is unpickled
    (its __dict__ filled, the fields in their declared order): its __init__ sets each of
    the 25 fields through object.__setattr__, a tenth of a page's time for 50 rows. Equal
    (and of equal hash) to QueueRow(**fields): tests/review/test_q17_page_oracle.py."""
    out = []
    make, names, row_type = _new_object, QUEUE_ROW_FIELDS, QueueRow
    # Unpacked by position (the order of COLUMNS, then _decorations): attribute access on
    # 50 rows of 21 columns is a measurable share of a page.
    for (event_id, usubjid, site_id, arm_id, aeseq, aeterm, aedecod, aetoxgr, aeser, aesdth,
         aeslife, aesi, status, version, updated_at, received, open_queries,
         next_due, is_susar, assessed_version, late_reports) in rows:  # fmt: skip
        if isinstance(next_due, str):  # SQLite may return min() of a date column as text
            next_due = date.fromisoformat(next_due)
        stamp = updated_at.isoformat(" ", "minutes")
        row = make(row_type)
        row.__dict__.update(zip(names, (
            event_id, usubjid, site_id, arm_id, aeseq, aeterm, aedecod, aetoxgr, aeser,
            bool(aesdth or aeslife),  # fatal_or_life_threatening
            aesi, status, version, updated_at,
            received,  # received_at
            None if received is None else (day - received.date()).days,  # days_since_receipt
            int(open_queries or 0),
            next_due,
            next_due is not None and next_due < day,  # overdue
            None if next_due is None else (next_due - day).days,  # days_left
            None if is_susar is None else bool(is_susar),
            assessed_version not in (None, version),  # changed_since_assessment
            bool(late_reports),  # late_report
            stamp[:10],  # changed_day
            stamp[11:16],  # changed_time
        ), strict=True))  # fmt: skip
        out.append(row)
    return out


def status_counts(
    session: Session,
    *,
    study_id: str,
    filters: QueueFilters | None = None,
    site_ids: Collection[int] | None = None,
    include_drafts: bool = False,
    today: date | None = None,
) -> dict[str, int]:
    """Events per status under the same filters (the status filter itself aside).

    One GROUP BY over queue_tally (kept by triggers; a few thousand rows at 10^6 events);
    the overdue filter, which no tally can hold, counts its few events directly.
    """
    filters = filters or QueueFilters()
    if filters.overdue:
        rows = _overdue_rows(
            session, study_id, filters, site_ids, list(PRIORITY), today or utc_today()
        )
        counts: dict[str, int] = {}
        for _, row in rows:
            counts[row.status] = counts.get(row.status, 0) + 1
    else:
        t = QueueTally
        q = select(t.status, func.sum(t.n)).where(t.study_id == study_id)
        if site_ids is not None:
            q = q.where(col(t.site_id).in_(site_ids))
        if filters.site_id is not None:
            q = q.where(t.site_id == filters.site_id)
        if filters.arm_id is not None:
            q = q.where(t.arm_id == filters.arm_id)
        if filters.aesi:
            q = q.where(_has_key(t.aesi, filters.aesi))
        if filters.serious is not None:
            q = q.where(t.serious == int(filters.serious))
        if filters.grade3:
            q = q.where(t.grade3 == 1)
        counts = dict(session.exec(q.group_by(col(t.status))).all())
    return {
        s.value: int(counts.get(s) or 0) for s in PRIORITY if include_drafts or s != Status.draft
    }


def open_query_counts(session: Session, event_ids: Collection[int]) -> dict[int, int]:
    """Open queries per event, for any list of events."""
    q = SafetyQuery
    return dict(
        session.exec(
            select(q.event_id, func.count())
            .where(col(q.event_id).in_(event_ids), q.status == QueryStatus.open)
            .group_by(col(q.event_id))
        ).all()
    )
