"""The complaint itself: readable body text, attachments, and the staff-typed `字段：值` form.

HTML-only bodies become text with html2text (links and images dropped, no re-wrapping). Above
``_HTML2TEXT_LIMIT`` characters a plain tag stripper is used instead: html2text needs about
0.8 s for the corpus' 1 MB HTML mails, and a complaint is never that long — those are newsletters
and spam, and the raw bytes are kept anyway.

The form parser is ours: no library reads these Chinese field names. A field is one line
``名称：值`` or ``名称: 值`` (full- or half-width colon, html2text's ``**名称**：`` and table
``名称 | 值`` too); 投诉内容 may run over several lines until the next field.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from email.message import Message

import html2text

from parsers import charset
from parsers.message import Attachment, FormFields
from parsers.mime import MailView, part_size, part_text

_HTML2TEXT_LIMIT = 200_000
# A complaint is a page or two. Longer bodies are newsletters, logs or spam; the text is cut
# here so that every later step stays cheap (the raw bytes are kept by the shell anyway).
MAX_TEXT_CHARS = 100_000


@dataclass
class Body:
    """The main text of one message and what decoding it cost."""

    text: str = ""
    from_html: bool = False
    problems: list[str] = field(default_factory=list)


def main_body(view: MailView) -> Body:
    """The first non-empty inline text/plain part, else the first text/html part as text."""
    body = Body()
    for part in view.plain_parts:
        text, problem = part_text(part, "body")
        if problem:
            body.problems.append(problem)
        if text.strip():
            body.text = _capped(charset.clean_text(text), body)
            return body
    for part in view.html_parts:
        markup, problem = part_text(part, "HTML body")
        if problem:
            body.problems.append(problem)
        if markup.strip():
            body.text = _capped(charset.clean_text(html_to_text(markup)), body)
            body.from_html = True
            return body
    return body


def _capped(text: str, body: Body) -> str:
    if len(text) <= MAX_TEXT_CHARS:
        return text
    body.problems.append(f"body text cut at {MAX_TEXT_CHARS} of {len(text)} characters (raw message kept)")
    return text[:MAX_TEXT_CHARS]


def html_to_text(markup: str) -> str:
    """Readable text from an HTML body."""
    if len(markup) > _HTML2TEXT_LIMIT:
        return _strip_tags(markup[: 4 * MAX_TEXT_CHARS])
    converter = html2text.HTML2Text()
    converter.body_width = 0  # keep the author's lines; Chinese has no spaces to wrap at
    converter.ignore_links = True
    converter.ignore_images = True
    converter.ignore_emphasis = True  # **bold** markers only get in the way of the form parser
    converter.unicode_snob = True  # keep 。，“” as they are, not ASCII look-alikes
    return _MARKDOWN_ESCAPE.sub(r"\1", converter.handle(_closed_tail(markup)))


# html2text writes Markdown and escapes what Markdown would read as syntax: "\-----" for a rule
# of dashes (anywhere in a line: "原始邮件 \------"), "1\." for a numbered line, "\+", "\#".
# The text is read as plain text here — Foxmail's HTML forward separator must stay a separator —
# so each such backslash goes (one pass, one character after it: linear).
_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>])")


def _closed_tail(markup: str) -> str:
    """The markup with every "<" after its last ">" written as "&lt;".

    No tag can start there, and Python's HTML parser (under html2text) re-reads such an
    unclosed tail from each "<" in it: 40,000 characters of "<a" took 1.5 s, 200,000 about
    40 s. Well-formed mail ends in ">" and is left as it is.
    """
    end = markup.rfind(">") + 1
    tail = markup[end:]
    return markup[:end] + tail.replace("<", "&lt;") if "<" in tail else markup


# Up to 400,000 characters of hostile markup come through here, so nothing may read the rest
# of the text once per "<": see _without_invisible() and _sub_tags().
_INVISIBLE = ("script", "style", "head")
_INVISIBLE_START = re.compile(r"<(script|style|head)\b", re.IGNORECASE)
_INVISIBLE_END = {name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in _INVISIBLE}
_BLOCK_TAG = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|/h\d|p|div|tr|li)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def _strip_tags(markup: str) -> str:
    text = _without_invisible(markup)
    text = _sub_tags(_BLOCK_TAG, "\n", text)
    text = html.unescape(_sub_tags(_TAG, "", text))
    return _BLANK_LINES.sub("\n\n", text)


def _without_invisible(markup: str) -> str:
    """The markup with each <script>, <style> and <head> block, up to the first closing tag of
    its name, replaced by a blank; an opening tag never closed stays (the tag stripper drops it).

    Once a name is found unclosed, its later openings are not looked at again: a single pattern,
    "<(script|style|head)\\b.*?</\\1\\s*>", would read to the end of the text from each of
    them (quadratic: 22 s for 32,000 "<style" without a closing tag).
    """
    kept: list[str] = []
    position = search_from = 0
    unclosed: set[str] = set()
    while (opening := _INVISIBLE_START.search(markup, search_from)) is not None:
        name = opening.group(1).lower()
        closing = None if name in unclosed else _INVISIBLE_END[name].search(markup, opening.end())
        if closing is None:
            unclosed.add(name)
            search_from = opening.end()
            continue
        kept.append(markup[position:opening.start()])
        kept.append(" ")
        position = search_from = closing.end()
    kept.append(markup[position:])
    return "".join(kept)


def _sub_tags(pattern: re.Pattern[str], replacement: str, text: str) -> str:
    """`pattern.sub` for a tag pattern ending in "[^>]*>", over the text up to its last ">".

    No tag can end after it; searched there, each "<" would read to the end of the text in vain
    (quadratic on "<br<br<br…" without a ">"). Before it, every "<" that starts a tag reads only
    up to the next ">", and the match goes on from there.
    """
    end = text.rfind(">") + 1
    return pattern.sub(replacement, text[:end]) + text[end:]


def attachments(view: MailView) -> tuple[tuple[Attachment, ...], list[str]]:
    """Files that came with the mail, with decoded names (RFC 2231, RFC 2047 or raw 8-bit)."""
    found: list[Attachment] = []
    problems: list[str] = []
    for part in view.attachments:
        name = _filename(part, problems)
        found.append(Attachment(filename=name, content_type=part.get_content_type(), size=part_size(part)))
    return tuple(found), problems


def _filename(part: Message, problems: list[str]) -> str:
    raw = _param_octets(part, "filename", "content-disposition") or _param_octets(part, "name", "content-type")
    name, found = charset.decode_param(raw, "attachment name")
    problems.extend(found)
    if not name and part.get_content_type() in ("message/rfc822", "message/global"):
        name = "forwarded-message.eml"
    return name.replace("/", "_").replace("\\", "_")


def _param_octets(part: Message, name: str, header: str) -> str | tuple[str | None, str | None, str] | None:
    """A header parameter as ``get_param`` gives it, raw 8-bit octets kept as surrogate escapes.

    compat32's ``get_param`` reads a header holding raw 8-bit octets (a UTF-8 or GBK file name
    written without RFC 2047/2231) through a ``Header`` that turns each octet into U+FFFD, so
    the name could no longer be decoded. Such a header is handed to it with each octet as its
    Latin-1 character instead, and the octets are put back as surrogate escapes afterwards
    (RFC 2231 values stay Latin-1 octets, as ``decode_param`` expects them).
    """
    value = next((v for k, v in part.raw_items() if k.lower() == header), None)
    try:
        octets = charset.recover_bytes(value) if isinstance(value, str) and not value.isascii() else None
    except UnicodeEncodeError:  # real characters, not octets from the bytes parser
        octets = None
    if octets is None:
        return part.get_param(name, header=header)
    holder = Message()
    holder[header] = octets.decode("latin-1")
    param = holder.get_param(name, header=header)
    if isinstance(param, str):
        return param.encode("latin-1", errors="replace").decode("ascii", errors="surrogateescape")
    return param


# --- signature noise -------------------------------------------------------------------------

_SIGNATURE_DELIMITER = re.compile(r"^-- ?$", re.MULTILINE)
_MOBILE_FOOTER = re.compile(
    r"^[ \t]*(?:发自我的|来自我的|從我的|从我的|发送自|Sent from my|Get Outlook for|Sent from Mail for|"
    r"发自网易邮箱|来自网易邮箱|来自\s*QQ\s*邮箱|发自\s*QQ\s*邮箱|来自\s*Foxmail|发自\s*Foxmail).*$",
    re.MULTILINE | re.IGNORECASE,
)


def strip_signature(text: str) -> str:
    """The text without a ``-- `` signature block and phone/webmail footers."""
    delimiter = _SIGNATURE_DELIMITER.search(text)
    if delimiter is not None and delimiter.start() > 0:
        text = text[: delimiter.start()]
    text = _MOBILE_FOOTER.sub("", text)
    return text.strip()


# --- the staff-typed form ----------------------------------------------------------------------

_FIELD_NAMES = {
    "media_outlet": ("媒体单位", "媒体名称", "媒体单位名称", "媒体"),
    "reporter_name": ("记者姓名", "记者", "联系人"),
    "phone": ("联系电话", "电话号码", "电话", "手机号码", "手机号", "手机", "联系方式"),
    "customer_number": ("客户号码", "用户号码", "客户号", "用户号", "客户账号"),
    "complaint_text": ("投诉内容", "投诉详情", "问题描述"),
    "category": ("投诉类别", "类别", "分类"),
}
_NAME_TO_FIELD = {name: key for key, names in _FIELD_NAMES.items() for name in names}
# Blanks, Markdown bold/underline markers (html2text's "**名称**："), blanks. Possessive, so that
# the three runs never share characters: "[ \t]*[*_]*[ \t]*" tried every way of splitting a long
# run of blanks between its two blank quantifiers, at every line start (quadratic; with the lazy
# value below, 100 KB of blanks after a field name took minutes). Nothing that can follow a run
# (a bracket, a field name, a colon or "|", the value) starts with what the run takes.
_BLANKS_AND_STARS = r"[ \t]*+(?:[*_]++[ \t]*+)?"
_FORM_LINE = re.compile(
    r"^" + _BLANKS_AND_STARS + r"[【\[]?(?P<name>"
    + "|".join(sorted(map(re.escape, _NAME_TO_FIELD), key=len, reverse=True))
    + r")[】\]]?" + _BLANKS_AND_STARS + r"(?:[:：]|\|)" + _BLANKS_AND_STARS
    + r"(?P<value>.*)$",  # to the end of the line; trailing blanks and "|" go in _form_value()
    re.MULTILINE,
)
_CHINESE_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "壹": 1, "贰": 2, "叁": 3, "肆": 4, "伍": 5}
_CATEGORY = re.compile(r"^\s*+第?\s*+(?P<n>[0-9０-９一二三四五壹贰叁肆伍六七八九十]+)\s*类?")


def extract_form(text: str) -> tuple[FormFields, list[str]]:
    """Fields a person typed as `字段：值` lines; unknown or empty values stay None."""
    values: dict[str, str] = {}
    problems: list[str] = []
    matches = list(_FORM_LINE.finditer(text))
    for index, match in enumerate(matches):
        key = _NAME_TO_FIELD[match.group("name")]
        if key in values:
            continue
        value = _form_value(match)
        if key == "complaint_text":
            until = matches[index + 1].start() if index + 1 < len(matches) else len(text)
            value = _multiline_value(value, text[match.end():until])
        if value:
            values[key] = value
    category = _category(values.pop("category", None), problems)
    return FormFields(category=category, **values), problems


def _form_value(match: re.Match[str]) -> str:
    """The value of a form line: without the blanks and table bars ("名称 | 值 |") that end it.

    Stripped here rather than by a lazy "(.*?)[ \\t|]*$" in the pattern, which rescanned the
    trailing run at each character of the value (quadratic on a long line of blanks).
    """
    return match.group("value").rstrip(" \t|").strip()


def _multiline_value(first_line: str, rest: str) -> str:
    """投诉内容 continues on the following lines, up to the next field, a signature delimiter,
    or a closing paragraph that looks like a sign-off (a few short lines without sentences)."""
    delimiter = _SIGNATURE_DELIMITER.search(rest)
    if delimiter is not None:
        rest = rest[: delimiter.start()]
    paragraphs = re.split(r"\n[ \t]*\n", rest.strip("\n"))
    kept = [first_line.strip()] if first_line.strip() else []
    for index, paragraph in enumerate(paragraphs):
        if index > 0 and _looks_like_sign_off(paragraph):
            break
        kept.append("\n".join(line.rstrip() for line in paragraph.split("\n")).strip())
    return "\n".join(part for part in kept if part).strip()


_SENTENCE_MARK = re.compile(r"[。，；！？,;!?]")


def _looks_like_sign_off(paragraph: str) -> bool:
    lines = [line.strip() for line in paragraph.strip().split("\n") if line.strip()]
    return len(lines) <= 4 and all(len(line) <= 24 and not _SENTENCE_MARK.search(line) for line in lines)


def _category(value: str | None, problems: list[str]) -> int | None:
    if not value:
        return None
    match = _CATEGORY.match(value)
    token = match.group("n") if match else ""
    token = token.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    number = int(token) if token.isdigit() else _CHINESE_DIGITS.get(token)
    if number is None or not 1 <= number <= 5:
        problems.append(f"form field 类别 is not a category 1-5: {value[:20]!r}")
        return None
    return number


def merge_forms(first: FormFields, second: FormFields) -> FormFields:
    """Fields from `first`, each missing one filled from `second`."""
    return FormFields(
        media_outlet=first.media_outlet or second.media_outlet,
        reporter_name=first.reporter_name or second.reporter_name,
        phone=first.phone or second.phone,
        customer_number=first.customer_number or second.customer_number,
        complaint_text=first.complaint_text or second.complaint_text,
        category=first.category if first.category is not None else second.category,
    )
