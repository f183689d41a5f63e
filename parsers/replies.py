"""A reply's own words: what its sender typed, without the quoted history below (or above) it.

``parse()`` gives a ``Kind.REPLY`` this text as ``ParsedMail.text``; ``parsers.commands`` reads the
commands in its first lines. Most clients put the answer on top (Outlook, Foxmail, QQ Mail,
Coremail, Gmail, phones): the text above the first quoted-history marker is the answer. A sender
who answers *below* a quoted history (Thunderbird and mutt with '>', s-nail and mailx with a
tab under "… wrote:", or Outlook set to prefix each line) leaves nothing above it: then the
answer is the unquoted lines, without the attribution lines ("在 … 写道：", "On … wrote:").
"""

from __future__ import annotations

import re

from parsers.complaint import strip_signature
from parsers.forwarded import attribution_spans, strip_quoted

# A quoted line: '>'-prefixed (most clients), or tab-indented — mailx and s-nail quote with
# their indentprefix, a tab, under an "… wrote:" line. Only used below an attribution line
# (_unquoted), where an indented line is the history, not the sender's own layout.
_QUOTED_LINE = re.compile(r"^(?:\t|[ \t]*+>).*(?:\n|$)", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
# The rule an HTML reply draws above the quoted mail (<hr>, which html2text writes "* * *"), as
# a whole line (trailing whitespace already stripped); see _without_trailing_rules().
_RULE_LINE = re.compile(r"[ \t]*+(?:\* \* \*|[-_*=]{3,})")


def new_text(body: str) -> str:
    """The sender's own words in a reply body: above the quoted history, else below a '>'-quoted one."""
    own = strip_signature(strip_quoted(body))
    if _opens_with_quote(own):
        own = _unquoted(body) or own
    return _without_trailing_rules(own)


def _without_trailing_rules(text: str) -> str:
    """`text` without the rule lines (and blank lines) at its end; the first line is never one.

    Read from the end, a line at a time, by position (no copy per line). A single pattern,
    "(?:\\s*\\n[ \\t]*(?:\\* \\* \\*|[-_*=]{3,})[ \\t]*)+\\s*$", would be searched from every
    position and read a long run of blank lines or rules again from each (quadratic).
    """
    end = _before_blanks(text, len(text))
    cut = False
    while (line_start := text.rfind("\n", 0, end) + 1) > 0 and _RULE_LINE.fullmatch(text, line_start, end):
        end, cut = _before_blanks(text, line_start - 1), True  # the newline before the rule goes too
    return text[:end] if cut else text


def _before_blanks(text: str, end: int) -> int:
    """Where the whitespace (str.isspace, as "\\s") that ends text[:end] begins."""
    while end > 0 and text[end - 1].isspace():
        end -= 1
    return end


def _opens_with_quote(text: str) -> bool:
    start = len(text) - len(text.lstrip())
    if text[start:start + 1] == ">":
        return True
    spans = attribution_spans(text)
    return bool(spans) and spans[0][0] <= start < spans[0][1]


def _unquoted(text: str) -> str:
    """The lines of `text` that are neither '>'-quoted nor an attribution line."""
    text = _without_spans(text, attribution_spans(text))
    text = _QUOTED_LINE.sub("", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return strip_signature(strip_quoted(text.strip()))


def _without_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` without the (sorted) spans, joined once: cutting them out one by one copied the
    rest of a long text for every attribution line (quadratic on thousands of them). Spans that
    overlap (a line both "…写道：" and the start of a two-line "On … wrote:") go as one; cut one
    by one, the second cut fell on shifted text and took characters after them."""
    kept: list[str] = []
    position = 0
    for begin, end in spans:
        kept.append(text[position:max(position, begin)])
        position = max(position, end)
    kept.append(text[position:])
    return "".join(kept)
