"""Soak: a steady stream of complaints through Dovecot into the running daemon, clocks in seconds.

    .venv/bin/python bench/soak.py [--complaints 10000] [--rate 5] [--db sqlite|postgresql|both]
                                   [--tick 1s] [--unanswered 5] [--keep DIR]

For each database (default: SQLite, then PostgreSQL), with its own fresh private Dovecot
(tests/support/dovecot.py), loopback aiosmtpd (tests/support/smtp.py) and database (SQLite in
a temporary folder; PostgreSQL: a database of a random name on 127.0.0.1:5432, user postgres,
trust auth, dropped after), the real daemon runs as `complaintd run --log-format json` on
imap:// with IDLE and smtp:// (allow_plaintext on loopback), with the shipped config.toml,
the clocks of CLOCKS below and the given tick.

The load. The bench APPENDs the complaints to INBOX over one IMAP connection at a steady
rate (an open-loop schedule: complaint i at t0 + i/rate, whatever the daemon does), a mix of
realistic shapes (see `complaint`), each with its own Message-ID. As in an office, most are
answered: the forwarder replies 可处理 (handled locally) REPLY_DELAY after the
acknowledgment reaches them, threaded to it, APPENDed over the same connection; that meets
the assessment and stops the chain. The rest — every complaint written in directly (10 in
100) and `--unanswered` forwards in 100 (default 5) — walk the whole chain: assess → account manager → 综合部
(with the registration form) → company group → higher authority, with the ack-window
failovers (A → B, leader → the next one up) in between. A chain lasts CHAIN_SPAN seconds,
so at a steady arrival rate the escalation load is steady too; progress/solution/completion
clocks are longer than a run (a repeating clock on ever more open cases would grow the load).
After the last APPEND the bench waits for the last case's chain, stops the daemon (SIGTERM)
and reads the database.

The default rate, 5/s (10,000 complaints ≈ 35 min per database), keeps the
daemon well below a core on the 2-core bench machine (31–37 ms of CPU per complaint with
this mix on 2026-12-06, ~100 ms before the parse workers and the outbox pool; printed as
"daemon CPU"), so the figures measure its steady state, not a queue.

What is measured, exactly:
- intake latency, per complaint: (time of the daemon's log line "inbound registered
  case=… key=<UID>") − (time the bench's APPEND of that message completed). The log line is
  written right after the group's transaction commits (daemon/intake.py `_commit`), with
  millisecond timestamps; the UID is mapped to the Message-ID through `inbound_mail`. No
  column records the commit: `cases.registered_at` is the `now` read when the intake pass
  *began* (the same value as inbound_mail.seen_at), so it is printed separately as
  "wake-up" (registered_at − APPEND completion: how fast IDLE woke the daemon), which can
  be slightly negative (a pass that began between Dovecot storing the message and the bench
  reading the APPEND's OK);
  and "daemon's part" (commit − registered_at), the intake's own time. Dovecot tells an IDLE
  client of new mail 0.5 s after the change (NOTIFY_DELAY_MSECS in its index-mailbox-check.c),
  so the wake-up, and with it the intake latency, has that floor minus the APPEND's own time.
  A complaint never registered by the end counts as infinitely late.
- escalation lateness, per escalation mail (one per recipient copy): (time the loopback
  SMTP server accepted it, at the end of DATA) − (due time of the clock that caused it).
  The outbox row (by Message-ID) gives case, step and round; the clock is the case's
  deadline of a kind in STEP_CLOCKS[step] and that round which was met or breached in the
  same decision (its met_at/breached_at equals the row's created_at). Clocks already past
  when created (registered late, 迟报) are left out and counted. Acknowledgments,
  confirmations and other mails without a clock are not counted. An escalation mail still
  in the outbox at the end counts as infinitely late. The outbox's sent_at is not used: it
  is the tick's `now`, read before the deadline pass, not the hand-over time.
- RSS of the daemon process (VmRSS in /proc/PID/status): "start" is sampled after warm-up
  (the first WARMUP complaints appended and the first case's whole chain elapsed, so that
  lazy imports and first-use caches — openpyxl for the registration form — are in), "end"
  after the drain, before SIGTERM; "max" is the highest of the 0.5 s samples and VmHWM.
- "by tenth": the percentile (RSS: the maximum) in each tenth of the feed or of the run,
  to show drift over a long run.

Targets (issue 14): intake p95 < 0.5 s and p99 < 1 s; lateness p99 < tick + 0.5 s; RSS growth
< 20 MB. The machine's core count and load average are printed with each database's figures.
It prints figures and PASS/MISS; it always exits 0. Needs root (Dovecot runs as `mail`).
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from daemon.config import parse_duration  # noqa: E402
from daemon.store import open_engine  # noqa: E402
from models.tables import Case, Deadline, InboundMail, Outbox  # noqa: E402
from tests.support.dovecot import Dovecot, free_port  # noqa: E402
from tests.support.mail import FORWARDERS, outlook_forward, server_config, set_keys  # noqa: E402
from tests.support.postgres import fresh_database  # noqa: E402
from tests.support.smtp import SmtpServer  # noqa: E402

# Clocks in seconds: every case's chain runs its course within CHAIN_SPAN of its arrival.
# solution / normal_completion / progress are longer than a run: a repeating clock (progress)
# on ever more open cases would make the load grow instead of staying steady.
CLOCKS = {"assess": "5s", "account_manager": "10s", "general_dept": "20s", "group": "15s",
          "higher_authority": "10s", "ack": "5s", "progress": "1h", "solution": "4h",
          "statement": "30m", "normal_completion": "72h"}
_S = {k: parse_duration(v).total_seconds() for k, v in CLOCKS.items()}  # type: ignore[union-attr]
# The last mail of a chain: higher_authority (综合部 at general_dept, group, then it), or the
# leader failovers after assess (department leader → company leader → higher authority).
CHAIN_SPAN = max(_S["general_dept"] + _S["group"] + _S["higher_authority"],
                 _S["general_dept"] + _S["group"] + 2 * _S["ack"], _S["assess"] + 3 * _S["ack"])

# The clocks whose coming due causes each escalation step (models/policy.py RULES); a
# branch's case goes to 综合部 on its account-manager clock.
STEP_CLOCKS = {
    "assess_overdue": ("assess",),
    "account_manager": ("account_manager",),
    "account_manager_unknown": ("account_manager",),
    "general_dept": ("general_dept", "account_manager"),
    "solution_overdue": ("solution",),
    "completion_overdue": ("normal_completion",),
    "group": ("group",),
    "higher_authority": ("higher_authority",),
    "progress": ("progress",),
    "failover": ("ack",),
}
WARMUP = 100
RATE = 5.0  # complaints per second (default of --rate): see the docstring
UNANSWERED = 5.0  # forwards nobody answers, per 100 complaints (default of --unanswered)
REPLY_DELAY = 1.0  # seconds from the acknowledgment reaching the forwarder to their answer
_MESSAGE_ID = re.compile(rb"(?im)^message-id:[ \t]*<([^>\r\n]+)>")
_IN_REPLY_TO = re.compile(rb"(?im)^in-reply-to:[ \t]*<([^>\r\n]+)>")
_REGISTERED = re.compile(r"^inbound registered case=(\S+) key=(\S+)")


# -- the complaints -----------------------------------------------------------------------

def complaint(n: int, now: datetime) -> tuple[str, bytes, str | None]:
    """Complaint number n as sent at `now`: (Message-ID without brackets, bytes, forwarder).

    Shapes, in a cycle of ten: an Outlook inline forward in GB18030 (×3) and in UTF-8 (×2)
    by the three staff forwarders (tests/support/mail.py), a staff member's note of a phone
    call (×2), a forward as attachment (message/rfc822) of a TV journalist's mail, a
    journalist writing in directly (received by 综合部), and a branch's forward. Their
    clocks all run from (about) arrival: an inline forward quotes its original's send time
    to the minute only, and a past minute would put the 5-second clocks behind at
    registration (迟报), so the quoted time is a minute ahead and SPEC §3 clamps it to the
    arrival; a forward as attachment and a direct mail carry a Date to the second.
    """
    shape = n % 10
    forwarder: str | None
    if shape < 5:
        forwarder = FORWARDERS[n % len(FORWARDERS)]
        raw = outlook_forward(n, sent=now + timedelta(minutes=1), forwarder=forwarder,
                              charset="gb18030" if shape < 3 else "utf-8")
    elif shape < 7:
        forwarder, raw = "sun@corp.example.com", _note(n, now)
    elif shape == 7:
        forwarder, raw = "kefu@cs.corp.example.com", _forward_as_attachment(n, now)
    elif shape == 8:
        forwarder, raw = None, _direct(n, now)
    else:
        forwarder = "zhao@east.corp.example.com"
        raw = outlook_forward(n, sent=now + timedelta(minutes=1), forwarder=forwarder)
    match = _MESSAGE_ID.search(raw)
    assert match, n
    return match.group(1).decode(), raw, forwarder


def answered(n: int, unanswered_pct: float) -> bool:
    """Whether complaint n is answered: nobody answers a direct complaint (1 in 10), and of
    the others about `unanswered_pct` in 100 complaints, spread evenly over the shapes, are
    left unanswered too."""
    return n % 10 != 8 and (n * 37) % 100 >= unanswered_pct


def reply(n: int, case_id: str, to_message_id: str, sender: str) -> bytes:
    """The forwarder's answer to the acknowledgment: 可处理 (handled within the department)."""
    msg = EmailMessage()
    msg["From"] = f"同事 <{sender}>"
    msg["To"] = "媒体投诉处理 <complaints@corp.example.com>"
    msg["Subject"] = f"回复: [{case_id}] 媒体投诉已登记"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = f"<soak-reply-{n}-{time.time_ns()}@corp.example.com>"
    msg["In-Reply-To"] = f"<{to_message_id}>"
    msg["References"] = f"<{to_message_id}>"
    msg.set_content("可处理\n\n我们部门今天处理并答复记者。\n\n> 原邮件略")
    return msg.as_bytes()


