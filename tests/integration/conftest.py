"""Fixtures shared by the reply tests (test_replies_e2e, test_hostile_inbox)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from daemon.app import App
from tests.integration.test_clocks_e2e import daemon_at, run_until
from tests.support.dovecot import Dovecot
from tests.support.mail import T0, outlook_forward
from tests.support.smtp import SmtpServer


@pytest.fixture
def app(tmp_path: Path, imap: Dovecot, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """The daemon on the test servers with case MT-20261127-0001 registered and acknowledged
    (forwarded by 孙明 of 网络部), its clock at 10:20."""
    app = daemon_at(tmp_path, imap, smtp, monkeypatch)
    imap.append(outlook_forward(1, forwarder="sun@corp.example.com"))
    run_until(app, T0 + timedelta(minutes=5))
    yield app
    app.close()
