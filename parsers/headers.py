"""The top-level headers of one message, decoded: subject, addresses, ids and the sent time."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

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
    sender = _sender(headers, problems)
    date_value = _first(headers, "date")
    sent_at = parse_header_date(charset.decode_8bit(date_value)[0], local) if date_value else None
    if date_value and sent_at is None:
        problems.append(f"Date header not understood: {date_value[:60]!r}")
    return Envelope(
        subject=subject,
        sender=sender,
        to=parse_addresses(_all(headers, "to"), "To", problems),
        cc=parse_addresses(_all(headers, "cc"), "Cc", problems),
        message_id=_message_id(_first(headers, "message-id"), problems),
        in_reply_to=read_ids(_first(headers, "in-reply-to"), "In-Reply-To", problems),
        references=read_ids(_all(headers, "references"), "References", problems),
        sent_at=sent_at,
        problems=problems,
    )


def _sender(headers: dict[str, list[str]], problems: list[str]) -> Address | None:
    """The author: From's one mailbox. RFC 5322 §3.6.2: a From naming several mailboxes needs a
    Sender, which is then the one who sent it; without one, the first is taken, and either way
    the ambiguity is noted (a From alone proves nothing anyway, SPEC §4)."""
    authors = parse_addresses(_first(headers, "from"), "From", problems)
    chosen: Address | None
    if len(authors) > 1:
        named = ", ".join(a.email for a in authors[:5])
        agents = parse_addresses(_first(headers, "sender"), "Sender", problems)
        chosen = agents[0] if agents else authors[0]
        whose = "the Sender header's" if agents else "the first,"
        problems.append(f"From names {len(authors)} mailboxes ({named}); {whose} {chosen.email} taken as the sender")
    else:
        chosen = authors[0] if authors else None
    if chosen is not None:
        _note_address_like_name(chosen, problems)
    return chosen


# Starts where a run of its characters starts (the lookbehind): without it, findall over a long
# display name without "@" restarts at each character and reads the rest of the run every time
# (quadratic). A match ends before a blank, "@", "<", ">" or a quote, so the next one also
# starts at a run's start, and nothing it found before is lost.
_ADDRESS_LIKE = re.compile(r"(?<![^\s@<>\"'])[^\s@<>\"']+@[^\s@<>\"']+\.[^\s@<>\"']+")


def _note_address_like_name(sender: Address, problems: list[str]) -> None:
    """A display name that reads as another address (``liu.gd@corp <attacker@evil>``) is how a
    forged sender looks to a person; the mailbox is what counts, and the log says so."""
    for shown in _ADDRESS_LIKE.findall(sender.name):
        if shown.lower() != sender.email:
            problems.append(f"From: display name {sender.name[:80]!r} shows another address than {sender.email}")
            return


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
    inside a decoded Chinese name cannot split a mailbox in two. The reader is strict where it
    matters (see ``_read_mailboxes``): an angle address is the mailbox, a display name never is.
    """
    found_problems: list[str] = [] if problems is None else problems
    if not raw:
        return ()
    if len(raw) > _MAX_ADDRESS_HEADER:
        found_problems.append(f"{what} header of {len(raw)} characters cut to {_MAX_ADDRESS_HEADER}")
        raw = raw[:_MAX_ADDRESS_HEADER]
    text, problem = charset.decode_8bit(raw, what)
    if problem:
        found_problems.append(problem)
    if charset.has_control_chars(text):
        found_problems.append(f"control characters (NUL or similar) removed from the {what} header")
        text = charset.clean_text(text)
    found: list[Address] = []
    for name, address, bracketed in _read_mailboxes(text.replace("\r", " ").replace("\n", " ")):
        decoded, _ = charset.decode_header_text(name, what)
        if not _valid_address(address, bracketed):
            shown = (decoded + " " + address).strip()[:80]
            found_problems.append(f"{what}: no valid address in {shown!r}; ignored")
            continue
        found.append(Address(name=decoded.strip().strip("\"'").strip(), email=address.lower()))
    return tuple(found)


# --- a strict reader of RFC 5322 address lists ---------------------------------------------
#
# Why not email.utils.getaddresses: on Python 3.11.7 it reads
# ``liu.gd@corp.example.com <attacker@evil.example>`` as two mailboxes, the display name first,
# so the forged name became the sender. Here one linear pass cuts the value into tokens (words,
# quoted strings, comments, angle addresses, separators), and the tokens into mailboxes:
# - an angle address is the mailbox; the words and quoted strings before it are its name;
# - without an angle address, a word holding "@" is the address, other words the name;
# - "," ends a mailbox; "name:" opens a group and ";" ends it (RFC 5322 groups);
# - text after an angle address (no comma) is another mailbox, so the reader never picks a
#   name over an address, and the caller sees that the header names several mailboxes.

