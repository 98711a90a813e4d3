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

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
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
    subject: Subject
    data: EventInput
    derived: dict[str, Any]
    aesi: str


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
        subject_id = subject.id
        aesi = aesi_value(catalog, code, data.aestdtc, rule_drug,
                          lambda drug, s=subject_id: ctx.infusion_starts(s, drug))  # type: ignore[misc]  # fmt: skip
        prepared.append(_Prepared(subject, data, derived_fields(data, term, label), aesi))
    if on_row is not None:
        on_row(len(rows))
    return prepared, errors, warnings


def _last_seq(session: Session, subject_ids: Iterable[int]) -> dict[int, int]:
    """Lock the subjects' rows (as create_event does) and read their last AESEQ."""
    ids = sorted(set(subject_ids))
    out: dict[int, int] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        session.exec(select(Subject.id).where(Subject.id.in_(chunk))  # type: ignore[union-attr]
                     .with_for_update(key_share=True)).all()  # fmt: skip
        q = (select(AdverseEvent.subject_id, func.max(AdverseEvent.aeseq))
             .where(AdverseEvent.subject_id.in_(chunk))  # type: ignore[attr-defined]
             .group_by(AdverseEvent.subject_id))  # fmt: skip
        for subject_id, seq in session.exec(q):
            out[subject_id] = int(seq or 0)
    return out


def insert_events(*, session: Session, actor: Actor, prepared: Sequence[_Prepared], submit: bool,
                  on_row: Callable[[int], None] | None = None) -> list[int]:  # fmt: skip
    """Write prepared events and their audit entries; returns the new ids in row order."""
    seqs = _last_seq(session, (p.subject.id for p in prepared))  # type: ignore[misc]
    now = utcnow()
    status = Status.submitted.value if submit else Status.draft.value
    action = "submit" if submit else "create"
    table = AdverseEvent.__table__  # type: ignore[attr-defined]
    # RETURNING in parameter order would make SQLAlchemy insert row by row on SQLite (no
    # sentinel column); (subject_id, aeseq) identifies each new row instead: the subjects
    # are locked, so nobody else adds events to them meanwhile.
    stmt = insert(table).returning(table.c.id, table.c.subject_id, table.c.aeseq)
    audit = AuditEntry.__table__  # type: ignore[attr-defined]
    ids: list[int] = []
    for start in range(0, len(prepared), BATCH):
        batch = prepared[start:start + BATCH]
        values: list[dict[str, Any]] = []
        for p in batch:
            s, d = p.subject, p.data
            seq = seqs.get(s.id, 0) + 1  # type: ignore[arg-type]
            seqs[s.id] = seq  # type: ignore[index]
            values.append({
                "study_id": s.study_id, "subject_id": s.id, "site_id": s.site_id, "aeseq": seq,
                "status": status, "version": 1,
                "aeterm": d.aeterm, "aelltcd": d.aelltcd, "aetoxgr": d.aetoxgr, "aesev": None,
                "aeser": d.aeser, "aesdth": d.aesdth, "aeslife": d.aeslife,
                "aeshosp": d.aeshosp, "aesdisab": d.aesdisab, "aescong": d.aescong,
                "aesmie": d.aesmie, "aerel": d.aerel, "aeacn": d.aeacn, "aeout": d.aeout,
                "aestdtc": d.aestdtc, "aeendtc": d.aeendtc, "ongoing": d.ongoing,
                "aecontrt": d.aecontrt, "narrative": d.narrative, "aesi": p.aesi,
                **p.derived,
                "preexisting": False, "worsened_dtc": None, "sponsor_te_flag": None,
                "created_by": actor.user_id, "created_at": now, "updated_at": now,
                "submitted_at": now if submit else None,
            })  # fmt: skip
        by_key = {(r[1], r[2]): r[0] for r in session.execute(stmt, values)}
        new_ids = [by_key[(v["subject_id"], v["aeseq"])] for v in values]
        # The rows `audit.service.record_many` writes, built here: its generic `jsonable`
        # walk costs ~100 us per event, and these values are JSON types already.
        session.execute(insert(audit), [
            {"at": now, "actor_id": actor.user_id, "actor": actor.username, "action": action,
             "entity_type": "adverse_event", "entity_id": str(event_id),
             "study_id": v["study_id"], "site_id": v["site_id"], "reason": None,
             "changes": {f: [None, v[f]] for f in EVENT_FIELDS if v[f] is not None}}
            for event_id, v in zip(new_ids, values, strict=True)])  # fmt: skip
        ids.extend(new_ids)
        if on_row is not None:
            on_row(len(ids))
    return ids


def create_events_bulk(*, session: Session, actor: Actor, study_id: str, rows: Sequence[BulkRow],
                       submit: bool, site_ids: set[int] | None = None,
                       progress: Progress | None = None) -> list[int]:  # fmt: skip
    """Create one event per row, all or none; returns their ids in row order.

    Call inside one `write_session`. Raises `BulkValidationFailed` (nothing written by
    this function) when any row has any problem; a USUBJID not in the study, or not at
    one of `site_ids` when given, is an "unknown subject". `progress(done, total)` counts
    each row once when checked and once when stored (total = 2 x rows).
    """
    total = 2 * len(rows)
    ctx = BulkContext.load(session, study_id, site_ids)
    prepared, errors, warnings = prepare_events(
        ctx, rows, submit=submit, on_row=(lambda n: progress(n, total)) if progress else None)
    if errors:
        raise BulkValidationFailed(errors, warnings)
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
    "insert_events",
    "prepare_events",
]
