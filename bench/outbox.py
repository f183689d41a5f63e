"""Outbox throughput: queued case mail through flush passes to a loopback SMTP server.

    .venv/bin/python bench/outbox.py [-n 2000] [--connections N] [--databases sqlite postgresql]

An aiosmtpd sink runs in a process of its own on a free loopback port: it accepts every
mail and counts it, nothing more, so that what is measured is complaintd's side. For each
database (a temporary SQLite file; a fresh PostgreSQL database on 127.0.0.1:5432) the outbox
is filled with N real case mails: three complaints go through the real intake (their
acknowledgments), then through the deadline passes at +16 min, +31 min, +61 min and +2 h
(overdue reminders, the account manager, 综合部's takeover with the registration form
attached), and those rendered rows are copied, each copy under a key and Message-ID of its
own, until there are N. A fresh interpreter then times the daemon's own outbox step
(App.flush_pass, as the daemon calls it each tick) pass after pass until nothing is pending,
and the mails per second of that wall time are printed per database, with the sink's count,
the core count, the load average, and the `[outbound] connections` used (left out against a
version without that key: the bench runs unchanged against older code for a before/after).

BENCH_PROFILE=cumulative (or tottime, …) profiles the flush passes and prints the top of it.
Prints figures, asserts nothing, always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.dovecot import free_port  # noqa: E402
from tests.support.mail import FORWARDERS, T0, outlook_forward, server_config  # noqa: E402

COMPLAINTS = len(FORWARDERS)  # one per forwarder: both departments, and 综合部's own cases
WALK = (timedelta(minutes=16), timedelta(minutes=31), timedelta(minutes=61), timedelta(hours=2))
FLUSH_AT = T0 + timedelta(hours=3)  # every copy is due by then


# --------------------------------------------------------------------------------------------
# The sink: its own process, so that its CPU is not ours.

def sink(port: int) -> None:
    """Accept and count; on SIGTERM print the count and exit."""
    from aiosmtpd.smtp import SMTP

    count = 0

    class Counter:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            nonlocal count
            count += 1
            return "250 2.0.0 accepted"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stopped = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, stopped.set_result, None)
        server = await loop.create_server(lambda: SMTP(Counter(), hostname="sink"), "127.0.0.1", port)
        async with server:
            await stopped
        print(json.dumps({"received": count, "cpu_s": time.process_time()}), flush=True)

    asyncio.run(serve())


@contextmanager
def sink_process() -> Iterator[tuple[int, dict[str, float]]]:
    """The sink's port, and (once the block is left) its count under "received"."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--sink", str(port)], stdout=subprocess.PIPE, text=True)
    counted: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port, counted
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        counted.update(json.loads(out.strip().splitlines()[-1]) if out.strip() else {})


# --------------------------------------------------------------------------------------------
# Filling the outbox, in the parent.

def bench_config(tmp: Path, port: int, database: str, connections: int | None) -> Path:
    """The shipped config on a Maildir inbox, the sink, and `database`; `connections` is
    written only when this version of complaintd has the key."""
    config = server_config(tmp, inbound=f"maildir:{tmp}/in", outbound=f"smtp://127.0.0.1:{port}", database=database)
    if connections is not None and has_connections():
        text, line = config.read_text(encoding="utf-8"), f"connections = {connections}"
        text, written = re.subn(r"(?m)^connections = .*$", line, text, count=1)  # the shipped one
        config.write_text(text if written else text.replace("[outbound]\n", f"[outbound]\n{line}\n", 1),
                          encoding="utf-8")
    return config


def has_connections() -> bool:
    from daemon.config import OutboundSettings

    return "connections" in {f.name for f in fields(OutboundSettings)}


def connections_used(config: Path) -> str:
    from daemon.config import load_settings

    outbound = load_settings(config, env={}).outbound
    return str(getattr(outbound, "connections", "none (one connection: this version has no such key)"))


class Clock:
    def __init__(self) -> None:
        self.at = T0 + timedelta(minutes=6)

    def now(self):  # type: ignore[no-untyped-def]
        return self.at


def fill(config: Path, n: int) -> dict[str, float]:
    """Register the complaints, walk their clocks, and copy the rendered mail up to n rows."""
    from sqlalchemy import delete, insert, select

    from daemon.app import App
    from daemon.config import load_settings
    from daemon.mailer import open_mailer
    from daemon.rendering import with_message_id
    from daemon.sources import open_source
    from daemon.store import open_engine
    from models.tables import Outbox

    settings = load_settings(config, env={})
    inbox = Path(settings.inbound.url.path)
    open_source(settings.inbound).close()  # creates the Maildir
    for i in range(COMPLAINTS):
        (inbox / "new" / f"{i}.eml").write_bytes(outlook_forward(i))
    clock = Clock()
    app = App(settings, open_engine(settings.daemon.database), lambda: open_source(settings.inbound),
              open_mailer(settings.outbound), clock)
    app.intake_pass(clock.now())
    for after in WALK:
        app.deadline_pass(T0 + after)
    table = Outbox.__table__  # type: ignore[attr-defined]
    columns = ("key", "case_id", "step", "round", "recipient", "message_id", "subject", "data", "status",
               "created_at", "next_attempt_at", "attempts")
    with app.engine.begin() as conn:
        templates = [dict(r._mapping) for r in conn.execute(select(*(table.c[c] for c in columns)).order_by(table.c.id))]
        conn.execute(delete(table))
        for start in range(0, n, 500):
            conn.execute(insert(table), [copy(templates[i % len(templates)], i, with_message_id)
                                         for i in range(start, min(start + 500, n))])
    app.close()
    sizes = [len(templates[i % len(templates)]["data"]) for i in range(n)]
    forms = sum(1 for i in range(n) if b".xlsx" in templates[i % len(templates)]["data"])
    return {"templates": len(templates), "mean_kb": sum(sizes) / len(sizes) / 1024, "with_form": forms}


