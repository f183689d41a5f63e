"""Replying is the user interface: on real Dovecot and SMTP, with a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from pathlib import Path

import pytest
from sqlmodel import select

from daemon.app import App
from daemon.queries import load_case
from daemon.store import session
from models.tables import Case, Event
from tests.integration.test_clocks_e2e import daemon_at, our_mail_to, run_until, step_of
from tests.support.dovecot import Dovecot
from tests.support.mail import T0, outlook_forward
from tests.support.smtp import Received, SmtpServer

pytestmark = pytest.mark.integration

CASE = "MT-20261127-0001"
SHANGHAI = timezone(timedelta(hours=8))


def reply(imap: Dovecot, to: Received | None, sender: str, text: str, *, subject: str | None = None,
          in_reply_to: str | None = None) -> None:
    """A person's reply as Outlook writes it: their words, then the quoted original."""
    ours = to.parsed() if to else None
    subject = subject or "答复: " + str(ours["Subject"] if ours else f"[{CASE}]")
    thread = in_reply_to if in_reply_to is not None else (to.message_id if to else "")
    head = (f"From: {sender}\r\nTo: complaints@corp.example.com\r\n"
            f"Subject: {Header(subject, 'utf-8').encode()}\r\n"
            f"Message-ID: <r{datetime.now(UTC).timestamp()}{sender.split('@')[0]}@corp.example.com>\r\n"
            + (f"In-Reply-To: {thread}\r\nReferences: {thread}\r\n" if thread else "")
            + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
    body = text + "\r\n\r\n-----邮件原件-----\r\n发件人: 媒体投诉处理 <complaints@corp.example.com>\r\n主题: 原邮件\r\n\r\n原文\r\n"
    imap.append(head.encode() + body.encode("utf-8"))


def new_mails(smtp: SmtpServer, since: int) -> set[tuple[str, str]]:
    return {(step_of(m), m.rcpt_tos[0]) for m in smtp.messages[since:]}


def case_row(app: App) -> Case:
    with session(app.engine) as db:
        return db.get(Case, CASE)  # type: ignore[return-value]


def test_a_answers_and_b_is_never_told(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """综合部's A replies 收到 to the 综合部 mail: its failover never happens."""
    run_until(app, T0 + timedelta(hours=1))
    reply(imap, our_mail_to(smtp, "general_dept", "liu.gd@corp.example.com"), "刘洋 <liu.gd@corp.example.com>", "收到")
    run_until(app, T0 + timedelta(hours=1, minutes=2))
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=1, minutes=30))
    assert ("failover", "zhou.gd@corp.example.com") not in new_mails(smtp, seen)
    assert ("failover", "zhou.gd@corp.example.com") not in new_mails(smtp, 0)


def test_cannot_resolve_brings_in_the_account_manager_at_once(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """The receiver replies 无法处理 at 10:21: the account manager hears on that pass, not at 10:45."""
    reply(imap, our_mail_to(smtp, "ack", "sun@corp.example.com"), "孙明 <sun@corp.example.com>", "无法处理")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(minutes=6))
    got = new_mails(smtp, seen)
    assert ("account_manager", "chen.am@corp.example.com") in got
    assert ("confirm", "sun@corp.example.com") in got
    assert case_row(app).status == "account_manager"


def test_a_solution_with_its_completion_time_is_recorded_and_reported(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """方案：… 预计完成：明天18:00 — recorded, reported to the leader and 综合部, completion clock moved."""
    reply(imap, our_mail_to(smtp, "ack", "sun@corp.example.com"), "孙明 <sun@corp.example.com>",
          "方案：今晚更换故障光交箱，明天上门回访。\r\n预计完成：明天18:00")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(minutes=6))
    case = case_row(app)
    assert case.solution and "更换故障光交箱" in case.solution
    assert case.expected_completion_at == datetime(2026, 11, 28, 18, 0, tzinfo=SHANGHAI)
    got = new_mails(smtp, seen)
    assert {("solution_report", "wang.net@corp.example.com"), ("solution_report", "zonghe@corp.example.com"),
            ("confirm", "sun@corp.example.com")} <= got
    record = load_case(app.engine, CASE)
    assert record is not None
    completion = next(d for d in record.deadlines if d.kind == "normal_completion")
    assert completion.due_at == datetime(2026, 11, 28, 18, 0, tzinfo=SHANGHAI)


