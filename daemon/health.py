"""Is the daemon alive? Each step records a heartbeat when it succeeds; `complaintd status`
reads them with the outbox backlog, and `stuck_reasons` judges them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, update
from sqlalchemy.engine import Engine
from sqlmodel import select

from daemon.config import DaemonSettings
from daemon.store import session, unsynced
from models.tables import Case, Deadline, Heartbeat, Outbox
from models.types import CLOSED_STATUSES, OutboxStatus


def beat(engine: Engine, name: str, at: datetime) -> None:
    """Record that a step just succeeded (one tiny row per step, overwritten).

    Every tick writes one, so it does not wait for the disk (`unsynced`): a heartbeat lost in
    a power cut is rewritten a tick later, while an fsync per tick would cost more than the
    pass it reports on."""
    table = Heartbeat.__table__  # type: ignore[attr-defined]
    with unsynced(engine) as conn:
        if not conn.execute(update(table).where(table.c.name == name).values(at=at, pid=os.getpid())).rowcount:
            conn.execute(insert(table).values(name=name, at=at, pid=os.getpid()))
        conn.commit()


@dataclass(frozen=True)
class Health:
    """What `complaintd status` shows: the last heartbeats, the outbox and the register."""

    last_poll: datetime | None
    last_pass: datetime | None
    backlog: int  # mails waiting to be sent
    oldest_unsent: datetime | None
    failed: int  # mails a server refused for good
    open_cases: int
    next_deadline: Deadline | None


def health(engine: Engine) -> Health:
    """The heartbeats of the poll and the deadline pass, the outbox's backlog and refusals,
    the open cases and the next clock to run out (ack windows left out)."""
    closed = list(CLOSED_STATUSES)
    with session(engine) as db:
        beats = {b.name: b.at for b in db.exec(select(Heartbeat))}
        pending = db.exec(select(func.count(), func.min(Outbox.created_at))
                          .where(Outbox.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING)))).one()  # type: ignore[attr-defined]
        failed = db.exec(select(func.count()).select_from(Outbox).where(Outbox.status == OutboxStatus.FAILED)).one()
        open_cases = db.exec(select(func.count()).select_from(Case).where(Case.status.not_in(closed))).one()  # type: ignore[attr-defined]
        next_deadline = db.exec(
            select(Deadline).join(Case, Case.id == Deadline.case_id)  # type: ignore[arg-type]
            .where(Deadline.met_at.is_(None), Deadline.breached_at.is_(None), Deadline.kind != "ack",  # type: ignore[union-attr]
                   Case.status.not_in(closed))  # type: ignore[attr-defined]
            .order_by(Deadline.due_at).limit(1)).first()  # type: ignore[arg-type]
    return Health(beats.get("poll"), beats.get("pass"), pending[0], pending[1], failed, open_cases, next_deadline)


def stuck_reasons(daemon: DaemonSettings, h: Health, running: bool, now: datetime) -> list[str]:
    """Why the daemon looks stuck; empty when it looks healthy. `running`: a daemon holds the
    database's DaemonLock (only SQLite has one; PostgreSQL replicas are judged by heartbeats).
    A pass may miss a few ticks and a poll a few intervals before it counts."""
    reasons = []
    pass_limit = max(3 * daemon.tick, timedelta(minutes=2))
    poll_limit = max(5 * daemon.poll_interval, timedelta(minutes=5))
    minutes = lambda limit: f"{limit.total_seconds() / 60:g} 分钟"  # noqa: E731
    if daemon.database.startswith("sqlite:///") and not running:
        reasons.append("没有 complaintd 进程在运行")
    if h.last_pass is None or now - h.last_pass > pass_limit:
        reasons.append(f"时限检查已超过 {minutes(pass_limit)} 未运行")
    if h.last_poll is None or now - h.last_poll > poll_limit:
        reasons.append(f"收信已超过 {minutes(poll_limit)} 未成功（邮箱服务器不可达？）")
    if h.oldest_unsent is not None and now - h.oldest_unsent > timedelta(hours=1):
        reasons.append("有邮件超过 1 小时未能发出（发信服务器不可达？）")
    return reasons
