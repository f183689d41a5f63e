"""The running daemon: new mail is registered as it arrives (IMAP IDLE), not at the next poll."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.app import App
from daemon.config import load_settings
from daemon.mailer import open_mailer
from daemon.queries import list_cases
from daemon.sources import open_source
from daemon.store import open_engine
from tests.support.dovecot import Dovecot
from tests.support.mail import T0, outlook_forward, server_config, set_keys
from tests.support.smtp import SmtpServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_mail_arriving_while_idle_is_registered_and_acknowledged_without_waiting_for_the_poll(
        tmp_path: Path, imap: Dovecot, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """poll_interval is 30 s, yet a forward appended while the daemon idles becomes a case and
    an acknowledgment at once; stop() ends the loop cleanly."""
    monkeypatch.setenv("COMPLAINTD_IMAP_PASSWORD", imap.password)
    settings = load_settings(server_config(tmp_path, inbound=imap.url(), outbound=smtp.url))
    assert settings.daemon.poll_interval.total_seconds() == 30
    app = App(settings, open_engine(settings.daemon.database), lambda: open_source(settings.inbound),
              open_mailer(settings.outbound))
    loop = threading.Thread(target=app.run)
    loop.start()
    try:
        assert wait_until(lambda: app.source is not None)  # the first poll has connected
        imap.append(outlook_forward(5))
        assert wait_until(lambda: len(list_cases(app.engine, "all", T0)) == 1)
        assert smtp.wait_for(3)  # the forwarder and 综合部's two addresses
        assert imap.count("Processed") == 1
    finally:
        app.stop()
        loop.join(timeout=10)
    assert not loop.is_alive()


def test_a_complaint_is_registered_while_the_mail_server_holds_a_send(
        tmp_path: Path, imap: Dovecot, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The intake never waits for the outbox: while the mail server sits on the first
    complaint's acknowledgment (DATA unanswered), a second complaint arriving is registered
    all the same; once the server answers, every acknowledgment goes out once."""
    monkeypatch.setenv("COMPLAINTD_IMAP_PASSWORD", imap.password)
    settings = load_settings(server_config(tmp_path, inbound=imap.url(), outbound=smtp.url))
    app = App(settings, open_engine(settings.daemon.database), lambda: open_source(settings.inbound),
              open_mailer(settings.outbound))
    answer = threading.Event()
    smtp.hold_data = answer
    loop = threading.Thread(target=app.run)
    loop.start()
    try:
        imap.append(outlook_forward(5))
        assert wait_until(lambda: smtp.holding >= 1)  # the first acknowledgments are on their way, held
        imap.append(outlook_forward(6))
        assert wait_until(lambda: len(list_cases(app.engine, "all", T0)) == 2)
        assert smtp.holding >= 1 and smtp.messages == []  # registered while the sends still hung
        answer.set()
        # two complaints × (the forwarder + 综合部's two addresses)
        assert wait_until(lambda: len([m for m in smtp.messages if ".ack." in (m.message_id or "")]) == 6)
    finally:
        answer.set()
        app.stop()
        loop.join(timeout=10)
    assert not loop.is_alive()
    assert imap.count("Processed") == 2


def test_a_clock_that_runs_out_between_ticks_acts_when_it_runs_out_not_a_tick_later(
        tmp_path: Path, imap: Dovecot, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """tick is 5 minutes, the assessment clock 3 seconds: the loop wakes when the clock runs
    out, so 综合部 hears of the missed assessment then, not at the next tick."""
    monkeypatch.setenv("COMPLAINTD_IMAP_PASSWORD", imap.password)
    config = server_config(tmp_path, inbound=imap.url(), outbound=smtp.url)
    set_keys(set_keys(config, "daemon", tick="5m"), "deadlines", assess="3s")
    settings = load_settings(config)
    app = App(settings, open_engine(settings.daemon.database), lambda: open_source(settings.inbound),
              open_mailer(settings.outbound))
    loop = threading.Thread(target=app.run)
    loop.start()
    try:
        imap.append(outlook_forward(5, sent=datetime.now(UTC)))  # received now: the clock starts now
        assert wait_until(lambda: any(".assess_overdue." in (m.message_id or "") for m in smtp.messages))
    finally:
        app.stop()
        loop.join(timeout=10)
    assert not loop.is_alive()