def test_an_approved_statement_reaches_every_interface_person_in_one_pass(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """综合部 drafts 口径, the company leader replies 批准: the statement goes out on that pass."""
    run_until(app, T0 + timedelta(hours=1))
    reply(imap, our_mail_to(smtp, "general_dept", "liu.gd@corp.example.com"), "刘洋 <liu.gd@corp.example.com>",
          "口径：因光缆被施工挖断导致断网，我公司已连夜抢修，预计今晚恢复。")
    run_until(app, T0 + timedelta(hours=1, minutes=1))
    draft = our_mail_to(smtp, "statement_draft", "zhao.ceo@corp.example.com")
    reply(imap, draft, "赵总 <zhao.ceo@corp.example.com>", "批准")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=1, minutes=2))
    got = new_mails(smtp, seen)
    interface_a = {"zhang.net@corp.example.com", "feng.mkt@corp.example.com", "yang.cs@corp.example.com"}
    assert {r for step, r in got if step == "statement"} >= interface_a
    statement = our_mail_to(smtp, "statement", "zhang.net@corp.example.com").parsed()
    assert "光缆被施工挖断" in statement.get_body(("plain",)).get_content()


def test_resolution_closes_the_case_and_its_clocks(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """办结：… closes the case; the hours that follow send nothing more."""
    reply(imap, our_mail_to(smtp, "ack", "sun@corp.example.com"), "孙明 <sun@corp.example.com>",
          "办结：已修复，记者确认网络恢复。")
    run_until(app, T0 + timedelta(minutes=6))
    assert case_row(app).status == "resolved"
    assert {s for s, _ in new_mails(smtp, 0)} >= {"resolved", "confirm"}
    closure = our_mail_to(smtp, "resolved", "wang.net@corp.example.com").parsed()  # the leader, and 综合部
    (form,) = list(closure.iter_attachments())
    assert form.get_filename() == f"媒体投诉登记表-{CASE}.xlsx"
    assert "已修复，记者确认网络恢复" in closure.get_body(("plain",)).get_content()
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=10))
    assert new_mails(smtp, seen) == set()


def test_a_forged_leader_without_the_token_cannot_approve(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """From: the company leader, but threading to a mail he was never sent: rejected, silent."""
    run_until(app, T0 + timedelta(hours=1))
    reply(imap, our_mail_to(smtp, "general_dept", "liu.gd@corp.example.com"), "刘洋 <liu.gd@corp.example.com>",
          "口径：我们不予置评。")
    run_until(app, T0 + timedelta(hours=1, minutes=1))
    forged_thread = our_mail_to(smtp, "general_dept", "zonghe@corp.example.com").message_id  # not his
    reply(imap, None, "赵总 <zhao.ceo@corp.example.com>", "批准", subject=f"Re: [{CASE}]", in_reply_to=forged_thread)
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=1, minutes=2))
    # No statement, nothing to the forger; the real leader is asked to answer our own mail.
    assert new_mails(smtp, seen) == {("verify", "zhao.ceo@corp.example.com")}
    assert case_row(app).statement_approved_at is None


def test_an_outsider_changes_nothing_and_hears_nothing(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """A journalist replying with the case tag cannot resolve it, and gets no answer; what
    they wrote goes on the case's record."""
    reply(imap, None, "李记者 <li.reporter@jcwb.example.cn>", "办结：已解决", subject=f"回复：[{CASE}] 投诉", in_reply_to="")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(minutes=6))
    assert case_row(app).status == "registered"
    assert not [m for m in smtp.messages[seen:] if "jcwb" in m.rcpt_tos[0]]
    with session(app.engine) as db:
        event = db.exec(select(Event).where(Event.actor == "li.reporter@jcwb.example.cn")).one()
    assert event.kind == "mail_in" and "办结：已解决" in event.summary


def test_an_account_manager_cannot_approve_a_statement(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """The AM answers his own mail with 批准: the role table refuses it."""
    run_until(app, T0 + timedelta(minutes=30))
    run_until(app, T0 + timedelta(hours=1))
    reply(imap, our_mail_to(smtp, "general_dept", "liu.gd@corp.example.com"), "刘洋 <liu.gd@corp.example.com>", "口径：草稿")
    run_until(app, T0 + timedelta(hours=1, minutes=1))
    reply(imap, our_mail_to(smtp, "account_manager", "chen.am@corp.example.com"), "陈静 <chen.am@corp.example.com>", "批准")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=1, minutes=2))
    assert not {s for s, _ in new_mails(smtp, seen)} & {"statement"}
    assert case_row(app).statement_approved_at is None


