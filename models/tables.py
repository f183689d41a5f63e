"""The tables: cases (登记表), their clocks and event log (媒体投诉相关记录), inbound mail, outbox.

Declarations only: nothing here opens a session or reads the clock.
Every time column is UTCDateTime (aware UTC); unique constraints carry the exactly-once rules:
- a message is recorded once per place it sat in: (mailbox, uidvalidity, uid);
- a message becomes at most one case: Case.source_key (Message-ID, else a digest of the bytes);
- a mail is decided once: Outbox.key (case, step, round, recipient; daemon/outbox.py outbox_key).
The enum columns are EnumText: they store the enum's value, the same text as a plain string
column, and read back the member.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import (
    CaseStatus,
    DeadlineKind,
    EnumText,
    EventKind,
    InboundStatus,
    OutboxStatus,
    UTCDateTime,
)


def _utc(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Case(SQLModel, table=True):
    """A registration record (媒体投诉登记表), SPEC §5 field names."""

    __tablename__ = "cases"
    __table_args__ = (
        # The board's register lists the cases without an open clock newest first, a page at
        # a time: read along this index, never by sorting the whole register.
        Index("ix_cases_received", "received_at", "id"),
    )

    id: str = Field(primary_key=True)  # MT-YYYYMMDD-NNNN
    status: CaseStatus = Field(index=True, sa_type=EnumText(CaseStatus))
    category: int | None = None
    # How the category was had (SPEC §2): "stated" by the forwarder or a form, "judged" from
    # the story by parsers/category.py (a guess that the ack asks the forwarder to confirm),
    # None when neither; a 类别：N reply makes it "stated". category_reason says on what.
    category_basis: str | None = None
    category_reason: str | None = None
    received_at: datetime = _utc(nullable=False)
    registered_at: datetime = _utc(nullable=False)
    receiving_dept: str  # a department id; "general_dept" for 综合部
    receiver_email: str | None = None  # who owns it first (首问负责)
    forwarder_email: str | None = None  # who forwarded it to the mailbox
    media_outlet: str | None = None
    reporter_name: str | None = None
    original_from_name: str | None = None
    original_from_email: str | None = None
    original_sent_at: datetime | None = _utc()
    original_subject: str | None = None
    phone: str | None = None
    customer_number: str | None = None
    complaint_text: str = ""
    forwarder_note: str | None = None  # 转发人附言: what the forwarder wrote above the forward
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    account_manager: str | None = None
    solution: str | None = None
    expected_completion_at: datetime | None = _utc()
    statement: str | None = None
    resolved_at: datetime | None = _utc()
    result: str | None = None
    late: bool = False  # 迟报: registered after a deadline had already passed
    assessment: str | None = None  # "local" (可处理) or "cannot" (无法处理), from a reply
    gd_takeover_at: datetime | None = _utc()  # when 综合部 took the case over
    group_formed_at: datetime | None = _utc()  # when the company-level group was convened
    group_depts: list[str] = Field(default_factory=list, sa_column=Column(JSON))  # named when convening
    group_requested_at: datetime | None = _utc()  # 综合部 asked for the group by reply
    statement_approved_at: datetime | None = _utc()
    statement_approved_by: str | None = None
    source_key: str = Field(unique=True)  # Message-ID of the mail it came from, else sha256
    source_message_id: str | None = None  # for threading our mails to the forwarder's
    # The forwarded original's identity (its Message-ID, else sender + send time + subject):
    # the same original forwarded again (inline, then attached; by a colleague) is one case.
    original_key: str | None = Field(default=None, index=True)
    updated_at: datetime = _utc(nullable=False)


class CaseCounter(SQLModel, table=True):
    """The last number handed out per local day, so ids read MT-20261127-0001, -0002, …"""

    __tablename__ = "case_counters"

    day: str = Field(primary_key=True)  # YYYYMMDD in the configured zone
    last: int = 0


class Deadline(SQLModel, table=True):
    """One clock of one case. `round` numbers repeats (progress reports, ack windows)."""

    __tablename__ = "deadlines"
    __table_args__ = (
        UniqueConstraint("case_id", "kind", "round", name="uq_deadline_case_kind_round"),
        # The deadline pass asks "what is open and due", and "which statements wait"; keep
        # both index ranges, never a scan of every clock in the register.
        Index("ix_deadline_open_due", "met_at", "breached_at", "due_at"),
        Index("ix_deadline_kind_open", "kind", "met_at", "breached_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="cases.id", index=True)
    kind: DeadlineKind = Field(sa_type=EnumText(DeadlineKind))
    round: int = 0
    due_at: datetime = _utc(nullable=False)
    met_at: datetime | None = _utc()
    breached_at: datetime | None = _utc()
    late: bool = False  # already past when it was created (迟报)
    target: str = ""  # an ack window's AckTarget, as "<step>/<round>/<address awaited>"


class Event(SQLModel, table=True):
    """One line of the event log (媒体投诉相关记录): mail in or out, state change, problem."""

    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str | None = Field(default=None, foreign_key="cases.id", index=True)
    at: datetime = _utc(nullable=False, index=True)
    kind: EventKind = Field(sa_type=EnumText(EventKind))
    actor: str  # an address, or "complaintd"
    message_id: str | None = Field(default=None, index=True)
    subject: str | None = None
    summary: str = ""


class InboundMail(SQLModel, table=True):
    """Every message seen in the mailbox, with its raw bytes as evidence."""

    __tablename__ = "inbound_mail"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_inbound_place"),
    )

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str
    uidvalidity: int
    uid: str
    message_id: str | None = Field(default=None, index=True)
    digest: str = Field(index=True)  # sha256 of the raw bytes
    kind: str  # parsers.Kind value, or "error" when processing failed
    status: InboundStatus = Field(sa_type=EnumText(InboundStatus))
    case_id: str | None = Field(default=None, foreign_key="cases.id", index=True)
    sender: str | None = None
    subject: str | None = None
    reason: str = ""
    size: int = 0
    seen_at: datetime = _utc(nullable=False)
    # Last, on SQLite: a big mail is written into its row without a copy only there (migration 0008).
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Outbox(SQLModel, table=True):
    """A mail decided on, rendered to bytes in the same transaction, sent by the flush step.

    One row per recipient, each with its own Message-ID, so that a reply can be traced to the
    person it was sent to (a reply's sender is authenticated against it).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "status", "next_attempt_at"),
        # "confirmations to this sender in the last hour", "is today's digest queued": both
        # answered from the index, never by reading past the mails' bytes (SQLite stores
        # the columns after `data` behind it).
        Index("ix_outbox_step_recipient", "step", "recipient", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # "<case or ->/<step>/<round>/<recipient>", daemon/outbox.py outbox_key
    case_id: str | None = Field(default=None, foreign_key="cases.id", index=True)
    # A Step value for case mail; the mails outside the procedure name themselves ("ack",
    # "bad_address", "digest-20261127", "quarantine-<digest>", …), so this stays open text.
    step: str
    round: int = 0
    recipient: str
    message_id: str = Field(unique=True)
    subject: str
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: OutboxStatus = Field(default=OutboxStatus.PENDING, sa_type=EnumText(OutboxStatus))
    created_at: datetime = _utc(nullable=False)
    next_attempt_at: datetime = _utc(nullable=False)
    attempts: int = 0
    sent_at: datetime | None = _utc()
    last_error: str | None = None
    # When the server first deferred this very mail (a 4xx for it, not an unreachable server);
    # retries end, and 综合部 is told, once that is older than [outbound] give_up_after.
    deferred_since: datetime | None = _utc()
    # The token of the last claim of this row: one per connection's batch, so that after a
    # crash each connection's first row still SENDING is known (daemon/outbox.py recover).
    claim: str | None = None


class Heartbeat(SQLModel, table=True):
    """When the daemon last did each of its steps successfully, for `complaintd status`."""

    __tablename__ = "heartbeats"

    name: str = Field(primary_key=True)  # "poll", "pass"
    at: datetime = _utc(nullable=False)
    pid: int = 0


class LoginToken(SQLModel, table=True):
    """A one-time sign-in link for the board, mailed to a directory address.

    Only the token's sha256 is stored: the database alone never lets anyone sign in. A token
    is good once (`used_at` set in the transaction that accepts it) and until `expires_at`.
    """

    __tablename__ = "login_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)  # sha256 hex of the token in the link
    email: str
    created_at: datetime = _utc(nullable=False)
    expires_at: datetime = _utc(nullable=False)
    used_at: datetime | None = _utc()
