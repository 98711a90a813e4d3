"""Backup and restore of the whole database, safe while users write.

SQLite: the sqlite3 online backup API copies a consistent snapshot page by page, so a
backup taken during writes holds every committed row. A raw copy of a live WAL database
can look intact and hold none of the recent rows (reliability.md): never copy the file.

PostgreSQL: `pg_dump --format=custom` (one consistent snapshot) and `pg_restore --no-owner`.
The password goes to the tools through the PGPASSWORD environment variable, never on the
command line, where other users of the machine could read it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why."""


def _sqlite_path(url: URL) -> Path:
    if url.database in (None, "", ":memory:"):
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(url.database)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
            return str(candidate)
        raise BackupError(f"{name} not found: install the PostgreSQL client tools")
    return path


def _pg_args(url: URL) -> tuple[list[str], dict[str, str]]:
    """Connection options for pg_dump/pg_restore, and the environment carrying the password."""
    args = []
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    if not url.database:
        raise BackupError("the PostgreSQL URL names no database")
    args += ["--dbname", url.database]
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return args, env


def _run(cmd: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise BackupError(f"{Path(cmd[0]).name} failed: {' / '.join(detail[-3:])}")


def backup(database_url: str, out: Path) -> Path:
    """Write a consistent backup of the database at `database_url` to `out`."""
    url = make_url(database_url)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if url.get_backend_name() == "sqlite":
            source = _sqlite_path(url)
            if not source.exists():
                raise BackupError(f"no database at {source}")
            src = sqlite3.connect(source, timeout=30)
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)
                # A backup file stands alone: no -wal file next to it.
                dst.execute("PRAGMA journal_mode=DELETE")
            finally:
                dst.close()
                src.close()
        elif url.get_backend_name() == "postgresql":
            args, env = _pg_args(url)
            _run([_tool("pg_dump"), "--format=custom", "--file", str(partial), *args], env)
        else:
            raise BackupError(f"unsupported database: {url.get_backend_name()}")
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def _user_tables(database_url: str) -> list[str]:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


def restore(database_url: str, source: Path) -> None:
    """Restore the backup `source` into the EMPTY database at `database_url`."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    with source.open("rb") as fh:
        head = fh.read(16)
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        target = _sqlite_path(url)
        if not head.startswith(SQLITE_MAGIC):
            raise BackupError(f"{source} is not a SQLite backup")
        if target.exists() and target.stat().st_size > 0:
            tables = _user_tables(database_url)
            if tables:
                raise BackupError(
                    f"the target database is not empty ({len(tables)} tables): "
                    "restore only into an empty database"
                )
        target.parent.mkdir(parents=True, exist_ok=True)
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")
        finally:
            dst.close()
            src.close()
    elif backend == "postgresql":
        if not head.startswith(PGDUMP_MAGIC):
            raise BackupError(f"{source} is not a pg_dump custom-format backup")
        tables = _user_tables(database_url)
        if tables:
            raise BackupError(
                f"the target database is not empty ({len(tables)} tables): "
                "restore only into an empty database"
            )
        args, env = _pg_args(url)
        _run(
            [_tool("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction",
             "--exit-on-error", *args, str(source)],
            env,
        )  # fmt: skip
    else:
        raise BackupError(f"unsupported database: {backend}")
