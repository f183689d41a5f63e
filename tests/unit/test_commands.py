"""Reply commands (SPEC §4): parsers.commands.read_commands on typed lines, on whole replies as the
common clients write them, and on the real Chinese replies of the shared corpus."""

from __future__ import annotations

import base64
import os
import quopri
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from email.header import Header
from email.utils import formataddr
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import Kind, ParseContext, complaint, mime, parse
from parsers.commands import WINDOW, Command, Verb, read_commands
from parsers.replies import new_text

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 10, 20, tzinfo=SHANGHAI)  # a Friday
CTX = ParseContext(SHANGHAI, "MT", frozenset({"complaints@corp.example.com"}), "complaintd.corp.example.com")
CORPUS = Path(os.environ.get("COMPLAINTD_CORPUS") or Path(__file__).resolve().parents[3] / "shared" / "corpus")


def at(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def read(text: str) -> tuple[Command, ...]:
    return read_commands(text, SHANGHAI, NOW)


# --- one line, one command ----------------------------------------------------------------------

ACK, LOCAL, CANNOT, ESCALATE = Command(Verb.ACK), Command(Verb.LOCAL), Command(Verb.CANNOT), Command(Verb.ESCALATE)
APPROVE, MAJOR, DISMISS, RESOLVED = Command(Verb.APPROVE), Command(Verb.MAJOR), Command(Verb.DISMISS), Command(Verb.RESOLVED)

LINES = [
    # reply text, the commands read from it
    ("收到", (ACK,)),
    ("确认", (ACK,)),
    ("ack", (ACK,)),
    ("ACK", (ACK,)),
    ("OK", (ACK,)),
    ("ok.", (ACK,)),
    ("Okay!", (ACK,)),
    ("  收到  ", (ACK,)),
    ("\u3000收到！", (ACK,)),
    ("已收到", (ACK,)),
    ("收到，马上处理", (Command(Verb.ACK, "马上处理"),)),
    ("收到 马上处理", (Command(Verb.ACK, "马上处理"),)),
    ("可处理", (LOCAL,)),
    ("Local", (LOCAL,)),
    ("可处理，预计今天下午修复。", (Command(Verb.LOCAL, "预计今天下午修复。"),)),
    ("无法处理", (CANNOT,)),
    ("无法处理：该小区不归本部门维护", (Command(Verb.CANNOT, "该小区不归本部门维护"),)),
    ("cannot", (CANNOT,)),
    ("CANNOT, not our area", (Command(Verb.CANNOT, "not our area"),)),
    ("上报综合部", (ESCALATE,)),
    ("escalate", (ESCALATE,)),
    ("Escalate.", (ESCALATE,)),
    ("方案：今晚派工程师更换光缆", (Command(Verb.SOLUTION, "今晚派工程师更换光缆"),)),
    ("方案:今晚派工程师更换光缆", (Command(Verb.SOLUTION, "今晚派工程师更换光缆"),)),
    ("方案 ： 今晚派工程师更换光缆 ", (Command(Verb.SOLUTION, "今晚派工程师更换光缆"),)),
    ("Solution: replace the cable tonight", (Command(Verb.SOLUTION, "replace the cable tonight"),)),
    ("进展：已定位故障点，正在抢修", (Command(Verb.PROGRESS, "已定位故障点，正在抢修"),)),
    ("PROGRESS: fault located", (Command(Verb.PROGRESS, "fault located"),)),
    ("办结：光缆已更换，业务恢复", (Command(Verb.RESOLVED, "光缆已更换，业务恢复"),)),
    ("办结", (RESOLVED,)),
    ("已解决", (RESOLVED,)),
    ("resolved", (RESOLVED,)),
    ("Resolved: service restored", (Command(Verb.RESOLVED, "service restored"),)),
    ("类别：3", (Command(Verb.CATEGORY, "3", category=3),)),
    ("类别:３", (Command(Verb.CATEGORY, "３", category=3),)),
    ("类别：第二类", (Command(Verb.CATEGORY, "第二类", category=2),)),
    ("第3类", (Command(Verb.CATEGORY, "第3类", category=3),)),
    ("第５类", (Command(Verb.CATEGORY, "第５类", category=5),)),
    ("Category: 4", (Command(Verb.CATEGORY, "4", category=4),)),
    ("类别：7", (Command(Verb.CATEGORY, "7", category=None),)),  # no category: the shell says 1-5
    ("媒体单位：江城晚报", (Command(Verb.MEDIA_OUTLET, "江城晚报"),)),
    ("媒体单位: 江城都市报 ", (Command(Verb.MEDIA_OUTLET, "江城都市报"),)),
    ("outlet: Jiangcheng Evening News", (Command(Verb.MEDIA_OUTLET, "Jiangcheng Evening News"),)),
    ("记者：李明", (Command(Verb.REPORTER, "李明"),)),
    ("记者/联系人：李明", (Command(Verb.REPORTER, "李明"),)),
    ("Reporter: Li Ming", (Command(Verb.REPORTER, "Li Ming"),)),
    ("成立小组：网络部、市场部", (Command(Verb.GROUP, "网络部、市场部", departments=("网络部", "市场部")),)),
    ("成立小组：网络部，市场部, 客户服务中心;法律事务部 工会",
     (Command(Verb.GROUP, "网络部，市场部, 客户服务中心;法律事务部 工会",
              departments=("网络部", "市场部", "客户服务中心", "法律事务部", "工会")),)),
    ("成立小组", (Command(Verb.GROUP),)),
    ("group: 网络部、市场部", (Command(Verb.GROUP, "网络部、市场部", departments=("网络部", "市场部")),)),
    ("口径：我公司已于今日修复故障。", (Command(Verb.STATEMENT, "我公司已于今日修复故障。"),)),
    ("statement: We fixed it today.", (Command(Verb.STATEMENT, "We fixed it today."),)),
    ("批准", (APPROVE,)),
    ("同意", (APPROVE,)),
    ("同意发布", (APPROVE,)),
    ("approve", (APPROVE,)),
    ("Approved!", (APPROVE,)),
    ("重大", (MAJOR,)),
    ("MAJOR", (MAJOR,)),
    ("非媒体投诉", (DISMISS,)),
    ("非媒体投诉，是广告邮件", (Command(Verb.DISMISS, "是广告邮件"),)),
    ("dismiss", (DISMISS,)),
    # markup and list markers that HTML bodies and careful writers add
    ("**方案**：更换光缆", (Command(Verb.SOLUTION, "更换光缆"),)),
    ("1. 可处理", (LOCAL,)),
    ("- 收到", (ACK,)),
    # a greeting line before the command, or a salutation in front of it
    ("刘工：\n可处理", (LOCAL,)),
    ("刘工：\n\n方案：今晚抢修", (Command(Verb.SOLUTION, "今晚抢修"),)),
    ("您好！\n收到", (ACK,)),
    ("刘工：收到", (ACK,)),
    ("各位领导：批准", (APPROVE,)),
    ("张总，同意发布", (APPROVE,)),
    ("您好，收到", (ACK,)),
    ("Hi Liu, approve", (APPROVE,)),
    # several commands, in order
    ("收到\n可处理", (ACK, LOCAL)),
    ("类别：2\n媒体单位：江城晚报\n记者：李明",
     (Command(Verb.CATEGORY, "2", category=2), Command(Verb.MEDIA_OUTLET, "江城晚报"), Command(Verb.REPORTER, "李明"))),
    ("收到\n收到", (ACK,)),
    # no command
    ("", ()),
    ("谢谢", ()),
    ("好的", ()),
    ("ok thanks", ()),
    ("我们已经收到了，正在看。", ()),
    ("这个问题我们无法处理", ()),
    ("Cannot reach him today", ()),
    ("Local team is on it", ()),
    ("同意见", ()),
    ("确认一下是哪个小区？", ()),
    ("重大问题需要开会讨论", ()),
    ("张三：收到", ()),  # a bare name is no salutation
    ("方案：", ()),
    ("媒体单位：", ()),
]


@pytest.mark.parametrize(("text", "expected"), LINES, ids=[repr(text)[:40] for text, _ in LINES])
def test_command_lines(text: str, expected: tuple[Command, ...]) -> None:
    """Each command word in Chinese and English, widths, spaces, case, salutations; non-commands give ()."""
    assert read(text) == expected


STATEMENTS = [
    ("口径：\n我公司高度重视。\n故障已于今日修复。\n\n孙明", "我公司高度重视。\n故障已于今日修复。"),
    ("口径：我公司高度重视，\n故障已于今日修复。\n批准", "我公司高度重视，\n故障已于今日修复。"),
    ("口径：一句话。\n\n另：请尽快发布", "一句话。"),
    ("口径：一句话。\n-- \n孙明", "一句话。"),
    ("口径：\n\n我公司高度重视。\n故障已修复。\n\n孙明", "我公司高度重视。\n故障已修复。"),
]


@pytest.mark.parametrize(("text", "statement"), STATEMENTS)
def test_statement_continues_to_a_blank_line_or_another_command(text: str, statement: str) -> None:
    """口径 takes the following lines up to a blank line, another command or a signature."""
    assert read(text)[0] == Command(Verb.STATEMENT, statement)


def test_statement_followed_by_approval_gives_both() -> None:
    """A command after a multi-line 口径 is read as a command, not as statement text."""
    assert read("口径：第一句。\n第二句。\n批准") == (Command(Verb.STATEMENT, "第一句。\n第二句。"), APPROVE)


def test_solution_on_the_lines_after_its_colon() -> None:
    """方案 with nothing after its colon takes the next lines, and 预计完成 still ends it."""
    text = "方案：\n1. 今晚派人检修\n2. 明早复测\n预计完成：明天18:00"
    assert read(text) == (Command(Verb.SOLUTION, "1. 今晚派人检修\n2. 明早复测", expected_at=at(28, 18)),)


# --- 预计完成 ---------------------------------------------------------------------------------------

TIMES = [
    ("明天18:00", at(28, 18)),
    ("明天18：00", at(28, 18)),
    ("明天１８：００", at(28, 18)),
    ("今天 18:00", at(27, 18)),
    ("今天下午3点半", at(27, 15, 30)),
    ("后天上午10点", at(29, 10)),
    ("今晚8点", at(27, 20)),
    ("明早9点", at(28, 9)),
    ("明天中午12点", at(28, 12)),
    ("明天晚上十点", at(28, 22)),
    ("11月28日18:00", at(28, 18)),
    ("11月28日 下午6点", at(28, 18)),
    ("11月28号晚上8点前", at(28, 20)),
    ("11月28日（周六）18:00", at(28, 18)),
    ("12月1日", at(1, 23, 59, month=12)),
    ("1月2日 9:00", at(2, 9, year=2027, month=1)),  # more than half a year past: next year
    ("2026-11-28 18:00", at(28, 18)),
    ("2026/11/28 18:00", at(28, 18)),
    ("2026年11月28日 18:00", at(28, 18)),
    ("2026-11-28T18:00:00+08:00", at(28, 18)),
    ("2026-11-28T10:00:00Z", at(28, 18)),
    ("2026-11-28", at(28, 23, 59)),
    ("明天", at(28, 23, 59)),
    ("明天18:00前完成", at(28, 18)),
    ("18:00", at(27, 18)),
    ("9:00", at(28, 9)),  # already past today: tomorrow
    ("下午6点", at(27, 18)),
    ("周六上午", at(28, 12)),
    ("下周一上午10点", at(30, 10)),
    ("2小时内", at(27, 12, 20)),
    ("半小时内", at(27, 10, 50)),
    ("3天内", at(30, 10, 20)),
    ("tomorrow 6pm", at(28, 18)),
    ("tomorrow at 18:00", at(28, 18)),
    ("today 6 p.m.", at(27, 18)),
    ("within 4 hours", at(27, 14, 20)),
]


@pytest.mark.parametrize(("when", "expected"), TIMES)
def test_expected_completion_forms(when: str, expected: datetime) -> None:
    """预计完成 on its own line gives the SOLUTION an aware time in Asia/Shanghai, relative to now."""
    (solution,) = read(f"方案：今晚派工程师更换光缆\n预计完成：{when}")
    assert solution == Command(Verb.SOLUTION, "今晚派工程师更换光缆", expected_at=expected)
    assert solution.expected_at is not None and solution.expected_at.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("方案：今晚更换光缆，预计完成：明天18:00", Command(Verb.SOLUTION, "今晚更换光缆", expected_at=at(28, 18))),
        ("方案：今晚更换光缆 预计完成时间：11月28日 下午6点", Command(Verb.SOLUTION, "今晚更换光缆", expected_at=at(28, 18))),
        ("方案：今晚更换光缆，预计明天18点前完成",
         Command(Verb.SOLUTION, "今晚更换光缆，预计明天18点前完成", expected_at=at(28, 18))),
        ("预计完成：明天18:00\n方案：今晚更换光缆", Command(Verb.SOLUTION, "今晚更换光缆", expected_at=at(28, 18))),
        ("Solution: new cable tonight\nExpected: tomorrow 6pm", Command(Verb.SOLUTION, "new cable tonight", expected_at=at(28, 18))),
        ("预计完成：明天18:00", Command(Verb.SOLUTION, "", expected_at=at(28, 18))),
    ],
)
def test_expected_completion_inline_before_or_alone(text: str, expected: Command) -> None:
    """预计完成 inside the 方案 line, before it, in English, or alone (an updated time) all count."""
    assert read(text) == (expected,)


