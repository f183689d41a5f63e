"""Deadline pass cost against register size, and how late escalation mail leaves.

    .venv/bin/python bench/deadlines.py [--sizes 1000 100000] [--due 10]

1. Pass cost: an SQLite register with N open cases (each with its five intake clocks, due in
   the future) plus `--due` cases whose assessment clock is due now; one deadline pass is
   timed (best of 5 on fresh copies). The 100k pass should cost under 3x the 1k pass.
2. Lateness: the real daemon on a private Dovecot and a loopback SMTP server, with
   second-long clocks and tick 1 s; one complaint walks the chain and each mail's arrival at
   the SMTP server is compared with the due time of its step (target: within tick + 1 s).
Needs root for Dovecot. Prints the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from email.message import EmailMessage  # noqa: E402

from sqlalchemy import insert, select  # noqa: E402

from daemon.config import load_settings  # noqa: E402
from daemon.escalation import deadline_pass  # noqa: E402
from daemon.rendering import Renderer  # noqa: E402
from daemon.store import open_engine  # noqa: E402
from models.directory import Person  # noqa: E402
from models.tables import Case, Deadline  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402
from tests.support.mail import server_config, set_keys  # noqa: E402
from tests.support.smtp import SmtpServer  # noqa: E402

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CLOCKS = ("assess", "account_manager", "general_dept", "solution", "normal_completion")


def build_register(path: Path, open_cases: int, due: int) -> None:
    """N cases whose clocks are all in the future, and `due` whose assess clock is due now."""
    engine = open_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        for start in range(0, open_cases + due, 5000):
            ids = range(start, min(start + 5000, open_cases + due))
            conn.execute(insert(Case.__table__), [dict(  # type: ignore[attr-defined]
                id=f"MT-BENCH-{i:06d}", status="registered", received_at=NOW, registered_at=NOW,
                receiving_dept="network", receiver_email="sun@corp.example.com",
                forwarder_email="sun@corp.example.com", complaint_text="…", attachments=[], late=False,
                group_depts=[], source_key=f"<bench-{i}@x>", updated_at=NOW) for i in ids])
            conn.execute(insert(Deadline.__table__), [dict(  # type: ignore[attr-defined]
                case_id=f"MT-BENCH-{i:06d}", kind=kind, round=0, late=False, target="",
                due_at=NOW - timedelta(seconds=1) if (i >= open_cases and kind == "assess")
                else NOW + timedelta(hours=1 + n)) for i in ids for n, kind in enumerate(CLOCKS)])
    engine.dispose()


def pass_cost(size: int, due: int, workdir: Path) -> float:
    settings = load_settings(ROOT / "config.toml", env={})
    renderer = Renderer(settings.daemon.timezone, Person("媒体投诉处理", settings.outbound.from_email))
    template = workdir / f"register-{size}.sqlite3"
    build_register(template, size, due)
    best = float("inf")
    for attempt in range(5):
        copy = workdir / f"run-{size}-{attempt}.sqlite3"
        shutil.copy(template, copy)
        engine = open_engine(f"sqlite:///{copy}")
        started = time.perf_counter()
        acted = deadline_pass(engine, settings, renderer, NOW)
        best = min(best, time.perf_counter() - started)
        assert acted == due, acted
        engine.dispose()
    return best


SECONDS = {"assess": "2s", "account_manager": "4s", "general_dept": "6s", "group": "2s",
           "higher_authority": "2s", "progress": "3s", "solution": "1h", "ack": "1h"}
CLOCK_OF_STEP = {"assess_overdue": ("assess", 0), "account_manager": ("account_manager", 0),
                 "general_dept": ("general_dept", 0), "group": ("group", 0),
                 "higher_authority": ("higher_authority", 0), "progress": ("progress", 1)}


def staff_note() -> bytes:
    """A staff member's own note of a phone call: its clocks run from its arrival."""
    msg = EmailMessage()
    msg["From"] = "孙明 <sun@corp.example.com>"
    msg["To"] = "complaints@corp.example.com"
    msg["Subject"] = "江城晚报记者来电投诉小区断网"
    msg["Message-ID"] = f"<bench-{time.time_ns()}@corp.example.com>"
    msg.set_content("江城晚报李记者来电，江城花园小区宽带断网三天，要求今天答复。")
    return msg.as_bytes()


def lateness(workdir: Path) -> list[tuple[str, float]]:
    """(step, seconds between its clock's due time and its first mail at the SMTP server)."""
    with Dovecot() as imap, SmtpServer() as smtp:
        path = set_keys(server_config(workdir, inbound=imap.url(), outbound=smtp.url), "deadlines", **SECONDS)
        set_keys(path, "daemon", poll_interval="1s")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COMPLAINTD_IMAP_PASSWORD": imap.password}
        proc = subprocess.Popen([sys.executable, "-m", "daemon", "run", "-c", str(path)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first_seen: dict[str, float] = {}
        try:
            imap.append(staff_note())
            end = time.monotonic() + 60
            while not {"progress", "higher_authority"} <= set(first_seen) and time.monotonic() < end:
                now = time.time()
                for m in smtp.messages:
                    first_seen.setdefault((m.message_id or "").strip("<>").split(".")[1], now)
                time.sleep(0.01)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
    engine = open_engine(load_settings(path, env={"COMPLAINTD_IMAP_PASSWORD": "-"}).daemon.database)
    with engine.connect() as conn:
        due = {(kind, round_): due_at for kind, round_, due_at in conn.execute(
            select(Deadline.kind, Deadline.round, Deadline.due_at))}
    engine.dispose()
    return [(step, first_seen[step] - due[clock].timestamp())
            for step, clock in CLOCK_OF_STEP.items() if step in first_seen and clock in due]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100000])
    parser.add_argument("--due", type=int, default=10)
    parser.add_argument("--no-lateness", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        costs = {size: pass_cost(size, args.due, Path(tmp)) for size in args.sizes}
        for size, cost in costs.items():
            print(f"deadline pass, {size} open cases + {args.due} due: {cost * 1000:.1f} ms (best of 5)")
        if len(costs) > 1:
            small, large = costs[min(costs)], costs[max(costs)]
            print(f"{max(costs)} / {min(costs)} open cases: {large / small:.2f}x")
        if not args.no_lateness:
            for step, late in lateness(Path(tmp)):
                print(f"lateness {step}: {late:.2f} s after due (tick 1 s)")


if __name__ == "__main__":
    main()
