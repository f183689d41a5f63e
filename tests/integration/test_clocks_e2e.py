"""The clocks end to end on real Dovecot and SMTP, with a clock the test moves."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pytest

from daemon.app import App
from daemon.config import load_settings
from daemon.mailer import open_mailer
from daemon.queries import list_cases, load_case
from daemon.sources import open_source
from daemon.store import open_engine
from daemon.views import case_text
from tests.support.dovecot import Dovecot
from tests.support.mail import T0, outlook_forward, server_config, set_keys
from tests.support.smtp import Received, SmtpServer

pytestmark = pytest.mark.integration


class MovableClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def daemon_at(tmp_path: Path, imap: Dovecot, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch,
              **deadlines: str) -> App:
    """The daemon on the test servers; its clock starts 5 minutes after the complaint was written."""
    monkeypatch.setenv("COMPLAINTD_IMAP_PASSWORD", imap.password)
    config = set_keys(server_config(tmp_path, inbound=imap.url(), outbound=smtp.url), "deadlines", **deadlines)
    settings = load_settings(config)
    return App(settings, open_engine(settings.daemon.database), lambda: open_source(settings.inbound),
               open_mailer(settings.outbound), MovableClock(T0 + timedelta(minutes=5)))


def run_until(app: App, at: datetime) -> None:
    app.clock.at = at  # type: ignore[attr-defined]
    app.tick()


def step_of(m: Received) -> str:
    """Our Message-IDs read <case.step.round.token@…>."""
    return (m.message_id or "").strip("<>").split(".")[1]


def test_nobody_answers_and_the_whole_chain_walks(tmp_path: Path, imap: Dovecot, smtp: SmtpServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """assess → account manager → 综合部 with the form → (综合部 silent about a group) the
    company leader asked to decide, nothing convened → (no solution at 4 h) → progress: each
    step reaches its people at its time, in order, once."""
    app = daemon_at(tmp_path, imap, smtp, monkeypatch, ack="24h")  # no failovers in this walk
    imap.append(outlook_forward(1, forwarder="sun@corp.example.com"))
    expected = [
        (T0 + timedelta(minutes=5), "ack", {"sun@corp.example.com", "zonghe@corp.example.com",
                                            "liu.gd@corp.example.com"}),
        (T0 + timedelta(minutes=15), "assess_overdue", {"sun@corp.example.com", "wang.net@corp.example.com"}),
        (T0 + timedelta(minutes=30), "account_manager", {"chen.am@corp.example.com", "sun@corp.example.com"}),
        (T0 + timedelta(hours=1), "general_dept", {"zonghe@corp.example.com", "liu.gd@corp.example.com",
                                                   "sun@corp.example.com",
                                                   "wang.net@corp.example.com", "chen.am@corp.example.com"}),
        (T0 + timedelta(hours=2), "group_overdue", {"zhao.ceo@corp.example.com", "zonghe@corp.example.com",
                                                    "liu.gd@corp.example.com"}),
        (T0 + timedelta(hours=4), "solution_overdue", {"wang.net@corp.example.com", "liu.gd@corp.example.com",
                                                       "sun@corp.example.com"}),
        (T0 + timedelta(hours=5), "progress", {"zhao.ceo@corp.example.com", "zonghe@corp.example.com",
                                               "liu.gd@corp.example.com"}),
    ]
    seen = 0
    for at, step, recipients in expected:
        if seen:  # (the acknowledgment goes out on arrival)
            run_until(app, at - timedelta(seconds=1))
            assert [step_of(m) for m in smtp.messages[seen:]] == [], f"{step} before its time"
        run_until(app, at)
        new = smtp.messages[seen:]
        assert {step_of(m) for m in new} == {step}, f"at {at}: {[step_of(m) for m in new]}"
        assert {m.rcpt_tos[0] for m in new} == recipients
        assert len({m.message_id for m in new}) == len(new)
        seen = len(smtp.messages)
    app.close()

    gd_mail = next(m.parsed() for m in smtp.messages if step_of(m) == "general_dept")
    (form,) = list(gd_mail.iter_attachments())
    assert form.get_filename().startswith("媒体投诉登记表-MT-")
    sheet = openpyxl.load_workbook(io.BytesIO(form.get_content())).worksheets[0]
    cells = {str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None}
    assert {"江城晚报", "网络部", "13912345678"} <= cells
    case = list_cases(app.engine, "all", T0)[0][0]
    assert case.status == "general_dept"  # only 综合部's 成立小组 convenes the group
    record = load_case(app.engine, case.id)
    assert record is not None
    breached = {d.kind for d in record.deadlines if d.breached_at is not None}
    assert {"assess", "account_manager", "general_dept", "group", "solution"} <= breached
    shown = case_text(record, app.settings.daemon.timezone, app.settings.directory).splitlines()
    assess_row = next(line for line in shown if line.startswith("评估答复"))
    assert re.split(r"\s{2,}", assess_row)[1:] == ["2026-11-27 10:30:00", "—", "2026-11-27 10:30:00"]  # due, met, breached
    assert any(line.startswith("确认回复（王强）") for line in shown)  # the leader, as the directory names him
    gd_text = gd_mail.get_body(("plain",)).get_content()
    assert "请于 11-28 11:15 前回复" in gd_text  # the ack window (24 h in this test) before B is told


def test_a_silent_a_contact_hands_over_to_b(tmp_path: Path, imap: Dovecot, smtp: SmtpServer,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """综合部's A contact does not answer the 综合部 mail within 10 minutes: B is told, A in copy."""
    app = daemon_at(tmp_path, imap, smtp, monkeypatch)
    imap.append(outlook_forward(1, forwarder="sun@corp.example.com"))
    run_until(app, T0 + timedelta(hours=1))
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=1, minutes=10))
    failover = [m for m in smtp.messages[seen:] if step_of(m) == "failover"]
    targets = {m.rcpt_tos[0] for m in failover}
    assert "zhou.gd@corp.example.com" in targets  # 综合部 B for its A (liu.gd)
    mail = next(m.parsed() for m in failover if m.rcpt_tos == ("zhou.gd@corp.example.com",))
    assert "liu.gd@corp.example.com" in mail["Cc"]
    assert "请B角处理" in mail["Subject"]
    app.close()


