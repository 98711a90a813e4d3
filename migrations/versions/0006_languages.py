"""languages: a user's own interface language, a study's default, the English verbatim term

- user.language: the interface language the user chose (BCP 47 tag: en, zh-Hans); NULL
  follows the browser, then the study's default.
- study.language: the study's default interface language for its sites' users.
- adverseevent.aeterm_en: the English translation of a verbatim term written in another
  language (ICH E2B(R3) E.i.1.2 beside the native term E.i.1.1a/b); the ASCII-only SAS
  transport export uses it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN on both databases (no batch copy: the tables keep their triggers).
    text = sqlmodel.sql.sqltypes.AutoString
    op.add_column("user", sa.Column("language", text(length=16), nullable=True))
    op.add_column(
        "study", sa.Column("language", text(length=16), nullable=False, server_default="en")
    )
    op.add_column("adverseevent", sa.Column("aeterm_en", text(), nullable=True))


def downgrade() -> None:
    op.drop_column("adverseevent", "aeterm_en")
    op.drop_column("study", "language")
    op.drop_column("user", "language")
