"""The commands that only read the register (cases, show, export, status) need only the database:
no mailbox or SMTP password, no schema change, and a clear word when the database is missing or
its schema is behind. Real processes, on a config that logs in to (unreachable) mail servers."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.migrate import head_revision
from tests.support.mail import ROOT, server_config, set_keys

pytestmark = pytest.mark.integration

SCHEMA = ROOT / "tests/fixtures/schema/first_release.sqlite.sql"
SECRETS = ("COMPLAINTD_IMAP_PASSWORD", "COMPLAINTD_SMTP_PASSWORD", "COMPLAINTD_CONFIG")
READERS = {
    "cases": ["cases", "--status", "all", "--json"],
    "show": ["show", "MT-20261127-0001", "--json"],
    "export": ["export", "--format", "csv", "-o", "-"],
    "status": ["status"],
}


def complaintd(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A run with neither password variable set, as from a shell without the unit's EnvironmentFile."""
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    done = subprocess.run([sys.executable, "-m", "daemon", *args, "-c", str(config)], cwd=config.parent,
                          capture_output=True, text=True, timeout=120, env={**env, "PYTHONPATH": str(ROOT)})
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "db/complaintd.sqlite3"


@pytest.fixture
def config(tmp_path: Path, database: Path) -> Path:
    """IMAP and SMTP with a user each, so both password variables are named; nothing listens."""
    return server_config(tmp_path, inbound="imaps://complaints%40corp.example.com@127.0.0.1:9/INBOX",
                         outbound="smtp://complaints%40corp.example.com@127.0.0.1:9",
                         database=f"sqlite:///{database}")


@pytest.fixture
def register(tmp_path: Path, database: Path) -> str:
    """One case in the database at this version's schema, put there through a Maildir config on
    the same database (which needs no password); its id."""
    maildir = tmp_path / "maildir"
    maildir.mkdir()
    shutil.copy(ROOT / "config.toml", maildir / "config.toml")
    set_keys(maildir / "config.toml", "daemon", database=f"sqlite:///{database}")
    set_keys(maildir / "config.toml", "reports", digest_at="off")
    done = complaintd(maildir / "config.toml", "ingest", str(ROOT / "examples/outlook-forward.eml"))
    assert done.returncode == 0, done.stderr
    return done.stdout.split("registered ")[1].split()[0]


def schema_of(database: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as conn:
        return sorted(conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))


def test_reading_the_register_needs_no_mail_password(config: Path, register: str) -> None:
    listing = complaintd(config, *READERS["cases"])
    assert listing.returncode == 0, listing.stderr
    assert [c["id"] for c in json.loads(listing.stdout)] == [register]

    shown = complaintd(config, "show", register, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["media_outlet"] == "江城晚报"

    exported = complaintd(config, *READERS["export"])
    assert exported.returncode == 0, exported.stderr
    assert register in exported.stdout

    status = complaintd(config, "status")  # exit 1: no daemon runs; but it reports, not refuses
    assert "daemon：未运行" in status.stdout and "在办案件：1 件" in status.stdout
    assert "password" not in status.stderr


def test_check_and_migrate_still_know_what_they_need(config: Path, database: Path) -> None:
    """check vouches for what run needs, so it still names the unset variables; migrate, which
    only touches the database, does not need them."""
    check = complaintd(config, "check")
    assert check.returncode == 1
    assert "inbound.password_env: the environment variable COMPLAINTD_IMAP_PASSWORD is not set" in check.stderr
    assert "outbound.password_env: the environment variable COMPLAINTD_SMTP_PASSWORD is not set" in check.stderr
    migrate = complaintd(config, "migrate")
    assert migrate.returncode == 0, migrate.stderr
    assert database.exists()


def first_release(database: Path, *, version: str | None) -> None:
    """The release's schema (git 587bcdc), unversioned as it made it, or as a migration to
    `version` leaves it."""
    database.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(database) as conn:
        conn.executescript(SCHEMA.read_text(encoding="utf-8"))
        if version is not None:
            conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
            conn.execute("INSERT INTO alembic_version VALUES (?)", (version,))


@pytest.mark.parametrize("command", list(READERS))
@pytest.mark.parametrize("version", [None, "0001"], ids=["unversioned", "versioned"])
def test_a_schema_behind_is_reported_never_upgraded(config: Path, database: Path, command: str,
                                                    version: str | None) -> None:
    first_release(database, version=version)
    before = schema_of(database)

    done = complaintd(config, *READERS[command])
    assert done.returncode != 0
    [line] = done.stderr.splitlines()
    assert line.startswith("complaintd: schema behind: run complaintd migrate (")
    assert (f"at revision 0001, this complaintd needs {head_revision()}" if version else "no schema version") in line
    assert schema_of(database) == before


@pytest.mark.parametrize("command", ["cases", "show", "export"])
def test_a_missing_database_is_said_and_not_created(config: Path, database: Path, command: str) -> None:
    done = complaintd(config, *READERS[command])
    assert done.returncode == 2
    said = f"complaintd: no database at {database}: `complaintd run` or `complaintd migrate` creates it\n"
    assert done.stderr == said
    assert not database.parent.exists()


def test_status_on_a_missing_database_says_the_daemon_never_ran(config: Path, database: Path) -> None:
    done = complaintd(config, "status")
    assert done.returncode == 1
    assert "异常：没有 complaintd 进程在运行" in done.stderr
    assert f"异常：数据库 {database} 不存在" in done.stderr
    assert not database.parent.exists()
