"""The two I/O edges of the daemon as small ports (STYLE habit 6).

`MailSource` is where complaints arrive (Maildir or IMAP); `Mailer` is how case mail leaves
(Maildir or SMTP). The app talks only to these; tests run one contract against each adapter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Protocol


@dataclass(frozen=True)
class SourceKey:
    """Where a message sits: unique per (mailbox, uidvalidity, uid).

    For IMAP, uid is the UID as a decimal string; for Maildir, the file's unique key and
    uidvalidity 0.
    """

    mailbox: str
    uidvalidity: int
    uid: str


@dataclass(frozen=True)
class Fetched:
    key: SourceKey
    raw: bytes
    # When the message reached the mailbox, aware UTC: IMAP INTERNALDATE, a Maildir file's
    # delivery time (its name's timestamp, else its mtime), an ingested file's mtime. Clocks
    # run from it when no forwarded original says otherwise (SPEC §3), so it must never be the
    # time complaintd got round to the message: a mail that waited out a daemon outage is late.
    # None only when the source cannot tell; the daemon then has nothing better than its now.
    arrived_at: datetime | None = None

    @cached_property
    def digest(self) -> str:
        """sha256 of the raw bytes, computed once (a 28 MB mail costs ~30 ms a time)."""
        return hashlib.sha256(self.raw).hexdigest()


class MailSource(Protocol):
    """The complaints mailbox. Reading never changes it; only the two moves do."""

    name: str  # stable identifier of the mailbox, e.g. "imap://user@host:993/INBOX"

    def fetch_new(self) -> Iterator[Fetched]:
        """Every message now in the inbox folder, oldest first, without marking it read."""
        ...

    def move_to_processed(self, keys: Sequence[SourceKey]) -> None:
        """Move messages whose outcome is committed to the Processed folder (one round trip
        for the batch where the server allows); a message already gone is skipped."""
        ...

    def move_to_quarantine(self, keys: Sequence[SourceKey]) -> None:
        """Move messages that could not be understood to the Quarantine folder."""
        ...

    def wait(self, timeout: float) -> bool:
        """Block until new mail may have arrived (True) or `timeout` seconds pass (False)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class OutgoingMail:
    """One rendered message ready for the wire."""

    key: str  # the outbox row's unique key, for logs
    envelope_from: str
    recipients: tuple[str, ...]
    message_id: str
    data: bytes  # the full RFC 5322 message, CRLF or LF line ends
    # Mails with the same number go over one connection, in their order; the numbers run at
    # once, at most Mailer.connections of them.
    connection: int = 0


class SendOutcome(StrEnum):
    """What became of one mail handed to the server."""

    SENT = "sent"
    TEMPORARY = "temporary"  # the server deferred this mail (4xx): try it again later
    PERMANENT = "permanent"  # this recipient will never take it (5xx)
    # The server could not be reached, dropped the connection, refused our login, or policy
    # refused plaintext: nothing is wrong with the mail, so an outage never uses up its retries.
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class SendResult:
    """What happened to one OutgoingMail; `refused` holds recipients rejected permanently."""

    key: str
    outcome: SendOutcome
    detail: str = ""
    refused: tuple[str, ...] = ()
    in_doubt: bool = False  # the line dropped after the message was handed over: maybe delivered


# Takes results as they come, to record them (several connections' at once, or one).
OnResults = Callable[[Sequence[SendResult]], None]


class Mailer(Protocol):
    # How many connections send at once: the outbox deals a batch out over that many numbers
    # (OutgoingMail.connection). 1 for a mailer that sends one mail at a time.
    connections: int

    def send(self, mails: Sequence[OutgoingMail], on_results: OnResults | None = None) -> list[SendResult]:
        """Send a batch, each connection's mails over one connection in their order, the
        connections at once; one result per mail, in the batch's order. Never raises for a
        server problem: that is a TEMPORARY or UNAVAILABLE result.

        `on_results` is called with each result as soon as it is known (with other
        connections' results that came in meanwhile), never from two threads at once, and
        before the next mail on that connection is tried, so that the caller can record it:
        a crash then leaves at most one mail per connection whose fate is unknown."""
        ...