def _note(n: int, now: datetime) -> bytes:
    msg = EmailMessage()
    msg["From"] = "孙明 <sun@corp.example.com>"
    msg["To"] = "complaints@corp.example.com"
    msg["Subject"] = f"江城晚报记者来电投诉第{n}号小区宽带断网"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<soak-note-{n}-{now.timestamp():.0f}@corp.example.com>"
    msg.set_content(f"江城晚报李记者来电，第{n}号小区宽带断网三天，居民意见很大，要求今天答复。\n"
                    "记者电话 13912345678。\n\n孙明\n网络部")
    return msg.as_bytes()


def _forward_as_attachment(n: int, now: datetime) -> bytes:
    original = EmailMessage()
    original["From"] = "王记者 <wang.reporter@jctv.example.cn>"
    original["To"] = "客服 <kefu@cs.corp.example.com>"
    original["Subject"] = f"关于第{n}号营业厅服务态度的采访"
    original["Date"] = format_datetime(now - timedelta(seconds=1))
    original["Message-ID"] = f"<jctv-{n}-{now.timestamp():.0f}@jctv.example.cn>"
    original.set_content(f"您好，我是江城电视台记者。多名市民反映第{n}号营业厅服务态度差、排队超过一小时，"
                         "请于今日内书面回复。\n王记者 13700000000")
    msg = EmailMessage()
    msg["From"] = "客服中心 <kefu@cs.corp.example.com>"
    msg["To"] = "complaints@corp.example.com"
    msg["Subject"] = f"Fw: 关于第{n}号营业厅服务态度的采访"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<soak-att-{n}-{now.timestamp():.0f}@cs.corp.example.com>"
    msg.set_content("转发记者来信，请处理。")
    msg.add_attachment(original)
    return msg.as_bytes()


