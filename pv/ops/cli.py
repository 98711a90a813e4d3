"""`pvtracker backup --out FILE` and `pvtracker restore --from FILE`."""

from __future__ import annotations

import argparse
from pathlib import Path

from pv.cli import CommandError
from pv.i18n import gettext as _


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "backup", help=_("write a consistent backup of the database (safe while users write)")
    )
    p.add_argument("--out", required=True, type=Path, help=_("backup file to write"))
    p.set_defaults(func=_backup)
    p = sub.add_parser("restore", help=_("restore a backup into an EMPTY database"))
    p.add_argument("--from", dest="source", required=True, type=Path, help=_("backup file"))
    p.set_defaults(func=_restore)


def _url() -> str:
    from pv.settings import get_settings

    return get_settings().database_url


def _backup(args: argparse.Namespace) -> int:
    from pv.ops.backup import BackupError, backup

    try:
        out = backup(_url(), args.out)
    except BackupError as exc:
        raise CommandError(str(exc)) from exc
    print(_("backup written to %(file)s (%(size)s bytes)", file=out, size=out.stat().st_size))
    return 0


def _restore(args: argparse.Namespace) -> int:
    from pv.ops.backup import BackupError, restore

    try:
        restore(_url(), args.source)
    except BackupError as exc:
        raise CommandError(str(exc)) from exc
    print(_("restored %(file)s", file=args.source))
    return 0
