"""The mail servers go away for real and come back: the daemon rides it out, loses nothing.

A real `complaintd run` process on its own Dovecot and its own SMTP server. Mid-run Dovecot is
stopped for 30 s and the SMTP server for 60 s (from the same moment, as when a mail host
reboots). Meanwhile the clocks keep running and decide mail that cannot leave. Afterwards the
daemon has reconnected to both by itself, every mail it decided arrived once, and it still
stops cleanly on SIGTERM within 5 s.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from daemon.store import open_engine, session
from models.tables import Case, Outbox
from tests.support.daemon import spawn
from tests.support.dovecot import Dovecot
from tests.support.mail import outlook_forward, server_config, set_keys
from tests.support.smtp import SmtpServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

DOVECOT_DOWN = 30.0  # seconds: the outages themselves, not deadlines
SMTP_DOWN = 60.0


def cases(engine) -> int:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        return len(db.exec(select(Case.id)).all())


def outbox(engine) -> list[Outbox]:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        return list(db.exec(select(Outbox)))


def test_dovecot_down_30_s_and_smtp_down_60_s(tmp_path: Path) -> None:
    with Dovecot() as imap, SmtpServer() as smtp:
        config = server_config(tmp_path, inbound=imap.url(), outbound=smtp.url)
        set_keys(config, "daemon", poll_interval="1s")
        set_keys(config, "deadlines", assess="3s", account_manager="1h", general_dept="1h", ack="1h")
        engine = open_engine(f"sqlite:///{tmp_path}/complaintd.sqlite3")
        log = tmp_path / "daemon.log"
        proc = spawn(config, imap, log)
        try:
            # Stamped ahead: the complaint counts as received when registered, and its 3-second
            # assessment clock starts then.
            later = datetime.now(UTC) + timedelta(minutes=5)
            imap.append(outlook_forward(1, sent=later))
            assert wait_until(lambda: len(smtp.messages) >= 3)  # its acknowledgment: all is well

            # The mail host goes down. Complaint 1's assessment clock runs out meanwhile (on a
            # slow machine it may have run out already: what reached the server before the
            # outage is taken as it is, and every mail decided after it must wait).
            imap.stop()
            smtp.stop()
            down_at = time.monotonic()
            before = {m.message_id for m in smtp.messages}
            assert wait_until(lambda: any(r.step == "assess_overdue" for r in outbox(engine)), timeout=15)

            time.sleep(max(0.0, down_at + DOVECOT_DOWN - time.monotonic()))
            imap.start()
            imap.append(outlook_forward(2, sent=later))
            assert wait_until(lambda: cases(engine) == 2, timeout=45)  # the mailbox is back in use
            assert proc.poll() is None
            assert {r.status for r in outbox(engine) if r.message_id not in before} == {"pending"}

            time.sleep(max(0.0, down_at + SMTP_DOWN - time.monotonic()))
            smtp.start()
            assert wait_until(lambda: {r.status for r in outbox(engine)} == {"sent"}, timeout=45)
            time.sleep(1.5)  # one more tick and flush: anything extra would show now
            assert proc.poll() is None

            stop_asked = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            assert time.monotonic() - stop_asked < 5.0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        rows = outbox(engine)
        engine.dispose()

        delivered = Counter(m.message_id for m in smtp.messages)
        assert set(delivered) == {r.message_id for r in rows}  # everything decided arrived …
        assert set(delivered.values()) == {1}  # … once
        steps = Counter((r.case_id, r.step) for r in rows)
        assert {key for key in steps} >= {(c, s) for c in {r.case_id for r in rows} for s in ("ack", "assess_overdue")}
        assert imap.count("INBOX") == 0
        text = log.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in text
        assert "mail server failed" in text and "mailbox failed" in text
