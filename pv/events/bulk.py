"""Bulk creation of adverse events (spreadsheet upload, imports): the same write path, batched.

Each row goes through exactly what `service.create_event` does for one event: the input
is cleaned (`clean_input`), checked by `rules.check_event` against its coded term and the
subject's study drugs, derived fields are computed by the same functions (`derived_fields`,
`aesi_value`, with each subject's infusion starts looked up once), and one audit entry per
event carries `{field: [None, value]}` for every non-empty field of `EVENT_FIELDS`, the
shape `create_event` writes, so that audit replay rebuilds bulk-created events too.

Everything the rules need (subjects, drugs, terms, infusion starts, the last AESEQ per
subject) is loaded once up front; events and audit entries are written with executemany
inserts in batches. Nothing is written unless every row passes: `create_events_bulk`
raises `BulkValidationFailed` listing every problem of every row, and the caller's
transaction (one `write_session`) is rolled back.
"""

from __future__ import annotations

import functools
import gc
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import func, insert
from sqlmodel import Session, select

from pv.audit.models import AuditEntry
from pv.audit.service import Actor
from pv.events.models import AdverseEvent, Status
from pv.events.rules import EventInput, check_event
from pv.events.service import (
    EVENT_FIELDS,
    aesi_value,
    clean_input,
    derived_fields,
    infusion_rule_drug,
)
from pv.exposure.models import Exposure
from pv.study.models import ArmDrug, Drug, Subject
from pv.terminology.aesi import AesiCatalog, load_aesi
from pv.terminology.models import Term, TerminologyRelease
from pv.terminology.search import current_release
from pv.timeutil import today, utcnow

BATCH = 2000
UNKNOWN_SUBJECT = "unknown subject"

Progress = Callable[[int, int], None]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk load.

    Hundreds of thousands of short-lived containers make CPython run full collections
    over everything alive (measured: ~40% of the insert time for 100,000 events). Nothing
    here creates reference cycles that must be freed before the end; collection resumes
    afterwards (it is process-wide: a few seconds, once per upload)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class BulkRow(NamedTuple):
    """One event to create: the subject's USUBJID and the event as entered."""

    usubjid: str
    data: EventInput


@dataclass(frozen=True)
class RowIssue:
    """A problem of row `index` (0-based position in the rows given); field as in `Issue`."""

    index: int
    field: str
    message: str


class BulkValidationFailed(ValueError):
    def __init__(self, errors: list[RowIssue], warnings: list[RowIssue] | None = None):
        self.errors = errors
        self.warnings = warnings or []
        first = "; ".join(f"row {e.index}: {e.field}: {e.message}" for e in errors[:5])
        super().__init__(f"{len(errors)} problem(s): {first}")


