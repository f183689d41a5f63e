"""`complaintd ingest FILE.eml…`: files on disk as a MailSource, for manual intake.

A file's place is its absolute path and the digest of its bytes, so ingesting the same file
again finds it recorded; moving is a no-op (the operator's files stay where they are). Its
arrival is its modification time (SPEC §3).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from daemon.ports import Fetched, SourceKey


class FileSource:
    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = [p.resolve() for p in paths]
        self.name = "file:"

    def fetch_new(self) -> Iterator[Fetched]:
        for path in self.paths:
            raw = path.read_bytes()
            key = SourceKey(f"file:{path}", 0, hashlib.sha256(raw).hexdigest())
            # The mail client saved the file when the mail was there to save: a complaint
            # ingested hours later has waited those hours, and its clocks say so. (A file
            # copied without its times looks newer; a forwarded original's send time still
            # counts.)
            yield Fetched(key, raw, arrived_at=_modified(path))

    def move_to_processed(self, keys: Sequence[SourceKey]) -> None:
        """The operator's file stays where it is."""

    def move_to_quarantine(self, keys: Sequence[SourceKey]) -> None:
        """The operator's file stays where it is; the outcome says it was quarantined."""

    def wait(self, timeout: float) -> bool:
        """Files do not arrive by themselves."""
        return False

    def close(self) -> None:
        """Nothing to close."""


def _modified(path: Path) -> datetime:
    """The file's mtime to the microsecond (a float of seconds would round it)."""
    seconds, ns = divmod(path.stat().st_mtime_ns, 10**9)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=ns // 1000)
