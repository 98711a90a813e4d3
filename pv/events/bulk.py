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

Likely duplicates (pv.events.duplicates) of an earlier row or a stored event are row errors
unless the row is confirmed (`BulkRow.confirm_duplicate`). `prepare_events` may run in a
read session before the write transaction: `insert_events` checks again, inside it, only
what was stored since. The review queue's tally is counted once per insert, set-wise, not
by a trigger per row (see `insert_events`).
"""

from __future__ import annotations

import functools
import gc
import json
import operator
import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Boolean, func, insert
from sqlmodel import Session, select

from pv.audit import chain
from pv.audit.models import AuditEntry
from pv.audit.service import Actor
from pv.events.duplicates import DuplicateKey, Seen, duplicate_key, stored_keys
from pv.events.models import AdverseEvent, Status
from pv.events.rules import EventInput, check_event
from pv.events.service import (
    EVENT_FIELDS,
    aesi_value,
    clean_input,
    derived_fields,
    infusion_rule_drug,
    is_clean,
    onset_matters,
)
from pv.exposure.models import Exposure
from pv.i18n import gettext as _
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
    """One event to create: the subject's USUBJID and the event as entered.

    `confirm_duplicate`: store it even when it is a likely duplicate (pv.events.duplicates)
    of an earlier row or a stored event. `line`: where the row comes from (a sheet row
    number), used to name an earlier row in a duplicate message; 0 names it by position.
    """

    usubjid: str
    data: EventInput
    confirm_duplicate: bool = False
    line: int = 0


@dataclass(frozen=True, slots=True)
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
    """A checked row: the event's columns up to `aespid` (see EVENT_COLUMNS), AESEQ and
    status left for `insert_events` to fill in; `index`, its position in the rows given to
    `prepare_events`; `confirmed`, whether it may duplicate a stored event."""

    subject_id: int
    values: tuple[Any, ...]
    index: int = -1
    confirmed: bool = False


class PreparedRows(list[_Prepared]):
    """What `prepare_events` returns: the checked rows, and `stored`, the duplicate keys and
    each subject's last AESEQ as read then (`insert_events` re-reads only what came since)."""

    stored: Seen | None = None


class _Subject(NamedTuple):
    """What checking and deriving needs of a subject, read once (ORM attribute reads are
    instrumented and cost as much as a rule)."""

    study_id: str
    id: int
    site_id: int
    consent_date: date | None
    drug_keys: list[str]
    rule_drug: Drug | None
    starts: Callable[[Drug], list[datetime]]


