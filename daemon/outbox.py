"""The outbox: decide a mail inside the case's transaction, send it later, exactly once.

`enqueue` runs in the same transaction as the decision and writes one row per recipient under
a unique key (case/step/round/recipient) with the finished bytes, so a crash either keeps both
the decision and the mail or neither. `flush` drains due rows through the Mailer; a temporary
failure is retried with backoff and nothing is ever dropped. A crash between the server's
"250 OK" and our commit resends that one mail with the same Message-ID, which clients dedupe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from daemon.ports import Mailer, Outcome, OutgoingMail, SendResult
from daemon.rendering import Renderer, new_message_id, with_message_id
from daemon.store import expire_ack_windows, session
from models.directory import Directory, Person
from models.tables import Event, Outbox
from models.types import OutboxStatus

log = logging.getLogger(__name__)

BATCH = 50  # mails per connection
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(minutes=30)
_PLACEHOLDER = "0" * 16  # the random part's length in new_message_id


@dataclass(frozen=True)
class Thread:
    """Where a case's mail hangs in the recipients' conversation view."""

    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mail:
    """A decision to mail people: which step of which case, what it says, to whom."""

    case_id: str | None
    step: str
    template: str
    context: dict[str, Any]
    to: Sequence[Person]
    cc: Sequence[Person] = ()
    round: int = 0
    thread: Thread = Thread()
    attachments: Sequence[tuple[str, str, bytes]] = ()  # (filename, MIME type, bytes)


def outbox_rows(renderer: Renderer, directory: Directory, mail: Mail, now: datetime,
                message_id_domain: str) -> list[dict[str, Any]]:
    """One row per recipient, each with its own Message-ID and the finished bytes.

    The mail is rendered and composed once; the copies differ only in the Message-ID.
    """
    to = _directory_only(directory, _unique(mail.to), mail)
    to_emails = {p.email for p in to}
    cc = [p for p in _directory_only(directory, _unique(mail.cc), mail) if p.email not in to_emails]
    local = f"{mail.case_id or mail.step}.{mail.step}.{mail.round}"
    placeholder = new_message_id(local, message_id_domain, token=_PLACEHOLDER)
    parts = renderer.parts(mail.template, mail.context, mail.case_id)
    data = renderer.compose(parts, to=to, cc=cc, message_id=placeholder, date=now,
                            in_reply_to=mail.thread.in_reply_to, references=mail.thread.references,
                            **({"attachments": mail.attachments} if mail.attachments else {}))
    rows = []
    for person in [*to, *cc]:
        message_id = new_message_id(local, message_id_domain)
        rows.append(dict(
            key=f"{mail.case_id or '-'}/{mail.step}/{mail.round}/{person.email}",
            case_id=mail.case_id, step=mail.step, round=mail.round, recipient=person.email,
            message_id=message_id, subject=parts.subject,
            data=with_message_id(data, placeholder, message_id),
            status=OutboxStatus.PENDING.value, created_at=now, next_attempt_at=now, attempts=0,
        ))
    return rows


def enqueue(db: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the rows whose key is not queued yet; returns how many were new.

    The unique key is the guarantee; the look-up only spares a doomed INSERT.
    """
    if not rows:
        return 0
    keys = [r["key"] for r in rows]
    done = set(db.exec(select(Outbox.key).where(Outbox.key.in_(keys))))  # type: ignore[attr-defined]
    new = [r for r in rows if r["key"] not in done]
    if new:
        db.execute(Outbox.__table__.insert(), new)  # type: ignore[attr-defined]
    return len(new)


def flush(engine: Engine, mailer: Mailer, envelope_from: str, now: datetime,
          max_batches: int = 20) -> int:
    """Send what is due, a batch per connection; returns how many were sent."""
    sent = 0
    for _ in range(max_batches):
        rows = _due(engine, now)
        if not rows:
            break
        mails = [OutgoingMail(r.key, envelope_from, (r.recipient,), r.message_id, r.data) for r in rows]
        results = mailer.send(mails)
        sent += _record(engine, rows, results, now)
        if len(rows) < BATCH or any(r.outcome is Outcome.TEMPORARY for r in results):
            break  # the server is struggling: leave the rest for the next pass
    return sent


def _due(engine: Engine, now: datetime) -> list[Outbox]:
    with session(engine) as db:
        return list(db.exec(
            select(Outbox)
            .where(Outbox.status == OutboxStatus.PENDING.value, Outbox.next_attempt_at <= now)
            .order_by(Outbox.id)  # type: ignore[arg-type]
            .limit(BATCH)
        ))


def _record(engine: Engine, rows: list[Outbox], results: list[SendResult], now: datetime) -> int:
    sent = 0
    with session(engine) as db:
        for row, result in zip(rows, results, strict=True):
            row = db.merge(row)
            row.attempts += 1
            if result.outcome is Outcome.SENT:
                row.status, row.sent_at, row.last_error = OutboxStatus.SENT.value, now, None
                sent += 1
                _event(db, row, now, "mail_out", f"已发送给 {row.recipient}")
            elif result.outcome is Outcome.PERMANENT:
                row.status, row.last_error = OutboxStatus.FAILED.value, result.detail
                _event(db, row, now, "send_failed", f"{row.recipient} 拒收：{result.detail}")
                if row.case_id:  # unreachable: B or the next leader is told on the next pass
                    expire_ack_windows(db, row.case_id, row.recipient, now)
                log.warning("send refused case=%s message_id=%s to=%s: %s",
                            row.case_id, row.message_id, row.recipient, result.detail)
            else:
                row.last_error = result.detail
                row.next_attempt_at = now + retry_delay(row.attempts)
                log.info("send deferred case=%s message_id=%s attempt=%d: %s",
                         row.case_id, row.message_id, row.attempts, result.detail)
        db.commit()
    return sent


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at 30 min: a long outage costs few connections."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY)


def _event(db: Session, row: Outbox, now: datetime, kind: str, summary: str) -> None:
    db.add(Event(case_id=row.case_id, at=now, kind=kind, actor="complaintd",
                 message_id=row.message_id, subject=row.subject, summary=summary))


def _directory_only(directory: Directory, people: Sequence[Person], mail: Mail) -> list[Person]:
    """complaintd mails only people in the directory, never a journalist or a customer."""
    allowed = [p for p in people if directory.is_known(p.email)]
    for p in people:
        if p not in allowed:
            log.error("refusing to mail an address outside the directory case=%s step=%s to=%s",
                      mail.case_id, mail.step, p.email)
    return allowed


def _unique(*groups: Sequence[Person]) -> list[Person]:
    seen: dict[str, Person] = {}
    for group in groups:
        for person in group:
            seen.setdefault(person.email, person)
    return list(seen.values())
