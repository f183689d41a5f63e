"""What the board reads: the register filtered, sorted by the next clock and paged; one case
with its mails; the statistics of a period. Read-only, through the store's sessions; every
query is limited to what the reader's Scope (models/visibility.py) lets them see."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, Select, and_, case, exists, func, literal, or_
from sqlalchemy import select as sa_select  # rows of several columns, typed as rows
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, col, select

from daemon.export import case_facts, day_start
from daemon.queries import CaseRecord, load_case
from daemon.store import session
from models.statistics import CaseFacts, Statistics, register_statistics
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


def all_clocks(db: Session, ids: Sequence[str], chunk: int = 500) -> dict[str, tuple[Deadline, ...]]:
    """Every clock of the given cases, in chunks (SQLite caps the parameters of a query)."""
    found: dict[str, list[Deadline]] = {}
    for i in range(0, len(ids), chunk):
        query = (select(Deadline).where(Deadline.case_id.in_(ids[i:i + chunk]))  # type: ignore[attr-defined]
                 .order_by(Deadline.due_at, Deadline.id))  # type: ignore[arg-type]
        for d in db.exec(query):
            found.setdefault(d.case_id, []).append(d)
    return {k: tuple(v) for k, v in found.items()}


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
    since = now - timedelta(days=days)
    query = _where(select(Case), scope, Filters(status="all"), now, tz).where(
        col(Case.received_at) >= since)
    with session(engine) as db:
        cases = list(db.exec(query).all())
        clocks = all_clocks(db, [c.id for c in cases])
        overdue = db.exec(select(func.count()).select_from(
            _where(select(Case.id), scope, Filters(status="overdue"), now, tz).subquery())).one()
    facts = [case_facts(c, clocks.get(c.id, ())) for c in cases]
    weeks, by_category, by_department = weekly(facts, since, now, tz)
    return Board(days, register_statistics(facts, since, now), weeks, by_category, by_department,
                 on_time_by_clock(facts, now), overdue)


def weekly(facts: Sequence[CaseFacts], since: datetime, now: datetime,
           tz: ZoneInfo) -> tuple[tuple[str, ...], dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """Cases per local week (Monday first), by category and by receiving department."""
    first = since.astimezone(tz).date()
    first -= timedelta(days=first.weekday())
    count = (now.astimezone(tz).date() - first).days // 7 + 1
    weeks = tuple(f"{first + timedelta(weeks=i):%m-%d}" for i in range(count))

    def index(f: CaseFacts) -> int:
        return min(count - 1, max(0, (f.received_at.astimezone(tz).date() - first).days // 7))

    def spread(key: Counter[tuple[str, int]]) -> dict[str, tuple[int, ...]]:
        names = sorted({k for k, _ in key})
        return {n: tuple(key[(n, i)] for i in range(count)) for n in names}

    categories = Counter((str(f.category) if f.category else "待定", index(f)) for f in facts)
    departments = Counter((f.receiving_dept, index(f)) for f in facts)
    return weeks, spread(categories), spread(departments)


def on_time_by_clock(facts: Sequence[CaseFacts], now: datetime) -> tuple[tuple[str, int, int], ...]:
    """Per clock kind (ack windows aside): how many were decided by `now`, how many met on time."""
    decided: Counter[str] = Counter()
    on_time: Counter[str] = Counter()
    for f in facts:
        for d in f.deadlines:
            if d.kind == DeadlineKind.ACK or d.decided_at is None or d.decided_at > now:
                continue
            decided[d.kind] += 1
            on_time[d.kind] += d.on_time
    return tuple((str(k), decided[k], on_time[k]) for k in DeadlineKind if decided[k])