def prepare_events(ctx: BulkContext, rows: Sequence[BulkRow], *, submit: bool,
                   on_row: Callable[[int], None] | None = None,
                   ) -> tuple[PreparedRows, list[RowIssue], list[RowIssue]]:  # fmt: skip
    """Check and derive every row: (prepared rows, errors, warnings). No writes.

    Per row this is `clean_input`, `check_event`, `derived_fields` and `aesi_value`, as
    `create_event` does; what depends only on the subject, the coded term or a repeated
    per-drug answer is looked up once and reused for the rows that share it.

    Likely duplicates (pv.events.duplicates) of an earlier row or of a stored event (read
    with one query per 500 subjects through the context's session) are errors of field
    `confirm_duplicate`, unless the row is confirmed: then a warning names what it repeats.
    """
    prepared = PreparedRows()
    errors: list[RowIssue] = []
    warnings: list[RowIssue] = []
    now_date: date = today()
    catalog, label, terms = ctx.catalog, ctx.label, ctx.terms
    no_release = ctx.release is None
    per_arm: dict[int | None, tuple[list[str], Drug | None]] = {}
    subjects: dict[str, _Subject | None] = {}
    # Equal per-drug answers share one dict: 100,000 rows hold a handful of them.
    shared: dict[tuple[Any, ...], dict[str, Any]] = {}
    derived: dict[tuple[int, int, int], dict[str, Any]] = {}  # (term, aerel, aeacn) ids
    aesi_of: dict[str | None, tuple[str, bool]] = {}  # code -> (AESI keys, onset matters)
    first_of: dict[DuplicateKey, int] = {}  # duplicate key -> the first row holding it
    keyed: list[tuple[int, DuplicateKey]] = []  # rows with a duplicate key
    for i, row in enumerate(rows):
        if on_row is not None and i and i % 1000 == 0:
            on_row(i)
        usubjid = row.usubjid
        subj = subjects.get(usubjid, _MISSING)  # type: ignore[arg-type]
        if subj is _MISSING:
            subj = subjects[usubjid] = _subject(ctx, usubjid, per_arm)
        if subj is None:
            errors.append(RowIssue(i, "usubjid", UNKNOWN_SUBJECT))
            continue
        data = row.data
        if not is_clean(data):
            data = clean_input(data)
        code = data.aelltcd
        term = None if (no_release or not code) else terms.get(code)
        findings = check_event(data, term=term, drug_keys=subj.drug_keys,
                               consent_date=subj.consent_date, today=now_date,
                               submit=submit, release_label=label)  # fmt: skip
        if findings.warnings:
            warnings.extend(RowIssue(i, w.field, w.message) for w in findings.warnings)
        if findings.errors:
            errors.extend(RowIssue(i, e.field, e.message) for e in findings.errors)
            continue
        # Only a row that passes its checks is compared for duplicates (root causes only:
        # a row in error is not also called a duplicate, nor does it make later ones).
        dup_key = duplicate_key(subj.id, code, data.aestdtc)
        if dup_key is not None:
            first_of.setdefault(dup_key, i)
            keyed.append((i, dup_key))
        aesi = aesi_of.get(code)
        if aesi is None:
            keys = catalog.classify(code)
            aesi = aesi_of[code] = (",".join(keys), onset_matters(catalog, keys))
        rule_drug = subj.rule_drug
        if code and aesi[1] and data.aestdtc and rule_drug is not None:
            value = aesi_value(catalog, code, data.aestdtc, rule_drug, subj.starts)
        else:
            value = aesi[0]  # what aesi_value returns when the onset does not matter
        rel = shared.setdefault(tuple(data.aerel.items()), data.aerel)
        acn = shared.setdefault(tuple(data.aeacn.items()), data.aeacn)
        key = (id(term), id(rel), id(acn))
        x = derived.get(key)
        if x is None:
            x = derived[key] = derived_fields(data, term, label)
        prepared.append(_Prepared(subj.id, (
            subj.study_id, subj.id, subj.site_id, 0, None, 1, data.aeterm, x["term_id"],
            data.aelltcd, x["aedecod"], x["aebodsys"], x["terminology"], data.aetoxgr, None,
            data.aeser, data.aesdth, data.aeslife, data.aeshosp, data.aesdisab, data.aescong,
            data.aesmie, rel, acn, x["related"], x["drug_withdrawn"], data.aeout, data.aestdtc,
            data.aeendtc, data.ongoing, data.aecontrt, data.narrative, value, data.aeterm_en,
            data.aeawaredtc, data.preexisting, data.initial_grade, data.worsened_dtc,
            data.aegrpid, data.aespid,
        ), i, row.confirm_duplicate))  # fmt: skip
    if keyed:
        session = ctx._session
        stored = None
        if session is not None:
            stored = prepared.stored = stored_keys(session, {k[0] for _, k in keyed})
        refused = _duplicates(rows, keyed, first_of, stored, errors, warnings)
        if refused:
            prepared[:] = [p for p in prepared if p.index not in refused]
    if on_row is not None:
        on_row(len(rows))
    return prepared, errors, warnings


DUPLICATE_FIELD = "confirm_duplicate"


def _duplicate_message(what: str) -> str:
    return _("likely duplicate of %(what)s: same subject, coded term and onset day; confirm it "
             "(CONFIRM_DUPLICATE = Y) to store it anyway", what=what)  # fmt: skip


def _row_name(rows: Sequence[BulkRow], index: int) -> str:
    line = rows[index].line
    return _("row %(line)s", line=line) if line else _("row #%(n)s of the upload", n=index + 1)


def _stored_name(usubjid: str, seq: int, event_id: int) -> str:
    return _("%(usubjid)s AESEQ %(seq)s (event %(id)s), already stored",
             usubjid=usubjid.strip(), seq=seq, id=event_id)  # fmt: skip


