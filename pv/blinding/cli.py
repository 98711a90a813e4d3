"""Commands: blinding set, blinding grant, blinding revoke, blinding show.

    pvtracker blinding set --study NCT01234567 --blinded yes --as admin
    pvtracker blinding grant statistician --as admin      (may see arms in blinded studies)
    pvtracker blinding revoke statistician --as admin
    pvtracker blinding show                               (read-only: studies and users)

The changes act as the admin named by --as (or PV_ACTOR) and are audited.
"""

from __future__ import annotations

import argparse

from pv.cli import CommandError, add_actor_argument, command_actor, database
from pv.i18n import gettext as _

YES, NO = ("yes", "y", "true", "1"), ("no", "n", "false", "0")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("blinding", help=_("blinded studies and who may see the arms"))
    bsub = p.add_subparsers(dest="blinding_command", required=True, metavar="ACTION")
    s = bsub.add_parser("set", help=_("mark a study blinded or open label"))
    s.add_argument("--study", required=True)
    s.add_argument("--blinded", required=True, metavar="yes|no",
                   help=_("yes: blinded (arms masked); no: open label"))  # fmt: skip
    s.add_argument("--reason", help=_("why (kept in the audit trail)"))
    add_actor_argument(s)
    s.set_defaults(func=_set)
    for name, granted, text in (
        ("grant", True, _("allow a user to see the arms of blinded studies")),
        ("revoke", False, _("withdraw a user's permission to see the arms of blinded studies")),
    ):
        g = bsub.add_parser(name, help=text)
        g.add_argument("username")
        g.add_argument("--reason", help=_("why (kept in the audit trail)"))
        add_actor_argument(g)
        g.set_defaults(func=_permission, granted=granted)
    show = bsub.add_parser("show", help=_("blinded studies and the users allowed to see arms"))
    show.set_defaults(func=_show)


def _yes_no(text: str) -> bool:
    value = text.strip().lower()
    if value in YES:
        return True
    if value in NO:
        return False
    raise CommandError(_("--blinded: '%(value)s' is not yes or no", value=text))


def _set(args: argparse.Namespace) -> int:
    from pv.blinding.service import BlindingError, set_blinded
    from pv.db import write_session

    blinded = _yes_no(args.blinded)
    engine = database(upgrade=True)
    with write_session(engine) as session:
        actor = command_actor(session, args, "admin")
        try:
            study = set_blinded(session=session, actor=actor, study_id=args.study,
                                blinded=blinded, reason=args.reason)  # fmt: skip
        except BlindingError as exc:
            raise CommandError(str(exc)) from exc
        study_id = study.id
    if blinded:
        print(_("%(study)s is blinded: arms are masked for users without the unblinded "
                "permission", study=study_id))  # fmt: skip
    else:
        print(_("%(study)s is open label: arms are shown", study=study_id))
    return 0


def _permission(args: argparse.Namespace) -> int:
    from pv.blinding.service import BlindingError, set_permission
    from pv.db import write_session

    engine = database(upgrade=True)
    with write_session(engine) as session:
        actor = command_actor(session, args, "admin")
        try:
            user = set_permission(session=session, actor=actor, username=args.username,
                                  granted=args.granted, reason=args.reason)  # fmt: skip
        except BlindingError as exc:
            raise CommandError(str(exc)) from exc
        username = user.username
    if args.granted:
        print(_("%(username)s may see the arms of blinded studies", username=username))
    else:
        print(_("%(username)s may no longer see the arms of blinded studies", username=username))
    return 0


def _show(args: argparse.Namespace) -> int:
    from sqlmodel import col, select

    from pv.auth.models import User
    from pv.db import read_session
    from pv.study.models import Study

    with read_session(database(upgrade=True)) as session:
        studies = list(session.exec(select(Study).order_by(col(Study.id))))
        users = list(session.exec(select(User.username).where(col(User.unblinded).is_(True))
                                  .order_by(col(User.username))))  # fmt: skip
    for study in studies:
        state = _("blinded") if study.blinded else _("open label")
        print(_("%(study)s: %(state)s (ClinicalTrials.gov masking: %(masking)s)",
                study=study.id, state=state, masking=study.masking or "-"))  # fmt: skip
    print(_("users who may see arms in blinded studies: %(users)s",
            users=", ".join(users) or "-"))  # fmt: skip
    return 0
