"""outbox.deferred_since: when the server first deferred a mail (a 4xx for it).

Nullable and without a default, so existing rows read "never deferred" and the ALTER is a
plain ADD COLUMN on both databases (batch mode keeps it so on SQLite: nothing to recreate).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("deferred_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("deferred_since")
