"""queue tally: PostgreSQL counts inserted events once per statement

Inserting events one trigger call per row made a 100,000-row upload spend most of its
store time on the queue tally. On PostgreSQL inserted events are now counted once per
statement from the statement's transition table (one grouped upsert, keys taken in key
order as the update trigger does); deletes and updates keep their row triggers.

SQLite has no transition tables, and any row trigger on adverseevent, even one whose WHEN
is false, costs about as much per row as the tally itself (measured on a loaded machine:
100,000 events insert in 3.9-4.3 s with a trigger whose WHEN is false, 1.2-2.0 s without).
Its schema is unchanged: a bulk insert (pv.events.bulk.insert_events) drops the insert
trigger inside its write transaction, counts its events with one grouped upsert and
creates the trigger again from its stored SQL before the transaction ends; other
connections never see it missing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 23:40:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _review() -> ModuleType:
    """Migration 0002, for the tally's key expressions (one definition of the key)."""
    spec = importlib.util.spec_from_file_location(
        "pv_migration_0002", Path(__file__).with_name("0002_review.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    m = _review()
    arm = "COALESCE(s.arm_id, 0)"
    op.execute("DROP TRIGGER queue_tally_ae ON adverseevent")
    op.execute(
        "CREATE TRIGGER queue_tally_ae_delete AFTER DELETE ON adverseevent "
        "FOR EACH ROW EXECUTE FUNCTION queue_tally_event()"
    )
    op.execute(
        "CREATE FUNCTION queue_tally_inserted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"INSERT INTO queue_tally ({m.KEY}, n) SELECT {m._key('e', arm)}, count(*) "
        "FROM inserted e LEFT JOIN subject s ON s.id = e.subject_id "
        f"GROUP BY {m._group('e', arm)} ORDER BY 1, 2, 3, 4, 5, 6, 7 {m.UPSERT}; "
        "RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER queue_tally_ae_insert AFTER INSERT ON adverseevent "
        "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
        "EXECUTE FUNCTION queue_tally_inserted()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER queue_tally_ae_insert ON adverseevent")
    op.execute("DROP FUNCTION queue_tally_inserted()")
    op.execute("DROP TRIGGER queue_tally_ae_delete ON adverseevent")
    op.execute(
        "CREATE TRIGGER queue_tally_ae AFTER INSERT OR DELETE ON adverseevent "
        "FOR EACH ROW EXECUTE FUNCTION queue_tally_event()"
    )
