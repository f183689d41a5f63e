"""What the board reads: the register filtered, sorted by the next clock and paged; one case
with its mails; the statistics of a period. Read-only, through the store's sessions; every
query is limited to what the reader's Scope (models/visibility.py) lets them see."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Boolean, Select, and_, case, exists, func, literal, literal_column, or_
from sqlalchemy import select as sa_select  # rows of several columns, typed as rows
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, col, select

from daemon.export import day_start
from daemon.queries import CaseRecord, all_clocks, load_case
from daemon.store import session
from models.statistics import Durations, Statistics
from models.tables import Case, Deadline, InboundMail, Outbox
from models.types import CLOSED_STATUSES, AckTarget, DeadlineKind, InboundStatus
from models.visibility import Scope, may_see

PAGE_SIZE = 50
STATUSES = ("open", "overdue", "closed", "all")
PERIODS = (30, 90, 365)
_Query = TypeVar("_Query", bound="Select[*tuple[Any, ...]]")  # any select: _where keeps its columns
SORTED_AT_ONCE = 5000  # up to this many matches, a page is had by sorting them all (see `_page`)
WALKED_UP_TO = 1000  # past this many cases, a page of a larger register is sorted too


@dataclass(frozen=True)
class Filters:
    """The register's filters, as the query string gives them."""

    status: str = "open"
    dept: str = ""
    outlet: str = ""
    category: int | None = None
    since: date | None = None
    until: date | None = None
    q: str = ""
    page: int = 1


@dataclass(frozen=True)
class RegisterRow:
    case: Case
    next: Deadline | None  # the earliest clock neither met nor breached (ack windows aside)
    awaited: tuple[str, ...]  # addresses whose answer an open ack window waits for


@dataclass(frozen=True)
class RegisterPage:
    rows: tuple[RegisterRow, ...]
    total: int
    page: int
    pages: int


def _next_due() -> Any:
    return (select(Deadline.case_id, func.min(Deadline.due_at).label("next_due"))
            .where(Deadline.met_at.is_(None), Deadline.breached_at.is_(None))  # type: ignore[union-attr]
            .where(Deadline.kind != DeadlineKind.ACK)
            .group_by(Deadline.case_id).subquery())


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(column: Any, pattern: str) -> Any:
    """`column` matches the LIKE `pattern` (backslash escapes), ignoring case. A pattern with no
    letter that has case (Chinese, digits) needs no case folding: plain LIKE is the same match,
    and on PostgreSQL a third of ILIKE's cost over 100,000 cases."""
    if pattern.lower() == pattern.upper():
        return column.like(pattern, escape="\\")
    return _IgnoringCase(column, literal(pattern))


class _IgnoringCase(FunctionElement[bool]):
    """ILIKE; on SQLite plain LIKE, which ignores ASCII case just as lower() does (neither
    knows any other), at half the cost of lower() on both sides."""

    type = Boolean()
    inherit_cache = True


@compiles(_IgnoringCase)
def _ilike(element: _IgnoringCase, compiler: Any, **kw: Any) -> str:
    column, pattern = element.clauses
    return str(compiler.process(column.ilike(pattern, escape="\\"), **kw))


@compiles(_IgnoringCase, "sqlite")
def _sqlite_like(element: _IgnoringCase, compiler: Any, **kw: Any) -> str:
    column, pattern = element.clauses
    return str(compiler.process(column.like(pattern, escape="\\"), **kw))


def _where(query: _Query, scope: Scope, f: Filters, now: datetime, tz: ZoneInfo) -> _Query:
    closed = list(CLOSED_STATUSES)
    if not scope.everything:
        query = query.where(or_(Case.receiving_dept.in_(scope.departments),  # type: ignore[attr-defined]
                                Case.media_outlet.in_(scope.outlets)))  # type: ignore[union-attr]
    if f.status in ("open", "overdue"):
        query = query.where(Case.status.not_in(closed))  # type: ignore[attr-defined]
    elif f.status == "closed":
        query = query.where(Case.status.in_(closed))  # type: ignore[attr-defined]
    if f.status == "overdue":
        query = query.where(exists().where(and_(
            col(Deadline.case_id) == col(Case.id), col(Deadline.met_at).is_(None), col(Deadline.due_at) <= now)))
    if f.dept:
        query = query.where(col(Case.receiving_dept) == f.dept)
    if f.outlet:
        query = query.where(col(Case.media_outlet) == f.outlet)
    if f.category is not None:
        query = query.where(col(Case.category) == f.category)
    if f.since is not None:
        query = query.where(col(Case.received_at) >= day_start(f.since, tz))
    if f.until is not None:
        query = query.where(col(Case.received_at) < day_start(f.until + timedelta(days=1), tz))
    if f.q.strip():
        pattern = _like(f.q.strip())
        query = query.where(or_(*(_contains(col(column), pattern) for column in (
            Case.id, Case.media_outlet, Case.reporter_name, Case.complaint_text, Case.original_subject))))
    return query


