"""Two replicas on one PostgreSQL database: one acts, the other stands by and takes over."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import SQLModel, select

from daemon.config import load_settings
from daemon.store import open_engine, session
from models.tables import Case, Heartbeat, Outbox
from tests.support.mail import ROOT, outlook_forward, server_config, set_keys
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def config(tmp_path: Path, pg_url: str) -> Iterator[Path]:
    path = server_config(tmp_path, inbound=f"maildir:{tmp_path}/in", outbound=f"maildir:{tmp_path}/out",
                         database=pg_url)
    set_keys(path, "daemon", poll_interval="1s")
    yield path
    engine = open_engine(load_settings(path).daemon.database)
    SQLModel.metadata.drop_all(engine)
    engine.dispose()


def replica(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "daemon", "run", "-c", str(config)],
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def deliver(inbox: Path, first: int, count: int) -> None:
    for n in range(first, first + count):
        tmp = inbox / "tmp" / f"{n}.eml"
        tmp.write_bytes(outlook_forward(n))
        tmp.rename(inbox / "new" / f"{n}.eml")


def test_a_killed_active_replica_is_replaced_and_nothing_is_doubled(config: Path, tmp_path: Path) -> None:
    """Both replicas run; the active one is SIGKILLed mid-stream; the standby takes over.
    Afterwards every complaint is one case with one acknowledgment per person."""
    engine = open_engine(load_settings(config).daemon.database)
    replicas = [replica(config), replica(config)]
    try:
        assert wait_until(lambda: (tmp_path / "in/new").is_dir())
        deliver(tmp_path / "in", 0, 10)
        assert wait_until(lambda: count_cases(engine) == 10)
        active = active_pid(engine)
        victim = next(p for p in replicas if p.pid == active)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_at = time.monotonic()
        deliver(tmp_path / "in", 10, 10)
        survivor = next(p for p in replicas if p is not victim)
        assert wait_until(lambda: active_pid(engine) == survivor.pid)
        took_over = time.monotonic() - killed_at
        assert wait_until(lambda: count_cases(engine) == 20)
        assert wait_until(lambda: unsent(engine) == 0)  # the survivor has sent what it decided
        print(f"standby took over {took_over:.1f} s after the kill")
    finally:
        for proc in replicas:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=10)
    acks: dict[str, set[str]] = {}
    ack_ids: set[str] = set()
    for path in (tmp_path / "out/new").iterdir():
        mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if ".ack." in mail["Message-ID"]:
            acks.setdefault(mail["X-Envelope-To"].strip(), set()).add(mail["X-Complaintd-Case"])
            ack_ids.add(mail["Message-ID"].strip())
    assert {k: len(v) for k, v in acks.items() if k.endswith("gd@corp.example.com") or k.startswith("zonghe")} == {
        "zonghe@corp.example.com": 20, "liu.gd@corp.example.com": 20}
    # forwarder, zonghe, liu.gd: one Message-ID each per case, whichever replica sent it (a kill
    # between writing a mail and recording it may write that same mail twice: at-least-once)
    assert len(ack_ids) == 20 * 3
    engine.dispose()


def count_cases(engine) -> int:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        return len(db.exec(select(Case.id)).all())


def unsent(engine) -> int:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        return len(db.exec(select(Outbox.id).where(Outbox.status == "pending")).all())


def active_pid(engine) -> int | None:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        beat = db.get(Heartbeat, "pass")
        return beat.pid if beat else None
