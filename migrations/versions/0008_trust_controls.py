"""trust controls (issue 13)

- login_failure: failed log-ins for throttling (account id or client address, never the
  typed name of an unknown account); user.locked_at: the lock an admin lifts.
- apitoken: label, expiry, last use and time of revocation.
- signature: electronic signatures (printed name, UTC time, meaning, digest of the record
  version signed); subject_unblinding: one subject's arm revealed, with reason and signature.
- study.blinded, study.dsmb_open_listings; user.unblinded (may see arms in blinded studies).
- audit_log.prev_digest, audit_log.digest: the audit trail's hash chain.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:55:02.058311
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_failure_address"), ["address"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_failure_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_failure_user_id"), ["user_id"], unique=False)

    op.create_table(
        "signature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("entity_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("entity_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("record_version", sa.Integer(), nullable=True),
        sa.Column("record_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("meaning", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("signer_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.create_index("ix_signature_entity", ["entity_type", "entity_id"], unique=False)

    op.create_table(
        "subject_unblinding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("signature_id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["signature_id"],
            ["signature.id"],
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["study.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subject.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("subject_unblinding", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subject_unblinding_subject_id"), ["subject_id"], unique=False
        )

    with op.batch_alter_table("apitoken", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True)
        )
        batch_op.add_column(
            sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("last_used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("prev_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )

    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.add_column(sa.Column("blinded", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("dsmb_open_listings", sa.Boolean(), server_default="0", nullable=False)
        )

    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("locked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("unblinded", sa.Boolean(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    # Plain DROP COLUMN on both databases (SQLite >= 3.35), as 0006 does: a batch copy of
    # "user" or "study" drops the table, which other tables reference (foreign keys on).
    op.drop_column("user", "unblinded")
    op.drop_column("user", "locked_at")
    op.drop_column("study", "dsmb_open_listings")
    op.drop_column("study", "blinded")
    op.drop_column("audit_log", "digest")
    op.drop_column("audit_log", "prev_digest")
    for column in ("revoked_at", "last_used_at", "expires_at", "label"):
        op.drop_column("apitoken", column)

    with op.batch_alter_table("subject_unblinding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_unblinding_subject_id"))

    op.drop_table("subject_unblinding")
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.drop_index("ix_signature_entity")

    op.drop_table("signature")
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failure_user_id"))
        batch_op.drop_index(batch_op.f("ix_login_failure_at"))
        batch_op.drop_index(batch_op.f("ix_login_failure_address"))

    op.drop_table("login_failure")
