"""Board page times on a register of 100,000 cases, on SQLite and on PostgreSQL.

    .venv/bin/python bench/web.py [--cases 100000] [--seed-mails 300] [--events 500]
                                  [-n 20] [--warmup 3] [--db sqlite|postgresql|both]

How it fills, per database (SQLite: a file in a temporary folder; PostgreSQL: a database of a
random name on 127.0.0.1:5432, user postgres, trust auth, dropped after):
1. `--seed-mails` invented complaints (tests/support/invented_complaints.py: many outlets,
   clients, charsets, categories) go through the real intake (tests/support/web.py
   `fill_register`): parse, record, five clocks, the registration mails queued.
2. Those cases are the templates of the rest: each copy takes one template's rows (case,
   clocks, event log, inbound mail with its raw bytes, outbox rows) under a new id, every time
   shifted to a received_at drawn uniformly over the year before now, with a department,
   outlet, category and status drawn at random (DEPARTMENTS, STATUSES), 1 in 20 registered late. Older cases are
   mostly closed (CLOSED_BY_AGE), so about 5 % stay open; a closed case's clocks are met (mostly
   on time, some breached), an open one's are met, breached or still running by their due
   time, and some open cases wait on an ack window (the register's 等待答复). Each case gets
   a few more log lines (mails in and out, commands, status changes; more for closed ones),
   so the event log holds about 8 lines per case. Outbox bytes are cut to their first
   OUTBOX_BYTES (the headers and the start of the text): no page reads them, and 11 KB for
   each of 300,000 mails would only make the fill slow. Bulk inserts, 2,000 cases at a time.
3. One open network case about 江城晚报, 40 days old, with `--events` log lines, 120 inbound
   mails, 200 outbox rows with their whole bytes and ~100 clocks (progress rounds, ack windows).
On PostgreSQL the tables are ANALYZEd after the fill, as autovacuum would do; SQLite gets no
ANALYZE, as the daemon never runs one.

What is timed: the board's app (daemon.web.app.create_app, the clock frozen at the fill's
`now`) served by uvicorn on a loopback port in this process; a plain HTTP client (http.client,
one keep-alive connection, the session cookie of a login link redeemed through /login/<token>)
times each GET from the request to the last byte of the answer. Per reader (综合部, who sees
every case, and a member of 网络部) and page: `--warmup` requests, then `-n`, printed as median
and p95 (linear percentile). The pages: the register's first page (open cases), all cases, a
filtered page (department, category, dates), two searches (Chinese text; a case id
in lower case, which needs case folding), the case with the long log, and the
statistics of 365 days. The machine's core count and load average are printed before and after.

Targets (issue 16): the register < 300 ms, the case page < 200 ms, on both databases.
It prints figures and met/MISSED; it always exits 0.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import random
import re
import socket
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.engine import Connection, Engine  # noqa: E402

from daemon.store import open_engine  # noqa: E402
from daemon.web.app import create_app  # noqa: E402
from daemon.web.auth import new_token, token_hash  # noqa: E402
from models.tables import Case, Deadline, Event, InboundMail, LoginToken, Outbox  # noqa: E402
from tests.support.invented_complaints import invent  # noqa: E402
from tests.support.postgres import fresh_database  # noqa: E402
from tests.support.web import SECRET, FakeClock, board_settings, fill_register  # noqa: E402

DEPARTMENTS = {"network": 35, "customer_service": 25, "marketing": 15, "east_branch": 10, "general_dept": 15}
OPEN_STATUSES = {"registered": 35, "local": 30, "account_manager": 15, "general_dept": 12, "company_group": 8}
CLOSED_STATUSES = {"resolved": 85, "dismissed": 12, "major": 3}
CLOSED_BY_AGE = ((timedelta(days=3), 0.05), (timedelta(days=14), 0.5), (timedelta(days=60), 0.9),
                 (timedelta(days=366), 0.985))  # (younger than, share closed)
AWAITED = {"network": "zhang.net@corp.example.com", "customer_service": "yang.cs@corp.example.com",
           "marketing": "feng.mkt@corp.example.com", "east_branch": "xu.east@corp.example.com",
           "general_dept": "liu.gd@corp.example.com"}
OUTBOX_BYTES = 2048
CHUNK = 2000
READERS = (("综合部", "liu.gd@corp.example.com"), ("网络部", "zhang.net@corp.example.com"))
TARGETS_MS = {"/register": 300, "/cases/": 200}

TIMES: dict[Any, tuple[str, ...]] = {
    Case: ("received_at", "registered_at", "original_sent_at", "expected_completion_at", "resolved_at",
           "gd_takeover_at", "group_formed_at", "group_requested_at", "statement_approved_at", "updated_at"),
    Deadline: ("due_at", "met_at", "breached_at"),
    Event: ("at",),
    InboundMail: ("seen_at",),
    Outbox: ("created_at", "next_attempt_at", "sent_at", "deferred_since"),
}
EXTRA_EVENTS = (("mail_out", "complaintd", "登记回执已发出"), ("mail_in", "zhang.net@corp.example.com", "回复：可处理"),
                ("command", "zhang.net@corp.example.com", "评估：可处理"), ("status", "complaintd", "状态：部门处理"),
                ("mail_in", "chen.am@corp.example.com", "回复：已联系记者"),
                ("breached", "complaintd", "时限已过：评估答复"), ("command", "liu.gd@corp.example.com", "已解决"))


# -- the fill -----------------------------------------------------------------------------------------

class Templates:
    """The intake's cases and their rows, grouped by case id, read back as plain dicts."""

    def __init__(self, conn: Connection, ids: Sequence[str]) -> None:
        self.cases = [dict(r) for r in conn.execute(select(table(Case)).where(table(Case).c.id.in_(ids))
                                                    .order_by(table(Case).c.id)).mappings()]
        self.children: dict[type, dict[str, list[dict[str, Any]]]] = {}
        for model in (Deadline, Event, InboundMail, Outbox):
            grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in conn.execute(select(table(model)).where(table(model).c.case_id.in_(ids))).mappings():
                grouped[row["case_id"]].append({k: v for k, v in row.items() if k != "id"})
            self.children[model] = grouped
        self.outlets = sorted({c["media_outlet"] for c in self.cases if c["media_outlet"]})