_MAX_ADDRESS_HEADER = 100_000  # about a thousand recipients; bounds the work on hostile headers
_WORD = re.compile(r'[^\s"(<,;:]+')  # one character class: matches in linear time
_SPECIAL = frozenset('",;:(<')
_LOCAL = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[^\s<>()\[\],;:\\"@]+')  # quoted or a dot-atom-ish run
_DOMAIN = re.compile(r"[\w-]+(?:\.[\w-]+)*\.?|\[[^\[\]\s\\]*\]")  # Unicode \w: IDN domains too


def _read_mailboxes(text: str) -> list[tuple[str, str, bool]]:
    """(name, address, in angle brackets) in order; the address may be invalid (the caller checks)."""
    found: list[tuple[str, str, bool]] = []
    for tokens in _group_mailboxes(_tokens(text)):
        found.extend(_mailbox(tokens))
    return found


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: word, quoted, comment, angle, or a separator "," ";" ":"."""
    tokens: list[tuple[str, str]] = []
    position, end = 0, len(text)
    while position < end:
        char = text[position]
        if char.isspace():
            position += 1
        elif char == '"':
            position, value = _quoted_string(text, position + 1)
            tokens.append(("quoted", value))
        elif char == "(":
            position, value = _comment(text, position + 1)
            tokens.append(("comment", value))
        elif char == "<":
            close = text.find(">", position + 1)
            close = end if close < 0 else close
            tokens.append(("angle", text[position + 1:close]))
            position = close + 1
        elif char in ",;:":
            tokens.append((char, char))
            position += 1
        else:
            match = _WORD.match(text, position)
            assert match is not None  # char is none of the characters the class excludes
            tokens.append(("word", match.group()))
            position = match.end()
    return tokens


def _quoted_string(text: str, position: int) -> tuple[int, str]:
    """The content of a quoted string starting at `position` (after the quote), unescaped."""
    out: list[str] = []
    while position < len(text):
        char = text[position]
        if char == '"':
            return position + 1, "".join(out)
        if char == "\\" and position + 1 < len(text):
            position += 1
            char = text[position]
        out.append(char)
        position += 1
    return position, "".join(out)  # unterminated: up to the end


def _comment(text: str, position: int) -> tuple[int, str]:
    """The content of a (possibly nested) comment starting at `position` (after the paren)."""
    depth, start = 1, position
    while position < len(text):
        char = text[position]
        if char == "\\":
            position += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return position + 1, text[start:position]
        position += 1
    return position, text[start:]


def _group_mailboxes(tokens: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The tokens cut into one list per mailbox (group names dropped)."""
    mailboxes: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    has_angle = False
    for kind, value in tokens:
        starts_another = has_angle and kind in ("angle", "word", "quoted")
        if kind in (",", ";") or starts_another:
            mailboxes.append(current)
            current, has_angle = [], False
        if kind == ":" and not has_angle:
            current = []  # "name:" is a group's display name, not a mailbox
        elif kind not in (",", ";", ":"):
            current.append((kind, value))
            has_angle = has_angle or kind == "angle"
    mailboxes.append(current)
    return [tokens for tokens in mailboxes if any(kind != "comment" for kind, _ in tokens)]


def _mailbox(tokens: list[tuple[str, str]]) -> list[tuple[str, str, bool]]:
    """(name, address, bracketed) for one mailbox's tokens; several when bare addresses follow each other."""
    phrase = [value for kind, value in tokens if kind in ("word", "quoted")]
    comments = " ".join(value for kind, value in tokens if kind == "comment").strip()
    angle = next((value for kind, value in tokens if kind == "angle"), None)
    if angle is not None:
        return [(" ".join(phrase) or comments, _without_route(angle), True)]
    addresses = [value for kind, value in tokens if kind == "word" and "@" in value]
    if not addresses:
        return [(" ".join(phrase) or comments, "", False)]  # reported by the caller: no address
    name = " ".join(value for kind, value in tokens if kind == "quoted" or (kind == "word" and "@" not in value))
    return [(name or comments, address, False) for address in addresses]


_ADDRESS_COMMENT = re.compile(r"\([^()]*\)")  # one pass: [^()] cannot run past the next parenthesis


def _without_route(angle: str) -> str:
    """The address inside <…>: obsolete source routes (``@a,@b:x@y``), comments
    (``pete(his account)@silly.test``, RFC 5322 §3.4.1) and spaces removed (but those of a
    quoted local part)."""
    address = angle.strip() if '"' in angle else "".join(_ADDRESS_COMMENT.sub("", angle).split())
    if address.startswith("@") and ":" in address:
        address = address.rsplit(":", 1)[1]
    return address


def _valid_address(address: str, bracketed: bool) -> bool:
    """``local@domain``, the local part a quoted string or without specials, the domain a host.

    A local part alone counts only in angle brackets: sendmail's bounces come
    ``From: Mail Delivery Subsystem <MAILER-DAEMON>``, and the classifier knows that name.
    A bare word without "@" is a name (or an encoded word), never an address.
    """
    local, at, domain = address.rpartition("@")
    if not at and bracketed:
        return _LOCAL.fullmatch(address) is not None
    if not (at and local and domain):
        return False
    return _LOCAL.fullmatch(local) is not None and _DOMAIN.fullmatch(domain) is not None
