"""outbox.claim: the token under which one connection's batch was claimed.

The outbox sends over several connections at once; after a crash, each connection's first
row still SENDING may have reached the server, the rows after it did not (daemon/outbox.py
recover). Nullable and without a default: rows claimed before this revision have no token
and count as one batch, as they were sent. A plain ADD COLUMN on both databases.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claim", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claim")
