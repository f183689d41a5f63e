"""Where complaints arrive: `open_source` picks the MailSource adapter for `[inbound]`
(STYLE habits 4 and 6).

    maildir:PATH        MaildirSource (daemon/maildir.py): a local Maildir, the embedded default
    imap:// imaps://    ImapSource (daemon/imap.py): an IMAP folder, read by UID and BODY.PEEK[]

Both follow the same contract (tests/integration/test_sources.py; the port is
daemon/ports.py's MailSource):

* `fetch_new()` yields every message in the inbox folder, oldest first, as the exact bytes the
  mailbox holds, and changes nothing: no \\Seen flag, no rename from new/ to cur/. Each comes
  with the time it reached the mailbox (`Fetched.arrived_at`, aware UTC): IMAP INTERNALDATE,
  or a Maildir file's delivery time.
* `move_to_processed()` / `move_to_quarantine()` are the only writes. A move is atomic (a
  rename, or IMAP MOVE), creates its folder if missing, and is a no-op for a message that is
  already gone, so repeating a move after a crash is harmless.
* `wait(timeout)` returns as soon as new mail may have arrived, or after `timeout` seconds.
"""

from __future__ import annotations

from daemon.config import InboundSettings
from daemon.imap import ImapSource
from daemon.maildir import MaildirSource
from daemon.ports import MailSource


def open_source(settings: InboundSettings) -> MailSource:
    """The MailSource for `[inbound]`; no network I/O happens here."""
    scheme = settings.url.scheme
    if scheme == "maildir":
        return MaildirSource(
            settings.url.path,
            processed_folder=settings.processed_folder,
            quarantine_folder=settings.quarantine_folder,
        )
    if scheme in ("imap", "imaps"):
        return ImapSource(settings)
    raise ValueError(f"[inbound] url: unsupported scheme {scheme!r}")