def register_page(engine: Engine, scope: Scope, f: Filters, now: datetime, tz: ZoneInfo,
                  page_size: int = PAGE_SIZE) -> RegisterPage:
    """One page of the register: the cases in scope that pass the filters, the next clock first
    (cases with no open clock after, newest first)."""
    with session(engine) as db:
        total, page, ids = _page(db, scope, f, now, tz, page_size)
        found = {c.id: c for c in db.exec(select(Case).where(col(Case.id).in_(ids)))}
        cases = [found[i] for i in ids]
        nexts, awaited = _open_clocks(db, ids)
    rows = tuple(RegisterRow(c, nexts.get(c.id), tuple(awaited.get(c.id, ()))) for c in cases)
    return RegisterPage(rows, total, page, -(-total // page_size) or 1)


def _page(db: Session, scope: Scope, f: Filters, now: datetime, tz: ZoneInfo,
          page_size: int) -> tuple[int, int, list[str]]:
    """How many cases match, the page number (the last when `f.page` is past it), its ids.

    A text search reads every case in scope anyway, so one query counts the matches and sorts
    them. Otherwise the count comes first; up to SORTED_AT_ONCE matches are sorted in one query,
    and the first pages of more are read as two runs (`_walked_ids`): sorting 100,000 cases for
    a page of 50 took half a second. A page past WALKED_UP_TO cases is sorted again: the walk
    there would read, case by case, more than the sort does."""
    if f.q.strip():
        total, ids = _sorted_ids(db, scope, f, now, tz, max(1, f.page), page_size)
        if ids or f.page <= 1:
            return total, max(1, f.page), ids
    total = db.exec(select(func.count()).select_from(_where(select(Case.id), scope, f, now, tz).subquery())).one()
    page = min(max(1, f.page), -(-total // page_size) or 1)
    if total <= SORTED_AT_ONCE or (page - 1) * page_size >= WALKED_UP_TO:
        return total, page, _sorted_ids(db, scope, f, now, tz, page, page_size)[1]
    return total, page, _walked_ids(db, scope, f, now, tz, (page - 1) * page_size, page_size)


def _sorted_ids(db: Session, scope: Scope, f: Filters, now: datetime, tz: ZoneInfo, page: int,
                page_size: int) -> tuple[int, list[str]]:
    """Every match sorted in one query, with their count; the ids of page `page`."""
    nxt = _next_due()
    query = _where(sa_select(col(Case.id), func.count().over()).outerjoin(nxt, nxt.c.case_id == Case.id), scope, f, now, tz)
    rows = db.execute(query.order_by(case((nxt.c.next_due.is_(None), 1), else_=0), nxt.c.next_due,
                                     col(Case.received_at).desc(), col(Case.id).desc())
                      .offset((page - 1) * page_size).limit(page_size)).all()
    return (rows[0][1] if rows else 0), [case_id for case_id, _ in rows]


def _walked_ids(db: Session, scope: Scope, f: Filters, now: datetime, tz: ZoneInfo, offset: int,
                limit: int) -> list[str]:
    """The ids of one page, in the register's order, as two runs: the cases with an open clock
    (the open ones: a few thousand at most) by that clock, then the others newest first, along
    the received_at index (ix_cases_received), which stops once the page is full."""
    nxt = _next_due()
    clocked = _where(select(Case.id).join(nxt, nxt.c.case_id == Case.id), scope, f, now, tz)
    ids = list(db.scalars(clocked.order_by(nxt.c.next_due, col(Case.received_at).desc(), col(Case.id).desc())
                          .offset(offset).limit(limit)).all())
    if len(ids) == limit:
        return ids
    before = offset - db.exec(select(func.count()).select_from(clocked.subquery())).one() if offset else 0
    rest = _where(select(Case.id), scope, f, now, tz).where(~exists().where(and_(
        col(Deadline.case_id) == col(Case.id), col(Deadline.met_at).is_(None), col(Deadline.breached_at).is_(None),
        col(Deadline.kind) != DeadlineKind.ACK)))
    ids += db.scalars(rest.order_by(col(Case.received_at).desc(), col(Case.id).desc())
                      .offset(max(0, before)).limit(limit - len(ids))).all()
    return ids


def _open_clocks(db: Session, ids: Sequence[str]) -> tuple[dict[str, Deadline], dict[str, list[str]]]:
    """Per case: its next open clock, and who its open ack windows wait for."""
    nexts: dict[str, Deadline] = {}
    awaited: dict[str, list[str]] = {}
    if not ids:
        return nexts, awaited
    query = (select(Deadline).where(Deadline.case_id.in_(ids))  # type: ignore[attr-defined]
             .where(Deadline.met_at.is_(None), Deadline.breached_at.is_(None))  # type: ignore[union-attr]
             .order_by(Deadline.due_at, Deadline.id))  # type: ignore[arg-type]
    for d in db.exec(query):
        if d.kind == DeadlineKind.ACK:
            address = AckTarget.parse(d.target).address if d.target else ""
            if address and address not in awaited.setdefault(d.case_id, []):
                awaited[d.case_id].append(address)
        else:
            nexts.setdefault(d.case_id, d)
    return nexts, awaited


def matching_register(engine: Engine, scope: Scope, f: Filters, now: datetime,
                      tz: ZoneInfo) -> list[tuple[Case, tuple[Deadline, ...]]]:
    """Every case the filters match (no paging), oldest first, with all its clocks: the export."""
    query = _where(select(Case), scope, f, now, tz).order_by(Case.received_at, Case.id)  # type: ignore[arg-type]
    with session(engine) as db:
        cases = list(db.exec(query).all())
        clocks = all_clocks(db, [c.id for c in cases])
    return [(c, clocks.get(c.id, ())) for c in cases]


# -- one case -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class MailLine:
    """A mail in or out of a case, for its log: who, when, Message-ID, what became of it."""

    at: datetime
    direction: str  # "in" or "out"
    who: str
    subject: str
    message_id: str
    state: str  # an InboundStatus or OutboxStatus value
    error: str = ""


def visible_case(engine: Engine, scope: Scope, case_id: str) -> CaseRecord | None:
    """The case with its clocks and log; None when there is none or `scope` may not see it."""
    record = load_case(engine, case_id)
    if record is None or not may_see(scope, record.case.receiving_dept, record.case.media_outlet):
        return None
    return record


def case_mails(engine: Engine, case_id: str) -> list[MailLine]:
    """Every mail recorded for the case, in time order (the raw bytes are not read)."""
    with session(engine) as db:
        inbound = db.execute(sa_select(col(InboundMail.seen_at), col(InboundMail.sender), col(InboundMail.subject),
                                       col(InboundMail.message_id), col(InboundMail.status))
                             .where(col(InboundMail.case_id) == case_id)).all()
        outbound = db.execute(sa_select(col(Outbox.created_at), col(Outbox.sent_at), col(Outbox.recipient),
                                        col(Outbox.subject), col(Outbox.message_id), col(Outbox.status),
                                        col(Outbox.last_error))
                              .where(col(Outbox.case_id) == case_id)).all()
    lines = [MailLine(at, "in", sender or "", subject or "", mid or "", str(status))
             for at, sender, subject, mid, status in inbound]
    lines += [MailLine(sent or created, "out", to, subject, mid, str(status), error or "")
              for created, sent, to, subject, mid, status, error in outbound]
    return sorted(lines, key=lambda m: m.at)


def original_mail(engine: Engine, case_id: str) -> bytes | None:
    """The raw bytes of the mail the case was registered from."""
    with session(engine) as db:
        return db.exec(select(InboundMail.raw).where(InboundMail.case_id == case_id)
                       .where(InboundMail.status == InboundStatus.REGISTERED)
                       .order_by(InboundMail.seen_at).limit(1)).first()  # type: ignore[arg-type]


# -- statistics ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Board:
    """The statistics page's figures for a period."""

    days: int
    statistics: Statistics
    weeks: tuple[str, ...]  # the weeks' Mondays, "MM-DD", oldest first
    by_category: dict[str, tuple[int, ...]]  # category (as text) → cases per week
    by_department: dict[str, tuple[int, ...]]  # department id → cases per week
    on_time: tuple[tuple[str, int, int], ...]  # clock kind, decided, on time
    overdue_now: int


def board_statistics(engine: Engine, scope: Scope, days: int, now: datetime, tz: ZoneInfo) -> Board:
    """The figures of the cases in scope received in the last `days` days, as they stood at `now`.

    The database counts and groups; of each case only the spans the durations' percentiles
    need come back, as whole microseconds. The figures are models/statistics.py's over every
    case (tests/integration/test_web_figures.py compares them), which, computed from every
    case and clock loaded, took 35 s at 100,000 cases."""
    since = now - timedelta(days=days)
    weeks, starts = _weeks(since, now, tz)
    in_scope = Filters(status="all")
    with session(engine) as db:
        groups = db.execute(_where(_grouped(starts, now), scope, in_scope, now, tz)
                            .where(col(Case.received_at) >= since)).all()
        outlets = db.execute(_where(sa_select(col(Case.media_outlet), func.count()), scope, in_scope, now, tz)
                             .where(col(Case.received_at) >= since, col(Case.received_at) <= now)
                             .group_by(col(Case.media_outlet))).all()
        clocks = db.execute(_clocks_decided(_where(sa_select(col(Case.id)), scope, in_scope, now, tz)
                                            .where(col(Case.received_at) >= since), now)).all()
        spans = db.execute(_where(_spans(now), scope, in_scope, now, tz)
                           .where(col(Case.received_at) >= since, col(Case.received_at) <= now)).all()
        overdue = db.exec(select(func.count()).select_from(
            _where(select(Case.id), scope, Filters(status="overdue"), now, tz).subquery())).one()
    by_category: Counter[tuple[str, int]] = Counter()
    by_department: Counter[tuple[str, int]] = Counter()
    period: dict[str, Counter[Any]] = {"category": Counter(), "dept": Counter(), "status": Counter()}
    for week, category, dept, status, in_period, n in groups:
        by_category[(str(category) if category else "待定", week)] += n
        by_department[(dept, week)] += n
        if in_period:
            period["category"][category] += n
            period["dept"][dept] += n
            period["status"][status] += n
    by_outlet: Counter[str | None] = Counter()
    for outlet, n in outlets:
        by_outlet[outlet or None] += n
    statistics = Statistics(
        since=since, until=now, cases=period["status"].total(),
        closed=sum(n for status, n in period["status"].items() if status in CLOSED_STATUSES),
        by_category=_ranked(period["category"]), by_department=_ranked(period["dept"]),
        by_outlet=_ranked(by_outlet), by_status=_ranked(period["status"]),
        to_assessment=_durations(spans, 0), to_account_manager=_durations(spans, 1),
        to_general_dept=_durations(spans, 2), to_resolution=_durations(spans, 3),
        deadlines_decided=sum(decided for _, in_period, decided, _ in clocks if in_period),
        deadlines_on_time=sum(on_time for _, in_period, _, on_time in clocks if in_period))
    return Board(days, statistics, weeks, _spread(by_category, len(weeks)), _spread(by_department, len(weeks)),
                 _on_time(clocks), overdue)


def _weeks(since: datetime, now: datetime, tz: ZoneInfo) -> tuple[tuple[str, ...], list[datetime]]:
    """The local weeks (Monday first) from the one holding `since` to the one holding `now`:
    their Mondays as "MM-DD", and when each but the first begins, in UTC."""
    first = since.astimezone(tz).date()
    first -= timedelta(days=first.weekday())
    count = (now.astimezone(tz).date() - first).days // 7 + 1
    labels = tuple(f"{first + timedelta(weeks=i):%m-%d}" for i in range(count))
    return labels, [day_start(first + timedelta(weeks=i), tz) for i in range(1, count)]


def _week_of(column: Any, starts: Sequence[datetime]) -> Any:
    """The index of the week `column` falls in: how many of `starts` are at or before it (the
    first week holds anything earlier, the last anything later). A balanced tree of CASEs:
    for a year, six comparisons a case instead of up to 53."""
    def within(low: int, high: int) -> Any:
        if low == high:
            return literal_column(str(low))
        middle = (low + high + 1) // 2
        return case((column < starts[middle - 1], within(low, middle - 1)), else_=within(middle, high))
    return within(0, len(starts))


def _grouped(starts: Sequence[datetime], now: datetime) -> Select[*tuple[Any, ...]]:
    """Cases counted by week, category, department, status, and whether received by `now`."""
    week = _week_of(col(Case.received_at), starts).label("week")
    in_period = (col(Case.received_at) <= now).label("in_period")
    columns = (week, col(Case.category), col(Case.receiving_dept), col(Case.status), in_period)
    return sa_select(*columns, func.count()).group_by(*columns)


def _clocks_decided(cases: Select[*tuple[Any, ...]], now: datetime) -> Select[*tuple[Any, ...]]:
    """Per clock kind (ack windows aside) and whether the case was received by `now`: the clocks
    of `cases` (a select of ids) met or breached by `now`, and how many were met by their due
    time. The cases are a set the clocks are looked up in, not a join: SQLite, left to choose,
    read every clock and then its case, 2.5 s at 100,000 cases instead of 0.7 s."""
    later = sa_select(col(Case.id)).where(col(Case.received_at) > now)  # none, as a rule
    in_period = col(Deadline.case_id).not_in(later).label("in_period")
    decided = or_(col(Deadline.met_at) <= now, col(Deadline.breached_at) <= now)
    on_time = func.sum(case((col(Deadline.met_at) <= col(Deadline.due_at), 1), else_=0))
    return (sa_select(col(Deadline.kind), in_period, func.count(), on_time)
            .where(col(Deadline.case_id).in_(cases), col(Deadline.kind) != DeadlineKind.ACK, decided)
            .group_by(col(Deadline.kind), in_period))


def _spans(now: datetime) -> Select[*tuple[Any, ...]]:
    """Per case, in microseconds from received_at, each step reached by `now` (else NULL): the
    assessment (its round-0 clock met), the account manager and 综合部 (met, else breached),
    the resolution."""
    def clock(kind: DeadlineKind) -> Any:
        return aliased(Deadline, name=f"clock_{kind.value}")

    assess, manager, general = (clock(k) for k in (
        DeadlineKind.ASSESS, DeadlineKind.ACCOUNT_MANAGER, DeadlineKind.GENERAL_DEPT))

    def done(d: Any) -> Any:  # met, or breached, whichever came first
        return case((and_(d.met_at.is_not(None), or_(d.breached_at.is_(None), d.met_at <= d.breached_at)),
                     d.met_at), else_=d.breached_at)

    def span(at: Any) -> Any:
        return case((at <= now, _Microseconds(at, col(Case.received_at))))

    query = sa_select(span(assess.met_at), span(done(manager)), span(done(general)), span(col(Case.resolved_at)))
    for d, kind in ((assess, DeadlineKind.ASSESS), (manager, DeadlineKind.ACCOUNT_MANAGER),
                    (general, DeadlineKind.GENERAL_DEPT)):
        query = query.outerjoin(d, and_(d.case_id == col(Case.id), d.kind == kind, d.round == 0))
    return query.select_from(Case)


class _Microseconds(FunctionElement[int]):
    """Whole microseconds from the second time to the first, exact: no float on the way."""

    type = BigInteger()
    inherit_cache = True


@compiles(_Microseconds)
def _interval_micros(element: _Microseconds, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({later}) - ({earlier})) * 1000000 AS BIGINT)"


@compiles(_Microseconds, "sqlite")
def _sqlite_micros(element: _Microseconds, compiler: Any, **kw: Any) -> str:
    # SQLite holds UTCDateTime as text, 'YYYY-MM-DD HH:MM:SS.ffffff': whole seconds from
    # strftime, microseconds from the six digits after the dot (none: 0).
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return (f"((CAST(strftime('%s', {later}) AS INTEGER) - CAST(strftime('%s', {earlier}) AS INTEGER)) * 1000000"
            f" + CAST(substr({later}, 21, 6) AS INTEGER) - CAST(substr({earlier}, 21, 6) AS INTEGER))")


def _durations(spans: Sequence[Any], step: int) -> Durations:
    """models.statistics.summarize of one step's spans, worked on the whole microseconds as
    they come: 100,000 timedeltas made and sorted cost 0.2 s a step."""
    ordered = sorted(row[step] for row in spans if row[step] is not None)
    if not ordered:
        return Durations()
    return Durations(len(ordered), _percentile(ordered, Fraction(1, 2)), _percentile(ordered, Fraction(9, 10)))


def _percentile(ordered: Sequence[int], p: Fraction) -> timedelta:
    """models.statistics.percentile (linear, inclusive, exact) of sorted microseconds."""
    rank = (len(ordered) - 1) * p
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return timedelta(microseconds=round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low)))


def _ranked(counts: Counter[Any]) -> tuple[tuple[Any, int], ...]:
    """(key, count), most first; equal counts in key order, None (unknown) last: the order of
    models/statistics.py."""
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0] is None, item[0])))


def _spread(counts: Counter[tuple[str, int]], weeks: int) -> dict[str, tuple[int, ...]]:
    """Name → its count in each week, names in order."""
    return {name: tuple(counts[(name, i)] for i in range(weeks)) for name in sorted({n for n, _ in counts})}


def _on_time(clocks: Sequence[Any]) -> tuple[tuple[str, int, int], ...]:
    """Per clock kind, in DeadlineKind's order: decided, on time (every case since the start)."""
    decided: Counter[str] = Counter()
    on_time: Counter[str] = Counter()
    for kind, _, n, met in clocks:
        decided[kind] += n
        on_time[kind] += met
    return tuple((str(k), decided[k], on_time[k]) for k in DeadlineKind if decided[k])
