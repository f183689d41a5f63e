"""MailSource contract, run against MaildirSource and against ImapSource on a real Dovecot."""

from __future__ import annotations

import base64
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

import pytest
from imapclient import IMAPClient

from daemon.config import InboundSettings, MailURL
from daemon.errors import SourceError
from daemon.imap import ImapSource
from daemon.maildir import MaildirSource
from daemon.ports import Fetched, MailSource
from daemon.sources import open_source
from tests.support.dovecot import Dovecot
from tests.support.tls import TlsFiles

pytestmark = pytest.mark.integration


# -- messages -------------------------------------------------------------------------------


def small_message(n: int) -> bytes:
    return (
        f"From: reader{n}@example.cn\r\nTo: complaints@example.org\r\n"
        f"Subject: complaint {n}\r\nMessage-ID: <small-{n}@example.cn>\r\n\r\nbody {n}\r\n"
    ).encode()


def gbk_message() -> bytes:
    subject = base64.b64encode("投诉：某晚报报道失实".encode("gbk")).decode()
    body = "编辑部：\r\n贵报三月五日的报道与事实不符，请更正。\r\n读者 张三\r\n".encode("gbk")
    head = (
        "From: reader@example.cn\r\nTo: complaints@example.org\r\n"
        f"Subject: =?GBK?B?{subject}?=\r\nMessage-ID: <gbk-1@example.cn>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=GBK\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode()
    return head + body


@pytest.fixture(scope="module")
def big_message() -> bytes:
    """About 20 MB: a base64 attachment of pseudo-random bytes."""
    payload = random.Random(20).randbytes(15 * 1024 * 1024)
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    head = (
        b"From: reader@example.cn\r\nTo: complaints@example.org\r\nSubject: video evidence\r\n"
        b"Message-ID: <big-1@example.cn>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n"
        b'--b1\r\nContent-Type: application/octet-stream; name="clip.mp4"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return head + encoded + b"--b1--\r\n"


@pytest.fixture(scope="module")
def three(big_message: bytes) -> list[bytes]:
    return [small_message(1), gbk_message(), big_message]


# -- one harness per adapter ---------------------------------------------------------------


class Mailbox(Protocol):
    """What the contract needs besides the source: deliver mail and look at folders."""

    def open(self) -> MailSource: ...
    def deliver(self, raw: bytes, at: datetime | None = None) -> None: ...  # at: arrival, else now
    def folder(self, name: str) -> list[bytes]: ...  # "INBOX", "Processed" or "Quarantine"
    def has_folder(self, name: str) -> bool: ...


class MaildirMailbox:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._n = 0

    def open(self) -> MaildirSource:
        return MaildirSource(str(self.root))

    def deliver(self, raw: bytes, at: datetime | None = None) -> None:
        """As a delivery agent does: name it `<seconds>.M<usec>P<pid>…` by the delivery time,
        write in tmp/, rename into new/. With `at`, it was delivered then (name and mtime)."""
        for sub in ("tmp", "new", "cur"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._n += 1
        when = at or datetime.now(UTC)
        # The zero-padded microseconds keep names of one second in delivery order.
        name = f"{int(when.timestamp())}.M{when.microsecond:06d}P{os.getpid()}Q{self._n}.test"
        (self.root / "tmp" / name).write_bytes(raw)
        if at is not None:
            os.utime(self.root / "tmp" / name, (at.timestamp(), at.timestamp()))
        os.rename(self.root / "tmp" / name, self.root / "new" / name)

    def _dir(self, name: str) -> Path:
        return self.root if name == "INBOX" else self.root / f".{name}"

    def folder(self, name: str) -> list[bytes]:
        files = [p for sub in ("new", "cur") if (self._dir(name) / sub).is_dir() for p in (self._dir(name) / sub).iterdir()]
        files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [p.read_bytes() for p in files]

    def has_folder(self, name: str) -> bool:
        return all((self._dir(name) / sub).is_dir() for sub in ("new", "cur", "tmp"))


def imap_settings(server: Dovecot, *, folder: str = "INBOX", allow_plaintext: bool = True, password: str | None = None) -> InboundSettings:
    return InboundSettings(
        url=MailURL("imap", host=server.host, port=server.port, username=server.user, folder=folder),
        password=server.password if password is None else password,
        allow_plaintext=allow_plaintext,
        processed_folder="Processed",
        quarantine_folder="Quarantine",
    )


class ImapMailbox:
    def __init__(self, server: Dovecot) -> None:
        self.server = server

    def open(self) -> ImapSource:
        return ImapSource(imap_settings(self.server))

    def deliver(self, raw: bytes, at: datetime | None = None) -> None:
        self.server.append(raw, internaldate=at)  # at: the INTERNALDATE

    def folder(self, name: str) -> list[bytes]:
        return self.server.messages(name)

    def has_folder(self, name: str) -> bool:
        return name in self.server.folders()


# -- the contract ---------------------------------------------------------------------------


def run_in_thread(delay: float, action: Callable[[], None]) -> Callable[[], None]:
    """Run `action` after `delay` seconds in a thread; the returned join() re-raises its error."""
    errors: list[BaseException] = []

    def target() -> None:
        time.sleep(delay)
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - handed to the test thread by join()
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()

    def join() -> None:
        thread.join(timeout=30)
        if errors:
            raise errors[0]

    return join


class SourceContract:
    """Every MailSource behaves like this. Subclasses provide the `mailbox` fixture."""

    @pytest.fixture
    def source(self, mailbox: Mailbox) -> Iterator[MailSource]:
        src = mailbox.open()
        yield src
        src.close()

    def test_fetch_new_yields_every_message_byte_identical_oldest_first(self, mailbox: Mailbox, source: MailSource, three: list[bytes]) -> None:
        """All messages come back exactly as delivered (GBK 8-bit and 20 MB included), in order."""
        for raw in three:
            mailbox.deliver(raw)
        fetched = list(source.fetch_new())
        assert [f.raw for f in fetched] == three
        assert all(f.key.mailbox == source.name for f in fetched)
        assert len({f.key for f in fetched}) == 3

    def test_each_message_comes_with_the_time_it_reached_the_mailbox(
            self, mailbox: Mailbox, source: MailSource, three: list[bytes]) -> None:
        """arrived_at is the mailbox's own arrival time (aware UTC), not the time of reading: mail
        that waited out a daemon outage says how long it waited. The 20 MB one (read in pieces
        from IMAP) too."""
        now = datetime.now(UTC).replace(microsecond=0)
        times = [now - timedelta(hours=3), now - timedelta(hours=2), now - timedelta(minutes=5)]
        for raw, at in zip(three, times, strict=True):
            mailbox.deliver(raw, at=at)
        fetched = list(source.fetch_new())
        assert [f.arrived_at for f in fetched] == times
        assert all(f.arrived_at is not None and f.arrived_at.tzinfo == UTC for f in fetched)

    def test_fetching_again_yields_the_same_messages_and_changes_nothing(self, mailbox: Mailbox, source: MailSource, three: list[bytes]) -> None:
        """Reading never changes the mailbox: a second fetch_new yields the same keys and bytes."""
        for raw in three:
            mailbox.deliver(raw)
        first = [(f.key, f.raw) for f in source.fetch_new()]
        second = [(f.key, f.raw) for f in source.fetch_new()]
        assert first == second
        assert mailbox.folder("INBOX") == three

    @pytest.mark.parametrize("target", ["Processed", "Quarantine"])
    def test_move_takes_the_message_out_of_the_inbox_byte_identical(self, mailbox: Mailbox, source: MailSource, three: list[bytes], target: str) -> None:
        """A moved message is gone from the inbox and present, unchanged, in its folder."""
        for raw in three:
            mailbox.deliver(raw)
        fetched = list(source.fetch_new())
        for f in fetched[1:]:
            move(source, target, f)
        assert mailbox.folder("INBOX") == three[:1]
        assert mailbox.folder(target) == three[1:]
        assert [f.raw for f in source.fetch_new()] == three[:1]

    @pytest.mark.parametrize("target", ["Processed", "Quarantine"])
    def test_moving_twice_is_a_no_op(self, mailbox: Mailbox, source: MailSource, target: str) -> None:
        """Repeating a move (e.g. after a crash) neither fails nor duplicates the message."""
        mailbox.deliver(small_message(1))
        (fetched,) = source.fetch_new()
        move(source, target, fetched)
        move(source, target, fetched)
        assert mailbox.folder(target) == [small_message(1)]
        assert mailbox.folder("INBOX") == []

    def test_moving_each_message_while_iterating_moves_them_all(self, mailbox: Mailbox, source: MailSource) -> None:
        """The app's pattern (fetch one, commit, move it, fetch the next) loses nothing."""
        messages = [small_message(n) for n in range(7)]
        for raw in messages:
            mailbox.deliver(raw)
        seen = []
        for f in source.fetch_new():
            seen.append(f.raw)
            source.move_to_processed([f.key])
        assert seen == messages
        assert mailbox.folder("Processed") == messages
        assert list(source.fetch_new()) == []

    def test_processed_and_quarantine_folders_are_created(self, mailbox: Mailbox, source: MailSource) -> None:
        """A fresh mailbox gets both folders without any manual set-up."""
        list(source.fetch_new())
        assert mailbox.has_folder("Processed")
        assert mailbox.has_folder("Quarantine")

    def test_wait_returns_promptly_when_mail_arrives(self, mailbox: Mailbox, source: MailSource) -> None:
        """A message delivered by someone else during wait() ends the wait long before its timeout."""
        list(source.fetch_new())
        join = run_in_thread(0.3, lambda: mailbox.deliver(small_message(1)))
        assert source.wait(20) is True  # woken by the arrival, not by the 20 s timeout
        join()
        assert [f.raw for f in source.fetch_new()] == [small_message(1)]

    def test_wait_returns_at_once_for_mail_not_yet_fetched(self, mailbox: Mailbox, source: MailSource) -> None:
        """Mail that arrived after the last fetch_new does not wait for the next notification."""
        list(source.fetch_new())
        mailbox.deliver(small_message(1))
        assert source.wait(20) is True

    def test_wait_lasts_the_timeout_when_nothing_arrives(self, mailbox: Mailbox, source: MailSource) -> None:
        """With no new mail, wait() returns False once `timeout` seconds have passed."""
        mailbox.deliver(small_message(1))
        list(source.fetch_new())
        started = time.monotonic()
        assert source.wait(0.6) is False
        assert time.monotonic() - started >= 0.5


def move(source: MailSource, target: str, fetched: Fetched) -> None:
    if target == "Processed":
        source.move_to_processed([fetched.key])
    else:
        source.move_to_quarantine([fetched.key])


# -- Maildir --------------------------------------------------------------------------------


class TestMaildirSource(SourceContract):
    @pytest.fixture
    def mailbox(self, tmp_path: Path) -> MaildirMailbox:
        return MaildirMailbox(tmp_path / "inbox")

    def test_a_fresh_install_creates_the_maildir(self, tmp_path: Path) -> None:
        """A missing inbox path becomes an empty Maildir with .Processed and .Quarantine."""
        root = tmp_path / "var" / "mail"
        source = MaildirSource(str(root))
        assert list(source.fetch_new()) == []
        for folder in (root, root / ".Processed", root / ".Quarantine"):
            assert all((folder / sub).is_dir() for sub in ("new", "cur", "tmp"))
        assert (root / ".Processed" / "maildirfolder").exists()
        assert source.name == f"maildir:{root}"

    def test_reading_leaves_messages_in_new(self, mailbox: MaildirMailbox, source: MailSource) -> None:
        """fetch_new does not rename new/ → cur/ (that would mark them seen)."""
        mailbox.deliver(small_message(1))
        list(source.fetch_new())
        assert len(list((mailbox.root / "new").iterdir())) == 1
        assert list((mailbox.root / "cur").iterdir()) == []

    def test_a_flagged_message_in_cur_is_fetched_and_moved_with_its_flags(self, mailbox: MaildirMailbox, source: MailSource) -> None:
        """Messages a mail client already read (cur/KEY:2,S) count too and keep their flags."""
        (mailbox.root / "cur" / "1700000000.M1P1.host:2,S").write_bytes(small_message(1))
        (fetched,) = source.fetch_new()
        assert fetched.key.uid == "1700000000.M1P1.host"
        source.move_to_processed([fetched.key])
        assert [p.name for p in (mailbox.root / ".Processed" / "cur").iterdir()] == ["1700000000.M1P1.host:2,S"]

    def test_a_message_moved_from_new_lands_in_cur_with_an_info_suffix(self, mailbox: MaildirMailbox, source: MailSource) -> None:
        """A move is one rename into the folder's cur/, as KEY:2, (Maildir convention)."""
        mailbox.deliver(small_message(1))
        (fetched,) = source.fetch_new()
        source.move_to_quarantine([fetched.key])
        assert [p.name for p in (mailbox.root / ".Quarantine" / "cur").iterdir()] == [fetched.key.uid + ":2,"]
        assert list((mailbox.root / ".Quarantine" / "new").iterdir()) == []

    @pytest.mark.parametrize("name", ["1732700000.M1P1.host:2,S", "1732700000.12345_1.host"])
    def test_the_delivery_time_in_the_file_name_is_the_arrival(
            self, mailbox: MaildirMailbox, source: MailSource, name: str) -> None:
        """A file's name carries its delivery time, which survives a copy or restore that gave
        the file a new mtime."""
        (mailbox.root / "cur" / name).write_bytes(small_message(1))
        (fetched,) = source.fetch_new()
        assert fetched.arrived_at == datetime(2024, 11, 27, 9, 33, 20, tzinfo=UTC)

    @pytest.mark.parametrize("name", ["complaint.eml", "1.eml", "1732700000123456789.M1P1.test"])
    def test_without_a_maildir_name_the_files_mtime_is_the_arrival(
            self, mailbox: MaildirMailbox, source: MailSource, name: str) -> None:
        """A file dropped in by hand, or named by a number that is no time in seconds: its mtime."""
        path = mailbox.root / "new" / name
        path.write_bytes(small_message(1))
        os.utime(path, ns=(1_764_000_000_123_456_789, 1_764_000_000_123_456_789))
        (fetched,) = source.fetch_new()
        assert fetched.arrived_at == datetime(2025, 11, 24, 16, 0, 0, 123456, tzinfo=UTC)

    def test_open_source_builds_a_maildir_source(self, tmp_path: Path) -> None:
        """`maildir:PATH` in [inbound] gives a MaildirSource with the configured folder names."""
        settings = InboundSettings(MailURL("maildir", path=str(tmp_path / "in")), None, False, "Done", "Bad")
        source = open_source(settings)
        assert isinstance(source, MaildirSource)
        assert (tmp_path / "in" / ".Done" / "cur").is_dir() and (tmp_path / "in" / ".Bad" / "cur").is_dir()


# -- IMAP on a real Dovecot ---------------------------------------------------------------------


class TestImapSource(SourceContract):
    @pytest.fixture
    def mailbox(self, imap: Dovecot) -> ImapMailbox:
        return ImapMailbox(imap)

    def test_fetching_does_not_mark_messages_seen(self, imap: Dovecot, source: MailSource, three: list[bytes]) -> None:
        """BODY.PEEK[] leaves \\Seen unset."""
        for raw in three:
            imap.append(raw)
        list(source.fetch_new())
        assert all(b"\\Seen" not in flags for flags in imap.flags("INBOX"))

    def test_keys_carry_uid_and_uidvalidity(self, imap: Dovecot, source: MailSource) -> None:
        """SourceKey is (this mailbox, the folder's UIDVALIDITY, the UID)."""
        imap.append(small_message(1))
        (fetched,) = source.fetch_new()
        with imap.client() as c:
            status = c.folder_status("INBOX", ["UIDVALIDITY", "UIDNEXT"])
        assert fetched.key.uidvalidity == status[b"UIDVALIDITY"]
        assert int(fetched.key.uid) == status[b"UIDNEXT"] - 1
        assert source.name == f"imap://complaints@127.0.0.1:{imap.port}/INBOX"

    def test_internaldate_is_the_same_instant_whatever_zone_this_machine_is_in(
            self, imap: Dovecot, source: MailSource, monkeypatch: pytest.MonkeyPatch) -> None:
        """An INTERNALDATE in +08:00, read on a machine in New York: the same instant, in UTC.
        (imapclient would make it a naive New York time by today's offset unless told not to.)"""
        sent = datetime(2026, 7, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))  # New York on DST
        imap.append(small_message(1), internaldate=sent)
        monkeypatch.setenv("TZ", "America/New_York")
        time.tzset()
        try:
            (fetched,) = source.fetch_new()
        finally:
            monkeypatch.undo()
            time.tzset()
        assert fetched.arrived_at == sent and fetched.arrived_at.tzinfo == UTC

    def test_plaintext_is_refused_without_allow_plaintext(self, imap: Dovecot) -> None:
        """A server without STARTTLS is refused, and the error names allow_plaintext."""
        source = ImapSource(imap_settings(imap, allow_plaintext=False))
        with pytest.raises(SourceError, match="allow_plaintext"):
            list(source.fetch_new())
        source.close()

    def test_a_wrong_password_raises_source_error(self, imap: Dovecot) -> None:
        """Authentication failure is a SourceError, not an imapclient exception."""
        source = ImapSource(imap_settings(imap, password="wrong"))
        with pytest.raises(SourceError):
            list(source.fetch_new())
        source.close()
        imap.restart()  # Dovecot delays further logins from this IP for seconds; a restart forgets

    def test_a_dropped_connection_raises_then_the_next_call_reconnects(self, imap: Dovecot, source: MailSource) -> None:
        """After the server restarts, one SourceError, then the source works again."""
        imap.append(small_message(1))
        assert len(list(source.fetch_new())) == 1
        imap.restart()
        with pytest.raises(SourceError):
            list(source.fetch_new())
        assert [f.raw for f in source.fetch_new()] == [small_message(1)]

    def test_a_connection_dropped_while_waiting_raises_promptly(self, imap: Dovecot, source: MailSource) -> None:
        """A server restart during IDLE ends wait() with SourceError, not at its timeout."""
        list(source.fetch_new())
        join = run_in_thread(0.3, imap.restart)
        started = time.monotonic()
        with pytest.raises(SourceError):
            source.wait(20)
        elapsed = time.monotonic() - started
        join()
        assert elapsed < 10
        assert list(source.fetch_new()) == []

    def test_without_move_only_that_uid_is_expunged(self, imap: Dovecot, source: ImapSource, monkeypatch: pytest.MonkeyPatch) -> None:
        """COPY + \\Deleted + UID EXPUNGE: a message someone else flagged \\Deleted survives."""
        imap.append(small_message(1))
        imap.append(small_message(2), flags=[b"\\Deleted"])
        (fetched,) = source.fetch_new()  # the \Deleted one is not offered
        real = IMAPClient.has_capability
        monkeypatch.setattr(IMAPClient, "has_capability", lambda self, cap: cap.upper() != "MOVE" and real(self, cap))
        source.move_to_processed([fetched.key])
        source.move_to_processed([fetched.key])
        assert imap.messages("Processed") == [small_message(1)]
        assert imap.messages("INBOX") == [small_message(2)]

    def test_a_key_from_an_older_uidvalidity_is_not_moved(self, imap: Dovecot) -> None:
        """When the folder is recreated, an old key must not move whichever message took its UID."""
        imap.append(small_message(1), folder="Intake")
        source = ImapSource(imap_settings(imap, folder="Intake"))
        (old,) = source.fetch_new()
        source.close()
        with imap.client() as c:
            c.delete_folder("Intake")
        time.sleep(1.1)  # Dovecot derives UIDVALIDITY from the clock (seconds)
        imap.append(small_message(2), folder="Intake")
        source = ImapSource(imap_settings(imap, folder="Intake"))
        (new,) = source.fetch_new()
        assert new.key.uid == old.key.uid and new.key.uidvalidity != old.key.uidvalidity
        source.move_to_processed([old.key])
        assert imap.messages("Intake") == [small_message(2)]
        assert imap.messages("Processed") == []
        source.close()

    def test_two_thousand_messages_come_in_batches(self, imap: Dovecot, source: MailSource, monkeypatch: pytest.MonkeyPatch) -> None:
        """2000 messages are all yielded, in order, by FETCHes of at most 100 messages."""
        messages = [small_message(n) for n in range(2000)]
        with imap.client() as c:
            c.multiappend("INBOX", messages)
        sizes: list[int] = []
        real = IMAPClient.fetch

        def spy(self: IMAPClient, uids: list[int], data: list[str], modifiers: object = None) -> dict:
            if "BODY.PEEK[]" in data:
                sizes.append(len(uids))
            return real(self, uids, data, modifiers)

        monkeypatch.setattr(IMAPClient, "fetch", spy)
        assert [f.raw for f in source.fetch_new()] == messages
        assert len(sizes) == 20 and max(sizes) == 100

    def test_open_source_builds_an_imap_source_without_connecting(self) -> None:
        """`imaps://` in [inbound] gives an ImapSource; no network I/O until it is used."""
        url = MailURL("imaps", host="mail.invalid", username="complaints@corp.example.com")
        source = open_source(InboundSettings(url, "pw", False, "Processed", "Quarantine"))
        assert isinstance(source, ImapSource)
        assert source.name == "imaps://complaints%40corp.example.com@mail.invalid:993/INBOX"


# -- IMAP over TLS ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_dovecot(tls_files: TlsFiles) -> Iterator[Dovecot]:
    """A second Dovecot with TLS: STARTTLS on .port, imaps on .tls_port."""
    with Dovecot(tls=tls_files) as server:
        yield server


def tls_settings(server: Dovecot, scheme: str) -> InboundSettings:
    port = server.tls_port if scheme == "imaps" else server.port
    url = MailURL(scheme, host=server.host, port=port, username=server.user)
    return InboundSettings(url, server.password, False, "Processed", "Quarantine")


class TestImapTls:
    @pytest.mark.parametrize("scheme", ["imaps", "imap"])
    def test_tls_with_a_trusted_certificate_works_without_allow_plaintext(self, tls_dovecot: Dovecot, trust_test_ca: TlsFiles, scheme: str) -> None:
        """imaps:// (implicit TLS) and imap:// (STARTTLS, as offered) both verify and connect."""
        tls_dovecot.append(small_message(1))
        source = ImapSource(tls_settings(tls_dovecot, scheme))
        try:
            assert small_message(1) in [f.raw for f in source.fetch_new()]
            assert isinstance(source._client.socket(), ssl.SSLSocket)  # type: ignore[union-attr]
        finally:
            source.close()

    @pytest.mark.parametrize("scheme", ["imaps", "imap"])
    def test_an_untrusted_certificate_is_refused(self, tls_dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch, scheme: str) -> None:
        """Certificates are verified: a server certificate from an unknown CA is a SourceError."""
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        source = ImapSource(tls_settings(tls_dovecot, scheme))
        with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
            list(source.fetch_new())
        source.close()
