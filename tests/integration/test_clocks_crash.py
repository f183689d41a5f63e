"""SIGKILL during the walk up the chain changes nothing that anybody receives."""

from __future__ import annotations

import random
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.daemon import spawn
from tests.support.dovecot import Dovecot
from tests.support.mail import outlook_forward, server_config, set_keys
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

# Second-long clocks: the walk up to the company leader takes about ten seconds.
SECONDS = {"assess": "2s", "account_manager": "4s", "general_dept": "6s", "group": "2s",
           "higher_authority": "2s", "solution": "1h", "progress": "1h", "ack": "1h"}
_GD = ("zonghe@corp.example.com", "liu.gd@corp.example.com")
EXPECTED = [(step, "0", r) for step, people in [
    ("ack", ("sun@corp.example.com", *_GD)),
    ("assess_overdue", ("sun@corp.example.com", "wang.net@corp.example.com")),
    ("account_manager", ("chen.am@corp.example.com", "sun@corp.example.com")),
    ("general_dept", (*_GD, "sun@corp.example.com", "wang.net@corp.example.com", "chen.am@corp.example.com")),
    ("group_overdue", ("zhao.ceo@corp.example.com", *_GD)),  # 综合部 silent: nothing convened
] for r in people]
EXPECTED_MAILS = len(EXPECTED)


def config(tmp_path: Path, imap: Dovecot, smtp: SmtpServer) -> Path:
    path = server_config(tmp_path, inbound=imap.url(), outbound=smtp.url)
    set_keys(path, "daemon", poll_interval="1s")
    return set_keys(path, "deadlines", **SECONDS)


def received(smtp: SmtpServer) -> dict[tuple[str, str, str], set[str]]:
    """(step, round, recipient) → the Message-IDs it came under."""
    found: dict[tuple[str, str, str], set[str]] = {}
    for m in smtp.messages:
        _, step, round_, _ = (m.message_id or "").strip("<>").split("@")[0].split(".", 3)
        found.setdefault((step, round_, m.rcpt_tos[0]), set()).add(m.message_id or "")
    return found


def walk(tmp_path: Path, imap: Dovecot, smtp: SmtpServer, kills: int, seed: int) -> dict[tuple[str, str, str], set[str]]:
    """One complaint, nobody answering; the daemon SIGKILLed `kills` times along the way."""
    tmp_path.mkdir()
    path = config(tmp_path, imap, smtp)
    imap.append(outlook_forward(1, sent=datetime.now(UTC), forwarder="sun@corp.example.com"))
    rng = random.Random(seed)
    deadline = time.monotonic() + 90  # bounds a failing run only
    for _ in range(kills):
        proc = spawn(path, imap)
        time.sleep(rng.uniform(0.8, 3.0))  # when to pull the plug, not a deadline
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    proc = spawn(path, imap)
    try:
        while len(received(smtp)) < EXPECTED_MAILS and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # one more tick and flush: anything extra would show now
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    return received(smtp)


def test_sigkill_during_the_walk_leaves_the_same_mails(tmp_path: Path, imap: Dovecot, smtp: SmtpServer) -> None:
    """Five SIGKILLs at random moments: the same steps reach the same people as in a run
    without kills, each under one Message-ID (a resend after a kill reuses it)."""
    calm = walk(tmp_path / "calm", imap, smtp, kills=0, seed=0)
    imap.reset()
    smtp.clear()
    killed = walk(tmp_path / "killed", imap, smtp, kills=5, seed=20261127)
    assert sorted(calm) == sorted(EXPECTED)
    assert set(killed) == set(calm)
    assert all(len(ids) == 1 for ids in killed.values())
