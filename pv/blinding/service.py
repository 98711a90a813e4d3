"""Changing blinding: a study's blinded flag, a user's unblinded permission, and unblinding
one subject. Every change is audited; unblinding a subject is also signed.

Who may unblind one subject (decision; the issue leaves it open): in a blinded study, an
investigator of the subject's site (emergency unblinding), a safety officer or an admin
(e.g. to report a SUSAR), giving a reason and their password again (a signature with the
meaning "unblinded", entity "subject"). DSMB members work on the closed-session workbook,
not on single subjects, and may not. The unblinding reveals the arm to the user who
unblinded only (pv.blinding.policy); others see that it happened, by whom, when and why.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from pv.audit.service import Actor, record
from pv.auth import throttle
from pv.auth.models import Role, User
from pv.i18n import gettext as _
from pv.i18n import ngettext
from pv.inputs import text_problem
from pv.signatures.models import Signature, SubjectUnblinding
from pv.signatures.service import SignatureError, sign
from pv.study.models import Study, Subject
from pv.timeutil import utcnow

UNBLINDERS = (Role.investigator, Role.officer, Role.admin)
REASON_MAX = 2000


class BlindingError(ValueError):
    """A blinding change refused; the message says why (nothing was written)."""


class TooManyPasswords(BlindingError):
    """The account must wait after wrong passwords (pv.auth.throttle): not even checked."""


def set_blinded(*, session: Session, actor: Actor, study_id: str, blinded: bool,
                reason: str | None = None) -> Study:  # fmt: skip
    """Mark a study blinded or open label (an admin's correction of the imported masking)."""
    from pv.study.service import StudyError, set_study_setting

    try:
        return set_study_setting(session=session, actor=actor, study_id=study_id,
                                 field="blinded", value=bool(blinded), reason=reason)  # fmt: skip
    except StudyError as exc:
        raise BlindingError(str(exc)) from exc


def set_permission(*, session: Session, actor: Actor, username: str, granted: bool,
                   reason: str | None = None) -> User:  # fmt: skip
    """Grant or revoke a user's permission to see arms in blinded studies."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise BlindingError(_("no user %(username)s", username=repr(username)))
    if bool(user.unblinded) != granted:
        changes = {"unblinded": [bool(user.unblinded), granted]}
        user.unblinded = granted
        session.add(user)
        session.flush()
        record(session=session, actor=actor, action="update", entity_type="user",
               entity_id=user.id or 0, changes=changes, reason=reason)  # fmt: skip
    return user


def may_unblind(user: Any, study: Study | None) -> bool:
    """Whether the user's role may unblind a subject of this study (blinded studies only;
    the caller checks an investigator's site)."""
    return bool(study is not None and study.blinded and user is not None
                and user.role in UNBLINDERS)  # fmt: skip


def unblind_subject(*, session: Session, user: User, subject: Subject, reason: str,
                    password: str) -> SubjectUnblinding:  # fmt: skip
    """Unblind one subject for `user`: the reason is required, the password is checked
    again (signature "unblinded"); stores SubjectUnblinding and audits it. Raises
    BlindingError (nothing written) when refused, SignatureError on a wrong password."""
    study = session.get(Study, subject.study_id)
    if study is None or not study.blinded:
        raise BlindingError(_("this study is open label: there is nothing to unblind"))
    if user.role not in UNBLINDERS:
        raise BlindingError(_("your role may not unblind a subject"))
    reason = (reason or "").strip()
    if not reason:
        raise BlindingError(_("give the reason for unblinding"))
    if (problem := text_problem(reason, max_length=REASON_MAX)) is not None:
        raise BlindingError(problem)
    # Wrong signing passwords count as failed log-ins (as for the review's signatures,
    # pv.review.signing): while the account must wait, the password is not checked.
    wait = throttle.retry_after(session, user_id=user.id, address=None, now=utcnow())
    if wait > 0:
        raise TooManyPasswords(ngettext("Too many wrong passwords: try again in %(num)d second.",
                                        "Too many wrong passwords: try again in %(num)d seconds.",
                                        wait))  # fmt: skip
    signature = sign(
        session=session, user=user, password=password, meaning="unblinded",
        entity_type="subject", entity_id=subject.id or 0,
        content={"study_id": subject.study_id, "usubjid": subject.usubjid,
                 "arm_id": subject.arm_id, "reason": reason},
        study_id=subject.study_id, reason=reason,
    )  # fmt: skip
    row = SubjectUnblinding(study_id=subject.study_id, subject_id=subject.id or 0,
                            user_id=user.id or 0, reason=reason,
                            signature_id=signature.id or 0)  # fmt: skip
    session.add(row)
    session.flush()
    record(session=session, actor=Actor(username=user.username, user_id=user.id, role=user.role),
           action="unblind", entity_type="subject", entity_id=subject.id or 0,
           study_id=subject.study_id, site_id=subject.site_id,
           changes={"unblinding": [None, row.id], "signature": [None, signature.id]},
           reason=reason)  # fmt: skip
    return row


def unblindings(session: Session, subject_id: int) -> list[tuple[SubjectUnblinding, Signature]]:
    """The subject's unblindings with their signatures, oldest first."""
    return list(
        session.exec(
            select(SubjectUnblinding, Signature)
            .join(Signature, col(Signature.id) == SubjectUnblinding.signature_id)
            .where(SubjectUnblinding.subject_id == subject_id)
            .order_by(col(SubjectUnblinding.at), col(SubjectUnblinding.id))
        )
    )


__all__ = ["BlindingError", "SignatureError", "TooManyPasswords", "may_unblind", "set_blinded",
           "set_permission", "unblind_subject", "unblindings"]  # fmt: skip
