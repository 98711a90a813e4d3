"""Run the Alembic migrations shipped with the package.

PostgreSQL with two roles (docs/deployment.md, issue 13): the migrations run as the role
that owns the tables (`pvtracker db upgrade` with PV_DATABASE_OWNER_URL or --owner-url),
and the application runs as another role (the user of PV_DATABASE_URL), which gets, after
each upgrade, SELECT/INSERT/UPDATE/DELETE on the tables and the use of their sequences,
but only SELECT and INSERT on the audit trail and only SELECT on alembic_version. Not owning
the tables, it cannot disable or drop their triggers. Such a role never migrates: a command
or `serve` finding the schema behind refuses to run (SchemaBehind) instead.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

from pv import paths
from pv.cli import CommandError
from pv.i18n import gettext as _

# The runtime role's rights on these tables, instead of the ordinary ones.
RESTRICTED_TABLES = {"audit_log": "SELECT, INSERT", "alembic_version": "SELECT"}


class SchemaBehind(CommandError):
    """The database needs migrating and this connection's role may not do it."""


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(paths.MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(engine: Engine, revision: str = "head") -> None:
    if revision == "head" and engine.dialect.name == "postgresql":
        current, head = current_revision(engine), head_revision()
        if current == head:
            return
        if current is not None and not owns_schema(engine):
            raise SchemaBehind(
                _(
                    "the database is at revision %(current)s and this version needs "
                    "%(head)s; the role %(role)s does not own the tables and may not "
                    "migrate them: run `pvtracker db upgrade` with the owner's URL "
                    "(PV_DATABASE_OWNER_URL or --owner-url)",
                    current=current,
                    head=head,
                    role=engine.url.username,
                )
            )
    cfg = alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def owns_schema(engine: Engine) -> bool:
    """PostgreSQL: the connection's role owns (or is a member of the owner of) the migrated
    tables (alembic_version). True on SQLite and before the first migration."""
    if engine.dialect.name != "postgresql":
        return True
    with engine.connect() as conn:
        owner = conn.execute(text(
            "SELECT pg_has_role(current_user, tableowner, 'USAGE') FROM pg_tables "
            "WHERE tablename = 'alembic_version' AND schemaname = current_schema()"
        )).scalar()  # fmt: skip
    return owner is None or bool(owner)


def current_user(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT current_user")).scalar())


def grant_runtime(owner: Engine, role: str) -> None:
    """As the owner: give the application's role what it needs and no more (see above).
    Run after every upgrade, so that new tables are covered."""
    q = owner.dialect.identifier_preparer
    r = q.quote(role)
    with owner.begin() as conn:
        schema = q.quote(str(conn.execute(text("SELECT current_schema()")).scalar()))
        tables = set(conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )).scalars())  # fmt: skip
        conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {r}"))
        conn.execute(
            text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {r}")
        )
        conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {r}"))
        for table, rights in RESTRICTED_TABLES.items():
            if table in tables:
                conn.execute(text(f"REVOKE ALL ON {q.quote(table)} FROM {r}"))
                conn.execute(text(f"GRANT {rights} ON {q.quote(table)} TO {r}"))
