"""tamper-evident audit trail (issue 13, point 1)

- The hash chain of the existing entries is computed (pv/audit/chain.py), in id order.
- SQLite: besides UPDATE and DELETE (migration 0001), the triggers refuse any INSERT that
  names an id (so `INSERT OR REPLACE INTO audit_log (id, ...)` cannot replace an entry:
  REPLACE removes the old row without firing delete triggers), an entry without its
  digests, and an entry whose time is more than 5 minutes from the database's clock. In a
  BEFORE INSERT trigger NEW.id is -1 when the statement gives no id (or gives NULL); the
  one explicit id that also reads -1 is refused by an AFTER INSERT check (ids start at 1).
- PostgreSQL: the same checks on the inserted rows, once per statement (a transition
  table), against clock_timestamp(); UPDATE, DELETE and TRUNCATE stay refused (0001). The
  application's role does not own the tables (`pvtracker db upgrade`, docs/deployment.md),
  so it cannot disable or drop these triggers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 05:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# pv.audit.chain.CLOCK_TOLERANCE, written out: a migration is a fixed text.
TOLERANCE_SECONDS = 300

SQLITE_TIME_OFF = (
    f"(julianday(NEW.at) IS NULL "
    f"OR abs(julianday(NEW.at) - julianday('now')) * 86400.0 > {TOLERANCE_SECONDS})"
)
SQLITE_INSERT = (
    "CREATE TRIGGER audit_log_insert_check BEFORE INSERT ON audit_log "
    f"WHEN NEW.id <> -1 OR NEW.digest IS NULL OR NEW.prev_digest IS NULL OR {SQLITE_TIME_OFF} "
    "BEGIN "
    "SELECT RAISE(ABORT, 'audit_log: an entry''s id is given by the database') "
    "WHERE NEW.id <> -1; "
    "SELECT RAISE(ABORT, 'audit_log: an entry needs its hash-chain digests') "
    "WHERE NEW.digest IS NULL OR NEW.prev_digest IS NULL; "
    "SELECT RAISE(ABORT, 'audit_log: an entry''s time must be the current time') "
    f"WHERE {SQLITE_TIME_OFF}; "
    "END"
)
SQLITE_INSERT_ID = (
    "CREATE TRIGGER audit_log_insert_id AFTER INSERT ON audit_log WHEN NEW.id < 1 "
    "BEGIN SELECT RAISE(ABORT, 'audit_log: an entry''s id is given by the database'); END"
)
SQLITE_APPEND_ONLY = tuple(
    f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    for verb in ("UPDATE", "DELETE")
)

PG_INSERT_FUNCTION = f"""
CREATE FUNCTION audit_log_insert_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM audit_log_new WHERE digest IS NULL OR prev_digest IS NULL) THEN
    RAISE EXCEPTION 'audit_log: an entry needs its hash-chain digests';
  END IF;
  IF EXISTS (SELECT 1 FROM audit_log_new WHERE at IS NULL
             OR at < clock_timestamp() - interval '{TOLERANCE_SECONDS} seconds'
             OR at > clock_timestamp() + interval '{TOLERANCE_SECONDS} seconds') THEN
    RAISE EXCEPTION 'audit_log: an entry''s time must be the current time';
  END IF;
  RETURN NULL;
END $$
"""
PG_INSERT_TRIGGER = (
    "CREATE TRIGGER audit_log_insert_check AFTER INSERT ON audit_log "
    "REFERENCING NEW TABLE AS audit_log_new "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_insert_check()"
)


def upgrade() -> None:
    from pv.audit.chain import backfill

    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{verb}")
        backfill(bind)
        for sql in (*SQLITE_APPEND_ONLY, SQLITE_INSERT, SQLITE_INSERT_ID):
            op.execute(sql)
    else:
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        backfill(bind)
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        op.execute(PG_INSERT_FUNCTION)
        op.execute(PG_INSERT_TRIGGER)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_insert_check")
        op.execute("DROP TRIGGER IF EXISTS audit_log_insert_id")
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{verb}")
        op.execute("UPDATE audit_log SET prev_digest = NULL, digest = NULL")
        for sql in SQLITE_APPEND_ONLY:
            op.execute(sql)
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_insert_check ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_insert_check()")
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        op.execute("UPDATE audit_log SET prev_digest = NULL, digest = NULL")
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
