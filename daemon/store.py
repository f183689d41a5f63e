"""The database: engine from the configured URL, sessions, and the register's read queries.

SQLite is the single-process default; PostgreSQL (postgresql+psycopg://…) runs the same code.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import event, func, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, create_engine, select

from daemon import migrations
from daemon.errors import StoreError
from models import tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from models.tables import Case, Deadline, Event, Heartbeat, Outbox
from models.types import CLOSED_STATUSES, DeadlineKind

log = logging.getLogger(__name__)


def open_engine(url: str) -> Engine:
    """An engine with the schema brought to this version's (see `migrate`); for SQLite, the
    folder is created and WAL used."""
    engine = engine_for(url)
    migrate(engine)
    return engine


class DatabaseMissing(StoreError):
    """A SQLite file that is not there: complaintd never ran (or migrated) on this config."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"no database at {path}: `complaintd run` or `complaintd migrate` creates it")


def open_current(url: str) -> Engine:
    """An engine for the commands that only read (cases, show, export, status), on a database
    that already holds this version's schema. Nothing is created or changed: a missing SQLite
    file raises DatabaseMissing, a schema at another revision StoreError, so that reading the
    register never upgrades it behind the back of a daemon of the older version."""
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        raise DatabaseMissing(path)
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            current, ours = _schema_state(conn)
    except DBAPIError as exc:  # unreachable, refused, or a file that is not a database
        engine.dispose()
        raise StoreError(f"cannot open {url}: {reason_of(exc)}") from None
    head = head_revision()
    if current == head and ours:
        return engine
    engine.dispose()
    if current is not None and current not in _known_revisions():
        raise StoreError(_newer_schema(current, head))
    raise StoreError(f"schema behind: run complaintd migrate ({_behind_said(current, ours, head)})")


def _behind_said(current: str | None, ours: frozenset[str], head: str) -> str:
    if current is not None:
        return f"the database is at revision {current}, this complaintd needs {head}"
    if ours:
        return "the database has no schema version: it was made before migrations"
    return "the database holds no complaintd tables yet"


def _sqlite_file(url: str) -> Path | None:
    """The file of a sqlite:///PATH url; None for PostgreSQL and an in-memory database."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url[len("sqlite:///"):])
    return None


def reason_of(exc: DBAPIError) -> str:
    """The database's own words for a refusal, one line (the driver's message, no SQL)."""
    return str(exc.orig or exc).strip().splitlines()[0]


def engine_for(url: str) -> Engine:
    """An engine on the database as it is, schema untouched (`complaintd migrate` wants the
    revision before)."""
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


# --- schema migrations (Alembic, daemon/migrations/) -------------------------------------------

MIGRATION_KEY = 0x636F6D706D67  # "compmg": PostgreSQL advisory lock key, not Lease.KEY
FIRST_RELEASE = "0001"
# What the first release's create_all made; a database holding all of them and no
# alembic_version was made by a build from before migrations.
RELEASED_TABLES = frozenset({"cases", "case_counters", "deadlines", "events", "inbound_mail", "outbox",
                             "heartbeats"})


@dataclass(frozen=True)
class SchemaChange:
    """What `migrate` found and left: revisions before (None: an empty database) and after."""

    before: str | None
    after: str
    unversioned: bool = False  # made before migrations existed; `before` is what it matched

    @property
    def changed(self) -> bool:
        return self.before != self.after


def migrate(engine: Engine) -> SchemaChange:
    """Bring the schema to head, whatever made the database:

    - an empty database gets the whole schema;
    - one from a build before migrations (our tables, no alembic_version) is stamped with the
      revision it matches, then upgraded;
    - a versioned one is upgraded from where it stands (nothing to do when current).

    Concurrent starts (replicas, a CLI command beside a starting daemon) are serialised: on
    PostgreSQL by a transaction-level advisory lock, on SQLite by BEGIN IMMEDIATE (its write
    lock). The whole upgrade is one transaction on both, since both have transactional DDL:
    a failing step leaves the schema as it was. The usual start, already at head, reads one
    row and takes no lock.
    """
    head = head_revision()
    with engine.connect() as conn:
        current, tables = _schema_state(conn)
        conn.rollback()
        if current == head and tables:
            return SchemaChange(head, head)
        with conn.begin():
            _lock_for_migration(conn)
            change = _upgrade(conn, head)
    if change.changed:
        log.info("schema upgraded %s -> %s%s", change.before or "(empty)", change.after,
                 " (an unversioned database from before migrations)" if change.unversioned else "")
    return change


def head_revision() -> str:
    """The newest revision this version knows: what `migrate` brings every database to."""
    head = _alembic_scripts().get_current_head()
    assert head is not None, "daemon/migrations/versions holds no revision"
    return head


def _upgrade(conn: Connection, head: str) -> SchemaChange:
    """Under the lock: look again (another process may just have done it), then upgrade."""
    current, ours = _schema_state(conn)
    config = _alembic_config(conn)
    unversioned = False
    if current is not None and current not in _known_revisions():
        raise StoreError(_newer_schema(current, head))
    if current is not None and not ours:
        # Versioned, yet every table is gone (dropped by hand, or by metadata.drop_all, which
        # knows nothing of alembic_version): nothing to keep, so build it again from scratch.
        conn.exec_driver_sql("DELETE FROM alembic_version")
        current = None
    elif current is None and ours:
        if ours != RELEASED_TABLES:
            raise StoreError("the database has some of complaintd's tables but not all of them "
                             f"({', '.join(sorted(ours))}) and no schema version: not one complaintd made")
        current, unversioned = _unversioned_revision(conn), True
        command.stamp(config, current)
    if current != head:
        command.upgrade(config, "head")
    return SchemaChange(current, head, unversioned)


def _known_revisions() -> set[str]:
    return {script.revision for script in _alembic_scripts().walk_revisions()}


def _newer_schema(current: str, head: str) -> str:
    return (f"the database's schema is at revision {current}, newer than this complaintd "
            f"(up to {head}): a newer version upgraded it; run that one (no downgrades)")


def _unversioned_revision(conn: Connection) -> str:
    """Which revision a database from before migrations matches: the release's (0001), or
    0002 when a development build after it (create_all still) had added outbox.deferred_since.
    Frozen: from this version on every database is versioned, so no later revision joins."""
    columns = {column["name"] for column in inspect(conn).get_columns("outbox")}
    return "0002" if "deferred_since" in columns else FIRST_RELEASE


def _schema_state(conn: Connection) -> tuple[str | None, frozenset[str]]:
    """The recorded revision (None when there is none) and which of our tables exist.
    Read directly rather than through Alembic's MigrationContext, which logs on every start."""
    names = set(inspect(conn).get_table_names())
    current = None
    if "alembic_version" in names:
        current = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return current, frozenset(names & RELEASED_TABLES)


