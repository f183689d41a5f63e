"""An IMAP folder as the complaints inbox: ImapSource, the MailSource port over imapclient.

Messages are read by UID with BODY.PEEK[] (no \\Seen flag), in batches bounded by count and
size, with INTERNALDATE as their arrival; moves are one UID MOVE per batch (COPY, \\Deleted
and UID EXPUNGE of only those UIDs without the MOVE extension). The contract it shares with
the Maildir adapter is in daemon/sources.py.

An ImapSource connects lazily, on its first operation. A network or server failure raises
SourceError and drops the connection; the next operation connects anew.
"""

from __future__ import annotations

import contextlib
import imaplib
import io
import logging
import ssl
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from urllib.parse import quote

from imapclient import IMAPClient

from daemon.config import InboundSettings
from daemon.errors import SourceError
from daemon.ports import Fetched, SourceKey
from daemon.tokens import TokenError

log = logging.getLogger(__name__)

_FETCH_MAX_MESSAGES = 100  # UIDs per UID FETCH BODY.PEEK[]
_FETCH_MAX_BYTES = 8 * 1024 * 1024  # per FETCH: bounds memory; a larger message comes alone
_FETCH_PIECE = 1024 * 1024  # bytes per partial FETCH of a message larger than that
_SIZE_CHUNK = 500  # UIDs per UID FETCH RFC822.SIZE
_IDLE_MAX = 20 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes; we return before that
_TIMEOUT = 60.0  # seconds for connect and for each socket read

_TRACE = logging.getLogger("imapclient.imaplib")  # imaplib's protocol trace, whole messages included

_NETWORK_ERRORS = (imaplib.IMAP4.error, OSError)  # imapclient's errors derive from IMAP4.error


