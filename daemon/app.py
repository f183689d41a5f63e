"""The daemon's two loops: intake beside deadlines → outbox, each step guarded.

The intake loop registers mail as it arrives; the clock loop runs the deadline pass, the
digest and the outbox on a fixed cadence (`run`). The clock is read once per pass and handed
down; all deadline state lives in the database, so a loop holds nothing worth keeping, and
every step catches its own exceptions so one failure never stops either loop. Signal
handlers only set a flag.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TypeVar

import schedule
from sqlalchemy.engine import Engine

from daemon.clock import SystemClock, TimeSource
from daemon.config import Settings, load_settings
from daemon.errors import ConfigError, ServerUnavailable, SourceError
from daemon.escalation import deadline_pass, next_due
from daemon.health import beat
from daemon.intake import Intake, IntakeOutcome
from daemon.locks import Lease
from daemon.mailer import open_mailer
from daemon.outbox import flush
from daemon.ports import Mailer, MailSource
from daemon.rendering import Renderer
from daemon.reports import config_refused, digest_pass, directory_changed, undeliverable_reporter
from daemon.sources import open_source
from daemon.store import Checkpoints
from models.directory import Person

log = logging.getLogger(__name__)

T = TypeVar("T")

BACKOFF_FIRST = timedelta(seconds=1)  # after the first failure of a server …
BACKOFF_CAP = timedelta(seconds=30)  # … doubling up to this: a restarted server is used within 30 s
DUE_MARGIN = 0.005  # seconds after a clock's due time that the loop wakes for it
STOP_SEEN_WITHIN = 1.0  # seconds: the intake loop waits on the mailbox in slices no longer


class Backoff:
    """After a server fails: wait 1 s, doubling to 30 s, with jitter so that replicas and
    restarts do not retry in step. A success resets it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures = 0
        self.retry_at: datetime | None = None

    def waiting(self, now: datetime) -> bool:
        return self.retry_at is not None and now < self.retry_at

    def failed(self, now: datetime, why: str) -> None:
        self.failures += 1
        delay = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (self.failures - 1)) * random.uniform(0.5, 1.0)
        self.retry_at = now + delay
        log.warning("%s failed (%d in a row): %s; next try in %.0f s", self.name, self.failures, why,
                    delay.total_seconds())

    def succeeded(self) -> None:
        self.failures, self.retry_at = 0, None


