"""Commands in a reply (SPEC §4): the new text of a reply to a case mail → what its sender asks for.

``read_commands(text, tz, now)`` reads the first unquoted lines of ``ParsedMail.text`` (a
``Kind.REPLY``'s own words, see ``parsers.replies``) and returns the commands found there, in
order; a reply without any returns ``()``. Any text gives a value, never an error (the properties
in tests/unit/test_commands.py). It never reads the clock: relative times (``明天18:00``, read by
``parsers.times.read_time``) are resolved against the ``now`` it is given, in the zone ``tz``.

What counts as a command line:

* Only the first ``WINDOW`` non-empty lines are looked at; reading stops earlier at a signature
  (``--``, ``发自我的iPhone``, ``Sent from my iPhone``, ``来自…邮箱``) or at the start of quoted history
  (``-----原始邮件-----`` and other dashed separator lines, ``发件人:``/``From:``, ``… 写道：``,
  ``On … wrote:``, a ``____`` rule). ``>`` lines are skipped. Other lines that are no command
  (a greeting such as ``刘工：``, a sentence) are skipped too, so a command may follow them.
* A command is the **first word of its line**: ``收到，马上处理`` is ACK, ``我们已经收到了`` is nothing.
  Chinese or English (case-insensitive), half- or full-width colons, optional spaces, list
  markers (``1.``, ``-``) and Markdown bold (``**方案**：``, from HTML bodies) allowed.
* A word command (收到, 可处理, 无法处理, 上报综合部, 已解决, 批准, 重大, 非媒体投诉, 成立小组 …) must be the
  whole line or be followed by punctuation (or, for a Chinese word, a space): ``同意发布`` is
  APPROVE, ``同意见`` is not, ``Cannot, not our area`` is CANNOT, ``Cannot reach him`` is not.
  Whatever follows goes to ``Command.text`` (``无法处理，不归我们管`` → text ``不归我们管``).
* A value command (方案：…, 进展：…, 办结：…, 类别：N, 媒体单位：…, 记者：…, 成立小组：…, 口径：…) needs the
  colon. 口径 continues over the following lines up to a blank line or another command; so do
  方案/进展/办结 when nothing follows their colon (``方案：`` with the plan on the next lines).
* ``预计完成：<time>`` (anywhere in the window, or inside the 方案 line) gives the SOLUTION its
  ``expected_at``; an unreadable time leaves ``expected_at`` None and the words stay in the text.
  A 预计完成 line without any 方案 is a SOLUTION with empty text (an updated completion time).
* A salutation before a command on the same line is dropped when it looks like one (``刘工：收到``,
  ``各位领导：批准``, ``您好，收到``, ``Hi Liu: approve``): a title (工/总/经理/主任/部长/老师 …), 各位/尊敬的,
  or a greeting word. A bare name (``张三：收到``) is not taken for a salutation; on its own line
  it is skipped like any other line.

Decisions: ``ok``/``okay`` are ACK (every human reply from a notified person acknowledges anyway,
SPEC decisions), never APPROVE: approving a statement takes 批准/同意/approve. ``好的`` is no command
(the reply still acknowledges). ``类别：7`` is a CATEGORY with ``category`` None and the words in
``text``, so the shell can answer that 1–5 are the categories.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from enum import StrEnum

from parsers.times import SPACES, chinese_number, narrow, read_time

__all__ = ["WINDOW", "Command", "Verb", "read_commands"]

WINDOW = 8  # non-empty lines looked at for commands (a command's continuation lines not counted)


class Verb(StrEnum):
    """What a reply asks complaintd to do (SPEC §3, §4)."""

    ACK = "ack"  # 收到 / 确认 / ack / ok
    LOCAL = "local"  # 可处理: the receiving department can resolve it
    CANNOT = "cannot"  # 无法处理: it cannot
    ESCALATE = "escalate"  # 上报综合部
    SOLUTION = "solution"  # 方案：… (+ 预计完成：…)
    PROGRESS = "progress"  # 进展：…
    RESOLVED = "resolved"  # 办结：… / 已解决
    CATEGORY = "category"  # 类别：N
    MEDIA_OUTLET = "media_outlet"  # 媒体单位：… (correction)
    REPORTER = "reporter"  # 记者：… (correction)
    GROUP = "group"  # 成立小组：网络部、市场部
    STATEMENT = "statement"  # 口径：… (draft of the external statement)
    APPROVE = "approve"  # 批准 / 同意
    MAJOR = "major"  # 重大: major incident
    DISMISS = "dismiss"  # 非媒体投诉


@dataclass(frozen=True)
class Command:
    """One command from a reply; which fields matter depends on the verb."""

    verb: Verb
    text: str = ""  # the words after the command (方案/进展/办结/口径, corrections, a reason)
    expected_at: datetime | None = None  # SOLUTION: from "预计完成：…", aware
    category: int | None = None  # CATEGORY: 1–5, None when the value is no category
    departments: tuple[str, ...] = ()  # GROUP: names as written


def read_commands(text: str, tz: tzinfo, now: datetime) -> tuple[Command, ...]:
    """The commands on the first unquoted lines of a reply's new text; () when there are none."""
    return _read(text or "", tz, now)