def _duplicates(rows: Sequence[BulkRow], keyed: list[tuple[int, DuplicateKey]],
                first_of: dict[DuplicateKey, int], stored: Seen | None,
                errors: list[RowIssue], warnings: list[RowIssue]) -> set[int]:  # fmt: skip
    """Report each keyed row that repeats a stored event or an earlier row (the stored
    event is named first: it is what a re-upload repeats); returns the rows refused."""
    refused: set[int] = set()
    for i, key in keyed:
        hit = stored.get(key) if stored is not None else None
        if hit is not None:
            what = _stored_name(rows[i].usubjid, hit[1], hit[0])
        elif first_of[key] != i:
            what = _row_name(rows, first_of[key])
        else:
            continue
        if rows[i].confirm_duplicate:
            warnings.append(RowIssue(i, DUPLICATE_FIELD,
                                     _("stored although a likely duplicate of %(what)s",
                                       what=what)))  # fmt: skip
        else:
            errors.append(RowIssue(i, DUPLICATE_FIELD, _duplicate_message(what)))
            refused.add(i)
    return refused


_MISSING: Any = object()


def _subject(ctx: BulkContext, usubjid: str | None,
             per_arm: dict[int | None, tuple[list[str], Drug | None]]
             ) -> _Subject | None:  # fmt: skip
    subject = ctx.subjects.get((usubjid or "").strip())
    if subject is None:
        return None
    arm = per_arm.get(subject.arm_id)
    if arm is None:
        drugs = ctx.drugs_of(subject)
        arm = per_arm[subject.arm_id] = ([d.key for d in drugs],
                                         infusion_rule_drug(ctx.catalog, drugs))  # fmt: skip
    subject_id: int = subject.id  # type: ignore[assignment]
    return _Subject(subject.study_id, subject_id, subject.site_id, subject.consent_date,
                    arm[0], arm[1], functools.partial(ctx.infusion_starts, subject_id))  # fmt: skip


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
    "aeterm_en", "aeawaredtc", "preexisting", "initial_grade", "worsened_dtc", "aegrpid",
    "aespid", "sponsor_te_flag", "created_by", "created_at", "updated_at", "submitted_at",
)  # fmt: skip
AUDIT_COLUMNS = ("at", "actor_id", "actor", "action", "entity_type", "entity_id", "study_id",
                 "site_id", "changes", "reason")  # fmt: skip
