"""End to end on real servers: Dovecot in, aiosmtpd out, `complaintd run --once` between."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from daemon.__main__ import main
from daemon.app import App
from daemon.config import load_settings
from daemon.mailer import open_mailer
from daemon.ports import MailSource, SourceKey
from daemon.queries import list_cases, load_case
from daemon.sources import open_source
from daemon.store import open_engine, session
from models.tables import Event, InboundMail
from tests.support.dovecot import Dovecot
from tests.support.mail import DEPARTMENT_OF, FORWARDERS, T0, outlook_forward, server_config
from tests.support.postgres import empty_database
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

N = 9


@pytest.fixture
def config(tmp_path: Path, imap: Dovecot, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COMPLAINTD_IMAP_PASSWORD", imap.password)
    return server_config(tmp_path, inbound=imap.url(), outbound=smtp.url)


def run_once(config: Path) -> None:
    assert main(["run", "--once", "-c", str(config)]) == 0


def mails_to(smtp: SmtpServer, address: str, step: str) -> list[email.message.EmailMessage]:
    """What one address received for one step (our Message-IDs name it: <case.step.round.…>)."""
    return [m.parsed() for m in smtp.messages if m.rcpt_tos == (address,) and f".{step}." in (m.message_id or "")]


def acks_to(smtp: SmtpServer, address: str) -> list[email.message.EmailMessage]:
    """The acknowledgments (the complaints are old enough that the deadline pass escalates
    them in the same run; those mails are other steps)."""
    return mails_to(smtp, address, "ack")


def test_forwarded_complaints_become_cases_acknowledged_and_moved(config: Path, imap: Dovecot,
                                                                   smtp: SmtpServer) -> None:
    """N forwards in INBOX → N cases with the right fields, N acks to the forwarders, INBOX empty."""
    for n in range(N):
        # Arrived at the forward's 10:20: the real clock runs on, and an original older than
        # 7 days before arrival would be clamped (SPEC §3), so arrival must not be "now".
        imap.append(outlook_forward(n), internaldate=T0 + timedelta(minutes=5))
    run_once(config)

    settings = load_settings(config)
    engine = open_engine(settings.daemon.database)
    cases = [c for c, _ in list_cases(engine, "all", T0)]
    assert len(cases) == N
    for case in cases:
        n = int(case.original_subject.split("号")[0].lstrip("第"))
        assert case.forwarder_email == FORWARDERS[n % 3]
        assert case.receiving_dept == DEPARTMENT_OF[case.forwarder_email]
        assert case.media_outlet == "江城晚报"
        assert case.original_from_email == "li.reporter@jcwb.example.cn"
        assert case.reporter_name == "李记者"
        assert case.account_manager == "陈静 <chen.am@corp.example.com>"
        assert case.phone == "13912345678"
        assert f"第{n}号小区已经三天没有手机信号" in case.complaint_text
        assert case.received_at == T0  # the original's 10:15, not the forward's 10:20

    acks = [m for f in FORWARDERS for m in acks_to(smtp, f)]
    assert len(acks) == N
    for ack in acks:
        assert ack["Subject"].startswith("[MT-2026")
        assert ack["Auto-Submitted"] == "auto-generated"
        assert ack["X-Auto-Response-Suppress"] == "All"
        assert ack["In-Reply-To"].startswith("<fwd-")
        assert "zonghe@corp.example.com" in ack["Cc"]
        text = ack.get_body(("plain",)).get_content()
        assert "您转来的媒体投诉已登记" in text and "评估答复" in text
    assert len(acks_to(smtp, "zonghe@corp.example.com")) == N  # 综合部 in copy, its own copy

    assert imap.count("INBOX") == 0
    assert imap.count("Processed") == N


def test_a_second_pass_changes_nothing(config: Path, imap: Dovecot, smtp: SmtpServer) -> None:
    """`run --once` twice: no new case, no new mail, nothing moved back."""
    for n in range(3):
        imap.append(outlook_forward(n))
    run_once(config)
    sent = len(smtp.messages)
    run_once(config)
    engine = open_engine(load_settings(config).daemon.database)
    assert len(list_cases(engine, "all", T0)) == 3
    assert len(smtp.messages) == sent
    assert (imap.count("INBOX"), imap.count("Processed")) == (0, 3)


class Crash(BaseException):
    """Stands for SIGKILL: passes every `except Exception` in the daemon."""


class CrashBeforeMove:
    """The real mailbox, but the process dies when it comes to move, after the commits."""

    def __init__(self, inner: MailSource) -> None:
        self.inner = inner
        self.name = inner.name

    def fetch_new(self):  # type: ignore[no-untyped-def]
        return self.inner.fetch_new()

    def move_to_processed(self, keys: Sequence[SourceKey]) -> None:
        if keys:
            raise Crash()

    def move_to_quarantine(self, keys: Sequence[SourceKey]) -> None:
        self.inner.move_to_quarantine(keys)

    def wait(self, timeout: float) -> bool:
        return self.inner.wait(timeout)

    def close(self) -> None:
        self.inner.close()


def test_killed_between_commit_and_move_creates_no_duplicate(config: Path, imap: Dovecot,
                                                             smtp: SmtpServer) -> None:
    """A crash after the case is committed but before the message moved: the restart only moves it."""
    for n in range(3):
        imap.append(outlook_forward(n))
    settings = load_settings(config)
    engine = open_engine(settings.daemon.database)
    app = App(settings, engine, lambda: CrashBeforeMove(open_source(settings.inbound)),
              open_mailer(settings.outbound))
    with pytest.raises(Crash):
        app.intake_pass(T0 + timedelta(minutes=6))
    app.close_source()
    assert len(list_cases(engine, "all", T0)) == 3  # all registered …
    assert imap.count("INBOX") == 3  # … none moved

    run_once(config)  # a new process, same database and mailbox

    assert len(list_cases(engine, "all", T0)) == 3
    assert (imap.count("INBOX"), imap.count("Processed")) == (0, 3)
    assert sum(len(acks_to(smtp, f)) for f in FORWARDERS) == 3


def test_bad_messages_are_kept_reported_and_the_daemon_goes_on(config: Path, imap: Dovecot,
                                                               smtp: SmtpServer) -> None:
    """Truncated MIME, a bogus charset, a 20 MB attachment, a NUL in a header: each ends as a
    case or in Quarantine with a record, 综合部 hears of the quarantined ones, and one good
    complaint behind them is still registered."""
    bad = {
        "truncated": (b"From: sun@corp.example.com\r\nSubject: cut\r\nMIME-Version: 1.0\r\n"
                      b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\n"
                      b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                      b"5rGf5Z+O5pma5oql6K6w6ICF5oqV6K+J"),
        "charset": (b"From: sun@corp.example.com\r\nSubject: =?x-no-such?B?AAAA?=\r\n"
                    b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n\xbd\xad\xb3\xc7\xcd\xed\xb1\xa8\r\n"),
        "huge": _with_attachment(outlook_forward(100), 20 * 1024 * 1024),
        "nul": b"From: sun@corp.example.com\r\nSubject: a\x00b\r\n\r\n\xe6\xb1\x9f\xe5\x9f\x8e\r\n",
        "outlook_msg": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096),  # a .msg file, not mail
        "no_headers": "只是一段文字，没有任何邮件头。\r\n".encode("gbk"),
    }
    for raw in bad.values():
        imap.append(raw)
    imap.append(outlook_forward(7))
    run_once(config)

    assert imap.count("INBOX") == 0
    assert imap.count("Processed") + imap.count("Quarantine") == len(bad) + 1
    settings = load_settings(config)
    engine = open_engine(settings.daemon.database)
    with session(engine) as db:
        rows = db.exec(select(InboundMail)).all()
        assert len(rows) == len(bad) + 1
        assert all(r.reason for r in rows if r.status == "quarantined")
        quarantined = [r for r in rows if r.status == "quarantined"]
        assert len(quarantined) == 2  # the .msg file and the headerless text
        huge = next(r for r in rows if r.size > 20 * 1024 * 1024)
        assert huge.status == "registered"
        damaged = next(r for r in rows if r.subject == "cut")
        problems = db.exec(select(Event).where(Event.case_id == damaged.case_id, Event.kind == "parse_problems")).one()
        assert "truncated" in problems.summary
        case_events = db.exec(select(Event).where(Event.case_id == huge.case_id)).all()
        assert any(e.kind == "registered" for e in case_events)
        logged = db.exec(select(Event).where(Event.kind == "quarantined")).all()
        assert len(logged) == len(quarantined)
        assert all(any(r.reason in e.summary for e in logged) for r in quarantined)
    notices = [m for m in smtp.messages if m.rcpt_tos == ("zonghe@corp.example.com",)
               and "隔离" in m.parsed()["Subject"]]
    assert len(notices) == len(quarantined) == imap.count("Quarantine")
    assert any("第7号小区" in (c.original_subject or "") for c, _ in list_cases(engine, "all", T0))


def test_show_json_uses_the_spec_field_names(config: Path, imap: Dovecot, capsys: pytest.CaptureFixture[str]) -> None:
    """`complaintd show ID --json` prints the §5 record with its deadlines and event log."""
    import json

    # `run --once` reads the real clock, and an original's send time counts as the receipt
    # only within a week of its arrival: sent an hour ago, as a forward is.
    sent = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)  # Outlook: minutes
    imap.append(outlook_forward(1, sent=sent))
    run_once(config)
    engine = open_engine(load_settings(config).daemon.database)
    case_id = list_cases(engine, "all", T0)[0][0].id
    capsys.readouterr()
    assert main(["show", case_id, "--json", "-c", str(config)]) == 0
    record = json.loads(capsys.readouterr().out)
    for name in ("id", "status", "category", "received_at", "registered_at", "receiving_dept",
                 "receiver_email", "forwarder_email", "media_outlet", "reporter_name",
                 "original_from_name", "original_from_email", "original_sent_at", "original_subject",
                 "phone", "customer_number", "complaint_text", "attachments", "account_manager",
                 "solution", "expected_completion_at", "statement", "resolved_at", "result"):
        assert name in record
    assert record["received_at"] == sent.astimezone(ZoneInfo("Asia/Shanghai")).isoformat()
    assert {d["kind"] for d in record["deadlines"]} >= {"assess", "account_manager", "general_dept"}
    assert [e["kind"] for e in record["events"]][:2] == ["mail_in", "registered"]
    assert load_case(engine, case_id) is not None


def _with_attachment(raw: bytes, size: int) -> bytes:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    msg.make_mixed()
    msg.add_attachment(b"\x89PNG" + bytes(size), maintype="image", subtype="png", filename="现场照片.png")
    return msg.as_bytes()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_big_complaint_is_kept_byte_for_byte(kind: str, tmp_path: Path, imap: Dovecot, smtp: SmtpServer,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A complaint with a 9 MB recording (every byte value, CR and LF among them) becomes a
    case, and the evidence kept is the message exactly as the mailbox held it (on SQLite it
    is written into its blob a piece at a time)."""
    import email.policy as policy

    message = email.message_from_bytes(outlook_forward(7), policy=policy.default)
    message.make_mixed()  # type: ignore[attr-defined]
    recording = bytes(range(256)) * (9 * 4096)
    message.add_attachment(recording, maintype="audio", subtype="mpeg", filename="现场录音.mp3")  # type: ignore[attr-defined]
    raw = message.as_bytes()
    monkeypatch.setenv("COMPLAINTD_IMAP_PASSWORD", imap.password)
    with empty_database(kind, tmp_path) as url:
        config = server_config(tmp_path, inbound=imap.url(), outbound=smtp.url, database=url)
        imap.append(raw)
        run_once(config)
        engine = open_engine(url)
        with session(engine) as db:
            kept = db.exec(select(InboundMail)).one()
            assert kept.status == "registered" and kept.case_id is not None
            assert kept.raw == imap.messages("Processed")[0]  # as the mailbox serves it
        engine.dispose()
