"""The write path of the safety review: every function is keyword-only, checks the role,
the event's version (optimistic concurrency) and the workflow, and writes the audit trail.

Queries, RSI versions and report clocks live in their own modules and are re-exported
here, so callers (web, CLI, demo, tests) import one module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, select

from pv.audit.service import Actor, diff, record
from pv.auth.models import Role
from pv.events.dates import parse_dtc
from pv.events.models import RELATED_VALUES, AdverseEvent, Status
from pv.events.rules import Findings
from pv.events.service import (
    NotEditable,
    ValidationFailed,
    _aesi,
    _term,
    snapshot,
    subject_drugs,
)
from pv.i18n import gettext as _
from pv.labels import label as lab
from pv.review.models import CAUSALITY, EXPECTED, SUSPECTED, UNEXPECTED, Assessment
from pv.review.queries import answer_query, close_query, open_query
from pv.review.reports import sync_sae_clock, sync_susar_reports
from pv.review.rsi import add_rsi_version, expectedness, rsi_in_force
from pv.review.signing import sign_event, signer
from pv.review.workflow import (
    TransitionRefused,
    check,
    load_event,
    move,
    require_role,
    save_event,
    unsent_message,
    unsent_reports,
)
from pv.review.workflow import change_status as unsigned_change_status
from pv.study.models import Subject
from pv.timeutil import today, utcnow

__all__ = [
    "Override",
    "add_rsi_version",
    "answer_query",
    "change_status",
    "close_query",
    "current_assessment",
    "lock_event",
    "open_query",
    "recode_event",
    "rsi_in_force",
    "save_assessment",
    "start_review",
    "unlock_event",
]

ASSESSMENT_FIELDS = (
    "event_version",
    "awareness_date",
    "seriousness_confirmed",
    "causality",
    "rsi_expectedness",
    "expectedness",
    "override_reasons",
    "rsi_versions",
    "suspect_drugs",
    "is_susar",
    "fatal_or_life_threatening",
    "assessed_by",
    "assessed_by_name",
)


@dataclass(frozen=True)
class Override:
    """The officer's expectedness for one drug where it differs from the RSI, and why."""

    value: str  # "expected" | "unexpected"
    reason: str


def _reason(reason: str | None) -> str | None:
    return (reason or "").strip() or None


def start_review(
    *,
    session: Session,
    actor: Actor,
    event_id: int,
    expected_version: int,
    site_awareness: datetime | None = None,
) -> AdverseEvent:
    """submitted -> under_review; stores the site's 24 h SAE clock of a serious event."""
    event = load_event(session, event_id, expected_version)
    move(session, actor, event, Status.under_review, action="start_review")
    sync_sae_clock(session, actor, event, site_awareness)
    return event


def recode_event(
    *,
    session: Session,
    actor: Actor,
    event_id: int,
    expected_version: int,
    new_code: str,
    reason: str,
) -> AdverseEvent:
    """Code the event to another CTCAE term; coding fields and AESI groupings re-derived."""
    require_role(actor, Role.officer)
    event = load_event(session, event_id, expected_version)
    if event.status == Status.locked:
        raise NotEditable(_("the event is locked; an administrator must unlock it first"))
    if event.status == Status.draft:
        raise TransitionRefused(_("a draft is still the site's: it codes its own report"))
    findings = Findings()
    why = _reason(reason)
    if why is None:
        findings.error("reason", _("recoding needs a reason"))
    term, label = _term(session, new_code)
    if term is None:
        findings.error(
            "aelltcd",
            _("'%(code)s' is not a %(terminology)s code", code=new_code, terminology=label),
        )
    elif event.aetoxgr is not None and term.graded and term.grade_text(event.aetoxgr) is None:
        findings.error(
            "aelltcd", _("%(term)s has no grade %(grade)s", term=term.term, grade=event.aetoxgr)
        )
    elif term.code == event.aelltcd:
        findings.error("aelltcd", _("the event is already coded to %(term)s", term=term.term))
    if not findings.ok or term is None:
        raise ValidationFailed(findings)
    subject = session.get(Subject, event.subject_id)
    assert subject is not None
    before = snapshot(event)
    event.aelltcd, event.term_id, event.terminology = term.code, term.id, label
    event.aedecod, event.aebodsys = term.term, term.soc
    event.aesi = _aesi(session, subject, term.code, event.aestdtc, subject_drugs(session, subject))
    save_event(session, actor, event, before, action="recode", reason=why)
    return event


