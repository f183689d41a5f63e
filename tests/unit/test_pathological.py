"""Hostile mail text (issue 10, item 5): one body line of 100 KB of blanks, dashes, quote marks…
must neither stall the daemon nor change what a person sees of the mail.

Before the patterns in parsers/ were made linear, one such line cost minutes to hours (a line of
spaces in an outsider's mail 265 s, 5,000 dashes and a letter in a reply over 10 minutes). Each
test here carries ``@pytest.mark.timeout(20)``: a guard against a hang, not a speed limit, so
that a super-linear pattern coming back fails the suite instead of stalling it.
bench/pathological.py measures the times.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from parsers import Kind, ParseContext, ParsedMail, parse
from parsers.commands import Command, Verb, read_commands
from parsers.replies import new_text
from tests.support.hostile import SHAPES

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 10, 20, tzinfo=SHANGHAI)
CTX = ParseContext(SHANGHAI, "MT", frozenset({"complaints@corp.example.com"}), "complaintd.corp.example.com")
OUR_ID = "<MT-20261127-0001.ack.0.0123456789abcdef@complaintd.corp.example.com>"
JOURNALIST = "li.reporter@jcwb.example.cn"
SIZE = 100_000  # characters of the hostile line
ROOM = 2_000  # left for what follows the line: parse() keeps the first 100,000 characters of a body
ACK = Command(Verb.ACK)


ONE_LINE = [name for name, shape in SHAPES.items() if "\n" not in shape(20)]
# Lines at which a reply's commands stop being read (SPEC §4, parsers/commands.py): a signature
# or a rule of dashes, stars or "=", or the "From:" that starts quoted history.
STOPS_READING = {"dashes", "stars", "equals", "rule-lines", "from-lines"}


def _raw(headers: list[str], body: str) -> bytes:
    head = "\r\n".join([*headers, "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                        "Content-Transfer-Encoding: 8bit"])
    return head.encode() + b"\r\n\r\n" + body.encode("utf-8")


def _forward(body: str, subject: str = "转发: 小区手机没有信号") -> ParsedMail:
    return parse(_raw(["From: 孙工 <sun@corp.example.com>", "To: complaints@corp.example.com",
                       f"Subject: {subject}", "Date: Fri, 27 Nov 2026 10:20:00 +0800",
                       "Message-ID: <fwd-1@corp.example.com>"], body), CTX)


def _direct(body: str) -> ParsedMail:
    return parse(_raw(["From: 李记者 <li.reporter@jcwb.example.cn>", "To: complaints@corp.example.com",
                       "Subject: 小区手机没有信号", "Date: Fri, 27 Nov 2026 10:20:00 +0800",
                       "Message-ID: <direct-1@jcwb.example.cn>"], body), CTX)


def _reply(body: str) -> ParsedMail:
    return parse(_raw(["From: 孙工 <sun@corp.example.com>", "To: complaints@corp.example.com",
                       "Subject: 回复: [MT-20261127-0001] 小区手机没有信号", "Date: Fri, 27 Nov 2026 10:25:00 +0800",
                       "Message-ID: <reply-1@corp.example.com>", f"In-Reply-To: {OUR_ID}",
                       f"References: {OUR_ID}"], body), CTX)


def _block(sender: str = f"李记者 <{JOURNALIST}>", sent: str = "2026年11月27日 10:15",
           subject: str = "小区手机没有信号") -> str:
    return (f"-----Original Message-----\nFrom: {sender}\nSent: {sent}\nTo: kefu@corp.example.com\n"
            f"Subject: {subject}\n\n")


def _commands(text: str) -> tuple[Command, ...]:
    return read_commands(text, SHANGHAI, NOW)


def _line(shape: str, room: int = ROOM) -> str:
    return SHAPES[shape](SIZE - room)


# --- forwarded complaints ---------------------------------------------------------------------

FORWARD_PLACES: dict[str, Callable[[str], str]] = {
    "the forwarder's note": lambda line: line + "\n\n" + _block() + "小区三天没有信号。\n",
    "the original's body": lambda line: "请处理。\n\n" + _block() + line + "\n",
    "the Sent: value": lambda line: _block(sent=line) + "小区三天没有信号。\n",
    "the Subject: value": lambda line: _block(subject=line) + "小区三天没有信号。\n",
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("place", FORWARD_PLACES)
@pytest.mark.parametrize("shape", SHAPES)
def test_a_forward_with_a_hostile_line_is_registered_with_its_original_sender(shape: str, place: str) -> None:
    """Wherever the line is, short of replacing the sender, the journalist is still the original's author."""
    parsed = _forward(FORWARD_PLACES[place](_line(shape)))
    assert parsed.kind is Kind.COMPLAINT, parsed.reason
    assert parsed.forwarded and parsed.original is not None
    if (shape, place) == ("from-lines", "the forwarder's note"):
        # Thousands of "From:" lines above the block: the search for it gives up after 200
        # candidate lines (forwarded._MAX_CANDIDATES), and the subject says "forward".
        assert parsed.original.sender is None and parsed.original.subject == "小区手机没有信号"
        return
    assert parsed.original.sender is not None and parsed.original.sender.email == JOURNALIST