def _lock_for_migration(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # Transaction-level: freed at commit or rollback, so an error can never leave it held.
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_KEY})")
    elif conn.dialect.name == "sqlite":
        # The write lock now rather than at the first write, so that two processes do not both
        # find the schema old (pysqlite begins no transaction before DDL by itself).
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config(conn: Connection | None) -> Config:
    """Alembic configured in code: no alembic.ini, scripts from the installed package. The
    open connection goes along (env.py uses it), so no URL, and no password, passes here."""
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).resolve().parent))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = conn
    return config


@functools.cache
def _alembic_scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config(None))


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
    """Cases for `complaintd cases`, newest first, each with what comes next: its earliest
    open clock (none on a closed case). `overdue`: the open cases that have missed a deadline,
    whether the pass has acted on it (breached) or not yet."""
    closed = [s.value for s in CLOSED_STATUSES]
    with session(engine) as db:
        query = select(Case).order_by(Case.registered_at.desc(), Case.id.desc())  # type: ignore[attr-defined]
        if status in ("open", "overdue"):
            query = query.where(Case.status.not_in(closed))  # type: ignore[attr-defined]
        elif status == "closed":
            query = query.where(Case.status.in_(closed))  # type: ignore[attr-defined]
        cases = list(db.exec(query))
        if status == "overdue":
            missed = next_deadlines(db, [c.id for c in cases])
            cases = [c for c in cases if c.id in missed and missed[c.id].due_at <= now]
        nexts = next_deadlines(db, [c.id for c in cases if c.status not in closed], still_open=True)
    return [(c, nexts.get(c.id)) for c in cases]


def next_deadlines(db: Session, case_ids: Sequence[str], *, still_open: bool = False) -> dict[str, Deadline]:
    """Each case's earliest clock not yet met: a breached one counts, so a case whose earliest
    is due has missed a deadline. `still_open` looks only at clocks neither met nor breached,
    leaving out ack windows: what is next to happen, as `cases` and the digest show it."""
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
                          .where(Outbox.status.in_(("pending", "sending")))).one()  # type: ignore[attr-defined]
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
