"""queue indexes carry the filter columns; an index for the latest changes

Each review-queue index gains the columns the queue filters on (site, seriousness,
grade, AESI groupings) after its sort key, so a filter is tested on index entries and
only the rows a page shows are read from the table (a 6% AESI grouping at 10^6 events:
three times faster). ix_ae_updated serves the home page's "latest changes" (newest
first across studies, optionally within the user's sites): without it that page sorted
every event (0.3 s at 10^6 events).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 11:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NARROW = {
    "ix_ae_queue": ["study_id", "status", "updated_at", "id"],
    "ix_ae_queue_site": ["study_id", "site_id", "status", "updated_at", "id"],
    "ix_ae_queue_serious": ["study_id", "aeser", "status", "updated_at", "id"],
}
WIDE = {
    "ix_ae_queue": [*NARROW["ix_ae_queue"], "site_id", "aeser", "aetoxgr", "aesi"],
    "ix_ae_queue_site": [*NARROW["ix_ae_queue_site"], "aeser", "aetoxgr", "aesi"],
    "ix_ae_queue_serious": [*NARROW["ix_ae_queue_serious"], "site_id", "aetoxgr", "aesi"],
}


def _replace(indexes: dict[str, list[str]]) -> None:
    for name, columns in indexes.items():
        op.drop_index(name, table_name="adverseevent")
        op.create_index(name, "adverseevent", columns, unique=False)


LATEST = ["updated_at", "site_id", "status"]


def upgrade() -> None:
    _replace(WIDE)
    op.create_index("ix_ae_updated", "adverseevent", LATEST, unique=False)


def downgrade() -> None:
    op.drop_index("ix_ae_updated", table_name="adverseevent")
    _replace(NARROW)
