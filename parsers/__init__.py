"""Pure parsing: the raw bytes of one inbound mail → one `ParsedMail` value.

``parse(raw, ctx)`` never raises. A mail that cannot be understood comes back as
``Kind.UNUSABLE`` with a reason in words for the event log; a mail that can be understood
despite damage comes back with ``problems``. The shell (daemon/) stores the raw bytes and decides
what to do; nothing here touches a database, the network or the clock.

Steps: MIME tree (``mime``) → headers (``headers``) → main text (``complaint``) → kind
(``classify``) → forwarded original (``forwarded``, also re-entered for attached mails) →
form fields (``complaint``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, is_dataclass, replace
from email.message import Message
from typing import Any

from parsers import category as categories
from parsers import charset, complainant, complaint, forwarded, mime, replies, signoff
from parsers import classify as classifier
from parsers.headers import MAX_REFERENCES, Envelope, read_envelope
from parsers.message import (
    Address,
    Attachment,
    Category,
    FormFields,
    Kind,
    Original,
    ParseContext,
    ParsedMail,
)

__all__ = [
    "SAFETY_NET_PREFIX",
    "Address",
    "Attachment",
    "FormFields",
    "Kind",
    "Original",
    "ParseContext",
    "ParsedMail",
    "parse",
]

SAFETY_NET_PREFIX = "internal parser error:"
_QUOTING_KINDS = frozenset({Kind.REPLY, Kind.AUTOREPLY, Kind.BOUNCE, Kind.OWN})
_MAX_ATTACHED_DEPTH = 5


def parse(raw: bytes, ctx: ParseContext) -> ParsedMail:
    """Understand one inbound mail; never raises."""
    try:
        result = _parse(raw, ctx)
    except RecursionError:
        result = _unusable("MIME structure nested too deeply to read")
    except Exception as exc:  # the last resort: a bug of ours must not stop the intake loop
        result = _unusable(f"{SAFETY_NET_PREFIX} {type(exc).__name__}: {exc}")
    try:
        return _sanitised(result)
    except Exception as exc:  # the same last resort, for the cleaning step itself
        return _unusable(f"{SAFETY_NET_PREFIX} {type(exc).__name__} while cleaning the result")


def _sanitised(mail: ParsedMail) -> ParsedMail:
    """The result with no lone surrogate in any string (raw 8-bit bytes that no decoder saw,
    e.g. in a header quoted into `reason`): the shell writes every field to the database and
    into UTF-8 mail, where one would raise. Which fields needed it is noted in `problems`."""
    changed = {f.name: _clean(getattr(mail, f.name)) for f in fields(mail)}
    touched = [name for name, value in changed.items() if value is not getattr(mail, name)]
    if not touched:
        return mail
    note = f"raw 8-bit bytes outside any charset in {', '.join(touched)}; decoded as a guess"
    changed["problems"] = (*changed["problems"], note)
    return replace(mail, **changed)


def _clean(value: Any) -> Any:
    """`value` with charset.without_surrogates() applied to every string in it; the very same
    object when nothing changed."""
    if type(value) is str:  # not Kind, a str Enum
        return charset.without_surrogates(value)
    if isinstance(value, tuple):
        items = tuple(_clean(item) for item in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if is_dataclass(value) and not isinstance(value, type):
        changed = {f.name: _clean(getattr(value, f.name)) for f in fields(value)}
        same = all(changed[name] is getattr(value, name) for name in changed)
        return value if same else replace(value, **changed)
    return value


def _unusable(reason: str, problems: tuple[str, ...] = ()) -> ParsedMail:
    return ParsedMail(kind=Kind.UNUSABLE, reason=reason, problems=problems)


def _parse(raw: bytes, ctx: ParseContext) -> ParsedMail:
    if not raw or raw.isspace():  # isspace(), unlike strip(), copies nothing of a 20 MB mail
        return _unusable("empty message: no bytes to read")
    if mime.is_ole_file(raw):
        return _unusable("an Outlook .msg file, not an e-mail message; forward the mail itself instead")
    view = _read(raw)
    if not mime.has_mail_headers(view.headers):
        return _unusable("not an e-mail message: no mail headers found", tuple(mime.defect_problems(view)))
    envelope = read_envelope(view.headers, ctx.timezone)
    body = complaint.main_body(view)
    verdict = classifier.classify(envelope, view, body.text, ctx)
    content = _content(view, envelope, body.text, verdict.kind, ctx)
    files, file_problems = complaint.attachments(view)
    files += content.attachments
    problems = [*envelope.problems, *body.problems, *view.problems, *content.problems, *file_problems]
    problems.extend(mime.defect_problems(view))  # after decoding: base64 damage shows up there
    return ParsedMail(
        kind=verdict.kind,
        reason=_reason(verdict, content, envelope),
        message_id=envelope.message_id,
        in_reply_to=envelope.in_reply_to,
        references=_references(envelope, view, verdict.kind),
        subject=envelope.subject,
        sender=envelope.sender,
        to=envelope.to,
        cc=envelope.cc,
        sent_at=envelope.sent_at,
        case_tag=verdict.case_tag,
        case_token=verdict.case_token,
        forwarded=content.forwarded,
        original=content.original,
        form=content.form,
        text=content.text,
        note=content.note,
        attachments=files,
        category=content.category,
        failed_recipients=verdict.failed_recipients,
        problems=tuple(dict.fromkeys(problems)),
    )


def _references(envelope: Envelope, view: mime.MailView, kind: Kind) -> tuple[str, ...]:
    if kind is not Kind.BOUNCE:
        return envelope.references
    ids = (*envelope.references, *_returned_ids(view))
    return tuple(dict.fromkeys(ids))[-MAX_REFERENCES:]  # the returned mail's ids last: they find the case


_MESSAGE_ID_LINE = re.compile(r"(?im)^message-id:[ \t]*(<[^<>\s]+>)")


def _returned_ids(view: mime.MailView) -> tuple[str, ...]:
    """A bounce concerns the mail it returns (whole, or its headers only, as Postfix sends
    them): that mail's Message-ID finds the case and the addressee."""
    ids = [i for part in view.returned for i in mime.message_ids(str(part.get("message-id", "")))]
    for part in view.parts:
        if part.get_content_type() == "text/rfc822-headers":
            ids += mime.message_ids(" ".join(_MESSAGE_ID_LINE.findall(mime.payload_text(part))))
    return tuple(dict.fromkeys(ids))