def _direct(n: int, now: datetime) -> bytes:
    msg = EmailMessage()
    msg["From"] = "李记者 <li.reporter@jcwb.example.cn>"
    msg["To"] = "complaints@corp.example.com"
    msg["Subject"] = f"第{n}号小区手机信号问题采访"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<soak-direct-{n}-{now.timestamp():.0f}@jcwb.example.cn>"
    msg.set_content(f"贵公司好，我是江城晚报记者。第{n}号小区手机信号很差，请说明原因和修复时间。")
    return msg.as_bytes()


# -- the servers --------------------------------------------------------------------------

class Replies:
    """The answers due: an acknowledgment reaching a forwarder who answers schedules their
    reply REPLY_DELAY later (the SMTP thread adds, the feeder takes)."""

    def __init__(self) -> None:
        self.waiting: dict[str, tuple[int, str]] = {}  # complaint Message-ID → (n, forwarder)
        self.due: list[tuple[float, int, str, str, str]] = []  # heap: (at, n, case, ack id, sender)
        self.lock = threading.Lock()
        self.expected = 0
        self.scheduled = 0
        self.sent = 0

    def expect(self, message_id: str, n: int, forwarder: str) -> None:
        with self.lock:
            self.waiting[message_id] = (n, forwarder)
            self.expected += 1

    def acknowledged(self, at: float, ack_id: str, complaint_id: str, rcpt_tos: tuple[str, ...]) -> None:
        with self.lock:
            found = self.waiting.get(complaint_id)
            if found is None or found[1] not in rcpt_tos:
                return
            del self.waiting[complaint_id]
            heapq.heappush(self.due, (at + REPLY_DELAY, found[0], ack_id.split(".", 1)[0], ack_id, found[1]))
            self.scheduled += 1

    def take(self, now: float) -> list[tuple[float, int, str, str, str]]:
        with self.lock:
            ready = []
            while self.due and self.due[0][0] <= now:
                ready.append(heapq.heappop(self.due))
            return ready

    def next_at(self) -> float:
        with self.lock:
            return self.due[0][0] if self.due else math.inf


