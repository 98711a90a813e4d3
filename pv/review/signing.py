"""Electronic signatures of the safety review (21 CFR Part 11 §11.50, §11.70, §11.200).

Four acts are signed: the sponsor's assessment ("assessed"), locking and unlocking the
event ("locked", "unlocked"), both records of entity "adverse_event", and approving a
report version's submission ("approved", entity "submission": pv.icsr.submissions; entity
"expedited_report" for approvals recorded before issue 16, when "Mark as sent" signed the
clock itself).

What a signature covers (its `record_digest`, pv.signatures.service.record_digest):
- an event signature: the event version signed (every stored field of the event, its
  status and version number among them) and the sponsor's assessment as it then stood
  (every field and its version);
- a submission's approval: the submission (recipient, channel, format, date sent, the
  clock it answers, the file's name and SHA-256), the report version's number and its
  frozen snapshot, i.e. the case exactly as sent; it stays valid while they are unchanged
  (a later follow-up of the event is a new version, sent and signed anew);
- an older report approval: the report (kind, clock, due and sent dates) and the event
  record above.
Any other version (a follow-up, a recode, a reassessment, and also a change of status
such as locking) has another digest: the earlier signature is then shown as not valid
for the current version, with what changed since the version signed.

Acts by a person (an Actor with a user id) need the password; a wrong one refuses the
act (ValidationFailed, field "password") before anything is written. Acts of the system
(the demo's seeded review, Actor.system) are recorded unsigned: the system is no person.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from pv.audit.service import Actor
from pv.auth.models import User
from pv.events.models import AdverseEvent
from pv.events.rules import Findings
from pv.events.service import EVENT_FIELDS, ROUND2_FIELDS, ValidationFailed
from pv.i18n import gettext as _
from pv.i18n import ngettext
from pv.labels import label, register
from pv.review.models import Assessment, ExpeditedReport
from pv.signatures.models import Signature
from pv.signatures.service import MEANINGS, SignatureError, is_valid, sign
from pv.timeutil import utcnow

register("signature_meaning", MEANINGS)  # templates: label('signature_meaning', s.meaning)

EVENT = "adverse_event"
REPORT = "expedited_report"
ASSESSMENT_CONTENT = (
    "version", "event_version", "awareness_date", "seriousness_confirmed", "causality",
    "rsi_expectedness", "expectedness", "override_reasons", "rsi_versions", "suspect_drugs",
    "is_susar", "fatal_or_life_threatening", "assessed_by",
)  # fmt: skip
REPORT_CONTENT = (
    "id", "event_id", "kind", "clock_days", "start_date", "due_date", "submitted_date",
    "cancelled_at",
)  # fmt: skip


def wrong_password() -> str:
    return _("The password is wrong: nothing was signed or saved.")


def event_content(session: Session, event: AdverseEvent) -> dict[str, Any]:
    """The canonical content of the event version as it stands, with its assessment."""
    assessment = session.exec(select(Assessment).where(Assessment.event_id == event.id)).first()
    return {
        "record": EVENT,
        "id": event.id,
        "event": {
            f: _plain(getattr(event, f))
            for f in EVENT_FIELDS
            if f not in ROUND2_FIELDS or getattr(event, f) not in (None, False)
        },
        "assessment": None
        if assessment is None
        else {f: getattr(assessment, f) for f in ASSESSMENT_CONTENT},
    }


def report_content(session: Session, report: ExpeditedReport) -> dict[str, Any]:
    """The canonical content of an expedited report and of the case it reports."""
    event = session.get(AdverseEvent, report.event_id)
    assert event is not None
    return {
        "record": REPORT,
        "report": {f: _plain(getattr(report, f)) for f in REPORT_CONTENT},
        "case": event_content(session, event),
    }


def _plain(value: Any) -> Any:
    # StrEnum values and time stamps stored with or without a zone digest alike.
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat()
    return value


def signer(session: Session, actor: Actor, password: str | None, findings: Findings) -> User | None:
    """The person signing (None for a system actor); a wrong or missing password is a
    finding on the field "password" (checked before anything is written).

    Wrong signing passwords count as failed log-ins of the account (pv.auth.throttle,
    Part 11 §11.300(d)): while the account must wait, the password is not even checked,
    and the account locks at the same count (see `count_wrong_password`)."""
    from pv.auth import throttle
    from pv.auth.passwords import verify_password

    if actor.user_id is None:
        return None
    user = session.get(User, actor.user_id)
    if user is not None and not user.disabled and user.locked_at is None and password:
        wait = throttle.retry_after(session, user_id=user.id, address=None, now=utcnow())
        if wait > 0:
            findings.error("password", ngettext(
                "Too many wrong passwords: try again in %(num)d second.",
                "Too many wrong passwords: try again in %(num)d seconds.",
                wait,
            ))  # fmt: skip
            return user
    if (
        user is None
        or user.disabled
        or user.locked_at is not None
        or not verify_password(user.password_hash, password or "")
    ):
        findings.error(
            "password", wrong_password() if password else _("Enter your password to sign.")
        )
    return user


def is_wrong_password(errors: Mapping[str, str]) -> bool:
    """Whether a refused form's errors (field -> message) say the password was wrong."""
    return errors.get("password") == wrong_password()


