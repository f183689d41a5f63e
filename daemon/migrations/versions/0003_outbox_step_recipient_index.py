"""An index on outbox (step, recipient, created_at).

Two questions asked often were answered by reading the whole outbox: how many confirmations
a sender got in the last hour (every reply), and whether today's digest is queued (every tick
after digest_at). On SQLite that read went through every mail's bytes, because the columns
asked for are stored after them: the 10,000-complaint soak slowed down as the outbox grew.
The index answers both from the index alone.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_step_recipient", "outbox", ["step", "recipient", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_step_recipient", table_name="outbox")
