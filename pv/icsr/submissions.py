"""Submissions of report versions and their acknowledgements (issue 16 point 5).

A submission records one sending of one report version (pv.icsr.versions) to one
recipient: a regulator, an ethics committee or the trial's investigators, by a channel,
on a date, with the file sent. The app builds the file from the frozen version in the
chosen format (`version_file`, deterministic) and stores its bytes, its SHA-256 and its
name: the stored file IS what was sent, byte for byte the version's download.

Rules (all findings at once; nothing is written when one refuses):
- officers only (pv.review.workflow.require_role);
- recipient kind, channel and format from RecipientKind, Channel, ReportFormat; the
  recipient's name is required, at most 200 characters;
- the E2B(R3) XML goes only to a regulator through an E2B gateway or a portal; a CIOMS I
  form (English or Chinese labels) to anyone;
- the date sent is not in the future, not before the version was frozen (its refresh, if
  refreshed) and, for a regulator, not before the clock's day 0;
- a submission to a REGULATOR answers one open expedited-report clock (ExpeditedReport)
  of the same event and closes it (submitted_date = the date sent, audited "sent", as
  "Mark as sent" did): initial_7 / initial_15 need version 1, followup_8 a follow-up
  (version >= 2). The investigators' 24 h SAE clock is not answered here (it closes when the
  site submits the event). Ethics committee and investigator submissions name no clock;
- the officer signs it "approved" with the password (pv.review.signing; a wrong password
  is counted as a failed log-in by the web route, as for every signed act); the system
  actor (the demo's seeded review) records it unsigned.

Masking (what the file shows of the study drug in a blinded study): the file is masked
when the study is blinded and the recipient is not a regulator (ICH E2A: regulators
receive the SUSAR unblinded; ethics committees and investigators get the blinded case),
or when the officer recording it may not see arms (pv.blinding.policy.arms_visible: one
cannot send what one may not see). An open-label study is never masked.

The acknowledgement (E2B only): an uploaded MCCI_IN200101UV01 is parsed
(pv.icsr.ack.parse_ack), must acknowledge this file's report (C.1.1 = the safety report
id in the stored XML) when it names reports and this file's batch (ACK.A.1 = its N.1.2,
which tells the versions of a case apart) when it names one, and is stored with its code, outcome,
message, bytes, SHA-256 and the time received (audited "ack"). A "rejected" ACK reopens
the clock the submission closed (submitted_date back to None, audited "reopen") unless
another standing submission still answers it. One ACK per submission: a second upload is
refused (the receiver's answer is a record, not a draft); send the version again (a new
submission) after a rejection.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, select

from pv.audit.service import Actor, diff, record
from pv.auth.models import Role, User
from pv.blinding.policy import arms_visible, is_blinded
from pv.events.models import AdverseEvent
from pv.events.rules import Findings
from pv.events.service import ValidationFailed
from pv.i18n import N_
from pv.i18n import gettext as _
from pv.icsr.models import (
    AckOutcome,
    Channel,
    RecipientKind,
    ReportFormat,
    ReportVersion,
    Submission,
)
from pv.labels import register
from pv.review.models import ExpeditedReport, ReportKind
from pv.review.reports import _audit as audit_clock
from pv.review.reports import _snap as clock_snap
from pv.review.signing import _plain, _sign, signer
from pv.review.workflow import require_role
from pv.study.models import Study
from pv.timeutil import today, utcnow

ENTITY = "submission"
RECIPIENT_MAX = 200
E2B_CHANNELS = (Channel.gateway, Channel.portal)
INITIAL_KINDS = (ReportKind.initial_7, ReportKind.initial_15)
# The fields a signature covers (besides the version and the file's digest); the ACK
# fields come later and are not signed.
CONTENT = (
    "id", "report_version_id", "event_id", "study_id", "expedited_report_id",
    "recipient_kind", "recipient", "channel", "format", "sent_date", "file_name",
    "file_sha256", "recorded_by",
)  # fmt: skip
AUDITED = (*CONTENT, "recorded_by_name")
ACK_AUDITED = ("ack_code", "ack_outcome", "ack_message", "ack_received_at", "ack_sha256")

RECIPIENT_KIND_LABELS = {
    RecipientKind.regulator.value: N_("Regulator"),
    RecipientKind.ethics.value: N_("Ethics committee"),
    RecipientKind.investigator.value: N_("Investigators"),
}
CHANNEL_LABELS = {
    Channel.gateway.value: N_("E2B gateway"),
    Channel.portal.value: N_("Web portal"),
    Channel.email.value: N_("E-mail"),
    Channel.post.value: N_("Post"),
    Channel.fax.value: N_("Fax"),
}
FORMAT_LABELS = {
    ReportFormat.e2b.value: N_("E2B(R3) ICSR (XML)"),
    ReportFormat.cioms.value: N_("CIOMS I form (PDF, English)"),
    ReportFormat.cioms_zh.value: N_("CIOMS I form (PDF, Chinese labels)"),
}
ACK_LABELS = {
    AckOutcome.accepted.value: N_("accepted"),
    AckOutcome.accepted_with_errors.value: N_("accepted with errors"),
    AckOutcome.rejected.value: N_("rejected"),
}
register("recipient_kind", RECIPIENT_KIND_LABELS)
register("channel", CHANNEL_LABELS)
register("report_format", FORMAT_LABELS)
register("ack_outcome", ACK_LABELS)


def standing(submission: Submission) -> bool:
    """Whether the submission still stands (its receiver did not reject it)."""
    return submission.ack_outcome != AckOutcome.rejected


def frozen_on(version: ReportVersion) -> date:
    """The day the version's content was last frozen (refreshed, else created)."""
    return (version.refreshed_at or version.created_at).date()


