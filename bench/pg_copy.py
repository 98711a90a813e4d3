"""Benchmark set-up for PostgreSQL: the rows of a bench SQLite file, copied into PostgreSQL.

The SQLite builders (bench_tables.py, bench_queue_data.py) write 10^6 events in about a
minute with bulk inserts; the same data in PostgreSQL is what the scale runs of issue 7
measure. The target database is emptied (its public schema dropped: a bench database
only) and migrated to the current schema (pv.migrate), then each table is copied in
foreign-key order with COPY (text format: SQLite's 0/1 booleans and "YYYY-MM-DD HH:MM:SS"
stamps are valid PostgreSQL input), with user triggers off so that the queue tally is
copied as built, not counted twice. Sequences are moved past the copied ids and the
tables analysed, as after any bulk load.

    .venv/bin/python bench/pg_copy.py SQLITE_FILE POSTGRES_URL
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

CHUNK = 50_000


def copy_sqlite_to_pg(sqlite_path: Path, pg_url: str) -> dict[str, int]:
    """Copy every table of the schema; {table: rows}."""
    import psycopg
    from sqlalchemy.engine import make_url
    from sqlmodel import SQLModel

    import pv.models  # noqa: F401  (every table on the metadata)
    from pv.db import make_engine
    from pv.migrate import upgrade

    url = make_url(pg_url)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as pg:  # a bench database: start empty
        pg.execute("DROP SCHEMA public CASCADE")
        pg.execute("CREATE SCHEMA public")
    engine = make_engine(pg_url)
    upgrade(engine)
    engine.dispose()
    tables = list(SQLModel.metadata.sorted_tables)
    src = sqlite3.connect(sqlite_path)
    present = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    copied: dict[str, int] = {}
    with psycopg.connect(dsn) as pg:
        pg.execute("SET TIME ZONE 'UTC'")
        for t in tables:
            pg.execute(f'ALTER TABLE "{t.name}" DISABLE TRIGGER USER')
        for t in tables:
            if t.name not in present:
                continue
            cols = [c.name for c in t.columns]
            quoted = ", ".join(f'"{c}"' for c in cols)
            cur = src.execute(f'SELECT {quoted} FROM "{t.name}"')
            n = 0
            with pg.cursor() as out, out.copy(f'COPY "{t.name}" ({quoted}) FROM STDIN') as copy:
                while rows := cur.fetchmany(CHUNK):
                    for row in rows:
                        copy.write_row(row)
                    n += len(rows)
            copied[t.name] = n
        for t in tables:
            pg.execute(f'ALTER TABLE "{t.name}" ENABLE TRIGGER USER')
            for c in t.columns:
                if c.primary_key and c.autoincrement is not False and str(c.type) == "INTEGER":
                    seq = pg.execute(
                        "SELECT pg_get_serial_sequence(%s, %s)", (f'"{t.name}"', c.name)
                    ).fetchone()
                    if seq and seq[0]:
                        pg.execute(
                            f'SELECT setval(%s, COALESCE((SELECT max("{c.name}") FROM '
                            f'"{t.name}"), 0) + 1, false)',
                            (seq[0],),
                        )
        pg.commit()
        pg.autocommit = True
        pg.execute("VACUUM ANALYZE")
    src.close()
    return copied


def holds_bench(url: str, study: str, events: int) -> bool:
    """The PostgreSQL database already holds the bench study with all its events (the copy
    is one transaction: a database holding the events holds everything)."""
    import sqlalchemy as sa

    from pv.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            n = conn.execute(
                sa.text("SELECT count(*) FROM adverseevent WHERE study_id = :s"), {"s": study}
            ).scalar()
            return n == events
    except sa.exc.DBAPIError:
        return False  # no schema yet
    finally:
        engine.dispose()


def add_pg_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pg",
        metavar="URL",
        help="run against this PostgreSQL database (postgresql+psycopg://...), filled from "
        "the SQLite bench file by pg_copy.py unless it already holds the bench data; its "
        "contents are replaced",
    )


def bench_database(
    sqlite_path: Path, pg_url: str | None, *, study: str, events: int, build: Callable[[Path], None]
) -> str:
    """The URL a benchmark runs against: the SQLite bench file (built if missing), or the
    PostgreSQL database `pg_url`, filled from that file unless it already holds the data."""
    need_sqlite = pg_url is None or not holds_bench(pg_url, study, events)
    if need_sqlite and not sqlite_path.exists():
        t0 = time.perf_counter()
        print(f"building {sqlite_path} ...")
        build(sqlite_path)
        size = sqlite_path.stat().st_size / 2**20
        print(f"  built in {time.perf_counter() - t0:.0f} s ({size:.0f} MiB)")
    if pg_url and need_sqlite:
        t0 = time.perf_counter()
        print(f"copying {sqlite_path} into PostgreSQL ...")
        copy_sqlite_to_pg(sqlite_path, pg_url)
        print(f"  copied in {time.perf_counter() - t0:.0f} s")
    url = pg_url or f"sqlite:///{sqlite_path}"
    print(f"database: {make_url(url).render_as_string(hide_password=True)}")
    return url


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    t0 = time.perf_counter()
    copied = copy_sqlite_to_pg(Path(sys.argv[1]), sys.argv[2])
    print(f"copied {sum(copied.values()):,} rows in {time.perf_counter() - t0:.0f} s: {copied}")


if __name__ == "__main__":
    main()
