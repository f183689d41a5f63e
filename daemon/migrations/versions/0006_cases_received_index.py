"""An index on cases (received_at, id).

The board's register shows the cases without an open clock newest first, 50 to a page. Without
an index that order meant sorting every case in the register for each page: half a second at
100,000 cases (bench/web.py). Along the index, a page reads the rows before it and stops.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_received", "cases", ["received_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_cases_received", table_name="cases")
