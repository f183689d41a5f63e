"""A reply's own words: what its sender typed, without the quoted history below (or above) it.

``parse()`` gives a ``Kind.REPLY`` this text as ``ParsedMail.text``; ``parsers.commands`` reads the
commands in its first lines. Most clients put the answer on top (Outlook, Foxmail, QQ Mail,
Coremail, Gmail, phones): the text above the first quoted-history marker is the answer. A sender
who answers *below* a '>'-quoted history (Thunderbird and mutt habits, or Outlook set to prefix
each line) leaves nothing above it: then the answer is the unquoted lines, without the
attribution lines ("在 … 写道：", "On … wrote:").
"""

from __future__ import annotations

import re

from parsers.complaint import strip_signature
from parsers.forwarded import attribution_spans, strip_quoted

_QUOTED_LINE = re.compile(r"^[ \t]*>.*(?:\n|$)", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
# The rule an HTML reply draws above the quoted mail (<hr>, which html2text writes "* * *").
_TRAILING_RULE = re.compile(r"(?:\s*\n[ \t]*(?:\* \* \*|[-_*=]{3,})[ \t]*)+\s*$")


def new_text(body: str) -> str:
    """The sender's own words in a reply body: above the quoted history, else below a '>'-quoted one."""
    own = strip_signature(strip_quoted(body))
    if _opens_with_quote(own):
        own = _unquoted(body) or own
    return _TRAILING_RULE.sub("", own)


def _opens_with_quote(text: str) -> bool:
    start = len(text) - len(text.lstrip())
    if text[start:start + 1] == ">":
        return True
    spans = attribution_spans(text)
    return bool(spans) and spans[0][0] <= start < spans[0][1]


def _unquoted(text: str) -> str:
    """The lines of `text` that are neither '>'-quoted nor an attribution line."""
    for begin, end in reversed(attribution_spans(text)):
        text = text[:begin] + text[end:]
    text = _QUOTED_LINE.sub("", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return strip_signature(strip_quoted(text.strip()))
