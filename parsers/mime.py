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
import binascii
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
    return _PARSER.parsebytes(prepare(raw))


# --- before the stdlib parser: file bodies measured, encoded attached mails decoded ---------
#
# A 40 MB file costs the stdlib parser ten times its size in memory whatever its transfer
# encoding (a str per line, then the joined payload; one 53 MB base64 line costs 530 MB), yet
# all we need of it is its name and size. And a message/rfc822 part sent base64- or QP-encoded
# (RFC 2046 forbids it; Outlook and some webmail do it) is parsed by the stdlib as a message made
# of base64 text: no headers, no body. So before parsing, one linear pass over the MIME
# boundaries (bytes.find, never a regex over a body) rewrites the mail:
# - the body of a file part (not text, or text sent as a named attachment) above
#   ELIDE_PART_ABOVE is dropped, and a header ELIDED_HEADER carrying its size is added;
# - an encoded message/rfc822 part is decoded and marked 8bit, then scanned like the rest.
# Complaint text parts are never touched. The raw bytes themselves are kept by the caller.
# A file body above this is measured, not parsed. A mail no bigger is parsed as it is, unless
# it attaches a mail: none of its parts can be. (From 64 KB on, a mail of the corpus is mostly
# files: eliding them took a tenth off parsing it all; scanning every mail would cost more.)
ELIDE_PART_ABOVE = 64 * 1024
ELIDED_HEADER = "X-Complaintd-Elided"
_MAX_PARTS = 10_000  # parts rewritten per mail; the rest is left to the stdlib as it is
_MAX_HEAD = 1024 * 1024  # a header block; a longer one (hostile) leaves its entity as it is
# Nesting the scan follows. Deeper than _walk's MAX_DEPTH, because _walk starts again at 0 in
# an attached mail; each level searches its own boundary through its part (cost: depth × size).
_MAX_SCAN_DEPTH = 100
_ATTACHED_MAIL = re.compile(rb"(?i)content-type:[ \t\r\n]*+message/")
# What email.feedparser takes for a header line (its headerRE), and its line ends.
_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*+:|[ \t]")
_LINE_END = re.compile(rb"\r\n|\r|\n")
# The rest of a delimiter line after "--boundary": RFC 2046 and the feedparser's boundaryre.
_DELIMITER_TAIL = re.compile(rb"(--)?[ \t]*+(?:\r\n|\r|\n|\Z)")
_IDENTITY = ("", "7bit", "8bit", "binary")
Pieces = list[bytes | memoryview]  # slices of the mail, or new bytes


def prepare(raw: bytes) -> bytes:
    """The mail as the stdlib parser should see it (see above); `raw` itself when nothing changed."""
    if len(raw) <= ELIDE_PART_ABOVE and _ATTACHED_MAIL.search(raw) is None:
        return raw
    pieces: Pieces = []
    changed = _Scanner().entity(raw, 0, len(raw), 0, (), pieces)
    return b"".join(pieces) if changed else raw


@dataclass
class _Head:
    """One entity's header block: its fields (parsed by the stdlib) and where the body starts."""

    fields: Message
    lines: list[bytes]
    header_end: int
    body_start: int
    eol: bytes


@dataclass
class _Delimiter:
    """A "--boundary" line: from the line end before it (which RFC 2046 gives the delimiter)
    to the end of its own line."""

    start: int
    end: int
    close: bool


