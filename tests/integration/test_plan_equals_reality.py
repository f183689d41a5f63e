"""`complaintd plan` says what the daemon does: the plan's mails are the mails a real daemon
sends to a real SMTP server, in order, at their offsets, to the same To and Cc.

Each scenario runs twice: as a plan (models/plan.py, pure) and for real — a forwarded
complaint arriving in Dovecot, the daemon ticking on a clock the test moves every TICK over
second-long clocks (one minute of the procedure is one second here), replies and bounces
injected into the mailbox at their time. Offsets are compared to the tick.

The registration mail (登记回执) is compared like every other step. One kind of mail is the
shell's own, not a step of the procedure, and is left out: the notice to 综合部 that an address
bounced (bad_address).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import getaddresses
from pathlib import Path

import pytest

from daemon.app import App
from models.plan import PlannedAnswer, Start, parse_answers, simulate
from tests.integration.test_clocks_e2e import daemon_at, run_until, step_of
from tests.integration.test_replies_e2e import reply
from tests.support.dovecot import Dovecot
from tests.support.mail import T0, outlook_forward
from tests.support.smtp import Received, SmtpServer

pytestmark = pytest.mark.integration

# SPEC §3's defaults with minutes read as seconds.
SECONDS = {"assess": "15s", "account_manager": "30s", "general_dept": "60s", "solution": "240s", "group": "60s",
           "higher_authority": "60s", "progress": "240s", "statement": "30s", "ack": "10s",
           "normal_completion": "4320s"}
TICK = timedelta(seconds=5)
HORIZON = timedelta(seconds=600)  # ten hours of the procedure: past 4 h, the group and two reports
SHELL_STEPS = {"bad_address"}


@dataclass(frozen=True)
class Scenario:
    forwarder: str  # who forwards the complaint (its receiver)
    answers: str = ""  # the plan's script; each answer on a tick


SCENARIOS = {
    "department, nobody answers": Scenario("sun@corp.example.com"),
    "branch, nobody answers": Scenario("chen@east.corp.example.com"),
    "the receiver answers 可处理 at once": Scenario("sun@corp.example.com", "assess=可处理@0:00:05"),
    "the account manager's A bounces": Scenario("sun@corp.example.com", "am=退信@0:00:35"),
    "综合部 convenes the group": Scenario("sun@corp.example.com", "gd=成立小组：网络部、市场部@0:01:20"),
}

Mail = tuple[timedelta, str, frozenset[str], frozenset[str]]  # offset, step, To, Cc


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_plan_is_what_the_daemon_sends(name: str, tmp_path: Path, imap: Dovecot, smtp: SmtpServer,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = SCENARIOS[name]
    app = daemon_at(tmp_path, imap, smtp, monkeypatch, **SECONDS)
    start = T0 + timedelta(minutes=5)  # written, forwarded and arrived at once: the clocks start here
    settings = app.settings
    dept = settings.directory.department_of(scenario.forwarder)
    assert dept is not None
    plan = simulate(Start(dept, settings.directory.outlet("江城晚报"), start, start, scenario.forwarder),
                    settings.directory, settings.deadlines, settings.daemon.timezone,
                    parse_answers(scenario.answers), horizon=HORIZON)
    planned = [(m.offset, m.notify.step.value, frozenset(p.email for p in m.notify.to),
                frozenset(p.email for p in m.notify.cc)) for m in plan.mails]

    imap.append(outlook_forward(1, sent=start, forwarder=scenario.forwarder), internaldate=start)
    answers = {e.offset: e for e in plan.entries if isinstance(e, PlannedAnswer)}
    sent = walk(app, imap, smtp, start, answers)
    app.close()
    assert not answers, "every answer is on a tick"

    assert [m[1] for m in sent] == [m[1] for m in planned]
    for real, plan_mail in zip(sent, planned, strict=True):
        assert abs(real[0] - plan_mail[0]) <= TICK, (real, plan_mail)
        assert real[1:] == plan_mail[1:], (real, plan_mail)


def walk(app: App, imap: Dovecot, smtp: SmtpServer, start: datetime,
         answers: dict[timedelta, PlannedAnswer]) -> list[Mail]:
    """Tick by tick to the horizon, each answer put in the mailbox just before its tick; the
    mails sent at each tick, one entry per mail (its copies grouped), in sending order."""
    mails: list[Mail] = []
    seen = 0
    at = start
    while at <= start + HORIZON:
        answer = answers.pop(at - start, None)
        if answer is not None:
            answer_in_mailbox(imap, smtp, answer)
        run_until(app, at)
        new = smtp.messages[seen:]
        seen += len(new)
        mails += grouped(at - start, [m for m in new if step_of(m) not in SHELL_STEPS])
        at += TICK
    return mails


def grouped(offset: timedelta, copies: list[Received]) -> list[Mail]:
    """One mail per (step, round): its copies go out one after the other, one per recipient."""
    mails: list[Mail] = []
    last = None
    for copy in copies:
        key = (copy.message_id or "").strip("<>").split(".")[1:3]
        if key != last:
            head = copy.parsed()
            to = frozenset(a.lower() for _, a in getaddresses([str(head.get("To", ""))]) if a)
            cc = frozenset(a.lower() for _, a in getaddresses([str(head.get("Cc", ""))]) if a)
            mails.append((offset, key[0], to, cc))
            last = key
    return mails


def answer_in_mailbox(imap: Dovecot, smtp: SmtpServer, answer: PlannedAnswer) -> None:
    """The answer as it would arrive: a reply to the last mail its person got from us, or a
    bounce of that mail."""
    email = answer.person.email
    ours = next(m for m in reversed(smtp.messages) if m.rcpt_tos == (email,))
    if answer.script.unreachable:
        imap.append(bounce(ours, email))
    else:
        reply(imap, ours, f"{answer.person.name} <{email}>", answer.script.says)


def bounce(ours: Received, email: str) -> bytes:
    returned = ours.raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n(body omitted)\r\n"
    return (b"From: MAILER-DAEMON@mx.corp.example.com\r\nTo: complaints@corp.example.com\r\n"
            b"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
            b"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
            b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.corp.example.com\r\n\r\n"
            b"Final-Recipient: rfc822; " + email.encode() + b"\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
            b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n" + returned + b"--B--\r\n")
