"""an index for the review queue's tier 1 keys (issue 17 point 3)

ix_ae_queue_receipt carries what the urgency order's tier 1 (new serious events not yet
assessed, oldest receipt first) reads whole into each worker's kept keys: the serious
range of each unassessed status, with both receipt columns (receipt: submitted_at, else
created_at) and the queue's filter columns after them. That read becomes index-only;
through ix_ae_queue_serious it looked up every row of the range in the table (24,000
at 10^6 events: a worker's first page of a filter, once per filter and 15 minutes, took
up to 170 ms; now a third of that). Plain columns, no expression: the same index on
SQLite and PostgreSQL.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 14:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECEIPT = [
    "study_id",
    "aeser",
    "status",
    "submitted_at",
    "created_at",
    "id",
    "site_id",
    "aetoxgr",
    "aesi",
]


def upgrade() -> None:
    op.create_index("ix_ae_queue_receipt", "adverseevent", RECEIPT, unique=False)


def downgrade() -> None:
    op.drop_index("ix_ae_queue_receipt", table_name="adverseevent")
