"""The only write path for adverse events: create, follow up, submit.

Every change is validated by `rules.check_event` (all problems at once), guarded by the
event's version (optimistic concurrency), and written to the audit trail with the old
and new value of each field, so that the audit history alone rebuilds every event.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from pv.audit.service import Actor, diff, record
from pv.events.dates import parse_dtc
from pv.events.duplicates import DuplicateEvent, confirmed, find_duplicates
from pv.events.models import RELATED_VALUES, AdverseEvent, Status
from pv.events.rules import EventInput, Findings, check_event
from pv.exposure.models import Exposure
from pv.i18n import gettext as _
from pv.inputs import field_text_problem
from pv.notify.service import event_saved
from pv.study.models import ArmDrug, Drug, Subject
from pv.terminology.aesi import AesiCatalog
from pv.terminology.models import Term
from pv.terminology.search import current_release
from pv.timeutil import today, utcnow

# The fields the audit trail carries; replaying it rebuilds exactly these.
EVENT_FIELDS = (
    "study_id", "subject_id", "site_id", "aeseq", "status", "version", "aeterm", "term_id",
    "aelltcd", "aedecod", "aebodsys", "terminology", "aetoxgr", "aesev", "aeser", "aesdth",
    "aeslife", "aeshosp", "aesdisab", "aescong", "aesmie", "aerel", "aeacn", "related",
    "drug_withdrawn", "aeout", "aestdtc", "aeendtc", "ongoing", "aecontrt", "narrative", "aesi",
    "aeterm_en", "aeawaredtc", "preexisting", "initial_grade", "worsened_dtc", "aegrpid",
    "aespid",
)  # fmt: skip
# Fields added to EVENT_FIELDS by issue 14 (a pre-existing condition, the episode): a
# signature made before holds none of them (pv.review.signing leaves them out at their
# defaults, so that it stays valid).
ROUND2_FIELDS = ("preexisting", "initial_grade", "worsened_dtc", "aegrpid", "aespid")
INPUT_FIELDS = tuple(f.name for f in dataclasses.fields(EventInput))


class ValidationFailed(ValueError):
    def __init__(self, findings: Findings):
        self.findings = findings
        super().__init__("; ".join(f"{i.field}: {i.message}" for i in findings.errors))


class VersionConflict(Exception):
    """The event changed since the caller read it; `current` is what is stored now."""

    def __init__(self, current: AdverseEvent):
        self.current = current
        super().__init__(f"event {current.id} is at version {current.version}")


class NotEditable(Exception):
    pass


def snapshot(event: AdverseEvent) -> dict[str, Any]:
    return {f: getattr(event, f) for f in EVENT_FIELDS}


def to_input(event: AdverseEvent) -> EventInput:
    return EventInput(**{f: getattr(event, f) for f in INPUT_FIELDS})


def subject_drugs(session: Session, subject: Subject) -> list[Drug]:
    """The subject's study drugs: those of their arm (all the study's when not randomized)."""
    q = select(Drug).where(Drug.study_id == subject.study_id)
    if subject.arm_id is not None:
        q = q.join(ArmDrug, ArmDrug.drug_id == Drug.id).where(ArmDrug.arm_id == subject.arm_id)
    return list(session.exec(q.order_by(Drug.name)))


def _term(session: Session, code: str | None) -> tuple[Term | None, str]:
    release = current_release(session)
    label = release.label if release else "CTCAE 5.0"
    if not code or release is None:
        return None, label
    term = session.exec(
        select(Term).where(Term.release_id == release.id, Term.code == code.strip())
    ).first()
    return term, label


def aesi_value(catalog: AesiCatalog, code: str | None, onset: str | None,
               rule_drug: Drug | None, infusion_starts: Callable[[Drug], Sequence[datetime]]
               ) -> str:  # fmt: skip
    """The event's AESI grouping keys (comma-separated), derived from its coded term.

    "possible_infusion_reaction" is added when the subject receives the rule's drug
    (`rule_drug`, None when not) and a complete onset falls within the window of one of
    its infusions; `infusion_starts(drug)` is only called in that case.
    """
    keys = catalog.classify(code)
    # The rule only concerns codes of its groupings: skip the date work for the others.
    if code and onset and rule_drug is not None and onset_matters(catalog, keys):
        try:
            when = parse_dtc(onset)
        except ValueError:
            when = None
        if when is not None and when.complete:
            starts = infusion_starts(rule_drug)
            if any(catalog.possible_infusion_reaction(code=code, onset=t, infusion_starts=starts)
                   for t in (when.earliest, when.latest)):  # fmt: skip
                keys.append("possible_infusion_reaction")
    return ",".join(keys)


def onset_matters(catalog: AesiCatalog, keys: Sequence[str]) -> bool:
    """Whether `aesi_value` looks at the onset for a code of these grouping keys (those of
    the possible-infusion-reaction rule); for any other code it is ",".join(keys)."""
    rule = catalog.rules.get("possible_infusion_reaction", {})
    return bool(set(rule.get("groupings", ())) & set(keys))


def infusion_rule_drug(catalog: AesiCatalog, drugs: Sequence[Drug]) -> Drug | None:
    """The subject's drug named by the possible-infusion-reaction rule, if they receive it."""
    rule_drug = catalog.rules.get("possible_infusion_reaction", {}).get("drug")
    return next((d for d in drugs if d.key == rule_drug), None)


