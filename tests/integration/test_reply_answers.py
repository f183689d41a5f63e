"""Replies are never silently lost (issue 12, item 1): on real Dovecot and SMTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from daemon.app import App
from daemon.queries import load_case
from daemon.store import session
from models.tables import Event
from tests.integration.test_clocks_e2e import our_mail_to, run_until
from tests.integration.test_replies_e2e import CASE, new_mails, reply
from tests.support.dovecot import Dovecot
from tests.support.mail import T0
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration


def test_a_reply_we_cannot_read_is_answered_with_what_we_read(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """孙明 writes something that is no command: he is told what was read and how to answer."""
    reply(imap, our_mail_to(smtp, "ack", "sun@corp.example.com"), "孙明 <sun@corp.example.com>",
          "这个问题我们明天开会再讨论一下")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(minutes=6))
    assert new_mails(smtp, seen) == {("confirm", "sun@corp.example.com")}
    answer = our_mail_to(smtp, "confirm", "sun@corp.example.com").parsed().get_body(("plain",)).get_content()
    assert "未识别出指令" in answer and "这个问题我们明天开会再讨论一下" in answer


def test_a_late_acknowledgment_still_counts_recorded_as_late(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """The account manager's A answers 收到 after their 10 minutes (B was already told): the
    answer is recorded on the case as a late acknowledgment, and A is told so."""
    run_until(app, T0 + timedelta(minutes=30))  # the account manager is engaged, A awaited
    run_until(app, T0 + timedelta(minutes=40))  # A silent: B told
    assert ("failover", "wu.am@corp.example.com") in new_mails(smtp, 0)
    reply(imap, our_mail_to(smtp, "account_manager", "chen.am@corp.example.com"), "陈静 <chen.am@corp.example.com>",
          "收到")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(minutes=45))
    record = load_case(app.engine, CASE)
    assert record is not None
    [window] = [d for d in record.deadlines if d.kind == "ack" and d.target.endswith("/chen.am@corp.example.com")]
    assert window.breached_at is not None and window.met_at == T0 + timedelta(minutes=45)
    with session(app.engine) as db:
        late = db.exec(select(Event).where(Event.case_id == CASE, Event.summary.contains("迟复"))).all()  # type: ignore[attr-defined]
    assert late and late[0].actor == "chen.am@corp.example.com"
    assert ("confirm", "chen.am@corp.example.com") in new_mails(smtp, seen)
    answer = our_mail_to(smtp, "confirm", "chen.am@corp.example.com").parsed().get_body(("plain",)).get_content()
    assert "记为迟复" in answer
