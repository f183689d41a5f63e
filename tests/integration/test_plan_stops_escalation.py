"""An agreed plan (方案 + 预计完成) means the case is being handled where it is (issue 12, item 2);
silence at the group deadline convenes nothing (item 4).

On real Dovecot and SMTP with a clock the test moves: after a plan nobody is told that the
receiving side "could not mobilise resources"; only the agreed completion time passing, or
someone saying 无法处理 / 上报综合部, escalates again.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from daemon.app import App
from daemon.queries import load_case
from tests.integration.test_clocks_e2e import daemon_at, our_mail_to, run_until, step_of
from tests.integration.test_replies_e2e import CASE, case_row, new_mails, reply
from tests.support.dovecot import Dovecot
from tests.support.mail import T0, outlook_forward
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

SHANGHAI = timezone(timedelta(hours=8))
AGREED = datetime(2026, 11, 28, 18, 0, tzinfo=SHANGHAI)  # "明天18:00", said on 11-27
LEADER, RECEIVER = "wang.net@corp.example.com", "sun@corp.example.com"
GD_A = "liu.gd@corp.example.com"
# The mails that would claim the receiving side cannot resolve it, or that nobody acted.
CLIMB = {"account_manager", "account_manager_unknown", "general_dept", "solution_overdue", "group",
         "group_overdue", "higher_authority"}


def steps_between(app: App, smtp: SmtpServer, *times: datetime) -> set[str]:
    """Run a deadline pass at each time; the steps of every mail sent meanwhile."""
    seen = len(smtp.messages)
    for at in times:
        run_until(app, at)
    return {step_of(m) for m in smtp.messages[seen:]}


def deadline(app: App, kind: str, round_: int = 0):  # type: ignore[no-untyped-def]
    record = load_case(app.engine, CASE)
    assert record is not None
    return next(d for d in record.deadlines if d.kind == kind and d.round == round_)


def test_a_plan_from_the_leader_stops_the_climb_until_the_agreed_time_passes(
        app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """The leader answers the 15-minute reminder with 方案 + 预计完成：明天18:00: no account
    manager at 30 min, no 综合部 at 1 h, no solution reminder at 4 h; at 18:00 the next day,
    still not done, the leader and 综合部 are told that the completion is overdue."""
    run_until(app, T0 + timedelta(minutes=15))
    reply(imap, our_mail_to(smtp, "assess_overdue", LEADER), f"王强 <{LEADER}>",
          "方案：更换光猫并上门检修\r\n预计完成：明天18:00")
    run_until(app, T0 + timedelta(minutes=16))
    case = case_row(app)
    assert case.status == "local" and case.solution == "更换光猫并上门检修"
    assert deadline(app, "normal_completion").due_at == AGREED

    sent = steps_between(app, smtp, *(T0 + timedelta(minutes=n) for n in (30, 40, 60, 70, 240, 250, 480)),
                         AGREED - timedelta(seconds=1))
    assert not sent & CLIMB, sorted(sent & CLIMB)
    assert case_row(app).status == "local"
    for kind in ("account_manager", "general_dept", "solution"):  # (assess was missed: the reminder went out)
        clock = deadline(app, kind)
        assert clock.met_at is not None and clock.breached_at is None, kind

    seen = len(smtp.messages)
    run_until(app, AGREED)
    assert {("completion_overdue", LEADER), ("completion_overdue", GD_A)} <= new_mails(smtp, seen)
    assert deadline(app, "normal_completion").breached_at is not None


def test_general_dept_is_still_reached_when_the_plan_fails(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """The receiver's plan stopped the 1-hour hand-over; at 2 h the plan fails and the
    receiver replies 上报综合部: 综合部 gets the whole event on that pass."""
    ack = our_mail_to(smtp, "ack", RECEIVER)
    reply(imap, ack, f"孙明 <{RECEIVER}>", "方案：今晚更换光交箱\r\n预计完成：今天22:00")
    assert not steps_between(app, smtp, T0 + timedelta(minutes=6), T0 + timedelta(hours=1),
                             T0 + timedelta(hours=2)) & CLIMB
    reply(imap, ack, f"孙明 <{RECEIVER}>", "上报综合部")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=2, minutes=1))
    assert {("general_dept", "zonghe@corp.example.com"), ("general_dept", GD_A)} <= new_mails(smtp, seen)
    assert case_row(app).status == "general_dept"


def test_cannot_after_a_plan_brings_in_the_account_manager_then_general_dept(
        app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """The plan stopped the account-manager and 综合部 clocks; 无法处理 at 2 h starts them
    again: the account manager at once, 综合部 as long after as the procedure allows between
    the two (30 min at default durations) when nothing else is said meanwhile."""
    ack = our_mail_to(smtp, "ack", RECEIVER)
    reply(imap, ack, f"孙明 <{RECEIVER}>", "方案：今晚更换光交箱\r\n预计完成：今天22:00")
    steps_between(app, smtp, T0 + timedelta(minutes=6), T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    reply(imap, ack, f"孙明 <{RECEIVER}>", "无法处理")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=2, minutes=1))
    assert ("account_manager", "chen.am@corp.example.com") in new_mails(smtp, seen)
    assert case_row(app).status == "account_manager"
    assert "general_dept" not in steps_between(app, smtp, T0 + timedelta(hours=2, minutes=30))
    assert "general_dept" in steps_between(app, smtp, T0 + timedelta(hours=2, minutes=31))


def test_general_dept_convenes_by_answering_the_company_leaders_group_question(
        app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """综合部 stays silent for its hour: the company leader is asked to decide, and nobody is
    convened. 综合部 then answers its copy of that mail with 成立小组: the group is convened."""
    run_until(app, T0 + timedelta(hours=1))
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=2))
    asked = {(step, to) for step, to in new_mails(smtp, seen) if step.startswith("group")}
    assert asked == {("group_overdue", "zhao.ceo@corp.example.com"), ("group_overdue", "zonghe@corp.example.com"),
                     ("group_overdue", GD_A)}
    assert case_row(app).status == "general_dept"
    reply(imap, our_mail_to(smtp, "group_overdue", GD_A), f"刘洋 <{GD_A}>", "成立小组：网络部、市场部")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=2, minutes=5))
    assert {("group", "zhang.net@corp.example.com"), ("group", "feng.mkt@corp.example.com")} <= new_mails(smtp, seen)
    assert case_row(app).status == "company_group"


def test_the_company_leader_convenes_by_answering_his_group_question(app: App, imap: Dovecot,
                                                                    smtp: SmtpServer) -> None:
    """SPEC §3: a missed group clock goes to the company leader, "who (or 综合部) convenes by reply"."""
    run_until(app, T0 + timedelta(hours=1))
    run_until(app, T0 + timedelta(hours=2))
    reply(imap, our_mail_to(smtp, "group_overdue", "zhao.ceo@corp.example.com"), "赵总 <zhao.ceo@corp.example.com>",
          "成立小组：网络部")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=2, minutes=5))
    assert ("group", "zhang.net@corp.example.com") in new_mails(smtp, seen)
    assert case_row(app).status == "company_group"


def test_on_second_scaled_clocks_a_plan_stops_the_climb(tmp_path: Path, imap: Dovecot, smtp: SmtpServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same procedure with its clocks in seconds (config durations): the leader's 方案 at
    the 15 s reminder means no account manager at 30 s, no 综合部 at 60 s, no solution
    reminder at 240 s; the completion clock runs to the agreed time."""
    app = daemon_at(tmp_path, imap, smtp, monkeypatch, assess="15s", account_manager="30s", general_dept="60s",
                    solution="240s", ack="10s", group="60s", progress="240s")
    start = T0 + timedelta(minutes=5)  # written, forwarded and arrived at once: the clocks start here
    imap.append(outlook_forward(1, sent=start, forwarder=RECEIVER), internaldate=start)
    run_until(app, start)
    run_until(app, start + timedelta(seconds=15))
    reply(imap, our_mail_to(smtp, "assess_overdue", LEADER), f"王强 <{LEADER}>",
          "方案：更换光猫并上门检修\r\n预计完成：明天18:00")
    sent = steps_between(app, smtp, *(start + timedelta(seconds=s) for s in (16, 30, 45, 60, 75, 240, 300)))
    assert not sent & CLIMB, sorted(sent & CLIMB)
    assert case_row(app).status == "local"
    assert deadline(app, "normal_completion").due_at == AGREED
    app.close()
