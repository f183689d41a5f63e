"""The inbox read ahead: during one intake pass, a thread of its own fetches the next messages
and makes the moves, while the intake thread commits (daemon/intake.py drain).

Why a thread: fetching and moving are mostly waiting (for Dovecot, for the disk), and a
thread waiting on a socket lets the other run. Measured before it (bench/ingest.py, 2,000
mails): the intake thread waited ~0.2 ms a mail for FETCH and ~0.13 ms for MOVE, a fifth of
its time, with nothing else to do.

    Ahead(source)   for one pass, as a context manager; it is a MailSource for the pass:
                    fetch_new() yields what the thread fetched, in order;
                    move_to_processed() / move_to_quarantine() hand the move to the thread
                    and return at once. Leaving the context waits for the moves asked for
                    and stops the fetching.

One connection, one thread: while the pass runs, only this thread touches the source, so an
IMAP connection never sees two commands at once. The moves go first: they only ever follow a
commit, and they empty the inbox.

What it holds: at most GROUP_MESSAGES messages or GROUP_BYTES ahead of the pipeline (one
bigger message alone): a group's worth more than without it.

Failures: the first error of the thread (SourceError from a fetch or a move) is raised in
the intake thread where it next asks, by fetch_new(), a move, or leaving the context, and
the thread stops. What was committed and not moved is recognised by its place next pass.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Literal

from daemon.ports import Fetched, MailSource, SourceKey

log = logging.getLogger(__name__)

Folder = Literal["processed", "quarantine"]


class Ahead:
    def __init__(self, source: MailSource, messages: int, size: int) -> None:
        self.source = source
        self.messages = messages  # held ahead at most, by count …
        self.size = size  # … and by bytes
        self._cond = threading.Condition()
        self._fetched: deque[Fetched] = deque()
        self._held = 0  # bytes in _fetched
        self._moves: deque[tuple[Folder, list[SourceKey]]] = deque()
        self._exhausted = False  # the source's fetch_new() ended
        self._leaving = False  # no more fetching: make the moves asked for, then end
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="intake-fetch", daemon=True)

    def __enter__(self) -> Ahead:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        with self._cond:
            self._leaving = True
            self._cond.notify_all()
        self._thread.join()
        if self._error is not None:
            if exc is None:
                self._raise()
            log.error("the inbox failed too, after another error: %s", self._error)

    # -- the intake thread -------------------------------------------------------------------

    def fetch_new(self) -> Iterator[Fetched]:
        while True:
            with self._cond:
                while not self._fetched and not self._exhausted and self._error is None:
                    self._cond.wait()
                if self._error is not None:
                    self._raise()
                if not self._fetched:
                    return
                item = self._fetched.popleft()
                self._held -= len(item.raw)
                self._cond.notify_all()
            yield item

    def move_to_processed(self, keys: Sequence[SourceKey]) -> None:
        self._ask("processed", keys)

    def move_to_quarantine(self, keys: Sequence[SourceKey]) -> None:
        self._ask("quarantine", keys)

    def _ask(self, folder: Folder, keys: Sequence[SourceKey]) -> None:
        if not keys:
            return
        with self._cond:
            if self._error is not None:
                self._raise()
            self._moves.append((folder, list(keys)))
            self._cond.notify_all()

    def _raise(self) -> None:
        """The thread's error, once: the caller's `with` must not raise it a second time."""
        error, self._error = self._error, None
        self._leaving = True
        assert error is not None
        raise error

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            messages = iter(self.source.fetch_new())
            while True:
                move = self._next_move()
                if move is None:
                    return
                if move is not False:
                    folder, keys = move
                    if folder == "processed":
                        self.source.move_to_processed(keys)
                    else:
                        self.source.move_to_quarantine(keys)
                    continue
                item = next(messages, None)
                if item is not None:
                    item.digest  # noqa: B018  (hashed here: hashlib lets the intake thread run meanwhile)
                with self._cond:
                    if item is None:
                        self._exhausted = True
                    else:
                        self._fetched.append(item)
                        self._held += len(item.raw)
                    self._cond.notify_all()
        except BaseException as exc:  # handed to the intake thread, which decides
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def _next_move(self) -> tuple[Folder, list[SourceKey]] | Literal[False] | None:
        """The next move asked for; False: fetch one more; None: the pass is over."""
        with self._cond:
            while True:
                if self._moves:
                    return self._moves.popleft()
                if self._leaving:
                    return None
                if not self._exhausted and not self._full():
                    return False
                self._cond.wait()

    def _full(self) -> bool:
        return bool(self._fetched) and (len(self._fetched) >= self.messages or self._held >= self.size)