class App:
    intake: Intake  # the settings' intake, set by use()

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        open_source: Callable[[], MailSource],
        mailer: Mailer,
        clock: TimeSource | None = None,
    ) -> None:
        self.engine = engine
        self.open_source = open_source
        self.mailer = mailer
        self.clock = clock or SystemClock()
        self.retired: list[Intake] = []  # replaced by a reload, their parse workers to stop
        self.checkpoints = Checkpoints(engine)
        self.use(settings)
        self.source: MailSource | None = None
        self.source_backoff = Backoff("mailbox")
        self.mailer_backoff = Backoff("mail server")
        self.stopping = threading.Event()
        self.wake = threading.Event()  # the clock loop's: stop, or mail queued to send
        self.source_changed = threading.Event()  # [inbound] reloaded: the intake loop reconnects
        self.reload_requested = threading.Event()
        self.lease = Lease(engine)
        self.active = False  # this replica holds the lease (always, on SQLite)

    # -- the steps ------------------------------------------------------------------------

    def intake_pass(self, now: datetime) -> list[IntakeOutcome]:
        """Register what is in the inbox. A mailbox failure drops the connection and backs off:
        a server that is down is a warning, anything else a bug with its traceback."""
        if self.source_backoff.waiting(now):
            return []
        try:
            if self.source is None:
                self.source = self.open_source()
            outcomes = self.intake.drain(self.source, now, stop=self.stopping.is_set)
        except SourceError as exc:
            self.close_source()
            self.source_backoff.failed(now, str(exc))
            return []
        except Exception as exc:
            self.close_source()
            self.source_backoff.failed(now, type(exc).__name__)
            raise
        self.source_backoff.succeeded()
        beat(self.engine, "poll", self.clock.now())
        return outcomes

    def deadline_pass(self, now: datetime) -> int:
        return deadline_pass(self.engine, self.settings, self.renderer, now, stop=self.stopping.is_set)

    def flush_pass(self, now: datetime) -> int:
        """Send what is due; an unreachable mail server is backed off, the mail waits."""
        if self.mailer_backoff.waiting(now):
            return 0
        try:
            sent = flush(self.engine, self.mailer, self.settings.outbound.from_email, now,
                         give_up_after=self.settings.outbound.give_up_after,
                         report=self.report_undeliverable,
                         stop=self.stopping.is_set)
        except ServerUnavailable as exc:
            self.mailer_backoff.failed(now, str(exc))
            return 0
        self.mailer_backoff.succeeded()
        return sent

    def clock_pass(self) -> None:
        """The clocks and the daily digest, then the outbox: what comes due leaves this tick."""
        now = self.clock.now()
        self.guarded("deadlines", lambda: self.deadline_pass(now))
        self.guarded("digest", lambda: digest_pass(self.engine, self.settings, self.renderer, now))
        self.guarded("outbox", lambda: self.flush_pass(now))
        self.guarded("heartbeat", lambda: beat(self.engine, "pass", now))
        self.guarded("checkpoint", self.checkpoints.run)

    def tick(self) -> None:
        """One poll, one deadline pass, one outbox flush (`run --once`), if this replica acts."""
        if not self.take_turn():
            self.close_source()
            return
        self.guarded("intake", lambda: self.intake_pass(self.clock.now()))
        self.stop_retired()
        self.clock_pass()

    def take_turn(self) -> bool:
        """Whether this replica is the active one now; says so when that changes."""
        active = self.lease.hold()
        if active != self.active:
            log.info("this replica is now %s", "active" if active else "on standby (another one is active)")
        self.active = active  # the intake loop lets go of the mailbox when it sees this false
        return active

    def guarded(self, name: str, step: Callable[[], T]) -> T | None:
        try:
            return step()
        except Exception:
            log.exception("%s step failed; the daemon goes on", name)
            return None

    # -- the loops ------------------------------------------------------------------------

    def run(self) -> None:
        """Until stop(): two loops side by side (docs/design.md, "The loops").

        - The intake loop (its own thread) owns the mailbox: it registers what is there,
          then waits on it (IMAP IDLE, a new file in the Maildir) and registers new mail the
          moment it arrives, polling every poll_interval besides. It never waits for a clock
          pass or a send, so a complaint is committed within a second of its arrival however
          busy the clocks are.
        - The clock loop (the calling thread) holds the cadence: every tick the deadline
          pass, the daily digest and the outbox, in that order, so that what comes due leaves
          the same tick; it also wakes when the next clock runs out, and when the intake has
          committed (its acknowledgments, and clocks a late forward brought already run out).

        Each database transaction is its own unit whichever loop runs it (SQLite: one writer
        at a time, taken at BEGIN, see daemon/store.py; PostgreSQL: a case is changed only
        under its row lock), so the loops share nothing else but the settings.

        The clock loop keeps a fixed cadence (start to start), so that a pass that took 0.6 s
        does not make every due mail 0.6 s later; a pass longer than the tick is followed by
        the next at once, never by a pile of catch-ups. SIGTERM is seen between messages,
        cases and batches: the one in hand is finished, then both loops end."""
        tick = self.settings.daemon.tick.total_seconds()
        log.info("complaintd running: inbound %s, database %s", self.settings.inbound.url.scheme,
                 self.engine.url.render_as_string(hide_password=True))
        self.take_turn()
        intake = threading.Thread(target=self.intake_loop, name="intake", daemon=True)
        intake.start()
        next_pass = time.monotonic()
        try:
            while not self.stopping.is_set():
                if self.reload_requested.is_set():
                    self.reload_requested.clear()
                    self.guarded("reload", self.reload)
                if time.monotonic() >= next_pass:
                    next_pass += tick
                    if self.take_turn():
                        self.clock_pass()
                    next_pass = min(max(next_pass, time.monotonic()), self.next_due_at())
                    continue  # look at the stop flag and the cadence again before waiting
                if self.wake.wait(max(next_pass - time.monotonic(), 0)):
                    # The intake committed: its acknowledgments leave now, and its new clocks
                    # (some already run out, for a complaint forwarded late) act now.
                    self.wake.clear()
                    if self.active and not self.stopping.is_set():
                        self.clock_pass()
                        next_pass = min(next_pass, self.next_due_at())
        finally:
            self.stopping.set()
            intake.join()
            self.close()
        log.info("complaintd stopped")

    def next_due_at(self) -> float:
        """The monotonic time at which the next clock runs out, a hair after it, so that the
        pass that acts on it sees it due; infinity when none is ahead or it cannot be read.
        The clock loop wakes then rather than at the tick after: a due mail leaves within
        the time of a pass, not up to a tick later."""
        now = self.clock.now()
        due = self.guarded("next clock", lambda: next_due(self.engine, now))
        if due is None:
            return math.inf
        return time.monotonic() + (due - now).total_seconds() + DUE_MARGIN

    def intake_loop(self) -> None:
        """Register mail as it arrives, until stop(); only this thread touches the mailbox.

        `schedule` is the poll's metronome (every poll_interval, for servers without IDLE and
        mail that IDLE did not announce); between polls the loop waits on the mailbox itself.
        A standby replica holds no mailbox connection; it looks every tick whether it has
        become the active one (the clock loop renews the lease)."""
        tick = self.settings.daemon.tick.total_seconds()
        metronome = schedule.Scheduler()
        # schedule annotates the interval as int; a float works (it becomes a timedelta).
        metronome.every(self.settings.daemon.poll_interval.total_seconds()).seconds.do(  # type: ignore[arg-type]
            self._intake_job)
        while not self.stopping.is_set():
            if not self.active or self.source_changed.is_set():
                self.source_changed.clear()
                self.close_source()
                if not self.active:
                    self.stopping.wait(tick)
                    continue
            if self.source is None:  # the first pass, or the connection was lost: poll now
                metronome.run_all()
            metronome.run_pending()
            if self._new_mail(min(tick, STOP_SEEN_WITHIN, metronome.idle_seconds or tick)):
                self._intake_job()
        self.close_source()

    def _intake_job(self) -> None:
        if self.guarded("intake", lambda: self.intake_pass(self.clock.now())):
            self.wake.set()  # acknowledgments are queued: the clock loop sends them now
        self.stop_retired()

    def stop_retired(self) -> None:
        while self.retired:
            self.guarded("stopping parse workers", self.retired.pop().close)

    def _new_mail(self, seconds: float) -> bool:
        """Wait up to `seconds` (a second at most, so that stop() is seen) for new mail; new mail
        (IMAP IDLE, a file in the Maildir) cuts the wait short."""
        seconds = max(seconds, 0.05)
        if self.source is None:
            self.stopping.wait(seconds)
            return False
        return bool(self.guarded("wait", lambda: self._wait_source(seconds)))

    def _wait_source(self, seconds: float) -> bool:
        assert self.source is not None
        try:
            return bool(self.source.wait(seconds))
        except SourceError as exc:
            self.close_source()
            log.warning("waiting for new mail failed: %s", exc)
            return False
        except Exception:
            self.close_source()
            raise

    def use(self, settings: Settings) -> None:
        """The settings, and what is built from them, for the next steps."""
        self.settings = settings
        self.renderer = Renderer(settings.daemon.timezone,
                                 Person(settings.outbound.from_name, settings.outbound.from_email))
        if hasattr(self, "intake"):
            # The intake loop may be in a pass with it: it stops these workers after the pass.
            self.retired.append(self.intake)
        self.intake = Intake(settings, self.engine, self.renderer, checkpoints=self.checkpoints)
        self.report_undeliverable = undeliverable_reporter(settings, self.renderer)

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def request_reload(self) -> None:
        """SIGHUP: only a flag; the loop reloads between steps."""
        self.reload_requested.set()

    def reload(self) -> None:
        """Read config.toml again. An invalid file is refused: the old directory stays, and the
        error is logged and mailed to 综合部. A valid one applies to the next notifications;
        changed contacts are reported to 综合部 (接口人变更报备)."""
        now = self.clock.now()
        try:
            new = load_settings(self.settings.path)
        except ConfigError as exc:
            log.error("config reload refused, keeping the old one: %s", "; ".join(exc.problems))
            config_refused(self.engine, self.settings, self.renderer, exc.problems, now)
            return
        for name in ("database", "tick", "poll_interval"):
            if getattr(new.daemon, name) != getattr(self.settings.daemon, name):
                log.warning("config reload: [daemon] %s changes on restart only", name)
        new = replace(new, daemon=replace(new.daemon, database=self.settings.daemon.database,
                                          tick=self.settings.daemon.tick,
                                          poll_interval=self.settings.daemon.poll_interval))
        old = self.settings
        self.use(new)
        if new.inbound != old.inbound:
            self.open_source = lambda: open_source(new.inbound)
            self.source_changed.set()
        if new.outbound != old.outbound:
            self.mailer = open_mailer(new.outbound)
        directory_changed(self.engine, old, new, self.renderer, now)
        log.info("config reloaded from %s", new.path)

    def close(self) -> None:
        """Log out of the mailbox, stop the parse workers, hand the lease on, and let go of the
        database."""
        self.close_source()
        self.stop_retired()
        self.intake.close()
        self.lease.release()
        self.engine.dispose()

    def close_source(self) -> None:
        if self.source is not None:
            source, self.source = self.source, None
            try:
                source.close()
            except Exception:
                log.warning("closing the mailbox failed", exc_info=True)
