"""The board's figures as the database computes them, against the same figures worked out in
Python from every case (models/statistics.py, the register order by its definition), on SQLite
and PostgreSQL, over a register in every state: open and closed, clocks met, breached, met late
or after `now`, cases outside the period, without category or outlet."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from daemon.config import Settings
from daemon.export import case_facts
from daemon.store import open_engine
from daemon.web import queries
from daemon.web.queries import Filters
from models.statistics import CaseFacts, register_statistics
from models.tables import Case, Deadline
from models.types import CaseStatus, DeadlineKind
from models.visibility import Scope, may_see, scope_of
from tests.support.invented_complaints import invent
from tests.support.postgres import empty_database
from tests.support.web import board_settings, fill_register

pytestmark = pytest.mark.integration

NOWHERE = datetime.fromisoformat("2000-01-01T00:00:00+00:00")  # any time: the key of no clock
READERS = ("liu.gd@corp.example.com", "zhang.net@corp.example.com", "chen.am@corp.example.com")


@dataclasses.dataclass
class Register:
    engine: Engine
    settings: Settings
    now: datetime


@pytest.fixture(params=["sqlite", "postgresql"])
def register(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Register]:
    """60 invented complaints through the intake, then spread over 400 days and given every state."""
    settings = board_settings(tmp_path)
    with empty_database(request.param, tmp_path) as url:
        engine = open_engine(url)
        now = datetime.fromisoformat("2026-11-30T03:00:00+00:00")
        fill_register(settings, engine, [m.raw for m in invent(60, seed=5)], now)
        scatter(engine, now, random.Random(5))
        yield Register(engine, settings, now)
        engine.dispose()


def scatter(engine: Engine, now: datetime, rng: random.Random) -> None:
    """Every case moved back up to 400 days (a few to the same instant), and its state drawn."""
    with Session(engine) as db:
        cases = list(db.exec(select(Case)).all())
        for n, c in enumerate(cases):
            by = timedelta(seconds=rng.choice((0, 3600, rng.uniform(0, 400 * 86400))))
            c.received_at = now - timedelta(hours=2) - by if n % 7 else cases[0].received_at
            c.status = rng.choice(list(CaseStatus))
            c.category = rng.choice((1, 2, 3, 4, 5, None))
            c.media_outlet = rng.choice(("江城晚报", "江城电视台", "扬子晚报", None, ""))
            c.receiving_dept = rng.choice(("network", "marketing", "customer_service", "general_dept"))
            c.resolved_at = c.received_at + timedelta(hours=rng.uniform(1, 900)) if c.status.closed else None
            for d in db.exec(select(Deadline).where(Deadline.case_id == c.id)).all():
                d.due_at = c.received_at + timedelta(minutes=rng.uniform(20, 5000))
                d.met_at = c.received_at + timedelta(minutes=rng.uniform(5, 6000)) if rng.random() < 0.6 else None
                d.breached_at = d.due_at if rng.random() < 0.4 else None
                db.add(d)
            db.add(Deadline(case_id=c.id, kind=DeadlineKind.ACK, round=0, target=f"ack/0/{READERS[1]}",
                            due_at=now + timedelta(minutes=30), met_at=None if n % 2 else now))
            db.add(c)
        db.commit()


def everything(engine: Engine, scope: Scope) -> list[tuple[Case, tuple[Deadline, ...]]]:
    with Session(engine) as db:
        cases = [c for c in db.exec(select(Case)).all() if may_see(scope, c.receiving_dept, c.media_outlet)]
        clocks: dict[str, list[Deadline]] = {}
        for d in db.exec(select(Deadline).order_by(Deadline.due_at, Deadline.id)).all():  # type: ignore[arg-type]
            clocks.setdefault(d.case_id, []).append(d)
    return [(c, tuple(clocks.get(c.id, ()))) for c in cases]


def expected_weekly(facts: list[CaseFacts], since: datetime, now: datetime, tz: ZoneInfo,
                    figures: queries.Board) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    first = since.astimezone(tz).date()
    first -= timedelta(days=first.weekday())
    count = (now.astimezone(tz).date() - first).days // 7 + 1
    assert len(figures.weeks) == count and figures.weeks[0] == f"{first:%m-%d}"

    def index(f: CaseFacts) -> int:
        return min(count - 1, max(0, (f.received_at.astimezone(tz).date() - first).days // 7))

    def spread(key: Counter[tuple[str, int]]) -> dict[str, tuple[int, ...]]:
        return {n: tuple(key[(n, i)] for i in range(count)) for n in sorted({k for k, _ in key})}

    return (spread(Counter((str(f.category) if f.category else "待定", index(f)) for f in facts)),
            spread(Counter((f.receiving_dept, index(f)) for f in facts)))


def expected_on_time(facts: list[CaseFacts], now: datetime) -> tuple[tuple[str, int, int], ...]:
    decided: Counter[str] = Counter()
    on_time: Counter[str] = Counter()
    for f in facts:
        for d in f.deadlines:
            if d.kind != DeadlineKind.ACK and d.decided_at is not None and d.decided_at <= now:
                decided[d.kind] += 1
                on_time[d.kind] += d.on_time
    return tuple((str(k), decided[k], on_time[k]) for k in DeadlineKind if decided[k])


@pytest.mark.parametrize("days", queries.PERIODS)
def test_statistics_equal_the_figures_worked_out_from_every_case(register: Register, days: int) -> None:
    """Counts, weekly series, durations (median, 90 %) and on-time rates equal the pure
    statistics over every case the reader sees, for each period and reader."""
    engine, now, settings = register.engine, register.now, register.settings
    tz = settings.daemon.timezone
    since = now - timedelta(days=days)
    for reader in READERS:
        scope = scope_of(reader, settings.directory)
        rows = everything(engine, scope)
        facts = [case_facts(c, d) for c, d in rows if c.received_at >= since]
        figures = queries.board_statistics(engine, scope, days, now, tz)
        assert figures.statistics == register_statistics(facts, since, now)
        assert (figures.by_category, figures.by_department) == expected_weekly(facts, since, now, tz, figures)
        assert figures.on_time == expected_on_time(facts, now)
        overdue = [c for c, d in rows if not c.status.closed
                   and any(x.met_at is None and x.due_at <= now for x in d)]
        assert figures.overdue_now == len(overdue)


def register_order(rows: list[tuple[Case, tuple[Deadline, ...]]]) -> list[str]:
    """The next open clock first (ack windows aside), the cases without one after, newest first."""
    def next_due(clocks: tuple[Deadline, ...]) -> datetime | None:
        due = [d.due_at for d in clocks if d.met_at is None and d.breached_at is None and d.kind != DeadlineKind.ACK]
        return min(due) if due else None

    keyed = sorted(((c, next_due(d)) for c, d in rows), key=lambda r: r[0].id, reverse=True)
    keyed.sort(key=lambda r: r[0].received_at, reverse=True)
    keyed.sort(key=lambda r: (r[1] is None, r[1] or NOWHERE))  # stable: the newest first stay so
    return [c.id for c, _ in keyed]


def mentions(case: Case, text: str) -> bool:
    """The search's match: any of the five fields holds `text`, ASCII case aside."""
    fields = (case.id, case.media_outlet, case.reporter_name, case.complaint_text, case.original_subject)
    return any(text.lower() in (v or "").lower() for v in fields)


