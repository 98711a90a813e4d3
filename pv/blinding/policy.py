"""Who may see the treatment arm of a subject: the one blinding policy of every output.

- An open-label study (Study.blinded False; ClinicalTrials.gov masking NONE or absent, as
  NCT04660565) shows its arms to every role that sees the data at all.
- In a blinded study, a user sees arms only with the "unblinded" permission
  (User.unblinded, granted and revoked by an admin: `pvtracker blinding grant/revoke`).
  Without it, whatever the role (investigator, officer, DSMB member, admin), every output
  masks the arm: pages and the JSON API show the stand-in arm "Blinded" / BLINDED
  (`masked_arm`), tables are pooled across arms (`arms_refusal` says when; pv.analysis.api
  .pooled), charts are drawn pooled, the
  subject timeline (its infusions reveal the treatment) is refused, the SDTM export writes
  ARM/ACTARM "Blinded" (ARMCD/ACTARMCD BLINDED), the ClinicalTrials.gov results export is
  refused, and the CIOMS / E2B reports name the study drugs "blinded".
- One subject's arm: a user who unblinded that subject (SubjectUnblinding, a signed act
  with a reason, pv.blinding.service.unblind_subject) sees that subject's arm from then on.
  Nobody else gains anything from it: the other users see that the subject was unblinded
  (by whom, when, why) but not the arm.
- Commands have no signed-in user. A read-only command that writes arms (export sdtm,
  export ctgov, icsr cioms/e2b) masks them in a blinded study unless `--as` (or PV_ACTOR)
  names an active user with the permission (`command_arms_visible`).
- Not randomized (no arm) is not masked: it says nothing about the treatment.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, select

from pv.i18n import N_
from pv.i18n import gettext as _
from pv.signatures.models import SubjectUnblinding
from pv.study.ctgov import BLINDED_MASKINGS, blinded_from_masking  # noqa: F401 (re-exported)
from pv.study.models import Arm, Study, Subject

MASKED_CODE = "BLINDED"
MASKED_LABEL = N_("Blinded")
# What the exports write for a masked arm (data files are English, as SDTM is).
MASKED_EXPORT_LABEL = "Blinded"
NO_ARMS = N_(
    "This study is blinded: results by arm are shown only to users with the unblinded "
    "permission. The pooled DSMB open-session workbook is available."
)
NO_TIMELINE = N_(
    "This study is blinded: the subject's timeline shows the study drug given, which would "
    "reveal the arm."
)


def is_blinded(study: Study | None) -> bool:
    return bool(study is not None and study.blinded)


def _unblinded_subjects(
    session: Session, user_id: int | None, subject_ids: Iterable[int]
) -> set[int]:
    ids = sorted({i for i in subject_ids if i is not None})
    if user_id is None or not ids:
        return set()
    rows = session.exec(
        select(SubjectUnblinding.subject_id).where(
            SubjectUnblinding.user_id == user_id, col(SubjectUnblinding.subject_id).in_(ids)
        )
    )
    return set(rows)


def arms_visible(
    user: Any, study: Study | None, *, session: Session | None = None,
    subject_id: int | None = None,
) -> bool:  # fmt: skip
    """Whether `user` may see arms in `study` (with `subject_id` and a session: that one
    subject's arm, which the user may have unblinded). `user` None (a command without
    --as): arms of a blinded study are masked."""
    if not is_blinded(study):
        return True
    if user is None or getattr(user, "disabled", False):
        return False
    if getattr(user, "unblinded", False):
        return True
    if subject_id is not None and session is not None:
        return subject_id in _unblinded_subjects(session, user.id, [subject_id])
    return False


def masked_arm(study_id: str) -> Arm:
    """The stand-in shown for a masked arm (never stored): label "Blinded", code BLINDED."""
    return Arm(id=None, study_id=study_id, label=_(MASKED_LABEL), code=MASKED_CODE)


class ArmMasker:
    """The policy for one user over many subjects (a list page, an API page): studies'
    blinding and the user's unblinded subjects are read once."""

    def __init__(self, session: Session, user: Any) -> None:
        self.session = session
        self.user = user
        self._studies: dict[str, bool] = {}
        self._subjects: set[int] | None = None

    def study_visible(self, study_id: str) -> bool:
        if study_id not in self._studies:
            study = self.session.get(Study, study_id)
            self._studies[study_id] = arms_visible(self.user, study)
        return self._studies[study_id]

    def visible(self, study_id: str, subject_id: int | None = None) -> bool:
        if self.study_visible(study_id):
            return True
        if subject_id is None or self.user is None:
            return False
        if self._subjects is None:
            self._subjects = set(
                self.session.exec(
                    select(SubjectUnblinding.subject_id).where(
                        SubjectUnblinding.user_id == self.user.id
                    )
                )
            )
        return subject_id in self._subjects

    def arm(self, subject: Subject, arm: Arm | None) -> Arm | None:
        """The arm to show for the subject: the real one, the masked stand-in, or None when
        the subject has no arm."""
        if arm is None:
            return None
        return arm if self.visible(subject.study_id, subject.id) else masked_arm(subject.study_id)

    def label(self, subject: Subject, label: str | None) -> str | None:
        if label is None:
            return None
        return label if self.visible(subject.study_id, subject.id) else _(MASKED_LABEL)

    def hidden_study_ids(self) -> list[str]:
        """The blinded studies whose arms this user may not see (for filters by arm)."""
        blinded = self.session.exec(select(Study.id).where(col(Study.blinded).is_(True)))
        return [s for s in blinded if not self.study_visible(s)]


def shown_arm(session: Session, user: Any, subject: Subject) -> Arm | None:
    """The arm a page shows for one subject (see ArmMasker.arm)."""
    arm = session.get(Arm, subject.arm_id) if subject.arm_id is not None else None
    return ArmMasker(session, user).arm(subject, arm)


def arms_refusal(session: Session, user: Any, study_id: str) -> str | None:
    """Why results by arm of the study are refused to the user, or None when allowed."""
    return None if arms_visible(user, session.get(Study, study_id)) else _(NO_ARMS)


def command_user(session: Session, args: Any) -> Any:
    """The user named by a read-only command's --as / PV_ACTOR (None when none is named).
    A name that is not an active user is refused (CommandError)."""
    from pv.auth.service import get_user
    from pv.cli import CommandError, acting_username

    username = acting_username(args)
    if username is None:
        return None
    user = get_user(session, username)
    if user is None or user.disabled or getattr(user, "locked_at", None) is not None:
        raise CommandError(_("--as %(username)s: no active user of that name", username=username))
    return user


def command_arms_visible(session: Session, args: Any, study_id: str) -> bool:
    """Whether a read-only command writes the real arms of the study: always for an open-
    label study; for a blinded one only when --as names a user with the permission (the
    user is looked up only then: an open-label export needs no --as)."""
    study = session.get(Study, study_id)
    if not is_blinded(study):
        return True
    return arms_visible(command_user(session, args), study)