@pytest.mark.parametrize("when", ["尽快", "等厂家到货后", "月底前视情况", "明天或后天", "2月30日 10:00", "25:00"])
def test_unreadable_completion_time_keeps_the_words(when: str) -> None:
    """An unreadable 预计完成 gives expected_at None, and the SOLUTION text keeps what was written."""
    (solution,) = read(f"方案：更换光缆\n预计完成：{when}")
    assert solution.expected_at is None
    assert solution.text == f"更换光缆\n预计完成：{when}"


# --- where commands are read --------------------------------------------------------------------

@pytest.mark.parametrize(
    "signature",
    ["--", "-- ", "发自我的iPhone", "Sent from my iPhone", "发自我的手机", "来自网易邮箱大师", "来自QQ邮箱", "Sent from Mail for Windows"],
)
def test_reading_stops_at_a_signature(signature: str) -> None:
    """Nothing below a signature or phone footer is read as a command."""
    assert read(f"收到\n{signature}\n批准\n重大") == (ACK,)


@pytest.mark.parametrize(
    "marker",
    [
        "-----原始邮件-----", "-----邮件原件-----", "------------------ 原始邮件 ------------------",
        "-----Original Message-----", "发件人: 媒体投诉处理系统 <complaints@corp.example.com>",
        "From: complaints@corp.example.com", "在 2026年11月27日 10:15，媒体投诉处理系统 写道：",
        "On Fri, Nov 27, 2026 at 10:15 AM complaints@corp.example.com wrote:", "________________________________",
    ],
)
def test_reading_stops_at_quoted_history(marker: str) -> None:
    """The quoted complaintd mail below a separator is never read, even when nothing is above it."""
    quoted = "孙工：\n【登记内容】\n媒体单位：江城晚报\n  收到 —— 确认已收到\n  可处理 —— 本部门可以解决"
    assert read(f"{marker}\n{quoted}") == ()
    assert read(f"无法处理\n\n{marker}\n{quoted}") == (CANNOT,)


