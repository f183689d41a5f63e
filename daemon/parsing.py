"""Parsing for intake: a group's messages parsed in worker processes, so that this process
fetches the next group and commits the last one meanwhile (daemon/intake.py's pipeline).

    Parser      one per Intake: start(items) hands a group to the workers and returns its
                Parsing; Parsing.results() waits for its ParsedMails, in order. The
                workers (one per core) start with the first group that needs them and stop
                at close()
    POOL_FROM   a smaller group is parsed here: the usual daemon case, a few mails on an IDLE
                wake-up, pays no process round trip and starts no process (measured with
                two warm workers: 8 mails 6.7 ms here, 7.9 ms there; 16 mails 11.1 vs
                8.7 ms; the first group to need them also waits ~0.2 s for them to start)
    HERE_FROM   a larger message is parsed here: it is in this process anyway, and sending
                it to a worker would hold a pickled copy here and two there (its parse is
                mostly cheap: attachments are measured, not parsed)

Why processes: parse() is pure Python, so threads would take turns on one core. Why
forkserver, not fork: the daemon runs threads, and a forked child inherits their locks held.
The fork server imports the main module and the parsers once; each worker is forked from it.

A worker that dies (os._exit, a segfault, the OOM killer) breaks the whole pool and every
future in it. The messages of the chunks that failed, and only those, are parsed again one at
a time in a fresh pool: one that fails alone too (dies, or raises) is handed back UNUSABLE
with the reason, and intake quarantines it like any unreadable mail; the others go on.

Workers ignore SIGTERM and SIGINT (systemd signals the whole unit, a terminal the whole
process group): the daemon stops them when it closes, after the group in hand. They exit by
themselves when the daemon dies (a SIGKILL leaves no one to shut them down).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.connection import wait

import parsers
from daemon.ports import Fetched
from parsers import SAFETY_NET_PREFIX, Kind, ParseContext, ParsedMail

log = logging.getLogger(__name__)

POOL_FROM = 16  # messages in a group
HERE_FROM = 8 * 1024 * 1024  # bytes of one message
CHUNK = 8  # messages per task: fewer round trips, and little work lost when a worker dies

ParseFunction = Callable[[bytes, ParseContext], ParsedMail]


@dataclass
class Parsing:
    """One group on its way through the parser."""

    parser: Parser
    items: list[Fetched]
    done: dict[int, ParsedMail] = field(default_factory=dict)  # by index in items
    chunks: list[tuple[list[int], Future[list[ParsedMail]]]] = field(default_factory=list)

    @property
    def in_workers(self) -> bool:
        return bool(self.chunks)

    def results(self) -> list[ParsedMail]:
        """The group's ParsedMails, in order; waits for the workers."""
        failed: list[int] = []
        for indices, future in self.chunks:
            try:
                self.done.update(zip(indices, future.result(), strict=True))
            except Exception as exc:  # BrokenProcessPool, or what the task raised
                self.parser.failed(exc)
                failed += indices
        if failed:
            log.warning("parsing %d message(s) failed in a worker (%s); parsing them again one at a time",
                        len(failed), self.parser.last_failure)
        for index in failed:
            self.done[index] = self.parser.alone(self.items[index])
        return [self.done[index] for index in range(len(self.items))]


class Parser:
    """Parses intake's groups, in worker processes started when first needed."""

    def __init__(self, context: ParseContext, parse: ParseFunction = parsers.parse) -> None:
        self.context = context
        self.parse = parse  # a module-level function: workers import it by name
        self.last_failure = ""
        self._pool: ProcessPoolExecutor | None = None

    def start(self, items: list[Fetched]) -> Parsing:
        """Hand a group to the workers (a small one is parsed at once, here)."""
        parsing = Parsing(self, items)
        away = [i for i, item in enumerate(items) if len(item.raw) < HERE_FROM] if len(items) >= POOL_FROM else []
        for start in range(0, len(away), CHUNK):
            chunk = away[start : start + CHUNK]
            parsing.chunks.append((chunk, self._submit([items[i].raw for i in chunk])))
        sent = set(away)
        for index, item in enumerate(items):
            if index not in sent:
                parsing.done[index] = self.parse(item.raw, self.context)
        return parsing

    def alone(self, item: Fetched) -> ParsedMail:
        """One message in a worker of its own round trip: what a failure of it leaves."""
        try:
            return self._submit([item.raw]).result()[0]
        except Exception as exc:
            self.failed(exc)
            log.error("parsing failed in a worker key=%s: %s", item.key, self.last_failure)
            return ParsedMail(kind=Kind.UNUSABLE,
                              reason=f"{SAFETY_NET_PREFIX} parsing it failed in a worker process: {self.last_failure}")

    def failed(self, exc: Exception) -> None:
        """Note a failed task; a broken pool is let go (the next task starts a fresh one)."""
        self.last_failure = _describe(exc)
        if isinstance(exc, BrokenProcessPool) and self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _submit(self, raws: list[bytes]) -> Future[list[ParsedMail]]:
        try:
            try:
                return self._running().submit(_parse_all, self.parse, self.context, raws)
            except BrokenProcessPool as exc:  # broken by a task of an earlier group: start afresh
                self.failed(exc)
                return self._running().submit(_parse_all, self.parse, self.context, raws)
        except OSError:  # no worker could be started (out of memory or processes): slower, not stuck
            log.warning("cannot start a parse worker; parsing here", exc_info=True)
            here: Future[list[ParsedMail]] = Future()
            here.set_result(_parse_all(self.parse, self.context, raws))
            return here

    def _running(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["__main__", "parsers"])
            self._pool = ProcessPoolExecutor(os.cpu_count(), mp_context=context, initializer=_worker_started)
        return self._pool


def _describe(exc: Exception) -> str:
    if isinstance(exc, BrokenProcessPool):
        return "the worker process died"
    return f"{type(exc).__name__}: {exc}"


# -- in the worker -------------------------------------------------------------------------

def _worker_started() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    threading.Thread(target=_exit_with_the_daemon, name="exit-with-the-daemon", daemon=True).start()


def _exit_with_the_daemon() -> None:
    """The pool's queues stay open in every worker, so a worker would wait on them forever."""
    daemon = multiprocessing.parent_process()
    if daemon is not None:
        wait([daemon.sentinel])
        os._exit(0)


def _parse_all(parse: ParseFunction, context: ParseContext, raws: list[bytes]) -> list[ParsedMail]:
    return [parse(raw, context) for raw in raws]
