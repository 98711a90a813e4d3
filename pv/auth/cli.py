"""Commands: user add | set-password | disable | token."""

from __future__ import annotations

import argparse
import getpass
import sys

from sqlmodel import Session, select

from pv.audit.service import Actor
from pv.auth.models import Role
from pv.cli import CommandError, database
from pv.db import write_session
from pv.i18n import gettext as _
from pv.study.models import Site

CLI = Actor.system("cli")


def register(sub: argparse._SubParsersAction) -> None:
    user = sub.add_parser("user", help=_("user accounts"))
    us = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = us.add_parser("add", help=_("create a user"))
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=list(Role.__members__))
    add.add_argument(
        "--site", action="append", default=[], help=_("site id (investigators; repeatable)")
    )
    add.add_argument("--study", help=_("study of the site, when site ids are ambiguous"))
    add.add_argument(
        "--password-stdin", action="store_true", help=_("read the password from stdin")
    )
    add.set_defaults(func=_add)
    pw = us.add_parser("set-password", help=_("set a user's password (ends their sessions)"))
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true")
    pw.set_defaults(func=_set_password)
    dis = us.add_parser("disable", help=_("disable a user (ends sessions, revokes tokens)"))
    dis.add_argument("username")
    dis.set_defaults(func=_disable)
    tok = us.add_parser("token", help=_("print a new personal API token (last line)"))
    tok.add_argument("username")
    tok.set_defaults(func=_token)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(_("Password: "))
    if first != getpass.getpass(_("Again: ")):
        raise CommandError(_("the passwords differ"))
    return first


def _sites(session: Session, codes: list[str], study: str | None) -> list[Site]:
    found = []
    for code in codes:
        q = select(Site).where(Site.code == code)
        if study:
            q = q.where(Site.study_id == study)
        rows = session.exec(q).all()
        if not rows:
            if study:
                raise CommandError(_("no site '%(code)s' in %(study)s", code=code, study=study))
            raise CommandError(_("no site '%(code)s'", code=code))
        if len(rows) > 1:
            raise CommandError(
                _("site '%(code)s' exists in several studies: give --study", code=code)
            )
        found.append(rows[0])
    return found


def _user(session: Session, username: str):  # type: ignore[no-untyped-def]
    from pv.auth.service import get_user

    user = get_user(session, username)
    if user is None:
        raise CommandError(_("no user '%(username)s'", username=username))
    return user


def _add(args: argparse.Namespace) -> int:
    from pv.auth.service import AccountError, create_user

    password = _password(args) if args.password_stdin or sys.stdin.isatty() else None
    with write_session(database(upgrade=True)) as session:
        try:
            create_user(
                session=session,
                actor=CLI,
                username=args.username,
                role=args.role,
                password=password,
                sites=_sites(session, args.site, args.study),
            )
        except AccountError as exc:
            raise CommandError(str(exc)) from exc
    print(_("created %(role)s %(username)s", role=args.role, username=args.username))
    return 0


def _set_password(args: argparse.Namespace) -> int:
    from pv.auth.service import AccountError, set_password

    password = _password(args)
    with write_session(database(upgrade=True)) as session:
        try:
            set_password(
                session=session, actor=CLI, user=_user(session, args.username), password=password
            )
        except AccountError as exc:
            raise CommandError(str(exc)) from exc
    print(_("password set for %(username)s", username=args.username))
    return 0


def _disable(args: argparse.Namespace) -> int:
    from pv.auth.service import disable_user

    with write_session(database(upgrade=True)) as session:
        disable_user(session=session, actor=CLI, user=_user(session, args.username))
    print(_("disabled %(username)s", username=args.username))
    return 0


def _token(args: argparse.Namespace) -> int:
    from pv.auth.service import issue_token

    with write_session(database(upgrade=True)) as session:
        user = _user(session, args.username)
        if user.disabled:
            raise CommandError(_("%(username)s is disabled", username=args.username))
        token = issue_token(session=session, actor=CLI, user=user)
    print(_("API token for %(username)s (shown once):", username=args.username))
    print(token)
    return 0