class _Scanner:
    """One pass over a mail's MIME entities, appending what the parser should see to `out`."""

    def __init__(self) -> None:
        self.parts = 0

    def entity(self, data: bytes, start: int, end: int, depth: int, fences: tuple[bytes, ...], out: Pieces) -> bool:
        """data[start:end] is one entity (headers and body); True when it was rewritten."""
        self.parts += 1
        head = _read_head(data, start, end) if depth <= _MAX_SCAN_DEPTH and self.parts <= _MAX_PARTS else None
        if head is None:
            out.append(memoryview(data)[start:end])
            return False
        ctype = head.fields.get_content_type()
        if head.fields.get_content_maintype() == "multipart":
            return self.multipart(data, start, end, head, depth, fences, out)
        if ctype in ("message/rfc822", "message/global"):
            return self.attached_mail(data, start, end, head, depth, fences, out)
        if end - head.body_start > ELIDE_PART_ABOVE and _is_file(head.fields):
            size = _body_size(data, head.body_start, end, _transfer_encoding(head.fields))
            out.append(memoryview(data)[start:head.header_end])
            out.append(f"{ELIDED_HEADER}: {size}".encode("ascii") + head.eol + head.eol)
            return True
        out.append(memoryview(data)[start:end])
        return False

    def multipart(self, data: bytes, start: int, end: int, head: _Head, depth: int, fences: tuple[bytes, ...],
                  out: Pieces) -> bool:
        """Each part between delimiter lines is an entity; preamble, delimiters and epilogue stay."""
        boundary = head.fields.get_boundary()
        if not boundary:  # the stdlib reads the body as text, and so do we
            out.append(memoryview(data)[start:end])
            return False
        marker = b"--" + boundary.encode("utf-8", "surrogateescape")  # the octets the mail holds
        delimiters = _delimiters(data, marker, head.body_start, end)
        view, position, changed = memoryview(data), start, False
        fences = (*fences, marker)
        for index, delimiter in enumerate(delimiters):
            out.append(view[position:delimiter.end])
            position = delimiter.end
            if delimiter.close:
                break
            following = delimiters[index + 1] if index + 1 < len(delimiters) else None
            part_end = following.start if following else end
            changed = self.entity(data, position, part_end, depth + 1, fences, out) or changed
            position = part_end
        out.append(view[position:end])
        return changed

    def attached_mail(self, data: bytes, start: int, end: int, head: _Head, depth: int, fences: tuple[bytes, ...],
                      out: Pieces) -> bool:
        """The body is a mail: scanned as one, after undoing a base64 or QP transfer encoding."""
        cte = _transfer_encoding(head.fields)
        if cte in _IDENTITY:
            out.append(memoryview(data)[start:head.body_start])
            return self.entity(data, head.body_start, end, depth + 1, fences, out)
        decoded = _transfer_decoded(data[head.body_start:end], cte)
        if decoded is None or any(fence in decoded for fence in fences):
            out.append(memoryview(data)[start:end])  # cannot be decoded safely: the stdlib reads it as it is
            return False
        out.append(b"".join(_without_field(head.lines, b"content-transfer-encoding")))
        out.append(b"Content-Transfer-Encoding: 8bit" + head.eol + head.eol)
        self.entity(decoded, 0, len(decoded), depth + 1, fences, out)
        return True


def _read_head(data: bytes, start: int, end: int) -> _Head | None:
    """The header block at `start` as email.feedparser reads it: header and continuation lines up
    to the first other line; a blank line after it is the separator. None if it is too long."""
    lines: list[bytes] = []
    position = start
    eol = b"\r\n"
    while position < end:
        line_end_match = _LINE_END.search(data, position, min(end, position + _MAX_HEAD + 2))
        line_end = line_end_match.end() if line_end_match else end
        if line_end - start > _MAX_HEAD:
            return None
        if not _HEADER_LINE.match(data, position, line_end):
            break
        if not lines and line_end_match:
            eol = line_end_match.group()
        lines.append(data[position:line_end])
        position = line_end
    separator = _LINE_END.match(data, position, end)
    body_start = separator.end() if separator else position
    fields = _PARSER.parsebytes(b"".join(lines), headersonly=True)
    return _Head(fields, lines, position, body_start, eol)


def _delimiters(data: bytes, marker: bytes, start: int, end: int) -> list[_Delimiter]:
    """The delimiter lines of one multipart body, up to and including the close delimiter."""
    found: list[_Delimiter] = []
    previous_end = start
    position = start
    while True:
        at = data.find(marker, position, end)
        if at < 0:
            return found
        position = at + len(marker)
        if at > start and data[at - 1] not in b"\r\n":
            continue  # not at a line start
        tail = _DELIMITER_TAIL.match(data, position, end)
        if tail is None:
            continue  # "--boundary" followed by other text on its line
        found.append(_Delimiter(max(previous_end, _line_start_before(data, at)), tail.end(), bool(tail.group(1))))
        if tail.group(1):
            return found
        previous_end = position = tail.end()


def _line_start_before(data: bytes, at: int) -> int:
    """Where the line end just before `at` begins (CRLF, CR or LF), or `at` itself."""
    if at >= 2 and data[at - 2:at] == b"\r\n":
        return at - 2
    return at - 1 if at >= 1 and data[at - 1] in b"\r\n" else at


def _transfer_encoding(fields: Message) -> str:
    return str(fields.get("content-transfer-encoding", "")).strip().lower()


