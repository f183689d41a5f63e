"""The daily digest to 综合部 at `[reports] digest_at` (local time).

Once a day, the first pass at or after that time composes the digest of the last 24 hours
and queues it. Its outbox key names the day, so it is sent once however often the pass
runs, and a digest missed while the daemon was down goes out once when it is back (only
the current day's: yesterday's news is in today's 24 hours anyway).
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from daemon.config import Settings
from daemon.outbox import Mail, Report, enqueue, outbox_rows
from daemon.queries import next_deadlines
from daemon.rendering import Renderer
from daemon.store import session
from daemon.views import time_left
from models.directory import Directory, Person
from models.labels import DEPARTMENT_ROLE_LABELS, LEADER_LABELS, category_label, clock_label, status_label
from models.tables import Case, Deadline, Event, InboundMail, Outbox
from models.types import CLOSED_STATUSES, CaseStatus, EventKind, InboundStatus, OutboxStatus

log = logging.getLogger(__name__)

BAD_ADDRESS = "bad_address"  # the outbox step and template of a notice about an address


def digest_pass(engine: Engine, settings: Settings, renderer: Renderer, now: datetime) -> bool:
    """Queue today's digest if its time has come and it is not queued yet."""
    local = now.astimezone(settings.daemon.timezone)
    at = settings.reports.digest_at
    if at is None or local.time() < at:
        return False
    step = f"digest-{local:%Y%m%d}"
    with session(engine) as db:
        if db.exec(select(Outbox.id).where(Outbox.step == step)).first() is not None:
            return False
    stats = footer_statistics(engine, settings, now)  # its own transaction, before ours
    with session(engine) as db:
        directory = settings.directory
        context = digest_context(db, settings, now)
        context["stats"] = stats
        to = directory.mailboxes(directory.general_dept)
        enqueue(db, outbox_rows(renderer, directory, Mail(None, step, "digest", context, to), now,
                                settings.message_id_domain))
        db.commit()
    log.info("daily digest queued for %s", local.date())
    return True