def fits(clock: ExpeditedReport, version: ReportVersion) -> bool:
    """Whether `version` may answer `clock`: an initial report is version 1, a follow-up
    report a later version."""
    if clock.kind in INITIAL_KINDS:
        return version.number == 1
    if clock.kind == ReportKind.followup_8:
        return version.number >= 2
    return False


def is_masked(session: Session, actor: Actor, study_id: str, recipient_kind: str) -> bool:
    """Whether the file sent is masked (see the module docstring): the study is blinded
    and the recipient is not a regulator, or the recording officer may not see arms."""
    study = session.get(Study, study_id)
    if not is_blinded(study):
        return False
    if recipient_kind != RecipientKind.regulator:
        return True
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    return not arms_visible(user, study)


def submission_content(submission: Submission, version: ReportVersion) -> dict[str, Any]:
    """The canonical content an "approved" signature of a submission covers: the
    submission's fields, the report version's number and frozen snapshot, the file's
    digest (in CONTENT)."""
    return {
        "record": ENTITY,
        "submission": {f: _plain(_iso(getattr(submission, f))) for f in CONTENT},
        "version": version.number,
        "snapshot": version.snapshot,
    }


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _snap(sub: Submission, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: getattr(sub, f) for f in fields}


def _choice(
    value: str | None, allowed: type[StrEnum], field: str, findings: Findings
) -> str | None:
    text = (value or "").strip()
    if text in {m.value for m in allowed}:
        return text
    if not text:
        findings.error(field, _("choose one"))
    else:
        findings.error(field, _("'%(value)s' is not one of the choices", value=text[:40]))
    return None


def open_clocks(session: Session, event_id: int) -> list[ExpeditedReport]:
    """The event's open SUSAR clocks (not cancelled, not closed), due first."""
    return list(
        session.exec(
            select(ExpeditedReport)
            .where(
                ExpeditedReport.event_id == event_id,
                col(ExpeditedReport.cancelled_at).is_(None),
                col(ExpeditedReport.submitted_date).is_(None),
                ExpeditedReport.kind != ReportKind.investigator_sae_24h,
            )
            .order_by(col(ExpeditedReport.due_date), col(ExpeditedReport.id))
        )
    )