def count_wrong_password(session: Session, user_id: int) -> None:
    """Count a wrong signing password as a failed log-in of the account, in the request's
    transaction after the refused act was rolled back: audited ("sign_failed"); the
    account locks at the LOCK_AFTER-th failure, as at log-in."""
    from pv.audit.service import record
    from pv.auth import throttle

    user = session.get(User, user_id)
    if user is None:
        return
    now = utcnow()
    throttle.record_failure(session, user_id=user_id, address=None, now=now)
    me = Actor(username=user.username, user_id=user_id, role=user.role)
    record(session=session, actor=me, action="sign_failed", entity_type="user",
           entity_id=user_id, changes={})  # fmt: skip
    if user.locked_at is None and throttle.account_failures(session, user_id, now) >= (
        throttle.LOCK_AFTER
    ):
        user.locked_at = now
        session.add(user)
        record(session=session, actor=Actor.system("login-throttle"), action="lock",
               entity_type="user", entity_id=user_id,
               changes={"locked_at": [None, now]})  # fmt: skip


def _sign(
    session: Session,
    user: User | None,
    password: str | None,
    meaning: str,
    entity_type: str,
    entity_id: int,
    content: Mapping[str, Any],
    version: int | None,
    study_id: str,
    reason: str | None,
) -> Signature | None:
    if user is None:
        return None
    try:
        return sign(
            session=session, user=user, password=password or "", meaning=meaning,
            entity_type=entity_type, entity_id=entity_id, content=content,
            record_version=version, study_id=study_id, reason=reason,
        )  # fmt: skip
    except SignatureError as exc:  # the password changed in between: refuse the act
        findings = Findings()
        findings.error("password", wrong_password())
        raise ValidationFailed(findings) from exc


def sign_event(
    session: Session,
    user: User | None,
    password: str | None,
    meaning: str,
    event: AdverseEvent,
    reason: str | None = None,
) -> Signature | None:
    """Sign the event version as it now stands (after the act): None for the system."""
    assert event.id is not None
    content = event_content(session, event)
    return _sign(session, user, password, meaning, EVENT, event.id, content, event.version,
                 event.study_id, reason)  # fmt: skip


def sign_report(
    session: Session, user: User | None, password: str | None, report: ExpeditedReport
) -> Signature | None:
    """Approve the report (as now recorded sent) for submission."""
    assert report.id is not None
    event = session.get(AdverseEvent, report.event_id)
    assert event is not None
    return _sign(session, user, password, "approved", REPORT, report.id,
                 report_content(session, report), event.version, report.study_id, None)  # fmt: skip


