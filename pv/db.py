"""Engine and sessions for SQLite (default) and PostgreSQL.

SQLite is set up for several writers: WAL, a busy timeout, and write
transactions begun with BEGIN IMMEDIATE. A deferred transaction that reads and
then writes cannot wait for the lock and fails with "database is locked" (or,
with Python's default transaction handling, silently loses updates); taking the
write lock at BEGIN makes concurrent writers queue instead (reliability.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine
from starlette.concurrency import run_in_threadpool

WRITE_OPTION = "pv_write"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 8192


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    if is_sqlite(url):
        memory = make_url(url).database in (None, "", ":memory:")
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if memory:
            kwargs.setdefault("poolclass", StaticPool)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine, wal=not memory)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy (below) emit BEGIN itself instead of the sqlite3 module.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if wal:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        # 8 MiB of pages (the default is 2 MiB): a review-queue page's working set (its
        # rows, the subject, assessment, report and query indexes) outgrew 2 MiB at 10^6
        # events, and each page read the same pages from the OS again (0.6 ms instead of
        # 0.26 ms of SQL for a page of tier 1). Grown on use, per connection.
        cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction takes the write lock up front; commits on success."""
    with Session(engine, expire_on_commit=False) as session:
        conn = session.connection(execution_options={WRITE_OPTION: True})
        if engine.dialect.name == "postgresql":
            # The audit trail's lock (pv/audit/chain.py), taken first as BEGIN IMMEDIATE
            # does on SQLite: a writer holding it never waits for a row another writer
            # holds while that one waits for it (no deadlock between the two kinds).
            from pv.audit.chain import lock

            lock(conn, wait_seconds=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


T = TypeVar("T")


async def run_db(engine: Engine, work: Callable[[], T]) -> T:
    """Blocking database work from an async route: inline on the event loop for SQLite (the
    read is CPU work in this process, with no wait to overlap; a thread hand-off costs more
    than a short read), in the thread pool for a database server (the loop serves other
    requests while the server answers)."""
    if engine.dialect.name == "sqlite":
        return work()
    return await run_in_threadpool(work)


_engines: dict[str, Engine] = {}


def get_engine(url: str | None = None) -> Engine:
    """One engine per database URL per process."""
    from pv.settings import get_settings

    url = url or get_settings().database_url
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]
