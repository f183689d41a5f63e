"""The outbox: decide a mail inside the case's transaction, send it later, exactly once.

`enqueue` runs in the same transaction as the decision and writes one row per recipient under
a unique key (`outbox_key`: case/step/round/recipient) with the finished bytes, so a crash
either keeps both the decision and the mail or neither. `flush` drains due rows through the
Mailer:

- sent: recorded the moment the server says 250, before the next mail on that connection is
  tried;
- deferred by the server (4xx): retried with backoff; still deferred after give_up_after, or
  refused outright (5xx): FAILED, never silently: the case's record says so, B or the next
  leader takes over, and 综合部 is told (the `report` callback);
- server unreachable: the mails wait untouched and the app backs off the server, so an outage
  of any length delivers everything afterwards, once.

A burst goes out over several connections at once (`[outbound] connections`, the Mailer's
`connections`), each sending its own claimed batch in turn. A crash between the server's 250
and our commit can resend the one mail then in hand on each connection, under the same
Message-ID, which recipients' servers and clients dedupe; `recover` logs it and records it.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select

from daemon.ack_windows import expire_ack_windows
from daemon.errors import ServerUnavailable
from daemon.ports import Mailer, OutgoingMail, SendOutcome, SendResult
from daemon.rendering import Renderer, new_message_id, subject_tag, token_of, with_message_id
from daemon.store import session, set_durable
from models.directory import Directory, Person
from models.tables import Event, Outbox
from models.types import EventKind, OutboxStatus

log = logging.getLogger(__name__)

BATCH = 50  # mails per connection and round
# A connection costs a few round trips (and a TLS handshake, a login) before its first mail:
# a handful of mails shares one rather than each opening its own.
FEWEST_PER_CONNECTION = 5
PASS_LIMIT = 1000  # mails per flush pass: the next clocks wait no longer than these take
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(minutes=30)
# A mail the server keeps deferring (4xx) is given up after this and reported to 综合部, who
# can still phone: the procedure's clocks are half an hour to an hour long.
GIVE_UP_AFTER = timedelta(hours=1)
_PLACEHOLDER = "0" * 16  # the random part's length in new_message_id


@dataclass(frozen=True)
class Thread:
    """Where a mail hangs in its recipients' conversation views: the mail it answers and that
    mail's own References before it (RFC 5322 §3.6.4).

    Each person holds only their own copies of earlier mail (every copy has its own
    Message-ID), so `own` gives a recipient their place; the others get in_reply_to and
    references. Clients join a mail to the conversation of a message it names; an id that
    nobody holds joins only the mails that name it, so it cannot root a case's thread.
    """

    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    own: Mapping[str, Thread] = field(default_factory=dict)  # recipient address → their place

    def of(self, email: str) -> Thread:
        """This recipient's place."""
        return self.own.get(email) or Thread(self.in_reply_to, self.references)