_AUDITED = tuple((f, EVENT_COLUMNS.index(f)) for f in EVENT_FIELDS)
_AEREL, _CREATED_AT = EVENT_COLUMNS.index("aerel"), EVENT_COLUMNS.index("created_at")
assert EVENT_COLUMNS[_AEREL + 1] == "aeacn"
assert EVENT_COLUMNS[_CREATED_AT:] == ("created_at", "updated_at", "submitted_at")
_VALUES = EVENT_COLUMNS.index("aespid") + 1  # what `_values` builds; `insert_events` adds:
assert EVENT_COLUMNS[_VALUES:] == (
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

    Likely duplicates are checked again once the subjects are locked: an event stored
    since `prepare_events` read them (the same file uploaded twice at once, a form) that a
    row not confirmed repeats refuses the whole write (`BulkValidationFailed`, raised before
    anything is written). Only subjects whose last AESEQ grew since are read again (AESEQ
    only grows, under the subject's lock); rows prepared elsewhere (a plain list, without
    `stored`) are checked against every stored event of their subjects.

    The review queue's tally: on SQLite the per-row insert trigger is dropped for this
    insert and created again from its stored SQL, inside this transaction (other
    connections never see it missing; a failure rolls the drop back), and the new events
    are counted once with one grouped upsert; PostgreSQL counts them per statement from
    a transition table (migration 0005).
    """
    seqs = _last_seq(session, (p.subject_id for p in prepared))
    _recheck(session, prepared, seqs)
    now = utcnow()
    status = Status.submitted.value if submit else Status.draft.value
    action = "submit" if submit else "create"
    submitted_at = now if submit else None
    tail = (None, actor.user_id, now, now, submitted_at)
    table = AdverseEvent.__table__  # type: ignore[attr-defined]
    audit = AuditEntry.__table__  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "sqlite":
        constants: dict[str, Any] = dict(zip(EVENT_COLUMNS[_VALUES:], tail, strict=True))
        constants.update(status=status, version=1, aesev=None)
        audit_constants = {
            "at": now,
            "actor_id": actor.user_id,
            "actor": actor.username,
            "action": action,
            "entity_type": "adverse_event",
            "reason": None,
        }
        writer: _SqliteWriter | _CoreWriter = _SqliteWriter(session, table, audit, constants,
                                                            audit_constants)  # fmt: skip
    else:
        writer = _CoreWriter(session, table, audit)
    head = (actor.user_id, actor.username, action, "adverse_event")  # audit columns 2-5
    ids: list[int] = []
    if not prepared:
        return ids
    bulk = writer if isinstance(writer, _SqliteWriter) else None
    after = bulk.pause_tally() if bulk is not None else 0
    try:
        for start in range(0, len(prepared), BATCH):
            rows = []
            for p in prepared[start : start + BATCH]:
                sid, v = p[0], p[1]
                seq = seqs[sid] = seqs.get(sid, 0) + 1
                rows.append((*v[:3], seq, status, *v[5:], *tail))
            new_ids = writer.events(rows)
            writer.audit(now, head, new_ids, rows)
            ids.extend(new_ids)
            if on_row is not None:
                on_row(len(ids))
        if bulk is not None:
            bulk.count_tally(after)
    except BaseException:
        if bulk is not None:  # the caller rolls back, which restores the trigger anyway
            with suppress(Exception):
                bulk.resume_tally()
        raise
    if bulk is not None:
        bulk.resume_tally()
    return ids


_CODE, _ONSET = EVENT_COLUMNS.index("aelltcd"), EVENT_COLUMNS.index("aestdtc")


def _recheck(session: Session, prepared: Sequence[_Prepared], seqs: dict[int, int]) -> None:
    """Refuse rows that repeat an event stored since they were prepared (see insert_events)."""
    candidates = {p[0] for p in prepared if not p.confirmed and p[1][_CODE] and p[1][_ONSET]}
    stored = getattr(prepared, "stored", None)
    if stored is None:
        changed = {s for s in candidates if seqs.get(s, 0) > 0}
        above = None
    else:
        changed = {s for s in candidates if seqs.get(s, 0) > stored.last_seq.get(s, 0)}
        above = stored.last_seq
    if not changed:
        return
    fresh = stored_keys(session, changed, above=above)
    if not fresh:
        return
    names = dict(session.exec(select(Subject.id, Subject.usubjid).where(
        Subject.id.in_(sorted(changed)))).all())  # type: ignore[union-attr]  # fmt: skip
    errors = []
    for n, p in enumerate(prepared):
        if p.confirmed or p[0] not in changed:
            continue
        hit = fresh.get(duplicate_key(p[0], p[1][_CODE], p[1][_ONSET]))  # type: ignore[arg-type]
        if hit is not None:
            what = _stored_name(names.get(p[0], "?"), hit[1], hit[0])
            errors.append(RowIssue(p.index if p.index >= 0 else n, DUPLICATE_FIELD,
                                   _duplicate_message(what)))  # fmt: skip
    if errors:
        raise BulkValidationFailed(errors)


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

    def audit(self, at: datetime, head: tuple[Any, ...], ids: list[int],
              rows: list[tuple[Any, ...]]) -> None:  # fmt: skip
        entries = [dict(zip(AUDIT_COLUMNS, (at, *head, str(event_id), row[0], row[2],
                                            _changes(row), None), strict=True))
                   for event_id, row in zip(ids, rows, strict=True)]  # fmt: skip
        links = chain.link(self.session.connection(), entries)  # time, ids, hash chain
        self.session.execute(insert(self.audit_table), chain.rows_for_insert(links, entries))


def _same(value: Any) -> Any:
    return value


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
    exactly those above the largest id seen before the insert.

    The INSERT lists the columns grouped by conversion: values passed as they are, JSON
    objects, flags, then the load's constants. Flags matter: the sqlite3 module binds a
    Python bool only after failing to find an adapter for it (two attribute lookups
    raising AttributeError per value, a fifth of the insert's CPU with eleven flags a
    row); the Boolean bind processor gives it the integer directly, as SQLAlchemy would,
    and a row's flags are converted once per distinct combination. Constants this code
    makes itself (status, version, time stamps, NULLs, the actor's id) are written into
    the statement as SQL literals instead of being bound again for every row; any other
    constant (the user name, say) stays a bound parameter."""

    def __init__(self, session: Session, table: Any, audit: Any,
                 constants: dict[str, Any], audit_constants: dict[str, Any]):  # fmt: skip
        self.session, self.conn = session, session.connection()
        dialect = self.conn.dialect
        q = dialect.identifier_preparer

        def proc(t: Any, column: str) -> Callable[[Any], Any] | None:
            return t.c[column].type.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]

        def split(t: Any, given: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
            """Constants as SQL literals where that is safe, bound otherwise."""
            literals, bound = {}, {}
            for column, value in given.items():
                p = proc(t, column)
                value = p(value) if p is not None and value is not None else value
                text = _sql_literal(value)
                if text is None:
                    bound[column] = value
                else:
                    literals[column] = text
            return literals, bound

        def sql(t: Any, columns: Sequence[str], literals: dict[str, str]) -> str:
            names = [*columns, *literals]
            values = ["?"] * len(columns) + list(literals.values())
            return (f"INSERT INTO {q.format_table(t)} ({', '.join(q.quote(c) for c in names)}) "
                    f"VALUES ({', '.join(values)})")  # fmt: skip

        literals, bound = split(table, constants)
        fixed = {EVENT_COLUMNS.index(c) for c in constants}
        json_at = (_AEREL, _AEREL + 1)
        flags = tuple(i for i, c in enumerate(EVENT_COLUMNS) if i not in (*json_at, *fixed)
                      and isinstance(table.c[c].type, Boolean))  # fmt: skip
        rest = [i for i in range(len(EVENT_COLUMNS)) if i not in (*json_at, *flags, *fixed)]
        plain = tuple(i for i in rest if proc(table, EVENT_COLUMNS[i]) is None)
        other = tuple(i for i in rest if i not in plain)
        order = [EVENT_COLUMNS[i] for i in (*plain, *other, *json_at, *flags)]
        self.event_sql = sql(table, [*order, *bound], literals)
        self.event_bound = tuple(bound.values())
        literals, bound = split(audit, audit_constants)
        self.audit_sql = sql(audit, ["entity_id", "study_id", "site_id", "changes",
                                     "prev_digest", "digest", *bound], literals)  # fmt: skip
        self.audit_bound = tuple(bound.values())
        assert set(AUDIT_COLUMNS) == {"entity_id", "study_id", "site_id", "changes",
                                      *audit_constants}  # fmt: skip
        self.plain = operator.itemgetter(*plain)
        self.other = tuple((i, proc(table, EVENT_COLUMNS[i])) for i in other)
        self.flags = operator.itemgetter(*flags)
        self.flag_procs = tuple(proc(table, EVENT_COLUMNS[i]) or _same for i in flags)
        self.flag_values: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.max_sql = f"SELECT max(id) FROM {q.format_table(table)}"
        self.new_sql = (f"SELECT id, subject_id, aeseq FROM {q.format_table(table)} "
                        "WHERE id > ?")  # fmt: skip
        self.span_sql = f"SELECT count(*), max(id) FROM {q.format_table(table)} WHERE id > ?"
        self.json = _fast_json(proc(table, "aerel") or _same)
        self.trigger_sql: str | None = None  # the paused tally trigger, to create again
        self.small: dict[int, tuple[Any, Any]] = {}  # aerel/aeacn objects repeat a lot
        self.changes = _changes_text(proc(audit, "changes") or _same, self._small_json)
        self.canonical = chain.creation_changes(_AUDITED)  # the hash chain's text of them

    def pause_tally(self) -> int:
        """Drop the per-row tally trigger for this transaction's inserts, keeping its SQL
        (any row trigger, even one that does nothing, costs about as much per row as the
        whole insert: migration 0005); returns the largest event id before the inserts
        (the new ones are above it: the write transaction excludes other writers)."""
        self.trigger_sql = self.conn.exec_driver_sql(_TRIGGER_SQL, (_TALLY_TRIGGER,)).scalar()
        if self.trigger_sql is not None:
            self.conn.exec_driver_sql(f'DROP TRIGGER "{_TALLY_TRIGGER}"')
        return int(self.conn.exec_driver_sql(self.max_sql).scalar() or 0)

    def count_tally(self, after: int) -> None:
        """Count the events above id `after` into the tally, as the dropped trigger would
        have one by one: one grouped upsert (nothing when there was no trigger)."""
        if self.trigger_sql is not None:
            self.conn.exec_driver_sql(_TALLY_SQL, (after,))

    def resume_tally(self) -> None:
        """Create the trigger again, exactly as it was stored."""
        if self.trigger_sql is not None:
            self.conn.exec_driver_sql(self.trigger_sql)
            self.trigger_sql = None

    def _small_json(self, value: dict[str, Any]) -> Any:
        # Keyed by identity: prepare_events shares one dict among equal answers (and the
        # entry keeps the dict alive, so its id is not reused while cached).
        hit = self.small.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        out = self.json(value)
        self.small[id(value)] = (value, out)
        return out

    def events(self, rows: list[tuple[Any, ...]]) -> list[int]:
        if not rows:
            return []
        j = self._small_json
        plain, other, flags, flag_values = self.plain, self.other, self.flags, self.flag_values
        bound = self.event_bound
        params = []
        for r in rows:
            key = flags(r)
            f = flag_values.get(key)
            if f is None:
                f = flag_values[key] = tuple(p(v) for p, v in zip(self.flag_procs, key,
                                                                   strict=True))  # fmt: skip
            extra = tuple(p(r[i]) if p else r[i] for i, p in other) if other else ()
            params.append((*plain(r), *extra, j(r[_AEREL]), j(r[_AEREL + 1]), *f, *bound))
        before = self.conn.exec_driver_sql(self.max_sql).scalar() or 0
        with _nulls_bound_directly():
            self.conn.exec_driver_sql(self.event_sql, params)
        # Each row inserted gets the largest id + 1 (SQLite's rule without AUTOINCREMENT),
        # so the batch holds ids before+1 .. before+n in row order; one aggregate confirms
        # it (n rows above `before`, the largest before+n), else the ids are read back.
        n = len(rows)
        count, last = self.conn.exec_driver_sql(self.span_sql, (before,)).one()
        if count == n and last == before + n:
            return list(range(before + 1, before + n + 1))
        by_key = {(s, q): i for i, s, q in self.conn.exec_driver_sql(self.new_sql, (before,))}
        return [by_key[(r[1], r[3])] for r in rows]

    def audit(self, at: datetime, head: tuple[Any, ...], ids: list[int],
              rows: list[tuple[Any, ...]]) -> None:  # fmt: skip
        if not rows:
            return
        changes, bound = self.changes, self.audit_bound
        # The hash chain (pv/audit/chain.py): digests for the ids the entries will get.
        canonical = self.canonical
        links = chain.link_rows(self.session, actor_id=head[0], actor=head[1], action=head[2],
                                entity_type=head[3], at=at, rows=[
                                    (str(event_id), row[0], row[2], canonical(row))
                                    for event_id, row in zip(ids, rows, strict=True)])  # fmt: skip
        params = [(str(event_id), row[0], row[2], changes(row), *link, *bound)
                  for event_id, row, link in zip(ids, rows, links.digests,
                                                 strict=True)]  # fmt: skip
        with _nulls_bound_directly():
            self.conn.exec_driver_sql(self.audit_sql, params)
        chain.confirm(self.conn, links)


# The review queue's tally of the events above an id, grouped by its key as the triggers of
# migration 0002 count one event (pv.review.models.QueueTally); the SQLite insert trigger.
_TALLY_TRIGGER = "queue_tally_ae_insert"
_TRIGGER_SQL = "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?"
_TALLY_KEY = "study_id, site_id, arm_id, status, serious, grade3, aesi"
_TALLY_SQL = (
    f"INSERT INTO queue_tally ({_TALLY_KEY}, n) "
    "SELECT e.study_id, e.site_id, COALESCE(s.arm_id, 0), e.status, "
    "CASE WHEN e.aeser IS NULL THEN -1 WHEN e.aeser THEN 1 ELSE 0 END, "
    "CASE WHEN e.aetoxgr >= 3 THEN 1 ELSE 0 END, COALESCE(e.aesi, ''), count(*) "
    "FROM adverseevent e LEFT JOIN subject s ON s.id = e.subject_id WHERE e.id > ? "
    "GROUP BY 1, 2, 3, 4, 5, 6, 7 "
    f"ON CONFLICT ({_TALLY_KEY}) DO UPDATE SET n = queue_tally.n + excluded.n"
)

_LITERAL_TEXT = re.compile(r"[0-9A-Za-z_ :.+-]{0,64}")


def _sql_literal(value: Any) -> str | None:
    """`value` as an SQLite literal when it is one beyond doubt: NULL, an integer, or a
    short text of letters, digits and ` _:.+-` (status words, time stamps); else None."""
    if value is None:
        return "NULL"
    if type(value) is int:
        return str(value)
    if type(value) is str and _LITERAL_TEXT.fullmatch(value):
        return f"'{value}'"
    return None


def _null(value: None) -> None:
    return None


@contextmanager
def _nulls_bound_directly() -> Iterator[None]:
    """Bind None as NULL without the sqlite3 module's adaptation search, for one insert.

    The module binds int, float, str and bytes directly but looks for an adapter for
    anything else, None included: two failed attribute lookups, each raising and clearing
    an AttributeError (measured: ~2,500 CPU instructions per None, ~10% of the event
    insert with five empty columns a row). Registering an adapter for NoneType that
    returns None makes that a dictionary hit; the value bound is NULL either way. The
    registry is the module's (process-wide), so the entry is added only when no one has
    one for NoneType, and removed afterwards only if it is still this one."""
    registry = getattr(sqlite3, "adapters", None)
    key = (type(None), sqlite3.PrepareProtocol)
    if not isinstance(registry, dict) or key in registry:
        yield
        return
    registry[key] = _null
    try:
        yield
    finally:
        if registry.get(key) is _null:
            del registry[key]


def _changes_text(reference: Callable[[Any], Any], object_json: Callable[[Any], Any]
                  ) -> Callable[[tuple[Any, ...]], Any]:  # fmt: skip
    """`reference(_changes(row))` (the audit column's serializer applied to what
    `create_event` audits) without building the dict: the text of each field is put
    together directly, as `json.dumps` writes it ("key": [null, value], ", " between).

    Used only when it gives the very same text as `reference` on a sample covering every
    kind of value a row holds; otherwise `reference(_changes(row))` itself."""
    from json.encoder import encode_basestring_ascii as text

    def slow(row: tuple[Any, ...]) -> Any:
        return reference(_changes(row))

    value_json = _fast_json(reference)
    # Per field: its index in the row, '"field": [null, ' and the text of repeated values
    # (codes, terms, dates, outcomes: most rows repeat them; free text is not kept).
    keys: tuple[tuple[int, str, dict[str, str]], ...] = tuple(
        (i, f"{text(f)}: [null, ", {}) for f, i in _AUDITED
    )

    def fast(row: tuple[Any, ...]) -> Any:
        parts = []
        for i, key, seen in keys:
            v = row[i]
            if v is None:
                continue
            t = type(v)
            if t is str:
                piece = seen.get(v)
                if piece is None:
                    piece = key + text(v) + "]"
                    if len(v) <= 40 and len(seen) < 1000:
                        seen[v] = piece
                parts.append(piece)
            elif t is bool:
                parts.append(key + ("true]" if v else "false]"))
            elif t is int:
                parts.append(f"{key}{v!r}]")
            elif t is dict:
                parts.append(key + object_json(v) + "]")
            else:
                parts.append(key + value_json(v) + "]")
        return "{" + ", ".join(parts) + "}"

    sample: list[Any] = [None] * len(EVENT_COLUMNS)
    values = ["NCT-1", 7, 1, -3, "submitted", 1, "caf\u00e9 \"x\"\n\t\\ \u2603 \U0001f600", None,
              "10019211", "", "SOC", "CTCAE 5.0", 2, 1.5, True, False, False, True, False, False,
              False, {"belimumab": "RELATED", "x\u00e9": ""}, {}, True, False, "FATAL",
              "2021-03", None, False, "\x00\x1f", 2**70, "a,b", "\u80ba\u708e en",
              "2021-03-02", True, 2, "2021-03-05", "G\u00e91", None]  # fmt: skip
    for (_f, i), v in zip(_AUDITED, values, strict=True):
        sample[i] = v
    try:
        if fast(tuple(sample)) == slow(tuple(sample)):
            return fast
    except (TypeError, ValueError):
        pass
    return slow


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
        ids = insert_events(session=session, actor=actor, prepared=prepared, submit=submit,
                            on_row=stored)  # fmt: skip
        if submit:
            store_sae_clocks(session, actor, prepared, ids)
        return ids


_AESER, _AWARE = EVENT_COLUMNS.index("aeser"), EVENT_COLUMNS.index("aeawaredtc")


def store_sae_clocks(session: Session, actor: Actor, prepared: Sequence[_Prepared],
                ids: Sequence[int]) -> None:  # fmt: skip
    """The site's 24 h clock of each serious event submitted, as `create_event` stores it."""
    from pv.review.reports import store_sae_clock  # reports builds on the events service

    sent = utcnow()
    for p, event_id in zip(prepared, ids, strict=True):
        v = p.values
        if v[_AESER]:
            store_sae_clock(session, actor, event_id=event_id, study_id=v[0],
                            aeawaredtc=v[_AWARE], sent=sent)  # fmt: skip


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
