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
from pv.study.models import Site

CLI = Actor.system("cli")


def register(sub: argparse._SubParsersAction) -> None:
    user = sub.add_parser("user", help="user accounts")
    us = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = us.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=list(Role.__members__))
    add.add_argument(
        "--site", action="append", default=[], help="site id (investigators; repeatable)"
    )
    add.add_argument("--study", help="study of the site, when site ids are ambiguous")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(func=_add)
    pw = us.add_parser("set-password", help="set a user's password (ends their sessions)")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true")
    pw.set_defaults(func=_set_password)
    dis = us.add_parser("disable", help="disable a user (ends sessions, revokes tokens)")
    dis.add_argument("username")
    dis.set_defaults(func=_disable)
    tok = us.add_parser("token", help="print a new personal API token (last line)")
    tok.add_argument("username")
    tok.set_defaults(func=_token)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise CommandError("the passwords differ")
    return first


def _sites(session: Session, codes: list[str], study: str | None) -> list[Site]:
    found = []
    for code in codes:
        q = select(Site).where(Site.code == code)
        if study:
            q = q.where(Site.study_id == study)
        rows = session.exec(q).all()
        if not rows:
            raise CommandError(f"no site '{code}'" + (f" in {study}" if study else ""))
        if len(rows) > 1:
            raise CommandError(f"site '{code}' exists in several studies: give --study")
        found.append(rows[0])
    return found


def _user(session: Session, username: str):  # type: ignore[no-untyped-def]
    from pv.auth.service import get_user

    user = get_user(session, username)
    if user is None:
        raise CommandError(f"no user '{username}'")
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
    print(f"created {args.role} {args.username}")
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
    print(f"password set for {args.username}")
    return 0


def _disable(args: argparse.Namespace) -> int:
    from pv.auth.service import disable_user

    with write_session(database(upgrade=True)) as session:
        disable_user(session=session, actor=CLI, user=_user(session, args.username))
    print(f"disabled {args.username}")
    return 0


def _token(args: argparse.Namespace) -> int:
    from pv.auth.service import issue_token

    with write_session(database(upgrade=True)) as session:
        user = _user(session, args.username)
        if user.disabled:
            raise CommandError(f"{args.username} is disabled")
        token = issue_token(session=session, actor=CLI, user=user)
    print(f"API token for {args.username} (shown once):")
    print(token)
    return 0
