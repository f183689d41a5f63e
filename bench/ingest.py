"""Intake throughput: real-corpus mail through a real Dovecot, against parse-only.

    .venv/bin/python bench/ingest.py [-n 2000] [--corpus ../shared/corpus] [--attachment-mb 20]

Loads N messages (the corpus cycled, each copy given its own Message-ID, plus one complaint
carrying a 20 MB attachment, in the middle) into a private Dovecot INBOX, then measures in
child processes:
- end to end: one intake pass (IMAP fetch → parse → commit → acknowledgment queued → moved
  to Processed) on SQLite, with the WAL checkpoints the daemon's clock loop would make (the
  last one inside the timing), in mails/s, with the child's peak RSS and its parse workers',
  and the CPU per mail of the intake process, of its parse workers and of Dovecot;
- parse-only: parsers.parse over the same N messages, in one process, in mails/s.
Prints both, each with the machine's cores and its load average over the last minute when
the measurement started (other work on the machine moves every figure), and their ratio
last. Needs root (Dovecot runs as the mail user).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.dovecot import Dovecot  # noqa: E402
from tests.support.mail import outlook_forward, server_config  # noqa: E402

_MESSAGE_ID = re.compile(rb"(?im)^message-id:[^\r\n]*(\r?\n[ \t][^\r\n]*)*\r?\n")


def corpus_files(corpus: Path) -> list[Path]:
    skip = {".md", ".tsv", ".py"}
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix not in skip)


def unique_copy(raw: bytes, n: int) -> bytes:
    """The same message under a Message-ID of its own, so each copy is a new arrival."""
    return f"Message-ID: <bench-{n}@bench.example>\r\n".encode() + _MESSAGE_ID.sub(b"", raw, count=1)


def with_huge_attachment(mb: int) -> bytes:
    import email
    import email.policy

    msg = email.message_from_bytes(outlook_forward(999_999), policy=email.policy.default)
    msg.make_mixed()
    msg.add_attachment(b"\x89PNG" + bytes(mb << 20), maintype="image", subtype="png", filename="现场照片.png")
    return msg.as_bytes()


def spool(messages: list[bytes], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, raw in enumerate(messages):
        (folder / f"{i:06d}.eml").write_bytes(raw)


def child(mode: str, arg: str) -> dict[str, float]:
    """Run one measurement in a fresh interpreter; it prints JSON on its last line."""
    done = subprocess.run([sys.executable, __file__, "--child", mode, arg], capture_output=True,
                          text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"{mode} child failed:\n{done.stderr[-3000:]}")
    if os.environ.get("BENCH_PROFILE"):
        print(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_parse(spool_dir: str) -> dict[str, float]:
    from zoneinfo import ZoneInfo

    from parsers import parse
    from parsers.message import ParseContext

    raws = [p.read_bytes() for p in sorted(Path(spool_dir).iterdir())]
    ctx = ParseContext(ZoneInfo("Asia/Shanghai"), "MT", frozenset({"complaints@corp.example.com"}),
                       "complaintd.corp.example.com")
    started = time.perf_counter()
    kinds: dict[str, int] = {}
    for raw in raws:
        kind = parse(raw, ctx).kind.value
        kinds[kind] = kinds.get(kind, 0) + 1
    seconds = time.perf_counter() - started
    return {"n": len(raws), "seconds": seconds, "rate": len(raws) / seconds, **kinds}


# measure_intake's figures; its other keys count the outcomes
FIGURES = frozenset({"n", "seconds", "rate", "rss_start_mb", "peak_rss_mb", "worker_peak_rss_mb", "workers", "cpu_s",
                     "worker_cpu_s"})


def measure_intake(config: str) -> dict[str, float]:
    import logging

    from daemon.app import App
    from daemon.config import load_settings
    from daemon.mailer import open_mailer
    from daemon.sources import open_source
    from daemon.store import open_engine

    logging.basicConfig(level=logging.ERROR)
    settings = load_settings(Path(config))
    app = App(settings, open_engine(settings.daemon.database), lambda: open_source(settings.inbound),
              open_mailer(settings.outbound))
    rss_before = peak_rss_mb()
    cpu_before = os.times().user + os.times().system
    # The WAL checkpoints, as the daemon's clock loop makes them: every tick when due, and
    # the last one before the clock stops, so that no copying is left out of the figure.
    done = threading.Event()

    def clock_loop() -> None:
        while not done.wait(settings.daemon.tick.total_seconds()):
            app.checkpoints.run()

    checkpointer = threading.Thread(target=clock_loop)
    checkpointer.start()
    started = time.perf_counter()
    if os.environ.get("BENCH_PROFILE"):  # this process only: the parse workers are not profiled
        import cProfile
        import pstats
        profile = cProfile.Profile()
        outcomes = profile.runcall(app.intake_pass, app.clock.now())
        pstats.Stats(profile, stream=sys.stderr).sort_stats(os.environ.get("BENCH_PROFILE", "cumulative")).print_stats(45)
    else:
        outcomes = app.intake_pass(app.clock.now())
    done.set()
    checkpointer.join()
    app.checkpoints.run(force=True)
    seconds = time.perf_counter() - started
    cpu = os.times()
    children = multiprocessing.active_children()  # the parse workers, read before close() ends them
    workers = [peak_rss_mb(worker.pid) for worker in children]
    worker_cpu = sum(cpu_seconds(worker.pid) for worker in children)
    app.close()
    statuses: dict[str, int] = {}
    for o in outcomes:
        statuses[o.status.value] = statuses.get(o.status.value, 0) + 1
    return {"n": len(outcomes), "seconds": seconds, "rate": len(outcomes) / seconds,
            "rss_start_mb": rss_before, "peak_rss_mb": peak_rss_mb(),
            "worker_peak_rss_mb": max(workers, default=0), "workers": len(workers),
            "cpu_s": cpu.user + cpu.system - cpu_before, "worker_cpu_s": worker_cpu, **statuses}


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's own high-water mark (getrusage would include the parent's, kept across exec)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int, reaped: bool = False) -> float:
    """A process's CPU time so far, user and system (/proc/PID/stat fields 14 and 15), and
    with `reaped` its ended children's too (16 and 17)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in ((11, 12, 13, 14) if reaped else (11, 12))) / os.sysconf("SC_CLK_TCK")