def _is_file(fields: Message) -> bool:
    """A part the parser lists as an attachment and never reads as complaint text (_add_leaf)."""
    ctype = fields.get_content_type()
    if ctype.startswith(("multipart/", "message/")) or ctype == "text/rfc822-headers":
        return False
    if not ctype.startswith("text/"):
        return True
    named = fields.get_param("filename", header="content-disposition") or fields.get_param("name")
    return fields.get_content_disposition() == "attachment" or bool(named)


def _body_size(data: bytes, start: int, end: int, cte: str) -> int:
    """The decoded size of data[start:end], counted without decoding or copying it."""
    length = end - start
    if cte == "base64":
        blanks = sum(data.count(c, start, end) for c in (b"\r", b"\n", b" ", b"\t"))
        tail = data[max(start, end - 16):end].rstrip()
        padding = len(tail) - len(tail.rstrip(b"="))
        return max(0, (length - blanks) * 3 // 4 - padding)
    if cte == "quoted-printable":
        soft_crlf, soft_lf = data.count(b"=\r\n", start, end), data.count(b"=\n", start, end)
        soft_last = 1 if data.endswith(b"=", start, end) else 0  # a soft break at the very end
        escapes = data.count(b"=", start, end) - soft_crlf - soft_lf - soft_last
        return max(0, length - 3 * soft_crlf - 2 * soft_lf - soft_last - 2 * escapes)
    if cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
        return _uu_size(data[start:end])  # a copy; uuencoded files are rare
    return length


def _octal(mode: bytes) -> bool:
    try:
        int(mode, base=8)
    except ValueError:
        return False
    return True


def _uu_size(body: bytes) -> int:
    """What the stdlib's uudecode (email.message._decode_uu) makes of the body: each line
    between `begin MODE NAME` and `end` says how many bytes it holds in its first character.
    The body's own size when it cannot be decoded, as get_payload(decode=True) then returns it."""
    lines = iter(body.splitlines())
    for line in lines:
        if line.startswith(b"begin ") and _octal(line.removeprefix(b"begin ").partition(b" ")[0]):
            break
    else:
        return len(body)
    size = 0
    for line in lines:
        if not line:
            return len(body)  # "Truncated input"
        if line.strip(b" \t\r\n\f") == b"end":
            break
        size += (line[0] - 32) & 63
    return size


_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=\s]*+")


def _transfer_decoded(body: bytes, cte: str) -> bytes | None:
    """A base64 or quoted-printable body decoded, or None when it cannot be. A "base64" body
    that is plainly not base64 (a mislabelled 8bit mail) is None too: the stdlib ignores the
    label of a message/rfc822 part and reads the mail as it is."""
    try:
        if cte == "base64":
            if _BASE64_TEXT.fullmatch(body) is None:
                return None
            return base64.b64decode(body + b"==")  # padding a truncated body needs; surplus "=" is ignored
        if cte == "quoted-printable":
            return binascii.a2b_qp(body)
    except (binascii.Error, ValueError):
        return None
    return None


def _without_field(lines: list[bytes], name: bytes) -> list[bytes]:
    """Header lines without the field `name` (its continuation lines too)."""
    kept: list[bytes] = []
    dropping = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.lower().startswith(name + b":") or line.lower().startswith(name + b" ")
        if not dropping:
            kept.append(line)
    return kept


def _elided_size(part: Message) -> int | None:
    """The size prepare() recorded for a part whose body it dropped, or None."""
    value = str(part.get(ELIDED_HEADER, "")).strip()
    return int(value) if value.isdigit() and len(value) < 16 else None


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
        first = payload[0] if isinstance(payload, list) and payload else None
        return first if isinstance(first, Message) else None
    # The stdlib parses every message/* body as a mail whatever its transfer encoding, so an
    # encoded one is decoded by prepare() before parsing. A string payload is left only by odd
    # trees (headers-only parsing); decoding it is the best reading there is.
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
    elided = _elided_size(part)
    if elided is not None:
        return elided
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64":
        payload = payload_text(part)
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


def is_message_id(value: str) -> bool:
    """Whether `value` is one well-formed ``<id>``: what the shell may use as a key or echo in
    In-Reply-To / References (printable ASCII, no spaces or brackets inside, ≤ MAX_ID_CHARS)."""
    return value.startswith("<") and value.endswith(">") and _valid_id(value[1:-1])


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
