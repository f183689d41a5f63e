"""auth = "xoauth2": ImapSource against a real Dovecot whose tokens are checked by a loopback
tokeninfo endpoint, SmtpMailer against aiosmtpd offering AUTH XOAUTH2 (as Exchange Online does)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from daemon.config import InboundSettings, MailURL, OutboundSettings
from daemon.errors import SourceError
from daemon.imap import ImapSource
from daemon.mailer import SmtpMailer
from daemon.ports import SendOutcome
from daemon.tokens import TokenSource
from tests.integration.test_mailer import make_mail
from tests.integration.test_sources import small_message
from tests.support.dovecot import Dovecot, free_port
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.complaints-token"
SMTP_USER = "complaints@corp.example.com"


# -- a tokeninfo endpoint for Dovecot's oauth2 passdb ------------------------------------------


class TokenInfo:
    """GET /tokeninfo?access_token=T → 200 {"username": user, "active": true} when T is
    `accepted`, else 401. `asked` lists every token Dovecot asked about, in order."""

    def __init__(self, user: str, accepted: str) -> None:
        self.user = user
        self.accepted = accepted
        self.asked: list[str] = []
        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tokeninfo?access_token="

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        info = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                token = parse_qs(urlsplit(self.path).query).get("access_token", [""])[0]
                info.asked.append(token)
                if token and token == info.accepted:
                    self._answer(200, {"username": info.user, "active": True, "expires_in": 3600})
                else:
                    self._answer(401, {"error": "invalid_token"})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

        return Handler

    def __enter__(self) -> TokenInfo:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def tokeninfo() -> Iterator[TokenInfo]:
    with TokenInfo(Dovecot.user, TOKEN) as info:
        yield info


@pytest.fixture(scope="module")
def oauth_dovecot(tokeninfo: TokenInfo) -> Iterator[Dovecot]:
    """A Dovecot that also offers XOAUTH2, checking tokens with `tokeninfo`."""
    with Dovecot(oauth2_tokeninfo_url=tokeninfo.url) as server:
        yield server


@pytest.fixture
def imap(oauth_dovecot: Dovecot, tokeninfo: TokenInfo) -> Dovecot:
    oauth_dovecot.reset()
    tokeninfo.accepted = TOKEN
    tokeninfo.asked.clear()
    return oauth_dovecot


def imap_settings(server: Dovecot, token: TokenSource) -> InboundSettings:
    url = MailURL("imap", host=server.host, port=server.port, username=server.user)
    return InboundSettings(url, None, True, "Processed", "Quarantine", "xoauth2", token)


# -- IMAP ----------------------------------------------------------------------------------------


class TestImapXoauth2:
    def test_a_token_from_token_env_logs_in_and_fetches(self, imap: Dovecot, tokeninfo: TokenInfo) -> None:
        """AUTHENTICATE XOAUTH2 with the variable's token: Dovecot checks it and the mail is read."""
        imap.append(small_message(1))
        source = ImapSource(imap_settings(imap, TokenSource.from_env("COMPLAINTD_IMAP_TOKEN", TOKEN)))
        try:
            assert [f.raw for f in source.fetch_new()] == [small_message(1)]
        finally:
            source.close()
        assert tokeninfo.asked == [TOKEN]  # the token went through XOAUTH2, not a password login

    def test_a_token_from_token_command_logs_in_and_fetches(self, imap: Dovecot, tokeninfo: TokenInfo) -> None:
        """token_command's stdout, stripped, is the token."""
        imap.append(small_message(2))
        source = ImapSource(imap_settings(imap, TokenSource.from_command(f"printf '%s\\n' {TOKEN}")))
        try:
            assert [f.raw for f in source.fetch_new()] == [small_message(2)]
        finally:
            source.close()
        assert tokeninfo.asked == [TOKEN]

    def test_token_command_runs_again_at_each_connect(self, imap: Dovecot, tokeninfo: TokenInfo, tmp_path: Path) -> None:
        """After the token is renewed, a reconnect logs in with the new one (no restart needed)."""
        file = tmp_path / "token"
        file.write_text("first-token")
        tokeninfo.accepted = "first-token"
        imap.append(small_message(1))
        source = ImapSource(imap_settings(imap, TokenSource.from_command(f"cat {file}")))
        try:
            assert len(list(source.fetch_new())) == 1
            source.close()
            file.write_text("second-token")
            tokeninfo.accepted = "second-token"
            assert len(list(source.fetch_new())) == 1
        finally:
            source.close()
        assert tokeninfo.asked == ["first-token", "second-token"]

    def test_a_failing_token_command_is_a_source_error_before_connecting(
        self, imap: Dovecot, tokeninfo: TokenInfo, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A command that fails is a SourceError naming it (the app's backoff path), logged as an error."""
        source = ImapSource(imap_settings(imap, TokenSource.from_command("echo 'az: not logged in' >&2; exit 3")))
        with caplog.at_level(logging.ERROR, logger="daemon.imap"):
            with pytest.raises(SourceError, match="cannot get the XOAUTH2 access token: token_command exited "
                                                  "with status 3: az: not logged in"):
                list(source.fetch_new())
        source.close()
        assert any(r.levelno == logging.ERROR and "XOAUTH2" in r.getMessage() for r in caplog.records)
        assert tokeninfo.asked == []

    def test_a_refused_token_is_a_source_error_and_the_next_try_can_succeed(
        self, imap: Dovecot, tokeninfo: TokenInfo
    ) -> None:
        """A wrong token: SourceError, nothing else escapes; once the token is good, it connects."""
        imap.append(small_message(1))
        tokeninfo.accepted = "another-token"
        source = ImapSource(imap_settings(imap, TokenSource.from_env("COMPLAINTD_IMAP_TOKEN", TOKEN)))
        try:
            with pytest.raises(SourceError, match="cannot"):
                list(source.fetch_new())
            assert tokeninfo.asked == [TOKEN]
            imap.restart()  # Dovecot delays further logins from this IP after a failure
            tokeninfo.accepted = TOKEN
            assert [f.raw for f in source.fetch_new()] == [small_message(1)]
        finally:
            source.close()


# -- SMTP ----------------------------------------------------------------------------------------


@pytest.fixture
def oauth_smtp() -> Iterator[SmtpServer]:
    with SmtpServer(xoauth2=(SMTP_USER, TOKEN)) as server:
        yield server


def smtp_settings(port: int, token: TokenSource | None, *, username: str | None = SMTP_USER) -> OutboundSettings:
    url = MailURL("smtp", host="127.0.0.1", port=port, username=username)
    return OutboundSettings(url, None, True, "complaintd", "complaintd@example.org", "xoauth2", token)


def connection_failure_outcome() -> SendOutcome:
    """What a batch gets when its server cannot be reached: a refused login must match it."""
    (result,) = SmtpMailer(smtp_settings(free_port(), TokenSource.from_env("T", TOKEN))).send([make_mail()])
    return result.outcome


# aiosmtpd warns when AUTH is allowed without TLS, which this loopback server does on purpose.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
class TestSmtpXoauth2:
    def test_a_token_from_token_env_logs_in_and_delivers(self, oauth_smtp: SmtpServer) -> None:
        """AUTH XOAUTH2 with the variable's token; the mail is accepted."""
        (result,) = SmtpMailer(smtp_settings(oauth_smtp.port, TokenSource.from_env("T", TOKEN))).send([make_mail()])
        assert result.outcome is SendOutcome.SENT, result.detail
        assert oauth_smtp.wait_for(1)[0].raw == make_mail().data
        assert oauth_smtp.logins == [("XOAUTH2", SMTP_USER)]

    def test_token_command_runs_again_for_each_batch(self, oauth_smtp: SmtpServer, tmp_path: Path) -> None:
        """Each connection asks token_command anew, so a renewed token is used at once."""
        file = tmp_path / "token"
        mailer = SmtpMailer(smtp_settings(oauth_smtp.port, TokenSource.from_command(f"cat {file}")))
        file.write_text(TOKEN + "\n")
        assert mailer.send([make_mail("a")])[0].outcome is SendOutcome.SENT
        file.write_text("renewed-token")
        oauth_smtp.xoauth2_token = "renewed-token"
        assert mailer.send([make_mail("b")])[0].outcome is SendOutcome.SENT
        assert len(oauth_smtp.wait_for(2)) == 2
        assert oauth_smtp.logins == [("XOAUTH2", SMTP_USER)] * 2

    def test_a_refused_token_is_a_connection_failure_naming_the_refusal(self, oauth_smtp: SmtpServer) -> None:
        """A wrong token: not SENT, not PERMANENT: the same outcome as an unreachable server,
        with a detail that says the XOAUTH2 login was refused; nothing is delivered."""
        settings = smtp_settings(oauth_smtp.port, TokenSource.from_env("T", "expired-token"))
        results = SmtpMailer(settings).send([make_mail("a"), make_mail("b")])
        assert [r.outcome for r in results] == [connection_failure_outcome()] * 2
        assert results[0].outcome not in (SendOutcome.SENT, SendOutcome.PERMANENT)
        assert f"XOAUTH2 login as {SMTP_USER} refused: 535" in results[0].detail
        assert oauth_smtp.messages == [] and oauth_smtp.logins == []

    def test_a_failing_token_command_is_a_connection_failure_and_logged(
        self, oauth_smtp: SmtpServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """token_command exiting 1: the batch waits like for a down server; an error is logged."""
        settings = smtp_settings(oauth_smtp.port, TokenSource.from_command("exit 1"))
        with caplog.at_level(logging.ERROR, logger="daemon.mailer"):
            (result,) = SmtpMailer(settings).send([make_mail()])
        assert result.outcome is connection_failure_outcome()
        assert "cannot get the XOAUTH2 access token: token_command exited with status 1" in result.detail
        assert any(r.levelno == logging.ERROR and "XOAUTH2" in r.getMessage() for r in caplog.records)
        assert oauth_smtp.messages == []

    def test_a_server_without_xoauth2_is_named(self) -> None:
        """A server offering only PLAIN/LOGIN: the detail says XOAUTH2 is not offered."""
        with SmtpServer(credentials=(SMTP_USER, "s3cret")) as server:
            (result,) = SmtpMailer(smtp_settings(server.port, TokenSource.from_env("T", TOKEN))).send([make_mail()])
            assert result.outcome is connection_failure_outcome()
            assert "does not offer AUTH XOAUTH2" in result.detail
            assert server.messages == []