@dataclass
class BulkContext:
    """What checking and deriving events of one study needs, loaded once."""

    study_id: str
    release: TerminologyRelease | None
    label: str
    terms: dict[str, Term]  # code -> term of the current release
    subjects: dict[str, Subject]  # usubjid -> subject (only the sites in scope)
    drugs_by_arm: dict[int | None, list[Drug]]  # arm id (None: not randomized) -> drugs
    catalog: AesiCatalog
    _starts: dict[int, dict[int, list[datetime]]] | None = field(default=None, repr=False)
    _session: Session | None = field(default=None, repr=False)

    @classmethod
    def load(cls, session: Session, study_id: str, site_ids: set[int] | None = None
             ) -> BulkContext:  # fmt: skip
        release = current_release(session)
        label = release.label if release else "CTCAE 5.0"
        terms: dict[str, Term] = {}
        if release is not None:
            terms = {t.code: t for t in session.exec(select(Term).where(
                Term.release_id == release.id))}  # fmt: skip
        q = select(Subject).where(Subject.study_id == study_id)
        if site_ids is not None:
            q = q.where(Subject.site_id.in_(sorted(site_ids)))  # type: ignore[attr-defined]
        subjects = {s.usubjid: s for s in session.exec(q)}
        drugs = list(session.exec(select(Drug).where(Drug.study_id == study_id)
                                  .order_by(Drug.name)))  # fmt: skip
        by_id = {d.id: d for d in drugs}
        drugs_by_arm: dict[int | None, list[Drug]] = defaultdict(list)
        drugs_by_arm[None] = drugs
        links = session.exec(select(ArmDrug.arm_id, ArmDrug.drug_id).where(
            ArmDrug.drug_id.in_(list(by_id))))  # type: ignore[attr-defined]  # fmt: skip
        for arm_id, drug_id in links:
            drugs_by_arm[arm_id].append(by_id[drug_id])
        for arm_drugs in drugs_by_arm.values():
            arm_drugs.sort(key=lambda d: d.name)  # subject_drugs orders by name
        return cls(study_id=study_id, release=release, label=label, terms=terms,
                   subjects=subjects, drugs_by_arm=drugs_by_arm, catalog=load_aesi(),
                   _session=session)  # fmt: skip

    def drugs_of(self, subject: Subject) -> list[Drug]:
        """As `service.subject_drugs`: the arm's drugs, all the study's when not randomized."""
        if subject.arm_id is None:
            return self.drugs_by_arm[None]
        return self.drugs_by_arm.get(subject.arm_id, [])

    def infusion_starts(self, subject_id: int, drug: Drug) -> list[datetime]:
        """Starts of the subject's single administrations of `drug` (one query per drug)."""
        if self._starts is None:
            self._starts = {}
        per_drug = self._starts.get(drug.id)  # type: ignore[arg-type]
        if per_drug is None:
            assert self._session is not None
            per_drug = defaultdict(list)
            rows = self._session.exec(select(Exposure.subject_id, Exposure.start).where(
                Exposure.drug_id == drug.id, Exposure.frequency == "ONCE"))  # fmt: skip
            for subject_id_, start in rows:
                per_drug[subject_id_].append(start)
            self._starts[drug.id] = per_drug  # type: ignore[index]
        return per_drug.get(subject_id, [])


class _Prepared(NamedTuple):
    """A checked row: the event's columns up to `aesi` (see EVENT_COLUMNS), AESEQ and
    status left for `insert_events` to fill in."""

    subject_id: int
    values: tuple[Any, ...]


def _values(subject: Subject, d: EventInput, x: dict[str, Any], aesi: str,
            shared: dict[tuple[Any, ...], dict[str, Any]]) -> tuple[Any, ...]:  # fmt: skip
    # Equal per-drug answers share one dict: 100,000 rows hold a handful of them.
    rel = shared.setdefault(tuple(d.aerel.items()), d.aerel)
    acn = shared.setdefault(tuple(d.aeacn.items()), d.aeacn)
    return (
        subject.study_id, subject.id, subject.site_id, 0, None, 1, d.aeterm, x["term_id"],
        d.aelltcd, x["aedecod"], x["aebodsys"], x["terminology"], d.aetoxgr, None, d.aeser,
        d.aesdth, d.aeslife, d.aeshosp, d.aesdisab, d.aescong, d.aesmie, rel, acn,
        x["related"], x["drug_withdrawn"], d.aeout, d.aestdtc, d.aeendtc, d.ongoing,
        d.aecontrt, d.narrative, aesi,
    )  # fmt: skip


