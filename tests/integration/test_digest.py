"""The daily digest to 综合部: once a day at digest_at, once after a missed one, never twice."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import select

from daemon.app import App
from daemon.config import load_settings
from daemon.mailer import open_mailer
from daemon.sources import open_source
from daemon.store import open_engine, session
from models.tables import Outbox
from tests.integration.test_clocks_e2e import MovableClock, step_of
from tests.support.dovecot import Dovecot
from tests.support.mail import outlook_forward, server_config, set_keys
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

SHANGHAI = timezone(timedelta(hours=8))
DAY1_0829 = datetime(2026, 11, 27, 8, 29, tzinfo=SHANGHAI)


def daemon(config: Path, at: datetime) -> App:
    """A daemon process's life: its own engine, connections and clock, on the shared state."""
    settings = load_settings(config)
    return App(settings, open_engine(settings.daemon.database), lambda: open_source(settings.inbound),
               open_mailer(settings.outbound), MovableClock(at))


@pytest.fixture
def config(tmp_path: Path, imap: Dovecot, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COMPLAINTD_IMAP_PASSWORD", imap.password)
    return set_keys(server_config(tmp_path, inbound=imap.url(), outbound=smtp.url), "reports", digest_at="08:30")


def digests(smtp: SmtpServer) -> list[str]:
    return [step_of(m) for m in smtp.messages if step_of(m).startswith("digest-")]


def test_crossing_digest_time_sends_exactly_one(config: Path, imap: Dovecot, smtp: SmtpServer) -> None:
    """08:29 nothing; 08:30 the digest, to each of 综合部's addresses once; 08:31 nothing more."""
    imap.append(outlook_forward(1, sent=DAY1_0829 - timedelta(hours=1), forwarder="sun@corp.example.com"))
    app = daemon(config, DAY1_0829)
    app.tick()
    assert digests(smtp) == []
    for minute in (30, 31, 45):
        app.clock.at = DAY1_0829.replace(minute=minute)  # type: ignore[attr-defined]
        app.tick()
    app.close()
    digest = [m for m in smtp.messages if step_of(m).startswith("digest-")]
    assert sorted(m.rcpt_tos[0] for m in digest) == ["liu.gd@corp.example.com", "zonghe@corp.example.com"]
    text = digest[0].parsed().get_body(("plain",)).get_content()
    assert "【新登记】1 件" in text and "MT-20261127-0001" in text and "江城晚报" in text
    assert "【近 30 天统计】登记 1 件" in text
    assert digest[0].parsed()["Subject"].startswith("媒体投诉日报 2026-11-27")


def test_a_missed_digest_goes_out_once_when_the_daemon_is_back(config: Path, smtp: SmtpServer) -> None:
    """Down at 08:30: started at 09:10 it sends the day's digest; started again, it does not."""
    first = daemon(config, DAY1_0829 + timedelta(minutes=41))
    first.tick()
    first.close()
    assert len(digests(smtp)) == 2  # one digest, two addresses
    again = daemon(config, DAY1_0829 + timedelta(minutes=50))
    again.tick()
    again.close()
    assert len(digests(smtp)) == 2
    next_day = daemon(config, DAY1_0829 + timedelta(days=1, minutes=1))
    next_day.tick()
    next_day.close()
    assert digests(smtp).count("digest-20261128") == 2


def test_a_quiet_day_still_reports_that_it_was_quiet(config: Path, smtp: SmtpServer) -> None:
    """No cases at all: the digest goes out and says (无) under every heading."""
    app = daemon(config, DAY1_0829 + timedelta(minutes=1))
    app.tick()
    app.close()
    digest = next(m.parsed() for m in smtp.messages if step_of(m).startswith("digest-"))
    text = digest.get_body(("plain",)).get_content()
    assert "【新登记】0 件" in text and text.count("（无）") == 8  # every one of the eight headings


def test_mail_stuck_for_an_hour_is_in_the_digest(config: Path, tmp_path: Path, imap: Dovecot) -> None:
    """The SMTP server has refused to take a mail for over an hour (it keeps it for later):
    the digest names it, so 综合部 knows a notification has not arrived."""
    down = set_keys(config, "outbound", url="smtp://127.0.0.1:9")  # nothing listens there
    imap.append(outlook_forward(1, sent=DAY1_0829 - timedelta(hours=2), forwarder="sun@corp.example.com"))
    app = daemon(down, DAY1_0829 - timedelta(hours=2))
    app.tick()  # registered; the acknowledgment cannot leave
    app.clock.at = DAY1_0829 + timedelta(minutes=1)  # type: ignore[attr-defined]
    app.tick()  # the digest is queued now, and cannot leave either
    app.close()
    with session(app.engine) as db:
        digest = db.exec(select(Outbox).where(Outbox.step == "digest-20261127")).first()
    assert digest is not None
    text = email.message_from_bytes(digest.data, policy=email.policy.default).get_body(("plain",)).get_content()
    assert "【超过 1 小时仍未发出的邮件】3 封" in text and "sun@corp.example.com" in text
