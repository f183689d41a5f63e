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
mutt               ``----- Forwarded message from x <a@b> -----``           the original's whole header
                   … ``----- End forwarded message -----``                  (Message-ID:, Content-*: …)
s-nail             ``-------- Original Message --------``                   the whole header; the note
                                                                           is typed BELOW the original
=================  ======================================================  =========================

The copied header lines that are no forward field (Message-ID:, MIME-Version:, Content-*:,
User-Agent:, Status: …) are read as part of the block and dropped; the end marker closes the
original, and what follows it is the forwarder's note. Intermediate forwarders' notes (a forward
of a forward) are kept with their writers, for the complainant's details and the category.

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

from emailforwardparser.forward_parser import ForwardMetadata, get_forwarded_metadata

from parsers import charset, signoff
from parsers.dates import parse_client_date
from parsers.message import Address, Original

# Linear time on hostile text: a body line may be 100 KB of blanks, '>' or dashes, and
# a pattern with two quantifiers that can take the same characters ("[ \t>]*[*_]*[ \t]*") tries
# every way of sharing them out, at every start: seconds to minutes for one line. So each run
# of blanks, quote marks or stars is taken whole, once: possessive quantifiers (*+, ++), used
# only where the next token cannot begin with what the run takes, so nothing that matched before
# stops matching. A value "up to the trailing blanks" is read greedily and stripped in code.
_LINE_START = r"^[ \t>]*+"
# One alternation, named by shape: "fwd" separators say "forward"; "orig" ones are also used by
# replies; "rule" is the horizontal line Outlook prints above its header block in plain text.
_SEPARATOR = re.compile(
    _LINE_START
    + r"(?:"
    # mutt names the original's sender in its separator: "----- Forwarded message from x <a@b> -----".
    # The name runs to the line end, taken whole (possessive, bounded): it is read again below.
    r"(?P<mutt>-{2,}[ \t]*+Forwarded message from\b[^\n]{0,300}+)"
    r"|(?P<fwd>-{2,}\s*(?:Forwarded message|Forwarded Message|转发的邮件|转发邮件信息|转发邮件|转发的消息|"
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
# Blanks, then Markdown bold/underline markers (html2text writes "**From:**"), then blanks: the
# runs never give characters to each other ("[ \t]*[*_]*[ \t]*" did, on a line of blanks).
_BLANKS_AND_STARS = r"[ \t]*+(?:[*_]++[ \t]*+)?"
_HEADER_LINE = re.compile(
    r"^[ \t]*+(?P<quote>(?:>[ \t]?)*+)" + _BLANKS_AND_STARS + r"(?P<key>"
    + "|".join(sorted((re.escape(k) for k in _KEY_TO_FIELD), key=len, reverse=True))
    + r")" + _BLANKS_AND_STARS + r"[:：]" + _BLANKS_AND_STARS
    + r"(?P<value>.*)",  # to the end of the line; trailing blanks are stripped by _header_value()
    re.IGNORECASE,
)
# mutt and s-nail copy the original's whole header into an inline forward, not just From, Date,
# To and Subject: these lines belong to the header block (and are dropped), never to the body.
# A folded continuation line (starting with a blank) after one of them belongs to it.
_RAW_HEADER_LINE = re.compile(
    r"[ \t]*+(?:>[ \t]?)*+(?:(?:x|content|list|thread|accept|arc|dkim|authentication|received)-[a-z0-9-]{1,60}+"
    r"|message-id|mime-version|user-agent|status|references|in-reply-to|return-path|received|priority"
    r"|sender|delivered-to|organi[sz]ation)[ \t]*+:",
    re.IGNORECASE,
)
# Where an inline forward says the original ends (mutt; a few others), and the forwarder's
# words below it begin.
_END_MARKER = re.compile(
    _LINE_START + r"-{2,}+[ \t]*+(?:end (?:of )?forwarded message|end (?:of )?original message|"
    r"转发邮件结束|转发的邮件结束|原始邮件结束)[ \t]*+-*+[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)
# A header block with no separator line above it starts with the sender line.
_BARE_SENDER = re.compile(
    _LINE_START + r"(?:[*_]++[ \t]*+)?(?:from|发件人|寄件人|發件人)" + _BLANKS_AND_STARS + r"[:：]",
    re.MULTILINE | re.IGNORECASE,
)
# Subjects: 1,000 characters at most, but strip_prefixes() and has_forward_prefix() also read
# the Subject line of a forward block in the body, which can be any length.
_FORWARD_PREFIX = re.compile(
    r"^\s*+(?:\[[^\]]{1,40}\]\s*+)*+(?:fwd?|fw|转发|轉發|转寄|轉寄|wg|tr|rv|enc|i)\s*+[:：]", re.IGNORECASE
)
_REPLY_PREFIX = re.compile(
    r"^\s*+(?:\[[^\]]{1,40}\]\s*+)*+(?:re|aw|sv|antw|答复|回复|回覆|答覆|回應)\s*+(?:\[\d+\]\s*+)?[:：]", re.IGNORECASE
)
# "fwd?" alone, not "fwd?|fw": two ways to read "fw" in a repeated group are 2^n ways to read n
# of them when what follows fails (harmless under sub(), exponential under fullmatch()).
_ANY_PREFIX = re.compile(
    r"^\s*+(?:(?:fwd?|re|aw|sv|wg|tr|rv|enc|antw|转发|轉發|转寄|轉寄|答复|回复|回覆|答覆|回應)\s*+(?:\[\d+\]\s*+)?[:：]\s*+)+",
    re.IGNORECASE,
)
# The leading quote marks are taken whole (a line of 100 KB of '>' is read once, not once per
# way of splitting it with the bounded part after it).
_ZH_ATTRIBUTION = re.compile(r"^[ \t>]*+.{0,120}?(?:写道|寫道)\s*[:：][ \t]*$", re.MULTILINE)
# Gmail wraps a long "On <date> <name> <address> wrote:" over two lines; mutt, s-nail and
# mailx write "<name> <address> wrote:" on one. Each branch is bounded, so a line start costs
# at most a few hundred steps.
_EN_ATTRIBUTION = re.compile(
    r"^[ \t>]*+(?:On\b[^\n]{0,200}(?:\n[ \t>]*+[^\n]{0,200})?|[^\n]{1,200}?)\bwrote\s*:[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)
_BRACKETED_ADDRESS = re.compile(r"[<\[(（]\s*+(?:mailto:)?\s*+([^<>\[\]()\s]+@[^<>\[\]()\s]+?)\s*+[>\])）]")
# An address starts where a run of address characters starts (the lookbehind): without it, a
# search over a 100 KB word without "@" restarts at each of its characters and reads the rest
# of the word every time (quadratic). A match inside a run would have matched from its start.
_BARE_ADDRESS = re.compile(r"(?:mailto:)?(?<![\w.+'=-])([\w.+'=-]+@[\w-]+(?:\.[\w-]+)+)", re.ASCII)
# email-forward-parser runs about a hundred patterns of its own, and they are super-linear: on
# "x", 10,000 newlines and "y" it needs 22 s, on 2,000 characters of " \n" half a second. So it
# reads only the head of the text, where a forward's header block is: up to a line end within
# _EFP_LIMIT characters, long runs of blank lines made short (see _efp_head); the original's
# body goes on past the head as written.
_EFP_LIMIT = 2_000
_LONG_BLANK_RUN = re.compile(r"\n(?:[ \t]*\n){4,}")  # more than three blank lines in a row
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
    note: str = ""  # the (outermost) forwarder's own words, above the original or below it
    # Intermediate forwarders' words, outer to inner, each with its writer's display name.
    notes: list[tuple[str, str]] = field(default_factory=list)
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


def find_inline(text: str, subject: str, local: tzinfo, quoting: bool, author: str = "") -> ForwardResult:
    """Unwrap inline forwards in `text` down to the innermost original.

    `quoting` is True when the mail is a reply or an automatic answer: then only a separator
    that says "forward" counts, and "original message" blocks are quoted history. `author` is
    the forwarder's display name: their signature under a note typed below the original marks it.
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
        writer = parse_sender(_field_text(block.fields.get("sender", "")))
        result.notes.append((body[: inner.start].rstrip(), writer.name if writer else ""))
        text, block, enclosing_subject = body, inner, original_subject
    _split_words_below(result, above=result.note, author=author)
    result.text = strip_quoted(result.text)
    return result


def _split_words_below(result: ForwardResult, above: str, author: str) -> None:
    """Cut the original where its forward ends, and keep what the forwarder wrote below it.

    mutt says where the original ends ("----- End forwarded message -----"): the words after
    the last such line are the forwarder's. s-nail says nothing: its forwarder types below the
    original, and that is known only by the shape of the text (signoff.words_below()), tried
    when nothing was written above the original.
    """
    ends = list(_END_MARKER.finditer(result.text))
    if ends:
        below = result.text[ends[-1].end():].strip()
        result.text = result.text[: ends[0].start()].rstrip()
    elif not above.strip():
        result.text, below = signoff.words_below(result.text, author)
    else:
        below = ""
    if below:
        result.note = f"{above.rstrip()}\n\n{below}".strip()


def _counts_as_forward(block: HeaderBlock, subject: str, quoting: bool) -> bool:
    if block.explicit:
        return True
    if quoting or has_reply_prefix(subject):
        return False
    return True


def find_block(text: str) -> HeaderBlock | None:
    """The first forward/quote header block in `text`, with or without a separator line."""
    pending = [m for m in (_SEPARATOR.search(text), _BARE_SENDER.search(text)) if m is not None]
    refused_to = 0  # the end of the header lines the last refused candidate read
    for _ in range(_MAX_CANDIDATES):
        if not pending:
            return None
        match = min(pending, key=lambda m: m.start())
        pending.remove(match)
        following = match.re.search(text, match.end())
        if following is not None:
            pending.append(following)
        if match.start() < refused_to and not _says_forward_or_original(match):
            # Its lines are the tail of a header block just refused: it would read a part of the
            # same lines, find no field those did not have, and be refused too. Reading them
            # again for each "From:" line among them cost up to 200 times the block (26 s for
            # a body of 12,000 "From: x" lines). Still counted, so the same candidates are seen.
            continue
        block, read_to = _block_at(text, match)
        if block is not None:
            return block
        refused_to = read_to
    return None


def _says_forward_or_original(match: re.Match[str]) -> bool:
    return match.re is _SEPARATOR and bool(match.group("mutt") or match.group("fwd") or match.group("orig"))


def _block_at(text: str, match: re.Match[str]) -> tuple[HeaderBlock | None, int]:
    """The header block a candidate line starts, or None; and where the lines it read end."""
    is_separator = match.re is _SEPARATOR
    if is_separator:
        line_end = text.find("\n", match.end())
        header_start = len(text) if line_end < 0 else line_end + 1
    else:
        header_start = match.start()
    fields, quote, body_start = _parse_fields(text, header_start)
    if _says_forward_or_original(match):
        explicit = match.group("fwd") is not None or match.group("mutt") is not None
        return HeaderBlock(match.start(), body_start if fields else header_start, fields, explicit, quote), body_start
    # A rule or a bare header block counts only with a real header block under it.
    if "sender" in fields and ("date" in fields or "subject" in fields):
        return HeaderBlock(match.start(), body_start, fields, False, quote), body_start
    return None, body_start


def _parse_fields(text: str, offset: int) -> tuple[dict[str, str], str, int]:
    """Read `key: value` lines from `offset`; return fields, their quote prefix and where the body starts."""
    fields: dict[str, str] = {}
    wrapped: dict[str, list[str]] = {}  # joined once at the end: "+=" per line copied a long list each time
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
                fields[last] = _header_value(match)
            quote = quote or match.group("quote")
            blank_run = 0
        elif fields and _is_raw_header(line, last if blank_run == 0 else None):
            last = "raw"
            blank_run = 0
        elif not stripped:
            blank_run += 1
            # Foxmail leaves blank lines inside its block; more than two ends it.
            if (fields and blank_run > 2) or (not fields and blank_run > 3):
                break
        elif fields and last in ("to", "cc") and blank_run == 0 and ("@" in stripped or stripped.endswith((";", ","))):
            wrapped.setdefault(last, []).append(stripped)  # a wrapped recipient list
        else:
            break
        position = end + 1
    if not fields:
        return fields, quote, offset
    for name, more in wrapped.items():
        fields[name] = " ".join([fields[name], *more])
    return fields, quote, _skip_blank_lines(text, position)


def _is_raw_header(line: str, last: str | None) -> bool:
    """A copied header line (Message-ID:, Content-Type: …) or the folded rest of one."""
    if last == "raw" and line[:1] in (" ", "\t") and line.strip():
        return True
    return _RAW_HEADER_LINE.match(line) is not None


def _header_value(match: re.Match[str]) -> str:
    """A header line's value without its trailing blanks (the pattern reads to the line end)."""
    return match.group("value").rstrip(" \t")


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
    # A counted repeat, not the group written out `depth` times: a header block quoted with
    # 100 KB of '>' would otherwise compile a pattern of a megabyte.
    pattern = re.compile(r"^[ \t]*(?:>[ \t]?){" + str(depth) + "}", re.MULTILINE)
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
    head, rest = _efp_head(text)
    metadata = _efp_metadata(head, subject)
    if metadata is None:
        result.text = strip_quoted(text)
        return result
    found = metadata.email
    address = found.from_.address.lower()
    sender = Address(name=_clean_name(found.from_.name), email=address) if address else None
    sent_at = parse_client_date(found.date, local) if found.date else None
    result.original = Original(sender=sender, sent_at=sent_at, subject=found.subject or strip_prefixes(subject))
    result.note = metadata.message.strip()
    body = found.body + ("\n" if found.body and head.endswith("\n") else "") + rest
    result.text = strip_quoted(body) if body else ""
    return result


def _efp_metadata(head: str, subject: str) -> ForwardMetadata | None:
    """What email-forward-parser makes of a forward in `head`; None when it finds no original."""
    try:
        metadata = get_forwarded_metadata(head, subject)
    except Exception:  # its own bug on odd text (IndexError on "From:From:…"): as if it found nothing
        return None
    found = metadata.email
    return metadata if metadata.forwarded and (found.from_.address or found.body) else None


def _efp_head(text: str) -> tuple[str, str]:
    """What email-forward-parser reads of `text`, and the rest after it.

    The head ends at the last line end within _EFP_LIMIT characters (anywhere in a longer line);
    in it, a run of more than three blank lines becomes three: that changes no header block, only
    how many blank lines in a row the original's body keeps.
    """
    if len(text) <= _EFP_LIMIT:
        cut = len(text)
    else:
        cut = text.rfind("\n", 0, _EFP_LIMIT) + 1 or _EFP_LIMIT
    return _LONG_BLANK_RUN.sub("\n\n\n\n", text[:cut]), text[cut:]
