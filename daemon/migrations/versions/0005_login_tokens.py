"""login_tokens: the board's one-time sign-in links (daemon/web/auth.py), stored as sha256.

A new table only: nothing existing changes, and the daemon ignores it. Times are
sa.DateTime(timezone=True), what models.types.UTCDateTime stores (revisions import nothing
from models).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("token_hash"),
    )


def downgrade() -> None:
    op.drop_table("login_tokens")