def test_quoted_lines_are_ignored() -> None:
    """Lines quoted with '>' are no commands; the sender's own lines around them are."""
    assert read("> 收到\n> 批准\n无法处理") == (CANNOT,)
    assert read(">> 重大") == ()


def test_only_the_first_lines_are_read() -> None:
    """A command below the first WINDOW non-empty lines is prose, not a command."""
    prose = "\n".join(f"第{n}行说明。" for n in range(WINDOW))
    assert read(prose + "\n批准") == ()
    assert read("\n".join(f"第{n}行说明。" for n in range(WINDOW - 1)) + "\n\n\n批准") == (APPROVE,)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("收到批准方案口径预计完成明天今晚点分:：，,。\n >-—0123456789１类第月日周上下午okOKapproveT+Z/ \t\u3000")),
               max_size=80))
def test_never_raises_on_command_like_noise(text: str) -> None:
    """Any mix of command words, digits, colons and line breaks gives a tuple of Commands, never an error."""
    result = read(text)
    assert isinstance(result, tuple) and all(isinstance(command, Command) for command in result)
    for command in result:
        assert command.expected_at is None or command.expected_at.tzinfo is not None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_never_raises_on_any_text(text: str) -> None:
    """Arbitrary Unicode never makes read_commands raise."""
    assert isinstance(read(text), tuple)


