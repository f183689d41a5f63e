"""inbound_mail.raw becomes the table's last column, on SQLite.

Why: SQLite writes a big value into its row without a copy in memory only when it is the
row's last field with data (an INSERT of zeroblob(N), then the bytes in pieces: see
daemon/store.py insert). With seen_at after it, every zeroblob was expanded in memory and the
row built around it: two transient copies of the mail (+110 MB for a 40 MB attachment).

SQLite cannot move a column: the table is built again (batch "recreate", which copies every
row, indexes and constraints kept). On a large register this takes as long as copying the
stored mail once, at the upgrade only. PostgreSQL keeps a big bytea out of line (TOAST)
whatever the column's place: nothing to do there.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _raw_after("seen_at")


def downgrade() -> None:
    _raw_after("size")


def _raw_after(column: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("inbound_mail", recreate="always", partial_reordering=[(column, "raw")]):
        pass