def table(model: type) -> Any:
    return model.__table__  # type: ignore[attr-defined]


def shifted(row: dict[str, Any], model: type, by: timedelta) -> dict[str, Any]:
    out = dict(row)
    for name in TIMES[model]:
        if out.get(name) is not None:
            out[name] = out[name] + by
    return out


def weighted(rng: random.Random, choices: dict[str, int]) -> str:
    return rng.choices(list(choices), weights=list(choices.values()))[0]


class Filler:
    """Copies template cases into new ones (see the module docstring), CHUNK cases per insert."""

    def __init__(self, templates: Templates, now: datetime, seed: int = 16) -> None:
        self.t, self.now, self.rng = templates, now, random.Random(seed)
        self.per_day: dict[str, int] = defaultdict(int)
        for c in templates.cases:
            day, number = c["id"].split("-")[1:]
            self.per_day[day] = max(self.per_day[day], int(number))
        self.rows: dict[type, list[dict[str, Any]]] = defaultdict(list)
        self.count = 0

    def new_id(self, received: datetime) -> str:
        day = f"{received + timedelta(hours=8):%Y%m%d}"  # the ids count per Shanghai day
        self.per_day[day] += 1
        return f"MT-{day}-{self.per_day[day]:04d}"

    def closed_at_age(self, age: timedelta) -> bool:
        return self.rng.random() < next(share for younger, share in CLOSED_BY_AGE if age < younger)

    def copy(self, n: int, received: datetime | None = None) -> None:
        """Copy n of a template drawn at random, received at `received` (by default, any time
        in the year before now)."""
        rng = self.rng
        template = rng.choice(self.t.cases)
        received = received or self.now - timedelta(seconds=rng.uniform(600, 365 * 86400))
        by = received - template["received_at"]
        case = shifted(template, Case, by)
        case_id = self.new_id(received)
        closed = self.closed_at_age(self.now - received)
        dept = weighted(rng, DEPARTMENTS)
        case.update(id=case_id, receiving_dept=dept, status=weighted(rng, CLOSED_STATUSES if closed else OPEN_STATUSES),
                    media_outlet=rng.choice(self.t.outlets) if rng.random() < 0.95 else None,
                    category=rng.choice((1, 2, 3, 3, 3, 4, 5, None)), source_key=f"<bench-{n}@corp.example.com>",
                    source_message_id=f"<bench-{n}@corp.example.com>", original_key=f"bench:{n}",
                    late=rng.random() < 0.05)
        end = self.now
        if closed:
            end = min(self.now, received + timedelta(hours=rng.uniform(2, 20 * 24)))
            case["resolved_at"] = end
        case["updated_at"] = end
        self.rows[Case].append(case)
        self.clocks(case_id, template, by, received, end, closed, dept)
        self.log(n, case_id, template, by, received, end, closed)
        self.count += 1

    def clocks(self, case_id: str, template: dict[str, Any], by: timedelta, received: datetime, end: datetime,
               closed: bool, dept: str) -> None:
        rng = self.rng
        for d in self.t.children[Deadline][template["id"]]:
            d = shifted(d, Deadline, by)
            d["case_id"], d["met_at"], d["breached_at"], d["late"] = case_id, None, None, False
            met = received + (d["due_at"] - received) * rng.uniform(0.1, 0.95)
            if (closed or d["due_at"] <= self.now) and rng.random() < (0.88 if closed else 0.5):
                d["met_at"] = min(met, end)
            elif closed or d["due_at"] <= self.now:
                d["breached_at"] = d["due_at"]
            elif met <= self.now and rng.random() < 0.5:
                d["met_at"] = met
            self.rows[Deadline].append(d)
        for r in range(rng.choice((0, 0, 1, 2))):
            due = received + timedelta(minutes=rng.uniform(30, 240))
            still_open = not closed and r == 0 and rng.random() < 0.5
            self.rows[Deadline].append(dict(
                case_id=case_id, kind="ack", round=r, late=False, target=f"assess_overdue/{r}/{AWAITED[dept]}",
                due_at=max(due, self.now + timedelta(minutes=20)) if still_open else due,
                met_at=None if still_open else min(due, end), breached_at=None))

    def log(self, n: int, case_id: str, template: dict[str, Any], by: timedelta, received: datetime,
            end: datetime, closed: bool) -> None:
        rng = self.rng
        for e in self.t.children[Event][template["id"]]:
            self.rows[Event].append({**shifted(e, Event, by), "case_id": case_id})
        for j in range(rng.randint(3, 10) if closed else rng.randint(0, 4)):
            kind, actor, summary = rng.choice(EXTRA_EVENTS)
            self.rows[Event].append(dict(
                case_id=case_id, kind=kind, actor=actor, summary=summary,
                at=received + (end - received) * rng.random(), subject=f"Re: [{case_id}] 媒体投诉",
                message_id=f"<bench-{n}.{j}@corp.example.com>" if kind.startswith("mail") else None))
        for m in self.t.children[InboundMail][template["id"]]:
            self.rows[InboundMail].append({**shifted(m, InboundMail, by), "case_id": case_id, "uid": f"bench-{n}",
                                           "message_id": f"<bench-{n}@corp.example.com>",
                                           "digest": hashlib.sha256(f"bench-{n}".encode()).hexdigest()})
        for i, o in enumerate(self.t.children[Outbox][template["id"]]):
            o = shifted(o, Outbox, by)
            o.update(case_id=case_id, key=o["key"].replace(template["id"], case_id, 1), data=o["data"][:OUTBOX_BYTES],
                     message_id=f"<{case_id}.ack.0.{i}@complaintd.corp.example.com>", status="sent",
                     sent_at=o["created_at"] + timedelta(seconds=30))
            self.rows[Outbox].append(o)

    def flush(self, conn: Connection) -> None:
        for model in (Case, Deadline, Event, InboundMail, Outbox):
            if self.rows[model]:
                conn.execute(insert(table(model)), self.rows[model])
        self.rows.clear()


