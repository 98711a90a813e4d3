"""PostgreSQL with two roles (docs/deployment.md section 1): the test role owns a fresh
database and migrates it with `pvtracker db upgrade` (PV_DATABASE_OWNER_URL); a throw-away
application role, created here and dropped at the end, gets its rights from that command.

As the application's role: an ordinary service write works and is audited, while UPDATE,
DELETE and TRUNCATE on the audit trail, disabling or dropping its triggers, dropping the
table and a back-dated insert are all refused; `serve` refuses to start on a schema that is
behind, instead of migrating. As the owner: the four tampers (and a back-dated append),
each named by `audit verify`. Needs CREATEROLE for the test role (.ci/run grants it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from pv.audit.verify import verify
from pv.db import make_engine
from pv.migrate import alembic_config, current_revision, head_revision
from tests.audit.conftest import activity
from tests.audit.tamper import KINDS, restore, snapshot, tamper
from tests.conftest import PG_URL, _pg_admin, _pg_drop, backend

pytestmark = pytest.mark.skipif(backend() != "postgresql", reason="PostgreSQL roles")


@pytest.fixture
def two_roles():
    """(owner URL, application URL, application role) of a fresh, empty database."""
    tag = uuid.uuid4().hex[:10]
    name, role, password = f"pvt_roles_{tag}", f"pvrt_{tag}", f"rt-{tag}"
    try:
        _pg_admin(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    except DBAPIError as exc:
        pytest.fail(f"the test role may not create roles (run .ci/run's SQL: ALTER ROLE ... "
                    f"CREATEROLE): {exc.orig}")  # fmt: skip
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
    owner = make_url(PG_URL).set(database=name)
    app = owner.set(username=role, password=password)
    try:
        yield (owner.render_as_string(hide_password=False),
               app.render_as_string(hide_password=False), role)  # fmt: skip
    finally:
        _pg_drop(name)
        _pg_admin(f"DROP ROLE IF EXISTS {role}")


def _refused(engine, sql: str, match: str, **params) -> None:
    with pytest.raises(DBAPIError, match=match), engine.begin() as conn:
        conn.execute(text(sql), params)


def test_the_application_role_cannot_rewrite_the_trail(two_roles, cli, monkeypatch) -> None:
    owner_url, app_url, role = two_roles
    code, out, err = cli(app_url, "db", "upgrade", PV_DATABASE_OWNER_URL=owner_url)
    assert code == 0, err
    assert f"database at revision {head_revision()}" in out
    assert f"granted the application's role {role} its rights" in out

    owner, app = make_engine(owner_url), make_engine(app_url)
    try:
        with app.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == role
            owners = set(conn.execute(text(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
            )).scalars())  # fmt: skip
        assert role not in owners

        # Ordinary service writes as the application's role work and are audited.
        from pv.terminology.ctcae import load_ctcae

        load_ctcae(app)
        activity(app, events=3)
        with app.connect() as conn:
            entries = conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
            events = conn.execute(text("SELECT count(*) FROM adverseevent")).scalar_one()
        assert events == 3 and entries >= 5
        with app.begin() as conn:  # other tables stay writable
            conn.execute(text("UPDATE adverseevent SET narrative = 'edited' WHERE aeseq = 1"))
        assert verify(app).intact

        # What the application's role may not do to the trail.
        last = snapshot(app)[-1]
        for sql, match in [
            ("UPDATE audit_log SET actor = 'mallory'", "permission denied"),
            ("DELETE FROM audit_log", "permission denied"),
            ("TRUNCATE audit_log", "permission denied"),
            ("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only", "must be owner"),
            ("ALTER TABLE audit_log DISABLE TRIGGER USER", "must be owner"),
            ("DROP TRIGGER audit_log_append_only ON audit_log", "must be owner"),
            ("DROP TRIGGER audit_log_insert_check ON audit_log", "must be owner"),
            ("DROP TABLE audit_log", "must be owner"),
            ("UPDATE alembic_version SET version_num = '0001'", "permission denied"),
        ]:
            _refused(app, sql, match)
        _refused(app, "INSERT INTO audit_log (at, actor, action, entity_type, entity_id, "
                 "changes, prev_digest, digest) VALUES (:at, 'mallory', 'update', "
                 "'adverse_event', '1', '{}', :p, :d)", "time must be the current time",
                 at=datetime.now(UTC) - timedelta(days=30), p=last["digest"],
                 d="f" * 64)  # fmt: skip
        assert snapshot(app)[-1] == last
        assert verify(app).intact

        # `serve` as the application's role: starts at head, refuses (not migrates) behind.
        started: list[str] = []
        monkeypatch.setattr("pv.web.cli.run_server",
                            lambda host, port, workers=1, **_: started.append(host))  # fmt: skip
        code, _out, err = cli(app_url, "serve")
        assert code == 0 and started == ["127.0.0.1"], err
        cfg = alembic_config()
        with owner.connect() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0008")
            conn.commit()
        code, _out, err = cli(app_url, "serve")
        assert code == 2 and started == ["127.0.0.1"]
        assert "does not own the tables and may not migrate them" in err
        assert "pvtracker db upgrade" in err
        assert current_revision(owner) == "0008"
        code, out, err = cli(app_url, "db", "upgrade", "--owner-url", owner_url)
        assert code == 0, err
        assert current_revision(app) == head_revision()
        assert verify(app).intact

        # As the owner: each tamper is named by `audit verify` (run as the app's role).
        original = snapshot(owner)
        target = original[2]["id"]
        for kind in KINDS:
            named = tamper(owner, kind, target)
            result = verify(app)
            assert result.problem is not None, kind
            assert (result.problem.kind, result.problem.entry_id) == (kind, named)
            code, out, _err = cli(app_url, "audit", "verify")
            assert code == 1 and f"audit trail BROKEN: entry {named}:" in out
            restore(owner, original)
            assert verify(app).intact
    finally:
        owner.dispose()
        app.dispose()


def test_one_role_that_owns_everything_is_warned_about(two_roles, cli) -> None:
    """Without an owner's URL, `db upgrade` migrates as PV_DATABASE_URL's role (as before
    two roles) and warns when that role owns the tables; as the application's role of a
    migrated database it has nothing to do and no warning."""
    owner_url, app_url, _role = two_roles
    code, out, err = cli(owner_url, "db", "upgrade")
    assert code == 0, err
    assert f"database at revision {head_revision()}" in out
    assert "owns the tables and could alter the audit trail's triggers" in err
    code, out, err = cli(app_url, "db", "upgrade", "--owner-url", owner_url)
    assert code == 0 and "granted" in out, err
    code, out, err = cli(app_url, "db", "upgrade")
    assert code == 0 and f"database at revision {head_revision()}" in out
    assert "owns the tables" not in err