@pytest.mark.parametrize("how", ["as_chosen", "sorted", "walked"])
def test_register_pages_follow_the_register_order_however_read(register: Register, how: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Page after page, the cases come in the register's order with none lost or repeated,
    whether a page is read by sorting every match or by walking the received_at index."""
    engine, now, settings = register.engine, register.now, register.settings
    if how == "sorted":
        monkeypatch.setattr(queries, "SORTED_AT_ONCE", 10**9)
    elif how == "walked":
        monkeypatch.setattr(queries, "SORTED_AT_ONCE", 0)
        monkeypatch.setattr(queries, "WALKED_UP_TO", 10**9)
    tz = settings.daemon.timezone
    for reader in READERS:
        scope = scope_of(reader, settings.directory)
        rows = everything(engine, scope)
        for f, keep in ((Filters(status="all"), lambda c: True), (Filters(status="open"), lambda c: not c.status.closed),
                        (Filters(status="all", q="江城"), lambda c: mentions(c, "江城")),
                        (Filters(status="all", q="mt-2026"), lambda c: mentions(c, "mt-2026"))):
            expected = register_order([(c, d) for c, d in rows if keep(c)])
            first = queries.register_page(engine, scope, f, now, tz, page_size=7)
            assert first.total == len(expected)
            seen = [r.case.id for p in range(1, first.pages + 1) for r in queries.register_page(
                engine, scope, dataclasses.replace(f, page=p), now, tz, page_size=7).rows]
            assert seen == expected
        last = queries.register_page(engine, scope, Filters(status="all", page=999), now, tz, page_size=7)
        assert last.page == last.pages and [r.case.id for r in last.rows] == register_order(rows)[(last.pages - 1) * 7:]
