"""Every command is read from every client's reply layout (issue 12, item 1).

Two kinds of fixtures: mails made with the real clients we can install (mutt 2.2 and s-nail
14.9, tests/fixtures/clients/, see make.sh there), and the layouts the other clients'
documentation and their users' mail show (Outlook zh/en, Foxmail, QQ Mail's HTML, Coremail,
Gmail, Apple Mail, Thunderbird bottom-posting, a phone). The quoted case mail under each reply
is our own acknowledgment, which itself lists the commands ("可处理 —— 本部门可以解决"): a
layout whose quote is not recognised would be read as those commands, or as none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.header import Header
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from parsers import ParseContext, parse
from parsers.commands import Verb, read_commands
from parsers.message import Kind

CTX = ParseContext(timezone=ZoneInfo("Asia/Shanghai"), case_prefix="MT",
                   own_addresses=frozenset({"complaints@corp.example.com"}),
                   own_message_id_domain="complaintd.corp.example.com")
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
CLIENTS = Path(__file__).resolve().parents[1] / "fixtures" / "clients"
OURS = "<MT-20261127-0001.ack.0.65210e37c387f383@complaintd.corp.example.com>"
SUBJECT = "[MT-20261127-0001·65210e] 媒体投诉已登记：江城晚报"

# What our acknowledgment says, as it is quoted back: it names every command.
QUOTED = """孙明：

您转来的媒体投诉已登记，编号 MT-20261127-0001。
投诉内容：
光谷小区已经三天没有手机信号。
【如何答复】
直接回复本邮件，在正文第一行写：
  收到 —— 确认已收到
  可处理 —— 本部门可以解决；随后回复“方案：……”并写明“预计完成：……”
  无法处理 —— 本部门无法调动资源解决
