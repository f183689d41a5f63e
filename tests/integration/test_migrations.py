"""Schema migrations: a database made by the first release upgrades in place, rows intact.

"As the release made it" is tests/fixtures/schema/first_release.<dialect>.sql: the DDL that
the release's create_all sent, recorded from the released models (see make_first_release.py
there), not our own revision 0001, which would only prove that 0001 agrees with itself.
Each test gets a database of its own: a SQLite file, or a PostgreSQL database created for it
on the real server and dropped after.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import DateTime, MetaData, Table, event, insert, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel
from sqlmodel import select as select_model

from daemon.migrate import MIGRATION_KEY, head_revision, migrate
from daemon.queries import load_case
from daemon.store import engine_for, open_engine, session
from models.tables import Outbox
from models.types import UTCDateTime
from tests.support.mail import ROOT, server_config
from tests.support.postgres import empty_database
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SCHEMA = ROOT / "tests/fixtures/schema"
T0 = datetime(2026, 11, 27, 2, 15, 30, 123456, tzinfo=UTC)
RAW = "转发：江城晚报记者投诉".encode("gb18030") + b"\r\n\x00\xff"  # evidence bytes, not UTF-8


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


# One case as the first release recorded it: every table has rows, every kind of column a value.
RELEASED_ROWS: dict[str, list[dict[str, Any]]] = {
    "cases": [{
        "id": "MT-20261127-0001", "status": "general_dept", "category": 2, "received_at": T0,
        "registered_at": minutes(1), "receiving_dept": "general_dept", "receiver_email": "sun@corp.example.com",
        "forwarder_email": "sun@corp.example.com", "media_outlet": "江城晚报", "reporter_name": "李记者",
        "original_from_name": "李记者", "original_from_email": "li.reporter@jcwb.example.cn",
        "original_sent_at": minutes(-30), "original_subject": "投诉：小区手机没有信号", "phone": "13912345678",
        "customer_number": None, "complaint_text": "第1号小区手机没有信号。",
        "attachments": [{"filename": "照片.jpg", "size": 2048}], "account_manager": None, "solution": None,
        "expected_completion_at": None, "statement": None, "resolved_at": None, "result": None,
        "late": True, "assessment": "cannot", "gd_takeover_at": minutes(60), "group_formed_at": None,
        "group_depts": ["network", "marketing"], "group_requested_at": minutes(70),
        "statement_approved_at": None, "statement_approved_by": None, "source_key": "<a1@corp.example.com>",
        "source_message_id": "<a1@corp.example.com>", "updated_at": minutes(70),
    }],
    "case_counters": [{"day": "20261127", "last": 1}],
    "deadlines": [
        {"case_id": "MT-20261127-0001", "kind": "assess", "round": 0, "due_at": minutes(15), "met_at": minutes(5),
         "breached_at": None, "late": False, "target": ""},
        {"case_id": "MT-20261127-0001", "kind": "ack", "round": 1, "due_at": minutes(75), "met_at": None,
         "breached_at": minutes(76), "late": False, "target": "general_dept/1/gd@corp.example.com"},
    ],
    "events": [
        {"case_id": "MT-20261127-0001", "at": T0, "kind": "registered", "actor": "complaintd",
         "message_id": "<a1@corp.example.com>", "subject": "转发：江城晚报记者投诉", "summary": "登记"},
        {"case_id": None, "at": minutes(2), "kind": "quarantined", "actor": "complaintd", "message_id": None,
         "subject": None, "summary": "unusable"},
    ],
    "inbound_mail": [{
        "mailbox": "INBOX", "uidvalidity": 1700000000, "uid": "7", "message_id": "<a1@corp.example.com>",
        "digest": "ab" * 32, "kind": "complaint", "status": "registered", "case_id": "MT-20261127-0001",
        "sender": "sun@corp.example.com", "subject": "转发：江城晚报记者投诉", "reason": "", "size": len(RAW),
        "raw": RAW, "seen_at": T0,
    }],
    "outbox": [
        {"key": "MT-20261127-0001/general_dept/0/gd@corp.example.com", "case_id": "MT-20261127-0001",
         "step": "general_dept", "round": 0, "recipient": "gd@corp.example.com",
         "message_id": "<case-1.gd.0@corp.example.com>", "subject": "【媒体投诉】MT-20261127-0001", "data": RAW,
         "status": "sent", "created_at": minutes(1), "next_attempt_at": minutes(1), "attempts": 1,
         "sent_at": minutes(2), "last_error": None},
        {"key": "MT-20261127-0001/ack/1/gd@corp.example.com", "case_id": "MT-20261127-0001", "step": "ack",
         "round": 1, "recipient": "gd@corp.example.com", "message_id": "<case-1.ack.1@corp.example.com>",
         "subject": "【媒体投诉】请确认", "data": b"\x00", "status": "pending", "created_at": minutes(76),
         "next_attempt_at": minutes(80), "attempts": 2, "sent_at": None,
         "last_error": "451 4.7.1 try again later"},
    ],
    "heartbeats": [{"name": "pass", "at": minutes(79), "pid": 4242}, {"name": "poll", "at": minutes(80), "pid": 4242}],
}
# How each table's rows are ordered when read back (RELEASED_ROWS lists them in that order);
# the others have serial ids, given by the database in insertion order.
KEYS = {"cases": "id", "case_counters": "day", "heartbeats": "name"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own: a SQLite file, or a PostgreSQL database made for this test."""
    with empty_database(request.param, tmp_path, "complaintd_migrations") as url:
        yield url