def prepare_events(ctx: BulkContext, rows: Sequence[BulkRow], *, submit: bool,
                   on_row: Callable[[int], None] | None = None,
                   ) -> tuple[list[_Prepared], list[RowIssue], list[RowIssue]]:  # fmt: skip
    """Check and derive every row: (prepared rows, errors, warnings). No writes."""
    prepared: list[_Prepared] = []
    errors: list[RowIssue] = []
    warnings: list[RowIssue] = []
    now_date: date = today()
    catalog, label, terms = ctx.catalog, ctx.label, ctx.terms
    no_release = ctx.release is None
    per_arm: dict[int | None, tuple[list[str], Drug | None]] = {}
    starts_of: dict[int, Callable[[Drug], list[datetime]]] = {}
    shared: dict[tuple[Any, ...], dict[str, Any]] = {}
    for i, row in enumerate(rows):
        if on_row is not None and i and i % 1000 == 0:
            on_row(i)
        subject = ctx.subjects.get((row.usubjid or "").strip())
        if subject is None:
            errors.append(RowIssue(i, "usubjid", UNKNOWN_SUBJECT))
            continue
        arm = per_arm.get(subject.arm_id)
        if arm is None:
            drugs = ctx.drugs_of(subject)
            arm = per_arm[subject.arm_id] = ([d.key for d in drugs],
                                             infusion_rule_drug(catalog, drugs))  # fmt: skip
        drug_keys, rule_drug = arm
        data = clean_input(row.data)
        code = data.aelltcd
        term = None if (no_release or not code) else terms.get(code)
        findings = check_event(data, term=term, drug_keys=drug_keys,
                               consent_date=subject.consent_date, today=now_date,
                               submit=submit, release_label=label)  # fmt: skip
        for w in findings.warnings:
            warnings.append(RowIssue(i, w.field, w.message))
        if findings.errors:
            errors.extend(RowIssue(i, e.field, e.message) for e in findings.errors)
            continue
        subject_id: int = subject.id  # type: ignore[assignment]
        starts = starts_of.get(subject_id)
        if starts is None:
            starts = starts_of[subject_id] = functools.partial(ctx.infusion_starts, subject_id)
        aesi = aesi_value(catalog, code, data.aestdtc, rule_drug, starts)
        prepared.append(_Prepared(subject_id, _values(
            subject, data, derived_fields(data, term, label), aesi, shared)))  # fmt: skip
    if on_row is not None:
        on_row(len(rows))
    return prepared, errors, warnings


def _last_seq(session: Session, subject_ids: Iterable[int]) -> dict[int, int]:
    """Lock the subjects' rows (as create_event does) and read their last AESEQ."""
    ids = sorted(set(subject_ids))
    out: dict[int, int] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.exec(select(Subject.id).where(Subject.id.in_(chunk))  # type: ignore[union-attr]
                     .with_for_update(key_share=True)).all()  # fmt: skip
        q = (select(AdverseEvent.subject_id, func.max(AdverseEvent.aeseq))
             .where(AdverseEvent.subject_id.in_(chunk))  # type: ignore[attr-defined]
             .group_by(AdverseEvent.subject_id))  # fmt: skip
        for subject_id, seq in session.exec(q):
            out[subject_id] = int(seq or 0)
    return out


# Columns of a new event, in the order `_values` and `insert_events` build them.
EVENT_COLUMNS = (
    "study_id", "subject_id", "site_id", "aeseq", "status", "version", "aeterm", "term_id",
    "aelltcd", "aedecod", "aebodsys", "terminology", "aetoxgr", "aesev", "aeser", "aesdth",
    "aeslife", "aeshosp", "aesdisab", "aescong", "aesmie", "aerel", "aeacn", "related",
    "drug_withdrawn", "aeout", "aestdtc", "aeendtc", "ongoing", "aecontrt", "narrative", "aesi",
    "preexisting", "worsened_dtc", "sponsor_te_flag", "created_by", "created_at", "updated_at",
    "submitted_at",
)  # fmt: skip
AUDIT_COLUMNS = ("at", "actor_id", "actor", "action", "entity_type", "entity_id", "study_id",
                 "site_id", "changes", "reason")  # fmt: skip
_AUDITED = tuple((f, EVENT_COLUMNS.index(f)) for f in EVENT_FIELDS)
_AEREL, _CREATED_AT = EVENT_COLUMNS.index("aerel"), EVENT_COLUMNS.index("created_at")
assert EVENT_COLUMNS[_AEREL + 1] == "aeacn"
assert EVENT_COLUMNS[_CREATED_AT:] == ("created_at", "updated_at", "submitted_at")
_VALUES = EVENT_COLUMNS.index("aesi") + 1  # what `_values` builds; `insert_events` adds:
assert EVENT_COLUMNS[_VALUES:] == (
    "preexisting",
    "worsened_dtc",
    "sponsor_te_flag",
    "created_by",
    "created_at",
    "updated_at",
    "submitted_at",
)


