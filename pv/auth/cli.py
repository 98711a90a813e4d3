"""Commands: user add | set-password | disable | unlock | token | revoke-token (change data:
they act as an administrator named by --as USERNAME or PV_ACTOR, recorded as the actor) and
user list | tokens (read only).

Bootstrap: while the database has no active administrator, `user add NAME --role admin`
runs without --as; the new administrator is recorded as its own creator, with the reason
"bootstrap". Every other data-changing command refuses without --as."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from pv.cli import CommandError, acting_username, add_actor_argument, command_actor, database
from pv.i18n import gettext as _

if TYPE_CHECKING:
    from sqlmodel import Session

    from pv.study.models import Site


# pv.auth.models.Role's values, written out so that building the parser imports no ORM
# (`pvtracker --help` starts at once; tests/cli/test_cli_start.py checks they agree).
ROLES = ("investigator", "officer", "dsmb", "admin")


def register(sub: argparse._SubParsersAction) -> None:
    user = sub.add_parser("user", help=_("user accounts"))
    us = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = us.add_parser("add", help=_("create a user"))
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=list(ROLES))
    add.add_argument(
        "--site", action="append", default=[], help=_("site id (investigators; repeatable)")
    )
    add.add_argument("--study", help=_("study of the site, when site ids are ambiguous"))
    add.add_argument(
        "--password-stdin", action="store_true", help=_("read the password from stdin")
    )
    add_actor_argument(add)
    add.set_defaults(func=_add)
    pw = us.add_parser(
        "set-password", help=_("set a user's password (ends their sessions, revokes tokens)")
    )
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true")
    add_actor_argument(pw)
    pw.set_defaults(func=_set_password)
    dis = us.add_parser("disable", help=_("disable a user (ends sessions, revokes tokens)"))
    dis.add_argument("username")
    add_actor_argument(dis)
    dis.set_defaults(func=_disable)
    unlock = us.add_parser(
        "unlock", help=_("unlock an account locked after too many failed log-ins")
    )
    unlock.add_argument("username")
    add_actor_argument(unlock)
    unlock.set_defaults(func=_unlock)
    tok = us.add_parser("token", help=_("print a new personal API token (last line)"))
    tok.add_argument("username")
    tok.add_argument("--label", default=None, help=_("what the token is for"))
    tok.add_argument(
        "--days", type=int, default=None, help=_("days until it expires (default $PV_TOKEN_DAYS)")
    )
    add_actor_argument(tok)
    tok.set_defaults(func=_token)
    rev = us.add_parser("revoke-token", help=_("revoke an API token by its id"))
    rev.add_argument("token_id", type=int, metavar="ID")
    add_actor_argument(rev)
    rev.set_defaults(func=_revoke_token)
    ls = us.add_parser("list", help=_("list the users (role, disabled, locked)"))
    ls.set_defaults(func=_list)
    toks = us.add_parser("tokens", help=_("list a user's API tokens"))
    toks.add_argument("username")
    toks.set_defaults(func=_tokens)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(_("Password: "))
    if first != getpass.getpass(_("Again: ")):
        raise CommandError(_("the passwords differ"))
    return first


def _sites(session: Session, codes: list[str], study: str | None) -> list[Site]:
    from sqlmodel import select

    from pv.study.models import Site

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


def _admin(session: Session, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The administrator a data-changing user command acts as (--as / PV_ACTOR)."""
    from pv.auth.models import Role

    return command_actor(session, args, Role.admin)


def _has_active_admin(session: Session) -> bool:
    from sqlmodel import select

    from pv.auth.models import Role, User

    return (
        session.exec(
            select(User.id).where(
                User.role == Role.admin,
                User.disabled.is_(False),  # type: ignore[attr-defined]
                User.locked_at.is_(None),  # type: ignore[union-attr]
            )
        ).first()
        is not None
    )


def _add(args: argparse.Namespace) -> int:
    from pv.auth.models import Role
    from pv.auth.service import AccountError, create_user
    from pv.db import write_session

    password = _password(args) if args.password_stdin or sys.stdin.isatty() else None
    with write_session(database(upgrade=True)) as session:
        # Bootstrap: the first active administrator creates itself.
        bootstrap = (
            acting_username(args) is None
            and args.role == Role.admin
            and not _has_active_admin(session)
        )
        actor = None if bootstrap else _admin(session, args)
        try:
            create_user(
                session=session,
                actor=actor,
                username=args.username,
                role=args.role,
                password=password,
                sites=_sites(session, args.site, args.study),
                reason="bootstrap" if bootstrap else None,
            )
        except AccountError as exc:
            raise CommandError(str(exc)) from exc
    print(_("created %(role)s %(username)s", role=args.role, username=args.username))
    return 0


