"""The daemon's exceptions.

    ComplaintdError
    ├── ConfigError        the config file is missing or invalid (carries every problem)
    ├── SourceError        the inbound mailbox cannot be reached or used
    └── StoreError         the database refuses (e.g. a second process on SQLite)
        └── DatabaseMissing    the SQLite file is not there (never run or migrated)

Parsing never raises: a message that cannot be understood is a value (Kind.UNUSABLE).
"""

from __future__ import annotations

from pathlib import Path


class ComplaintdError(Exception):
    """Base of everything the daemon raises on purpose."""


class ConfigError(ComplaintdError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class SourceError(ComplaintdError):
    """The mailbox is unreachable or refused an operation."""


class StoreError(ComplaintdError):
    """The database cannot be used as configured."""


class DatabaseMissing(StoreError):
    """A SQLite file that is not there: complaintd never ran (or migrated) on this config."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"no database at {path}: `complaintd run` or `complaintd migrate` creates it")