@pytest.mark.timeout(20)
@pytest.mark.parametrize("shape", SHAPES)
def test_a_forward_with_a_hostile_line_right_under_the_separator_or_as_sender_is_still_a_forward(shape: str) -> None:
    """The line may break the header block (then the sender is unknown), never the mail."""
    separator, header_lines = _block().split("\n", 1)
    under_separator = separator + "\n" + _line(shape) + "\n" + header_lines + "小区三天没有信号。\n"
    for body in (under_separator, _block(sender=_line(shape)) + "小区三天没有信号。\n"):
        parsed = _forward(body)
        assert parsed.kind is Kind.COMPLAINT, parsed.reason
        assert parsed.forwarded


@pytest.mark.timeout(20)
@pytest.mark.parametrize("shape", SHAPES)
def test_a_forward_by_subject_only_keeps_its_hostile_body_as_the_complaint(shape: str) -> None:
    """No header block: email-forward-parser reads the head of the text, the text is kept (up to
    quoted history: '>' lines and "… wrote:" attributions; "From:" lines email-forward-parser
    takes for a header block)."""
    parsed = _forward("请处理：\n" + _line(shape) + "\n小区三天没有信号。", subject="Fw: 小区手机没有信号")
    assert parsed.kind is Kind.COMPLAINT, parsed.reason
    assert parsed.forwarded and parsed.original is not None
    assert parsed.original.subject == "小区手机没有信号"
    if shape not in ("gt", "gt-space", "from-lines", "wrote-lines"):
        assert parsed.text.startswith("请处理") and parsed.text.endswith("小区三天没有信号。")


@pytest.mark.timeout(20)
def test_a_forward_by_subject_of_words_between_thousands_of_blank_lines_is_kept_whole() -> None:
    """email-forward-parser took 22 s on "x", 10,000 newlines and "y"; it now reads only the head."""
    parsed = _forward("x" + "\n" * (SIZE - 2) + "y", subject="Fw: 小区手机没有信号")
    assert parsed.kind is Kind.COMPLAINT and parsed.forwarded
    assert parsed.text.startswith("x") and parsed.text.endswith("y")


@pytest.mark.timeout(20)
def test_a_western_forward_longer_than_what_email_forward_parser_reads_keeps_all_of_its_body() -> None:
    """The original's body goes on past the head that email-forward-parser is given."""
    body = ("Vedi sotto.\n\n"
            "Da: Mario Rossi <mario.rossi@giornale.example.it>\n"
            "Inviato: venerdì 27 novembre 2026 10:15\n"
            "A: kefu@corp.example.com\n"
            "Oggetto: Segnale assente\n\n"
            "Buongiorno,\n" + "il segnale manca da tre giorni nel nostro quartiere.\n" * 150
            + "Cordiali saluti, FINE\n")
    parsed = _forward(body, subject="I: Segnale assente")
    assert parsed.kind is Kind.COMPLAINT and parsed.forwarded
    assert parsed.original is not None and parsed.original.sender is not None
    assert parsed.original.sender.email == "mario.rossi@giornale.example.it"
    assert parsed.text.startswith("Buongiorno,") and parsed.text.endswith("Cordiali saluti, FINE")
    assert parsed.text.count("il segnale manca") == 150


# --- direct complaints ------------------------------------------------------------------------

@pytest.mark.timeout(20)
@pytest.mark.parametrize("shape", SHAPES)
def test_an_outsiders_mail_of_one_hostile_line_is_a_direct_complaint(shape: str) -> None:
    parsed = _direct(_line(shape, room=0) + "x")  # x: a body of blanks alone would be empty
    assert parsed.kind is Kind.COMPLAINT, parsed.reason
    assert not parsed.forwarded and parsed.original is None
    assert parsed.sender is not None and parsed.sender.email == JOURNALIST


@pytest.mark.timeout(20)
@pytest.mark.parametrize("shape", SHAPES)
def test_form_lines_after_a_hostile_line_are_still_read(shape: str) -> None:
    parsed = _direct(_line(shape) + "\n媒体单位：江城晚报\n记者：李记者\n投诉内容：小区三天没有信号\n")
    assert parsed.kind is Kind.COMPLAINT, parsed.reason
    assert parsed.form.media_outlet == "江城晚报"
    assert parsed.form.reporter_name == "李记者"
    assert parsed.form.complaint_text == "小区三天没有信号"


