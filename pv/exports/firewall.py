"""The DSMB firewall: who may have which session of the DSMB workbook.

- The closed session (results by arm, `session="closed"`, coded or not) is for DSMB
  members (role dsmb) and for users with the unblinded permission (User.unblinded), in an
  open-label and in a blinded study alike. Everyone else who reads the reports (safety
  officers, admins without the permission) gets the open session (pooled), which is also
  their default; asking for the closed one is refused (403 on the web, an error from the
  command), and the reports page offers them only the open session.
- The open session holds no patient-level listings (the AE, SAE, death and AESI listings
  and the per-subject exposure summary) unless the study's DSMB charter allows them
  (Study.dsmb_open_listings); the cover says which.
- `pvtracker dsmb-report` is read-only and has no signed-in user: the open session needs
  nobody; the closed session needs `--as USERNAME` (or PV_ACTOR) naming an active DSMB
  member or unblinded user, and is refused otherwise.
- The charter setting is an admin's, audited: `pvtracker dsmb-charter --study ID
  --open-listings yes|no --as ADMIN` (`set_open_listings`).
"""

from __future__ import annotations

from typing import Any

from pv.audit.service import Actor
from pv.auth.models import Role
from pv.i18n import N_
from pv.i18n import gettext as _
from pv.study.models import Study

OPEN, CLOSED = "open", "closed"
SESSIONS = (OPEN, CLOSED)
CLOSED_REFUSED = N_(
    "The closed-session (by-arm) DSMB workbook is only for DSMB members and users with "
    "the unblinded permission. You may download the open session (pooled across arms)."
)


def closed_session_allowed(user: Any) -> bool:
    """True for an active DSMB member or an active user with the unblinded permission."""
    if user is None or getattr(user, "disabled", False):
        return False
    if getattr(user, "locked_at", None) is not None:
        return False
    return user.role == Role.dsmb or bool(getattr(user, "unblinded", False))


def default_session(user: Any) -> str:
    """The session a user gets when none is asked for: the most they may see."""
    return CLOSED if closed_session_allowed(user) else OPEN


def closed_refusal() -> str:
    return _(CLOSED_REFUSED)


def open_listings(study: Any) -> bool:
    """Whether the study's DSMB charter lets the open session list patients."""
    return bool(getattr(study, "dsmb_open_listings", False))


class CharterError(Exception):
    pass


def set_open_listings(
    *, session: Any, actor: Actor, study_id: str, allowed: bool, reason: str | None = None
) -> Study:
    """Set whether the study's open DSMB session lists patients (Study.dsmb_open_listings);
    a change is audited (update of the study, with the reason)."""
    from pv.study.service import StudyError, set_study_setting

    try:
        return set_study_setting(session=session, actor=actor, study_id=study_id,
                                 field="dsmb_open_listings", value=bool(allowed),
                                 reason=reason)  # fmt: skip
    except StudyError as exc:
        raise CharterError(str(exc)) from exc