# --- lines ------------------------------------------------------------------------------------

# Matched by _stops() against a line without trailing whitespace, hence "$" and no "\s*$": after
# a ".*" that gives characters back one by one, "\s*$" would rescan a run of trailing blanks at
# each of them. Every pattern here must stay linear on a 100 KB line (tests/unit/test_pathological.py).
_STOP = re.compile(
    r"^(?:"
    r"-{2,}|—{1,}|_{5,}|={5,}|\*{5,}|\*(?: \*){2,}"  # signature delimiter, rules (* * * is an <hr>)
    # ----- 原始邮件 -----, -----Original Message-----, ---------- Forwarded message ---------: a line
    # that starts and ends with two dashes. Not "-{2,}.*-{2,}": that tries every split of a long
    # line of dashes between the three quantifiers (cubic: 41 s for 2,000 dashes and a letter).
    r"|--.*--"
    r"|(?:发自|来自|從)我的.*|发送自.*|sent (?:from|with) .*|get outlook for .*|从\s*windows\s*版邮件发送"
    r"|(?:来自|发自)\s*\S{0,10}?(?:邮箱|mail|foxmail)\S{0,6}"
    r"|\**(?:发件人|寄件人|發件人|from)\**\s*[:：].*"
    r"|.*(?:写道|寫道)\s*[:：]|.*\bwrote\s*:"
    r"|begin forwarded message\s*:?|以下[为是]转发的邮件\s*[:：]?"
    r")$",
    re.IGNORECASE,
)
_LIST_MARKER = re.compile(r"^(?:[-*•·●]\s+|[0-9]{1,2}\s*[.、)）]\s*|[(（][0-9]{1,2}[)）]\s*)")
_BOLD = r"(?:\*\*|__)?"


def _aliases(*words: str) -> str:
    return "|".join(sorted((re.escape(word).replace(r"\ ", r"\s+") for word in words), key=len, reverse=True))


