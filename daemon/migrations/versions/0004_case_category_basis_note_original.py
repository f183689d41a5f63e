"""cases: how the category was had, the forwarder's note, and the original's identity.

- category_basis / category_reason: "stated" (by the forwarder, a form or a 类别 reply) or
  "judged" (from the story), and on what; a judged category is asked to be confirmed.
- forwarder_note: 转发人附言, what the forwarder wrote above the forwarded original.
- original_key (indexed): the forwarded original's Message-ID, else sender + time + subject,
  so the same original forwarded twice becomes one case.

All nullable without defaults: existing cases read "not known", and each ALTER is a plain
ADD COLUMN on both databases.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("category_basis", sa.String(), nullable=True))
        batch.add_column(sa.Column("category_reason", sa.String(), nullable=True))
        batch.add_column(sa.Column("forwarder_note", sa.String(), nullable=True))
        batch.add_column(sa.Column("original_key", sa.String(), nullable=True))
    op.create_index("ix_cases_original_key", "cases", ["original_key"])


def downgrade() -> None:
    op.drop_index("ix_cases_original_key", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        for name in ("original_key", "forwarder_note", "category_reason", "category_basis"):
            batch.drop_column(name)
