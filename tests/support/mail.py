"""Invented complaint mail for integration tests and benchmarks, and a config that points at
the test servers. Nothing here talks to a server."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)  # Friday 10:15 in Shanghai

FORWARDERS = ("sun@corp.example.com", "wei@net.corp.example.com", "kefu@cs.corp.example.com")
DEPARTMENT_OF = {"sun@corp.example.com": "network", "wei@net.corp.example.com": "network",
                 "kefu@cs.corp.example.com": "customer_service"}


def outlook_forward(n: int, *, sent: datetime = T0, forwarder: str | None = None,
                    charset: str = "gb18030") -> bytes:
    """An Outlook (Chinese) inline forward of a 江城晚报 journalist's complaint, number n."""
    forwarder = forwarder or FORWARDERS[n % len(FORWARDERS)]
    local = sent.astimezone(timezone(timedelta(hours=8)))
    msg = EmailMessage()
    msg["From"] = f"同事{n} <{forwarder}>"
    msg["To"] = "媒体投诉处理 <complaints@corp.example.com>"
    msg["Subject"] = f"转发: 第{n}号小区手机没有信号"
    msg["Date"] = format_datetime(sent + timedelta(minutes=5))
    msg["Message-ID"] = f"<fwd-{n}-{sent.timestamp():.0f}@corp.example.com>"
    body = (
        "请处理，谢谢。\n\n"
        "-----邮件原件-----\n"
        "发件人: 李记者 <li.reporter@jcwb.example.cn>\n"
        f"发送时间: {local:%Y年%m月%d日 %H:%M}\n"
        "收件人: 客服 <kefu@cs.corp.example.com>\n"
        f"主题: 第{n}号小区手机没有信号\n\n"
        f"您好，我是江城晚报记者。第{n}号小区已经三天没有手机信号，居民反映强烈，"
        "请贵公司说明原因和修复时间。联系电话 13912345678。\n"
    )
    msg.set_content(body, charset=charset, cte="8bit" if charset != "utf-8" else "base64")
    return msg.as_bytes()


def server_config(tmp_path: Path, *, inbound: str, outbound: str, database: str | None = None,
                  extra_daemon: str = "") -> Path:
    """The shipped config.toml, pointed at the given mailbox, sender and database."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^url = "maildir:var/mail/complaints".*$',
                  f'url = "{inbound}"\nallow_plaintext = true', text)
    text = re.sub(r'(?m)^url = "maildir:var/mail/sent".*$',
                  f'url = "{outbound}"\nallow_plaintext = true', text)
    database = database or f"sqlite:///{tmp_path}/complaintd.sqlite3"
    text = re.sub(r'(?m)^database = .*$', f'database = "{database}"' + extra_daemon, text)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    # The daily digest depends on the time of day; tests about other mail turn it off.
    return set_keys(path, "reports", digest_at="off")


def set_keys(path: Path, section: str, **values: str | int) -> Path:
    """Rewrite `key = "value"` lines of one [section] of a config file (tests tune durations);
    a number is written bare, as TOML wants it."""
    out, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            inside = line.split("]")[0] == f"[{section}"
        key = line.split("=")[0].strip()
        value = values.get(key)
        out.append(line if not inside or value is None else f"{key} = {value}" if isinstance(value, int)
                   else f'{key} = "{value}"')
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
