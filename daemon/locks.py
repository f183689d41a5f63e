"""Who may act on a database: one daemon per SQLite file (DaemonLock), one active replica
among several on PostgreSQL (Lease)."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)


class DaemonLock:
    """One daemon per SQLite database: a second `complaintd run` on it is refused.

    An exclusive flock on "<database>.lock", held for the life of the process (the kernel
    drops it when the process dies, however it dies). PostgreSQL needs no file lock here.
    """

    def __init__(self, url: str) -> None:
        self.path = Path(url[len("sqlite:///"):] + ".lock") if url.startswith("sqlite:///") else None
        self._file: IO[str] | None = None

    def acquire(self, patience: float = 0.0) -> bool:
        """True when this process now holds the lock (or none is needed). `patience` seconds
        ride out someone holding it for a moment (`complaintd status` probes it)."""
        if self.path is None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        deadline = time.monotonic() + patience
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    return False
                time.sleep(0.05)
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip() if self.path else ""
        except OSError:
            return ""

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class Lease:
    """Which replica acts: on PostgreSQL, a session-level advisory lock on a connection kept
    open for it. The server frees the lock the moment the holder's connection dies (a
    killed process, a lost host), and a standby's next try, every tick, takes over. SQLite
    needs none: DaemonLock already allows one daemon."""

    KEY = 0x636F6D706C61  # "compla": one lock per database

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.shared = engine.dialect.name == "postgresql"
        self._conn: Any = None

    def hold(self) -> bool:
        """True while this process is the active replica (tries to become it if not)."""
        if not self.shared:
            return True
        try:
            if self._conn is None:
                self._conn = self.engine.connect()
            held = bool(self._conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({self.KEY})").scalar())
            self._conn.commit()
            return held
        except Exception:  # the database went away: the lock went with the connection
            log.warning("lease connection lost; trying again on the next tick", exc_info=True)
            self.release()
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                log.debug("closing the lease connection failed", exc_info=True)
            self._conn = None