_VALUE_WORDS: dict[Verb | None, tuple[str, ...]] = {  # None: 预计完成, which belongs to the SOLUTION
    Verb.SOLUTION: ("方案", "处理方案", "解决方案", "solution"),
    Verb.PROGRESS: ("进展", "处理进展", "最新进展", "进度", "progress"),
    Verb.RESOLVED: ("办结", "已办结", "resolved"),
    Verb.CATEGORY: ("类别", "投诉类别", "分类", "category"),
    Verb.MEDIA_OUTLET: ("媒体单位", "媒体单位名称", "媒体名称", "媒体", "media outlet", "outlet"),
    Verb.REPORTER: ("记者", "记者姓名", "记者/联系人", "reporter", "journalist"),
    Verb.GROUP: ("成立小组", "成立工作组", "小组", "group"),
    Verb.STATEMENT: ("口径", "对外解释口径", "对外口径", "统一口径", "回应口径", "statement"),
    None: ("预计完成", "预计完成时间", "完成时间", "预计", "expected completion", "expected", "eta"),
}
_WORDS: dict[Verb, tuple[str, ...]] = {
    Verb.ACK: ("收到", "已收到", "收到了", "收到啦", "确认", "已确认", "确认收到", "ack", "ok", "okay"),
    Verb.LOCAL: ("可处理", "可以处理", "能处理", "本部门可处理", "local"),
    Verb.CANNOT: ("无法处理", "不能处理", "处理不了", "本部门无法处理", "cannot", "can't"),
    Verb.ESCALATE: ("上报综合部", "上报", "escalate"),
    Verb.RESOLVED: ("已解决", "问题已解决", "已办结", "办结", "resolved"),
    Verb.APPROVE: ("批准", "批准发布", "同意", "同意发布", "approve", "approved"),
    Verb.MAJOR: ("重大", "重大事件", "重大投诉", "重大舆情", "major"),
    Verb.DISMISS: ("非媒体投诉", "不是媒体投诉", "不属于媒体投诉", "dismiss"),
    Verb.GROUP: ("成立小组", "成立工作组"),
}
_VALUE_VERB = {word.lower(): verb for verb, words in _VALUE_WORDS.items() for word in words}
_WORD_VERB = {word.lower(): verb for verb, words in _WORDS.items() for word in words}
_VALUE_LINE = re.compile(
    r"^" + _BOLD + r"(?P<key>" + _aliases(*_VALUE_VERB) + r")" + _BOLD + r"[ \t\u3000]*[:：]" + _BOLD
    + r"[ \t\u3000]*(?P<value>.*)$",
    re.IGNORECASE,
)
_WORD_LINE = re.compile(
    r"^" + _BOLD + r"(?P<key>" + _aliases(*_WORD_VERB) + r")" + _BOLD + r"(?P<rest>.*)$", re.IGNORECASE
)
_ORDINAL_CATEGORY = re.compile(r"^第\s*(?P<n>[0-9０-９]+|[一二三四五六七八九十])\s*类(?P<rest>.*)$")
_SEPARATORS = " \t\u3000\u00a0,，.。!！;；:：、~～-—…"
_TITLES = "工|总|总监|经理|主任|部长|处长|科长|主管|领导|老师|同志|师傅|同事|专员|书记|董事长|局长"
_SALUTATION = re.compile(
    r"^(?:(?:尊敬的)?[^\s:：,，。!！?？]{0,6}(?:" + _TITLES + r")(?:们|好)?"
    r"|尊敬的[^:：,，。!！?？]{1,12}|各位[^:：,，。!！?？]{0,6}|大家好|您好|你好|(?:hi|hello|dear)\b[^:：,，!！]{0,24})"
    r"\s*+(?:[:：]|[,，!！])\s*+(?P<rest>\S.*)$",  # possessive: a blank run is read once per start
    re.IGNORECASE,
)
_CATEGORY_VALUE = re.compile(r"^第?\s*(?P<n>[0-9０-９]+|[一二三四五六七八九十])\s*类?")
_DEPARTMENT_SPLIT = re.compile(r"[、，,;；\s]+")
# "…，预计完成：明天18:00" inside a 方案's text: the label and the rest of its line (see _inline_eta).
_INLINE_ETA = re.compile(
    r"(?<![A-Za-z])(?P<label>" + _aliases(*_VALUE_WORDS[None]) + r")[ \t\u3000]*[:：][ \t\u3000]*(?P<when>[^\n]*)",
    re.IGNORECASE,
)
_ETA_LEAD = ",，;；。."  # and whitespace: what goes with an inline 预计完成 when it is cut off the text
# "预计明天18点前完成". The blank runs are possessive: a plain "\s*(?:…)?\s*" shares a long run of
# blanks out between its two quantifiers in every possible way. So `when` cannot start with a
# blank, which only loses the all-blank `when` of "预计 完成", never a readable time.
_PHRASE_ETA = re.compile(
    r"预计\s*+(?:(?:于|在|将于|将在)\s*+)?(?P<when>[^，,。；;\n]{1,30}?)\s*+(?:之?前\s*+)?"
    r"(?:完成|修复|恢复|解决|处理完毕|处理完|办结)"
)


