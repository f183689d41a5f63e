"""The outbox against a real SMTP server: nothing lost while it is down, nothing sent twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from daemon.app import App
from daemon.config import load_settings
from daemon.mailer import open_mailer
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
    """SMTP down at registration: the acknowledgment waits, its retries untouched (an outage is
    not the mail's fault), and the app backs off the server; once the server is back and the
    back-off is over, each recipient gets it exactly once."""
    server = SmtpServer()
    server.port = free_port()  # reserved for the server, which nobody has started yet
    app = app_for(tmp_path, f"smtp://127.0.0.1:{server.port}")
    app.tick()
    with session(app.engine) as db:
        rows = db.exec(select(Outbox)).all()
    # The forwarder, and 综合部: its members (its A contact among them; B only on failover).
    assert {r.recipient for r in rows} == {"wei@net.corp.example.com", "zonghe@corp.example.com",
                                           "liu.gd@corp.example.com"}
    assert all(r.status == "pending" and r.last_error and r.deferred_since is None for r in rows)
    assert app.mailer_backoff.failures == 1 and app.mailer_backoff.retry_at is not None

    server.start()
    try:
        retry_at = app.mailer_backoff.retry_at
        assert app.flush_pass(app.clock.now()) == 0  # still backing off
        assert app.flush_pass(retry_at) == 3
        assert app.flush_pass(retry_at + timedelta(hours=1)) == 0
        received = server.wait_for(3)
        assert sorted(r.rcpt_tos[0] for r in received) == sorted(r.recipient for r in rows)
        assert {r.message_id for r in received} == {r.message_id for r in rows}
        assert app.mailer_backoff.failures == 0
    finally:
        server.stop()
        app.close()


def acks(app: App) -> dict[str, Outbox]:
    with session(app.engine) as db:
        return {r.recipient: r for r in db.exec(select(Outbox).where(Outbox.step == "ack"))}


def test_a_refused_recipient_is_recorded_and_reported_to_the_general_dept(tmp_path: Path,
                                                                           smtp: SmtpServer) -> None:
    """550 for one address: that copy is marked failed with an event on the case, the rest go,
    and on the next pass 综合部's other people are told which address was refused."""
    app = app_for(tmp_path, smtp.url)
    smtp.reject.add("zonghe@corp.example.com")
    app.tick()
    rows = acks(app)
    assert rows["zonghe@corp.example.com"].status == "failed"
    assert {r.status for e, r in rows.items() if e != "zonghe@corp.example.com"} == {"sent"}
    with session(app.engine) as db:
        failed = db.exec(select(Event).where(Event.kind == "send_failed")).all()
    assert len(failed) == 1 and "zonghe@corp.example.com" in failed[0].summary
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == sorted(e for e in rows if e != "zonghe@corp.example.com")

    app.tick()
    app.close()
    notices = [m for m in smtp.messages if m.message_id and ".bad_address." in m.message_id]
    assert sorted(m.rcpt_tos[0] for m in notices) == ["liu.gd@corp.example.com", "zhou.gd@corp.example.com"]
    body = notices[0].parsed()
    assert "通讯录地址被拒收" in body["Subject"] and "zonghe@corp.example.com" in body["Subject"]
    assert "550" in body.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_a_mail_deferred_past_give_up_after_is_given_up_and_reported(tmp_path: Path, smtp: SmtpServer) -> None:
    """450 for the forwarder, again and again: retried with back-off; once it has been deferred
    for give_up_after (1 h by default) it is failed, not dropped: the case's record says so and
    综合部 is told to phone."""
    app = app_for(tmp_path, smtp.url)
    smtp.defer.add("wei@net.corp.example.com")
    start = app.clock.now()
    app.tick()
    row = acks(app)["wei@net.corp.example.com"]
    assert row.status == "pending" and row.deferred_since == start
    assert row.next_attempt_at == start + timedelta(seconds=30)

    app.clock.at = start + timedelta(minutes=59)
    app.tick()
    assert acks(app)["wei@net.corp.example.com"].status == "pending"

    app.clock.at = start + timedelta(hours=1, minutes=1)
    app.tick()
    row = acks(app)["wei@net.corp.example.com"]
    assert row.status == "failed" and "450" in (row.last_error or "")
    app.tick()  # the notice goes out on the next pass
    app.close()
    notices = [m.parsed() for m in smtp.messages if m.message_id and ".bad_address." in m.message_id]
    assert notices and all("邮件无法送达" in n["Subject"] for n in notices)
    text = notices[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "多次重试仍未送达" in text and "wei@net.corp.example.com" in text
    assert [m for m in smtp.messages if m.rcpt_tos == ("wei@net.corp.example.com",)] == []


def test_a_send_interrupted_by_a_crash_is_resent_once_and_recorded(tmp_path: Path, smtp: SmtpServer) -> None:
    """Rows a crash left SENDING: the first may have reached the server, so it is resent under
    the same Message-ID with a resend_uncertain event; the others were never tried and are
    simply sent. Every recipient ends with one Message-ID."""
    app = app_for(tmp_path, smtp.url)
    app.intake_pass(app.clock.now())
    with session(app.engine) as db:  # as if killed right after claiming the batch
        claimed = db.exec(select(Outbox).order_by(Outbox.id)).all()  # type: ignore[arg-type]
        for row in claimed:
            row.status = "sending"
        db.commit()
    assert app.flush_pass(app.clock.now()) == 3
    app.close()
    with session(app.engine) as db:
        uncertain = db.exec(select(Event).where(Event.kind == "resend_uncertain")).all()
        statuses = {r.status for r in db.exec(select(Outbox))}
    assert [e.message_id for e in uncertain] == [claimed[0].message_id]
    assert statuses == {"sent"}
    assert sorted(m.message_id for m in smtp.messages) == sorted(r.message_id for r in claimed)


def test_a_line_dropped_after_the_message_was_taken_is_resent_and_said_to_be_in_doubt(tmp_path: Path,
                                                                                      smtp: SmtpServer) -> None:
    """The server takes the message and the connection drops before its 250: complaintd
    cannot know, so it sends again later under the same Message-ID and records the doubt."""
    app = app_for(tmp_path, smtp.url)
    smtp.drop_after_data = True
    app.tick()
    first = [m.message_id for m in smtp.messages]
    assert len(first) == 1  # the line dropped on the first mail of the batch
    smtp.drop_after_data = False
    assert app.flush_pass(app.mailer_backoff.retry_at) == 3  # type: ignore[arg-type]
    app.close()
    with session(app.engine) as db:
        doubt = db.exec(select(Event).where(Event.kind == "resend_uncertain")).all()
    assert [e.message_id for e in doubt] == first
    assert sorted(m.message_id for m in smtp.messages).count(first[0]) == 2  # same Message-ID twice
