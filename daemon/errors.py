"""The daemon's exceptions.

    ComplaintdError
    ├── ConfigError            the config file is missing or invalid (carries every problem)
    ├── SourceError            the inbound mailbox cannot be reached or used
    ├── ServerUnavailable      the outbound mail server cannot be used this time: the mails wait,
    │   │                      their retries untouched (outbox.flush raises it to the app)
    │   ├── PlaintextRefused   it offers no STARTTLS and allow_plaintext is false
    │   └── LoginFailed        our XOAUTH2 login failed: no token, not offered, or refused
    ├── MessageFailed          handling one inbound message raised (intake quarantines it alone)
    ├── StoreError             the database refuses (e.g. a second process on SQLite)
    │   └── DatabaseMissing    the SQLite file is not there (never run or migrated)
    └── TokenError             (daemon/tokens.py) no OAuth2 access token could be had

PlaintextRefused and LoginFailed stay inside SmtpMailer, which turns them into UNAVAILABLE
send results. Parsing never raises: a message that cannot be understood is a value
(Kind.UNUSABLE).
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


class ServerUnavailable(ComplaintdError):
    """The mail server could not be reached this time; the mails wait, their retries untouched."""


class PlaintextRefused(ServerUnavailable):
    """The server offers no STARTTLS and allow_plaintext is false."""


class LoginFailed(ServerUnavailable):
    """XOAUTH2 could not log in (no token, not offered, token refused): a connection failure."""


class MessageFailed(ComplaintdError):
    """Handling one message raised; `error` says how, for the quarantine record."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class StoreError(ComplaintdError):
    """The database cannot be used as configured."""


class DatabaseMissing(StoreError):
    """A SQLite file that is not there: complaintd never ran (or migrated) on this config."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"no database at {path}: `complaintd run` or `complaintd migrate` creates it")