def _suspected(category: str, investigator: str | None) -> bool:
    # The sponsor may disagree with the investigator but not downgrade their causality for
    # reporting: a drug the investigator relates stays suspected (EU CT-3 §7.2.3.2).
    return category in SUSPECTED or (investigator or "").upper() in RELATED_VALUES


def save_assessment(
    *,
    session: Session,
    actor: Actor,
    event_id: int,
    expected_version: int,
    awareness_date: date,
    seriousness_confirmed: bool,
    causality: Mapping[str, str],
    overrides: Mapping[str, Override] | None = None,
    reason: str | None = None,
    password: str | None = None,
) -> Assessment:
    """Save the sponsor's assessment: the event becomes "assessed"; SUSAR clocks follow.

    Signed "assessed" with the officer's `password` (pv.review.signing): a wrong one is a
    finding (field "password") like the others, and nothing is saved."""
    require_role(actor, Role.officer)
    event = load_event(session, event_id, expected_version)
    if event.status == Status.locked:
        raise NotEditable(_("the event is locked; an administrator must unlock it first"))
    if event.status != Status.assessed:
        check(event.status, Status.assessed, actor.role)
    existing = session.exec(select(Assessment).where(Assessment.event_id == event_id)).first()
    subject = session.get(Subject, event.subject_id)
    assert subject is not None
    drugs = subject_drugs(session, subject)
    keys = [d.key for d in drugs]
    overrides = dict(overrides or {})
    reason = _reason(reason)
    findings = Findings()
    user = signer(session, actor, password, findings)
    if existing is not None and reason is None:
        findings.error("reason", _("changing an assessment needs a reason"))
    if awareness_date > today():
        findings.error("awareness_date", _("the awareness date is in the future"))
    onset = parse_dtc(event.aestdtc).earliest_date if event.aestdtc else None
    if onset is not None and awareness_date < onset:
        findings.error("awareness_date", _("the sponsor cannot know of an event before its onset"))
    for key in keys:
        if causality.get(key) not in CAUSALITY:
            findings.error(
                f"causality.{key}",
                _(
                    "choose one of: %(choices)s",
                    choices=", ".join(lab("causality", c) for c in CAUSALITY),
                ),
            )
    for key in sorted(set(causality) - set(keys)):
        findings.error(
            f"causality.{key}", _("%(drug)s is not a study drug of this subject", drug=key)
        )
    for key, ov in overrides.items():
        if key not in keys:
            findings.error(
                f"expectedness.{key}", _("%(drug)s is not a study drug of this subject", drug=key)
            )
        elif ov.value not in (EXPECTED, UNEXPECTED):
            findings.error(f"expectedness.{key}", _("expected or unexpected"))
        elif not _reason(ov.reason):
            findings.error(f"expectedness.{key}", _("overriding the RSI needs a reason"))
    if not findings.ok:
        raise ValidationFailed(findings)
    versions = {d.key: rsi_in_force(session, d.id, awareness_date) for d in drugs}  # type: ignore[arg-type]
    by_rsi = {k: expectedness(v, event.aelltcd) for k, v in versions.items()}
    final = {k: overrides[k].value if k in overrides else by_rsi[k] for k in keys}
    suspects = [k for k in keys if _suspected(causality[k], event.aerel.get(k))]
    values: dict[str, Any] = {
        "awareness_date": awareness_date,
        "seriousness_confirmed": bool(seriousness_confirmed),
        "causality": {k: causality[k] for k in keys},
        "rsi_expectedness": by_rsi,
        "expectedness": final,
        "override_reasons": {
            k: overrides[k].reason.strip() for k in keys if k in overrides and final[k] != by_rsi[k]
        },
        "rsi_versions": {k: v.id if v else None for k, v in versions.items()},
        "suspect_drugs": suspects,
        "is_susar": bool(seriousness_confirmed) and any(final[k] == UNEXPECTED for k in suspects),
        "fatal_or_life_threatening": bool(event.aesdth or event.aeslife),
        "assessed_by": actor.user_id,
        "assessed_by_name": actor.username,
    }
    # The event moves first (assessed, version + 1) so the assessment records that version.
    if event.status == Status.assessed:
        save_event(session, actor, event, snapshot(event), action="reassess", reason=reason)
    else:
        move(session, actor, event, Status.assessed, action="assess", reason=reason)
    values["event_version"] = event.version
    old: dict[str, Any] = {}
    if existing is not None:
        old = {f: getattr(existing, f) for f in ("version", *ASSESSMENT_FIELDS)}
    assessment = existing or Assessment(event_id=event_id, study_id=event.study_id, **values)
    for name, value in values.items():
        setattr(assessment, name, value)
    assessment.version = old.get("version", 0) + 1
    assessment.assessed_at = utcnow()
    session.add(assessment)
    session.flush()
    changes = diff(old, {f: getattr(assessment, f) for f in ("version", *ASSESSMENT_FIELDS)})
    record(
        session=session,
        actor=actor,
        action="update" if existing else "create",
        entity_type="assessment",
        entity_id=event_id,
        study_id=event.study_id,
        site_id=event.site_id,
        changes=changes,
        reason=reason,
    )
    sync_sae_clock(session, actor, event)
    sync_susar_reports(session, actor, event, assessment)
    sign_event(session, user, password, "assessed", event, reason)
    return assessment