def copy(template: dict[str, Any], i: int, with_message_id: Any) -> dict[str, Any]:
    """The template row as copy i: its own key and Message-ID (in the bytes too), due now."""
    old = template["message_id"]
    new = re.sub(r"\.[0-9a-f]{16}@", f".{secrets.token_hex(8)}@", old, count=1)  # new_message_id's random part
    return {**template, "key": f"{template['key']}#{i}", "message_id": new, "status": "pending",
            "data": with_message_id(template["data"], old, new), "attempts": 0,
            "next_attempt_at": T0 + timedelta(minutes=6)}


# --------------------------------------------------------------------------------------------
# The measurement, in a fresh interpreter.

def measure(config: str) -> dict[str, float]:
    import logging

    from sqlalchemy import func, select

    from daemon.app import App
    from daemon.config import load_settings
    from daemon.mailer import open_mailer
    from daemon.sources import open_source
    from daemon.store import open_engine, session
    from models.tables import Outbox

    # As `complaintd run` logs (daemon/__main__.py): INFO, a line per mail; to a file here.
    logging.basicConfig(level=logging.INFO, filename=str(Path(config).parent / "flush.log"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(Path(config), env={})
    clock = Clock()
    clock.at = FLUSH_AT
    app = App(settings, open_engine(settings.daemon.database), lambda: open_source(settings.inbound),
              open_mailer(settings.outbound), clock)

    def drain() -> tuple[int, int]:
        sent = passes = 0
        while True:
            passes += 1
            done = app.flush_pass(FLUSH_AT)
            sent += done
            if not done:
                return sent, passes

    started, cpu = time.perf_counter(), time.process_time()
    if os.environ.get("BENCH_PROFILE"):
        sent, passes = profiled(drain)
    else:
        sent, passes = drain()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    with session(app.engine) as db:
        unsent = db.execute(select(func.count()).select_from(Outbox).where(Outbox.status != "sent")).scalar_one()
    app.close()
    return {"sent": sent, "passes": passes, "seconds": seconds, "rate": sent / seconds, "unsent": unsent,
            "cpu_ms": 1000 * cpu / max(sent, 1)}


def profiled(drain: Any) -> Any:
    """drain() under cProfile, the threads it starts included (the SMTP results are recorded
    on a thread of their own); the top of it to stderr."""
    import cProfile
    import pstats
    import threading

    profiles = [cProfile.Profile()]

    def in_new_thread(*_: Any) -> None:
        sys.setprofile(None)
        profiles.append(cProfile.Profile())
        profiles[-1].enable()

    threading.setprofile(in_new_thread)
    try:
        done = profiles[0].runcall(drain)
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    stats = pstats.Stats(profiles[0], stream=sys.stderr)
    for profile in profiles[1:]:
        stats.add(profile)
    stats.sort_stats(os.environ["BENCH_PROFILE"]).print_stats(45)
    return done


def child(config: Path) -> dict[str, float] | None:
    done = subprocess.run([sys.executable, __file__, "--child", str(config)], capture_output=True, text=True,
                          cwd=ROOT)
    if os.environ.get("BENCH_PROFILE") or done.returncode != 0:
        print(done.stderr[-20000:])
    if done.returncode != 0:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str | None]:
    """The database URL for `kind`, or None when PostgreSQL cannot be reached."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp}/bench.sqlite3"
        return
    from tests.support.postgres import PostgresUnreachable, fresh_database

    try:
        with fresh_database("complaintd_bench_outbox") as url:
            yield url
    except PostgresUnreachable as exc:
        print(f"postgresql: skipped ({exc})")
        yield None


def run(kind: str, n: int, connections: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmpdir, sink_process() as (port, counted), \
            database(kind, Path(tmpdir)) as url:
        if url is None:
            return
        config = bench_config(Path(tmpdir), port, url, connections)
        filled = fill(config, n)
        used = connections_used(config)
        result = child(config)
    if result is None:
        print(f"{kind}: the measuring process failed (its stderr is above)")
        return
    print(f"{kind}: {result['sent']:.0f} mails in {result['seconds']:.2f} s = {result['rate']:.0f} mails/s "
          f"(CPU of the sending process {result['cpu_ms']:.2f} ms a mail; {result['passes']:.0f} flush passes; connections {used}; sink received {counted.get('received', '?')} using {counted.get('cpu_s', float('nan')):.1f} s CPU; "
          f"left unsent {result['unsent']:.0f}; {filled['templates']:.0f} rendered mails copied, "
          f"mean {filled['mean_kb']:.1f} KB, {filled['with_form']:.0f} with the registration form)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="mails in the outbox (default 2000)")
    parser.add_argument("--connections", type=int, default=None,
                        help="[outbound] connections (default: the config's default)")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        sink(args.sink)
        return
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load}; n = {args.n}")
    for kind in args.databases:
        try:
            run(kind, args.n, args.connections)
        except Exception as exc:  # a figure missing, never a failed bench
            print(f"{kind}: failed: {type(exc).__name__}: {exc}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average after: {load}")


if __name__ == "__main__":
    main()
