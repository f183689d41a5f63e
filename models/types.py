"""Value types shared by the tables and the pure rules: aware-UTC time, the enums stored as
their text, and the target of an ack window.

The enums are StrEnums: a member is its value wherever text is made of it (str(), f-strings,
%-formatting, JSON), as the outbox keys, the Message-IDs, the templates and the logs need.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

E = TypeVar("E", bound=StrEnum)


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
        utc = value.astimezone(UTC)
        # SQLite stores the text it is given; keep it offset-free and UTC so it sorts right.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class EnumText(TypeDecorator[E]):
    """An enum column stored as its members' text: the value in, the member out.

    The stored strings are the enum values, so a column of this type holds exactly what a
    plain string column held and reads the same in SQL. A value that is not a member is a
    bug in the caller and is refused on write. On read, a value this version does not know
    (a row written by a newer one) comes back as the stored text, as the labels show it.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum_cls: type[E]) -> None:
        super().__init__()
        self.enum_cls = enum_cls

    def __repr__(self) -> str:
        return f"EnumText({self.enum_cls.__name__})"

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        try:
            return self.enum_cls(value).value
        except ValueError:
            known = ", ".join(m.value for m in self.enum_cls)
            raise ValueError(f"{value!r} is not a {self.enum_cls.__name__} ({known})") from None

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        if value is None:
            return None
        try:
            return self.enum_cls(value)
        except ValueError:
            return value  # type: ignore[no-any-return]


class CaseStatus(StrEnum):
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


class DeadlineKind(StrEnum):
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


class InboundStatus(StrEnum):
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


class OutboxStatus(StrEnum):
    """Where an outbox row stands."""

    PENDING = "pending"
    SENT = "sent"
    SENDING = "sending"  # in the batch being sent now; left over only by a crash
    FAILED = "failed"  # refused permanently, or deferred past give_up_after


class EventKind(StrEnum):
    """What a line of a case's event log (媒体投诉相关记录) records; labels: models/labels.py."""

    MAIL_IN = "mail_in"  # a mail about the case arrived (a forward, a reply, an outsider's)
    MAIL_OUT = "mail_out"  # a mail of ours was accepted by the server
    REGISTERED = "registered"
    DUPLICATE = "duplicate"  # the same mail, or the same original, again
    QUARANTINED = "quarantined"  # a mail kept aside as unusable (no case)
    PARSE_PROBLEMS = "parse_problems"  # registered, but something was guessed while reading it
    BREACHED = "breached"  # a clock ran out
    STATUS = "status"  # the case's status changed by a clock
    COMMAND = "command"  # a reply command carried out
    REJECTED = "rejected"  # a reply, or one of its commands, not accepted
    UNREACHABLE = "unreachable"  # an auto-reply or a bounce from someone awaited
    SEND_FAILED = "send_failed"  # a mail of ours given up
    RESEND_UNCERTAIN = "resend_uncertain"  # a send interrupted: sent again, maybe twice


@dataclass(frozen=True)
class AckTarget:
    """What an ack window waits for: the answer of `address` to the mail of `step`, `round`.

    Stored in Deadline.target as "<step>/<round>/<address>" (str() gives that form); the
    address is everything after the second slash, so an address with a slash in its local
    part (a legal dot-atom) stays whole.
    """

    step: str  # a Step value
    round: int
    address: str

    def __str__(self) -> str:
        return f"{self.step}/{self.round}/{self.address}"

    @classmethod
    def parse(cls, text: str) -> AckTarget:
        """The target `text` names. A shorter or damaged form still names an address: the
        text after the last slash; its step is what comes before the first slash (none
        without one), its round 0 unless the middle part is a number."""
        step, round_, address = text.split("/", 2) if text.count("/") >= 2 else ("", "", "")
        if round_.isascii() and round_.isdigit():
            return cls(step, int(round_), address)
        before, slash, last = text.rpartition("/")
        return cls(before.split("/", 1)[0] if slash else "", 0, last)
