"""`pvtracker backup --out FILE` and `pvtracker restore --from FILE --as ADMIN`.

A backup only reads. A restore writes a whole database: it acts as an admin (`--as` or
PV_ACTOR) who must be an active admin IN THE BACKUP (the target database is empty, so nobody
exists there yet), checked in the file before anything is written; the restored audit trail
then records "restore" by that admin."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from pv.cli import CommandError, acting_username, add_actor_argument
from pv.i18n import gettext as _


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "backup", help=_("write a consistent backup of the database (safe while users write)")
    )
    p.add_argument("--out", required=True, type=Path, help=_("backup file to write"))
    p.set_defaults(func=_backup)
    p = sub.add_parser("restore", help=_("restore a backup into an EMPTY database"))
    p.add_argument("--from", dest="source", required=True, type=Path, help=_("backup file"))
    add_actor_argument(p)
    p.set_defaults(func=_restore, roles=("admin",))


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


def _unescape(field: str) -> str | None:
    """A field of PostgreSQL's COPY text format."""
    if field == "\\N":
        return None
    codes = {"t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}
    return re.sub(r"\\(.)", lambda m: codes.get(m.group(1), m.group(1)), field)


def backup_accounts(source: Path) -> dict[str, tuple[str, bool]] | None:
    """The accounts of a backup file, read without restoring it: {username: (role, active)}
    (active: not disabled, not locked). None when the file is not a backup (restore says so)."""
    import sqlite3
    import subprocess

    from pv.ops.backup import PGDUMP_MAGIC, SQLITE_MAGIC, BackupError, _tool

    try:
        with source.open("rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if head.startswith(SQLITE_MAGIC):
        con = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            present = {row[1] for row in con.execute('PRAGMA table_info("user")')}
            if not present:
                return {}
            locked = "locked_at" if "locked_at" in present else "NULL"
            rows = con.execute(f'SELECT username, role, disabled, {locked} FROM "user"')
            return {u: (r, not d and lk is None) for u, r, d, lk in rows}
        finally:
            con.close()
    if head.startswith(PGDUMP_MAGIC):
        try:
            tool = _tool("pg_restore")
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        proc = subprocess.run([tool, "--data-only", "--table=user", "--file=-", str(source)],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if proc.returncode != 0:
            raise CommandError(proc.stderr.strip().splitlines()[-1] if proc.stderr else tool)
        accounts: dict[str, tuple[str, bool]] = {}
        columns: list[str] = []
        for line in proc.stdout.splitlines():
            if line.startswith('COPY public."user" ('):
                columns = [
                    c.strip().strip('"') for c in line.split("(", 1)[1].split(")")[0].split(",")
                ]
                continue
            if not columns:
                continue
            if line == "\\.":
                break
            row = dict(zip(columns, map(_unescape, line.split("\t")), strict=False))
            active = row.get("disabled") == "f" and row.get("locked_at") is None
            accounts[row["username"] or ""] = (row.get("role") or "", active)
        return accounts
    return None


def _restore(args: argparse.Namespace) -> int:
    from pv.audit.service import record
    from pv.auth.service import actor_for, get_user
    from pv.cli import database
    from pv.db import write_session
    from pv.ops.backup import BackupError, restore

    username = acting_username(args)
    if username is None:
        raise CommandError(
            _(
                "this command changes data: name the user it acts as with --as USERNAME "
                "(or PV_ACTOR)"
            )
        )
    accounts = backup_accounts(args.source)
    if accounts is not None:  # (not a backup: restore() refuses it below)
        role, active = accounts.get(username, ("", False))
        if not active or role not in args.roles:
            raise CommandError(
                _(
                    "--as %(username)s: no active admin of that name in the backup %(file)s",
                    username=username,
                    file=args.source,
                )
            )
    try:
        restore(_url(), args.source)
    except BackupError as exc:
        raise CommandError(str(exc)) from exc
    with write_session(database(upgrade=True)) as session:
        user = get_user(session, username)
        assert user is not None  # checked in the backup
        record(session=session, actor=actor_for(user), action="restore",
               entity_type="database", entity_id=args.source.name,
               changes={"backup": [None, str(args.source)]})  # fmt: skip
    print(_("restored %(file)s", file=args.source))
    return 0
