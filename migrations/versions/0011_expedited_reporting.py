"""expedited reporting (issue 16)

- sae_case: the SAE case data of a serious event (reporter, hospitalization, medical
  history, concomitant medications, tests, dechallenge / rechallenge, death details).
- report_version: the frozen versions of an event's expedited report (initial, follow-ups).
- study.conditions: the conditions studied (the study drugs' indication in the reports).
- submission: each sending of a report version, the file sent and its digest, the ACK.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 10:44:48.651804
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("study", sa.Column("conditions", sqlmodel.sql.sqltypes.AutoString()))
    op.create_table(
        "report_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_by_name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("refreshed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["adverseevent.id"],
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["study.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "number"),
    )
    with op.batch_alter_table("report_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_version_event_id"), ["event_id"], unique=False)

    op.create_table(
        "sae_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reporter_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column(
            "reporter_qualification", sqlmodel.sql.sqltypes.AutoString(length=1), nullable=True
        ),
        sa.Column("reporter_country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
        sa.Column("reporter_contact", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("hosp_admit_date", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column(
            "hosp_discharge_date", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True
        ),
        sa.Column("death_date", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("death_cause", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("autopsy", sqlmodel.sql.sqltypes.AutoString(length=1), nullable=True),
        sa.Column("autopsy_cause", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("medical_history", sa.JSON(), nullable=False),
        sa.Column("conmeds", sa.JSON(), nullable=False),
        sa.Column("tests", sa.JSON(), nullable=False),
        sa.Column("dechallenge", sa.JSON(), nullable=False),
        sa.Column("rechallenge", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("updated_by_name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["adverseevent.id"],
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["study.id"],
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("sae_case", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sae_case_study_id"), ["study_id"], unique=False)

    op.create_table(
        "submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_version_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expedited_report_id", sa.Integer(), nullable=True),
        sa.Column("recipient_kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("format", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("sent_date", sa.Date(), nullable=False),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("file_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("file", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("recorded_by_name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ack_code", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
        sa.Column("ack_outcome", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
        sa.Column("ack_message", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("ack_received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("ack_file", sa.LargeBinary(), nullable=True),
        sa.Column("ack_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["adverseevent.id"],
        ),
        sa.ForeignKeyConstraint(
            ["expedited_report_id"],
            ["expeditedreport.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["report_version_id"],
            ["report_version.id"],
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["study.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_submission_event_id"), ["event_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_submission_report_version_id"), ["report_version_id"], unique=False
        )


def downgrade() -> None:
    op.drop_column("study", "conditions")
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submission_report_version_id"))
        batch_op.drop_index(batch_op.f("ix_submission_event_id"))

    op.drop_table("submission")
    with op.batch_alter_table("sae_case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sae_case_study_id"))

    op.drop_table("sae_case")
    with op.batch_alter_table("report_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_version_event_id"))

    op.drop_table("report_version")