def long_case(conn: Connection, templates: Templates, now: datetime, events: int) -> str:
    """The open network case with `events` log lines, 120 mails in and 200 out, ~100 clocks."""
    template = next(c for c in templates.cases if templates.children[Outbox][c["id"]])
    received = now - timedelta(days=40)
    case_id = f"MT-{received + timedelta(hours=8):%Y%m%d}-9999"
    by = received - template["received_at"]
    case = shifted(template, Case, by)
    case.update(id=case_id, status="company_group", receiving_dept="network", media_outlet="江城晚报", category=2,
                source_key="<bench-long@corp.example.com>", original_key="bench:long", updated_at=now)
    conn.execute(insert(table(Case)), [case])
    step = (now - received) / events
    conn.execute(insert(table(Event)), [dict(
        case_id=case_id, at=received + step * i, kind=EXTRA_EVENTS[i % len(EXTRA_EVENTS)][0],
        actor=EXTRA_EVENTS[i % len(EXTRA_EVENTS)][1], summary=f"{EXTRA_EVENTS[i % len(EXTRA_EVENTS)][2]}（第{i}条）",
        subject=f"Re: [{case_id}] 江城晚报记者投诉", message_id=f"<long.{i}@corp.example.com>") for i in range(events)])
    clocks = [dict(case_id=case_id, kind=kind, round=r, late=False, target=target, due_at=received + timedelta(hours=8 * r + 1),
                   met_at=received + timedelta(hours=8 * r + 0.5), breached_at=None)
              for r in range(1, 50) for kind, target in (("progress", ""), ("ack", f"progress/{r}/zhao.ceo@corp.example.com"))]
    clocks.append(dict(case_id=case_id, kind="progress", round=50, late=False, target="",
                       due_at=now + timedelta(hours=3), met_at=None, breached_at=None))
    conn.execute(insert(table(Deadline)), clocks)
    raw = templates.children[InboundMail][template["id"]][0]
    conn.execute(insert(table(InboundMail)), [{**raw, "case_id": case_id, "uid": f"long-{i}", "status": "reply",
                                               "message_id": f"<long-in.{i}@corp.example.com>", "seen_at": received + step * 4 * i,
                                               "digest": hashlib.sha256(f"long-{i}".encode()).hexdigest()} for i in range(120)])
    mail = templates.children[Outbox][template["id"]][0]
    conn.execute(insert(table(Outbox)), [{**mail, "case_id": case_id, "key": f"{case_id}/progress/{i}/x{i}@corp.example.com",
                                          "message_id": f"<{case_id}.progress.{i}.0@complaintd.corp.example.com>",
                                          "created_at": received + step * 2 * i, "next_attempt_at": received + step * 2 * i,
                                          "sent_at": received + step * 2 * i, "status": "sent"} for i in range(200)])
    return case_id