@dataclass
class ShownSignature:
    """A signature as pages and reports show it."""

    signature: Signature
    record: str  # what was signed, in words
    valid: bool  # the digest matches the record as it now stands
    current_version: int

    @property
    def meaning(self) -> str:
        return label("signature_meaning", self.signature.meaning)

    @property
    def at(self) -> str:
        return self.signature.at.strftime("%Y-%m-%d %H:%M:%S")

    def line(self) -> str:
        """One line: meaning, printed name, UTC time, version (and validity)."""
        s = self.signature
        text = _(
            "%(meaning)s: %(name)s, %(at)s UTC, event version %(version)s",
            meaning=self.meaning,
            name=s.signer_name,
            at=self.at,
            version=s.record_version if s.record_version is not None else "—",
        )
        if not self.valid:
            text = _("%(signature)s (not valid for the current version)", signature=text)
        return text


def event_signatures(session: Session, event: AdverseEvent) -> list[ShownSignature]:
    """The signatures of the event and of its expedited reports, oldest first, each
    checked against the record as it now stands."""
    assert event.id is not None
    content = event_content(session, event)
    shown = [
        ShownSignature(s, _("Event"), is_valid(s, content), event.version)
        for s in session.exec(
            select(Signature).where(
                Signature.entity_type == EVENT, Signature.entity_id == str(event.id)
            )
        )
    ]
    reports = {
        str(r.id): r
        for r in session.exec(select(ExpeditedReport).where(ExpeditedReport.event_id == event.id))
    }
    if reports:
        for s in session.exec(
            select(Signature).where(
                Signature.entity_type == REPORT, col(Signature.entity_id).in_(list(reports))
            )
        ):
            report = reports[s.entity_id]
            valid = is_valid(s, report_content(session, report))
            shown.append(ShownSignature(s, label("report_kind", report.kind), valid, event.version))
    shown += submission_signatures(session, event)
    return sorted(shown, key=lambda x: (x.signature.at, x.signature.id or 0))


def submission_signatures(session: Session, event: AdverseEvent) -> list[ShownSignature]:
    """The "approved" signatures of the event's submissions (pv.icsr.submissions), each
    checked against the submission and the frozen report version it sent."""
    from pv.icsr.models import ReportVersion, Submission
    from pv.icsr.submissions import ENTITY, submission_content

    subs = {
        str(x.id): x
        for x in session.exec(select(Submission).where(Submission.event_id == event.id))
    }
    if not subs:
        return []
    shown = []
    for s in session.exec(
        select(Signature).where(
            Signature.entity_type == ENTITY, col(Signature.entity_id).in_(list(subs))
        )
    ):
        sub = subs[s.entity_id]
        version = session.get(ReportVersion, sub.report_version_id)
        assert version is not None
        valid = is_valid(s, submission_content(sub, version))
        what = _("Report version %(n)s sent to %(recipient)s", n=version.number,
                 recipient=sub.recipient)  # fmt: skip
        shown.append(ShownSignature(s, what, valid, event.version))
    return shown


def study_signature_lines(session: Session, study_id: str) -> dict[int, str]:
    """{event id: its signatures, one line each} for the events of a study that have any
    (reports that print event records: the DSMB listings)."""
    signed = session.exec(
        select(Signature.entity_type, Signature.entity_id).where(Signature.study_id == study_id)
    ).all()
    ids = {int(i) for t, i in signed if t == EVENT}
    report_ids = [int(i) for t, i in signed if t == REPORT]
    submission_ids = [int(i) for t, i in signed if t == "submission"]
    if submission_ids:
        from pv.icsr.models import Submission

        ids |= set(
            session.exec(select(Submission.event_id).where(col(Submission.id).in_(submission_ids)))
        )
    if report_ids:
        ids |= set(
            session.exec(
                select(ExpeditedReport.event_id).where(col(ExpeditedReport.id).in_(report_ids))
            )
        )
    out: dict[int, str] = {}
    for event_id in sorted(ids):
        event = session.get(AdverseEvent, event_id)
        if event is not None:
            out[event_id] = "\n".join(s.line() for s in event_signatures(session, event))
    return out