class _Sink:
    def __init__(self, record: Any) -> None:
        self.record = record

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.record(time.time(), envelope.original_content, tuple(envelope.rcpt_tos))
        return "250 2.0.0 accepted"


class SinkSmtp(SmtpServer):
    """tests/support/smtp.py's loopback server, keeping only (accept time, Message-ID): ~30
    mails per unanswered case, several with an XLSX form, would cost the bench gigabytes kept
    whole and a core parsed. An acknowledgment to a forwarder who answers (see `Replies`)
    schedules that answer."""

    def __init__(self, replies: Replies) -> None:
        super().__init__()
        self.replies = replies
        self.accepted: list[tuple[float, str]] = []
        self.last_at = 0.0

    def start(self) -> None:
        self.port = self.port or free_port()
        self._controller = Controller(_Sink(self._keep), hostname=self.host, port=self.port)
        self._controller.start()

    def _keep(self, at: float, raw: bytes, rcpt_tos: tuple[str, ...]) -> None:
        end = raw.find(b"\r\n\r\n")
        head = raw[: end + 2] if end >= 0 else raw
        match = _MESSAGE_ID.search(head)
        message_id = match.group(1).decode() if match else ""
        with self._lock:
            self.accepted.append((at, message_id))
            self.last_at = at
        if ".ack.0." in message_id and (thread := _IN_REPLY_TO.search(head)) is not None:
            self.replies.acknowledged(at, message_id, thread.group(1).decode(), rcpt_tos)


@contextlib.contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp}/complaintd.sqlite3"
        return
    with fresh_database("complaintd_soak") as url:
        yield url


# -- watching the daemon ------------------------------------------------------------------

