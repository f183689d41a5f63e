"""Shared fixtures: thin wrappers; the servers themselves live in tests/support/.

Real servers, no mocks (STYLE habits 6 and 7):
    dovecot / imap        a private Dovecot IMAP server (session) / emptied for each test
    smtp_server / smtp    a loopback aiosmtpd server (session) / cleared for each test
    pg_url                a fresh PostgreSQL database for this test session, dropped after
    tls_files             a throwaway CA and a server certificate for 127.0.0.1 (session)
    trust_test_ca         makes ssl.create_default_context() trust that CA (this test only)

A missing server is an error, never a skip: CI must run every test (.ci/run starts them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.dovecot import Dovecot
from tests.support.postgres import PostgresUnreachable, fresh_database
from tests.support.smtp import SmtpServer
from tests.support.tls import TlsFiles, make_tls_files


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One Dovecot for the whole session (it starts in well under a second)."""
    with Dovecot() as server:
        yield server


@pytest.fixture
def imap(dovecot: Dovecot) -> Dovecot:
    """The session's Dovecot with every folder emptied."""
    dovecot.reset()
    return dovecot


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def smtp(smtp_server: SmtpServer) -> SmtpServer:
    """The session's SMTP server with nothing recorded and nobody rejected."""
    smtp_server.clear()
    return smtp_server


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """`postgresql+psycopg://…/<unique>`: a database created for this session, dropped after."""
    try:
        with fresh_database("complaintd_test") as url:
            yield url
    except PostgresUnreachable as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def trust_test_ca(tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch) -> TlsFiles:
    """OpenSSL reads SSL_CERT_FILE whenever a default context loads its trust store."""
    monkeypatch.setenv("SSL_CERT_FILE", tls_files.ca)
    return tls_files