def _read(raw: bytes) -> mime.MailView:
    view = mime.read(mime.load(raw))
    if not mime.has_mail_headers(view.headers):
        repaired = mime.repair_obsolete_headers(raw)
        if repaired is not None:
            view = mime.read(mime.load(repaired))
            view.problems.append("obsolete header syntax (blank before the colon) repaired")
    return view


@dataclass
class Content:
    """What the mail says: the forwarded original if any, the complaint text, the form."""

    forwarded: bool = False
    original: Original | None = None
    how: str = ""
    text: str = ""
    note: str = ""
    form: FormFields = field(default_factory=FormFields)
    attachments: tuple[Attachment, ...] = ()  # files of an attached original mail
    problems: list[str] = field(default_factory=list)
    # For the complainant's details: the original as written, sign-off and all (`text` has its
    # "-- " signature cut), and the intermediate forwarders' notes with their writers, outer first.
    source: str = ""
    inner_notes: list[complainant.Note] = field(default_factory=list)
    category: Category | None = None


def _content(view: mime.MailView, envelope: Envelope, text: str, kind: Kind, ctx: ParseContext) -> Content:
    content = _unwrap(view, envelope, text, kind, ctx, depth=0)
    if kind is Kind.REPLY:
        # A reply's commands are in its own first lines, whatever it forwards, attaches or quotes.
        content.text = replies.new_text(text)
        if content.forwarded:
            content.note = ""
    own_words = content.note if content.forwarded else content.text
    form, form_problems = complaint.extract_form(own_words)
    if content.forwarded:
        original_form, more = complaint.extract_form(content.text)
        form, form_problems = complaint.merge_forms(form, original_form), form_problems + more
    content.form = form
    content.problems.extend(form_problems)
    if kind is Kind.COMPLAINT:
        _read_complainant(content, envelope)
    return content


def _read_complainant(content: Content, envelope: Envelope) -> None:
    """The complainant's details and the category, from the layers of a complaint (see
    parsers/complainant.py): typed `字段：值` lines stay as typed where they are the only word."""
    forwarder = envelope.sender.name if envelope.sender else ""
    notes = (complainant.Note(content.note, forwarder), *content.inner_notes) if content.forwarded else ()
    source = content.source or content.text
    if content.forwarded:
        sender = content.original.sender if content.original else None
        staff = False
    else:
        # A form a staff member typed names the outlet or the complaint itself; a journalist
        # signing "记者：李明" types no such line.
        sender, staff = envelope.sender, bool(content.form.media_outlet or content.form.complaint_text)
    # Replaces the form read above: that one took the forwarder's signature lines for fields.
    content.form = complainant.details(notes, source, sender, typed_form_is_staff=staff)
    content.category = _category(content, notes, source, sender)


