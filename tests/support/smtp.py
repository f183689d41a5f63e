"""A loopback SMTP server (aiosmtpd) that records what it accepts (STYLE habit 7).

    server = SmtpServer(); server.start()
    mailer = SmtpMailer(settings for server.url, allow_plaintext=True)
    ...
    server.wait_for(1)                  # poll; never sleep for a fixed time
    server.messages[0].rcpt_tos

`reject` holds recipient addresses answered `550 5.1.1 mailbox unavailable` at RCPT,
`defer` those answered `450` at RCPT; `tempfail = True` answers `451` at DATA;
`drop_after_data = True` keeps the message, then closes the connection without replying;
`drop_after` does so once for each Message-ID it holds, on whichever connection brings it.
`hold_data = threading.Event()` keeps each DATA unanswered until the test sets that event (a
slow server); `holding` counts the DATA commands waiting so.
No STARTTLS is offered unless `tls=` (tests/support/tls.py) is given: then STARTTLS, or
implicit TLS (smtps) with `implicit_tls=True`.

`xoauth2=(user, token)` offers AUTH XOAUTH2 (as Exchange Online does) and requires a login:
only that user with `server.xoauth2_token` (changeable between connections) gets in. A wrong
token gets what real servers send: a 334 with a base64 JSON error, then 535 after the client's
empty line. Successful logins are listed in `server.logins` as (mechanism, user).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email
import email.parser
import email.policy
import json
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult, LoginPassword

from tests.support.dovecot import free_port
from tests.support.tls import TlsFiles


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes  # as received, after dot-unstuffing; CRLF line ends
    message_id: str | None
    peer: tuple[str, int]  # the client's address: equal peers mean one connection

    def parsed(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.server.reject:
            return "550 5.1.1 mailbox unavailable"
        if address in self.server.defer:
            return "450 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        hold = self.server.hold_data
        if hold is not None and not hold.is_set():
            self.server.holding += 1
            try:
                await asyncio.to_thread(hold.wait)
            finally:
                self.server.holding -= 1
        if self.server.tempfail:
            return "451 4.3.0 try again later"
        raw = envelope.original_content
        # Only the header block is parsed here (the whole message costs milliseconds, and the
        # crash tests push thousands through); parsed() gives the rest on demand.
        message = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
        self.server._record(
            Received(envelope.mail_from, tuple(envelope.rcpt_tos), raw, message["Message-ID"], tuple(session.peer[:2]))
        )
        if self.server.drop_after_data or self.server._drops(message["Message-ID"]):
            server.transport.close()  # took the message, then the line dropped: no reply
        return "250 2.0.0 accepted"


class _XOAuth2Handler(_Handler):
    """_Handler plus the XOAUTH2 mechanism (aiosmtpd offers every `auth_*` of the handler)."""

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        if len(args) == 2:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return AuthResult(success=False, handled=False, message="501 5.5.2 Can't decode base64")
        else:
            answer = await server.challenge_auth("")
            if answer is MISSING:
                return AuthResult(success=False, handled=True)  # challenge_auth already answered
            blob = answer
        fields = dict(part.partition("=")[::2] for part in blob.decode("utf-8", "replace").split("\x01") if part)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        if self.server.xoauth2 is not None and (user, token) == (self.server.xoauth2[0], self.server.xoauth2_token):
            self.server._logins.append(("XOAUTH2", user))
            return AuthResult(success=True, auth_data=user)
        error = json.dumps({"status": "401", "schemes": "bearer", "scope": "https://outlook.office.com/SMTP.Send"})
        if await server.challenge_auth(error) is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535 5.7.8


class SmtpServer:
    """aiosmtpd on 127.0.0.1 at a free port; optional AUTH with (user, password), or XOAUTH2."""

    def __init__(
        self, *, credentials: tuple[str, str] | None = None, tls: TlsFiles | None = None, implicit_tls: bool = False,
        xoauth2: tuple[str, str] | None = None,
    ) -> None:
        self.tls = tls
        self.implicit_tls = implicit_tls and tls is not None
        self.host = "127.0.0.1"
        self.port = 0
        self.reject: set[str] = set()
        self.defer: set[str] = set()
        self.tempfail = False
        self.drop_after_data = False
        self.hold_data: threading.Event | None = None
        self.holding = 0
        self.drop_after: set[str] = set()  # Message-IDs
        self.credentials = credentials
        self.xoauth2 = xoauth2  # (user, first token); the token accepted now is xoauth2_token
        self.xoauth2_token = xoauth2[1] if xoauth2 is not None else ""
        self._logins: list[tuple[str, str]] = []
        self._messages: list[Received] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"

    @property
    def logins(self) -> list[tuple[str, str]]:
        return list(self._logins)

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def start(self) -> None:
        if self._controller is not None:
            raise RuntimeError("SMTP server is already running")
        # A port picked beforehand (Controller(port=0) fails its own readiness probe), and kept
        # across stop()/start(), so a test can take the server down and bring it back.
        self.port = self.port or free_port()
        kwargs: dict[str, Any] = {}
        if self.credentials is not None or self.xoauth2 is not None:
            # AUTH over plaintext is what this loopback test server is for; aiosmtpd warns.
            kwargs = {"authenticator": self._authenticate, "auth_require_tls": False, "auth_required": True}
        if self.tls is not None:
            kwargs["ssl_context" if self.implicit_tls else "tls_context"] = self.tls.server_context()
        handler = _XOAuth2Handler(self) if self.xoauth2 is not None else _Handler(self)
        self._controller = Controller(handler, hostname=self.host, port=self.port, **kwargs)
        self._controller.start()

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def clear(self) -> None:
        """Forget recorded messages and logins; reset reject/defer/tempfail/drops and the token."""
        with self._lock:
            self._messages.clear()
        self._logins.clear()
        self.xoauth2_token = self.xoauth2[1] if self.xoauth2 is not None else ""
        self.reject = set()
        self.defer = set()
        self.tempfail = False
        self.drop_after_data = False
        self.hold_data = None
        self.drop_after = set()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        """Poll until at least `n` messages were accepted; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages
            if len(found) >= n:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(f"expected {n} message(s) within {timeout}s, got {len(found)}")
            time.sleep(0.01)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _drops(self, message_id: str | None) -> bool:
        """Whether to drop the line after this message: once per id in drop_after."""
        with self._lock:
            if message_id not in self.drop_after:
                return False
            self.drop_after.discard(message_id)
            return True

    def _record(self, received: Received) -> None:
        with self._lock:
            self._messages.append(received)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.credentials is not None
            and (auth_data.login.decode(), auth_data.password.decode()) == self.credentials
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends 235/535