def _changes(row: tuple[Any, ...]) -> dict[str, list[Any]]:
    """What `create_event` audits: `diff({}, snapshot(event))`, i.e. every non-None field."""
    return {f: [None, row[i]] for f, i in _AUDITED if row[i] is not None}


def insert_events(*, session: Session, actor: Actor, prepared: Sequence[_Prepared], submit: bool,
                  on_row: Callable[[int], None] | None = None) -> list[int]:  # fmt: skip
    """Write prepared events and one audit entry each; returns the new ids in row order.

    AESEQ continues each subject's sequence; the subjects' rows are locked first, as
    `create_event` does, so concurrent creates for them queue behind this transaction.
    """
    seqs = _last_seq(session, (p.subject_id for p in prepared))
    now = utcnow()
    status = Status.submitted.value if submit else Status.draft.value
    action = "submit" if submit else "create"
    submitted_at = now if submit else None
    tail = (False, None, None, actor.user_id, now, now, submitted_at)
    table = AdverseEvent.__table__  # type: ignore[attr-defined]
    audit = AuditEntry.__table__  # type: ignore[attr-defined]
    writer = _SqliteWriter(session, table, audit) if session.get_bind().dialect.name == "sqlite" \
        else _CoreWriter(session, table, audit)  # fmt: skip
    ids: list[int] = []
    for start in range(0, len(prepared), BATCH):
        rows = []
        for sid, v in prepared[start : start + BATCH]:
            seq = seqs[sid] = seqs.get(sid, 0) + 1
            rows.append((*v[:3], seq, status, *v[5:], *tail))
        new_ids = writer.events(rows)
        writer.audit([
            (now, actor.user_id, actor.username, action, "adverse_event", str(event_id),
             row[0], row[2], _changes(row), None)
            for event_id, row in zip(new_ids, rows, strict=True)])  # fmt: skip
        ids.extend(new_ids)
        if on_row is not None:
            on_row(len(ids))
    return ids


class _CoreWriter:
    """Any database: SQLAlchemy Core executemany (insertmanyvalues with RETURNING)."""

    def __init__(self, session: Session, table: Any, audit: Any):
        self.session, self.table, self.audit_table = session, table, audit
        # RETURNING in parameter order would make SQLAlchemy insert row by row where the
        # table has no sentinel column; (subject_id, aeseq) identifies each new row.
        self.stmt = insert(table).returning(table.c.id, table.c.subject_id, table.c.aeseq)

    def events(self, rows: list[tuple[Any, ...]]) -> list[int]:
        result = self.session.execute(self.stmt, [dict(zip(EVENT_COLUMNS, r, strict=True))
                                                  for r in rows])  # fmt: skip
        by_key = {(r[1], r[2]): r[0] for r in result}
        return [by_key[(r[1], r[3])] for r in rows]

    def audit(self, rows: list[tuple[Any, ...]]) -> None:
        self.session.execute(
            insert(self.audit_table), [dict(zip(AUDIT_COLUMNS, r, strict=True)) for r in rows]
        )


