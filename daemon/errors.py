"""The daemon's exceptions.

    ComplaintdError
    ├── ConfigError        the config file is missing or invalid (carries every problem)
    ├── SourceError        the inbound mailbox cannot be reached or used
    └── StoreError         the database refuses (e.g. a second process on SQLite)

Parsing never raises: a message that cannot be understood is a value (Kind.UNUSABLE).
"""

from __future__ import annotations


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