def digest_context(db: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    """What 综合部 reads each morning: the last 24 hours, and what is open now.

    It reads only what it reports, never the whole register: the open cases (by the status
    index), the cases with a line in the last day's event log (by its time index; every
    change to a case writes one), those lines of the kinds it lists, and the mail stuck."""
    since = now - timedelta(days=1)
    open_statuses = [s for s in CaseStatus if s not in CLOSED_STATUSES]
    open_cases = sorted(db.exec(select(Case).where(col(Case.status).in_(open_statuses))), key=lambda c: c.received_at)
    touched = select(Event.case_id).where(Event.at >= since, col(Event.case_id).is_not(None))
    recent = list(db.exec(select(Case).where(col(Case.id).in_(touched))))
    opened = sorted((c for c in recent if c.registered_at >= since), key=lambda c: c.registered_at)
    finished = [c for c in recent if c.status in CLOSED_STATUSES and c.updated_at >= since]
    next_due = next_deadlines(db, [c.id for c in open_cases], still_open=True)
    listed = (EventKind.BREACHED, EventKind.REJECTED, EventKind.UNREACHABLE, EventKind.SEND_FAILED)
    events = list(db.exec(select(Event).where(Event.at >= since, col(Event.kind).in_(listed))
                          .order_by(Event.at, Event.id)))  # type: ignore[arg-type]
    # The listed lines only: not the kept messages' raw bytes nor the mails' (megabytes each).
    quarantined = list(db.exec(select(InboundMail).options(defer(InboundMail.raw))  # type: ignore[arg-type]
                               .where(InboundMail.status == InboundStatus.QUARANTINED, InboundMail.seen_at >= since)))
    # Mail still not delivered after an hour of retries: never dropped, but 综合部 should know.
    stuck = list(db.exec(select(Outbox).options(defer(Outbox.data))  # type: ignore[arg-type]
                         .where(Outbox.status == OutboxStatus.PENDING, Outbox.created_at <= now - timedelta(hours=1))
                         .order_by(Outbox.created_at)))  # type: ignore[arg-type]
    return {
        "greeting": settings.directory.general_dept.name,
        "since": since, "now": now,
        "opened": [_line(c, settings) for c in opened],
        "closed": [_line(c, settings) for c in finished],
        "open": [{**_line(c, settings), "next": _next_text(next_due.get(c.id), now)} for c in open_cases],
        "breaches": [e for e in events if e.kind == EventKind.BREACHED],
        "rejected": [e for e in events if e.kind == EventKind.REJECTED],
        "quarantined": quarantined,
        "directory_problems": [e for e in events if e.kind in (EventKind.UNREACHABLE, EventKind.SEND_FAILED)],
        "stuck": stuck,
    }


STATS_DAYS = 30  # the digest's footer looks back a month


def footer_statistics(engine: Engine, settings: Settings, now: datetime) -> dict[str, Any]:
    """The last month in a few figures (the export's 统计 sheet has them all)."""
    from daemon.export import duration_text, load_register  # openpyxl: only when used

    tz = settings.daemon.timezone
    since = (now.astimezone(tz) - timedelta(days=STATS_DAYS)).date()
    stats = load_register(engine, tz, since, "all", now).statistics
    rate = stats.on_time_percent
    return {
        "days": STATS_DAYS, "cases": stats.cases, "closed": stats.closed,
        "on_time": "—" if rate is None else f"{rate:.0f}%",
        "to_assessment": duration_text(stats.to_assessment.median) or "—",
        "to_resolution": duration_text(stats.to_resolution.median) or "—",
        "by_category": "，".join(f"{category_label(k, ask=False)} {n} 件" for k, n in stats.by_category) or "—",
    }


def _line(case: Case, settings: Settings) -> dict[str, Any]:
    dept = settings.directory.department(case.receiving_dept)
    return {"id": case.id, "outlet": case.media_outlet or "媒体单位未识别",
            "dept": dept.name if dept else case.receiving_dept, "status": status_label(case.status),
            "late": case.late}


def _next_text(deadline: Deadline | None, now: datetime) -> str:
    if deadline is None:
        return "无待办时限"
    return f"{clock_label(deadline.kind)}，{time_left(deadline.due_at - now)}"


def config_refused(engine: Engine, settings: Settings, renderer: Renderer, problems: list[str],
                   now: datetime) -> None:
    """Tell 综合部 (as the running directory knows it) that an edited config.toml was refused;
    once per distinct set of problems, however often the operator sends SIGHUP."""
    directory = settings.directory
    step = "config-refused-" + hashlib.sha256("\n".join(problems).encode()).hexdigest()[:12]
    context = {"greeting": directory.general_dept.name, "path": str(settings.path), "problems": problems}
    with session(engine) as db:
        enqueue(db, outbox_rows(renderer, directory, Mail(None, step, "config_refused", context,
                                                          directory.mailboxes(directory.general_dept)),
                                now, settings.message_id_domain))
        db.commit()


def directory_changed(engine: Engine, old: Settings, new: Settings, renderer: Renderer, now: datetime) -> None:
    """接口人变更报备: who changed among the contacts, reported to 综合部 once per change."""
    changes = contact_changes(old.directory, new.directory)
    if not changes:
        return
    directory = new.directory
    step = "directory-" + hashlib.sha256("\n".join(changes).encode()).hexdigest()[:12]
    context = {"greeting": directory.general_dept.name, "changes": changes}
    with session(engine) as db:
        enqueue(db, outbox_rows(renderer, directory, Mail(None, step, "directory_changed", context,
                                                          directory.mailboxes(directory.general_dept)),
                                now, new.message_id_domain))
        db.commit()


def contact_changes(old: Directory, new: Directory) -> list[str]:
    """Lines like "网络部 接口人A角：张伟 <…> → 赵六 <…>" for every contact that changed."""
    return [f"{where}：{_who(before)} → {_who(after)}"
            for where, before, after in _contacts(old, new) if before != after]


def _contacts(old: Directory, new: Directory) -> list[tuple[str, Person | None, Person | None]]:
    found = []
    for dept_id in dict.fromkeys([d.id for d in (old.general_dept, *old.departments)]
                                 + [d.id for d in (new.general_dept, *new.departments)]):
        a, b = old.department(dept_id), new.department(dept_id)
        name = (b or a).name  # type: ignore[union-attr]
        for attr, label in DEPARTMENT_ROLE_LABELS.items():
            found.append((f"{name} {label}", getattr(a, attr, None), getattr(b, attr, None)))
    for attr, label in LEADER_LABELS.items():
        found.append((label, getattr(old.leaders, attr), getattr(new.leaders, attr)))
    return found


def _who(person: Person | None) -> str:
    return person.mailbox if person else "（无）"


def bad_address_rows(settings: Settings, renderer: Renderer, case_id: str | None, address: str, *,
                     why: str, reason: str, subject: str, step: str, now: datetime) -> list[dict[str, Any]]:
    """Tell 综合部 that a directory address did not take a mail: it keeps the directory.

    `why` is "bounce" (a DSN came back), "refused" (our server said 5xx) or "deferred" (its
    server kept saying 4xx past give_up_after). Once per case and address (per step for mail
    outside a case), whichever way it is noticed first.
    """
    directory = settings.directory
    person = directory.person(address)
    context = {"greeting": directory.general_dept.name, "case_id": case_id, "address": address,
               "name": person.name if person else "", "why": why, "reason": reason, "subject": subject}
    gd = directory.general_dept
    to = [p for p in (*directory.mailboxes(gd), *([gd.interface_b] if gd.interface_b else []))
          if p.email != address]  # not to the address that failed
    return outbox_rows(renderer, directory,
                       Mail(case_id, BAD_ADDRESS, BAD_ADDRESS, context, to,
                            round=round_of_address(address, None if case_id else step)),
                       now, settings.message_id_domain)


def round_of_address(address: str, step: str | None = None) -> int:
    """The round of a notice about an address that did not take a mail: one notice per case
    and address (per address and step outside a case), so the address (and step) is folded
    into the outbox key's number, as the CRC-32 of "<address>[/<step>]" kept to 31 bits (an
    INTEGER on PostgreSQL). These numbers are in the keys of notices already queued;
    numbering them otherwise would send those notices a second time."""
    tag = f"{address}/{step}" if step is not None else address
    return zlib.crc32(tag.encode()) & 0x7FFFFFFF


def undeliverable_reporter(settings: Settings, renderer: Renderer) -> Report:
    """The outbox's report: a mail given up is announced to 综合部 in the same transaction."""
    def report(db: Session, row: Outbox, why: str, reason: str, now: datetime) -> None:
        if row.step == BAD_ADDRESS:  # the notice itself failed: no notice about the notice
            log.error("a notice to 综合部 could not be delivered to %s: %s", row.recipient, reason)
            return
        if not settings.directory.is_known(row.recipient):
            return
        enqueue(db, bad_address_rows(settings, renderer, row.case_id, row.recipient, why=why, reason=reason,
                                     subject=row.subject, step=row.step, now=now))
    return report
