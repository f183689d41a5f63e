"""Case mail: Jinja2 templates under templates/ → an RFC 5322 message, in one place.

The environment is strict (a missing variable is an error, not an empty string) and HTML is
autoescaped. Complaint text only ever enters as a variable's value, never as template source.
Every mail is plain text plus HTML, tagged with the case id, threaded, and marked as
automatic so that out-of-office robots stay quiet (RFC 3834, Exchange's suppress header).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import encode_rfc2231, format_datetime, formataddr
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from models.directory import Person
from models.labels import (
    CATEGORY_LABELS,
    CLOCK_PARTS,
    CLOCK_TABLE,
    FIELD_LABELS,
    STATUS_LABELS,
    clock_label,
    event_label,
)
from models.types import DeadlineKind
from parsers.mime import is_message_id

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

_WHITESPACE = re.compile(r"\s+")

# The blocks of a case step's text template (templates/_case.txt.j2) that say what the mail is
# about, asks, and how to answer: the HTML part (templates/_case.html.j2) shows the same words.
TEXT_BLOCKS = ("intro", "ask", "how")


@dataclass(frozen=True)
class Parts:
    """A rendered mail before it is addressed: the same for every recipient."""

    subject: str
    text: str
    html: str
    case_id: str | None

    @cached_property
    def alternative(self) -> bytes:
        """Both bodies as the multipart/alternative's parts: the same in every copy."""
        return b"".join((_text_part(self.text, "plain"), _text_part(self.html, "html"),
                         f"--{BOUNDARY}--{CRLF}".encode("ascii")))