def test_a_refused_a_contact_hands_over_to_b_at_once(tmp_path: Path, imap: Dovecot, smtp: SmtpServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The server refuses 综合部's A contact (550): B is told on the next pass, not 10 minutes on."""
    app = daemon_at(tmp_path, imap, smtp, monkeypatch)
    smtp.reject.add("liu.gd@corp.example.com")
    imap.append(outlook_forward(1, forwarder="sun@corp.example.com"))
    run_until(app, T0 + timedelta(hours=1))
    run_until(app, T0 + timedelta(hours=1, seconds=1))
    failover = [m for m in smtp.messages if step_of(m) == "failover"]
    assert {m.rcpt_tos[0] for m in failover} >= {"zhou.gd@corp.example.com"}
    app.close()


def our_mail_to(smtp: SmtpServer, step: str, address: str) -> Received:
    return next(m for m in smtp.messages if step_of(m) == step and m.rcpt_tos == (address,))


def test_an_out_of_office_from_a_hands_over_to_b_at_once(tmp_path: Path, imap: Dovecot, smtp: SmtpServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """综合部's A answers the 综合部 mail with an automatic out-of-office: B is told on the
    same pass, the auto-reply itself acknowledges nothing and gets no answer."""
    app = daemon_at(tmp_path, imap, smtp, monkeypatch)
    imap.append(outlook_forward(1, forwarder="sun@corp.example.com"))
    run_until(app, T0 + timedelta(hours=1))
    ours = our_mail_to(smtp, "general_dept", "liu.gd@corp.example.com")
    imap.append(("From: 刘洋 <liu.gd@corp.example.com>\r\nTo: complaints@corp.example.com\r\n"
                 "Subject: 自动回复: 休假中\r\nAuto-Submitted: auto-replied\r\n"
                 f"In-Reply-To: {ours.message_id}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                 "我正在休假，11月30日返回。\r\n").encode())
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=1, minutes=1))
    new = smtp.messages[seen:]
    # B told (to), A in copy.
    assert {(step_of(m), m.rcpt_tos[0]) for m in new} == {("failover", "zhou.gd@corp.example.com"),
                                                         ("failover", "liu.gd@corp.example.com")}
    app.close()


def test_a_bounce_for_a_hands_over_to_b_at_once(tmp_path: Path, imap: Dovecot, smtp: SmtpServer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A delivery-status report saying 综合部's A cannot be reached: B is told on the same pass."""
    app = daemon_at(tmp_path, imap, smtp, monkeypatch)
    imap.append(outlook_forward(1, forwarder="sun@corp.example.com"))
    run_until(app, T0 + timedelta(hours=1))
    ours = our_mail_to(smtp, "general_dept", "liu.gd@corp.example.com")
    returned = ours.raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n(body omitted)\r\n"
    imap.append(b"From: MAILER-DAEMON@mx.corp.example.com\r\nTo: complaints@corp.example.com\r\n"
                b"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
                b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
                b"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
                b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.corp.example.com\r\n\r\n"
                b"Final-Recipient: rfc822; liu.gd@corp.example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
                b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n" + returned + b"--B--\r\n")
    seen = len(smtp.messages)
    run_until(app, T0 + timedelta(hours=1, minutes=1))
    new = smtp.messages[seen:]
    # B told (to), A in copy; and 综合部 (but not the bounced address) asked to check the directory.
    assert {(step_of(m), m.rcpt_tos[0]) for m in new} == {("failover", "zhou.gd@corp.example.com"),
                                                         ("failover", "liu.gd@corp.example.com"),
                                                         ("bad_address", "zonghe@corp.example.com"),
                                                         ("bad_address", "zhou.gd@corp.example.com")}
    app.close()


def test_the_daemon_rides_out_a_mail_server_restart(tmp_path: Path, imap: Dovecot, smtp: SmtpServer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Dovecot goes down mid-run: the pass fails quietly and backs off; once the server is
    back and the back-off is over, the daemon reconnects and registers what arrived."""
    app = daemon_at(tmp_path, imap, smtp, monkeypatch)
    imap.append(outlook_forward(1, forwarder="sun@corp.example.com"))
    run_until(app, T0 + timedelta(minutes=5))
    assert len(list_cases(app.engine, "all", T0)) == 1
    imap.stop()
    try:
        run_until(app, T0 + timedelta(minutes=6))  # fails inside, logged; the loop goes on
        assert app.source_backoff.failures == 1 and app.source_backoff.retry_at is not None
    finally:
        imap.start()
    imap.append(outlook_forward(2, forwarder="sun@corp.example.com"))
    run_until(app, app.source_backoff.retry_at - timedelta(milliseconds=1))  # still backing off
    assert len(list_cases(app.engine, "all", T0)) == 1
    run_until(app, T0 + timedelta(minutes=8))
    assert len(list_cases(app.engine, "all", T0)) == 2
    assert app.source_backoff.failures == 0
    app.close()