def _aesi(session: Session, subject: Subject, code: str | None, onset: str | None,
          drugs: Sequence[Drug]) -> str:  # fmt: skip
    from pv.terminology.aesi import load_aesi

    catalog = load_aesi()

    def starts(drug: Drug) -> list[datetime]:
        return [e.start for e in session.exec(
            select(Exposure).where(Exposure.subject_id == subject.id,
                                   Exposure.drug_id == drug.id,
                                   Exposure.frequency == "ONCE"))]  # fmt: skip

    return aesi_value(catalog, code, onset, infusion_rule_drug(catalog, drugs), starts)


def derived_fields(data: EventInput, term: Term | None, label: str) -> dict[str, Any]:
    """Fields derived from the input and its coded term (all but `aesi`)."""
    return {
        "term_id": term.id if term else None,
        "aedecod": term.term if term else None,
        "aebodsys": term.soc if term else None,
        "terminology": label if term else None,
        "related": any(v in RELATED_VALUES for v in data.aerel.values()),
        "drug_withdrawn": "DRUG WITHDRAWN" in data.aeacn.values(),
    }


def _apply(session: Session, event: AdverseEvent, subject: Subject, data: EventInput,
           term: Term | None, label: str, drugs: Sequence[Drug]) -> None:  # fmt: skip
    for name in INPUT_FIELDS:
        setattr(event, name, getattr(data, name))
    for name, value in derived_fields(data, term, label).items():
        setattr(event, name, value)
    event.aesi = _aesi(session, subject, event.aelltcd, event.aestdtc, drugs)


def clean_input(data: EventInput) -> EventInput:
    """Blank text is no value; Y/N criteria are off unless set; empty per-drug answers dropped."""
    values: dict[str, Any] = {}
    for name in INPUT_FIELDS:
        v = getattr(data, name)
        if isinstance(v, str):
            v = v.strip() or None
        values[name] = v
    values["aerel"] = {k: v for k, v in (data.aerel or {}).items() if v}
    values["aeacn"] = {k: v for k, v in (data.aeacn or {}).items() if v}
    return EventInput(**values)


_input_values = operator.attrgetter(*INPUT_FIELDS)


def is_clean(data: EventInput) -> bool:
    """True when `clean_input(data)` would hold exactly the values `data` holds: no text to
    trim or blank, per-drug answers plain dicts without empty values. The bulk write path
    (100,000 rows) then uses `data` itself instead of a copy."""
    if type(data) is not EventInput:
        return False
    for v in _input_values(data):
        if isinstance(v, str) and (type(v) is not str or not v or v[0].isspace()
                                   or v[-1].isspace()):  # fmt: skip
            return False
    rel, acn = data.aerel, data.aeacn
    return type(rel) is dict and type(acn) is dict and all(rel.values()) and all(acn.values())


_clean = clean_input


def validate(session: Session, subject: Subject, data: EventInput, *, submit: bool,
             consent_confirmed: bool | None = None,
             ) -> tuple[Findings, Term | None, str, list[Drug]]:  # fmt: skip
    term, label = _term(session, data.aelltcd)
    drugs = subject_drugs(session, subject)
    findings = check_event(
        data,
        term=term,
        drug_keys=[d.key for d in drugs],
        consent_date=subject.consent_date,
        today=today(),
        submit=submit,
        release_label=label,
        consent_confirmed=consent_confirmed,
    )
    return findings, term, label, drugs


def _sync_sae_clock(session: Session, actor: Actor, event: AdverseEvent) -> None:
    """A submitted serious event gets the site's 24 h clock at once (pv.review.reports)."""
    if event.aeser and event.status != Status.draft:
        from pv.review.reports import sync_sae_clock  # reports builds on this module

        sync_sae_clock(session, actor, event)