@pytest.mark.timeout(20)
@pytest.mark.parametrize("shape", ONE_LINE)
def test_a_hostile_form_value_is_kept_as_typed(shape: str) -> None:
    """The value of a form line is what follows the colon, without the blanks at its end."""
    parsed = _direct("媒体单位：江城晚报" + _line(shape) + "\n投诉内容：小区三天没有信号\n")
    assert parsed.kind is Kind.COMPLAINT, parsed.reason
    assert parsed.form.media_outlet == ("江城晚报" + _line(shape)).rstrip(" \t|")
    assert parsed.form.complaint_text == "小区三天没有信号"


# --- replies ----------------------------------------------------------------------------------

@pytest.mark.timeout(20)
@pytest.mark.parametrize("shape", SHAPES)
def test_a_command_after_a_hostile_line_is_read_unless_the_line_ends_reading(shape: str) -> None:
    """Lines that are no command are passed over (a command may follow them); a rule or the
    start of quoted history ends reading."""
    body = _line(shape) + "\n收到\n"
    parsed = _reply(body)
    assert parsed.kind is Kind.REPLY and parsed.case_tag == "MT-20261127-0001"
    expected = () if shape in STOPS_READING else (ACK,)
    assert _commands(parsed.text) == expected
    assert _commands(new_text(body)) == expected


@pytest.mark.timeout(20)
@pytest.mark.parametrize("shape", ONE_LINE)
def test_a_reply_of_one_hostile_line_without_a_newline_is_a_reply_without_commands(shape: str) -> None:
    body = _line(shape, room=0)
    parsed = _reply(body)
    assert parsed.kind is Kind.REPLY and parsed.case_tag == "MT-20261127-0001"
    assert _commands(parsed.text) == ()
    assert _commands(body) == ()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("shape", ONE_LINE)
def test_a_command_at_the_start_of_a_hostile_first_line_is_read(shape: str) -> None:
    """收到，<100 KB> on one line, no newline: ACK, whatever follows it."""
    body = "收到，" + _line(shape)
    parsed = _reply(body)
    assert parsed.kind is Kind.REPLY
    assert [command.verb for command in _commands(parsed.text)] == [Verb.ACK]
    assert [command.verb for command in _commands(body)] == [Verb.ACK]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("shape", ONE_LINE)
def test_a_solution_with_a_hostile_text_is_read_as_written(shape: str) -> None:
    """方案：<100 KB>: a SOLUTION with that text (nothing, for a line of blanks), no time."""
    line = _line(shape)
    found = _commands("方案：修复" + line)
    assert found == (Command(Verb.SOLUTION, ("修复" + line).strip(" \t\u3000")),)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("separators", ["。", ".", " ", "，"])
def test_an_inline_completion_time_after_a_long_run_of_separators_is_read(separators: str) -> None:
    """方案：修复光缆。。。…预计完成：明天18:00: the separators go with the time, the time is read."""
    found = _commands("方案：修复光缆" + separators * (SIZE - ROOM) + "预计完成：明天18:00")
    assert found == (Command(Verb.SOLUTION, "修复光缆", expected_at=datetime(2026, 11, 28, 18, 0, tzinfo=SHANGHAI)),)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("shape", ONE_LINE)
def test_a_hostile_completion_time_is_no_time(shape: str) -> None:
    """预计完成：<100 KB>: a SOLUTION whose time could not be read, the words kept."""
    found = _commands("方案：修复光缆\n预计完成：" + _line(shape))
    assert len(found) == 1 and found[0].verb is Verb.SOLUTION and found[0].expected_at is None


@pytest.mark.timeout(20)
def test_a_completion_time_followed_by_blanks_is_still_read() -> None:
    found = _commands("方案：修复光缆\n预计完成：明天18:00" + " " * (SIZE - ROOM) + "前")
    assert found == (Command(Verb.SOLUTION, "修复光缆", expected_at=NOW.replace(hour=18, minute=0) + timedelta(days=1)),)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("unit", ["<a", "<style", "<", "<a<b"])
def test_an_html_only_complaint_ending_in_an_unclosed_tail_is_read(unit: str) -> None:
    """190 KB of tag openings after the last ">" took Python's HTML parser (under html2text)
    about 40 s; the tail is now text, and the complaint before it is read."""
    body = "<html><body><p>光谷小区已经三天没有手机信号。</p>" + unit * (190_000 // len(unit))
    raw = ("From: 李记者 <li.reporter@jcwb.example.cn>\r\nTo: complaints@corp.example.com\r\n"
           "Subject: complaint\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + body).encode()
    mail = parse(raw, CTX)
    assert mail.kind is Kind.COMPLAINT and "光谷小区已经三天没有手机信号" in mail.text
