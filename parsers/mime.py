"""The MIME layer: raw bytes → a message tree, and the parts of it that matter to us.

Why the stdlib ``email`` package (policy ``compat32``) and not mail-parser's ``MailParser``,
although mail-parser is the design card's choice. Measured on the 322-message corpus, one core:
``email.message_from_bytes(raw, policy=compat32)`` alone runs at about 1,700 mails/s,
``mailparser.parse_from_bytes`` alone at about 650 mails/s, and the whole of ``parsers.parse``
(stdlib tree plus everything in this package) at about 1,050 mails/s. mail-parser builds the
same stdlib tree and then parses every ``Received:`` header, checks every address header, builds
its mail dict twice and base64-encodes every attachment, none of which we use; underneath us it
would bring parse alone down to about 500 mails/s, the whole ingest budget. It also needs the GB
relabel done first (it loses a gb2312-labelled body holding GBK characters), raises
AttributeError on one corpus mail (``lhost-sendgrid-01.eml``) and logs a WARNING for every part
type it does not handle (``rfc822-headers``, ``gif``, ``alternative`` …).

compat32 keeps payloads as the original octets (non-ASCII as surrogate escapes), so nothing
decodes a text part before ``parsers.charset`` has chosen the codec, and no header is decoded
before we do it ourselves.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from email import errors as email_errors
from email import policy
from email.message import Message
from email.parser import BytesParser

from parsers import charset

MAX_DEPTH = 30  # MIME nesting we follow; deeper is hostile or broken
_PARSER = BytesParser(policy=policy.compat32)

# Headers any real mail carries at least one of; a "message" with none of them is not mail.
_MAIL_HEADERS = frozenset(
    {
        "from", "to", "cc", "subject", "date", "message-id", "received", "return-path",
        "mime-version", "content-type", "sender", "reply-to", "delivered-to", "in-reply-to",
        "references", "x-mailer", "user-agent",
    }
)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Outlook .msg and other OLE2 compound files

_DEFECT_WORDS = {
    "StartBoundaryNotFoundDefect": "MIME: the multipart boundary never appears; body read as plain text",
    "CloseBoundaryNotFoundDefect": "MIME: closing boundary missing (message truncated?)",
    "MultipartInvariantViolationDefect": "MIME: multipart part without sub-parts",
    "NoBoundaryInMultipartDefect": "MIME: multipart without a boundary parameter",
    "MissingHeaderBodySeparatorDefect": "headers not followed by a blank line",
    "FirstHeaderLineIsContinuationDefect": "first header line is a continuation line",
    "MisplacedEnvelopeHeaderDefect": "envelope 'From ' line inside the headers",
    "InvalidBase64PaddingDefect": "base64 part damaged: bad padding (truncated?)",
    "InvalidBase64CharactersDefect": "base64 part damaged: invalid characters",
    "InvalidBase64LengthDefect": "base64 part damaged: impossible length (truncated?)",
    "InvalidMultipartContentTransferEncodingDefect": "MIME: multipart with an encoded body",
}


@dataclass
class MailView:
    """One message tree sorted into what the parser needs; parts are compat32 `Message`s."""

    message: Message
    headers: dict[str, list[str]]  # lower-case name → raw values in order
    plain_parts: list[Message] = field(default_factory=list)  # inline text/plain
    html_parts: list[Message] = field(default_factory=list)  # inline text/html
    attachments: list[Message] = field(default_factory=list)  # files, incl. attached mails
    embedded: list[Message] = field(default_factory=list)  # attached mails (forward as attachment)
    returned: list[Message] = field(default_factory=list)  # mails inside a report (bounce, ARF)
    dsn_parts: list[Message] = field(default_factory=list)  # message/delivery-status
    report_types: list[str] = field(default_factory=list)  # multipart/report report-type values
    parts: list[Message] = field(default_factory=list)  # every part visited (for defects)
    problems: list[str] = field(default_factory=list)

    def header(self, name: str) -> str:
        """The first raw value of a header, or ''."""
        values = self.headers.get(name)
        return values[0] if values else ""


def is_ole_file(raw: bytes) -> bool:
    """True for an Outlook .msg (OLE2) file, which people sometimes drop in instead of .eml."""
    return raw.startswith(_OLE_MAGIC)


def load(raw: bytes) -> Message:
    """Parse bytes into a compat32 tree; never decodes text."""
    return _PARSER.parsebytes(elide_large_files(raw))


# A 20 MB photo costs the stdlib parser ten times its size in memory (a str per base64 line,
# then the joined payload), yet all we need of it is its name and size. Long runs of base64
# lines outside text parts are replaced, before parsing, by a marker that carries the decoded
# size; part_size() reads it back. The raw bytes themselves are kept untouched by the caller.
ELIDE_ABOVE = 512 * 1024  # smaller mails are parsed as they are
# Any run of base64-looking lines; runs shorter than ELIDE_LINES are put back as they were.
# Possessive quantifiers: the engine keeps no backtracking state per line (70 MB otherwise).
# (A `{1000,}` bound in the pattern would rescan every shorter run from each of its lines.)
_BASE64_RUN = re.compile(rb"(?m)^(?:[A-Za-z0-9+/]{40,998}+={0,2}+\r?\n)++(?:[A-Za-z0-9+/]{1,39}+={0,2}+\r?\n)?+")
ELIDE_LINES = 1000  # about 75 KB of base64
_PART_TYPE = re.compile(rb"(?im)^content-type:[ \t]*([a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+)")
_ELIDED = b"complaintd-elided:"


def elide_large_files(raw: bytes) -> bytes:
    """The mail with every long base64 run of a non-text part replaced by a size marker."""
    if len(raw) < ELIDE_ABOVE:
        return raw
    return _BASE64_RUN.sub(lambda m: _elided(raw, m), raw)


def _elided(raw: bytes, match: re.Match[bytes]) -> bytes:
    start, end = match.span()  # positions only: group(0) would copy the whole run
    lines = raw.count(b"\n", start, end)
    if lines < ELIDE_LINES:
        return match.group(0)
    types = _PART_TYPE.findall(raw, max(0, start - 4096), start)
    if not types or types[-1].lower().startswith((b"text/", b"message/")):
        return match.group(0)  # text is read, and an unknown part is left as it is
    carriage_returns = raw.count(b"\r", start, end)
    tail = raw[max(start, end - 8):end].rstrip()
    padding = len(tail) - len(tail.rstrip(b"="))
    size = (end - start - lines - carriage_returns) * 3 // 4 - padding
    newline = b"\r\n" if carriage_returns else b"\n"
    return base64.b64encode(_ELIDED + str(size).encode()) + newline


def _elided_size(payload: str) -> int | None:
    """The size a marker from elide_large_files() carries, or None for ordinary content."""
    if len(payload) > 64:
        return None
    try:
        decoded = base64.b64decode(payload.strip(), validate=True)
    except ValueError:
        return None
    return int(decoded[len(_ELIDED):]) if decoded.startswith(_ELIDED) else None


_OBSOLETE_HEADER_NAME = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]+:", re.MULTILINE)


def repair_obsolete_headers(raw: bytes) -> bytes | None:
    """RFC 5322 §4.5 obsolete syntax allows blanks before the colon ("From  : x"); the stdlib
    parser does not, and then sees no headers at all. Returns the mail with those blanks removed
    from its header section, or None when there is nothing to repair."""
    end = raw.find(b"\r\n\r\n")
    end = raw.find(b"\n\n") if end < 0 else end
    head = raw[: end if end >= 0 else len(raw)]
    repaired = _OBSOLETE_HEADER_NAME.sub(rb"\1:", head)
    return None if repaired == head else repaired + raw[len(head):]


def header_index(message: Message) -> dict[str, list[str]]:
    """Lower-case header name → raw values, built once (``Message.get`` is a linear scan)."""
    index: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        index.setdefault(name.lower(), []).append(value if isinstance(value, str) else str(value))
    return index


def has_mail_headers(headers: dict[str, list[str]]) -> bool:
    """True when at least one header that real mail carries is present."""
    return any(name in _MAIL_HEADERS for name in headers)


def read(message: Message) -> MailView:
    """Sort a message tree into body candidates, attachments, attached mails and report parts."""
    view = MailView(message=message, headers=header_index(message))
    _walk(message, view, depth=0, in_report=False)
    return view


def _walk(part: Message, view: MailView, depth: int, in_report: bool) -> None:
    if depth > MAX_DEPTH:
        view.problems.append(f"MIME nesting deeper than {MAX_DEPTH} levels; the rest is ignored")
        return
    view.parts.append(part)
    ctype = part.get_content_type()
    if ctype in ("message/rfc822", "message/global"):
        _add_attached_mail(part, view, in_report)
    elif ctype in ("message/delivery-status", "message/global-delivery-status"):
        view.dsn_parts.append(part)
    elif part.is_multipart():  # not get_payload(): see payload_text()
        if ctype == "multipart/report":
            view.report_types.append(str(part.get_param("report-type") or "").lower())
            in_report = True
        for child in part.get_payload():
            if isinstance(child, Message):
                _walk(child, view, depth + 1, in_report)
    else:
        _add_leaf(part, ctype, view)


def _add_attached_mail(part: Message, view: MailView, in_report: bool) -> None:
    inner = _inner_message(part)
    if inner is None:
        view.problems.append("attached message could not be read")
        return
    if in_report:
        view.returned.append(inner)
    else:
        view.embedded.append(inner)
        view.attachments.append(part)


def _inner_message(part: Message) -> Message | None:
    if part.is_multipart():
        payload = part.get_payload()
        first = payload[0] if payload else None
        return first if isinstance(first, Message) else None
    # A message/rfc822 part with a base64 or QP transfer encoding (not allowed, but Outlook and
    # some webmail do it) stays a string in the stdlib tree: decode it and parse the result.
    data = part.get_payload(decode=True)
    return load(data) if isinstance(data, bytes) and data.strip() else None


def _add_leaf(part: Message, ctype: str, view: MailView) -> None:
    disposition = part.get_content_disposition()
    named = part.get_param("filename", header="content-disposition") or part.get_param("name")
    inline = disposition != "attachment" and not named
    if ctype == "text/plain" and inline:
        view.plain_parts.append(part)
    elif ctype == "text/html" and inline:
        view.html_parts.append(part)
    elif ctype.startswith("multipart/"):
        # A multipart whose boundary never appears: its raw text is the best body there is.
        view.plain_parts.append(part)
    elif ctype == "text/rfc822-headers" or ctype.startswith("message/"):
        pass  # report machinery (returned headers, ARF/MDN fields), not content
    elif named or disposition == "attachment" or not ctype.startswith("text/"):
        view.attachments.append(part)


def part_bytes(part: Message) -> bytes:
    """The transfer-decoded payload of a leaf part (base64/QP undone), or b''."""
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, LookupError):  # uuencode and friends can fail on bad input
        data = None
    return data if isinstance(data, bytes) else b""


def part_text(part: Message, what: str) -> tuple[str, str | None]:
    """A text part as text, decoded per its declared charset with the fallbacks of charset.py."""
    label = part.get_param("charset")
    if isinstance(label, tuple):  # RFC 2231 form of the parameter
        label = str(label[2])
    return charset.decode_bytes(part_bytes(part), str(label) if label else None, what)


def payload_text(part: Message) -> str:
    """A leaf part's payload as a string, without raising.

    ``Message.get_payload()`` (no ``decode``) decodes 8-bit octets with the part's declared
    charset, so a sender's label such as ``idna`` or ``utf-8\\0`` makes it raise. Then the
    octets are read as Latin-1, which is enough for what is looked for in them (ids, base64).
    """
    if part.is_multipart():
        return ""
    try:
        payload = part.get_payload()
    except (UnicodeError, LookupError, ValueError, TypeError):
        return part_bytes(part).decode("latin-1")
    return payload if isinstance(payload, str) else ""


def part_size(part: Message) -> int:
    """Decoded size in bytes, computed without decoding base64 (a 20 MB file costs nothing)."""
    if part.is_multipart():
        return sum(part_size(child) for child in part.get_payload() if isinstance(child, Message))
    payload = payload_text(part)
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64":
        elided = _elided_size(payload)
        if elided is not None:
            return elided
        stripped = len(payload) - sum(payload.count(c) for c in "\r\n \t")
        padding = len(payload.rstrip()) - len(payload.rstrip().rstrip("="))
        return max(0, stripped * 3 // 4 - padding)
    return len(part_bytes(part))  # octets, not the characters get_payload() decodes them to


# A message id as it may leave the parser: printable ASCII without spaces or angle brackets,
# short enough for an indexed database column. RFC 5322 allows 998-character lines, but no
# mail system mints ids anywhere near 250 characters; longer ones are junk or an attack.
MAX_ID_CHARS = 250
_ID_CANDIDATE = re.compile(r"<([^<>]*)>")  # one pass, no backtracking: [^<>] cannot overlap ">"
_ID_TEXT = re.compile(r"[!-;=?-~]+")  # 0x21-0x7E without "<" and ">"
_BARE_SPLIT = re.compile(r"[\s,]+")
_COMMENT = re.compile(r"\([^()]*\)")  # "(added by postmaster)" after a bare id


def split_ids(value: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The valid ``<id>`` tokens of a Message-ID, In-Reply-To or References value, and the
    candidates that were rejected (non-ASCII, spaces, too long, empty).

    A value without any angle bracket is read as bare ids (``abc@host``, which some clients
    write); those that hold an "@" and are otherwise valid come back as ``<abc@host>``.
    """
    if "<" not in value:
        return _bare_ids(value)
    valid: list[str] = []
    rejected: list[str] = []
    for inner in _ID_CANDIDATE.findall(value):
        (valid if _valid_id(inner) else rejected).append(f"<{inner}>")
    return tuple(valid), tuple(rejected)


def _bare_ids(value: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    valid: list[str] = []
    rejected: list[str] = []
    for token in _BARE_SPLIT.split(_COMMENT.sub(" ", value).strip()):
        if token:
            (valid if _valid_id(token) and "@" in token else rejected).append(f"<{token}>")
    return tuple(valid), tuple(rejected)


def _valid_id(inner: str) -> bool:
    return 0 < len(inner) <= MAX_ID_CHARS - 2 and _ID_TEXT.fullmatch(inner) is not None


def message_ids(value: str) -> tuple[str, ...]:
    """Every valid ``<id>`` token in a Message-ID, In-Reply-To or References value."""
    return split_ids(value)[0]


def defect_problems(view: MailView) -> list[str]:
    """Readable words for the stdlib parser's defects, once each."""
    seen: list[str] = []
    for part in view.parts:
        for defect in getattr(part, "defects", ()):
            words = _DEFECT_WORDS.get(type(defect).__name__)
            if words is None and isinstance(defect, email_errors.MessageDefect):
                words = f"MIME defect: {type(defect).__name__}"
            if words and words not in seen:
                seen.append(words)
    return seen