class ImapSource:
    """An IMAP folder as the complaints inbox (imapclient, use_uid=True). It logs in with the
    password, or with auth = "xoauth2" by AUTHENTICATE XOAUTH2 with a token asked for anew at
    each connect (daemon/tokens.py)."""

    def __init__(self, settings: InboundSettings) -> None:
        url = settings.url
        if url.scheme not in ("imap", "imaps"):
            raise ValueError(f"ImapSource needs an imap:// or imaps:// url, not {url.scheme!r}")
        self._settings = settings
        self._tls = url.scheme == "imaps"
        self._host = url.host
        self._port = url.port
        self._folder = url.folder or "INBOX"
        user = quote(url.username, safe="") + "@" if url.username else ""
        self.name = f"{url.scheme}://{user}{self._host}:{self._port}/{self._folder}"
        self._client: IMAPClient | None = None
        self._uidvalidity: int | None = None  # of the inbox folder as last selected
        self._last_uid = 0  # the highest UID yielded by fetch_new, for wait()

    # -- the port --------------------------------------------------------------------------

    def fetch_new(self) -> Iterator[Fetched]:
        with self._guard("list the inbox"):
            client = self._select()
            uids = sorted(client.search(["UNDELETED"]))
            batches, sizes = self._plan_batches(client, uids)
            uidvalidity = self._uidvalidity
        assert uidvalidity is not None
        for batch in batches:
            with self._guard("fetch messages"):
                # Between batches the caller may have moved messages: they are simply absent.
                client = self._selected()
                if self._uidvalidity != uidvalidity:
                    return  # reconnected to a recreated folder: the next pass starts afresh
                if len(batch) == 1 and sizes[batch[0]] > _FETCH_MAX_BYTES:
                    found = {batch[0]: self._fetch_in_pieces(client, batch[0], sizes[batch[0]])}
                else:
                    # INTERNALDATE in the same FETCH: the arrival of exactly the bytes we got.
                    found = {uid: (data.get(b"BODY[]"), _arrival(data))
                             for uid, data in client.fetch(batch, ["BODY.PEEK[]", "INTERNALDATE"]).items()}
            for uid in batch:
                raw, arrived_at = found.get(uid) or (None, None)
                if raw is None:
                    continue
                self._last_uid = max(self._last_uid, uid)
                yield Fetched(SourceKey(self.name, uidvalidity, str(uid)), raw, arrived_at=arrived_at)

    def move_to_processed(self, keys: Sequence[SourceKey]) -> None:
        self._move(keys, self._settings.processed_folder)

    def move_to_quarantine(self, keys: Sequence[SourceKey]) -> None:
        self._move(keys, self._settings.quarantine_folder)

    def wait(self, timeout: float) -> bool:
        """True when mail arrived (IDLE said so); False after the timeout. Without IDLE this
        only sleeps: the daemon then polls on its poll_interval."""
        with self._guard("wait for new mail"):
            client = self._select()
            if self._unseen_uids(client):
                return True
            if not client.has_capability("IDLE"):
                self._sleep(timeout)
                return False
            return self._idle(client, min(timeout, _IDLE_MAX))

    def close(self) -> None:
        """Log out quietly; the next operation would connect again."""
        client, self._client = self._client, None
        self._uidvalidity = None
        if client is None:
            return
        try:
            client.logout()
        except _NETWORK_ERRORS as exc:  # the connection may already be dead
            log.debug("mailbox=%s logout failed (%s); closing the socket", self.name, exc)
            with contextlib.suppress(*_NETWORK_ERRORS):
                client.shutdown()

    def connect(self) -> None:
        """Connect, secure, log in and create the folders now (e.g. for `complaintd check`)."""
        with self._guard("connect"):
            self._connected()

    # -- connection ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn any network or server failure into SourceError and drop the connection."""
        try:
            yield
        except SourceError:
            self._drop()
            raise
        except _NETWORK_ERRORS as exc:
            self._drop()
            raise SourceError(f"{self.name}: cannot {action}: {exc}") from exc

    def _drop(self) -> None:
        client, self._client = self._client, None
        self._uidvalidity = None
        if client is not None:
            with contextlib.suppress(*_NETWORK_ERRORS):
                client.shutdown()

    def _connected(self) -> IMAPClient:
        if self._client is None:
            self._client = self._open()
        return self._client

    def _open(self) -> IMAPClient:
        context = ssl.create_default_context()
        token = self._access_token()  # before connecting: a slow token_command holds no socket
        log.debug("mailbox=%s connecting", self.name)
        client = IMAPClient(
            self._host, port=self._port, use_uid=True, ssl=self._tls, ssl_context=context, timeout=_TIMEOUT
        )
        # By default imapclient turns INTERNALDATE into a naive local time, by the offset this
        # machine has today (wrong across a DST change); keep the server's own offset instead.
        client.normalise_times = False
        # imapclient turns imaplib's protocol trace on (debug 5) for its "imapclient.imaplib"
        # logger, and imaplib formats every trace line before the logger can drop it: a repr
        # of each fetched message, and of the whole batch again, about half a fetch's CPU.
        if not _TRACE.isEnabledFor(logging.DEBUG):
            client._imap.debug = 0
        try:
            self._secure(client, context)
            settings = self._settings
            if settings.url.username and token is not None:
                client.oauth2_login(settings.url.username, token)  # AUTHENTICATE XOAUTH2
            elif settings.url.username:
                client.login(settings.url.username, settings.password or "")
            for folder in (settings.processed_folder, settings.quarantine_folder):
                self._ensure_folder(client, folder)
        except BaseException:
            with contextlib.suppress(*_NETWORK_ERRORS):
                client.shutdown()
            raise
        log.info("mailbox=%s connected", self.name)
        return client

    def _access_token(self) -> str | None:
        """With auth = "xoauth2", a fresh access token for this login; otherwise None.
        A token that cannot be had is a connection failure, so the usual backoff applies."""
        settings = self._settings
        if settings.auth != "xoauth2" or not settings.url.username:
            return None
        if settings.token is None:
            raise SourceError(f"{self.name}: auth = \"xoauth2\" but no token_env or token_command")
        try:
            return settings.token.token()
        except TokenError as exc:
            log.error("mailbox=%s cannot get the XOAUTH2 access token from %s: %s",
                      self.name, settings.token.describe(), exc)
            raise SourceError(f"{self.name}: cannot get the XOAUTH2 access token: {exc}") from exc

    def _secure(self, client: IMAPClient, context: ssl.SSLContext) -> None:
        if self._tls:
            return
        if client.has_capability("STARTTLS"):
            client.starttls(context)
            return
        if not self._settings.allow_plaintext:
            raise SourceError(
                f"{self.name}: the server does not offer STARTTLS, so the connection would be "
                "plaintext; use imaps://, or set allow_plaintext = true in [inbound] if this "
                "network is trusted (e.g. loopback)"
            )
        log.warning("mailbox=%s no STARTTLS offered; continuing in plaintext (allow_plaintext)", self.name)

    def _ensure_folder(self, client: IMAPClient, folder: str) -> None:
        if client.folder_exists(folder):
            return
        try:
            client.create_folder(folder)
        except imaplib.IMAP4.error:
            if not client.folder_exists(folder):  # another replica may have just created it
                raise
        with contextlib.suppress(imaplib.IMAP4.error):
            client.subscribe_folder(folder)  # so that mail clients show it
        log.info("mailbox=%s created folder %s", self.name, folder)

    def _select(self) -> IMAPClient:
        """Select the inbox (afresh, to see new mail and its current UIDVALIDITY)."""
        client = self._connected()
        info = client.select_folder(self._folder)
        uidvalidity = int(info[b"UIDVALIDITY"])
        if self._uidvalidity is not None and uidvalidity != self._uidvalidity:
            log.warning(
                "mailbox=%s UIDVALIDITY changed %s → %s; UIDs restart", self.name, self._uidvalidity, uidvalidity
            )
            self._last_uid = 0
        self._uidvalidity = uidvalidity
        return client

    def _selected(self) -> IMAPClient:
        """The inbox, selected: as it is, or anew after a reconnect."""
        if self._client is not None and self._uidvalidity is not None:
            return self._client
        return self._select()

    # -- fetching --------------------------------------------------------------------------

    def _fetch_in_pieces(
        self, client: IMAPClient, uid: int, size: int
    ) -> tuple[bytes | None, datetime | None]:
        """A large message in partial FETCHes, and its arrival (with the first piece): imaplib
        holds about three copies of whatever one response carries, so a 28 MB mail fetched
        whole costs some 90 MB at its peak. The pieces go into one growing buffer whose
        getvalue() hands that buffer over (CPython), not into a list joined at the end, which
        held the mail twice."""
        pieces = io.BytesIO()
        arrived_at = None
        for start in range(0, size, _FETCH_PIECE):
            items = [f"BODY.PEEK[]<{start}.{_FETCH_PIECE}>"] + (["INTERNALDATE"] if start == 0 else [])
            data = client.fetch([uid], items).get(uid)
            if data is None:
                return None, None  # moved or expunged meanwhile
            if start == 0:
                arrived_at = _arrival(data)
            piece = data.get(f"BODY[]<{start}>".encode())
            if not piece:
                break
            pieces.write(piece)
        return pieces.getvalue(), arrived_at

    def _plan_batches(self, client: IMAPClient, uids: Sequence[int]) -> tuple[list[list[int]], dict[int, int]]:
        """Group UIDs (in order) into FETCHes of at most 100 messages and 8 MiB; with sizes."""
        sizes: dict[int, int] = {}
        for start in range(0, len(uids), _SIZE_CHUNK):
            chunk = uids[start : start + _SIZE_CHUNK]
            for uid, data in client.fetch(chunk, ["RFC822.SIZE"]).items():
                sizes[uid] = int(data.get(b"RFC822.SIZE", 0))
        batches: list[list[int]] = []
        batch: list[int] = []
        batch_bytes = 0
        for uid in uids:
            if uid not in sizes:
                continue  # expunged since the SEARCH
            size = sizes[uid]
            if batch and (len(batch) >= _FETCH_MAX_MESSAGES or batch_bytes + size > _FETCH_MAX_BYTES):
                batches.append(batch)
                batch, batch_bytes = [], 0
            batch.append(uid)
            batch_bytes += size
        if batch:
            batches.append(batch)
        return batches, sizes

    # -- moving ----------------------------------------------------------------------------

    def _move(self, keys: Sequence[SourceKey], folder: str) -> None:
        """One SEARCH and one MOVE for the whole batch: a round trip per message would cost
        more than everything else intake does."""
        if not keys:
            return
        for key in keys:
            if key.mailbox != self.name:
                raise ValueError(f"{key} does not belong to {self.name}")
        with self._guard(f"move {len(keys)} message(s) to {folder}"):
            client = self._selected()
            current = [int(k.uid) for k in keys if k.uidvalidity == self._uidvalidity]
            if len(current) < len(keys):
                # A UID under another UIDVALIDITY may now name a different message: never move it.
                log.warning("mailbox=%s %d message(s) not moved: UIDVALIDITY is now %s",
                            self.name, len(keys) - len(current), self._uidvalidity)
            present = sorted(client.search(["UID", _uid_set(current)])) if current else []
            if len(present) < len(current):
                log.info("mailbox=%s %d message(s) already gone; nothing to move",
                         self.name, len(current) - len(present))
            if not present:
                return
            if client.has_capability("MOVE"):
                client.move(present, folder)
            else:
                self._copy_delete(client, present, folder)
        log.info("mailbox=%s uids=%s moved to %s", self.name, _uid_set(present), folder)

    def _copy_delete(self, client: IMAPClient, uids: list[int], folder: str) -> None:
        """MOVE without the MOVE extension: COPY, flag \\Deleted, UID EXPUNGE only those UIDs."""
        client.copy(uids, folder)
        client.add_flags(uids, [b"\\Deleted"], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            # A plain EXPUNGE would also remove what others flagged \Deleted: leave it flagged;
            # fetch_new skips \Deleted messages.
            log.warning("mailbox=%s uids=%s flagged \\Deleted but not expunged (no UIDPLUS)",
                        self.name, _uid_set(uids))

    # -- waiting ---------------------------------------------------------------------------

    def _unseen_uids(self, client: IMAPClient) -> list[int]:
        """UIDs above the last one yielded (`N:*` always matches the last message, so filter)."""
        found = client.search(["UID", f"{self._last_uid + 1}:*", "UNDELETED"])
        return [uid for uid in found if uid > self._last_uid]

    def _idle(self, client: IMAPClient, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        client.idle()
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                responses = client.idle_check(timeout=remaining)
                # Only "* OK Still here" keepalives mean nothing happened; an empty list means
                # the time is up or the connection closed (idle_done then reports it).
                if any(not _is_keepalive(r) for r in responses):
                    return True
                if not responses:
                    break
        finally:
            client.idle_done()
        return False

    @staticmethod
    def _sleep(timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(1.0, remaining))


def _uid_set(uids: Sequence[int]) -> str:
    """[3, 4, 5, 9] → "3:5,9": an IMAP sequence set that stays short for long runs."""
    ranges: list[str] = []
    for uid in sorted(set(uids)):
        if ranges and ranges[-1].rpartition(":")[2] == str(uid - 1):
            ranges[-1] = ranges[-1].partition(":")[0] + f":{uid}"
        else:
            ranges.append(str(uid))
    return ",".join(ranges)


def _arrival(data: dict) -> datetime | None:
    """A FETCH response's INTERNALDATE as aware UTC. None when the server sent none or one
    without a zone (RFC 3501 requires it): guessing a zone could shift every clock by hours."""
    internaldate = data.get(b"INTERNALDATE")
    if not isinstance(internaldate, datetime) or internaldate.utcoffset() is None:
        if internaldate is not None:
            log.warning("INTERNALDATE %r has no time zone; arrival unknown", internaldate)
        return None
    return internaldate.astimezone(UTC)


def _is_keepalive(response: tuple) -> bool:
    return bool(response) and response[0] == b"OK"