def dovecot_cpu_seconds(dovecot: Dovecot) -> float:
    """Dovecot's CPU time so far: its master's, the ended imap processes' it reaped, and the
    living processes' below it. Waits (up to 5 s) for the imap processes of closed
    connections to end first, so that their time is not counted later, as another's."""
    from tests.support.dovecot import _descendants

    assert dovecot._proc is not None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_comm(pid) == "imap" for pid in _descendants(dovecot._proc.pid)):
        time.sleep(0.05)
    total = cpu_seconds(dovecot._proc.pid, reaped=True)
    for pid in _descendants(dovecot._proc.pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid, reaped=True)
    return total


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def machine() -> str:
    return f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="messages (default 2000)")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--attachment-mb", type=int, default=20, help="the big complaint's attachment (default 20)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, arg = args.child
        result = measure_parse(arg) if mode == "parse" else measure_intake(arg)
        print(json.dumps(result))
        return

    files = corpus_files(args.corpus)
    raws = [unique_copy(files[i % len(files)].read_bytes(), i) for i in range(args.n - 1)]
    raws.insert(len(raws) // 2, with_huge_attachment(args.attachment_mb))
    size = sum(map(len, raws)) / 1e6
    print(f"messages: {len(raws)} from {len(files)} corpus files, {size:.1f} MB, one {args.attachment_mb} MB attachment")

    with tempfile.TemporaryDirectory() as tmp, Dovecot() as dovecot:
        spool(raws, Path(tmp) / "spool")
        started = time.perf_counter()
        with dovecot.client() as client:
            for raw in raws:
                client.append("INBOX", raw)
        print(f"loaded into Dovecot INBOX in {time.perf_counter() - started:.1f} s")
        config = server_config(Path(tmp), inbound=dovecot.url(), outbound=f"maildir:{tmp}/sent")
        os.environ["COMPLAINTD_IMAP_PASSWORD"] = dovecot.password

        e2e_load = machine()
        dovecot_before = dovecot_cpu_seconds(dovecot)
        e2e = child("intake", str(config))
        dovecot_cpu = dovecot_cpu_seconds(dovecot) - dovecot_before
        left = dovecot.count("INBOX")
        parse_load = machine()
        parse_only = child("parse", str(Path(tmp) / "spool"))

    print(f"end to end ({e2e_load}): {e2e['n']:.0f} mails in {e2e['seconds']:.2f} s = {e2e['rate']:.0f} mails/s "
          f"({', '.join(f'{k} {v:.0f}' for k, v in e2e.items() if k not in FIGURES)}); "
          f"left in INBOX: {left}")
    print(f"intake memory: {e2e['rss_start_mb']:.0f} MB after start-up, peak {e2e['peak_rss_mb']:.0f} MB; "
          f"{e2e['workers']:.0f} parse workers, peak {e2e['worker_peak_rss_mb']:.0f} MB each at most")
    print(f"intake CPU: {1000 * e2e['cpu_s'] / e2e['n']:.2f} ms a mail in the intake process, "
          f"{1000 * e2e['worker_cpu_s'] / e2e['n']:.2f} ms in the parse workers, "
          f"{1000 * dovecot_cpu / e2e['n']:.2f} ms in Dovecot; the cores busy "
          f"{(e2e['cpu_s'] + e2e['worker_cpu_s'] + dovecot_cpu) / e2e['seconds'] / (os.cpu_count() or 1):.0%} of the time")
    print(f"parse-only ({parse_load}): {parse_only['n']:.0f} mails in {parse_only['seconds']:.2f} s = "
          f"{parse_only['rate']:.0f} mails/s")
    print(f"end-to-end / parse-only: {e2e['rate']:.0f} / {parse_only['rate']:.0f} mails/s = "
          f"{100 * e2e['rate'] / parse_only['rate']:.0f}%")


if __name__ == "__main__":
    main()