def fill(engine: Engine, workdir: Path, total: int, seed_mails: int, events: int, now: datetime) -> str:
    """The register of the module docstring; the long case's id."""
    settings = board_settings(workdir)
    ids = fill_register(settings, engine, [m.raw for m in invent(seed_mails, seed=16)], now)
    with engine.begin() as conn:
        templates = Templates(conn, ids)
        filler = Filler(templates, now)
        while filler.count + len(ids) < total - 1:
            filler.copy(filler.count)
            if len(filler.rows[Case]) >= CHUNK:
                filler.flush(conn)
        filler.flush(conn)
        case_id = long_case(conn, templates, now, events)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    return case_id


# -- the timing ---------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(engine: Engine, workdir: Path, now: datetime) -> Iterator[int]:
    """The board on a loopback port, in a thread of this process; yields the port."""
    port = free_port()
    app = create_app(board_settings(workdir, port), secret=SECRET, engine=engine, clock=FakeClock(now))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def signed_in(engine: Engine, port: int, address: str, now: datetime) -> str:
    """The session cookie a login link for `address` gives (the token stored as the board would)."""
    token = new_token()
    with engine.begin() as conn:
        conn.execute(insert(table(LoginToken)), [dict(token_hash=token_hash(token), email=address, created_at=now,
                                                       expires_at=now + timedelta(minutes=15))])
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    client.request("GET", f"/login/{token}")
    answer = client.getresponse()
    answer.read()
    client.close()
    cookie = answer.getheader("set-cookie", "")
    assert answer.status == 303 and cookie, (answer.status, cookie)
    return cookie.split(";", 1)[0]