def outbox_key(case_id: str | None, step: str, round: int, recipient: str) -> str:
    """The outbox row's unique key, "<case or ->/<step>/<round>/<recipient>": one mail per
    recipient for each round of a step of a case, however often it is decided. A mail
    outside any case ("-") is told apart by its step: "digest-20261127", "quarantine-<sha256>"."""
    return f"{case_id or '-'}/{step}/{round}/{recipient}"


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

    The mail is rendered once and composed once per place in a thread (recipients without
    their own place share one); the copies of a composition differ only in the Message-ID.
    """
    to = _directory_only(directory, _unique(mail.to), mail)
    to_emails = {p.email for p in to}
    cc = [p for p in _directory_only(directory, _unique(mail.cc), mail) if p.email not in to_emails]
    local = f"{mail.case_id or mail.step}.{mail.step}.{mail.round}"
    placeholder = new_message_id(local, message_id_domain, token=_PLACEHOLDER)
    parts = renderer.parts(mail.template, mail.context, mail.case_id)
    composed: dict[tuple[str | None, tuple[str, ...]], bytes] = {}
    rows = []
    for person in [*to, *cc]:
        thread = mail.thread.of(person.email)
        place = (thread.in_reply_to, thread.references)
        if place not in composed:
            composed[place] = renderer.compose(
                parts, to=to, cc=cc, message_id=placeholder, date=now, in_reply_to=thread.in_reply_to,
                references=thread.references, **({"attachments": mail.attachments} if mail.attachments else {}))
        data = composed[place]
        message_id = new_message_id(local, message_id_domain)
        rows.append(dict(
            key=outbox_key(mail.case_id, mail.step, mail.round, person.email),
            case_id=mail.case_id, step=mail.step, round=mail.round, recipient=person.email,
            message_id=message_id,
            subject=f"{subject_tag(mail.case_id, token_of(message_id))} {parts.subject}" if mail.case_id else parts.subject,
            data=with_message_id(data, placeholder, message_id),
            status=OutboxStatus.PENDING, created_at=now, next_attempt_at=now, attempts=0,
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


# Reports a mail that will not be delivered to 综合部, inside the transaction that records it:
# (db, row, why, the server's words, now); why is "refused" (5xx) or "deferred" (4xx too long).
Report = Callable[[Session, Outbox, str, str, datetime], None]


def flush(engine: Engine, mailer: Mailer, envelope_from: str, now: datetime, *,
          give_up_after: timedelta = GIVE_UP_AFTER, report: Report | None = None,
          max_mails: int = PASS_LIMIT, stop: Callable[[], bool] = lambda: False) -> int:
    """Send what is due, in rounds; returns how many were sent.

    Each round claims a batch for each of the mailer's connections (`_claim`) and sends them
    at once, every result committed as it comes, before that connection's next mail is tried
    (`_Recorder`). Raises ServerUnavailable when the server could not be reached, after
    recording that.

    The crash window, connection by connection: from the claim's commit on, its batch is
    SENDING under its claim token. Its rows before the mail in hand have their results
    committed; the mail in hand is between its MAIL FROM and the commit of its result, so
    the server may hold it (its 250 came, our commit did not); the rows after it were never
    handed over. A kill therefore leaves at most one mail per connection whose fate is
    unknown: the first row of its claim still SENDING, which `recover` resends in doubt.
    Results that come in together are committed together; a kill before that commit leaves
    each of those connections with its one mail in hand, no more.
    """
    recover(engine, now)
    sent = tried = 0
    while tried < max_mails:
        if stop():  # SIGTERM: the round in hand was finished; the rest waits for the next start
            break
        batches = _claim(engine, now, mailer.connections)
        rows = [row for batch in batches for row in batch]
        if not rows:
            break
        with _Recorder(engine, {r.key: r for r in rows}, now, give_up_after, report) as recorder:
            mailer.send([OutgoingMail(r.key, envelope_from, (r.recipient,), r.message_id, r.data, connection)
                         for connection, batch in enumerate(batches) for r in batch], recorder)
        sent += recorder.sent
        tried += len(rows)
        if recorder.unavailable:
            raise ServerUnavailable(recorder.unavailable)
        if len(rows) < mailer.connections * BATCH or recorder.deferred:
            break  # all sent, or the server is struggling: leave the rest for the next pass
    return sent


def recover(engine: Engine, now: datetime) -> int:
    """Rows left SENDING by a crash go back to PENDING; returns how many.

    Each connection's batch was claimed under a token of its own (`Outbox.claim`) and sent
    in id order, each result committed before that connection's next mail was tried. So of
    each claim only the first row still SENDING may have reached the server: it is resent
    under the same Message-ID (recipients' servers and clients dedupe on it), and the doubt
    is logged and put in the case's record. The rows after it were never handed to the
    server and are simply sent. (A kill after the claim's commit but before a connection's
    first mail flags that first mail although it never left: a doubt too many, never one
    too few.) Rows claimed before claims had tokens have none: one batch, as they were sent.
    """
    with session(engine) as db:
        left = list(db.exec(select(Outbox).where(Outbox.status == OutboxStatus.SENDING)
                            .order_by(Outbox.id)))  # type: ignore[arg-type]
        if not left:
            return 0
        in_hand: dict[str | None, Outbox] = {}  # claim → its first row still SENDING
        for row in left:
            row.status = OutboxStatus.PENDING
            in_hand.setdefault(row.claim, row)
        for row in in_hand.values():
            _in_doubt(db, row, now)
        db.commit()
        log.info("%d more of those batches were not tried yet", len(left) - len(in_hand))
        return len(left)


def _in_doubt(db: Session, row: Outbox, now: datetime) -> None:
    _event(db, row, now, EventKind.RESEND_UNCERTAIN, f"发送给 {row.recipient} 时中断，无法确定是否已送达，将以同一邮件编号重发")
    log.warning("send interrupted case=%s message_id=%s to=%s: may have been delivered; it will be sent "
                "again under the same Message-ID", row.case_id, row.message_id, row.recipient)


def _claim(engine: Engine, now: datetime, connections: int) -> list[list[Outbox]]:
    """The next due rows, dealt out in id order over up to `connections` batches (`_deal`),
    each marked SENDING under a claim token of its own; all in one commit."""
    with session(engine) as db:
        rows = list(db.exec(
            select(Outbox)
            .where(Outbox.status == OutboxStatus.PENDING, Outbox.next_attempt_at <= now)
            .order_by(Outbox.id)  # type: ignore[arg-type]
            .limit(connections * BATCH)
        ))
        batches = _deal(rows, connections)
        for batch in batches:
            db.execute(update(Outbox).where(Outbox.id.in_([r.id for r in batch]))  # type: ignore[union-attr]
                       .values(status=OutboxStatus.SENDING, claim=secrets.token_hex(8)))
        db.commit()
        return batches


def _deal(rows: list[Outbox], connections: int) -> list[list[Outbox]]:
    """Round-robin, so that the oldest mails leave first, at once, and each batch keeps id
    order; no more batches than gives each FEWEST_PER_CONNECTION mails."""
    count = min(connections, math.ceil(len(rows) / FEWEST_PER_CONNECTION))
    return [rows[i::count] for i in range(count)]


class _Recorder:
    """Commits SendResults as the mailer reports them; a context manager for one round.

    The mails sent, the common case, are recorded together (those the mailer hands over at
    once: several connections' last results) on one database connection kept for the round,
    its commits not waiting for the disk (SQLite: synchronous=NORMAL, PostgreSQL:
    synchronous_commit off, both for that connection only, restored before it goes back to
    the pool). A daemon killed right after such a commit still has it, since the OS or the
    database server does; only a power cut or a database crash can undo it, and that resends
    the mail under its own Message-ID, as any send in doubt is. Waiting for an fsync per mail
    would widen every connection's doubt window.
    """

    def __init__(self, engine: Engine, rows: dict[str, Outbox], now: datetime, give_up_after: timedelta,
                 report: Report | None) -> None:
        self.engine, self.rows, self.now = engine, rows, now
        self.give_up_after, self.report = give_up_after, report
        self.sent = 0
        self.deferred = False
        self.unavailable = ""  # the server's problem, when it could not be reached
        self._fast: Connection | None = None  # for the sent records, opened at the first

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fast is None:
            return
        conn, self._fast = self._fast, None
        try:
            conn.rollback()
            set_durable(conn, True)
        except Exception:
            conn.invalidate()  # never back to the pool with relaxed commits
            raise
        finally:
            conn.close()

    def __call__(self, results: Sequence[SendResult]) -> None:
        sent = [self.rows[r.key] for r in results if r.outcome is SendOutcome.SENT]
        if sent:
            self._sent(sent)
        for result in results:
            if result.outcome is not SendOutcome.SENT:
                self._not_sent(result)

    def _not_sent(self, result: SendResult) -> None:
        with session(self.engine) as db:
            row = db.get(Outbox, self.rows[result.key].id)
            assert row is not None
            row.attempts += 1
            handler = {SendOutcome.PERMANENT: self._refused, SendOutcome.TEMPORARY: self._deferred,
                       SendOutcome.UNAVAILABLE: self._unavailable}
            handler[result.outcome](db, row, result)
            db.commit()

    def _sent(self, rows: list[Outbox]) -> None:
        """Two statements built once, one for all the rows (the events in one executemany),
        and a commit: until it is committed, a kill would send these mails again."""
        if self._fast is None:
            self._fast = self.engine.connect()
            set_durable(self._fast, False)
        self._fast.execute(_MARK_SENT, {"ids": [r.id for r in rows], "at": self.now})
        self._fast.execute(_RECORD_EVENT, [_event_fields(r, self.now, EventKind.MAIL_OUT, f"已发送给 {r.recipient}")
                                           for r in rows])
        self._fast.commit()
        self.sent += len(rows)

    def _refused(self, db: Session, row: Outbox, result: SendResult) -> None:
        log.warning("send refused case=%s message_id=%s to=%s: %s",
                    row.case_id, row.message_id, row.recipient, result.detail)
        self._give_up(db, row, "refused", result.detail, f"{row.recipient} 拒收：{result.detail}")

    def _deferred(self, db: Session, row: Outbox, result: SendResult) -> None:
        self.deferred = True
        row.deferred_since = row.deferred_since or self.now
        if self.now - row.deferred_since >= self.give_up_after:
            log.error("send given up case=%s message_id=%s to=%s: deferred since %s: %s", row.case_id,
                      row.message_id, row.recipient, row.deferred_since.isoformat(), result.detail)
            self._give_up(db, row, "deferred", result.detail,
                          f"{row.recipient} 暂时拒收，自 {row.deferred_since:%Y-%m-%d %H:%M} UTC 起重试未果，停止重试：{result.detail}")
            return
        row.status, row.last_error = OutboxStatus.PENDING, result.detail
        row.next_attempt_at = self.now + retry_delay(row.attempts)
        log.info("send deferred case=%s message_id=%s attempt=%d: %s",
                 row.case_id, row.message_id, row.attempts, result.detail)

    def _unavailable(self, db: Session, row: Outbox, result: SendResult) -> None:
        # The mail keeps its place and its next attempt time: the app backs off the server.
        row.status, row.last_error = OutboxStatus.PENDING, result.detail
        self.unavailable = result.detail
        if result.in_doubt:
            _in_doubt(db, row, self.now)

    def _give_up(self, db: Session, row: Outbox, why: str, detail: str, summary: str) -> None:
        """The mail will not arrive: B or the next leader takes over on the next pass, and
        综合部 is told whom it did not reach."""
        row.status, row.last_error = OutboxStatus.FAILED, detail
        _event(db, row, self.now, EventKind.SEND_FAILED, summary)
        if row.case_id:
            expire_ack_windows(db, row.case_id, row.recipient, self.now)
        if self.report is not None:
            self.report(db, row, why, detail, self.now)


_OUTBOX, _EVENTS = Outbox.__table__, Event.__table__  # type: ignore[attr-defined]
# Built once: building and caching a statement per mail cost more than running it.
_MARK_SENT = (update(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
              .values(status=OutboxStatus.SENT, sent_at=bindparam("at"), last_error=None,
                      attempts=_OUTBOX.c.attempts + 1))
_RECORD_EVENT = insert(_EVENTS)


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at 30 min: a long outage costs few connections."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY)


def _event(db: Session, row: Outbox, now: datetime, kind: EventKind, summary: str) -> None:
    db.add(Event(**_event_fields(row, now, kind, summary)))


def _event_fields(row: Outbox, now: datetime, kind: EventKind, summary: str) -> dict[str, Any]:
    """An outbox event on the case's record: what was sent, to whom, what became of it."""
    return dict(case_id=row.case_id, at=now, kind=kind, actor="complaintd", message_id=row.message_id,
                subject=row.subject, summary=summary)


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