@pytest.fixture
def engines(url: str) -> Iterator[Callable[[Callable[[str], Engine]], Engine]]:
    """Open engines on `url` (with open_engine or engine_for), every one disposed after the test."""
    opened: list[Engine] = []

    def opener(how: Callable[[str], Engine]) -> Engine:
        opened.append(how(url))
        return opened[-1]

    yield opener
    for engine in opened:
        engine.dispose()


def build_first_release(url: str) -> None:
    """The released schema, statement by statement, then RELEASED_ROWS, as the release's own
    types wrote them (UTCDateTime: naive UTC text on SQLite, timestamptz on PostgreSQL)."""
    engine = engine_for(url)
    dialect = engine.dialect.name
    text = (SCHEMA / f"first_release.{dialect}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    with engine.begin() as conn:
        for statement in filter(str.strip, body.split(";\n")):
            conn.exec_driver_sql(statement)
        tables = reflect(conn)
        for name in RELEASED_ROWS:  # parents first (the dict's order)
            conn.execute(insert(tables[name]), RELEASED_ROWS[name])
    engine.dispose()


def reflect(conn: Connection) -> dict[str, Table]:
    """The tables as the database has them, time columns read and written as UTCDateTime."""
    metadata = MetaData()

    @event.listens_for(metadata, "column_reflect")
    def utc_times(_inspector: Any, _table: Table, column: dict[str, Any]) -> None:
        if isinstance(column["type"], DateTime):
            column["type"] = UTCDateTime()

    metadata.reflect(conn, only=list(RELEASED_ROWS))
    return dict(metadata.tables)


def read_rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as conn:
        tables = reflect(conn)
        return {name: [dict(row._mapping) for row in conn.execute(
                    select(tables[name]).order_by(tables[name].c[KEYS.get(name, "id")]))]
                for name in RELEASED_ROWS}


def schema_diff(engine: Engine) -> list[Any]:
    """What autogenerate would write to make the database match the models (empty: they match).
    Nothing is filtered out, on SQLite either: UTCDateTime compares as its DateTime impl and
    SQLModel's AutoString as VARCHAR, so its loose type affinity adds no noise to ignore."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def recorded_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


ADDED = ("deferred_since", "claim", "category_basis", "category_reason", "forwarder_note", "original_key")


def test_a_first_release_database_upgrades_with_every_row_intact(url: str, engines: Any) -> None:
    """open_engine on a database the release made: every row and value survives (aware UTC
    times included), outbox.deferred_since and outbox.claim appear empty, alembic_version is
    head, and a second open changes nothing."""
    build_first_release(url)
    engine = engines(open_engine)

    rows = read_rows(engine)
    for name, released in RELEASED_ROWS.items():
        generated = (*ADDED, "id") if name not in KEYS else ADDED  # serial ids: the database's
        kept = [{k: v for k, v in row.items() if k not in generated} for row in rows[name]]
        assert kept == released, name
    # Columns added since the release read "not known" on old rows.
    assert [row["deferred_since"] for row in rows["outbox"]] == [None, None]
    assert [row["claim"] for row in rows["outbox"]] == [None, None]
    assert {row[c] for row in rows["cases"] for c in ADDED if c in row} == {None}
    times = [v for table in rows.values() for row in table for v in row.values() if isinstance(v, datetime)]
    assert times and all(t.tzinfo == UTC for t in times)
    assert "deferred_since" in {c["name"] for c in inspect(engine).get_columns("outbox")}
    assert recorded_revision(engine) == head_revision()

    record = load_case(engine, "MT-20261127-0001")  # today's models read the old rows
    assert record is not None and record.case.received_at == T0 and record.case.group_depts == ["network", "marketing"]
    assert [d.kind for d in record.deadlines] == ["assess", "ack"] and len(record.events) == 1
    with session(engine) as db:  # new rows continue the old ones' ids and use the new column
        db.add(Outbox(key="k", step="ack", recipient="b@corp.example.com", message_id="<new@x>", subject="s",
                      data=b"", created_at=T0, next_attempt_at=T0, deferred_since=minutes(3)))
        db.commit()
        ids = [o.id for o in db.exec(select_model(Outbox).order_by(Outbox.id))]  # type: ignore[arg-type]
        assert len(ids) == 3 and ids[2] > ids[1]
        assert db.get(Outbox, ids[2]).deferred_since == minutes(3)  # type: ignore[union-attr]

    again = migrate(engines(engine_for))
    assert (again.before, again.after, again.changed) == (head_revision(), head_revision(), False)


def queued(holder: Connection, url: str, procs: list[subprocess.Popen[str]]) -> bool:
    """Are both processes waiting for the lock? PostgreSQL shows its waiters; on SQLite, a
    process that has the database file open is at its BEGIN IMMEDIATE or just before it."""
    if holder.dialect.name == "postgresql":
        return holder.exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            f" AND objid = {MIGRATION_KEY & 0xFFFFFFFF}").scalar() == len(procs)
    database = os.path.realpath(url[len("sqlite:///"):])

    def has_open(pid: int) -> bool:
        try:
            return any(os.path.realpath(fd) == database for fd in Path(f"/proc/{pid}/fd").iterdir())
        except OSError:  # it exited, or a descriptor closed while we looked
            return False

    return all(has_open(proc.pid) for proc in procs)


def test_the_migrate_command_says_from_which_revision_to_which(url: str, engines: Any, tmp_path: Path) -> None:
    """`complaintd migrate` on a first-release database prints 0001 → head and exits 0; run
    again, it finds nothing to do."""
    build_first_release(url)
    config = server_config(tmp_path, inbound=f"maildir:{tmp_path}/in", outbound=f"maildir:{tmp_path}/out",
                           database=url)

    def complaintd(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "daemon", *args, "-c", str(config)], capture_output=True,
                              text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        return done

    first = complaintd("migrate").stdout
    assert "schema before: 0001 (no version recorded" in first
    assert f"schema after: {head_revision()} (upgraded)" in first
    second = complaintd("migrate").stdout
    assert f"schema before: {head_revision()}\n" in second and "(already current)" in second
    assert len(read_rows(engines(engine_for))["outbox"]) == 2


@pytest.mark.parametrize("start", ["empty", "first_release"])
def test_the_migrated_schema_is_the_models_schema(url: str, engines: Any, start: str) -> None:
    """Alembic's autogenerate finds nothing between the migrated database and SQLModel.metadata,
    from an empty database and from the release's; a model change without a revision fails here."""
    if start == "first_release":
        build_first_release(url)
    engine = engines(open_engine)
    assert schema_diff(engine) == []
    if engine.dialect.name == "sqlite":  # a big mail goes into its row without a copy only as the last field
        assert [c["name"] for c in inspect(engine).get_columns("inbound_mail")][-1] == "raw"


def test_an_empty_database_goes_straight_to_head(url: str, engines: Any) -> None:
    """Nothing there: every table is created and the revision recorded is head."""
    change = migrate(engines(engine_for))
    assert (change.before, change.after, change.unversioned) == (None, head_revision(), False)
    engine = engines(open_engine)
    assert set(inspect(engine).get_table_names()) == set(SQLModel.metadata.tables) | {"alembic_version"}
    assert recorded_revision(engine) == head_revision()


def test_processes_starting_together_migrate_once(url: str, engines: Any) -> None:
    """Two processes open a first-release database at the same moment (replicas starting):
    while one migrates the other waits for it, then finds the work done; neither fails."""
    build_first_release(url)
    holder = engines(engine_for).connect()  # hold the migration lock, so that both must queue
    if holder.dialect.name == "postgresql":
        holder.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_KEY})")
    else:
        holder.exec_driver_sql("BEGIN IMMEDIATE")
    script = "import sys; from daemon.migrate import migrate; from daemon.store import engine_for; print(migrate(engine_for(sys.argv[1])).changed)"
    procs = [subprocess.Popen([sys.executable, "-c", script, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}) for _ in range(2)]
    try:
        assert wait_until(lambda: queued(holder, url, procs)), "the processes never queued for the migration"
        if holder.dialect.name == "postgresql":
            holder.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_KEY})")
        else:
            time.sleep(0.3)  # from opening the file to waiting on its lock
            holder.exec_driver_sql("COMMIT")
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        holder.close()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in outputs]
    assert sorted(out.strip() for out, _ in outputs) == ["False", "True"]
    assert len(read_rows(engines(engine_for))["deadlines"]) == 2