def create_event(*, session: Session, actor: Actor, subject: Subject, data: EventInput,
                 submit: bool = False, confirm_duplicate: bool | Collection[int] = False,
                 confirm_before_consent: bool = False,
                 ) -> tuple[AdverseEvent, Findings]:  # fmt: skip
    """Store a new event (a draft, or submitted with `submit`).

    An onset before the subject's informed consent is refused (error of field
    `confirm_before_consent`) unless `confirm_before_consent`. A serious event submitted
    gets the site's 24 h clock (from its awareness date, AEAWAREDTC).

    Raises `ValidationFailed` with every problem, or `DuplicateEvent` when the event is a
    likely duplicate of stored events (pv.events.duplicates) that `confirm_duplicate` does
    not cover: True confirms any, a collection of event ids only those events.
    """
    data = _clean(data)
    findings, term, label, drugs = validate(session, subject, data, submit=submit,
                                            consent_confirmed=confirm_before_consent)  # fmt: skip
    if not findings.ok:
        raise ValidationFailed(findings)
    # AESEQ is max + 1 within the subject: lock the subject row first so that concurrent
    # creates for one subject queue here instead of reading the same max (PostgreSQL, READ
    # COMMITTED). FOR NO KEY UPDATE leaves foreign-key checks on the subject unblocked.
    # SQLite ignores the clause; its BEGIN IMMEDIATE already serializes writers.
    session.exec(
        select(Subject.id).where(Subject.id == subject.id).with_for_update(key_share=True)
    ).one()
    # Checked under the subject's lock: the same event posted twice at once is refused once.
    if confirm_duplicate is not True:
        found = find_duplicates(session, subject_id=subject.id, aelltcd=data.aelltcd,  # type: ignore[arg-type]
                                aestdtc=data.aestdtc)  # fmt: skip
        if found and not confirmed(confirm_duplicate, found):
            raise DuplicateEvent(found)
    seq = session.exec(
        select(func.coalesce(func.max(AdverseEvent.aeseq), 0)).where(
            AdverseEvent.subject_id == subject.id)
    ).one()  # fmt: skip
    now = utcnow()
    event = AdverseEvent(
        study_id=subject.study_id, subject_id=subject.id, site_id=subject.site_id,  # type: ignore[arg-type]
        aeseq=int(seq) + 1, aeterm=data.aeterm or "", created_by=actor.user_id,
        status=Status.submitted if submit else Status.draft, created_at=now, updated_at=now,
        submitted_at=now if submit else None,
    )  # fmt: skip
    _apply(session, event, subject, data, term, label, drugs)
    session.add(event)
    session.flush()
    record(session=session, actor=actor, action="submit" if submit else "create",
           entity_type="adverse_event", entity_id=event.id, study_id=event.study_id,
           site_id=event.site_id, changes=diff({}, snapshot(event)))  # fmt: skip
    event_saved(session, event)
    _sync_sae_clock(session, actor, event)
    return event, findings


def lock_for_update(session: Session, event_id: int) -> AdverseEvent | None:
    """Load an event inside the write transaction (FOR UPDATE on PostgreSQL)."""
    return session.get(AdverseEvent, event_id, with_for_update=True, populate_existing=True)


def update_event(*, session: Session, actor: Actor, event_id: int, data: EventInput,
                 expected_version: int, reason: str | None = None, submit: bool = False,
                 confirm_before_consent: bool = False,
                 ) -> tuple[AdverseEvent, Findings]:  # fmt: skip
    """Save a new version of an event (a draft edit, a submission or a follow-up).

    An onset before informed consent needs `confirm_before_consent` when the onset changes
    (a stored one was confirmed already)."""
    event = lock_for_update(session, event_id)
    if event is None:
        raise LookupError(event_id)
    if event.version != expected_version:
        raise VersionConflict(event)
    if event.status == Status.locked:
        raise NotEditable(_("the event is locked; an administrator must unlock it first"))
    subject = session.get(Subject, event.subject_id)
    assert subject is not None
    data = _clean(data)
    submitted = event.status != Status.draft
    confirmed = confirm_before_consent or data.aestdtc == event.aestdtc
    findings, term, label, drugs = validate(session, subject, data, submit=submit or submitted,
                                            consent_confirmed=confirmed)  # fmt: skip
    reason = (reason or "").strip() or None
    if submitted and reason is None:
        findings.error("reason", _("a change to a submitted event needs a reason"))
    elif reason is not None and (problem := field_text_problem("reason", reason)) is not None:
        findings.error("reason", problem)  # the shared text rule (pv.inputs)
    if not findings.ok:
        raise ValidationFailed(findings)
    before = snapshot(event)
    _apply(session, event, subject, data, term, label, drugs)
    action = "update"
    if submit and event.status == Status.draft:
        event.status, event.submitted_at, action = Status.submitted, utcnow(), "submit"
    changes = diff(before, snapshot(event))
    if not changes:
        return event, findings
    event.version += 1
    event.updated_at = utcnow()
    changes["version"] = [before["version"], event.version]
    session.add(event)
    session.flush()
    record(session=session, actor=actor, action=action, entity_type="adverse_event",
           entity_id=event.id, study_id=event.study_id, site_id=event.site_id,
           changes=changes, reason=reason)  # fmt: skip
    event_saved(session, event, before)
    _sync_sae_clock(session, actor, event)
    return event, findings


def replay(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Rebuild an event's fields from its audit entries (oldest first)."""
    state: dict[str, Any] = {}
    for changes in entries:
        for name, (_old, new) in changes.items():
            state[name] = new
    return state


def onset_datetime(event: AdverseEvent) -> datetime | None:
    if not event.aestdtc:
        return None
    return parse_dtc(event.aestdtc).earliest