# --- whole replies, as the clients write them ------------------------------------------------------

CASE = "MT-20261127-0001"
SUBJECT = f"[{CASE}] 媒体投诉已登记：江城晚报（网络部）"
OUR_ID = f"<{CASE}.ack.0.0123456789abcdef@complaintd.corp.example.com>"
SYSTEM = ("媒体投诉处理系统", "complaints@corp.example.com")
SUN = ("孙明", "sun@net.corp.example.com")
# What complaintd wrote (templates/ack.txt.j2): full of lines that look like commands.
OUR_MAIL = """孙工：

您转来的媒体投诉已登记，编号 MT-20261127-0001。登记内容和处理时限如下，请按时限处理。
【登记内容】
媒体单位：江城晚报
记者/联系人：李明
投诉类别：第3类 网络质量
【如何答复】
直接回复本邮件，在正文第一行写：
  收到 —— 确认已收到
  可处理 —— 本部门可以解决；随后回复“方案：……”并写明“预计完成：……”
  无法处理 —— 本部门无法调动资源解决
"""


def _quote(text: str, prefix: str = "> ") -> str:
    return "\n".join((prefix + line).rstrip() for line in text.split("\n"))


def _mail(subject: str, body: str, *, charset: str = "utf-8", cte: str = "base64", mailer: str = "",
          threaded: bool = True, html: str | None = None, date: str = "Fri, 27 Nov 2026 10:31:07 +0800",
          sender: tuple[str, str] = SUN) -> bytes:
    """An RFC 5322 reply to complaintd's mail (CRLF line ends), as the client would send it."""
    lines = [
        f"From: {formataddr(sender, charset)}",
        f"To: {formataddr(SYSTEM, charset)}",
        f"Subject: {Header(subject, charset).encode()}",
        f"Date: {date}",
        "Message-ID: <20261127103107.4711@net.corp.example.com>",
        "MIME-Version: 1.0",
    ]
    if threaded:
        lines += [f"In-Reply-To: {OUR_ID}", f"References: {OUR_ID}"]
    if mailer:
        lines.append(f"X-Mailer: {mailer}")
    plain = _part("text/plain", body, charset, cte)
    if html is None:
        lines += plain
        message = "\r\n".join(lines)
    else:
        boundary = "----=_NextPart_6760A1B2_0D3F7E48_1A2B3C4D"
        lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        parts = [plain, _part("text/html", html, charset, cte)]
        message = "\r\n".join(lines) + "\r\n\r\nThis is a multi-part message in MIME format.\r\n"
        for part in parts:
            message += f"\r\n--{boundary}\r\n" + "\r\n".join(part)
        message += f"\r\n--{boundary}--\r\n"
    return message.encode("ascii")


