"""What kind of mail this is (SPEC §4), decided from headers first and body text last.

Order, first match wins: OWN > BOUNCE > AUTOREPLY > BULK > REPLY > COMPLAINT (UNUSABLE is
decided before a message gets here). Mail we sent ourselves is checked first so that a loop never
becomes a case; bounces before auto-replies because most bounces also say ``Auto-Submitted``;
auto-replies before list mail because a vacation reply from a list member is still an auto-reply.

The rules are our own: the Chinese subjects (退信, 系统退信, 未送达, 自动回复 …) and Coremail's and
Exchange's habits are in no library we could find; the header rules follow RFC 3834 (auto-replies),
RFC 3464 (DSN) and RFC 2369/2919 (lists), as django-helpdesk's ``is_autoreply()`` also does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from email.message import Message

from parsers.headers import Envelope
from parsers.message import Kind, ParseContext
from parsers.mime import MailView

_DAEMONS = frozenset(
    {"mailer-daemon", "mailer_daemon", "mailerdaemon", "mail-daemon", "maildaemon", "postmaster", "mmdf"}
)
_DAEMON_NAME = re.compile(r"mail delivery (sub)?system|mail system|system administrator|系统管理员|邮件系统", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (status|failure|has failed|notification|notice)|returned mail|"
    r"mail delivery fail|failure notice|delivery failure|non[- ]?delivery|could not be delivered|"
    r"delayed mail|warning: could not send|error mail report|postmaster notify|mail system error|"
    r"系统退信|退信|投递失败|未送达|无法送达|无法投递|無法傳遞|無法送達|发送失败|递送失败|"
    r"не доставлено|недоставленное",
    re.I,
)
# Subjects of out-of-office and other automatic answers, at the start of the subject.
_AUTO_SUBJECT_START = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?(?:自动回复|自動回覆|自動回復|自动答复|自動答覆|假期自动回复|休假自动回复|休假中?|"
    r"automatic reply|auto[ -]?reply|auto[ -]?response|autorespons\w*|autosvar|"
    r"out of (?:the )?office(?: autoreply)?|ooo|abwesenheitsnotiz|abwesend|r[ée]ponse automatique|"
    r"respuesta autom[aá]tica|risposta automatica|automatisch antwoord|automaattinen vastaus)"
    r"(?:\s*[:：(（\]]|\s|$)",
    re.I,
)
# The Chinese words are unambiguous anywhere in the subject (e.g. "Re: 自动回复: …").
_AUTO_SUBJECT_ANYWHERE = re.compile(r"自动回复|自動回覆|自动答复|自動答覆")
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-autoreply-from", "x-mail-autoreply", "x-auto-reply")
_BULK_PRECEDENCE = frozenset({"list", "bulk", "junk"})
# An address, or else a whole run of address characters skipped in one step (see _addresses_in).
# The address pattern alone, searched over a long word without "@", restarted at each of its
# characters and read the rest of the word every time (quadratic); but an address cannot start
# inside a run where none starts at the run's first character: its local part would end at the
# same place, before the same "@".
_ADDRESS = re.compile(r"(?P<address>[\w.+'=-]+@[\w-]+(?:\.[\w-]+)+)|[\w.+'=-]++", re.ASCII)
# Where a bounce's own text stops and the copy of the returned message begins.
_RETURNED_COPY = re.compile(
    r"^(?:-+ ?(?:below this line|this is a copy|original message|the original message|原始邮件|原邮件)|"
    r"return-path:|received:|------ ?(?:original|returned))",
    re.I | re.M,
)

_SENDER_LINE = re.compile(r"^\s*(?:发件人|寄件人|发信人|from|sender|reply-to)\s*[:：]", re.I)


@dataclass(frozen=True)
class Verdict:
    """The kind of a mail and the words for the event log."""

    kind: Kind
    reason: str
    case_tag: str | None = None
    case_token: str | None = None
    failed_recipients: tuple[str, ...] = ()


def classify(envelope: Envelope, view: MailView, body: str, ctx: ParseContext) -> Verdict:
    """Decide the kind of a readable mail; `body` is its decoded main text (for bounces).

    Whatever the kind, the subject's case tag comes with it: an auto-reply or a bounce to a case
    mail names the case (and the recipient's token) that way, and the shell needs both to tell
    B at once that A is away.
    """
    case_id, token = read_case_tag(envelope.subject, ctx.case_prefix)
    for rule in (_own, _bounce, _autoreply, _bulk, _reply):
        verdict = rule(envelope, view, body, ctx)
        if verdict is not None:
            return replace(verdict, case_tag=case_id, case_token=token)
    return Verdict(Kind.COMPLAINT, "new complaint", case_tag=case_id, case_token=token)


# The tag complaintd puts in subjects: [MT-YYYYMMDD-NNNN·xxxx], the token (SPEC §4) after a
# middle dot. Clients and people mangle it: the dot may come back as ".", "-", "・" or "•",
# the brackets as full-width 【】, letters in either case. Possessive quantifiers keep the
# match linear: the digits are never given back to the token.
_TAG_PATTERN = (r"[\[【]\s*+({prefix}-\d{{8}}-\d{{4,}}+)(?:\s*+[·・•.\-]\s*+([0-9a-z]{{4,8}}+))?\s*+[\]】]")


@functools.lru_cache(maxsize=8)
def _tag_regex(prefix: str) -> re.Pattern[str]:
    return re.compile(_TAG_PATTERN.format(prefix=re.escape(prefix)), re.IGNORECASE)


def read_case_tag(subject: str, prefix: str) -> tuple[str | None, str | None]:
    """The case id (upper case) and the recipient's token (lower case, or None) of the first
    ``[MT-YYYYMMDD-NNNN]`` or ``[MT-YYYYMMDD-NNNN·xxxx]`` tag in a subject; (None, None) without one."""
    match = _tag_regex(prefix).search(subject)
    if match is None:
        return None, None
    token = match.group(2)
    return match.group(1).upper(), token.lower() if token else None


def case_tag(subject: str, prefix: str) -> str | None:
    """The case id of the subject's tag, or None (see read_case_tag)."""
    return read_case_tag(subject, prefix)[0]


def _own(envelope: Envelope, view: MailView, body: str, ctx: ParseContext) -> Verdict | None:
    sender = envelope.sender.email if envelope.sender else ""
    if sender and sender in {a.lower() for a in ctx.own_addresses}:
        return Verdict(Kind.OWN, f"sent by complaintd itself (From {sender})")
    domain = ctx.own_message_id_domain.lower()
    if domain and (envelope.message_id or "").lower().endswith("@" + domain + ">"):
        return Verdict(Kind.OWN, f"sent by complaintd itself (Message-ID {envelope.message_id})")
    return None


def _bounce(envelope: Envelope, view: MailView, body: str, ctx: ParseContext) -> Verdict | None:
    failed_header = _split_addresses(view.header("x-failed-recipients"))
    if "delivery-status" in view.report_types or view.dsn_parts:
        failed, delayed = _dsn_recipients(view.dsn_parts)
        failed = failed or failed_header or (() if delayed else _addresses_in_bounce_text(body, envelope))
        if not failed and delayed:
            return Verdict(Kind.BOUNCE, "bounce: delivery delayed (DSN), not final: " + ", ".join(delayed))
        return Verdict(Kind.BOUNCE, _bounce_reason("delivery status report (DSN)", failed), failed_recipients=failed)
    if not _looks_like_bounce(envelope, view, failed_header):
        return None
    failed = failed_header or _addresses_in_bounce_text(body, envelope)
    return Verdict(Kind.BOUNCE, _bounce_reason("non-delivery report", failed), failed_recipients=failed)


def _looks_like_bounce(envelope: Envelope, view: MailView, failed_header: tuple[str, ...]) -> bool:
    sender = envelope.sender
    local = sender.email.split("@", 1)[0] if sender else ""
    # MAILER-DAEMON sends nothing but delivery reports; postmaster, Exchange's system mailbox and
    # "Mail Delivery System" also send other notices, so they need a bounce subject or a returned mail.
    mailer_daemon = local in _DAEMONS and local != "postmaster"
    system = local == "postmaster" or local.startswith("microsoftexchange") or bool(
        sender and _DAEMON_NAME.search(sender.name)
    )
    bounce_subject = _BOUNCE_SUBJECT.search(envelope.subject) is not None
    if mailer_daemon or (failed_header and (system or bounce_subject)):
        return True
    if system:
        return bounce_subject or bool(view.returned or view.embedded)
    return bounce_subject and sender is None


def _bounce_reason(what: str, failed: tuple[str, ...]) -> str:
    who = ", ".join(failed) if failed else "recipient not named"
    return f"bounce: {what}; undeliverable to {who}"


def _dsn_recipients(parts: list[Message]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Recipients a DSN reports as failed, and those only delayed (RFC 3464 per-recipient fields)."""
    failed: list[str] = []
    delayed: list[str] = []
    for part in parts:
        blocks = part.get_payload() if part.is_multipart() else []  # a str payload would be decoded
        for block in blocks:
            if not isinstance(block, Message):
                continue
            recipient = _dsn_address(str(block.get("final-recipient") or block.get("original-recipient") or ""))
            if not recipient:
                continue
            action = str(block.get("action") or "").strip().lower()
            status = str(block.get("status") or "").strip()
            if action.startswith("delayed") or (not action and status.startswith("4")):
                delayed.append(recipient)
            elif action.startswith("failed") or status.startswith("5") or not action:
                failed.append(recipient)
    return _unique(failed), _unique(delayed)


def _dsn_address(value: str) -> str:
    address = value.split(";", 1)[-1].strip().strip("<>").strip().lower()
    return address if "@" in address else ""


def _addresses_in(text: str) -> list[str]:
    """Every address in `text`, in order (what findall of the address pattern alone gave)."""
    return [match["address"] for match in _ADDRESS.finditer(text) if match["address"]]


def _split_addresses(value: str) -> tuple[str, ...]:
    return _unique(a.lower() for a in _addresses_in(value))


def _addresses_in_bounce_text(body: str, envelope: Envelope) -> tuple[str, ...]:
    """Addresses a text-only bounce names before the returned copy, minus its own parties."""
    own_text = body[:20000]
    cut = _RETURNED_COPY.search(own_text)
    if cut is not None:
        own_text = own_text[: cut.start()]
    parties = {a.email for a in (*envelope.to, *envelope.cc)}
    if envelope.sender:
        parties.add(envelope.sender.email)
    found = []
    for line in own_text.split("\n"):
        if _SENDER_LINE.match(line):
            continue  # "发件人 : x" names who sent the failed mail, not who did not get it
        for address in _addresses_in(line):
            address = address.lower()
            if address not in parties and address.split("@", 1)[0] not in _DAEMONS:
                found.append(address)
    if not found:  # Domino and Exchange name the recipient in the subject
        found = [a.lower() for a in _addresses_in(envelope.subject) if a.lower() not in parties]
    return _unique(found)[:20]


def _autoreply(envelope: Envelope, view: MailView, body: str, ctx: ParseContext) -> Verdict | None:
    auto_submitted = view.header("auto-submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return Verdict(Kind.AUTOREPLY, f"auto-reply: Auto-Submitted: {auto_submitted}")
    for name in _AUTO_HEADERS:
        if name in view.headers:
            return Verdict(Kind.AUTOREPLY, f"auto-reply: {name} header")
    if view.header("precedence").strip().lower() == "auto_reply":
        return Verdict(Kind.AUTOREPLY, "auto-reply: Precedence: auto_reply")
    if "disposition-notification" in view.report_types:
        return Verdict(Kind.AUTOREPLY, "auto-reply: read receipt (message disposition notification)")
    if "feedback-report" in view.report_types:
        return Verdict(Kind.AUTOREPLY, "auto-reply: abuse feedback report (ARF)")
    subject = envelope.subject
    if _AUTO_SUBJECT_START.search(subject) or _AUTO_SUBJECT_ANYWHERE.search(subject):
        return Verdict(Kind.AUTOREPLY, f"auto-reply: subject {subject[:60]!r}")
    return None


def _bulk(envelope: Envelope, view: MailView, body: str, ctx: ParseContext) -> Verdict | None:
    list_id = view.header("list-id").strip()
    if list_id:
        return Verdict(Kind.BULK, f"mailing list (List-Id {list_id[:80]})")
    precedence = view.header("precedence").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return Verdict(Kind.BULK, f"bulk mail (Precedence: {precedence})")
    return None


def _reply(envelope: Envelope, view: MailView, body: str, ctx: ParseContext) -> Verdict | None:
    tag = case_tag(envelope.subject, ctx.case_prefix)
    domain = ctx.own_message_id_domain.lower()
    threaded = [
        i for i in (*envelope.in_reply_to, *envelope.references)
        if domain and i.lower().endswith("@" + domain + ">")
    ]
    if threaded:
        suffix = f", case {tag}" if tag else ""
        return Verdict(Kind.REPLY, f"reply threaded to our mail {threaded[-1]}{suffix}", case_tag=tag)
    if tag:
        return Verdict(Kind.REPLY, f"reply to case {tag} (subject tag)", case_tag=tag)
    return None


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
