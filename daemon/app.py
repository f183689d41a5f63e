"""The daemon's loop: intake → deadlines → outbox, each step guarded.

The clock is read once per pass and handed down. `schedule` is only the metronome: it holds
no state worth keeping, and every step catches its own exceptions so one failure never stops
the loop. Signal handlers only set a flag.
"""

from __future__ import annotations

import logging
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
from daemon.escalation import deadline_pass
from daemon.health import beat
from daemon.intake import Intake, IntakeOutcome
from daemon.locks import Lease
from daemon.mailer import open_mailer
from daemon.outbox import flush
from daemon.ports import Mailer, MailSource
from daemon.rendering import Renderer
from daemon.reports import config_refused, digest_pass, directory_changed, undeliverable_reporter
from daemon.sources import open_source
from models.directory import Person

log = logging.getLogger(__name__)

T = TypeVar("T")

BACKOFF_FIRST = timedelta(seconds=1)  # after the first failure of a server …
BACKOFF_CAP = timedelta(seconds=30)  # … doubling up to this: a restarted server is used within 30 s


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
        self.use(settings)
        self.source: MailSource | None = None
        self.source_backoff = Backoff("mailbox")
        self.mailer_backoff = Backoff("mail server")
        self.stopping = threading.Event()
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

    def tick(self) -> None:
        """One poll, one deadline pass, one outbox flush (`run --once`), if this replica acts."""
        if not self.take_turn():
            return
        self.guarded("intake", lambda: self.intake_pass(self.clock.now()))
        self.clock_pass()

    def take_turn(self) -> bool:
        """Whether this replica is the active one now; says so when that changes."""
        active = self.lease.hold()
        if active != self.active:
            log.info("this replica is now %s", "active" if active else "on standby (another one is active)")
            if not active:
                self.close_source()
        self.active = active
        return active

    def guarded(self, name: str, step: Callable[[], T]) -> T | None:
        try:
            return step()
        except Exception:
            log.exception("%s step failed; the daemon goes on", name)
            return None

    # -- the loop -------------------------------------------------------------------------

    def _intake_job(self) -> None:
        if self.active:
            self.guarded("intake", lambda: self.intake_pass(self.clock.now()))

    def run(self) -> None:
        """Until stop(): intake every poll interval (at once when IDLE wakes us), the clocks and
        the outbox every tick.

        The clock pass keeps a fixed cadence (start to start, not end to start as `schedule`
        would), so that a pass that took 0.6 s does not make every due mail 0.6 s later; a pass
        longer than the tick is followed by the next at once, never by a pile of catch-ups.
        SIGTERM is seen between messages, cases and batches: the one in hand is finished."""
        tick = self.settings.daemon.tick.total_seconds()
        poll = self.settings.daemon.poll_interval.total_seconds()
        metronome = schedule.Scheduler()
        # schedule annotates the interval as int; a float works (it becomes a timedelta).
        metronome.every(poll).seconds.do(self._intake_job)  # type: ignore[arg-type]
        log.info("complaintd running: inbound %s, database %s", self.settings.inbound.url.scheme,
                 self.engine.url.render_as_string(hide_password=True))
        self.take_turn()
        metronome.run_all()
        next_pass = time.monotonic()
        while not self.stopping.is_set():
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.guarded("reload", self.reload)
            if time.monotonic() >= next_pass:
                next_pass += tick
                if self.take_turn():
                    self.clock_pass()
                next_pass = max(next_pass, time.monotonic())
                continue  # look at the stop flag and the cadence again before waiting
            metronome.run_pending()
            self.idle(min(metronome.idle_seconds or tick, next_pass - time.monotonic()))
        self.close()
        log.info("complaintd stopped")

    def idle(self, seconds: float) -> None:
        """Wait for the next job; new mail (IMAP IDLE, a file in the Maildir) cuts the wait
        short and is registered at once."""
        seconds = max(seconds, 0.05)
        if self.source is None or not self.active:
            self.stopping.wait(seconds)
        elif self.guarded("wait", lambda: self._wait_source(seconds)):
            self.guarded("intake", lambda: self.intake_pass(self.clock.now()))

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
        self.intake = Intake(settings, self.engine, self.renderer)
        self.report_undeliverable = undeliverable_reporter(settings, self.renderer)

    def stop(self) -> None:
        self.stopping.set()

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
            self.close_source()
            self.open_source = lambda: open_source(new.inbound)
        if new.outbound != old.outbound:
            self.mailer = open_mailer(new.outbound)
        directory_changed(self.engine, old, new, self.renderer, now)
        log.info("config reloaded from %s", new.path)

    def close(self) -> None:
        """Log out of the mailbox, stop the parse workers, hand the lease on, and let go of the
        database."""
        self.close_source()
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
