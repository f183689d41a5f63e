"""How case mail leaves: the Mailer port's two adapters (STYLE habits 6, 7 and 8).

    MaildirMailer   writes each message into a local Maildir (the embedded default)
    SmtpMailer      sends over SMTP with aiosmtplib: the only async code in the daemon

`send(mails, on_results)` never raises for a server problem; it returns one SendResult per
mail, in order, and hands each to `on_results` as soon as it is known, before the next mail
of that connection (OutgoingMail.connection: SmtpMailer runs the connections at once, the
Maildir writes one file after another):

* SENT: at least one recipient accepted it. `refused` lists recipients answered 5xx at RCPT.
* PERMANENT: the server answered 5xx (every recipient refused, sender refused, or data refused).
* TEMPORARY: the server deferred this mail with a 4xx. When any recipient gets a 4xx the mail
  is not sent to anyone (RSET), so the retry reaches everyone once, with no duplicate for
  those who accepted.
* UNAVAILABLE: nothing is wrong with the mail: the server could not be reached, dropped the
  connection, timed out, answered 421, refused our login, or offers no STARTTLS while
  allow_plaintext is false (that one also logs an error naming `allow_plaintext`). The outbox
  waits for the server rather than counting this against the mail, so an outage of any length
  delivers everything late but once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor

import aiosmtplib

from daemon.config import OutboundSettings
from daemon.errors import LoginFailed, PlaintextRefused
from daemon.maildir import ensure_maildir
from daemon.ports import Mailer, OnResults, OutgoingMail, SendOutcome, SendResult
from daemon.tokens import TokenError

log = logging.getLogger(__name__)

_TIMEOUT = 30.0  # seconds: connect, and each command's reply
_CONNECTION_ERRORS = (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError)


def open_mailer(settings: OutboundSettings) -> Mailer:
    """The Mailer for `[outbound]`; no network I/O happens here."""
    scheme = settings.url.scheme
    if scheme == "maildir":
        return MaildirMailer(settings.url.path)
    if scheme in ("smtp", "smtps"):
        return SmtpMailer(settings)
    raise ValueError(f"[outbound] url: unsupported scheme {scheme!r}")


# --------------------------------------------------------------------------------------------
# Maildir


class MaildirMailer:
    """Delivers into the Maildir at `path` (created if missing): write to tmp/, fsync, rename
    into new/. Each file starts with `Return-Path: <envelope_from>` and `X-Envelope-To:` headers,
    the envelope a mail server would have used."""

    _counter = itertools.count()
    connections = 1  # one file at a time, in the batch's order

    def __init__(self, path: str) -> None:
        self.root = os.path.abspath(path)
        ensure_maildir(self.root)

    def send(self, mails: Sequence[OutgoingMail], on_results: OnResults | None = None) -> list[SendResult]:
        return [_tell(on_results, self._deliver(mail)) for mail in mails]

    def _deliver(self, mail: OutgoingMail) -> SendResult:
        name = self._unique_name()
        tmp = os.path.join(self.root, "tmp", name)
        try:
            with open(tmp, "xb") as f:
                f.write(_envelope_headers(mail) + mail.data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, os.path.join(self.root, "new", name))
        except OSError as exc:
            log.error("mail=%s message_id=%s cannot be written to %s: %s", mail.key, mail.message_id, self.root, exc)
            return SendResult(mail.key, SendOutcome.UNAVAILABLE, f"cannot write to {self.root}: {exc}")
        log.info("mail=%s message_id=%s written to %s/new/%s", mail.key, mail.message_id, self.root, name)
        return SendResult(mail.key, SendOutcome.SENT, f"maildir {name}")

    @classmethod
    def _unique_name(cls) -> str:
        now = time.time_ns()
        host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
        return f"{now // 10**9}.M{now % 10**9 // 1000}P{os.getpid()}Q{next(cls._counter)}.{host}"


def _envelope_headers(mail: OutgoingMail) -> bytes:
    eol = b"\r\n" if b"\r\n" in mail.data.split(b"\n", 1)[0] + b"\n" else b"\n"
    separator = ", " if sum(len(r) + 2 for r in mail.recipients) < 900 else ",\n "
    recipients = separator.join(mail.recipients).encode("utf-8").replace(b"\n", eol)
    return b"Return-Path: <" + mail.envelope_from.encode("utf-8") + b">" + eol + b"X-Envelope-To: " + recipients + eol


# --------------------------------------------------------------------------------------------
# SMTP


class SmtpMailer:
    """`smtps://` implicit TLS, `smtp://` STARTTLS when offered (plaintext only with
    allow_plaintext), certificates verified; login when a username is set.

    A batch goes out over as many connections as it has connection numbers (the outbox deals
    out at most `[outbound] connections`), each opened, used for its mails in turn, and closed;
    they run at once in one event loop. `on_results` runs on a thread of its own (see
    _Recording): the caller's commit then overlaps the other connections' SMTP work, while
    each connection's next mail waits for its last one's result to be recorded.
    """

    def __init__(self, settings: OutboundSettings, *, timeout: float = _TIMEOUT) -> None:
        url = settings.url
        if url.scheme not in ("smtp", "smtps"):
            raise ValueError(f"SmtpMailer needs an smtp:// or smtps:// url, not {url.scheme!r}")
        self._settings = settings
        self._tls = url.scheme == "smtps"
        self._host = url.host
        self._port = url.port
        self._timeout = timeout
        self.name = f"{url.scheme}://{self._host}:{self._port}"
        self.connections = settings.connections
        self._context: ssl.SSLContext | None = None

    def _tls_context(self) -> ssl.SSLContext:
        """Built once: loading the system's CA store costs ~50 ms, once per batch otherwise."""
        if self._context is None:
            self._context = ssl.create_default_context()
        return self._context

    def send(self, mails: Sequence[OutgoingMail], on_results: OnResults | None = None) -> list[SendResult]:
        if not mails:
            return []
        with ThreadPoolExecutor(1, thread_name_prefix="smtp-results") as thread:
            return asyncio.run(self._send_connections(list(mails), _Recording(on_results, thread).tell))

    async def _send_connections(self, mails: list[OutgoingMail], tell: _Tell) -> list[SendResult]:
        """Each connection's mails over a connection of its own, the connections at once; the
        results in the batch's order."""
        places: dict[int, list[int]] = {}  # connection number → its mails' places in the batch
        for place, mail in enumerate(mails):
            places.setdefault(mail.connection, []).append(place)
        done = await asyncio.gather(*(self._send_batch([mails[p] for p in own], tell)
                                      for own in places.values()))
        at = {p: result for own, results in zip(places.values(), done, strict=True)
              for p, result in zip(own, results, strict=True)}
        return [at[p] for p in range(len(mails))]

    async def _send_batch(self, mails: list[OutgoingMail], tell: _Tell) -> list[SendResult]:
        """One connection's mails, in turn."""
        smtp = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            use_tls=self._tls,
            start_tls=False,  # decided in _open, where allow_plaintext is enforced
            tls_context=self._tls_context(),
            timeout=self._timeout,
        )
        try:
            try:
                await self._open(smtp)
            except PlaintextRefused as exc:
                log.error("server=%s %s", self.name, exc)
                return [await tell(SendResult(m.key, SendOutcome.UNAVAILABLE, str(exc))) for m in mails]
            except (LoginFailed, *_CONNECTION_ERRORS) as exc:
                log.warning("server=%s cannot connect: %s", self.name, _describe(exc))
                return [await tell(SendResult(m.key, SendOutcome.UNAVAILABLE, f"{self.name}: {_describe(exc)}"))
                        for m in mails]
            try:
                return [await tell(await self._send_or_defer(smtp, mail)) for mail in mails]
            finally:
                await _quit(smtp)
        finally:
            await _closed(smtp)

    async def _open(self, smtp: aiosmtplib.SMTP) -> None:
        await smtp.connect()
        await _hello(smtp)
        if not self._tls:
            if smtp.supports_extension("starttls"):
                await smtp.starttls()
                await _hello(smtp)
            elif not self._settings.allow_plaintext:
                raise PlaintextRefused(
                    f"{self.name} does not offer STARTTLS, so the mail would travel in plaintext; "
                    "use smtps://, or set allow_plaintext = true in [outbound] if this network is "
                    "trusted (e.g. loopback)"
                )
            else:
                log.warning("server=%s no STARTTLS offered; sending in plaintext (allow_plaintext)", self.name)
        await self._login(smtp)

    async def _login(self, smtp: aiosmtplib.SMTP) -> None:
        """Log in as the url's user (if any): with the password, or with auth = "xoauth2" by
        AUTH XOAUTH2 with an access token asked for now, so each connection gets a fresh one."""
        settings = self._settings
        username = settings.url.username
        if not username:
            return
        if settings.auth != "xoauth2":
            await smtp.login(username, settings.password or "")
            return
        if "xoauth2" not in smtp.server_auth_methods:
            offered = " ".join(smtp.server_auth_methods).upper() or "no AUTH at all"
            raise LoginFailed(f"the server does not offer AUTH XOAUTH2 (it offers {offered})")
        token = await asyncio.to_thread(self._access_token)  # token_command may take seconds
        try:
            # aiosmtplib answers a refused token's 334 error challenge with an empty line, so the
            # exception carries the server's final 5xx, the reply an operator can look up.
            await smtp.auth_xoauth2(username, token)
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise LoginFailed(f"XOAUTH2 login as {username} refused: {exc.code} {exc.message}") from exc

    def _access_token(self) -> str:
        source = self._settings.token
        try:
            if source is None:
                raise TokenError("auth = \"xoauth2\" but no token_env or token_command")
            return source.token()
        except TokenError as exc:
            where = f" from {source.describe()}" if source is not None else ""
            log.error("server=%s cannot get the XOAUTH2 access token%s: %s", self.name, where, exc)
            raise LoginFailed(f"cannot get the XOAUTH2 access token: {exc}") from exc

    async def _send_or_defer(self, smtp: aiosmtplib.SMTP, mail: OutgoingMail) -> SendResult:
        if not smtp.is_connected:
            return SendResult(mail.key, SendOutcome.UNAVAILABLE, f"{self.name}: connection lost earlier in the batch")
        try:
            result = await self._send_one(smtp, mail)
        except _CONNECTION_ERRORS as exc:
            smtp.close()
            result = SendResult(mail.key, SendOutcome.UNAVAILABLE, f"{self.name}: {_describe(exc)}")
        level = logging.INFO if result.outcome is SendOutcome.SENT and not result.refused else logging.WARNING
        log.log(
            level, "mail=%s message_id=%s %s: %s refused=%s",
            mail.key, mail.message_id, result.outcome.value, result.detail, ",".join(result.refused) or "-",
        )
        return result

    async def _send_one(self, smtp: aiosmtplib.SMTP, mail: OutgoingMail) -> SendResult:
        """One SMTP transaction; a 4xx/5xx reply becomes a result, a broken connection raises."""
        if not mail.recipients:
            return SendResult(mail.key, SendOutcome.PERMANENT, "no recipients")
        addresses = (mail.envelope_from, *mail.recipients)
        utf8 = not all(a.isascii() for a in addresses)
        if utf8 and not smtp.supports_extension("smtputf8"):
            return SendResult(mail.key, SendOutcome.PERMANENT, "non-ASCII address and the server lacks SMTPUTF8")
        encoding = "utf-8" if utf8 else "ascii"
        options = ["SMTPUTF8"] if utf8 else []
        if not mail.data.isascii() and smtp.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")
        try:
            await smtp.mail(mail.envelope_from, options=options, encoding=encoding)
        except aiosmtplib.SMTPResponseException as exc:
            await _reset(smtp)
            return SendResult(mail.key, _outcome(exc.code), f"MAIL FROM: {exc.code} {exc.message}")

        accepted, refused, deferred = await _recipients(smtp, mail.recipients, encoding)
        if deferred or not accepted:
            await _reset(smtp)
            problems = "; ".join(f"{r}: {code} {text}" for r, code, text in (*deferred, *refused))
            outcome = SendOutcome.TEMPORARY if deferred else SendOutcome.PERMANENT
            return SendResult(mail.key, outcome, f"RCPT: {problems}", tuple(r for r, _, _ in refused))
        refused_addresses = tuple(r for r, _, _ in refused)
        try:
            await smtp.data(mail.data)
        except aiosmtplib.SMTPResponseException as exc:
            await _reset(smtp)
            return SendResult(mail.key, _outcome(exc.code), f"DATA: {exc.code} {exc.message}", refused_addresses)
        except _CONNECTION_ERRORS as exc:
            # The message may have been taken before the line dropped: sent again later,
            # under the same Message-ID, and said to be in doubt.
            smtp.close()
            return SendResult(mail.key, SendOutcome.UNAVAILABLE, f"{self.name}: connection lost during DATA: "
                              f"{_describe(exc)}", refused_addresses, in_doubt=True)
        return SendResult(mail.key, SendOutcome.SENT, f"accepted by {len(accepted)} of {len(mail.recipients)}",
                          refused_addresses)


