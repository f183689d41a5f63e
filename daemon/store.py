"""The database: an engine from the configured URL (SQLite's pragmas set on every
connection) and sessions. The schema is daemon/migrate.py's; the read queries are
daemon/queries.py's; who may write, daemon/locks.py's.

SQLite is the single-process default; PostgreSQL (postgresql+psycopg://…) runs the same code.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, func
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, create_engine

from daemon.errors import DatabaseMissing, StoreError
from daemon.migrate import migrate, schema_problem
from models import tables  # noqa: F401  (registers the tables on SQLModel.metadata)


def open_engine(url: str) -> Engine:
    """The daemon's engine, with the schema brought to this version's (see `migrate`); for
    SQLite, the folder is created, WAL used, and every transaction a writer's (below)."""
    engine = engine_for(url)
    migrate(engine)  # takes SQLite's write lock its own way (daemon/migrate.py)
    if _sqlite_file(url) is not None:
        engine.dispose()  # the connections to come are a writer's from their first statement
        _one_writer_at_a_time(engine)
    return engine


def _one_writer_at_a_time(engine: Engine) -> None:
    """SQLite takes one writer at a time. The daemon's two loops (intake, clocks) each write,
    and a transaction that began as a reader cannot become a writer once the other loop has
    committed meanwhile (SQLITE_BUSY_SNAPSHOT: an error at once, no waiting). So each of the
    daemon's transactions starts as a writer (BEGIN IMMEDIATE): the other loop's next one
    waits at BEGIN (the busy timeout), and nothing is refused halfway. Transactions are short
    (a case, a group of messages, a sent record), so the wait is too. PostgreSQL needs none of
    this: its writers lock rows (a case is changed only under SELECT … FOR UPDATE)."""

    @event.listens_for(engine, "connect")
    def _begin_ourselves(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # pysqlite would BEGIN (deferred) on its own
        page_size = dbapi_conn.execute("PRAGMA page_size").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={AUTO_CHECKPOINT_BYTES // page_size}")  # see Checkpoints

    @event.listens_for(engine, "begin")
    def _begin_as_writer(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# The daemon's commits leave SQLite's WAL checkpoint (the WAL copied back into the database
# file, then an fsync) to the clock loop (Checkpoints): done by the commit that crosses
# SQLite's default of 1,000 pages, it was half of an intake commit's time, on the intake's
# path. A WAL this big is the safety net, should the clock loop be held up.
AUTO_CHECKPOINT_BYTES = 64 * 1024 * 1024
CHECKPOINT_AFTER = 4 * 1024 * 1024  # bytes of mail committed by the intake since the last …
CHECKPOINT_EVERY = 60.0  # … or seconds (the clock loop's own writes, the heartbeats)


class Checkpoints:
    """When the clock loop checkpoints the WAL: after the intake has committed
    CHECKPOINT_AFTER bytes of mail (as SQLite would itself, about), or CHECKPOINT_EVERY
    seconds. PASSIVE: it waits for nobody and nobody waits for it; the intake goes on
    committing meanwhile. Nothing to do on PostgreSQL."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.clock = clock
        self.written = 0  # added to by the intake thread only; read by the clock loop
        self._at = (0, clock())  # written, and when, at the last checkpoint

    def wrote(self, size: int) -> None:
        self.written += size

    def due(self) -> bool:
        written, at = self._at
        return self.written - written >= CHECKPOINT_AFTER or self.clock() - at >= CHECKPOINT_EVERY

    def run(self, force: bool = False) -> None:
        """Checkpoint if due (or anyway)."""
        if self.engine.dialect.name != "sqlite" or not (force or self.due()):
            return
        self._at = (self.written, self.clock())
        with self.engine.connect() as conn:
            # On the driver's connection: no BEGIN, as a checkpoint runs outside any transaction.
            _driver(conn).execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


@contextlib.contextmanager
def unsynced(engine: Engine) -> Iterator[Connection]:
    """A connection whose commits do not wait for the disk, for records whose loss in a
    power cut costs nothing that matters (a heartbeat: rewritten a tick later). A daemon
    killed right after still has them, since the OS or the database server does."""
    with engine.connect() as conn:
        set_durable(conn, False)
        try:
            yield conn
        finally:
            conn.rollback()
            set_durable(conn, True)


def set_durable(conn: Connection, durable: bool) -> None:
    """Whether this connection's commits wait for the disk (the default) or not: SQLite
    synchronous=FULL or NORMAL, PostgreSQL synchronous_commit on or off. Called between
    transactions; a connection goes back to the pool durable."""
    if conn.dialect.name != "sqlite":
        conn.exec_driver_sql("RESET synchronous_commit" if durable else "SET synchronous_commit TO OFF")
        conn.commit()
        return
    # SQLite refuses to change this inside a transaction, and the daemon's connections begin
    # one at their first statement (BEGIN IMMEDIATE): set it on the driver's connection.
    _driver(conn).execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")


def _driver(conn: Connection) -> Any:
    """The pysqlite connection under `conn`: what SQLAlchemy does not say (blobopen) or would
    wrap in the daemon's BEGIN IMMEDIATE (PRAGMAs)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    return raw


# A bigger value is written into SQLite in pieces: binding it whole would hold two more copies
# of it inside SQLite until the row is written (the bound value, then the record), +110 MB for
# a mail of 54 MB (a 40 MB attachment in base64), on top of the mail itself. A zeroblob stays
# unexpanded only as the row's last field with data: the column must be the table's last
# (inbound_mail.raw is, since migration 0008).
BLOB_APART_FROM = 1 << 20  # bytes
BLOB_PIECE = 1 << 20


def insert(db: Session, table: Table, rows: list[dict[str, Any]], blob: str) -> None:
    """INSERT the rows in their order, many at a time; on SQLite, a `blob` value of
    BLOB_APART_FROM bytes or more goes into a zeroblob of its size, a piece at a time."""
    conn = db.connection()
    if conn.dialect.name != "sqlite":
        db.execute(table.insert(), rows)
        return
    batch: list[dict[str, Any]] = []
    for row in rows:
        data = row[blob]
        if len(data) < BLOB_APART_FROM:
            batch.append(row)
            continue
        if batch:
            db.execute(table.insert(), batch)
            batch = []
        inserted = conn.execute(table.insert().values({blob: func.zeroblob(len(data))}),
                                {k: v for k, v in row.items() if k != blob})
        with _driver(conn).blobopen(table.name, blob, inserted.lastrowid) as target:
            view = memoryview(data)
            for start in range(0, len(data), BLOB_PIECE):
                target.write(view[start:start + BLOB_PIECE])
    if batch:
        db.execute(table.insert(), batch)


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
            problem = schema_problem(conn)
    except DBAPIError as exc:  # unreachable, refused, or a file that is not a database
        engine.dispose()
        raise StoreError(f"cannot open {url}: {reason_of(exc)}") from None
    if problem is None:
        return engine
    engine.dispose()
    raise StoreError(problem)


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


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets `complaintd cases` read while the daemon writes; foreign keys are off by default.
    # synchronous=FULL: a message is moved out of the inbox right after its commit, so a commit
    # that a power cut could undo (NORMAL) would lose the complaint. Intake commits per group,
    # so the fsync is paid once per hundred messages.
    cursor = dbapi_conn.cursor()
    # 16 KB pages: the register is mostly mail (raw evidence, queued mail), and a commit writes
    # each page to the WAL with its own checksum and write; a group of intake's commit took
    # 15-18 ms with 4 KB pages, 6-7 ms with 16 KB. It only takes on a new database (before
    # its first table, and before WAL): an existing one keeps its page size.
    cursor.execute("PRAGMA page_size=16384")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def session(engine: Engine) -> Session:
    """A session whose objects stay readable after commit (we hand snapshots to the CLI)."""
    return Session(engine, expire_on_commit=False)
