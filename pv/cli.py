"""The `pvtracker` command line. Commands call services, never web routes.

Each domain contributes its commands through a `register(subparsers)` function in
its own `cli.py`; this module only assembles them and runs the chosen one.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from pv import i18n  # light: the catalogs are read only when a message is translated
from pv.i18n import gettext as _

# Modules that define `register(subparsers)`. Keep the list sorted by domain.
COMMAND_MODULES = (
    "pv.study.cli",
    "pv.terminology.cli",
    "pv.demo.cli",
    "pv.web.cli",
    "pv.auth.cli",
    "pv.analysis.cli",
    "pv.imports.cli",
    "pv.exports.cli",
    "pv.review.cli",
    "pv.icsr.cli",
    "pv.notify.cli",
    "pv.ops.cli",
    "pv.audit.cli",
    "pv.blinding.cli",
)


class CommandError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


# The environment variables naming the command's language, in order of precedence
# (POSIX: LC_ALL overrides LC_MESSAGES, which overrides LANG).
LANGUAGE_VARIABLES = ("PV_LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def environment_language(environ: Mapping[str, str] | None = None) -> str:
    """The language of the command's messages: PV_LANGUAGE, else the locale variables
    (zh_CN.UTF-8 -> zh-Hans), else English. The first variable that is set decides: a
    set but unsupported value (LANG=fr_FR.UTF-8, C.UTF-8) means English."""
    env = os.environ if environ is None else environ
    for name in LANGUAGE_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            return i18n.normalize(value.split(".", 1)[0].split("@", 1)[0]) or i18n.DEFAULT
    return i18n.DEFAULT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pvtracker", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a domain not built yet
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    with i18n.use(environment_language()):
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        result = args.func(args)
    except CommandError as exc:
        print(_("error: %(detail)s", detail=exc), file=sys.stderr)
        return 2
    return int(result or 0)


def database(*, upgrade: bool = False):  # type: ignore[no-untyped-def]
    """The engine for PV_DATABASE_URL, migrated to the latest schema when asked."""
    from pv.db import get_engine
    from pv.migrate import upgrade as run_upgrade

    engine = get_engine()
    if upgrade:
        run_upgrade(engine)
    return engine


# Attributed commands (issue 13, point 4). A command that changes data acts as a person:
# `--as USERNAME` (or the environment variable PV_ACTOR) names an active user with a role
# the command allows, and the audit trail records that user. Read-only commands take none.
ACTOR_VARIABLE = "PV_ACTOR"


def add_actor_argument(parser: argparse.ArgumentParser) -> None:
    """Give a data-changing command its `--as USERNAME` option."""
    parser.add_argument(
        "--as",
        dest="acting_as",
        metavar="USERNAME",
        default=None,
        help=_("the active user this command acts as and is recorded as (default: $PV_ACTOR)"),
    )


def acting_username(args: argparse.Namespace) -> str | None:
    return (
        getattr(args, "acting_as", None) or os.environ.get(ACTOR_VARIABLE) or ""
    ).strip() or None


def command_actor(session, args: argparse.Namespace, *roles: str):  # type: ignore[no-untyped-def]
    """The Actor a data-changing command records: the user named by --as / PV_ACTOR, who
    must exist, be active (not disabled, not locked) and hold one of `roles`.
    Raises CommandError otherwise, before anything is written."""
    from pv.auth.service import actor_for, get_user

    username = acting_username(args)
    if username is None:
        raise CommandError(
            _(
                "this command changes data: name the user it acts as with --as USERNAME "
                "(or PV_ACTOR)"
            )
        )
    user = get_user(session, username)
    if user is None or user.disabled or getattr(user, "locked_at", None) is not None:
        raise CommandError(_("--as %(username)s: no active user of that name", username=username))
    if roles and user.role not in roles:
        raise CommandError(
            _(
                "--as %(username)s (role: %(role)s) may not do this (needs: %(roles)s)",
                username=username,
                role=user.role,
                roles=", ".join(roles),
            )
        )
    return actor_for(user)
