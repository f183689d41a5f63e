"""The outbox against a real SMTP server: nothing lost while it is down, nothing sent twice."""

from __future__ import annotations

from collections import Counter
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


def app_for(tmp_path: Path, smtp_url: str, complaints: int = 1) -> App:
    """Maildir in (forwards already waiting), SMTP out, a clock the test moves."""
    config = server_config(tmp_path, inbound=f"maildir:{tmp_path}/in", outbound=smtp_url)
    settings = load_settings(config)
    app = App(settings, open_engine(settings.daemon.database), lambda: open_source(settings.inbound),
              open_mailer(settings.outbound), FixedClock())
    source = open_source(settings.inbound)  # creates the Maildir
    for n in range(1, complaints + 1):
        (Path(f"{tmp_path}/in/new") / f"{n}.eml").write_bytes(outlook_forward(n))
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


def queued(app: App) -> list[Outbox]:
    with session(app.engine) as db:
        return list(db.exec(select(Outbox).order_by(Outbox.id)))  # type: ignore[arg-type]


def in_doubt(app: App) -> list[str | None]:
    with session(app.engine) as db:
        return [e.message_id for e in db.exec(select(Event).where(Event.kind == "resend_uncertain"))]


def test_a_burst_leaves_over_four_connections_each_mail_once(tmp_path: Path, smtp: SmtpServer) -> None:
    """Ten complaints at once, thirty acknowledgments: with connections = 4 (the shipped
    value) they leave over four connections at once, several on each, each connection's in
    the order they were queued; every recipient gets each mail once, under its own Message-ID."""
    app = app_for(tmp_path, smtp.url, complaints=10)
    assert app.settings.outbound.connections == 4
    app.intake_pass(app.clock.now())
    rows = queued(app)
    assert len(rows) == 30
    assert app.flush_pass(app.clock.now()) == 30
    app.close()
    received = smtp.wait_for(30)
    assert sorted(m.message_id or "" for m in received) == sorted(r.message_id for r in rows)
    recipient_of = {r.message_id: r.recipient for r in rows}
    assert all(m.rcpt_tos == (recipient_of[m.message_id or ""],) for m in received)
    assert {r.status for r in queued(app)} == {"sent"}
    order = {r.message_id: r.id or 0 for r in rows}
    connections: dict[tuple[str, int], list[int]] = {}
    for m in received:
        connections.setdefault(m.peer, []).append(order[m.message_id or ""])
    assert len(connections) == 4 and all(len(ids) > 1 and ids == sorted(ids) for ids in connections.values())


def test_a_line_dropped_on_one_connection_leaves_that_mail_in_doubt_and_the_rest_of_its_batch_waiting(
        tmp_path: Path, smtp: SmtpServer) -> None:
    """Mid-burst the server takes one mail and drops that connection: that mail may have
    arrived, so it is resent under its Message-ID with the doubt recorded; the mails queued
    behind it on that connection were never tried and simply wait; the other connections
    deliver theirs. After the back-off every mail has arrived, only the one in doubt twice."""
    app = app_for(tmp_path, smtp.url, complaints=10)
    app.intake_pass(app.clock.now())
    rows = queued(app)
    victim = rows[4]
    smtp.drop_after.add(victim.message_id)
    assert app.flush_pass(app.clock.now()) == 0  # the server dropped a line: backed off
    after = {r.id: r for r in queued(app)}
    behind = [r for r in after.values() if r.claim == after[victim.id].claim and (r.id or 0) > (victim.id or 0)]
    assert behind and {r.status for r in behind} == {"pending"}
    assert after[victim.id].status == "pending" and in_doubt(app) == [victim.message_id]
    waiting = {victim.id, *(r.id for r in behind)}
    assert {r.status for i, r in after.items() if i not in waiting} == {"sent"}

    assert app.flush_pass(app.mailer_backoff.retry_at) == len(waiting)  # type: ignore[arg-type]
    app.close()
    assert {r.status for r in queued(app)} == {"sent"} and in_doubt(app) == [victim.message_id]
    delivered = Counter(m.message_id for m in smtp.messages)
    assert delivered == {r.message_id: 2 if r.id == victim.id else 1 for r in rows}


def test_after_a_crash_the_mail_in_hand_on_each_connection_is_resent_in_doubt(tmp_path: Path,
                                                                              smtp: SmtpServer) -> None:
    """Killed mid-round with two connections' batches claimed, the first mail of each already
    recorded as sent: of each batch only its first row still SENDING may have reached the
    server; those two are resent with the doubt recorded, the rows behind them were never
    tried and go out plainly. Every Message-ID arrives once here."""
    app = app_for(tmp_path, smtp.url, complaints=4)
    app.intake_pass(app.clock.now())
    with session(app.engine) as db:  # as the claim dealt them: two batches, round-robin
        rows = list(db.exec(select(Outbox).order_by(Outbox.id)))  # type: ignore[arg-type]
        for n, row in enumerate(rows):
            row.claim = "ab"[n % 2] * 16
            row.status = "sent" if n < 2 else "sending"
        db.commit()
    assert app.flush_pass(app.clock.now()) == len(rows) - 2
    app.close()
    assert sorted(m or "" for m in in_doubt(app)) == sorted(r.message_id for r in rows[2:4])
    assert sorted(m.message_id or "" for m in smtp.messages) == sorted(r.message_id for r in rows[2:])
