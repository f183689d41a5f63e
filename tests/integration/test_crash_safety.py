"""500 complaints arrive while the daemon is SIGKILLed again and again: nothing lost, nothing doubled.

The real daemon (`python -m daemon run`) on a private Dovecot and a loopback SMTP server, with
a two-second assessment clock that runs out for every case while the kills happen.
A feeder APPENDs the complaints at a steady rate; a killer starts the daemon, lets it live a
random 0.2–1.5 s after it became active, and SIGKILLs it, at least 20 times; then one last daemon finishes the work.

Afterwards, counted at the servers:
- exactly 500 cases, one per complaint, and nothing left in INBOX;
- every mail the register decided (one outbox row per case/step/round/recipient) reached the
  SMTP server, under that row's Message-ID, and nothing else did;
- every case got the steps its clocks call for;
- a Message-ID delivered twice is one the daemon itself recorded as in doubt
  (resend_uncertain: killed between the server's 250 and its own commit), never a silent one.

On PostgreSQL the same run has two replicas: the active one is the one killed, the standby
takes over (within 2 x tick + poll interval), and the killed one comes back as the new standby.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from daemon.store import open_engine, session
from models.tables import Case, Event, Outbox
from tests.support.daemon import spawn
from tests.support.dovecot import Dovecot
from tests.support.mail import outlook_forward, server_config, set_keys
from tests.support.postgres import fresh_database
from tests.support.smtp import SmtpServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

COMPLAINTS = 500
KILLS = 20
RATE = 25.0  # complaints per second: the feed lasts 20 s, about as long as the kills
# Every case's assessment clock (2 s) runs out during the kills; the later clocks stay out of
# reach, so that the run stays short (test_clocks_crash walks the whole chain under kills).
SECONDS = {"assess": "2s", "account_manager": "1h", "general_dept": "1h", "solution": "1h", "group": "1h",
           "higher_authority": "1h", "progress": "1h", "ack": "1h", "statement": "1h"}
STEPS_PER_CASE = {"ack", "assess_overdue"}


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A PostgreSQL database of its own, dropped after."""
    with fresh_database("complaintd_crash") as url:
        yield url


class Daemon:
    """One `complaintd run` process; its log goes to a file the test reads."""

    count = 0

    def __init__(self, config: Path, imap: Dovecot) -> None:
        Daemon.count += 1
        self.log = config.parent / f"daemon-{Daemon.count}.log"
        self.proc = spawn(config, imap, self.log)

    def active(self) -> bool:
        return "this replica is now active" in self.log.read_text(encoding="utf-8", errors="replace")


def feed(imap: Dovecot, stamp: datetime) -> None:
    """APPEND the complaints at a steady rate over one connection."""
    with imap.client() as client:
        began = time.monotonic()
        for n in range(COMPLAINTS):
            client.append("INBOX", outlook_forward(n, sent=stamp))
            time.sleep(max(0.0, began + (n + 1) / RATE - time.monotonic()))


def settled(engine) -> bool:  # type: ignore[no-untyped-def]
    """Every complaint a case, each case past its last reachable step, nothing left to send."""
    with session(engine) as db:
        cases = db.exec(select(func.count()).select_from(Case)).one()
        walked = db.exec(select(func.count(func.distinct(Outbox.case_id)))
                         .where(Outbox.step == "assess_overdue")).one()
        unsent = db.exec(select(func.count()).select_from(Outbox)
                         .where(Outbox.status.in_(("pending", "sending")))).one()  # type: ignore[attr-defined]
    return cases == COMPLAINTS and walked == COMPLAINTS and unsent == 0


@pytest.mark.parametrize("replicas", [1, 2], ids=["sqlite", "postgresql-two-replicas"])
def test_twenty_kills_while_500_complaints_arrive(tmp_path: Path, imap: Dovecot, smtp: SmtpServer,
                                                  replicas: int, request: pytest.FixtureRequest) -> None:
    database = request.getfixturevalue("fresh_pg_url") if replicas == 2 else None
    config = server_config(tmp_path, inbound=imap.url(), outbound=smtp.url, database=database)
    set_keys(config, "daemon", poll_interval="1s")
    set_keys(config, "deadlines", **SECONDS)
    engine = open_engine(database or f"sqlite:///{tmp_path}/complaintd.sqlite3")

    feeder = threading.Thread(target=feed, args=(imap, datetime.now(UTC)), daemon=True)
    feeder.start()
    rng = random.Random(20261128 + replicas)
    running = [Daemon(config, imap) for _ in range(replicas)]
    takeovers: list[float] = []
    began = time.monotonic()
    try:
        for _ in range(KILLS):
            # Kill the active one (on SQLite the only one), some random time after it took over.
            assert wait_until(lambda: any(d.active() for d in running), timeout=30)
            victim = next(d for d in running if d.active())
            time.sleep(rng.uniform(0.2, 1.5))  # when to pull the plug, not a deadline
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait()
            killed_at = time.monotonic()
            running.remove(victim)
            if running:  # the standby: how long until it acts
                survivor = running[0]
                assert wait_until(survivor.active, timeout=30)
                takeovers.append(time.monotonic() - killed_at)
            running.append(Daemon(config, imap))
        killing = time.monotonic() - began
        feeder.join(timeout=120)
        assert not feeder.is_alive()
        assert wait_until(lambda: settled(engine), timeout=180)
        settling = time.monotonic() - began - killing
        time.sleep(1.5)  # one more tick and flush: anything extra would show now
    finally:
        for daemon in running:
            daemon.proc.send_signal(signal.SIGTERM)
        codes = [daemon.proc.wait(timeout=10) for daemon in running]
    assert codes == [0] * len(running)

    with session(engine) as db:
        cases = db.exec(select(Case)).all()
        rows = db.exec(select(Outbox)).all()
        in_doubt = {e.message_id for e in db.exec(select(Event).where(Event.kind == "resend_uncertain"))}
    engine.dispose()

    assert len(cases) == COMPLAINTS
    assert len({c.source_key for c in cases}) == COMPLAINTS
    assert imap.count("INBOX") == 0 and imap.count("Processed") == COMPLAINTS

    steps: dict[str, set[str]] = {}
    for row in rows:
        steps.setdefault(row.case_id or "", set()).add(row.step)
    assert {case: s for case, s in steps.items() if s != STEPS_PER_CASE} == {}
    assert {row.status for row in rows} == {"sent"}

    delivered = Counter(m.message_id for m in smtp.messages)
    assert set(delivered) == {row.message_id for row in rows}  # everything decided, nothing else
    recipient_of = {row.message_id: row.recipient for row in rows}
    assert all(m.rcpt_tos == (recipient_of[m.message_id],) for m in smtp.messages)
    twice = {mid for mid, n in delivered.items() if n > 1}
    assert twice <= in_doubt, "a mail arrived twice without the daemon recording the doubt"
    print(f"\n{replicas} replica(s): {KILLS} kills, {len(cases)} cases, {len(rows)} mails, "
          f"{len(in_doubt)} resends in doubt, {len(twice)} delivered twice; kills took {killing:.0f} s, "
          f"settling {settling:.0f} s"
          + (f", takeover {min(takeovers):.1f}–{max(takeovers):.1f} s" if takeovers else ""))
    if takeovers:  # tick 1 s, poll 1 s: the bound is 2 x tick + poll interval
        assert max(takeovers) < 2 * 1 + 1