def _part(content_type: str, text: str, charset: str, cte: str) -> list[str]:
    codec = "gbk" if charset == "gb2312" else charset  # what "gb2312" mail really holds
    if cte == "base64":
        encoded = base64.encodebytes(text.replace("\n", "\r\n").encode(codec)).decode("ascii")
    else:  # quoted-printable: line breaks stay line breaks
        encoded = quopri.encodestring(text.encode(codec)).decode("ascii")
    return [f'Content-Type: {content_type}; charset="{charset}"', f"Content-Transfer-Encoding: {cte}", "",
            encoded.replace("\n", "\r\n")]


def outlook() -> bytes:
    """Outlook 2016 zh-CN: top-posted, '-----邮件原件-----' and a 发件人: block, GB2312 (really GBK)."""
    body = (
        "可处理\n\n方案：今晚派工程师更换光华路受损光缆\n预计完成：明天18:00\n\n孙明\n网络部 江城分公司\n\n"
        "-----邮件原件-----\n发件人: 媒体投诉处理系统 [mailto:complaints@corp.example.com] \n"
        "发送时间: 2026年11月27日 10:15\n收件人: 孙明 <sun@net.corp.example.com>\n抄送: 综合部 <gd@corp.example.com>\n"
        f"主题: {SUBJECT}\n\n" + OUR_MAIL
    )
    return _mail(f"回复: {SUBJECT}", body, charset="gb2312", mailer="Microsoft Outlook 16.0")


def foxmail() -> bytes:
    """Foxmail 7.2: top-posted, '------------------ 原始邮件 ------------------', GB18030."""
    body = (
        "收到，马上安排人员到现场。\n\n\n孙明\n\n\n"
        "------------------ 原始邮件 ------------------\n"
        '发件人: "媒体投诉处理系统"<complaints@corp.example.com>;\n发送时间: 2026年11月27日(星期五) 上午10:15\n'
        '收件人: "孙明"<sun@net.corp.example.com>;\n抄送: "综合部"<gd@corp.example.com>;\n'
        f"主题: {SUBJECT}\n\n" + OUR_MAIL
    )
    return _mail(f"回复：{SUBJECT}", body, charset="gb18030", mailer="Foxmail 7.2.25.375[cn]")


