"""`complaintd ingest FILE.eml…`: files on disk as a MailSource, for manual intake.

A file's place is its absolute path and the digest of its bytes, so ingesting the same file
again finds it recorded; moving is a no-op (the operator's files stay where they are).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator, Sequence

from daemon.ports import Fetched, SourceKey


class FileSource:
    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = [p.resolve() for p in paths]
        self.name = "file:"

    def fetch_new(self) -> Iterator[Fetched]:
        for path in self.paths:
            raw = path.read_bytes()
            key = SourceKey(f"file:{path}", 0, hashlib.sha256(raw).hexdigest())
            # Arrival is "now": a file's mtime says when it was saved or checked out, not
            # when the complaint reached anyone; the original's own send time still counts.
            yield Fetched(key, raw)

    def move_to_processed(self, keys: Sequence[SourceKey]) -> None:
        """The operator's file stays where it is."""

    def move_to_quarantine(self, keys: Sequence[SourceKey]) -> None:
        """The operator's file stays where it is; the outcome says it was quarantined."""

    def wait(self, timeout: float) -> bool:
        """Files do not arrive by themselves."""
        return False

    def close(self) -> None:
        """Nothing to close."""
