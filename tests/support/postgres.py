"""A PostgreSQL database of its own on the server at 127.0.0.1:5432 (trust auth, as .ci/run
sets it up), created for a test or a benchmark and dropped after, however it ends."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg

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