def _category(content: Content, notes: tuple[complainant.Note, ...], source: str,
              sender: Address | None) -> Category | None:
    """Stated in a note (the outermost first) or in a typed 类别 field; stated in a direct mail's
    own words; else judged from the story."""
    for note in notes:
        said = categories.stated(signoff_free(note))
        if said is not None:
            return Category(said[0], "stated", f"转发人注明：{said[1]}")
    if content.form.category is not None:
        return Category(content.form.category, "stated", "登记表“类别”栏")
    if not content.forwarded:
        said = categories.stated(source)
        if said is not None:
            return Category(said[0], "stated", f"来信注明：{said[1]}")
    words = "\n".join(signoff_free(note) for note in notes)
    return categories.judged(source, words, sender.name if sender else "")


def signoff_free(note: complainant.Note) -> str:
    """A note's words without its writer's signature block (disclaimers say 类 too)."""
    return signoff.split(note.text, note.author).body


def _own_text(text: str) -> str:
    """What the sender wrote: the body above any quoted history, without signature noise."""
    return complaint.strip_signature(forwarded.strip_quoted(text))


def _unwrap(view: mime.MailView, envelope: Envelope, text: str, kind: Kind, ctx: ParseContext, depth: int) -> Content:
    """Forward as attachment first (the attached mail is the original), then inline blocks."""
    if kind is Kind.BOUNCE:  # the returned message inside a bounce is no forward
        return Content(text=complaint.strip_signature(text))
    if view.embedded and depth < _MAX_ATTACHED_DEPTH:
        return _unwrap_attached(view.embedded[0], text, ctx, depth)
    # A mail that threads to another (In-Reply-To) without saying "Fw:" is a reply: its
    # "original message" block is quoted history, not a forwarded complaint.
    replying = bool(envelope.in_reply_to) and not forwarded.has_forward_prefix(envelope.subject)
    quoting = kind in _QUOTING_KINDS or replying
    author = envelope.sender.name if envelope.sender else ""
    result = forwarded.find_inline(text, envelope.subject, ctx.timezone, quoting, author)
    if not result.forwarded:
        return Content(text=_own_text(text), source=forwarded.strip_quoted(text))
    how = "inline" if result.note or (result.original and result.original.sender) else "by subject"
    return Content(
        forwarded=True,
        original=result.original,
        how=how,
        text=complaint.strip_signature(result.text),
        note=complaint.strip_signature(result.note),
        problems=result.problems,
        source=result.text,
        inner_notes=[complainant.Note(words, author) for words, author in result.notes],
    )


def _unwrap_attached(inner_message: Message, outer_text: str, ctx: ParseContext, depth: int) -> Content:
    """The attached mail is the original — unless it is itself a forward, then go further in."""
    inner_view = mime.read(inner_message)
    inner_envelope = read_envelope(inner_view.headers, ctx.timezone)
    inner_body = complaint.main_body(inner_view)
    inner = _unwrap(inner_view, inner_envelope, inner_body.text, Kind.COMPLAINT, ctx, depth + 1)
    inner_files, file_problems = complaint.attachments(inner_view)
    problems = [*inner_envelope.problems, *inner_body.problems, *inner.problems, *file_problems]
    if not mime.has_mail_headers(inner_view.headers):  # e.g. damaged base64: say so, not just leave blanks
        problems.append("attached message has no mail headers (damaged or not a mail); its sender, time "
                        "and subject are unknown")
    original: Original | None
    if not inner.forwarded or inner.how == "by subject":
        original = Original(inner_envelope.sender, inner_envelope.sent_at, inner_envelope.subject)
        text, notes = inner.text, []
    else:
        original, text = inner.original, inner.text
        author = inner_envelope.sender.name if inner_envelope.sender else ""
        notes = [complainant.Note(inner.note, author), *inner.inner_notes]  # the attached forward's
    note = _own_text(outer_text)
    return Content(
        forwarded=True,
        original=original,
        how="as attachment",
        text=text,
        note=note,
        attachments=inner_files + inner.attachments,
        problems=problems,
        source=inner.source or inner_body.text,
        inner_notes=notes,
    )


def _reason(verdict: classifier.Verdict, content: Content, envelope: Envelope) -> str:
    if verdict.kind is not Kind.COMPLAINT:
        return verdict.reason
    who = envelope.sender.email if envelope.sender and envelope.sender.email else "an unknown sender"
    if not content.forwarded:
        return f"new complaint written directly by {who}"
    origin = content.original.sender if content.original else None
    source = f"; original from {origin.email or origin.name}" if origin else ""
    return f"new complaint forwarded {content.how} by {who}{source}"