def coremail() -> bytes:
    """Coremail webmail: a greeting line, then the command; a '>'-quoted '-----原始邮件-----' block; plain + HTML."""
    body = (
        "综合部各位同事：\n\n无法处理，该小区由铁塔公司维护，需要市场部协调。\n\n孙明\n\n\n"
        "> -----原始邮件-----\n> 发件人：\"媒体投诉处理系统\" <complaints@corp.example.com>\n"
        "> 发送时间：2026-11-27 10:15:30 (星期五)\n> 收件人：sun@net.corp.example.com\n"
        f"> 主题：{SUBJECT}\n> \n" + _quote(OUR_MAIL)
    )
    html = ("<div>综合部各位同事：</div><div><br></div><div>无法处理，该小区由铁塔公司维护，需要市场部协调。</div>"
            "<div><br></div><div>孙明</div><blockquote><div>-----原始邮件-----</div><div>发件人：complaints@corp.example.com"
            "</div></blockquote>")
    return _mail(f"回复：{SUBJECT}", body, html=html, cte="quoted-printable",
                 mailer="Coremail Webmail Server Version XT5.0.13 build 20210622(a4e8cd35)")


def gmail_zh() -> bytes:
    """Gmail zh-CN: '在 2026年11月27日周五 10:15，… 写道：' above '>' quotes; plain + HTML."""
    body = (
        "上报综合部\n\n铁塔那边需要公司层面协调。\n\n在 2026年11月27日周五 10:15，媒体投诉处理系统 "
        "<complaints@corp.example.com> 写道：\n\n" + _quote(OUR_MAIL)
    )
    html = '<div dir="ltr">上报综合部<div><br></div><div>铁塔那边需要公司层面协调。</div></div><br><div class="gmail_quote">'
    return _mail(f"Re: {SUBJECT}", body, html=html, cte="quoted-printable", sender=("Sun Ming", "sun.ming@gmail.example.com"))


def gmail_en() -> bytes:
    """Gmail in English: 'On Fri, Nov 27, 2026 at 10:15 AM … wrote:' wrapped over two lines."""
    body = (
        "Resolved: 光缆已更换，业务已全部恢复。\n\nOn Fri, Nov 27, 2026 at 10:15 AM 媒体投诉处理系统 <\n"
        "complaints@corp.example.com> wrote:\n\n" + _quote(OUR_MAIL)
    )
    return _mail(f"Re: {SUBJECT}", body, html="<div>Resolved: 光缆已更换，业务已全部恢复。</div>", cte="quoted-printable")


def qq_mail() -> bytes:
    """QQ Mail: 回复：[MT-…] subject, no In-Reply-To/References, GB18030 base64, plain + HTML."""
    body = (
        "进展：已派人到现场，正在排查故障点。\n\n\n\n"
        "------------------&nbsp;原始邮件&nbsp;------------------".replace("&nbsp;", " ") + "\n"
        '发件人: "媒体投诉处理系统"<complaints@corp.example.com>;\n发送时间: 2026年11月27日(星期五) 上午10:15\n'
        '收件人: "孙明"<1234567@qq.com>;\n' + f"主题: {SUBJECT}\n\n" + OUR_MAIL
    )
    html = ("<div>进展：已派人到现场，正在排查故障点。</div><div><br></div><div style=\"font-size: 12px;\">"
            "------------------&nbsp;原始邮件&nbsp;------------------</div>")
    return _mail(f"回复：{SUBJECT}", body, charset="gb18030", mailer="QQMail 2.x", threaded=False, html=html,
                 sender=("孙明", "1234567@qq.com"))


def iphone() -> bytes:
    """iPhone Mail: the answer, 发自我的iPhone, then '在 …，… 写道：' and '>' quotes; QP."""
    body = (
        "方案：今晚派人更换光缆\n预计完成：明天上午10点\n\n发自我的iPhone\n\n"
        "> 在 2026年11月27日，10:15，媒体投诉处理系统 <complaints@corp.example.com> 写道：\n>\n" + _quote(OUR_MAIL)
    )
    return _mail(f"回复：{SUBJECT}", body, cte="quoted-printable", mailer="iPhone Mail (22B91)")


