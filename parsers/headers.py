"""The top-level headers of one message, decoded: subject, addresses, ids and the sent time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from email.utils import getaddresses

from parsers import charset
from parsers.dates import parse_header_date
from parsers.message import Address
from parsers.mime import split_ids


@dataclass
class Envelope:
    """What the headers say, decoded once for classification and for the result."""

    subject: str = ""
    sender: Address | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    message_id: str | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    sent_at: datetime | None = None
    problems: list[str] = field(default_factory=list)


def read_envelope(headers: dict[str, list[str]], local: tzinfo) -> Envelope:
    """Decode the headers a complaint record and the classifier need."""
    problems: list[str] = []
    subject = _decoded(headers, "subject", problems)
    senders = parse_addresses(_first(headers, "from"), "From", problems)
    date_value = _first(headers, "date")
    sent_at = parse_header_date(charset.decode_8bit(date_value)[0], local) if date_value else None
    if date_value and sent_at is None:
        problems.append(f"Date header not understood: {date_value[:60]!r}")
    return Envelope(
        subject=subject,
        sender=senders[0] if senders else None,
        to=parse_addresses(_all(headers, "to"), "To", problems),
        cc=parse_addresses(_all(headers, "cc"), "Cc", problems),
        message_id=_message_id(_first(headers, "message-id"), problems),
        in_reply_to=read_ids(_first(headers, "in-reply-to"), "In-Reply-To", problems),
        references=read_ids(_all(headers, "references"), "References", problems),
        sent_at=sent_at,
        problems=problems,
    )


def _first(headers: dict[str, list[str]], name: str) -> str:
    values = headers.get(name)
    return values[0] if values else ""


def _all(headers: dict[str, list[str]], name: str) -> str:
    return ", ".join(headers.get(name, ()))


MAX_REFERENCES = 50  # the newest ids of a thread; a reply threads by the last few
_MAX_ID_HEADER = 64_000  # 50 ids of 250 characters, folded, with room to spare


def _message_id(value: str, problems: list[str]) -> str | None:
    """The mail's own id, valid or None: it becomes a database key and an event's reference.
    A bare ``abc@host`` is taken as ``<abc@host>``."""
    text = _id_text(value[:_MAX_ID_HEADER])
    if not text:
        return None
    ids, rejected = split_ids(text)
    if not ids:
        problems.append(f"Message-ID not valid, ignored: {text[:80]!r}")
        return None
    if rejected or "<" not in text:
        problems.append(f"Message-ID repaired: {text[:80]!r} read as {ids[0]}")
    return ids[0]


def read_ids(value: str, what: str, problems: list[str]) -> tuple[str, ...]:
    """The valid ids of an In-Reply-To or References value, at most MAX_REFERENCES (the last)."""
    text = _id_text(value[-_MAX_ID_HEADER:])
    if not text:
        return ()
    ids, rejected = split_ids(text)
    if rejected:
        problems.append(f"{what}: {len(rejected)} malformed id(s) ignored, e.g. {rejected[0][:80]!r}")
    if len(ids) > MAX_REFERENCES:
        problems.append(f"{what}: {len(ids)} ids, only the last {MAX_REFERENCES} kept")
        ids = ids[-MAX_REFERENCES:]
    return tuple(dict.fromkeys(ids))


def _id_text(value: str) -> str:
    """Raw 8-bit octets as text (so they fail the ASCII check instead of passing as surrogates),
    and RFC 2047 words decoded: Python's email package folds a long id into encoded words."""
    text, _ = charset.decode_header_text(value, "id")
    return text


_MAX_RAW_HEADER = 16_000  # far above any real subject; bounds the work on hostile headers
_MAX_SUBJECT = 1_000


def _decoded(headers: dict[str, list[str]], name: str, problems: list[str]) -> str:
    raw = _first(headers, name)
    if len(raw) > _MAX_RAW_HEADER:
        problems.append(f"{name.title()} header of {len(raw)} characters cut to {_MAX_RAW_HEADER}")
        raw = raw[:_MAX_RAW_HEADER]
    if charset.has_control_chars(raw):
        problems.append(f"control characters (NUL or similar) removed from the {name.title()} header")
    text, found = charset.decode_header_text(raw, name.title())
    problems.extend(found)
    return text[:_MAX_SUBJECT]


def parse_addresses(raw: str, what: str, problems: list[str] | None = None) -> tuple[Address, ...]:
    """Mailboxes from an address header: names decoded (RFC 2047 or raw 8-bit), addresses lower-cased.

    The value is split into mailboxes while the names are still encoded, so a comma or a quote
    inside a decoded Chinese name cannot split a mailbox in two.
    """
    if not raw:
        return ()
    text, problem = charset.decode_8bit(raw, what)
    if problem and problems is not None:
        problems.append(problem)
    if charset.has_control_chars(text):
        if problems is not None:
            problems.append(f"control characters (NUL or similar) removed from the {what} header")
        text = charset.clean_text(text)
    found: list[Address] = []
    for name, address in getaddresses([text.replace("\r", " ").replace("\n", " ")]):
        address = address.strip().lower()
        if not address:
            continue
        decoded, _ = charset.decode_header_text(name, what)
        found.append(Address(name=decoded.strip().strip("\"'").strip(), email=address))
    return tuple(found)