def _set_password(args: argparse.Namespace) -> int:
    from pv.auth.service import AccountError, set_password
    from pv.db import write_session

    password = _password(args)
    with write_session(database(upgrade=True)) as session:
        actor = _admin(session, args)
        try:
            set_password(
                session=session,
                actor=actor,
                user=_user(session, args.username),
                password=password,
            )
        except AccountError as exc:
            raise CommandError(str(exc)) from exc
    print(_("password set for %(username)s", username=args.username))
    return 0


def _disable(args: argparse.Namespace) -> int:
    from pv.auth.service import disable_user
    from pv.db import write_session

    with write_session(database(upgrade=True)) as session:
        actor = _admin(session, args)
        disable_user(session=session, actor=actor, user=_user(session, args.username))
    print(_("disabled %(username)s", username=args.username))
    return 0


def _unlock(args: argparse.Namespace) -> int:
    from pv.auth.service import unlock_user
    from pv.db import write_session

    with write_session(database(upgrade=True)) as session:
        actor = _admin(session, args)
        was_locked = unlock_user(session=session, actor=actor, user=_user(session, args.username))
    if was_locked:
        print(_("unlocked %(username)s", username=args.username))
    else:
        print(_("%(username)s was not locked", username=args.username))
    return 0


def _token(args: argparse.Namespace) -> int:
    from pv.auth.service import AccountError, issue_token, token_expiry, tokens_of
    from pv.db import write_session

    with write_session(database(upgrade=True)) as session:
        actor = _admin(session, args)
        user = _user(session, args.username)
        if user.disabled:
            raise CommandError(_("%(username)s is disabled", username=args.username))
        if args.days is not None and args.days < 1:
            raise CommandError(_("--days must be at least 1"))
        try:
            token = issue_token(
                session=session, actor=actor, user=user, label=args.label, days=args.days
            )
        except AccountError as exc:
            raise CommandError(str(exc)) from exc
        row = tokens_of(session, user)[0]
        expires = token_expiry(row).strftime("%Y-%m-%d %H:%M")
    print(
        _(
            "API token %(id)s for %(username)s, expires %(expires)s UTC (shown once):",
            id=row.id,
            username=args.username,
            expires=expires,
        )
    )
    print(token)
    return 0


def _revoke_token(args: argparse.Namespace) -> int:
    from pv.auth.models import ApiToken
    from pv.auth.service import revoke_token
    from pv.db import write_session

    with write_session(database(upgrade=True)) as session:
        actor = _admin(session, args)
        token = session.get(ApiToken, args.token_id)
        if token is None:
            raise CommandError(_("no API token %(id)s", id=args.token_id))
        changed = revoke_token(session=session, actor=actor, token=token)
    if changed:
        print(_("revoked API token %(id)s", id=args.token_id))
    else:
        print(_("API token %(id)s was already revoked", id=args.token_id))
    return 0


def _when(dt) -> str:  # type: ignore[no-untyped-def]
    return dt.strftime("%Y-%m-%d %H:%M") if dt else "-"


def _list(args: argparse.Namespace) -> int:
    from sqlmodel import select

    from pv.auth.models import User
    from pv.db import read_session

    with read_session(database(upgrade=True)) as session:
        users = session.exec(select(User).order_by(User.username)).all()
        for u in users:
            state = []
            if u.disabled:
                state.append(_("disabled"))
            if u.locked_at is not None:
                state.append(_("locked since %(at)s UTC", at=_when(u.locked_at)))
            status = ", ".join(state) or _("active")
            print(f"{u.username:<24} {u.role:<13} {status}")
    return 0


def _tokens(args: argparse.Namespace) -> int:
    from pv.auth.service import token_expiry, token_state, tokens_of
    from pv.db import read_session

    with read_session(database(upgrade=True)) as session:
        user = _user(session, args.username)
        rows = tokens_of(session, user)
        if user.locked_at is not None:
            print(_("%(username)s is locked since %(at)s UTC", username=user.username,
                    at=_when(user.locked_at)))  # fmt: skip
        if not rows:
            print(_("%(username)s has no API tokens", username=user.username))
        print(
            f"{'ID':>6}  {'CREATED':<16}  {'EXPIRES':<16}  {'LAST USED':<16}  {'STATE':<8}  LABEL"
        )
        for t in rows:
            print(
                f"{t.id:>6}  {_when(t.created_at):<16}  {_when(token_expiry(t)):<16}  "
                f"{_when(t.last_used_at):<16}  {token_state(t):<8}  {t.label or ''}"
            )
    return 0
