"""The real daemon as a child process: `python -m daemon run -c CONFIG`, for the tests that
kill it, stop its servers under it, or read its log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.dovecot import Dovecot
from tests.support.mail import ROOT


def spawn(config: Path, imap: Dovecot, log: Path | None = None) -> subprocess.Popen[bytes]:
    """Started with the mailbox password in its environment; its log (stderr) goes to `log`,
    or nowhere."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COMPLAINTD_IMAP_PASSWORD": imap.password}
    command = [sys.executable, "-m", "daemon", "run", "-c", str(config)]
    if log is None:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(log, "wb") as stderr:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