def rss_mb(pid: int, field_name: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of the process so far (/proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


class LogTail:
    """Reads the daemon's JSON log as it grows: commit times by UID, and what went wrong."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.committed: dict[str, float] = {}  # IMAP UID → time of "inbound registered"
        self.problems: list[str] = []
        self.levels: Counter[str] = Counter()
        self.connected = False

    def read(self) -> None:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1  # a line being written is read next time
        self.offset += end
        for line in chunk[:end].splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                self.problems.append(line.decode(errors="replace")[:300])
                continue
            message = entry.get("message", "")
            if "no STARTTLS offered" in message:  # allow_plaintext on loopback: expected, once a connection
                continue
            self.levels[entry.get("level", "?")] += 1
            if entry.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                self.problems.append(f"{entry.get('time')} {entry.get('level')} {message[:300]}"
                                     + (" | " + entry["exception"].splitlines()[-1] if "exception" in entry else ""))
            if (match := _REGISTERED.match(message)) is not None:
                self.committed[match.group(2)] = datetime.fromisoformat(entry["time"]).timestamp()
            elif "connected" in message and entry.get("logger") == "daemon.imap":
                self.connected = True


# -- one run ------------------------------------------------------------------------------

@dataclass
class Result:
    db: str
    complaints: int
    rate: float
    tick: float
    fed_seconds: float = 0.0
    achieved_rate: float = 0.0
    max_lag: float = 0.0
    duration: float = 0.0
    drained: bool = True
    registered: int = 0
    latency: list[float] = field(default_factory=list)
    latency_at: list[float] = field(default_factory=list)  # the arrival of each
    wakeup: list[float] = field(default_factory=list)
    own: list[float] = field(default_factory=list)  # the intake pass's start → the commit's log line
    lateness: list[float] = field(default_factory=list)
    lateness_at: list[float] = field(default_factory=list)  # the due time of each
    lateness_by_step: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    late_clocks_left_out: int = 0
    unmapped: int = 0
    clocks_acted: int = 0
    smtp_mails: int = 0
    acknowledgments: int = 0
    outbox_status: Counter[str] = field(default_factory=Counter)
    rss_start: float = float("nan")
    rss_start_at: float = 0.0
    rss_end: float = float("nan")
    rss_max: float = float("nan")
    rss_samples: list[tuple[float, float]] = field(default_factory=list)
    started_at: float = 0.0  # the first APPEND
    log_levels: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    exit_code: int | None = None
    replies: tuple[int, int, int] = (0, 0, 0)  # answers expected, scheduled, sent
    cpu_seconds: float = float("nan")
    unsent: int = 0  # escalation mails still in the outbox at the end
    open_past_due: int = 0  # clocks past due and not yet acted on at the end


def soak(kind: str, complaints: int, rate: float, tick: str, unanswered: float, keep: Path | None = None) -> Result:
    tick_s = parse_duration(tick).total_seconds()  # type: ignore[union-attr]
    result = Result(kind, complaints, rate, tick_s)
    replies = Replies()
    with tempfile.TemporaryDirectory(prefix="complaintd-soak-") as tmp_name, \
            Dovecot() as imap, SinkSmtp(replies) as smtp, database(kind, Path(tmp_name)) as url:
        tmp = Path(tmp_name)
        config = server_config(tmp, inbound=imap.url(), outbound=smtp.url, database=url)
        set_keys(config, "deadlines", **CLOCKS)
        set_keys(config, "daemon", tick=tick)
        log_path = tmp / "daemon.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COMPLAINTD_IMAP_PASSWORD": imap.password}
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen([str(ROOT / ".venv/bin/complaintd"), "run", "-c", str(config),
                                     "--log-format", "json"],
                                    env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=log_file)
        tail = LogTail(log_path)
        stop_sampling = threading.Event()

        def sample() -> None:
            while not stop_sampling.wait(0.5):
                result.rss_samples.append((time.time(), rss_mb(proc.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        try:
            started = time.monotonic()
            while not tail.connected and proc.poll() is None and time.monotonic() - started < 30:
                time.sleep(0.1)
                tail.read()
            if not tail.connected:
                raise RuntimeError(f"the daemon did not connect to Dovecot (exit {proc.poll()}):\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            sampler.start()
            arrivals = drive(imap, smtp, replies, tail, proc, result, unanswered, url)
            result.rss_end = rss_mb(proc.pid)
            result.cpu_seconds = cpu_seconds(proc.pid)
            result.rss_max = max([rss_mb(proc.pid, "VmHWM"), *(r for _, r in result.rss_samples)])
        finally:
            stop_sampling.set()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)  # a stop waits for the pass under way
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            result.exit_code = proc.returncode
            stopped_at = time.time()
        tail.read()
        result.log_levels, result.problems = tail.levels, tail.problems
        result.replies = (replies.expected, replies.scheduled, replies.sent)
        measure(result, url, arrivals, tail.committed, smtp.accepted, stopped_at)
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(log_path, keep / f"daemon-{kind}.log")
            if kind == "sqlite":
                shutil.copy(tmp / "complaintd.sqlite3", keep / "complaintd-sqlite.sqlite3")
    return result


def drive(imap: Dovecot, smtp: SinkSmtp, replies: Replies, tail: LogTail, proc: subprocess.Popen[bytes],
          result: Result, unanswered: float, url: str) -> dict[str, float]:
    """APPEND the complaints on an open-loop schedule (complaint i at t0 + i/rate) and the
    forwarders' replies as they fall due, over one connection; then wait until every
    complaint is registered, the last one's chain has run, the SMTP server has been quiet
    for two ticks and the database holds no clock a tick past due and no mail due unsent,
    within CHAIN_SPAN + 120 s of the last APPEND. Returns Message-ID → the time its APPEND
    completed."""
    arrivals: dict[str, float] = {}
    n, rate, tick = result.complaints, result.rate, result.tick
    wall0 = result.started_at = time.time()
    warm_at = math.inf
    chain_end = give_up = math.inf
    with imap.client() as client:
        t0 = time.monotonic()
        next_read = t0
        i = 0
        while True:
            for _at, k, case_id, ack_id, sender in replies.take(time.time()):
                client.append("INBOX", reply(k, case_id, ack_id, sender))
                replies.sent += 1
            now = time.monotonic()
            if i < n and now >= (due := t0 + i / rate):
                result.max_lag = max(result.max_lag, now - due)
                message_id, raw, forwarder = complaint(i, datetime.now(UTC))
                if forwarder and answered(i, unanswered):
                    replies.expect(message_id, i, forwarder)
                client.append("INBOX", raw)
                arrivals[message_id] = time.time()
                if i == 0:  # warm: the first case's chain has run, and WARMUP complaints are in
                    warm_at = arrivals[message_id] + CHAIN_SPAN + 2 * tick + 1
                i += 1
                if i == n:
                    result.fed_seconds = time.monotonic() - t0
                    chain_end = arrivals[message_id] + CHAIN_SPAN + 2 * tick + 1
                    give_up = arrivals[message_id] + CHAIN_SPAN + 120
                continue
            wall = time.time()
            if math.isnan(result.rss_start) and i >= min(WARMUP, n) and wall >= warm_at:
                result.rss_start, result.rss_start_at = rss_mb(proc.pid), wall - wall0
            if now >= next_read:  # the log is read as it grows, not all at the end
                tail.read()
                next_read = now + 1
            if i == n:
                if (len(tail.committed) >= n and wall >= chain_end and not replies.due
                        and wall - smtp.last_at >= 2 * tick + 1 and settled(url, wall - tick)):
                    break
                if wall >= give_up or proc.poll() is not None:
                    result.drained = False
                    break
            wake = min(t0 + i / rate - now if i < n else 0.25, replies.next_at() - wall, 0.25)
            if wake > 0:
                time.sleep(wake)
    result.achieved_rate = n / result.fed_seconds if result.fed_seconds else float("nan")
    result.duration = time.time() - wall0
    return arrivals


_ENGINES: dict[str, Any] = {}


def settled(url: str, before: float) -> bool:
    """Nothing left to do: no open clock due before `before`, no mail due in the outbox.
    (Read only in the drain: the bench does not touch the database while it feeds.)"""
    engine = _ENGINES.get(url) or _ENGINES.setdefault(url, open_engine(url))
    at = datetime.fromtimestamp(before, UTC)
    with engine.connect() as conn:
        open_clocks = conn.execute(select(func.count()).select_from(Deadline).where(
            Deadline.met_at.is_(None), Deadline.breached_at.is_(None), Deadline.due_at < at)).scalar_one()  # type: ignore[union-attr]
        unsent = conn.execute(select(func.count()).select_from(Outbox).where(
            Outbox.status.in_(("pending", "sending")), Outbox.next_attempt_at < at)).scalar_one()  # type: ignore[attr-defined]
    return open_clocks == 0 and unsent == 0


def measure(result: Result, url: str, arrivals: dict[str, float], committed: dict[str, float],
            accepted: list[tuple[float, str]], stopped_at: float) -> None:
    """The figures, from the bench's own times, the daemon's log and its database. What did
    not happen by the end counts as infinitely late: a complaint never registered (intake
    latency), an escalation mail still in the outbox (lateness)."""
    engine = _ENGINES.pop(url, None) or open_engine(url)
    try:
        with engine.connect() as conn:
            inbound = {(m or "").strip("<>"): (uid, case_id) for uid, m, case_id in conn.execute(
                select(InboundMail.uid, InboundMail.message_id, InboundMail.case_id))}
            registered_at = dict(conn.execute(select(Case.id, Case.registered_at)).all())
            clocks = {(c, k, r): (due, met, breached, late) for c, k, r, due, met, breached, late in conn.execute(
                select(Deadline.case_id, Deadline.kind, Deadline.round, Deadline.due_at, Deadline.met_at,
                       Deadline.breached_at, Deadline.late))}
            outbox = {m.strip("<>"): (c, s, r, created, status) for m, c, s, r, created, status in conn.execute(
                select(Outbox.message_id, Outbox.case_id, Outbox.step, Outbox.round, Outbox.created_at,
                       Outbox.status))}
    finally:
        engine.dispose()

    for message_id, arrived in arrivals.items():
        uid, case_id = inbound.get(message_id, (None, None))
        result.latency_at.append(arrived)
        if case_id is None or uid not in committed:
            result.latency.append(math.inf)
            continue
        result.registered += 1
        result.latency.append(committed[uid] - arrived)
        if case_id in registered_at:
            result.wakeup.append(registered_at[case_id].timestamp() - arrived)
            result.own.append(committed[uid] - registered_at[case_id].timestamp())

    result.smtp_mails = len(accepted)
    result.outbox_status = Counter(row[4] for row in outbox.values())
    result.acknowledgments = sum(1 for row in outbox.values() if row[1] == "ack" and row[4] == "sent")
    handed = {message_id: at for at, message_id in accepted}
    acted: set[tuple[str, str, int]] = set()
    for message_id, (case_id, step, round_, created, status) in outbox.items():
        if step not in STEP_CLOCKS or case_id is None:
            continue
        at = handed.get(message_id)
        if at is None and status == "sent":
            result.unmapped += 1  # sent, yet not seen by the server: should not happen
            continue
        candidates = [(key, clocks[key]) for kind in STEP_CLOCKS[step]
                      if (key := (case_id, kind, round_)) in clocks]
        closed_here = [(key, c) for key, c in candidates if created in (c[1], c[2])]
        chosen = min(closed_here or candidates, key=lambda kc: kc[1][0], default=None)
        if chosen is None:
            result.unmapped += 1
            continue
        key, (due, _met, _breached, late) = chosen
        if late:
            result.late_clocks_left_out += 1
            continue
        acted.add(key)
        late_by = math.inf if at is None else at - due.timestamp()
        result.unsent += at is None
        result.lateness.append(late_by)
        result.lateness_at.append(due.timestamp())
        result.lateness_by_step[step].append(late_by)
    result.clocks_acted = len(acted)
    result.open_past_due = sum(1 for due, met, breached, _late in clocks.values()
                               if met is None and breached is None and due.timestamp() < stopped_at - result.tick)


# -- the report ---------------------------------------------------------------------------

def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def tenths(r: Result, times: list[float], values: list[float], p: float, span: float) -> str:
    """The p-th percentile in each tenth of `span` seconds from the first APPEND (by arrival,
    due or sample time): does it drift as the run goes on?"""
    span = max(span, 1e-9)
    buckets: list[list[float]] = [[] for _ in range(10)]
    for at, value in zip(times, values, strict=True):
        buckets[min(9, max(0, int(10 * (at - r.started_at) / span)))].append(value)
    return " ".join(f"{pct(b, p):.2f}" if b else "-" for b in buckets)


def report(r: Result) -> None:
    name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[r.db]
    late_target = r.tick + 0.5
    growth = r.rss_end - r.rss_start
    missing = len(r.latency) - r.registered
    print(f"\n== {name}: {r.complaints:,} complaints at {r.rate:g}/s, tick {r.tick:g} s ==")
    rss_tenths = tenths(r, [t for t, _ in r.rss_samples], [m for _, m in r.rss_samples], 100, r.duration)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = [
        ("machine", f"{os.cpu_count()} cores; load average (1 / 5 / 15 min) at the end of the run {load}"),
        ("complaints", (f"{r.complaints:,} appended in {r.fed_seconds:.1f} s = {r.achieved_rate:.2f}/s "
                        f"(schedule lag max {r.max_lag:.2f} s); {r.registered:,} registered")),
        ("duration", (f"{r.duration:.1f} s (feed {r.fed_seconds:.1f} s, then the last chain of "
                      f"{CHAIN_SPAN:g} s and the drain)") + ("" if r.drained else "  — DID NOT DRAIN in time")),
        ("daemon CPU", (f"{r.cpu_seconds:.1f} s = {100 * r.cpu_seconds / r.duration:.0f}% of one core over the run, "
                        f"{1000 * r.cpu_seconds / max(r.complaints, 1):.0f} ms per complaint")),
        ("intake latency", f"p50 {pct(r.latency, 50):.3f} s  p95 {pct(r.latency, 95):.3f} s  "
                           f"p99 {pct(r.latency, 99):.3f} s  max {pct(r.latency, 100):.3f} s  (n={len(r.latency):,}"
                           + (f", {missing:,} never registered = inf" if missing else "") + ")"
                           f"   p95 < 0.5 s: {verdict(pct(r.latency, 95) < 0.5)}, "
                           f"p99 < 1 s: {verdict(pct(r.latency, 99) < 1)}"),
        ("  p95 by tenth", tenths(r, r.latency_at, r.latency, 95, r.fed_seconds) + "  (of the feed)"),
        ("  wake-up", (f"p50 {pct(r.wakeup, 50):.3f} s  p95 {pct(r.wakeup, 95):.3f} s  "
                       f"p99 {pct(r.wakeup, 99):.3f} s  max {pct(r.wakeup, 100):.3f} s  "
                       "(registered_at, the start of the intake pass)")),
        ("  daemon's part", (f"p50 {pct(r.own, 50):.3f} s  p95 {pct(r.own, 95):.3f} s  "
                             f"p99 {pct(r.own, 99):.3f} s  max {pct(r.own, 100):.3f} s  "
                             "(the pass's start → the group's commit)")),
        ("lateness", f"p50 {pct(r.lateness, 50):.3f} s  p99 {pct(r.lateness, 99):.3f} s  "
                     f"max {pct(r.lateness, 100):.3f} s  (n={len(r.lateness):,} mails from {r.clocks_acted:,} clocks"
                     + (f", {r.unsent:,} still in the outbox = inf" if r.unsent else "") + ")"
                     f"   p99 < {late_target:g} s: {verdict(pct(r.lateness, 99) < late_target)}"),
        ("  p99 by tenth", tenths(r, r.lateness_at, r.lateness, 99, r.duration) + "  (of the run, by due time)"),
    ]
    for step, values in sorted(r.lateness_by_step.items(), key=lambda kv: -len(kv[1])):
        rows.append((f"  {step}", (f"p50 {pct(values, 50):.3f} s  p99 {pct(values, 99):.3f} s  "
                                   f"max {pct(values, 100):.3f} s  (n={len(values):,})")))
    rows += [
        ("RSS", (f"start {r.rss_start:.1f} MB (at {r.rss_start_at:.0f} s)  end {r.rss_end:.1f} MB  "
                 f"growth {growth:+.1f} MB  max {r.rss_max:.1f} MB   growth < 20 MB: {verdict(growth < 20)}")),
        ("  max by tenth", rss_tenths + "  (of the run)"),
        ("mail", f"{r.smtp_mails:,} at the SMTP server ({r.acknowledgments:,} acknowledgments); outbox "
                 + ", ".join(f"{k} {v:,}" for k, v in sorted(r.outbox_status.items()))
                 + (f"; {r.late_clocks_left_out:,} from clocks late at registration left out"
                    if r.late_clocks_left_out else "")
                 + (f"; {r.unmapped:,} not mapped to a clock" if r.unmapped else "")
                 + f"; {r.open_past_due:,} clocks a tick past due still open at the end"),
        ("replies", f"{r.replies[2]:,} sent of {r.replies[0]:,} answers planned"
                    + (f" ({r.replies[0] - r.replies[1]:,} acknowledgments never reached the forwarder)"
                       if r.replies[1] < r.replies[0] else "")),
        ("daemon log", ", ".join(f"{k} {v:,}" for k, v in sorted(r.log_levels.items()))
                       + f" (plaintext-on-loopback notices left out); exit code {r.exit_code}"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    if r.complaints and not r.registered:
        print("  ! no \"inbound registered\" line in the daemon's log matched: has its format changed?")
    for line in r.problems[:10]:
        print(f"  ! {line}")
    if len(r.problems) > 10:
        print(f"  ! … {len(r.problems) - 10} more warnings/errors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--complaints", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=RATE, help=f"complaints per second (default {RATE:g})")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--tick", default="1s", help="the daemon's [daemon] tick (default 1s)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="copy the daemon's log (and the SQLite database) to DIR")
    parser.add_argument("--unanswered", type=float, default=UNANSWERED, metavar="PCT",
                        help=f"forwarded complaints nobody answers, per 100 complaints (default {UNANSWERED:g}); "
                             "direct ones (10 in 100) are never answered")
    args = parser.parse_args()
    if parse_duration(args.tick) is None:
        parser.error(f"--tick {args.tick!r} is not a duration")
    print(f"soak: {args.complaints:,} complaints at {args.rate:g}/s (~{args.complaints / args.rate:.0f} s of feed "
          f"per database), tick {args.tick}")
    walk = sum(1 for n in range(1000) if not answered(n, args.unanswered)) / 10
    print(f"answered: the forwarder replies 可处理 {REPLY_DELAY:g} s after the acknowledgment, except to direct "
          f"complaints and {args.unanswered:g} forwards in 100: {walk:g}% of cases walk the whole chain")
    print("clocks: " + ", ".join(f"{k} {v}" for k, v in CLOCKS.items()) + f"; a case's chain spans {CHAIN_SPAN:g} s")
    for kind in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        try:
            report(soak(kind, args.complaints, args.rate, args.tick, args.unanswered, args.keep))
        except Exception as exc:  # a benchmark prints what it can; the next database still runs
            print(f"\n== {kind}: the run failed: {type(exc).__name__}: {exc}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
