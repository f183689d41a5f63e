"""Forwarded mail: find the innermost original (sender, sent time, subject, body) and the note above it.

Two shapes reach the complaints mailbox: the original attached as ``message/rfc822`` (handled by
the caller, which re-enters here with the attached message), and the original pasted inline
below a separator and a small header block, each client with its own words:

=================  ======================================================  =========================
client             separator                                               header keys
=================  ======================================================  =========================
Outlook zh         ``-----邮件原件-----`` / ``-----原始邮件-----`` / ``____``  发件人: 发送时间: 收件人: 抄送: 主题:
Outlook en         ``-----Original Message-----`` / ``____``                From: Sent: To: Cc: Subject:
Foxmail / QQ Mail  ``------------------ 原始邮件 ------------------``       发件人: "x"<a@b>; 发送时间: 收件人: 主题:
Coremail           ``----- 原始邮件 -----``                                 发件人： 发送时间： 收件人： 主题： (full-width)
Gmail en / zh      ``---------- Forwarded message ---------`` / ``转发的邮件``  From: Date: Subject: To: / 发件人： 日期： 主题： 收件人：
Thunderbird en/zh  ``-------- Forwarded Message --------`` / ``转发的消息``       Subject: Date: From: To: / 主题： 日期： 发件人：
Apple Mail         ``Begin forwarded message:``                             From: Subject: Date: To:
=================  ======================================================  =========================

Why our own table: email-forward-parser (the Python port of Crisp's parser) knows none of the
Chinese clients, needs a forward prefix in the subject before it looks at the body, and stops at
one level. It is still used, bounded, as the fallback for the many Western locales it knows
(``Da:/Inviato:``, ``Von:/Gesendet:`` …) when our table finds no header block in a mail whose
subject says it is a forward. quotequail and mail-parser-reply were measured on the corpus' QQ Mail,
Foxmail and Outlook Chinese threads: they keep the ``原始邮件`` separators in the "reply" and miss
``在 … 写道：``, so quoted-text cutting is done here too, with the same separator table.

Outlook and Coremail use the same "original message" separator for replies and for forwards, so
such a separator counts as a forward only when the subject does not say it is a reply (``Re:``,
``回复:``, ``答复:``) — or, inside a forward, when the enclosing message's subject says ``Fw:``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import tzinfo

from emailforwardparser.forward_parser import get_forwarded_metadata

from parsers import charset
from parsers.dates import parse_client_date
from parsers.message import Address, Original

_LINE_START = r"^[ \t>]*"
# One alternation, named by shape: "fwd" separators say "forward"; "orig" ones are also used by
# replies; "rule" is the horizontal line Outlook prints above its header block in plain text.
_SEPARATOR = re.compile(
    _LINE_START
    + r"(?:"
    r"(?P<fwd>-{2,}\s*(?:Forwarded message|Forwarded Message|转发的邮件|转发邮件信息|转发邮件|转发的消息|"
    r"轉寄的郵件|轉寄郵件|轉發的郵件)\s*-{2,}"
    r"|(?:Begin forwarded message|以下为转发的邮件|以下是转发的邮件|转发的邮件|以下是轉寄的郵件)\s*[:：])"
    r"|(?P<orig>-{2,}\s*(?:Original Message|Original Email|邮件原件|原始邮件|原始郵件|原始邮件信息|原邮件)\s*-{2,})"
    r"|(?P<rule>_{20,}|-{30,})"
    r")[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)

_FIELD_KEYS = {
    "sender": ("from", "发件人", "寄件人", "發件人", "发信人", "寄件者"),
    "date": ("sent", "date", "发送时间", "日期", "时间", "发件时间", "寄件日期", "發送時間", "傳送時間", "寄件時間", "发送日期"),
    "to": ("to", "收件人", "收件者", "收信人"),
    "cc": ("cc", "抄送", "抄送人", "副本"),
    "subject": ("subject", "主题", "主題", "主旨", "标题", "標題"),
    "other": ("reply-to", "bcc", "密送", "importance", "重要性", "优先级", "attachments", "附件", "organization", "组织"),
}
_KEY_TO_FIELD = {key: name for name, keys in _FIELD_KEYS.items() for key in keys}
_HEADER_LINE = re.compile(
    r"^[ \t]*(?P<quote>(?:>[ \t]?)*)[ \t]*[*_]*[ \t]*(?P<key>"
    + "|".join(sorted((re.escape(k) for k in _KEY_TO_FIELD), key=len, reverse=True))
    + r")[ \t]*[*_]*[ \t]*[:：][ \t]*[*_]*[ \t]*(?P<value>.*?)[ \t]*$",
    re.IGNORECASE,
)
# A header block with no separator line above it starts with the sender line.
_BARE_SENDER = re.compile(
    _LINE_START + r"[*_]*[ \t]*(?:from|发件人|寄件人|發件人)[ \t]*[*_]*[ \t]*[:：]", re.MULTILINE | re.IGNORECASE
)
_FORWARD_PREFIX = re.compile(
    r"^\s*(?:\[[^\]]{1,40}\]\s*)*(?:fwd?|fw|转发|轉發|转寄|轉寄|wg|tr|rv|enc|i)\s*[:：]", re.IGNORECASE
)
_REPLY_PREFIX = re.compile(
    r"^\s*(?:\[[^\]]{1,40}\]\s*)*(?:re|aw|sv|antw|答复|回复|回覆|答覆|回應)\s*(?:\[\d+\])?\s*[:：]", re.IGNORECASE
)
_ANY_PREFIX = re.compile(
    r"^\s*(?:(?:fwd?|fw|re|aw|sv|wg|tr|rv|enc|antw|转发|轉發|转寄|轉寄|答复|回复|回覆|答覆|回應)\s*(?:\[\d+\])?\s*[:：]\s*)+",
    re.IGNORECASE,
)
_ZH_ATTRIBUTION = re.compile(r"^[ \t>]*.{0,120}?(?:写道|寫道)\s*[:：][ \t]*$", re.MULTILINE)
# Gmail wraps a long "On <date> <name> <address> wrote:" over two lines.
_EN_ATTRIBUTION = re.compile(
    r"^[ \t>]*On\b[^\n]{0,200}(?:\n[ \t>]*[^\n]{0,200})?\bwrote\s*:[ \t]*$", re.MULTILINE | re.IGNORECASE
)
_BRACKETED_ADDRESS = re.compile(r"[<\[(（]\s*(?:mailto:)?\s*([^<>\[\]()\s]+@[^<>\[\]()\s]+?)\s*[>\])）]")
_BARE_ADDRESS = re.compile(r"(?:mailto:)?([\w.+'=-]+@[\w-]+(?:\.[\w-]+)+)", re.ASCII)
_EFP_LIMIT = 20000  # email-forward-parser runs dozens of regexes; bound its input
_MAX_NESTING = 10
_MAX_CANDIDATES = 200  # separator-like lines examined per text; digests and logs can have thousands


@dataclass
class HeaderBlock:
    """One inline forward/quote header block: where it starts and what it says."""

    start: int  # offset of the separator (or of the first header line) in the text
    body_start: int  # offset where the quoted message's body begins
    fields: dict[str, str]
    explicit: bool  # the separator itself says "forward"
    quote: str  # the ">" prefix the block is quoted with, if any


@dataclass
class ForwardResult:
    """The innermost original of a forward, and what the forwarder wrote above it."""

    forwarded: bool = False
    original: Original | None = None
    text: str = ""  # the innermost original's body
    note: str = ""  # the (outermost) forwarder's own words
    problems: list[str] = field(default_factory=list)


def has_forward_prefix(subject: str) -> bool:
    """True when the subject starts with a forward marker (Fw:, Fwd:, 转发: …)."""
    return _FORWARD_PREFIX.match(subject) is not None


def has_reply_prefix(subject: str) -> bool:
    """True when the subject starts with a reply marker (Re:, 回复:, 答复: …)."""
    return _REPLY_PREFIX.match(subject) is not None


def strip_prefixes(subject: str) -> str:
    """The subject without its stack of Re:/Fw:/转发: prefixes."""
    return _ANY_PREFIX.sub("", subject).strip()


def find_inline(text: str, subject: str, local: tzinfo, quoting: bool) -> ForwardResult:
    """Unwrap inline forwards in `text` down to the innermost original.

    `quoting` is True when the mail is a reply or an automatic answer: then only a separator
    that says "forward" counts, and "original message" blocks are quoted history.
    """
    block = find_block(text)
    if block is None or not _counts_as_forward(block, subject, quoting):
        return _fallback(text, subject, local) if has_forward_prefix(subject) and not quoting else ForwardResult()
    result = ForwardResult(forwarded=True, note=text[: block.start].rstrip())
    enclosing_subject = subject
    for _ in range(_MAX_NESTING):
        body = _dequote(text[block.body_start:], block.quote)
        original_subject = _field_text(block.fields.get("subject", "")) or strip_prefixes(enclosing_subject)
        result.original = _original(block.fields, original_subject, local, result.problems)
        result.text = body
        inner = find_block(body)
        if inner is None or not (inner.explicit or has_forward_prefix(original_subject)):
            break
        text, block, enclosing_subject = body, inner, original_subject
    result.text = strip_quoted(result.text)
    return result


def _counts_as_forward(block: HeaderBlock, subject: str, quoting: bool) -> bool:
    if block.explicit:
        return True
    if quoting or has_reply_prefix(subject):
        return False
    return True


def find_block(text: str) -> HeaderBlock | None:
    """The first forward/quote header block in `text`, with or without a separator line."""
    pending = [m for m in (_SEPARATOR.search(text), _BARE_SENDER.search(text)) if m is not None]
    for _ in range(_MAX_CANDIDATES):
        if not pending:
            return None
        match = min(pending, key=lambda m: m.start())
        pending.remove(match)
        following = match.re.search(text, match.end())
        if following is not None:
            pending.append(following)
        block = _block_at(text, match)
        if block is not None:
            return block
    return None


def _block_at(text: str, match: re.Match[str]) -> HeaderBlock | None:
    is_separator = match.re is _SEPARATOR
    if is_separator:
        line_end = text.find("\n", match.end())
        header_start = len(text) if line_end < 0 else line_end + 1
    else:
        header_start = match.start()
    fields, quote, body_start = _parse_fields(text, header_start)
    if is_separator and (match.group("fwd") or match.group("orig")):
        explicit = match.group("fwd") is not None
        return HeaderBlock(match.start(), body_start if fields else header_start, fields, explicit, quote)
    # A rule or a bare header block counts only with a real header block under it.
    if "sender" in fields and ("date" in fields or "subject" in fields):
        return HeaderBlock(match.start(), body_start, fields, False, quote)
    return None


def _parse_fields(text: str, offset: int) -> tuple[dict[str, str], str, int]:
    """Read `key: value` lines from `offset`; return fields, their quote prefix and where the body starts."""
    fields: dict[str, str] = {}
    quote = ""
    last: str | None = None
    blank_run = 0
    position = offset
    while position < len(text):
        end = text.find("\n", position)
        end = len(text) if end < 0 else end
        line = text[position:end]
        stripped = line.strip().lstrip(">").strip()
        match = _HEADER_LINE.match(line)
        if match is not None:
            last = _KEY_TO_FIELD[match.group("key").lower()]
            if last not in fields:
                fields[last] = match.group("value")
            quote = quote or match.group("quote")
            blank_run = 0
        elif not stripped:
            blank_run += 1
            # Foxmail leaves blank lines inside its block; more than two ends it.
            if (fields and blank_run > 2) or (not fields and blank_run > 3):
                break
        elif fields and last in ("to", "cc") and blank_run == 0 and ("@" in stripped or stripped.endswith((";", ","))):
            fields[last] += " " + stripped  # a wrapped recipient list
        else:
            break
        position = end + 1
    if not fields:
        return fields, quote, offset
    return fields, quote, _skip_blank_lines(text, position)


def _skip_blank_lines(text: str, position: int) -> int:
    while position < len(text):
        end = text.find("\n", position)
        end = len(text) if end < 0 else end
        if text[position:end].strip().lstrip(">").strip():
            return position
        position = end + 1
    return len(text)


def _dequote(body: str, quote: str) -> str:
    """Remove the '>' level the header block was quoted with from every body line."""
    depth = quote.count(">")
    if depth == 0:
        return body
    pattern = re.compile(r"^[ \t]*" + r"(?:>[ \t]?)" * depth, re.MULTILINE)
    return pattern.sub("", body)


def _field_text(value: str) -> str:
    value = value.strip().strip("*").strip()
    if "=?" in value:
        value = charset.decode_header_text(value, "forward header")[0]
    return value


def _original(fields: dict[str, str], subject: str, local: tzinfo, problems: list[str]) -> Original:
    date_text = _field_text(fields.get("date", ""))
    sent_at = parse_client_date(date_text, local) if date_text else None
    if date_text and sent_at is None:
        problems.append(f"forwarded original's time not understood: {date_text[:60]!r}")
    return Original(sender=parse_sender(_field_text(fields.get("sender", ""))), sent_at=sent_at, subject=subject)


def parse_sender(value: str) -> Address | None:
    """A mailbox as forward blocks print it: ``"x"<a@b>;``, ``x [mailto:a@b]``, ``x<mailto:a@b>``, ``a@b``."""
    value = value.strip().rstrip(";,；，").strip()
    if not value:
        return None
    match = _BRACKETED_ADDRESS.search(value) or _BARE_ADDRESS.search(value)
    if match is None:
        return Address(name=_clean_name(value), email="")
    name = _clean_name(value[: match.start()] + value[match.end():])
    return Address(name=name, email=match.group(1).lower())


def _clean_name(name: str) -> str:
    name = re.sub(r"\s+", " ", name).strip().strip(";,；，").strip()
    return name.strip("\"'“”‘’ ").strip()


def strip_quoted(text: str) -> str:
    """The text above any quoted history: reply attributions, "original message" blocks, '>' lines."""
    cuts = [len(text)]
    for marker, pattern in (("写道", _ZH_ATTRIBUTION), ("寫道", _ZH_ATTRIBUTION), ("wrote", _EN_ATTRIBUTION)):
        if marker in text:  # a substring test is far cheaper than the line regex on long bodies
            attribution = pattern.search(text)
            if attribution is not None:
                cuts.append(attribution.start())
    block = find_block(text)
    if block is not None:
        cuts.append(block.start)
    quoted = re.search(r"^>", text, re.MULTILINE)
    if quoted is not None and quoted.start() > 0:
        cuts.append(quoted.start())
    cut = min(cuts)
    head = text[:cut].rstrip()
    return head if head else text.rstrip()


def attribution_spans(text: str) -> list[tuple[int, int]]:
    """Where reply attribution lines ("在 … 写道：", "On … wrote:", also '>'-quoted) are in `text`."""
    spans: list[tuple[int, int]] = []
    if "写道" in text or "寫道" in text:
        spans.extend(match.span() for match in _ZH_ATTRIBUTION.finditer(text))
    if "wrote" in text.lower():
        spans.extend(match.span() for match in _EN_ATTRIBUTION.finditer(text))
    return sorted(spans)


def _fallback(text: str, subject: str, local: tzinfo) -> ForwardResult:
    """A forward by subject only: try email-forward-parser's Western locales, else keep the subject."""
    result = ForwardResult(forwarded=True, original=Original(None, None, strip_prefixes(subject)), text=text)
    metadata = get_forwarded_metadata(text[:_EFP_LIMIT], subject)
    found = metadata.email
    if not (metadata.forwarded and (found.from_.address or found.body)):
        result.text = strip_quoted(text)
        return result
    address = found.from_.address.lower()
    sender = Address(name=_clean_name(found.from_.name), email=address) if address else None
    sent_at = parse_client_date(found.date, local) if found.date else None
    result.original = Original(sender=sender, sent_at=sent_at, subject=found.subject or strip_prefixes(subject))
    result.note = metadata.message.strip()
    result.text = strip_quoted(found.body) if found.body else ""
    return result
