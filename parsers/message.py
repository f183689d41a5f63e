"""Values that `parsers.parse()` returns: what one inbound mail says, and nothing more.

These are plain frozen dataclasses so that the pure core can be tested without a database,
a clock or a network, and so that the shell (daemon/) decides what to store and send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo


class Kind(StrEnum):
    """What an inbound mail is, for the intake pipeline (SPEC §4)."""

    COMPLAINT = "complaint"  # a new complaint: forwarded, written directly, or a staff-typed form
    REPLY = "reply"  # a reply to a case mail (threads to us, or carries the [MT-…] tag)
    AUTOREPLY = "autoreply"  # RFC 3834 and its non-standard cousins (自动回复, Out of Office)
    BOUNCE = "bounce"  # RFC 3464 DSN and common non-standard bounces (退信)
    OWN = "own"  # mail complaintd sent itself, or a loop
    BULK = "bulk"  # mailing-list and bulk mail: List-Id, Precedence: list/bulk/junk
    UNUSABLE = "unusable"  # cannot be understood: goes to Quarantine


@dataclass(frozen=True)
class Address:
    """A mailbox: display name (decoded) and the address, lower-cased."""

    name: str
    email: str


@dataclass(frozen=True)
class Attachment:
    """A file that came with the complaint (its bytes stay in the raw message)."""

    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Original:
    """The innermost forwarded message: who wrote the complaint, when and under what subject."""

    sender: Address | None
    sent_at: datetime | None  # aware; None when the forward header carries no usable time
    subject: str


@dataclass(frozen=True)
class Category:
    """The complaint's category (SPEC §2, 1..5) and how it was had: "stated" by a person
    (the forwarder's note, a `类别：N` line) or "judged" from the story; `reason` says on
    what, in words for the record ("转发人注明", "记者代业主反映…")."""

    value: int
    basis: str  # "stated" | "judged"
    reason: str = ""


@dataclass(frozen=True)
class FormFields:
    """The complainant's details: for a complaint, read from the mail's layers (the original's
    own text and sign-off first; a `字段：值` line typed in the forwarder's note wins; a
    signature block never counts — parsers/complainant.py); for a staff-typed form, its lines."""

    media_outlet: str | None = None  # 媒体单位
    reporter_name: str | None = None  # 记者 / 联系人
    phone: str | None = None  # 联系电话
    customer_number: str | None = None  # 客户号码
    complaint_text: str | None = None  # 投诉内容
    category: int | None = None  # 类别 1..5 (SPEC §2)


@dataclass(frozen=True)
class ParseContext:
    """What the parser needs to know about us; everything else comes from the bytes."""

    timezone: ZoneInfo  # naive times in mail bodies (forward headers, forms) are local times here
    case_prefix: str = "MT"  # subject tag [MT-YYYYMMDD-NNNN]
    own_addresses: frozenset[str] = frozenset()  # our From address(es), lower-case
    own_message_id_domain: str = ""  # Message-IDs we generate end in "@<this>>"


@dataclass(frozen=True)
class ParsedMail:
    """One inbound mail, understood.

    `kind` decides the pipeline branch; `reason` says why in words fit for the event log.
    For complaints, `original` is the innermost forwarded message (None for a direct mail),
    `text` is the readable complaint (the original's body for a forward), `note` whatever the
    forwarder wrote above the forward.
    """

    kind: Kind
    reason: str
    message_id: str | None = None  # with angle brackets, as in the header: "<abc@host>"
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    subject: str = ""
    sender: Address | None = None  # From
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    sent_at: datetime | None = None  # Date header, aware
    case_tag: str | None = None  # "MT-20261127-0001" from the subject
    case_token: str | None = None  # "7f3a9c" from a tag "[MT-20261127-0001·7f3a9c]": the recipient's token
    forwarded: bool = False
    original: Original | None = None
    form: FormFields = field(default_factory=FormFields)
    text: str = ""
    note: str = ""
    attachments: tuple[Attachment, ...] = ()
    category: Category | None = None  # for complaints: stated in the note/form, else judged
    failed_recipients: tuple[str, ...] = ()  # for bounces: who could not be reached
    problems: tuple[str, ...] = ()  # decoding defects worth an event (not fatal)
