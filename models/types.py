"""Value types shared by the tables and the pure rules: aware-UTC time and the enums."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out, on every database.

    SQLite hands back naive datetimes even for DateTime(timezone=True), so UTC is re-attached
    on read; a naive datetime on write is a bug in the caller and is refused loudly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} given to a UTC column")
        utc = value.astimezone(timezone.utc)
        # SQLite stores the text it is given; keep it offset-free and UTC so it sorts right.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class CaseStatus(str, Enum):
    """Where a case stands (SPEC §5). The last three are closed."""

    REGISTERED = "registered"
    LOCAL = "local"  # handled within the receiving department
    ACCOUNT_MANAGER = "account_manager"
    GENERAL_DEPT = "general_dept"
    COMPANY_GROUP = "company_group"
    RESOLVED = "resolved"
    MAJOR = "major"  # handed to the 重大突发事件 contacts
    DISMISSED = "dismissed"  # 非媒体投诉

    @property
    def closed(self) -> bool:
        return self in CLOSED_STATUSES


CLOSED_STATUSES = frozenset({CaseStatus.RESOLVED, CaseStatus.MAJOR, CaseStatus.DISMISSED})


class DeadlineKind(str, Enum):
    """The procedure's clocks (SPEC §3); the values are the [deadlines] keys."""

    ASSESS = "assess"
    ACCOUNT_MANAGER = "account_manager"
    GENERAL_DEPT = "general_dept"
    SOLUTION = "solution"
    GROUP = "group"
    HIGHER_AUTHORITY = "higher_authority"
    PROGRESS = "progress"
    STATEMENT = "statement"
    ACK = "ack"
    NORMAL_COMPLETION = "normal_completion"


class InboundStatus(str, Enum):
    """What became of one inbound message."""

    REGISTERED = "registered"  # became a new case
    DUPLICATE = "duplicate"  # a second sighting of a case's message
    REPLY = "reply"
    AUTOREPLY = "autoreply"
    BOUNCE = "bounce"
    IGNORED = "ignored"  # our own mail, loops, mailing-list and bulk mail
    QUARANTINED = "quarantined"  # unusable, or failed while being processed

    @property
    def folder(self) -> str:
        """Which of the two folders the message goes to once this is committed."""
        return "quarantine" if self is InboundStatus.QUARANTINED else "processed"


class OutboxStatus(str, Enum):
    PENDING = "pending"
    SENT = "sent"
    SENDING = "sending"  # in the batch being sent now; left over only by a crash
    FAILED = "failed"  # refused permanently, or deferred past give_up_after
