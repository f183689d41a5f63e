"""The database: engine from the configured URL, sessions, and the register's read queries.

SQLite is the single-process default; PostgreSQL (postgresql+psycopg://…) runs the same code.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

from sqlalchemy import event, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine, select

from models import tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from models.tables import Case, Deadline, Event, Heartbeat, Outbox
from models.types import CLOSED_STATUSES, DeadlineKind

log = logging.getLogger(__name__)


def open_engine(url: str) -> Engine:
    """An engine with the schema in place; for SQLite, the folder is created and WAL used."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    SQLModel.metadata.create_all(engine)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets `complaintd cases` read while the daemon writes; foreign keys are off by default.
    # synchronous=FULL: a message is moved out of the inbox right after its commit, so a commit
    # that a power cut could undo (NORMAL) would lose the complaint. Intake commits per group,
    # so the fsync is paid once per hundred messages.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


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


def session(engine: Engine) -> Session:
    """A session whose objects stay readable after commit (we hand snapshots to the CLI)."""
    return Session(engine, expire_on_commit=False)


@dataclass(frozen=True)
class CaseRecord:
    """One case with its clocks and its event log, detached from the session."""

    case: Case
    deadlines: tuple[Deadline, ...]
    events: tuple[Event, ...]


STATUS_FILTERS = ("open", "overdue", "closed", "all")


def list_cases(engine: Engine, status: str, now: datetime) -> list[tuple[Case, Deadline | None]]:
    """Cases for `complaintd cases`, newest first, each with its next open deadline."""
    closed = [s.value for s in CLOSED_STATUSES]
    with session(engine) as db:
        query = select(Case).order_by(Case.registered_at.desc(), Case.id.desc())  # type: ignore[attr-defined]
        if status in ("open", "overdue"):
            query = query.where(Case.status.not_in(closed))  # type: ignore[attr-defined]
        elif status == "closed":
            query = query.where(Case.status.in_(closed))  # type: ignore[attr-defined]
        cases = list(db.exec(query))
        nexts = next_deadlines(db, [c.id for c in cases])
    rows = [(c, nexts.get(c.id)) for c in cases]
    if status == "overdue":
        rows = [(c, d) for c, d in rows if d is not None and d.due_at <= now]
    return rows


def next_deadlines(db: Session, case_ids: Sequence[str], *, still_open: bool = False) -> dict[str, Deadline]:
    """Each case's earliest clock not yet met. The register counts a breached clock as the
    next one (it is what makes a case overdue); `still_open` looks only at clocks neither met
    nor breached, leaving out ack windows: what is next to happen, as the digest tells it."""
    found: dict[str, Deadline] = {}
    if not case_ids:
        return found
    query = (
        select(Deadline)
        .where(Deadline.case_id.in_(case_ids))  # type: ignore[attr-defined]
        .where(Deadline.met_at.is_(None))  # type: ignore[union-attr]
        .order_by(Deadline.due_at)  # type: ignore[arg-type]
    )
    if still_open:
        query = query.where(Deadline.breached_at.is_(None), Deadline.kind != DeadlineKind.ACK.value)  # type: ignore[union-attr]
    for deadline in db.exec(query):
        found.setdefault(deadline.case_id, deadline)
    return found


def load_case(engine: Engine, case_id: str) -> CaseRecord | None:
    with session(engine) as db:
        case = db.get(Case, case_id)
        if case is None:
            return None
        deadlines = db.exec(
            select(Deadline).where(Deadline.case_id == case_id)
            .order_by(Deadline.due_at, Deadline.id)  # type: ignore[arg-type]
        ).all()
        events = db.exec(
            select(Event).where(Event.case_id == case_id).order_by(Event.at, Event.id)  # type: ignore[arg-type]
        ).all()
    return CaseRecord(case, tuple(deadlines), tuple(events))


def expire_ack_windows(db: Session, case_id: str, address: str, now: datetime) -> int:
    """The hook for "this person cannot be reached" (a 5xx refusal, a bounce, an auto-reply):
    their open ack windows on the case fall due now, so the next deadline pass tells B or the
    next leader up instead of waiting out the window."""
    windows = db.exec(select(Deadline).where(
        Deadline.case_id == case_id, Deadline.kind == DeadlineKind.ACK.value,
        Deadline.met_at.is_(None), Deadline.breached_at.is_(None),  # type: ignore[union-attr]
        Deadline.target.endswith("/" + address.lower()),  # type: ignore[attr-defined]
    )).all()
    for window in windows:
        window.due_at = min(window.due_at, now)
        db.add(window)
    return len(windows)


def beat(engine: Engine, name: str, at: datetime) -> None:
    """Record that a step just succeeded (one tiny row per step, overwritten)."""
    with session(engine) as db:
        row = db.get(Heartbeat, name) or Heartbeat(name=name, at=at)
        row.at, row.pid = at, os.getpid()
        db.add(row)
        db.commit()


@dataclass(frozen=True)
class Health:
    last_poll: datetime | None
    last_pass: datetime | None
    backlog: int  # mails waiting to be sent
    oldest_unsent: datetime | None
    failed: int  # mails a server refused for good
    open_cases: int
    next_deadline: Deadline | None


def health(engine: Engine) -> Health:
    closed = [s.value for s in CLOSED_STATUSES]
    with session(engine) as db:
        beats = {b.name: b.at for b in db.exec(select(Heartbeat))}
        pending = db.exec(select(func.count(), func.min(Outbox.created_at))
                          .where(Outbox.status == "pending")).one()
        failed = db.exec(select(func.count()).select_from(Outbox).where(Outbox.status == "failed")).one()
        open_cases = db.exec(select(func.count()).select_from(Case).where(Case.status.not_in(closed))).one()  # type: ignore[attr-defined]
        next_deadline = db.exec(
            select(Deadline).join(Case, Case.id == Deadline.case_id)  # type: ignore[arg-type]
            .where(Deadline.met_at.is_(None), Deadline.breached_at.is_(None), Deadline.kind != "ack",  # type: ignore[union-attr]
                   Case.status.not_in(closed))  # type: ignore[attr-defined]
            .order_by(Deadline.due_at).limit(1)).first()  # type: ignore[arg-type]
    return Health(beats.get("poll"), beats.get("pass"), pending[0], pending[1], failed, open_cases, next_deadline)


def iter_case_ids(engine: Engine) -> Iterator[str]:
    with session(engine) as db:
        yield from db.exec(select(Case.id).order_by(Case.id))
