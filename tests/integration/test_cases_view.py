"""`complaintd cases` and `show` as 综合部 reads them, as real processes on the embedded default
(Maildir, SQLite): what comes next on each case, and every refused reply on its case's record."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from models.labels import clock_label
from tests.integration.test_cli_maildir import complaintd
from tests.support.mail import ROOT, outlook_forward, set_keys

pytestmark = pytest.mark.integration

FORWARDER = "sun@corp.example.com"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The shipped config.toml, its folders made by a first `run --once`."""
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    set_keys(tmp_path / "config.toml", "reports", digest_at="off")
    complaintd(tmp_path, "run", "--once")
    return tmp_path


def deliver(workdir: Path, name: str, raw: bytes) -> None:
    (workdir / "var/mail/complaints/new" / name).write_bytes(raw)


def late_complaint(workdir: Path, n: int) -> str:
    """A forward of a complaint written two hours ago, registered by `run --once`: its first
    clocks (assess 15 min, account manager 30 min, 综合部 1 h) are missed at once."""
    sent = datetime.now(UTC) - timedelta(hours=2)
    deliver(workdir, f"forward-{n}.eml", outlook_forward(n, sent=sent, forwarder=FORWARDER))
    complaintd(workdir, "run", "--once")
    return max(c["id"] for c in json.loads(complaintd(workdir, "cases", "--json").stdout))


def our_mail(workdir: Path, case_id: str, step: str, recipient: str) -> EmailMessage:
    """The copy of a case mail that went to `recipient` (the Maildir sender notes the envelope)."""
    for path in (workdir / "var/mail/sent/new").iterdir():
        mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if mail["X-Envelope-To"] == recipient and f"<{case_id}.{step}." in str(mail["Message-ID"]):
            return mail  # type: ignore[return-value]
    raise AssertionError(f"no {step} mail of {case_id} to {recipient}")


def answer(workdir: Path, sender: str, text: str, *, to: EmailMessage | None = None, subject: str = "") -> None:
    """A person's reply: threaded to `to` when given, else only a subject (which proves nothing)."""
    n = len(list((workdir / "var/mail/complaints/new").iterdir())) + len(list((workdir / "var/mail").rglob("*")))
    reply = EmailMessage()
    reply["From"], reply["To"] = sender, "complaints@corp.example.com"
    reply["Subject"] = subject or f"答复: {to['Subject']}" if to else subject
    reply["Message-ID"] = f"<reply-{n}@corp.example.com>"
    if to is not None:
        reply["In-Reply-To"] = reply["References"] = str(to["Message-ID"])
    reply.set_content(text)
    deliver(workdir, f"reply-{n}.eml", reply.as_bytes())


def rows_of(table: str) -> dict[str, str]:
    return {line.split()[0]: line for line in table.splitlines()[1:]}


def test_cases_shows_the_next_open_clock_and_none_on_a_closed_case(workdir: Path) -> None:
    """Two late cases; the second is resolved. The register shows, for the open one, the
    clock that comes next (not one it already missed, counting up as 超时), and for the
    closed one no clock and no countdown. Both missed deadlines; only the open one is overdue."""
    open_id = late_complaint(workdir, 1)
    closed_id = late_complaint(workdir, 2)
    answer(workdir, FORWARDER, "办结：已更换故障设备，信号恢复。", to=our_mail(workdir, closed_id, "ack", FORWARDER))
    complaintd(workdir, "run", "--once")

    rows = rows_of(complaintd(workdir, "cases", "--status", "all").stdout)
    assert "已办结" in rows[closed_id] and rows[closed_id].endswith("—")
    assert "超时" not in rows[closed_id]
    record = json.loads(complaintd(workdir, "show", open_id, "--json").stdout)
    waiting = [d for d in record["deadlines"] if d["kind"] != "ack" and d["met"] is None and d["breached"] is None]
    missed = {d["kind"] for d in record["deadlines"] if d["breached"]}
    assert {"assess", "account_manager", "general_dept"} <= missed
    upcoming = min(waiting, key=lambda d: d["due"])
    assert clock_label(upcoming["kind"]) in rows[open_id] and "超时" not in rows[open_id]

    overdue = json.loads(complaintd(workdir, "cases", "--status", "overdue", "--json").stdout)
    assert [c["id"] for c in overdue] == [open_id]
    (closed,) = json.loads(complaintd(workdir, "cases", "--status", "closed", "--json").stdout)
    assert closed["id"] == closed_id and closed["status"] == "resolved"


def test_show_lists_each_refused_reply_with_who_and_why(workdir: Path) -> None:
    """Replies that name the case but change nothing are on its record, as 未采纳 with the
    sender and the reason: a command the sender's role does not allow, a directory address
    that proves nothing (only the case number in the subject), a command on a closed case."""
    case_id = late_complaint(workdir, 1)
    answer(workdir, "陈静 <chen.am@corp.example.com>", "批准",
           to=our_mail(workdir, case_id, "account_manager", "chen.am@corp.example.com"))
    answer(workdir, "王强 <wang.net@corp.example.com>", "可处理", subject=f"Re: [{case_id}] 媒体投诉")
    answer(workdir, FORWARDER, "办结：已修复。", to=our_mail(workdir, case_id, "ack", FORWARDER))
    complaintd(workdir, "run", "--once")
    answer(workdir, FORWARDER, "可处理", to=our_mail(workdir, case_id, "ack", FORWARDER))
    complaintd(workdir, "run", "--once")

    refused = [line for line in complaintd(workdir, "show", case_id).stdout.splitlines() if "  未采纳  " in line]
    assert len(refused) == 3, refused
    said = {line.split("  ")[2]: line for line in refused}
    assert "“批准”" in said["chen.am@corp.example.com"] and "无权" in said["chen.am@corp.example.com"]
    assert "未能证明" in said["wang.net@corp.example.com"]
    assert "“可处理”" in said[FORWARDER] and "已关闭" in said[FORWARDER]
    events = json.loads(complaintd(workdir, "show", case_id, "--json").stdout)["events"]
    assert {e["actor"] for e in events if e["kind"] == "rejected"} == set(said)