def thunderbird_bottom() -> bytes:
    """Thunderbird zh, answering below the quote: the quoted history comes first, the answer last."""
    body = "在 2026/11/27 10:15, 媒体投诉处理系统 写道:\n" + _quote(OUR_MAIL) + "\n\n批准\n\n-- \n王总\n"
    return _mail(f"Re: {SUBJECT}", body, cte="quoted-printable", mailer="")


def outlook_web_html() -> bytes:
    """Outlook on the web, HTML only: an <hr> and a bold 发件人: block below the answer."""
    html = (
        "<html><body><div>类别：2</div><div>媒体单位：江城都市报</div><div><br></div><hr>"
        "<div><b>发件人:</b> 媒体投诉处理系统 &lt;complaints@corp.example.com&gt;<br><b>发送时间:</b> 2026年11月27日 10:15"
        f"<br><b>主题:</b> {SUBJECT}</div><div>媒体单位：江城晚报</div></body></html>"
    )
    lines = [f"From: {formataddr(SUN, 'utf-8')}", f"To: {formataddr(SYSTEM, 'utf-8')}", f"Subject: {Header('答复: ' + SUBJECT, 'utf-8').encode()}",
             "Date: Fri, 27 Nov 2026 10:31:07 +0800", "Message-ID: <AM0PR01MB1234@outlook.example.com>",
             f"In-Reply-To: {OUR_ID}", "MIME-Version: 1.0", *_part("text/html", html, "utf-8", "base64")]
    return "\r\n".join(lines).encode("ascii")


REPLIES = [
    # builder, new text the parser keeps, commands in it
    (outlook, "可处理\n\n方案：今晚派工程师更换光华路受损光缆\n预计完成：明天18:00\n\n孙明\n网络部 江城分公司",
     (LOCAL, Command(Verb.SOLUTION, "今晚派工程师更换光华路受损光缆", expected_at=at(28, 18)))),
    (foxmail, "收到，马上安排人员到现场。\n\n\n孙明", (Command(Verb.ACK, "马上安排人员到现场。"),)),
    (coremail, "综合部各位同事：\n\n无法处理，该小区由铁塔公司维护，需要市场部协调。\n\n孙明",
     (Command(Verb.CANNOT, "该小区由铁塔公司维护，需要市场部协调。"),)),
    (gmail_zh, "上报综合部\n\n铁塔那边需要公司层面协调。", (ESCALATE,)),
    (gmail_en, "Resolved: 光缆已更换，业务已全部恢复。", (Command(Verb.RESOLVED, "光缆已更换，业务已全部恢复。"),)),
    (qq_mail, "进展：已派人到现场，正在排查故障点。", (Command(Verb.PROGRESS, "已派人到现场，正在排查故障点。"),)),
    (iphone, "方案：今晚派人更换光缆\n预计完成：明天上午10点",
     (Command(Verb.SOLUTION, "今晚派人更换光缆", expected_at=at(28, 10)),)),
    (thunderbird_bottom, "批准", (APPROVE,)),
    (outlook_web_html, "类别：2\n\n媒体单位：江城都市报",
     (Command(Verb.CATEGORY, "2", category=2), Command(Verb.MEDIA_OUTLET, "江城都市报"))),
]


@pytest.mark.parametrize(("build", "text", "commands"), REPLIES, ids=[build.__name__ for build, _, _ in REPLIES])
def test_client_replies(build: Callable[[], bytes], text: str, commands: tuple[Command, ...]) -> None:
    """A reply from each common client is a REPLY with the case tag, only its new text, and its commands."""
    parsed = parse(build(), CTX)
    assert parsed.kind is Kind.REPLY, parsed.reason
    assert parsed.case_tag == CASE
    assert parsed.text == text
    assert read_commands(parsed.text, SHANGHAI, NOW) == commands


def test_qq_mail_reply_finds_its_case_by_subject_alone() -> None:
    """QQ Mail sends no threading headers: the reply is still a REPLY, by the [MT-…] tag."""
    parsed = parse(qq_mail(), CTX)
    assert parsed.in_reply_to == () and parsed.references == ()
    assert "subject tag" in parsed.reason