def lock_event(
    *,
    session: Session,
    actor: Actor,
    event_id: int,
    expected_version: int,
    password: str | None = None,
) -> AdverseEvent:
    """assessed -> locked: no change of any kind until an administrator unlocks it; signed
    "locked" with the `password`.

    Refused (ValidationFailed, field "lock") while one of the event's expedited reports is
    not sent: a locked event could not record it any more."""
    event = load_event(session, event_id, expected_version)
    check(event.status, Status.locked, actor.role)
    findings = Findings()
    if unsent := unsent_reports(session, event_id):
        findings.error("lock", unsent_message(unsent))
    user = signer(session, actor, password, findings)
    if not findings.ok:
        raise ValidationFailed(findings)
    event = unsigned_change_status(
        session=session,
        actor=actor,
        event_id=event_id,
        to=Status.locked,
        expected_version=expected_version,
    )
    sign_event(session, user, password, "locked", event)
    return event


def unlock_event(
    *,
    session: Session,
    actor: Actor,
    event_id: int,
    expected_version: int,
    reason: str,
    password: str | None = None,
) -> AdverseEvent:
    """locked -> assessed, by an administrator, with a reason; signed "unlocked"."""
    if load_event(session, event_id, expected_version).status != Status.locked:
        raise TransitionRefused(_("only a locked event can be unlocked"))
    findings = Findings()
    if _reason(reason) is None:
        findings.error("reason", _("unlocking needs a reason"))
    user = signer(session, actor, password, findings)
    if not findings.ok:
        raise ValidationFailed(findings)
    event = unsigned_change_status(
        session=session,
        actor=actor,
        event_id=event_id,
        to=Status.assessed,
        expected_version=expected_version,
        reason=reason,
    )
    sign_event(session, user, password, "unlocked", event, _reason(reason))
    return event


def change_status(
    *,
    session: Session,
    actor: Actor,
    event_id: int,
    to: str,
    expected_version: int,
    reason: str | None = None,
) -> AdverseEvent:
    """Move an event to another status; locking and unlocking are signed acts
    (lock_event, unlock_event), refused here."""
    if to == Status.locked or load_event(session, event_id, expected_version).status == (
        Status.locked
    ):
        raise TransitionRefused(
            _("locking and unlocking are signed: use lock_event or unlock_event")
        )
    return unsigned_change_status(
        session=session,
        actor=actor,
        event_id=event_id,
        to=to,
        expected_version=expected_version,
        reason=reason,
    )


def current_assessment(session: Session, event_id: int) -> Assessment | None:
    return session.exec(select(Assessment).where(Assessment.event_id == event_id)).first()
