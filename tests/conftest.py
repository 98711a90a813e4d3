"""Shared fixtures.

Every test that touches the database gets a fresh, migrated database of its own:
SQLite by default (a copy of a template file migrated once per run), PostgreSQL when
PV_TEST_DATABASE_URL points at a server (a database cloned from a migrated template).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from pv.db import make_engine
from pv.migrate import upgrade

PG_URL = os.environ.get("PV_TEST_DATABASE_URL", "")


def backend() -> str:
    return "postgresql" if PG_URL else "sqlite"


def pytest_report_header(config: pytest.Config) -> str:
    return f"pv-tracker test database: {backend()}"


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database with the CTCAE release loaded, cloned for each test."""
    from pv.terminology.ctcae import load_ctcae

    if not PG_URL:
        path = tmp_path_factory.mktemp("tpl") / "template.sqlite"
        eng = make_engine(f"sqlite:///{path}")
        upgrade(eng)
        load_ctcae(eng)
        with eng.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        eng.dispose()
        yield str(path)
        return
    name = f"pvtpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    eng = make_engine(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    upgrade(eng)
    load_ctcae(eng)
    eng.dispose()
    yield name
    _pg_drop(name)


def _pg_admin(sql: str) -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(sql))
    admin.dispose()


def _pg_drop(name: str) -> None:
    """Drop a test database. Without superuser rights, a lingering background connection
    (autovacuum) can make DROP fail for a moment: retry, and leave it behind rather than
    fail a test that passed (the cluster is a throw-away test server)."""
    for attempt in range(10):
        try:
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}"')
            return
        except DBAPIError:
            time.sleep(0.2 * (attempt + 1))


@pytest.fixture
def db_url(_template: str, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh database for this test (migrated, CTCAE 5.0 loaded)."""
    if not PG_URL:
        path = tmp_path / "test.sqlite"
        shutil.copyfile(_template, path)
        yield f"sqlite:///{path}"
        return
    name = f"pvt_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{_template}"')
    yield str(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    _pg_drop(name)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()