async def _recipients(
    smtp: aiosmtplib.SMTP, recipients: Sequence[str], encoding: str
) -> tuple[list[str], list[tuple[str, int, str]], list[tuple[str, int, str]]]:
    """RCPT TO each: (accepted, refused with 5xx, deferred with 4xx)."""
    accepted: list[str] = []
    refused: list[tuple[str, int, str]] = []
    deferred: list[tuple[str, int, str]] = []
    for recipient in recipients:
        try:
            await smtp.rcpt(recipient, encoding=encoding)
        except aiosmtplib.SMTPRecipientRefused as exc:
            (refused if exc.code >= 500 else deferred).append((recipient, exc.code, exc.message))
        else:
            accepted.append(recipient)
    return accepted, refused, deferred


async def _hello(smtp: aiosmtplib.SMTP) -> None:
    try:
        await smtp.ehlo()
    except aiosmtplib.SMTPHeloError:
        await smtp.helo()


async def _reset(smtp: aiosmtplib.SMTP) -> None:
    """End a failed transaction; a server that cannot even RSET is dropped."""
    try:
        await smtp.rset()
    except _CONNECTION_ERRORS:
        smtp.close()


async def _closed(smtp: aiosmtplib.SMTP) -> None:
    """Close the connection and let the event loop actually release the socket.

    transport.close() only schedules the socket's release for the loop's next turn; if
    asyncio.run() returned right after it, the loop would close first and leave the socket to
    the garbage collector ("unclosed transport … closing": a ResourceWarning, an error in
    whichever test is running when it is collected). A few turns let a plain or TLS transport
    finish closing."""
    smtp.close()
    for _ in range(3):
        await asyncio.sleep(0)


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    if not smtp.is_connected:
        return
    try:
        await smtp.quit()
    except _CONNECTION_ERRORS:
        pass
    finally:
        smtp.close()


