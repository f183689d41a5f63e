"""The same original forwarded twice is one case (issue 11): inline then as an attachment, or
by two colleagues. The second forward is a 再次转来 event on the first case; nobody is mailed
again because of it. On real Dovecot and SMTP."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from daemon.app import App
from daemon.queries import list_cases
from daemon.store import session
from models.tables import Event
from tests.integration.test_clocks_e2e import daemon_at, run_until
from tests.support.dovecot import Dovecot
from tests.support.mail import T0, outlook_forward
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

CLIENTS = Path(__file__).resolve().parents[1] / "fixtures" / "clients"


def forwarded_by(raw: bytes, forwarder: str, message_id: str) -> bytes:
    """The same forward as another person's mail: their From, their own Message-ID."""
    head, body = raw.split(b"\n\n", 1)
    lines = [line for line in head.split(b"\n") if not line.lower().startswith((b"from:", b"message-id:"))]
    return b"\n".join([f"From: {forwarder}".encode(), f"Message-ID: {message_id}".encode(), *lines]) + b"\n\n" + body


def again_events(app: App) -> list[Event]:
    with session(app.engine) as db:
        return list(db.exec(select(Event).where(Event.kind == "duplicate")))


@pytest.fixture
def app(tmp_path: Path, imap: Dovecot, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> App:
    app = daemon_at(tmp_path, imap, smtp, monkeypatch)
    yield app
    app.close()


def test_two_colleagues_forwarding_one_complaint_make_one_case(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    imap.append(outlook_forward(1, forwarder="sun@corp.example.com"))
    run_until(app, T0 + timedelta(minutes=5))
    sent = len(smtp.messages)
    imap.append(forwarded_by(outlook_forward(1), "张伟 <zhang.net@corp.example.com>", "<other@corp.example.com>"))
    run_until(app, T0 + timedelta(minutes=7))
    [(case, _)] = list_cases(app.engine, "all", T0)
    assert case.forwarder_email == "sun@corp.example.com"
    [event] = again_events(app)
    assert event.case_id == case.id and "再次转来" in event.summary and "zhang.net@corp.example.com" in event.summary
    assert len(smtp.messages) == sent  # nobody mailed for the second forward


def test_inline_then_attached_by_mutt_is_one_case(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """Real mutt 2.2: an inline forward, then the same mail forwarded as an attachment."""
    imap.append((CLIENTS / "mutt_forward_inline.eml").read_bytes())
    run_until(app, T0 + timedelta(minutes=5))
    sent = len(smtp.messages)
    imap.append((CLIENTS / "mutt_forward_attached.eml").read_bytes())
    run_until(app, T0 + timedelta(minutes=7))
    [(case, _)] = list_cases(app.engine, "all", T0)
    assert case.original_subject == "光谷小区手机没有信号"
    assert [e.case_id for e in again_events(app)] == [case.id]
    assert len(smtp.messages) == sent


def test_two_originals_with_one_subject_and_minute_stay_two_cases(app: App, imap: Dovecot, smtp: SmtpServer) -> None:
    """Two journalists who wrote the same subject in the same minute are two complaints."""
    first = outlook_forward(1, forwarder="sun@corp.example.com")
    second = forwarded_by(outlook_forward(1), "张伟 <zhang.net@corp.example.com>", "<other@corp.example.com>") \
        .replace("li.reporter@jcwb.example.cn".encode("gb18030"), b"wang.reporter@jcwb.example.cn")
    imap.append(first)
    imap.append(second)
    run_until(app, T0 + timedelta(minutes=5))
    assert len(list_cases(app.engine, "all", T0)) == 2
    assert again_events(app) == []