办结：…… 上报综合部
"""

COMMANDS = [
    ("收到", [Verb.ACK]),
    ("可处理", [Verb.LOCAL]),
    ("无法处理", [Verb.CANNOT]),
    ("上报综合部", [Verb.ESCALATE]),
    ("方案：更换光猫并上门检修\n预计完成：明天18:00", [Verb.SOLUTION]),
    ("进展：已派维护人员到现场", [Verb.PROGRESS]),
    ("办结：已修复，记者确认恢复", [Verb.RESOLVED]),
]


def quoted(prefix: str) -> str:
    return "".join(f"{prefix}{line}\n" for line in QUOTED.splitlines())


def outlook_zh(answer: str) -> str:
    return (f"{answer}\n\n________________________________\n发件人: 媒体投诉处理 <complaints@corp.example.com>\n"
            f"发送时间: 2026年11月27日 10:20\n收件人: 孙明 <sun@corp.example.com>\n主题: {SUBJECT}\n\n{QUOTED}")


def outlook_en(answer: str) -> str:
    return (f"{answer}\n\nFrom: 媒体投诉处理 <complaints@corp.example.com>\n"
            f"Sent: Friday, November 27, 2026 10:20 AM\nTo: 孙明 <sun@corp.example.com>\nSubject: {SUBJECT}\n\n{QUOTED}")


def foxmail(answer: str) -> str:
    return (f"{answer}\n\n\n------------------ 原始邮件 ------------------\n"
            "发件人: \"媒体投诉处理\"<complaints@corp.example.com>;\n发送时间: 2026年11月27日(星期五) 上午10:20\n"
            f"收件人: \"孙明\"<sun@corp.example.com>;\n主题: {SUBJECT}\n\n{QUOTED}")


def coremail(answer: str) -> str:
    return (f"{answer}\n\n\n\n\n-----原始邮件-----\n发件人:\"媒体投诉处理\" <complaints@corp.example.com>\n"
            f"发送时间:2026-11-27 10:20:00 (星期五)\n收件人:sun@corp.example.com\n主题:{SUBJECT}\n\n{QUOTED}")


def gmail_zh(answer: str) -> str:
    return f"{answer}\n\n在 2026年11月27日周五 10:20，媒体投诉处理 <complaints@corp.example.com> 写道：\n\n{quoted('> ')}"


def apple_mail(answer: str) -> str:
    return f"{answer}\n\n> 在 2026年11月27日，上午10:20，媒体投诉处理 <complaints@corp.example.com> 写道：\n> \n{quoted('> ')}"


def thunderbird_bottom(answer: str) -> str:
    return f"在 2026/11/27 10:20, 媒体投诉处理 写道:\n{quoted('> ')}\n{answer}\n"


def interleaved(answer: str) -> str:
    _head, rest = QUOTED.split("投诉内容：\n", 1)
    return (f"On Fri, Nov 27, 2026 at 10:20 AM 媒体投诉处理 <complaints@corp.example.com> wrote:\n"
            f"{quoted('> ')[:40]}\n\n{answer}\n\n> {rest.splitlines()[0]}\n")


def phone(answer: str) -> str:
    return (f"{answer}\n\n发自我的iPhone\n\n------------------ 原始邮件 ------------------\n"
            f"发件人: 媒体投诉处理 <complaints@corp.example.com>\n发送时间: 2026年11月27日 10:20\n主题: {SUBJECT}\n\n{QUOTED}")


LAYOUTS: dict[str, Callable[[str], str]] = {
    "outlook_zh": outlook_zh, "outlook_en": outlook_en, "foxmail": foxmail, "coremail": coremail,
    "gmail_zh": gmail_zh, "apple_mail": apple_mail, "thunderbird_bottom": thunderbird_bottom,
    "interleaved": interleaved, "phone": phone,
}


def mail(body: str, *, html: bool = False) -> bytes:
    kind = "html" if html else "plain"
    return (f"From: 孙明 <sun@corp.example.com>\r\nTo: complaints@corp.example.com\r\n"
            f"Subject: {Header('回复：' + SUBJECT, 'utf-8').encode()}\r\nMessage-ID: <r1@corp.example.com>\r\n"
            f"In-Reply-To: {OURS}\r\nReferences: {OURS}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/{kind}; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() \
        + body.replace("\n", "\r\n").encode("utf-8")


def verbs(raw: bytes) -> list[Verb]:
    parsed = parse(raw, CTX)
    assert parsed.kind is Kind.REPLY, parsed.reason
    return [c.verb for c in read_commands(parsed.text, CTX.timezone, NOW)]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(("answer", "expected"), COMMANDS, ids=[c[0][:6] for c in COMMANDS])
def test_each_command_is_read_from_each_documented_layout(layout: str, answer: str, expected: list[Verb]) -> None:
    assert verbs(mail(LAYOUTS[layout](answer))) == expected


@pytest.mark.parametrize(("answer", "expected"), COMMANDS, ids=[c[0][:6] for c in COMMANDS])
def test_each_command_is_read_from_qq_mails_html_reply(answer: str, expected: list[Verb]) -> None:
    """QQ Mail and web clients send HTML only: the answer in <div>s, the quote under a rule."""
    own = "".join(f"<div>{line}</div>" for line in answer.splitlines())
    body = (f"<html><body>{own}<div><br></div><div><br></div>"
            "<div style=\"font-size: 12px;font-family: Arial Narrow;padding:2px 0 2px 0;\">"
            "------------------&nbsp;原始邮件&nbsp;------------------</div>"
            "<div style=\"font-size: 12px;background:#efefef;padding:8px;\"><div><b>发件人:</b>&nbsp;"
            "\"媒体投诉处理\"&lt;complaints@corp.example.com&gt;;</div><div><b>发送时间:</b>&nbsp;2026年11月27日(星期五) 上午10:20</div>"
            f"<div><b>主题:</b>&nbsp;{SUBJECT}</div></div><div><br></div>"
            + "".join(f"<div>{line}</div>" for line in QUOTED.splitlines()) + "</body></html>")
    assert verbs(mail(body, html=True)) == expected


REAL_CLIENTS = {
    "mutt_reply_top_无法处理.eml": [Verb.CANNOT],
    "mutt_reply_bottom_上报综合部.eml": [Verb.ESCALATE],
    "mutt_reply_bottom_方案.eml": [Verb.SOLUTION],
    "snail_reply_收到.eml": [Verb.ACK],
    "snail_reply_可处理.eml": [Verb.LOCAL],
    "snail_reply_无法处理.eml": [Verb.CANNOT],
    "snail_reply_上报综合部.eml": [Verb.ESCALATE],
    "snail_reply_方案.eml": [Verb.SOLUTION],
}


@pytest.mark.parametrize("name", REAL_CLIENTS)
def test_each_command_is_read_from_real_mutt_and_s_nail_replies(name: str) -> None:
    """s-nail puts "… wrote:" on top, the original tab-indented, the answer at the bottom."""
    assert verbs((CLIENTS / name).read_bytes()) == REAL_CLIENTS[name]
