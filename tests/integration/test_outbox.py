"""The outbox against a real SMTP server: nothing lost while it is down, nothing sent twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from daemon.app import App
from daemon.config import load_settings
from daemon.mailer import open_mailer
from daemon.outbox import flush
from daemon.sources import open_source
from daemon.store import open_engine, session
from models.tables import Event, Outbox
from tests.support.dovecot import free_port
from tests.support.mail import T0, outlook_forward, server_config
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration


class FixedClock:
    def __init__(self) -> None:
        self.at = T0 + timedelta(minutes=6)

    def now(self):  # type: ignore[no-untyped-def]
        return self.at


def app_for(tmp_path: Path, smtp_url: str) -> App:
    """Maildir in (a forward already waiting), SMTP out, a clock the test moves."""
    config = server_config(tmp_path, inbound=f"maildir:{tmp_path}/in", outbound=smtp_url)
    settings = load_settings(config)
    app = App(settings, open_engine(settings.daemon.database), lambda: open_source(settings.inbound),
              open_mailer(settings.outbound), FixedClock())
    source = open_source(settings.inbound)  # creates the Maildir
    (Path(f"{tmp_path}/in/new") / "1.eml").write_bytes(outlook_forward(1))
    source.close()
    return app


def test_mail_queued_while_the_server_is_down_goes_out_once_it_is_back(tmp_path: Path) -> None:
    """SMTP down at registration: the acknowledgment waits with a retry time; once the server
    is back and the retry is due, each recipient gets it exactly once."""
    server = SmtpServer()
    server.port = free_port()  # reserved for the server, which nobody has started yet
    app = app_for(tmp_path, f"smtp://127.0.0.1:{server.port}")
    app.tick()
    with session(app.engine) as db:
        rows = db.exec(select(Outbox)).all()
    # The forwarder, and 综合部: its members (its A contact among them; B only on failover).
    assert {r.recipient for r in rows} == {"wei@net.corp.example.com", "zonghe@corp.example.com",
                                           "liu.gd@corp.example.com"}
    assert all(r.status == "pending" and r.attempts == 1 and r.last_error for r in rows)
    assert all(r.next_attempt_at == app.clock.now() + timedelta(seconds=30) for r in rows)

    server.start()
    try:
        envelope_from = app.settings.outbound.from_email
        assert flush(app.engine, app.mailer, envelope_from, app.clock.now() + timedelta(seconds=29)) == 0
        assert flush(app.engine, app.mailer, envelope_from, app.clock.now() + timedelta(seconds=30)) == 3
        assert flush(app.engine, app.mailer, envelope_from, app.clock.now() + timedelta(hours=1)) == 0
        received = server.wait_for(3)
        assert sorted(r.rcpt_tos[0] for r in received) == sorted(r.recipient for r in rows)
        assert {r.message_id for r in received} == {r.message_id for r in rows}
    finally:
        server.stop()
        app.close()


def test_a_refused_recipient_is_recorded_and_the_others_still_get_theirs(tmp_path: Path,
                                                                         smtp: SmtpServer) -> None:
    """550 for one address: that copy is marked failed with an event on the case; the rest go."""
    app = app_for(tmp_path, smtp.url)
    smtp.reject.add("zonghe@corp.example.com")
    app.tick()
    app.close()
    with session(app.engine) as db:
        rows = {r.recipient: r for r in db.exec(select(Outbox))}
        failed = db.exec(select(Event).where(Event.kind == "send_failed")).all()
    assert rows["zonghe@corp.example.com"].status == "failed"
    assert {r.status for e, r in rows.items() if e != "zonghe@corp.example.com"} == {"sent"}
    assert len(failed) == 1 and "zonghe@corp.example.com" in failed[0].summary
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == sorted(e for e in rows if e != "zonghe@corp.example.com")
