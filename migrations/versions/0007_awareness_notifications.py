"""site awareness and notifications

- adverseevent.aeawaredtc: the date (and time) the site became aware of the event (ISO 8601
  as entered); the site's 24-hour SAE clock runs from it.
- user.email: where a user's notifications are e-mailed (none: in-app only).
- notification: in-app notifications per user (kind and parameters, rendered in the
  reader's language when shown), with the time read and the time e-mailed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 03:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.add_column("adverseevent", sa.Column("aeawaredtc", text(length=20), nullable=True))
    op.add_column("user", sa.Column("email", text(length=254), nullable=True))
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", text(length=40), nullable=False),
        sa.Column("study_id", text(length=64), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("query_id", sa.Integer(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("read_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("emailed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notification_user_read", "notification", ["user_id", "read_at"])


def downgrade() -> None:
    op.drop_index("ix_notification_user_read", table_name="notification")
    op.drop_table("notification")
    op.drop_column("user", "email")
    op.drop_column("adverseevent", "aeawaredtc")