@dataclass(frozen=True)
class _Found:
    """A command as read from one line, before 预计完成 lines are joined to their SOLUTION."""

    command: Command | None  # None for a 预计完成 line
    line: str  # the line as written (stripped)
    valued: bool = False  # written as "key：value" (only those continue on the next lines)
    when: str = ""  # 预计完成: the time as written
    eta_explicit: bool = False  # SOLUTION: its 方案 line carried "预计完成：…" itself


def _read(text: str, tz: tzinfo, now: datetime) -> tuple[Command, ...]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found: list[_Found] = []
    seen = 0
    index = 0
    while index < len(lines):
        line = lines[index].strip(SPACES)
        index += 1
        if not line:
            continue
        if _stops(line):
            break
        if line.startswith(">"):
            continue
        seen += 1
        if seen > WINDOW:
            break
        item = _line(line, tz, now)
        if item is None:
            continue
        command = item.command
        if command is not None and _continues(command, item.valued):
            more, index = _continuation(lines, index, tz, now, skip_blank=not command.text)
            command = replace(command, text="\n".join(part for part in (command.text, more) if part))
            item = _solution(command, item.line, tz, now) if command.verb is Verb.SOLUTION else replace(item, command=command)
        if item.command is not None and _empty(item.command):
            continue
        found.append(item)
    return _dedupe(_join_times(found, tz, now))


def _stops(line: str) -> bool:
    """True when reading stops at `line`: a signature, a rule, or the start of quoted history."""
    return _STOP.match(line.rstrip()) is not None  # rstrip(): whitespace as "\s" has it (isspace)


def _line(line: str, tz: tzinfo, now: datetime) -> _Found | None:
    """The command a line starts with, also after a salutation (刘工：收到); None if it has none."""
    line = _LIST_MARKER.sub("", line, count=1).strip(SPACES)
    item = _command_at_start(line, tz, now)
    if item is None:
        salutation = _SALUTATION.match(line)
        if salutation is not None:
            item = _command_at_start(salutation.group("rest").strip(SPACES), tz, now)
    return item


def _command_at_start(line: str, tz: tzinfo, now: datetime) -> _Found | None:
    value_line = _VALUE_LINE.match(line)
    if value_line is not None:
        verb = _VALUE_VERB[_collapse(value_line.group("key"))]
        value = value_line.group("value").strip(SPACES)
        if verb is None:
            return _Found(None, line, valued=True, when=value)
        return _value_command(verb, value, line, tz, now)
    ordinal = _ORDINAL_CATEGORY.match(line)
    if ordinal is not None and _ends_word(ordinal.group("rest"), chinese=True):
        return _Found(Command(Verb.CATEGORY, text=line, category=_category_number(ordinal.group("n"))), line)
    word_line = _WORD_LINE.match(line)
    if word_line is not None:
        key = word_line.group("key")
        rest = word_line.group("rest")
        if _ends_word(rest, chinese=not key.isascii()):
            verb = _WORD_VERB[_collapse(key)]
            return _Found(Command(verb, text=rest.lstrip(_SEPARATORS + "*_").rstrip(SPACES)), line)
    return None


def _value_command(verb: Verb, value: str, line: str, tz: tzinfo, now: datetime) -> _Found:
    if verb is Verb.CATEGORY:
        number = _CATEGORY_VALUE.match(narrow(value))
        category = _category_number(number.group("n")) if number else None
        return _Found(Command(verb, text=value, category=category), line, valued=True)
    if verb is Verb.GROUP:
        names = tuple(name.strip("。.") for name in _DEPARTMENT_SPLIT.split(value))
        return _Found(Command(verb, text=value, departments=tuple(name for name in names if name)), line, valued=True)
    if verb is Verb.SOLUTION:
        return _solution(Command(verb, text=value), line, tz, now)
    return _Found(Command(verb, text=value), line, valued=True)


def _solution(command: Command, line: str, tz: tzinfo, now: datetime) -> _Found:
    """A 方案 with its time: "…，预计完成：明天18:00" in the text itself, or "预计明天18点前完成"."""
    inline = _inline_eta(command.text)
    if inline is not None:
        start, when = inline
        expected = read_time(when.strip(SPACES), tz, now)
        text = command.text[:start].strip(SPACES) if expected is not None else command.text
        return _Found(replace(command, text=text, expected_at=expected), line, valued=True, eta_explicit=True)
    for phrase in _PHRASE_ETA.finditer(command.text):
        expected = read_time(phrase.group("when"), tz, now)
        if expected is not None:
            return _Found(replace(command, expected_at=expected), line, valued=True)
    return _Found(command, line, valued=True)


