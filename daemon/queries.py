"""The register's read queries: snapshots of cases, their clocks and event logs, detached
from the session for the CLI, the views and the reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from daemon.store import session
from models.tables import Case, Deadline, Event
from models.types import CLOSED_STATUSES, DeadlineKind


@dataclass(frozen=True)
class CaseRecord:
    """One case with its clocks and its event log, detached from the session."""

    case: Case
    deadlines: tuple[Deadline, ...]
    events: tuple[Event, ...]


STATUS_FILTERS = ("open", "overdue", "closed", "all")


def list_cases(engine: Engine, status: str, now: datetime) -> list[tuple[Case, Deadline | None]]:
    """Cases for `complaintd cases`, newest first, each with what comes next: its earliest
    open clock (none on a closed case). `overdue`: the open cases that have missed a deadline,
    whether the pass has acted on it (breached) or not yet."""
    closed = list(CLOSED_STATUSES)
    with session(engine) as db:
        query = select(Case).order_by(Case.registered_at.desc(), Case.id.desc())  # type: ignore[attr-defined]
        if status in ("open", "overdue"):
            query = query.where(Case.status.not_in(closed))  # type: ignore[attr-defined]
        elif status == "closed":
            query = query.where(Case.status.in_(closed))  # type: ignore[attr-defined]
        cases = list(db.exec(query))
        if status == "overdue":
            missed = next_deadlines(db, [c.id for c in cases])
            cases = [c for c in cases if c.id in missed and missed[c.id].due_at <= now]
        nexts = next_deadlines(db, [c.id for c in cases if c.status not in closed], still_open=True)
    return [(c, nexts.get(c.id)) for c in cases]


def next_deadlines(db: Session, case_ids: Sequence[str], *, still_open: bool = False) -> dict[str, Deadline]:
    """Each case's earliest clock not yet met: a breached one counts, so a case whose earliest
    is due has missed a deadline. `still_open` looks only at clocks neither met nor breached,
    leaving out ack windows: what is next to happen, as `cases` and the digest show it."""
    found: dict[str, Deadline] = {}
    if not case_ids:
        return found
    query = (
        select(Deadline)
        .where(Deadline.case_id.in_(case_ids))  # type: ignore[attr-defined]
        .where(Deadline.met_at.is_(None))  # type: ignore[union-attr]
        .order_by(Deadline.due_at)  # type: ignore[arg-type]
    )
    if still_open:
        query = query.where(Deadline.breached_at.is_(None), Deadline.kind != DeadlineKind.ACK)  # type: ignore[union-attr]
    for deadline in db.exec(query):
        found.setdefault(deadline.case_id, deadline)
    return found


def load_case(engine: Engine, case_id: str) -> CaseRecord | None:
    with session(engine) as db:
        case = db.get(Case, case_id)
        if case is None:
            return None
        deadlines = db.exec(
            select(Deadline).where(Deadline.case_id == case_id)
            .order_by(Deadline.due_at, Deadline.id)  # type: ignore[arg-type]
        ).all()
        events = db.exec(
            select(Event).where(Event.case_id == case_id).order_by(Event.at, Event.id)  # type: ignore[arg-type]
        ).all()
    return CaseRecord(case, tuple(deadlines), tuple(events))


def all_clocks(db: Session, ids: Sequence[str], chunk: int = 500) -> dict[str, tuple[Deadline, ...]]:
    """Every clock of the given cases, in due order, read in chunks (SQLite caps the
    parameters of a query): the export and the board's export of a filter."""
    found: dict[str, list[Deadline]] = {}
    for i in range(0, len(ids), chunk):
        query = (select(Deadline).where(col(Deadline.case_id).in_(ids[i:i + chunk]))
                 .order_by(col(Deadline.due_at), col(Deadline.id)))
        for d in db.exec(query):
            found.setdefault(d.case_id, []).append(d)
    return {k: tuple(v) for k, v in found.items()}
