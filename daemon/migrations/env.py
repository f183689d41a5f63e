"""Alembic's environment, run by daemon.migrate (there is no alembic.ini).

The caller hands over an open connection, already inside a transaction that it commits, in
config.attributes["connection"]: the schema change and its lock are the caller's business
(daemon.migrate.migrate). SQLite gets batch mode, the only way it can alter a table.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from models import tables  # noqa: F401  (registers the tables on SQLModel.metadata)


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None or context.is_offline_mode():
        raise RuntimeError("complaintd's migrations run only through daemon.migrate, on an open connection")
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,  # for autogenerate (a new revision's first draft)
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