def _inline_eta(text: str) -> tuple[int, str] | None:
    """An inline "预计完成：<time>" on the last line of `text`: where it starts (with the separators
    and blanks before it, which go with it) and the time as written; None without one.

    Each line's first label takes the rest of that line, so finditer reads every character
    once. The separators are walked back here: as a leading class in the pattern (blanks and
    ",，;；。."), they would make a search restart at each character of a long run of them
    (quadratic).
    """
    for match in _INLINE_ETA.finditer(text):
        if match.end() >= len(text) - 1:  # the last line (a final newline may follow, as "$" allowed)
            start = match.start()
            while start > 0 and (text[start - 1].isspace() or text[start - 1] in _ETA_LEAD):
                start -= 1
            return start, match.group("when")
    return None


def _continues(command: Command, valued: bool) -> bool:
    """口径 goes on over the next lines; 方案/进展/办结 too when nothing follows their colon."""
    if not valued:
        return False
    return command.verb is Verb.STATEMENT or (
        command.verb in (Verb.SOLUTION, Verb.PROGRESS, Verb.RESOLVED) and not command.text
    )


def _continuation(lines: list[str], index: int, tz: tzinfo, now: datetime, skip_blank: bool) -> tuple[str, int]:
    """The lines that carry on a command's text: up to a blank line, a quote, a signature or another command.

    With `skip_blank` (nothing after the colon), blank lines before the text are passed over.
    """
    kept: list[str] = []
    while index < len(lines):
        line = lines[index].strip(SPACES)
        if not line and skip_blank and not kept:
            index += 1
            continue
        if not line or _stops(line) or line.startswith(">") or _line(line, tz, now) is not None:
            break
        kept.append(line)
        index += 1
    return "\n".join(kept), index


def _empty(command: Command) -> bool:
    """A value command with nothing after its colon says nothing (办结 and 成立小组 need no value)."""
    needs_value = (Verb.SOLUTION, Verb.PROGRESS, Verb.STATEMENT, Verb.MEDIA_OUTLET, Verb.REPORTER, Verb.CATEGORY)
    return command.verb in needs_value and not command.text and command.expected_at is None


def _join_times(found: list[_Found], tz: tzinfo, now: datetime) -> list[Command]:
    """Give each 预计完成 line to a SOLUTION that has no time of its own; one without a 方案 is a SOLUTION too."""
    commands: list[Command | None] = [item.command for item in found]
    open_solutions = [i for i, item in enumerate(found) if item.command is not None
                      and item.command.verb is Verb.SOLUTION and not item.eta_explicit]
    for position, item in enumerate(found):
        if item.command is not None:
            continue
        expected = read_time(item.when, tz, now)
        if open_solutions:
            target = open_solutions.pop(0)
            solution = commands[target]
            assert solution is not None
            text = solution.text if expected is not None else "\n".join(p for p in (solution.text, item.line) if p)
            commands[target] = replace(solution, text=text, expected_at=expected or solution.expected_at)
        elif item.when:
            commands[position] = Command(Verb.SOLUTION, text="" if expected is not None else item.line,
                                         expected_at=expected)
    return [command for command in commands if command is not None]


def _dedupe(commands: list[Command]) -> tuple[Command, ...]:
    return tuple(dict.fromkeys(commands))


def _ends_word(rest: str, chinese: bool) -> bool:
    """After a command word: nothing, punctuation, or (after a Chinese word) a space."""
    if not rest.strip(SPACES):
        return True
    if chinese and rest[0] in SPACES:
        return True
    first = rest.lstrip(SPACES)[0]
    return first in _SEPARATORS or first in "*_)）】]"


def _collapse(key: str) -> str:
    return re.sub(r"\s+", " ", key).lower()


def _category_number(token: str) -> int | None:
    token = narrow(token)
    number = int(token) if token.isascii() and token.isdigit() else chinese_number(token)
    return number if number is not None and 1 <= number <= 5 else None