def record_submission(
    session: Session,
    actor: Actor,
    *,
    version_id: int,
    recipient_kind: str,
    recipient: str | None,
    channel: str,
    format: str,  # noqa: A002 (the interface's name)
    sent_date: date | None,
    clock_id: int | None = None,
    password: str | None = None,
) -> Submission:
    """Record that report version `version_id` was sent (see the module docstring);
    ValidationFailed with every finding, LookupError for an unknown version."""
    from pv.icsr.versions import version_file

    require_role(actor, Role.officer)
    version = session.get(ReportVersion, version_id)
    if version is None:
        raise LookupError(f"no report version {version_id}")
    findings = Findings()
    kind = _choice(recipient_kind, RecipientKind, "recipient_kind", findings)
    via = _choice(channel, Channel, "channel", findings)
    fmt = _choice(format, ReportFormat, "format", findings)
    name = (recipient or "").strip()
    if not name:
        findings.error("recipient", _("the recipient is required"))
    elif len(name) > RECIPIENT_MAX:
        findings.error(
            "recipient", _("at most %(n)s characters, not %(len)s", n=RECIPIENT_MAX, len=len(name))
        )
    if fmt == ReportFormat.e2b and (kind != RecipientKind.regulator or via not in E2B_CHANNELS):
        findings.error(
            "format",
            _("the E2B(R3) XML goes to a regulator through an E2B gateway or a web portal"),
        )
    if sent_date is None:
        findings.error("sent_date", _("the date sent is required"))
    else:
        if sent_date > today():
            findings.error("sent_date", _("%(date)s is in the future", date=sent_date.isoformat()))
        if sent_date < frozen_on(version):
            findings.error(
                "sent_date",
                _(
                    "version %(n)s was prepared on %(date)s: it cannot have been sent before",
                    n=version.number,
                    date=frozen_on(version).isoformat(),
                ),
            )
    clock = None
    if kind == RecipientKind.regulator:
        clock = _clock(session, version, clock_id, sent_date, findings)
    elif clock_id is not None and kind is not None:
        findings.error(
            "clock_id", _("only a submission to a regulator answers an expedited-report clock")
        )
    user = signer(session, actor, password, findings)
    if not findings.ok:
        raise ValidationFailed(findings)
    assert kind is not None and via is not None and fmt is not None and sent_date is not None
    masked = is_masked(session, actor, version.study_id, kind)
    file_name, data = version_file(version, ReportFormat(fmt), masked=masked)
    sub = Submission(
        report_version_id=version.id,  # type: ignore[arg-type]
        event_id=version.event_id,
        study_id=version.study_id,
        expedited_report_id=clock.id if clock is not None else None,
        recipient_kind=kind,
        recipient=name,
        channel=via,
        format=fmt,
        sent_date=sent_date,
        file_name=file_name,
        file_sha256=hashlib.sha256(data).hexdigest(),
        file=data,
        recorded_by=actor.user_id,
        recorded_by_name=actor.username,
    )
    session.add(sub)
    session.flush()
    assert sub.id is not None
    record(session=session, actor=actor, action="create", entity_type=ENTITY,
           entity_id=sub.id, study_id=sub.study_id,
           changes=diff({}, _snap(sub, AUDITED)) | {"masked": [None, masked]})  # fmt: skip
    event = session.get(AdverseEvent, version.event_id)
    _sign(session, user, password, "approved", ENTITY, sub.id, submission_content(sub, version),
          event.version if event else None, sub.study_id, None)  # fmt: skip
    if clock is not None:
        before = clock_snap(clock)
        clock.submitted_date, clock.submitted_at, clock.submitted_by = (
            sent_date,
            utcnow(),
            actor.user_id,
        )
        audit_clock(session, actor, clock, before, "sent")
    return sub


def _clock(
    session: Session,
    version: ReportVersion,
    clock_id: int | None,
    sent_date: date | None,
    findings: Findings,
) -> ExpeditedReport | None:
    if clock_id is None:
        findings.error("clock_id", _("a submission to a regulator answers an expedited report"))
        return None
    clock = session.get(ExpeditedReport, clock_id, with_for_update=True, populate_existing=True)
    if (
        clock is None
        or clock.event_id != version.event_id
        or clock.cancelled_at is not None
        or clock.kind == ReportKind.investigator_sae_24h
    ):
        findings.error("clock_id", _("no such expedited report of this event"))
        return None
    if clock.submitted_date is not None:
        findings.error(
            "clock_id",
            _("this report was already sent on %(date)s", date=clock.submitted_date.isoformat()),
        )
    if not fits(clock, version):
        if clock.kind == ReportKind.followup_8:
            message = _("a follow-up report is a later version than 1: prepare a follow-up")
        else:
            message = _("the initial report is version 1, not version %(n)s", n=version.number)
        findings.error("clock_id", message)
    if sent_date is not None and sent_date < clock.start_date:
        findings.error("sent_date", _("a report cannot be sent before day 0 (awareness)"))
    return clock


def report_id_of(data: bytes) -> str | None:
    """The safety report id (C.1.1) of a stored E2B file."""
    from pv.icsr.e2b import OID_REPORT_ID

    return _id_of(data, OID_REPORT_ID)  # C.1.1 (the message id N.2.r.1 is the same)


