"""analysis round 2 (issue 14)

- subject: race, height_cm (baseline for DMT01 and BMI); died, death_date, death_cause
  (DM DTHFL/DTHDTC and the primary cause of death); disposition, disposition_date,
  disposition_reason (DS: DSDECOD, DSSTDTC, DSTERM).
- adverse_event: initial_grade (AEITOXGR), aegrpid, aespid (multi-record episodes).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 08:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): the queue tally's triggers on subject refer to
    # adverseevent, and SQLite adds a column in place without touching them.
    subject = "subject"
    op.add_column(subject, sa.Column("race", sqlmodel.sql.sqltypes.AutoString(length=60)))
    op.add_column(subject, sa.Column("height_cm", sa.Float()))
    op.add_column(subject, sa.Column("died", sa.Boolean(), server_default="0", nullable=False))
    op.add_column(subject, sa.Column("death_date", sqlmodel.sql.sqltypes.AutoString(length=20)))
    op.add_column(subject, sa.Column("death_cause", sqlmodel.sql.sqltypes.AutoString()))
    op.add_column(subject, sa.Column("disposition", sqlmodel.sql.sqltypes.AutoString(length=60)))
    op.add_column(subject, sa.Column("disposition_date", sqlmodel.sql.sqltypes.AutoString(20)))
    op.add_column(subject, sa.Column("disposition_reason", sqlmodel.sql.sqltypes.AutoString()))
    op.add_column("adverseevent", sa.Column("initial_grade", sa.Integer()))
    op.add_column("adverseevent", sa.Column("aegrpid", sqlmodel.sql.sqltypes.AutoString(length=40)))
    op.add_column("adverseevent", sa.Column("aespid", sqlmodel.sql.sqltypes.AutoString(length=40)))


def downgrade() -> None:
    for name in ("aespid", "aegrpid", "initial_grade"):
        op.drop_column("adverseevent", name)
    for name in (
        "disposition_reason", "disposition_date", "disposition", "death_cause",
        "death_date", "died", "height_cm", "race",
    ):  # fmt: skip
        op.drop_column("subject", name)
