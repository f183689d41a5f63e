"""The schema of the first release (git 587bcdc), written out table by table.

Frozen: this never follows models/tables.py. Every later change is a new revision. Time
columns are sa.DateTime(timezone=True), which is what models.types.UTCDateTime stores
(revisions import nothing from models, so a model change cannot rewrite history). The
constraints are unnamed where the release's create_all left them unnamed, so a database made
by the release and one made by this revision are the same (PostgreSQL names them alike).

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.String(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "cases",
        _text("id", nullable=False),
        _text("status", nullable=False),
        sa.Column("category", sa.Integer(), nullable=True),
        _time("received_at", nullable=False),
        _time("registered_at", nullable=False),
        _text("receiving_dept", nullable=False),
        _text("receiver_email"),
        _text("forwarder_email"),
        _text("media_outlet"),
        _text("reporter_name"),
        _text("original_from_name"),
        _text("original_from_email"),
        _time("original_sent_at"),
        _text("original_subject"),
        _text("phone"),
        _text("customer_number"),
        _text("complaint_text", nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=True),
        _text("account_manager"),
        _text("solution"),
        _time("expected_completion_at"),
        _text("statement"),
        _time("resolved_at"),
        _text("result"),
        sa.Column("late", sa.Boolean(), nullable=False),
        _text("assessment"),
        _time("gd_takeover_at"),
        _time("group_formed_at"),
        sa.Column("group_depts", sa.JSON(), nullable=True),
        _time("group_requested_at"),
        _time("statement_approved_at"),
        _text("statement_approved_by"),
        _text("source_key", nullable=False),
        _text("source_message_id"),
        _time("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_key"),
    )
    op.create_index("ix_cases_status", "cases", ["status"])

    op.create_table(
        "case_counters",
        _text("day", nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )

    op.create_table(
        "heartbeats",
        _text("name", nullable=False),
        _time("at", nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )

    op.create_table(
        "deadlines",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("case_id", nullable=False),
        _text("kind", nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        _time("due_at", nullable=False),
        _time("met_at"),
        _time("breached_at"),
        sa.Column("late", sa.Boolean(), nullable=False),
        _text("target", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "kind", "round", name="uq_deadline_case_kind_round"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
    )
    op.create_index("ix_deadlines_case_id", "deadlines", ["case_id"])
    op.create_index("ix_deadline_kind_open", "deadlines", ["kind", "met_at", "breached_at"])
    op.create_index("ix_deadline_open_due", "deadlines", ["met_at", "breached_at", "due_at"])

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("case_id"),
        _time("at", nullable=False),
        _text("kind", nullable=False),
        _text("actor", nullable=False),
        _text("message_id"),
        _text("subject"),
        _text("summary", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_index("ix_events_message_id", "events", ["message_id"])
    op.create_index("ix_events_case_id", "events", ["case_id"])

    op.create_table(
        "inbound_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("mailbox", nullable=False),
        sa.Column("uidvalidity", sa.Integer(), nullable=False),
        _text("uid", nullable=False),
        _text("message_id"),
        _text("digest", nullable=False),
        _text("kind", nullable=False),
        _text("status", nullable=False),
        _text("case_id"),
        _text("sender"),
        _text("subject"),
        _text("reason", nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        _time("seen_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_inbound_place"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
    )
    op.create_index("ix_inbound_mail_message_id", "inbound_mail", ["message_id"])
    op.create_index("ix_inbound_mail_digest", "inbound_mail", ["digest"])
    op.create_index("ix_inbound_mail_case_id", "inbound_mail", ["case_id"])

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("key", nullable=False),
        _text("case_id"),
        _text("step", nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        _text("recipient", nullable=False),
        _text("message_id", nullable=False),
        _text("subject", nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        _text("status", nullable=False),
        _time("created_at", nullable=False),
        _time("next_attempt_at", nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("sent_at"),
        _text("last_error"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_outbox_case_id", "outbox", ["case_id"])
    op.create_index("ix_outbox_pending", "outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    for table in ("outbox", "inbound_mail", "events", "deadlines", "heartbeats", "case_counters", "cases"):
        op.drop_table(table)  # their indexes go with them