def batch_id_of(data: bytes) -> str | None:
    """The batch number (N.1.2) of a stored E2B file: it names the version (`-V<n>`) and
    the moment it was built, where C.1.1 is the same in every version of the case."""
    from pv.icsr.e2b import OID_BATCH_NUMBER

    return _id_of(data, OID_BATCH_NUMBER)


def _id_of(data: bytes, root_oid: str) -> str | None:
    from lxml import etree

    try:
        root = etree.fromstring(data)
    except etree.XMLSyntaxError:
        return None
    for el in root.iter("{*}id"):
        if el.get("root") == root_oid:
            return el.get("extension")
    return None


def attach_ack(session: Session, actor: Actor, submission_id: int, data: bytes) -> Submission:
    """Store the receiver's ACK of an E2B submission (see the module docstring)."""
    from pv.icsr.ack import AckError, parse_ack

    require_role(actor, Role.officer)
    sub = session.get(Submission, submission_id, with_for_update=True, populate_existing=True)
    if sub is None:
        raise LookupError(f"no submission {submission_id}")
    findings = Findings()
    ack = None
    if sub.format != ReportFormat.e2b:
        findings.error("ack", _("only an E2B(R3) submission has an acknowledgement"))
    elif sub.ack_outcome is not None:
        findings.error(
            "ack",
            _("this submission's acknowledgement was already received on %(date)s",
              date=sub.ack_received_at.date().isoformat() if sub.ack_received_at else "?"),
        )  # fmt: skip
    elif not data:
        findings.error("ack", _("choose the acknowledgement file (MCCI_IN200101UV01)"))
    else:
        try:
            ack = parse_ack(data)
        except AckError as exc:
            findings.error("ack", str(exc))
        else:
            mine = report_id_of(sub.file)
            if ack.report_ids and mine not in ack.report_ids:
                findings.error(
                    "ack",
                    _(
                        "this acknowledgement is of report %(theirs)s, not of %(mine)s",
                        theirs=", ".join(_safe(x) for x in ack.report_ids),
                        mine=mine or "?",
                    ),
                )
            batch = batch_id_of(sub.file)
            if findings.ok and ack.batch_id and batch and ack.batch_id != batch:
                # the same case's report, but another version's batch
                findings.error(
                    "ack",
                    _(
                        "this acknowledgement is of batch %(theirs)s, not of the batch sent "
                        "(%(mine)s)",
                        theirs=_safe(ack.batch_id),
                        mine=batch,
                    ),
                )
    if not findings.ok:
        raise ValidationFailed(findings)
    assert ack is not None
    before = _snap(sub, ACK_AUDITED)
    sub.ack_code = ack.code
    sub.ack_outcome = AckOutcome(ack.outcome).value
    sub.ack_message = ack.message
    sub.ack_received_at = ack.received or utcnow()
    sub.ack_file = data
    sub.ack_sha256 = hashlib.sha256(data).hexdigest()
    session.add(sub)
    session.flush()
    assert sub.id is not None
    record(session=session, actor=actor, action="ack", entity_type=ENTITY, entity_id=sub.id,
           study_id=sub.study_id, changes=diff(before, _snap(sub, ACK_AUDITED)))  # fmt: skip
    if sub.ack_outcome == AckOutcome.rejected and sub.expedited_report_id is not None:
        _reopen(session, actor, sub)
    return sub


def _safe(text: str) -> str:
    return re.sub(r"[^\w.\-:/]", "?", text)[:80]


def _reopen(session: Session, actor: Actor, rejected: Submission) -> None:
    clock = session.get(
        ExpeditedReport, rejected.expedited_report_id, with_for_update=True, populate_existing=True
    )
    if clock is None or clock.submitted_date is None:
        return
    others = session.exec(
        select(Submission).where(
            Submission.expedited_report_id == clock.id, Submission.id != rejected.id
        )
    ).all()
    if any(standing(o) for o in others):
        return  # another submission still answers the clock
    before = clock_snap(clock)
    clock.submitted_date = clock.submitted_at = clock.submitted_by = None
    audit_clock(session, actor, clock, before, "reopen",
                f"the receiver rejected submission {rejected.id}")  # fmt: skip


def submissions_of(session: Session, event_id: int) -> list[Submission]:
    """The event's submissions, oldest first."""
    return list(
        session.exec(
            select(Submission)
            .where(Submission.event_id == event_id)
            .order_by(col(Submission.sent_date), col(Submission.id))
        )
    )
