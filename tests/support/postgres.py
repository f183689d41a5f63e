"""A PostgreSQL database of its own on the server at 127.0.0.1:5432 (trust auth, as .ci/run
sets it up), created for a test or a benchmark and dropped after, however it ends."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


class PostgresUnreachable(Exception):
    """The server is not there; .ci/run starts it."""


@contextlib.contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """`postgresql+psycopg://…/<prefix>_<random>`, dropped (WITH FORCE) on the way out."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise PostgresUnreachable(f"PostgreSQL is not reachable at 127.0.0.1:5432 "
                                  f"(run .ci/run, which starts it): {exc}") from exc
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def empty_database(kind: str, tmp_path: Path, prefix: str = "complaintd_test") -> Iterator[str]:
    """An empty database for one test: a SQLite file under `tmp_path`, or ("postgresql") a
    fresh PostgreSQL database; an unreachable server fails the test, never skips it."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/complaintd.sqlite3"
        return
    try:
        with fresh_database(prefix) as url:
            yield url
    except PostgresUnreachable as exc:
        pytest.fail(str(exc))