# --- real Chinese replies from the corpus ---------------------------------------------------------

CORPUS_REPLIES = [
    # file in linux-erofs-archive, client and quoting shape, the sender's first words
    ("0a2480cb10e1a2110d2080aba35cedfd342b39a8.eml", "QQMail 回复： + 原始邮件", "好的\n\n\nB.R"),
    ("102cf64aba2b109dd0512fb27bb788f003d137da.eml", "QQMail 回复： + 原始邮件", "好的，该config"),
    ("35fde961769d53aefec0926800c733ca90a5a6c2.eml", "QQMail 回复： + 原始邮件", "iozone 改动很小"),
    ("7c2b4862dfc7e5ecb8a7abd32a13bc801bffc5cd.eml", "QQMail 回复： + 原始邮件", "是的 看代码流程erofs更简洁"),
    ("879cec9b0edc4ede8e1a6dec484342424eceaa57.eml", "QQMail 回复： + 原始邮件", "Dear xiang,\n没有启用directIO"),
    ("d09efe2a4b780a4f6ffce8cb8a015af0123a0e40.eml", "QQMail on iPhone, 发自我的iPhone", "嗯\n谢谢"),
    ("d21d434804d22533970f3feb4e54060181f545a5.eml", "QQMail 回复： + 原始邮件", "Dear Gao xiang,\n通过fio测试"),
    ("f24a2186691bf202ea9801eac917e4d10feb2328.eml", "答复: + '> -----邮件原件-----', answer below",
     "Yes, this is with 4k pcluster."),
    ("e21346d733b4f4edfb03f8e29fcfcfd37aa1380b.eml", "答复: + '>' quotes, answer below", "Sure, I can do that."),
    ("7d53b72c224967521b7ed9f5122ae737f8c1c6aa.eml", "Outlook 答复: + ____ 发件人: block", "好的，非常感谢"),
    ("bb7e5dfa0b72c2fd0b6581fc9b53aa56c4cb87f8.eml", "Outlook 答复: 答复: + ____ 发件人: block",
     "Thank you for your suggestions."),
    ("4186f812a48ef206aec8fdf48ba9e4abe7c26e34.eml", "Outlook 答复: + ____ 发件人: block", "Hi Gao Xiang,Sandeep"),
    ("140c49bab3fe75cf4614078a0aa6805cad39c415.eml", "Foxmail 回复: + '>' quotes", "Hi, Gao Xiang,\nThanks for"),
    # Foxmail 回复: answering inline below an unquoted ____ 发件人： block: only the salutation is above it.
    ("7d8098132d1e492cbe22b9c9a543a67025c9f532.eml", "Foxmail 回复: + ____ 发件人： block", "Hi, Gao Xiang，"),
]
_HISTORY_LINE = re.compile(
    r"^\s*(?:>|-{2,}.*(?:原始邮件|邮件原件|Original Message).*-{2,}|_{10,}|\**(?:发件人|寄件人|From)\**\s*[:：])"
    r"|(?:写道|wrote)\s*[:：]\s*$",
    re.IGNORECASE,
)


def _corpus_mail(name: str) -> bytes:
    path = CORPUS / "linux-erofs-archive" / name
    if not path.is_file():
        pytest.fail(f"corpus mail {path} not found; put the corpus at <repo>/../shared/corpus or set COMPLAINTD_CORPUS")
    return path.read_bytes()


@pytest.mark.parametrize(("name", "shape", "first_words"), CORPUS_REPLIES, ids=[row[1] + " " + row[0][:8] for row in CORPUS_REPLIES])
def test_corpus_replies_new_text_and_no_commands(name: str, shape: str, first_words: str) -> None:
    """A real QQMail/Outlook/Foxmail reply: its new text starts with the sender's words, holds no quoted history, no command."""
    raw = _corpus_mail(name)
    parsed = parse(raw, ParseContext(SHANGHAI, "ZZ", CTX.own_addresses, CTX.own_message_id_domain))
    assert parsed.kind is not Kind.REPLY  # mailing-list mail, not ours
    body = complaint.main_body(mime.read(mime.load(raw))).text
    text = new_text(body)
    assert text.startswith(first_words), text[:200]
    assert [line for line in text.split("\n") if _HISTORY_LINE.search(line)] == []
    assert read_commands(text, SHANGHAI, NOW) == ()
