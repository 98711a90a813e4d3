"""upload jobs: a spreadsheet upload is checked and stored off the request loop

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "upload_job",
        sa.Column("id", text(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", text(length=100), nullable=False),
        sa.Column("study_id", text(length=64), nullable=False),
        sa.Column("filename", text(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", text(length=16), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_checked", sa.Integer(), nullable=False),
        sa.Column("rows_stored", sa.Integer(), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("warning_count", sa.Integer(), nullable=False),
        sa.Column("errors_shown", sa.JSON(), nullable=False),
        sa.Column("warnings_shown", sa.JSON(), nullable=False),
        sa.Column("errors_csv", sa.LargeBinary(), nullable=True),
        sa.Column("refused", text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_upload_job_user", "upload_job", ["user_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_upload_job_user", table_name="upload_job")
    op.drop_table("upload_job")
