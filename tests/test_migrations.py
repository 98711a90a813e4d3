"""Migrations from an empty database, and the append-only audit trail they install."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

import pv.models  # noqa: F401
from pv.audit.service import Actor, record
from pv.db import make_engine, write_session
from pv.migrate import current_revision, upgrade


def test_it_migrates_an_empty_database_to_the_models(tmp_path, db_url):
    # db_url was migrated by the fixture (SQLite file or PostgreSQL); check it matches the models
    engine = make_engine(db_url)
    assert current_revision(engine) is not None
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    for name, table in SQLModel.metadata.tables.items():
        cols = {c["name"] for c in inspect(engine).get_columns(name)}
        assert {c.name for c in table.columns} == cols, name
    upgrade(engine)  # idempotent
    engine.dispose()


def test_it_migrates_a_brand_new_sqlite_file(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new.sqlite'}")
    upgrade(engine)
    assert "adverseevent" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_the_audit_trail_refuses_update_and_delete(engine):
    with write_session(engine) as s:
        record(
            session=s,
            actor=Actor.system("t"),
            action="create",
            entity_type="x",
            entity_id=1,
            changes={"a": [None, 1]},
        )
    for sql in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor FROM audit_log")).scalars().all() == ["t"]


def test_the_migrations_match_the_models_exactly(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