class Renderer:
    """Builds case mail from templates; one instance per process (the Environment is cached)."""

    def __init__(self, timezone: ZoneInfo, sender: Person, templates: Path = TEMPLATES) -> None:
        self.timezone = timezone
        self.sender = sender
        self.env = Environment(
            loader=FileSystemLoader(str(templates)),
            undefined=StrictUndefined,
            autoescape=select_autoescape(["html", "html.j2"]),
            keep_trailing_newline=True,
            # Read once: checking each template file's mtime at every render cost several stat
            # calls per mail. A changed template takes effect on reload (SIGHUP builds a new Renderer).
            auto_reload=False,
        )
        self.env.filters["local"] = self.local_time
        self.env.filters["paragraphs"] = paragraphs
        self.env.tests["datetime"] = lambda value: isinstance(value, datetime)
        # The one vocabulary (models/labels.py): `{{ label.media_outlet }}` is the field's label.
        self.env.globals.update(label=FIELD_LABELS, clock_labels={k: clock_label(k) for k in DeadlineKind},
                                status_labels=STATUS_LABELS,
                                category_labels=CATEGORY_LABELS,
                                clock_table=CLOCK_TABLE, clock_parts=CLOCK_PARTS, event_label=event_label)

    def local_time(self, value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """Aware UTC → the configured zone, for people."""
        return value.astimezone(self.timezone).strftime(fmt) if value is not None else "—"

    def parts(self, template: str, context: dict[str, Any], case_id: str | None = None) -> Parts:
        """Render `<template>.subject.j2`, `.txt.j2` and `.html.j2` once for all recipients.

        The HTML part also sees `text_part`: the TEXT_BLOCKS of the text part as it rendered
        them, "" for a block its template does not have.
        """
        subject = one_line(self.env.get_template(f"{template}.subject.j2").render(context))
        text, blocks = self.text_and_blocks(template, context)
        html = self.env.get_template(f"{template}.html.j2").render({**context, "text_part": blocks})
        return Parts(subject, text, html, case_id)

    def text_and_blocks(self, template: str, context: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """`<template>.txt.j2` rendered, and its TEXT_BLOCKS each rendered alone.

        Template.render() in two steps, so that the context it leaves holds every block of
        the {% extends %} chain, a child's override first (as `{{ self.intro() }}` reads it).
        The text template is not autoescaped: a block is plain text, data and all, and the
        HTML template escapes it as it escapes any value.
        """
        tmpl = self.env.get_template(f"{template}.txt.j2")
        ctx = tmpl.new_context(context)
        try:
            text = "".join(tmpl.root_render_func(ctx))
            blocks = {name: "".join(ctx.blocks[name][0](ctx)) if name in ctx.blocks else "" for name in TEXT_BLOCKS}
        except Exception:
            self.env.handle_exception()  # the template's own file and line in the traceback, as render() gives
        return text, blocks

    def compose(
        self,
        parts: Parts,
        *,
        to: Sequence[Person],
        cc: Sequence[Person] = (),
        message_id: str,
        date: datetime,
        in_reply_to: str | None = None,
        references: Iterable[str] = (),
        attachments: Sequence[tuple[str, str, bytes]] = (),
    ) -> bytes:
        """The message: plain text and HTML alternatives, UTF-8 in base64, RFC 2047 headers.

        `attachments` are (filename, MIME type, bytes): the mail becomes multipart/mixed, the
        alternatives first, then each file in base64 (see _attachment_part for the names).

        Written out directly rather than through the email package's generator: the shape
        never varies, and the generator's header folding cost more than everything else a
        registration does (0.6 ms a mail against 0.1 ms). tests/unit/test_rendering.py reads
        every mail back with the email package. Every header value passes one_line().
        """
        refs = [r for r in dict.fromkeys(references) if is_message_id(r)][-MAX_REFERENCES:]
        in_reply_to = in_reply_to if in_reply_to and is_message_id(in_reply_to) else None
        # Encoded words of their own making, one per line: the email package's Header weighs Q
        # against B for every piece, a tenth of all a registration cost.
        words = _encoded_words(parts.subject) if parts.subject else []
        if parts.case_id:  # the tag first, as its own encoded word: see tag_word()
            words.insert(0, tag_word(parts.case_id, token_of(message_id)))
        subject = (CRLF + " ").join(words)
        headers = [
            ("From", _mailbox(self.sender)),
            ("To", ", ".join(_mailbox(p) for p in to)),
            *([("Cc", ", ".join(_mailbox(p) for p in cc))] if cc else []),
            ("Subject", subject),
            ("Date", format_datetime(date)),
            ("Message-ID", one_line(message_id)),
            *([("In-Reply-To", in_reply_to)] if in_reply_to else []),
            *([("References", (CRLF + " ").join(refs))] if refs else []),  # an id per line
            ("Auto-Submitted", "auto-generated"),
            ("X-Auto-Response-Suppress", "All"),
            *([("X-Complaintd-Case", one_line(parts.case_id))] if parts.case_id else []),
            ("MIME-Version", "1.0"),
            ("Content-Type", f'multipart/mixed; boundary="{MIXED_BOUNDARY}"' if attachments
             else f'multipart/alternative; boundary="{BOUNDARY}"'),
        ]
        head = "".join(f"{name}: {value}{CRLF}" for name, value in headers)
        alternative = parts.alternative
        if not attachments:
            return (head + CRLF).encode("ascii") + alternative
        return (head + CRLF).encode("ascii") + b"".join((
            f"--{MIXED_BOUNDARY}{CRLF}Content-Type: multipart/alternative; "
            f'boundary="{BOUNDARY}"{CRLF}{CRLF}'.encode("ascii"),
            alternative,
            *(_attachment_part(*attachment) for attachment in attachments),
            f"--{MIXED_BOUNDARY}--{CRLF}".encode("ascii"),
        ))


CRLF = "\r\n"
# Both bodies are base64, whose alphabet has no "=_": no body line can look like this.
BOUNDARY = "=_complaintd_alternative"
MIXED_BOUNDARY = "=_complaintd_mixed"  # around the alternatives and the attached files


def _base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ended by CRLF (base64.encodebytes with CRLF, at
    a fraction of its cost: it encodes 57 bytes per call)."""
    encoded = binascii.b2a_base64(data, newline=False)
    return b"".join(encoded[start:start + 76] + b"\r\n" for start in range(0, len(encoded), 76))


def _text_part(text: str, subtype: str) -> bytes:
    body = _base64_lines(text.encode("utf-8"))
    return (f"--{BOUNDARY}{CRLF}Content-Type: text/{subtype}; charset=\"utf-8\"{CRLF}"
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}").encode("ascii") + body


def _attachment_part(filename: str, content_type: str, data: bytes) -> bytes:
    """One attached file in base64, its name given twice so that Chinese names survive.

    RFC 2231 `filename*=utf-8''…` is the standard (Thunderbird, Apple Mail, the email
    package); Outlook and Foxmail read the RFC 2047 `filename="=?utf-8?b?…?="` that Chinese
    mailers send, one encoded word per folded line. Both go on Content-Disposition, and as
    `name` on Content-Type; the standard one first, as a reader that takes the first wins.
    """
    name = one_line(filename).replace("/", "_").replace("\\", "_") or "attachment"
    mime = one_line(content_type)
    if not _MIME_TYPE.fullmatch(mime):
        raise ValueError(f"not a MIME type: {content_type!r}")
    legacy = name if _PLAIN_NAME.fullmatch(name) else (CRLF + " ").join(_encoded_words(name))

    def params(key: str) -> str:
        return "".join(f";{CRLF} {p}" for p in (*_rfc2231(key, name), f'{key}="{legacy}"'))

    body = _base64_lines(data)
    return (f"--{MIXED_BOUNDARY}{CRLF}Content-Type: {mime}{params('name')}{CRLF}"
            f"Content-Transfer-Encoding: base64{CRLF}"
            f"Content-Disposition: attachment{params('filename')}{CRLF}{CRLF}").encode("ascii") + body


_MIME_TYPE = re.compile(r"[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9][\w!#$&^.+-]*", re.ASCII)
_PLAIN_NAME = re.compile(r"[A-Za-z0-9 !#$%&'()*+,\-.:;<=>@\[\]^_`{|}~]{1,60}")  # no quote, backslash or "?"
_PERCENT_TOKEN = re.compile(r"%[0-9A-F]{2}|.")


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 B-words of at most 45 bytes (60 base64 characters), never splitting a character."""
    chunks: list[bytes] = []
    chunk = b""
    for ch in text:
        encoded = ch.encode("utf-8")
        if chunk and len(chunk) + len(encoded) > 45:
            chunks.append(chunk)
            chunk = b""
        chunk += encoded
    chunks.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(c).decode('ascii')}?=" for c in chunks]


def _rfc2231(key: str, value: str) -> list[str]:
    """`key*=utf-8''…`, or numbered continuations `key*0*=…` when a line would grow too long."""
    encoded = encode_rfc2231(value, "utf-8")
    if len(encoded) <= 900:  # a header line may not pass 998 characters
        return [f"{key}*={encoded}"]
    segments = [""]
    for token in _PERCENT_TOKEN.findall(encoded):  # a %XX triplet is never cut
        if len(segments[-1]) + len(token) > 60:
            segments.append("")
        segments[-1] += token
    return [f"{key}*{i}*={segment}" for i, segment in enumerate(segments)]


def new_message_id(local: str, domain: str, token: str | None = None) -> str:
    """`<MT-20261127-0001.ack.0.9f3a…@complaintd.corp.example.com>`: readable, unguessable.

    The random part is what a reply's threading headers are checked against: a forged From
    cannot know it. Its first TOKEN_LENGTH characters are also the recipient's token in the
    subject tag (token_of), for clients that drop threading headers.
    """
    safe = re.sub(r"[^A-Za-z0-9._\-]", "-", local)
    return f"<{safe}.{token or secrets.token_hex(8)}@{domain}>"


# Six hex digits: 16.7 million values, short enough for a phone's subject line. Guessing one
# costs an attacker a mail per try, and every wrong try from a directory address mails the
# real owner (docs/design.md, "Who may answer").
TOKEN_LENGTH = 6
TAG_SEPARATOR = "·"  # U+00B7 between the case id and the token: [MT-20261130-0001·7f3a9c]


def token_of(message_id: str) -> str:
    """The recipient's subject token: the start of the Message-ID's random part."""
    random_part = message_id.strip("<>").rsplit("@", 1)[0].rsplit(".", 1)[-1]
    return random_part[:TOKEN_LENGTH].lower()


def subject_tag(case_id: str, token: str) -> str:
    """`[MT-20261130-0001·7f3a9c]`: the case and the one recipient it was sent to."""
    return f"[{case_id}{TAG_SEPARATOR}{token}]"


def tag_word(case_id: str, token: str) -> str:
    """The subject tag as one RFC 2047 Q-encoded word. Q keeps the case id and the hex token
    as they are, so a copy for another recipient differs only in those six characters (the
    "·" and the brackets are encoded; "?" cannot occur in a base64 body, so the word is unique
    in the mail)."""
    encoded = "".join(ch if ch.isascii() and (ch.isalnum() or ch == "-") else
                      "".join(f"={b:02X}" for b in ch.encode("utf-8"))
                      for ch in subject_tag(case_id, token))
    # "_" is the space before the subject: the whitespace between two encoded words is not
    # text (RFC 2047 §6.2), and compose() always encodes the rest of the subject.
    return f"=?utf-8?q?{encoded}_?="


def _tag_tail(token: str) -> bytes:
    """The end of tag_word(): "·", the token, "]", the word's end; the same for every case."""
    return f"=C2=B7{token}=5D_?=".encode("ascii")


def with_message_id(data: bytes, placeholder: str, message_id: str) -> bytes:
    """The same composed mail under another Message-ID of the same length, and with that
    recipient's token in the subject tag when the mail has one.

    Composing (header folding above all) is the costly part of a mail; copies for several
    recipients differ only in this id and the token, which no folding ever splits.
    """
    if len(placeholder) != len(message_id) or data.count(placeholder.encode()) != 1:
        raise ValueError("the placeholder Message-ID must occur once and match in length")
    data = data.replace(placeholder.encode(), message_id.encode())
    old_tail, new_tail = (_tag_tail(token_of(mid)) for mid in (placeholder, message_id))
    if data.count(old_tail) == 1:  # mails without a case have no tag
        data = data.replace(old_tail, new_tail)
    return data


# Ids from inbound mail that we echo in In-Reply-To / References: a hostile 1 MB id, 8-bit
# bytes or a line break must never reach an outgoing header (RFC 5322: lines ≤ 998). The
# parser hands out only valid ids; this is the second line, with the parser's own rule.
MAX_REFERENCES = 20


def paragraphs(text: str) -> list[str]:
    """Text split at its blank lines, each paragraph's own line breaks kept: the text part's
    words as an HTML part's <p> elements."""
    out: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip():
            out[-1].append(line)
        elif out[-1]:
            out.append([])
    return ["\n".join(lines) for lines in out if lines]


def one_line(text: str) -> str:
    """Collapse all whitespace (CR/LF included) so that text can never inject a header."""
    return _WHITESPACE.sub(" ", text).strip()


@functools.lru_cache(maxsize=4096)  # the directory's people, over and over
def _mailbox(person: Person) -> str:
    """`=?utf-8?b?…?= <addr>`: the display name encoded, the address as it is."""
    return formataddr((one_line(person.name), one_line(person.email)), charset="utf-8")