def _fast_json(reference: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`json.dumps` with its default settings, reusing one C encoder instead of building
    one per call (half the cost for small objects). Used only when its output is
    identical to `reference` (the column's own serializer) on a sample; else `reference`."""
    sample = {"a": [None, {"k": "v\u00e9\n"}], "b": [None, True], "c": [None, 1], "d": [None, ""]}
    try:
        from json.encoder import c_make_encoder, encode_basestring_ascii

        if c_make_encoder is None:
            return reference
        chunks = c_make_encoder(None, json.JSONEncoder().default, encode_basestring_ascii, None,
                                ": ", ", ", False, False, True)  # fmt: skip

        def dumps(obj: Any) -> str:
            return "".join(chunks(obj, 0))

        return dumps if dumps(sample) == reference(sample) else reference
    except (ImportError, TypeError, ValueError):
        return reference


class _SqliteWriter:
    """SQLite: the driver's executemany, values converted by the columns' own bind
    processors (the conversions SQLAlchemy applies), without SQLAlchemy's per-row work.
    The write transaction (BEGIN IMMEDIATE) excludes other writers, so the new rows are
    exactly those above the largest id seen before the insert."""

    def __init__(self, session: Session, table: Any, audit: Any):
        self.conn = session.connection()
        dialect = self.conn.dialect
        q = dialect.identifier_preparer

        def sql(t: Any, columns: Sequence[str]) -> str:
            return (f"INSERT INTO {q.format_table(t)} ({', '.join(q.quote(c) for c in columns)}) "
                    f"VALUES ({', '.join('?' for _ in columns)})")  # fmt: skip

        self.event_sql, self.audit_sql = sql(table, EVENT_COLUMNS), sql(audit, AUDIT_COLUMNS)
        self.max_sql = f"SELECT max(id) FROM {q.format_table(table)}"
        self.new_sql = (f"SELECT id, subject_id, aeseq FROM {q.format_table(table)} "
                        "WHERE id > ?")  # fmt: skip

        def proc(t: Any, column: str) -> Callable[[Any], Any]:
            p = t.c[column].type.dialect_impl(dialect).bind_processor(dialect)
            return p if p is not None else (lambda v: v)

        self.json = _fast_json(proc(table, "aerel"))
        self.audit_json = _fast_json(proc(audit, "changes"))
        self.ev_time, self.audit_time = proc(table, "created_at"), proc(audit, "at")
        self.small: dict[tuple[Any, ...], Any] = {}  # aerel/aeacn objects repeat a lot

    def _small_json(self, value: dict[str, Any]) -> Any:
        key = tuple(value.items())
        out = self.small.get(key)
        if out is None:
            out = self.small[key] = self.json(value)
        return out

    def events(self, rows: list[tuple[Any, ...]]) -> list[int]:
        if not rows:
            return []
        j = self._small_json
        first = rows[0]
        created, submitted = first[_CREATED_AT], first[_CREATED_AT + 2]
        t_created = self.ev_time(created)
        t_submitted = self.ev_time(submitted) if submitted is not None else None
        params = [(*r[:_AEREL], j(r[_AEREL]), j(r[_AEREL + 1]), *r[_AEREL + 2:_CREATED_AT],
                   t_created, t_created, t_submitted) for r in rows]  # fmt: skip
        before = self.conn.exec_driver_sql(self.max_sql).scalar() or 0
        self.conn.exec_driver_sql(self.event_sql, params)
        by_key = {(s, q): i for i, s, q in self.conn.exec_driver_sql(self.new_sql, (before,))}
        return [by_key[(r[1], r[3])] for r in rows]

    def audit(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        j = self.audit_json
        at = self.audit_time(rows[0][0])
        self.conn.exec_driver_sql(self.audit_sql, [(at, *r[1:8], j(r[8]), r[9]) for r in rows])


def create_events_bulk(*, session: Session, actor: Actor, study_id: str, rows: Sequence[BulkRow],
                       submit: bool, site_ids: set[int] | None = None,
                       progress: Progress | None = None,
                       warnings: list[RowIssue] | None = None) -> list[int]:  # fmt: skip
    """Create one event per row, all or none; returns their ids in row order.

    Call inside one `write_session`. Raises `BulkValidationFailed` (nothing written by
    this function) when any row has any problem; a USUBJID not in the study, or not at
    one of `site_ids` when given, is an "unknown subject". `progress(done, total)` counts
    each row once when checked and once when stored (total = 2 x rows). Warnings (onset
    before consent) are appended to `warnings` when a list is given.
    """
    total = 2 * len(rows)
    with gc_paused():
        ctx = BulkContext.load(session, study_id, site_ids)
        checked = (lambda n: progress(n, total)) if progress else None
        prepared, errors, found = prepare_events(ctx, rows, submit=submit, on_row=checked)
        if warnings is not None:
            warnings.extend(found)
        if errors:
            raise BulkValidationFailed(errors, found)
        n = len(rows)
        stored = (lambda k: progress(n + k, total)) if progress else None
        return insert_events(session=session, actor=actor, prepared=prepared, submit=submit,
                             on_row=stored)  # fmt: skip


__all__ = [
    "BulkContext",
    "BulkRow",
    "BulkValidationFailed",
    "RowIssue",
    "create_events_bulk",
    "gc_paused",
    "insert_events",
    "prepare_events",
]
