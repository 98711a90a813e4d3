"""Commands: `pvtracker notify` (cron: unsent e-mails and the daily digest of expedited
reports) and `pvtracker notify-email` (a user's notification address).

Both change data and act as a person (`--as USERNAME` or PV_ACTOR): `notify` as a safety
officer or an admin (the cron job names one), `notify-email` as an admin or as the user
whose address it is."""

from __future__ import annotations

import argparse
import logging

from pv.cli import CommandError, add_actor_argument
from pv.i18n import gettext as _
from pv.i18n import ngettext

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "notify",
        help=_("e-mail unsent notifications and the daily digest of expedited reports"),
        description=_(
            "Write today's digest of expedited reports due within 48 hours or overdue for "
            "the safety officers (once a day), and e-mail every notification not yet "
            "e-mailed. Run it from cron; it always exits 0 when the database is reachable."
        ),
    )
    p.add_argument("--study", help=_("only this study's digest, e.g. NCT04660565"))
    add_actor_argument(p)
    p.set_defaults(func=run, roles=("admin", "officer"))
    e = sub.add_parser(
        "notify-email",
        help=_("set or clear the address a user's notifications are e-mailed to"),
    )
    e.add_argument("username")
    e.add_argument("address", nargs="?", help=_("the e-mail address (omit with --clear)"))
    e.add_argument("--clear", action="store_true", help=_("remove the address (in-app only)"))
    add_actor_argument(e)
    # Any active user may set their own address; an admin sets anyone's (set_address).
    e.set_defaults(func=set_address, roles=("admin",))


def run(args: argparse.Namespace) -> int:
    from pv.audit.service import record
    from pv.cli import database
    from pv.db import write_session
    from pv.notify import mail
    from pv.notify.digest import write_digests
    from pv.study.cli import acting_user
    from pv.study.models import Study

    engine = database(upgrade=True)
    actor = acting_user(engine, args)
    with write_session(engine) as session:
        if args.study and session.get(Study, args.study) is None:
            raise CommandError(_("no study '%(study)s'", study=args.study))
        digests = write_digests(session, study_id=args.study)
        if digests:
            # Notifications carry no author: the audit trail says who had them written.
            session.flush()
            for sid in sorted({d.study_id or "" for d in digests}):
                ids = sorted(d.id for d in digests if (d.study_id or "") == sid)  # type: ignore[type-var]
                record(session=session, actor=actor, action="digest",
                       entity_type="notification", entity_id=sid, study_id=sid or None,
                       changes={"notifications": [None, ids]})  # fmt: skip
    print(ngettext("%(num)d digest written", "%(num)d digests written", len(digests)))
    if not mail.configured():
        print(_("SMTP is not configured (PV_SMTP_HOST): notifications are in-app only."))
        return 0
    result = mail.send_pending(engine)
    print(ngettext("%(num)d e-mail sent", "%(num)d e-mails sent", result.sent))
    if result.failed:
        print(ngettext("%(num)d e-mail failed; the next run retries it",
                       "%(num)d e-mails failed; the next run retries them",
                       result.failed))  # fmt: skip
    return 0


def set_address(args: argparse.Namespace) -> int:
    from pv.cli import command_actor, database
    from pv.db import write_session
    from pv.notify.service import AddressError, set_email

    if bool(args.clear) == bool(args.address):
        raise CommandError(_("give an address or --clear"))
    with write_session(database(upgrade=True)) as session:
        # Your own address: any active user; someone else's: an admin.
        actor = command_actor(session, args)
        if actor.username != args.username:
            actor = command_actor(session, args, *args.roles)
        try:
            set_email(session, username=args.username, actor=actor,
                      address=None if args.clear else args.address)  # fmt: skip
        except AddressError as exc:
            raise CommandError(str(exc)) from exc
    if args.clear:
        print(_("%(username)s: no e-mail address (in-app notifications only)",
                username=args.username))  # fmt: skip
    else:
        print(_("%(username)s: notifications are e-mailed to %(address)s",
                username=args.username, address=args.address))  # fmt: skip
    return 0
