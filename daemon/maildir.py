"""A local Maildir as the complaints inbox (the embedded default: works with no server).

    MaildirSource     the MailSource port over a Maildir: new/ and cur/ are the inbox,
                      Processed and Quarantine Maildir++ subfolders beside it
    ensure_maildir    creates a Maildir (also for daemon/mailer.py's MaildirMailer)

A message arrived when its file name says it was delivered ("<seconds>.<unique>.<host>"),
else at its file's mtime. The contract it shares with the IMAP adapter is in daemon/sources.py.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from daemon.ports import Fetched, SourceKey

log = logging.getLogger(__name__)

_POLL_STEP = 0.25  # seconds between looks at new/ and cur/ while waiting


def ensure_maildir(path: str, *, subfolder: bool = False) -> str:
    """Create a Maildir (new/, cur/, tmp/) at `path` if missing; return `path`.

    A Maildir++ subfolder also gets the empty `maildirfolder` marker file.
    """
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), mode=0o700, exist_ok=True)
    if subfolder:
        marker = os.path.join(path, "maildirfolder")
        if not os.path.exists(marker):
            with open(marker, "ab"):
                pass
    return path


def _maildir_folder_dir(root: str, folder: str) -> str:
    """The directory of a Maildir++ subfolder: "Processed" → ROOT/.Processed,
    "Archive/Processed" → ROOT/.Archive.Processed."""
    name = folder.strip("./").replace("/", ".")
    if not name:
        raise ValueError(f"invalid Maildir folder name {folder!r}")
    return os.path.join(root, "." + name)


# A Maildir file name as delivery agents write it: "<seconds>.<unique>.<host>[:2,flags]", the
# seconds being the delivery time. 9-10 digits (1973-2286): a name that merely starts with a
# number ("1.eml", a nanosecond count) is not a delivery time.
_MAILDIR_NAME = re.compile(r"(?P<seconds>\d{9,10})\.[^.]+\.")


@dataclass(frozen=True)
class _Entry:
    key: str  # the unique part of the file name, before ":"
    path: str
    mtime_ns: int
    arrived_at: datetime  # aware UTC


def _maildir_arrival(name: str, mtime_ns: int) -> datetime:
    """When a Maildir message was delivered: the time its name starts with, which survives
    copies and restores that reset mtime; else the file's mtime (a file dropped in by hand)."""
    match = _MAILDIR_NAME.match(name)
    if match is not None:
        return datetime.fromtimestamp(int(match["seconds"]), UTC)
    seconds, ns = divmod(mtime_ns, 10**9)  # exact to the microsecond, unlike a float
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=ns // 1000)


class MaildirSource:
    """The inbox is the Maildir at `path` (messages in new/ and cur/); Processed and
    Quarantine are Maildir++ subfolders beside it. Everything is created if missing."""

    def __init__(
        self,
        path: str,
        *,
        processed_folder: str = "Processed",
        quarantine_folder: str = "Quarantine",
    ) -> None:
        self.root = os.path.abspath(path)
        self.name = f"maildir:{self.root}"
        ensure_maildir(self.root)
        self._folders = {
            "processed": ensure_maildir(_maildir_folder_dir(self.root, processed_folder), subfolder=True),
            "quarantine": ensure_maildir(_maildir_folder_dir(self.root, quarantine_folder), subfolder=True),
        }
        self._known: dict[str, str] = {}  # key → path as of the last fetch_new (wait, moves)

    def fetch_new(self) -> Iterator[Fetched]:
        entries = self._scan()
        self._known = {entry.key: entry.path for entry in entries}
        for entry in entries:
            raw = self._read(entry)
            if raw is None:
                log.debug("maildir=%s key=%s vanished while reading", self.root, entry.key)
                continue
            yield Fetched(SourceKey(self.name, 0, entry.key), raw, arrived_at=entry.arrived_at)

    def move_to_processed(self, keys: Sequence[SourceKey]) -> None:
        for key in keys:
            self._move(key, "processed")

    def move_to_quarantine(self, keys: Sequence[SourceKey]) -> None:
        for key in keys:
            self._move(key, "quarantine")

    def wait(self, timeout: float) -> bool:
        """Poll new/ and cur/: return True as soon as a message we have not yielded appears."""
        deadline = time.monotonic() + timeout
        stamp = self._dir_stamp()
        if self._has_unknown():
            return True
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(_POLL_STEP, remaining))
            current = self._dir_stamp()
            if current != stamp:
                stamp = current
                if self._has_unknown():
                    return True
        return False

    def close(self) -> None:
        pass

    # -- internals ----------------------------------------------------------------------

    def _scan(self) -> list[_Entry]:
        """Every message in new/ and cur/, oldest first (delivery time, mtime, key)."""
        entries = []
        for sub in ("new", "cur"):
            with os.scandir(os.path.join(self.root, sub)) as it:
                for item in it:
                    if item.name.startswith("."):
                        continue
                    try:
                        stat = item.stat()
                    except FileNotFoundError:
                        continue  # moved away while we looked
                    key = item.name.split(":", 1)[0]
                    arrived_at = _maildir_arrival(key, stat.st_mtime_ns)
                    entries.append(_Entry(key, item.path, stat.st_mtime_ns, arrived_at))
        # The name's time has whole seconds: mtime orders mail delivered within one second.
        entries.sort(key=lambda e: (e.arrived_at, e.mtime_ns, e.key))
        return entries

    def _read(self, entry: _Entry) -> bytes | None:
        try:
            with open(entry.path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            # A mail client may have renamed it new/ → cur/ or changed its flags meanwhile.
            path = self._locate(entry.key)
            if path is None:
                return None
            with open(path, "rb") as f:
                return f.read()

    def _locate(self, key: str) -> str | None:
        """The current path of the inbox message `key`, or None if it is gone."""
        known = self._known.get(key)
        if known is not None and os.path.exists(known):
            return known
        for sub in ("new", "cur"):
            folder = os.path.join(self.root, sub)
            exact = os.path.join(folder, key)
            if os.path.exists(exact):
                return exact
            with os.scandir(folder) as it:
                for item in it:
                    if item.name.startswith(key + ":"):
                        return item.path
        return None

    def _move(self, key: SourceKey, folder: str) -> None:
        if key.mailbox != self.name:
            raise ValueError(f"{key} does not belong to {self.name}")
        src = self._locate(key.uid)
        if src is None:
            log.info("maildir=%s key=%s already gone; nothing to move", self.root, key.uid)
            return
        filename = os.path.basename(src)
        if ":" not in filename:
            filename += ":2,"  # a message in cur/ carries an info part (Maildir convention)
        dst = os.path.join(self._folders[folder], "cur", filename)
        try:
            os.rename(src, dst)  # atomic on one filesystem: the message is never lost or doubled
        except FileNotFoundError:
            log.info("maildir=%s key=%s vanished before the move", self.root, key.uid)
            return
        log.info("maildir=%s key=%s moved to %s", self.root, key.uid, os.path.dirname(os.path.dirname(dst)))

    def _dir_stamp(self) -> tuple[int, int]:
        """Changes whenever a file enters or leaves new/ or cur/."""
        new, cur = (os.stat(os.path.join(self.root, sub)).st_mtime_ns for sub in ("new", "cur"))
        return new, cur

    def _has_unknown(self) -> bool:
        return any(entry.key not in self._known for entry in self._scan())