def _outcome(code: int) -> SendOutcome:
    if code == 421:  # "service not available, closing transmission channel": the server, not the mail
        return SendOutcome.UNAVAILABLE
    return SendOutcome.PERMANENT if 500 <= code < 600 else SendOutcome.TEMPORARY


# Hands a connection's result to on_results; returns it once on_results has taken it.
_Tell = Callable[[SendResult], Awaitable[SendResult]]


class _Recording:
    """Hands the connections' results to on_results on `thread`, one call at a time, the
    event loop going on meanwhile: the results that come in during a call go together in
    the next one (a group commit: one transaction records several connections' mails).

    A connection awaits `tell` and so tries its next mail only once the call holding its
    result has returned: still at most one mail in doubt per connection."""

    def __init__(self, on_results: OnResults | None, thread: Executor) -> None:
        self.on_results, self.thread = on_results, thread
        self.waiting: list[tuple[SendResult, asyncio.Future[None]]] = []
        self.handing_over: asyncio.Task[None] | None = None

    async def tell(self, result: SendResult) -> SendResult:
        if self.on_results is None:
            return result
        loop = asyncio.get_running_loop()
        taken: asyncio.Future[None] = loop.create_future()
        self.waiting.append((result, taken))
        if self.handing_over is None:
            self.handing_over = loop.create_task(self._hand_over(self.on_results))
        await taken
        return result

    async def _hand_over(self, on_results: OnResults) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, []
                try:
                    await loop.run_in_executor(self.thread, on_results, [result for result, _ in batch])
                except Exception as exc:  # the caller could not record them: their connections stop
                    for _, taken in batch:
                        if not taken.done():
                            taken.set_exception(exc)
                else:
                    for _, taken in batch:
                        if not taken.done():
                            taken.set_result(None)
        finally:
            self.handing_over = None


def _tell(on_results: OnResults | None, result: SendResult) -> SendResult:
    if on_results is not None:
        on_results([result])
    return result


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