def test_editing_the_subject_tag_cannot_reach_another_case(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """A reply threading to case 1's mail but tagged with case 2 never touches case 2."""
    imap.append(outlook_forward(2, forwarder="sun@corp.example.com"))
    run_until(app, T0 + timedelta(minutes=5, seconds=30))
    reply(imap, our_mail_to(smtp, "ack", "sun@corp.example.com"), "孙明 <sun@corp.example.com>", "办结：已解决",
          subject="回复：[MT-20261127-0002] 改了编号")
    run_until(app, T0 + timedelta(minutes=6))
    with session(app.engine) as db:
        assert db.get(Case, "MT-20261127-0002").status == "registered"  # type: ignore[union-attr]


def test_reply_text_never_becomes_a_header_or_template(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """方案 with Jinja syntax and a fake header line: both arrive as plain words."""
    reply(imap, our_mail_to(smtp, "ack", "sun@corp.example.com"), "孙明 <sun@corp.example.com>",
          "方案：{{ 7 * 7 }} Bcc: boss@corp.example.com {% raw %}x{% endraw %}")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(minutes=6))
    report = next(m.parsed() for m in smtp.messages[seen:] if step_of(m) == "solution_report")
    assert report["Bcc"] is None
    assert "{{ 7 * 7 }}" in report.get_body(("plain",)).get_content()


def test_general_dept_convenes_the_group_by_reply(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """综合部 replies 成立小组：网络部、市场部 within its hour: the group is convened at once,
    and its clock counts as met, not missed."""
    run_until(app, T0 + timedelta(hours=1))
    reply(imap, our_mail_to(smtp, "general_dept", "liu.gd@corp.example.com"), "刘洋 <liu.gd@corp.example.com>",
          "成立小组：网络部、市场部")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=1, minutes=5))
    got = new_mails(smtp, seen)
    assert {("group", "zhang.net@corp.example.com"), ("group", "feng.mkt@corp.example.com")} <= got
    record = load_case(app.engine, CASE)
    assert record is not None and record.case.status == "company_group"
    group = next(d for d in record.deadlines if d.kind == "group")
    assert group.met_at is not None and group.breached_at is None


def test_a_major_incident_goes_to_the_emergency_contacts_and_stops_the_clocks(app: App, imap: Dovecot,
                                                                              smtp: SmtpServer) -> None:
    """The company leader replies 重大: the 重大突发事件 contacts get the case; nothing more follows."""
    run_until(app, T0 + timedelta(hours=1))  # 综合部 takes over …
    run_until(app, T0 + timedelta(hours=2))  # … and an hour on the company leader is asked about a group
    reply(imap, our_mail_to(smtp, "group_overdue", "zhao.ceo@corp.example.com"), "赵总 <zhao.ceo@corp.example.com>", "重大")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=2, minutes=1))
    assert ("major", "emergency@corp.example.com") in new_mails(smtp, seen)
    assert case_row(app).status == "major"
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=12))
    assert new_mails(smtp, seen) == set()


def test_general_dept_dismisses_spam_sent_to_the_mailbox(tmp_path: Path, imap: Dovecot, smtp: SmtpServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A stranger's mail becomes a case at 综合部; 综合部 replies 非媒体投诉 and it is closed."""
    app = daemon_at(tmp_path, imap, smtp, monkeypatch)
    imap.append(("From: 推广 <promo@spam.example.net>\r\nTo: complaints@corp.example.com\r\n"
                 "Subject: =?utf-8?b?5Y+R56Wo?=\r\nMessage-ID: <spam1@spam.example.net>\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + "代开发票，联系微信。\r\n".encode())
    run_until(app, T0 + timedelta(minutes=5))
    reply(imap, our_mail_to(smtp, "ack", "liu.gd@corp.example.com"), "刘洋 <liu.gd@corp.example.com>", "非媒体投诉")
    run_until(app, T0 + timedelta(minutes=6))
    assert case_row(app).status == "dismissed"
    assert not [m for m in smtp.messages if "spam.example.net" in m.rcpt_tos[0]]
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=6))
    assert new_mails(smtp, seen) == set()
    app.close()


def test_confirmations_are_capped_per_sender_per_hour(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """Twelve progress replies in a burst (a client stuck in a loop): each is recorded, at most
    ten confirmations go back within the hour."""
    ack = our_mail_to(smtp, "ack", "sun@corp.example.com")
    for n in range(12):
        reply(imap, ack, "孙明 <sun@corp.example.com>", f"进展：第{n}次更新")
    run_until(app, T0 + timedelta(minutes=6))
    confirms = [m for m in smtp.messages if step_of(m) == "confirm"]
    assert len(confirms) == 10
    with session(app.engine) as db:
        recorded = db.exec(select(Event).where(Event.kind == "command", Event.case_id == CASE)).all()
    assert len(recorded) == 12