def timed(conn: http.client.HTTPConnection, path: str, cookie: str) -> tuple[float, str]:
    started = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie})
    answer = conn.getresponse()
    body = answer.read()
    seconds = time.perf_counter() - started
    assert answer.status == 200, (path, answer.status)
    return seconds * 1000, body.decode("utf-8")


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def pages(case_id: str, now: datetime) -> list[str]:
    since = (now - timedelta(days=90)).date().isoformat()
    return ["/register", "/register?status=all",
            "/register?" + urlencode({"status": "all", "dept": "network", "category": 3, "since": since}),
            "/register?" + urlencode({"status": "all", "q": "信号"}),
            "/register?" + urlencode({"status": "all", "q": "mt-202606"}),
            f"/cases/{case_id}", "/stats?days=365"]


def what(path: str, body: str) -> str:
    found = re.search(r"共 (\d+) 件", body) or re.search(r"接收 (\d+) 件", body)
    if path.startswith("/cases/"):
        return f"{body.count('<tr>')} table rows"
    return f"{int(found.group(1)):,} cases" if found else ""


def verdict(path: str, median: float) -> str:
    limit = next((ms for prefix, ms in TARGETS_MS.items() if path.startswith(prefix)), None)
    if limit is None:
        return ""
    return f"  target < {limit} ms: {'met' if median < limit else 'MISSED'}"


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load} (1/5/15 min)"


def measure(kind: str, engine: Engine, workdir: Path, case_id: str, now: datetime, n: int, warmup: int) -> None:
    print(f"{kind}: timing on {machine()}")
    with serving(engine, workdir, now) as port:
        for name, address in READERS:
            cookie = signed_in(engine, port, address, now)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            for path in pages(case_id, now):
                for _ in range(warmup):
                    timed(conn, path, cookie)
                runs = [timed(conn, path, cookie) for _ in range(n)]
                ms = [m for m, _ in runs]
                median = percentile(ms, 0.5)
                print(f"{kind:10s} {name} {path:70s} median {median:7.1f} ms  p95 {percentile(ms, 0.95):7.1f} ms"
                      f"  ({what(path, runs[-1][1])}){verdict(path, median)}")
                sys.stdout.flush()
            conn.close()
    print(f"{kind}: done on {machine()}")


def database_size(engine: Engine, workdir: Path) -> str:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    else:
        size = sum(p.stat().st_size for p in (workdir / "var").glob("complaintd.sqlite3*"))
    return f"{size / 2**20:,.0f} MB"


def run(kind: str, args: argparse.Namespace) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
        engine = open_engine(url)
        started = time.perf_counter()
        case_id = fill(engine, Path(tmp), args.cases, args.seed_mails, args.events, now)
        with engine.connect() as conn:
            counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                      for t in ("cases", "deadlines", "events", "inbound_mail", "outbox")}
            still_open = conn.execute(text("SELECT count(*) FROM cases WHERE status NOT IN "
                                           "('resolved', 'major', 'dismissed')")).scalar_one()
        print(f"{kind}: filled in {time.perf_counter() - started:.0f} s, {database_size(engine, Path(tmp))}: "
              + ", ".join(f"{v:,} {t}" for t, v in counts.items()) + f"; {still_open:,} cases open; "
              f"long case {case_id}")
        measure(kind, engine, Path(tmp), case_id, now, args.n, args.warmup)
        engine.dispose()


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir}/var/complaintd.sqlite3"
    else:
        with fresh_database("bench_web") as url:
            yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases in the register (default 100000)")
    parser.add_argument("--seed-mails", type=int, default=300, help="complaints through the real intake (default 300)")
    parser.add_argument("--events", type=int, default=500, help="log lines of the long case (default 500)")
    parser.add_argument("-n", type=int, default=20, help="timed requests per page and reader (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests first (default 3)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    print(f"board: {args.cases:,} cases ({args.seed_mails} through the intake), a case with {args.events} log lines; "
          f"{args.warmup} + {args.n} requests per page and reader; {machine()}")
    for kind in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        try:
            run(kind, args)
        except Exception as exc:  # a benchmark prints what it can; the next database still runs
            print(f"{kind}: the run failed: {type(exc).__name__}: {exc}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
