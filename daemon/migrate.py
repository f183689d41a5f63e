"""Schema migrations: Alembic (daemon/migrations/, configured in code, no alembic.ini) driven
on an open connection, the revision a database stands at, and the lock that serialises
concurrent upgrades.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

from daemon import migrations
from daemon.errors import StoreError

log = logging.getLogger(__name__)

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


def schema_problem(conn: Connection) -> str | None:
    """Why this version cannot use the database's schema as it stands (behind, newer, or
    none yet), said for the user; None when it is at head. Reads only, locks nothing."""
    current, ours = _schema_state(conn)
    head = head_revision()
    if current == head and ours:
        return None
    if current is not None and current not in _known_revisions():
        return _newer_schema(current, head)
    return f"schema behind: run complaintd migrate ({_behind_said(current, ours, head)})"


def _behind_said(current: str | None, ours: frozenset[str], head: str) -> str:
    if current is not None:
        return f"the database is at revision {current}, this complaintd needs {head}"
    if ours:
        return "the database has no schema version: it was made before migrations"
    return "the database holds no complaintd tables yet"


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
    Frozen: every database migrate has touched is versioned, so no later revision joins."""
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
