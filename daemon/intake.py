"""Intake: mailbox messages → committed outcomes → the messages moved. In that order.

Messages are taken in groups (as the mailbox hands them over). For a group: each message is
parsed (pure) and its effects decided — the raw bytes, the outcome, the case with its clocks
and event log, the mails it calls for — as rows; all rows of the group are written in ONE
transaction; only after the commit are the messages moved to Processed or Quarantine.

- A place (mailbox, uidvalidity, uid) already recorded means a crash came between commit
  and move: the message is only moved. A Message-ID already registered is a second
  sighting: an event on its case, never a second case.
- A message whose handling raises is quarantined with a notice to 综合部; the others in its
  group go on. If the group's transaction fails, each message is retried alone; if even
  that cannot be written (database down), the message stays in the inbox for the next pass.

Writing a group at once, as plain rows, is what makes intake keep pace with parsing: an ORM
unit of work and a commit per message cost several times the parse.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

import parsers
from daemon.ack_windows import expire_ack_windows
from daemon.ahead import Ahead
from daemon.config import Settings
from daemon.errors import MessageFailed
from daemon.outbox import Mail, Thread, enqueue, outbox_rows
from daemon.parsing import ParseFunction, Parser, Parsing
from daemon.ports import Fetched, MailSource, SourceKey
from daemon.rendering import Renderer
from daemon.replies import Replies
from daemon.reports import bad_address_rows
from daemon.store import Checkpoints, insert, session
from daemon.views import ClockView, first_line, greeting, mail_context
from models.directory import Person
from models.policy import registration_notice
from models.registration import CaseDraft, draft_case, original_key, same_sender
from models.tables import Case, CaseCounter, Deadline, Event, InboundMail
from models.types import CaseStatus, EventKind, InboundStatus
from parsers.message import Address, Kind, ParseContext, ParsedMail
from parsers.mime import is_message_id

log = logging.getLogger(__name__)

GROUP_MESSAGES = 100  # messages per transaction …
GROUP_BYTES = 16 * 1024 * 1024  # … and at most this much raw mail in one (a pass holds a few: drain)
GROUPS_AHEAD = 2  # groups in the parse workers while this process commits the one before

_STATUS_OF_KIND = {
    Kind.REPLY: InboundStatus.REPLY,
    Kind.AUTOREPLY: InboundStatus.AUTOREPLY,
    Kind.BOUNCE: InboundStatus.BOUNCE,
    Kind.OWN: InboundStatus.IGNORED,
    Kind.BULK: InboundStatus.IGNORED,
    Kind.UNUSABLE: InboundStatus.QUARANTINED,
}


@dataclass(frozen=True)
class IntakeOutcome:
    """What became of one message, for the CLI and the logs."""

    key: SourceKey
    status: InboundStatus
    case_id: str | None
    reason: str
    earlier: bool = False  # recorded by an earlier pass; only the move was left to do


@dataclass
class Rows:
    """The rows one message (or a group) adds, by table, in foreign-key order."""

    by_table: dict[Table, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    outbox: list[dict[str, Any]] = field(default_factory=list)

    def add(self, table: Any, **values: Any) -> None:
        self.by_table[table.__table__].append(values)

    def extend(self, other: Rows) -> None:
        for table, rows in other.by_table.items():
            self.by_table[table].extend(rows)
        self.outbox.extend(other.outbox)

    def write(self, db: Session) -> None:
        for table in (Case.__table__, Deadline.__table__, Event.__table__):  # type: ignore[attr-defined]
            if self.by_table.get(table):
                db.execute(table.insert(), self.by_table[table])
        inbound = self.by_table.get(InboundMail.__table__)  # type: ignore[attr-defined]
        if inbound:
            insert(db, InboundMail.__table__, inbound, blob="raw")  # type: ignore[attr-defined]
        enqueue(db, self.outbox)


@dataclass
class Group:
    """State shared by the messages of one transaction."""

    now: datetime
    rows: Rows = field(default_factory=Rows)
    registered: dict[str, str] = field(default_factory=dict)  # source_key → case id, known so far
    # original_key → (case id, original sender) registered in this group, not yet committed
    originals: dict[str, list[tuple[str, Address | None]]] = field(default_factory=dict)
    # original_key → (case id, original sender) of the cases committed before, by registration
    earlier: dict[str, list[tuple[str, Address | None]]] = field(default_factory=dict)
    counters: dict[str, CaseCounter] = field(default_factory=dict)  # day → counter row


def parse_context(settings: Settings) -> ParseContext:
    """What the parser is told about us: the zone of naive times, the case tag, our own mail."""
    return ParseContext(
        timezone=settings.daemon.timezone,
        case_prefix=settings.daemon.case_prefix,
        own_addresses=frozenset({settings.outbound.from_email}),
        own_message_id_domain=settings.message_id_domain,
    )


class Intake:
    def __init__(self, settings: Settings, engine: Engine, renderer: Renderer,
                 parse: ParseFunction = parsers.parse, checkpoints: Checkpoints | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.checkpoints = checkpoints  # told how much mail each commit wrote
        self.renderer = renderer
        self.replies = Replies(settings, renderer)
        self.context = parse_context(settings)
        self.parse = parse  # a module-level function (the workers import it by name)
        self.parser = Parser(self.context, parse)  # its worker processes start when first needed

    def close(self) -> None:
        """Stop the parse workers, if any were started."""
        self.parser.close()

    # -- the pass -------------------------------------------------------------------------

    def drain(self, source: MailSource, now: datetime, stop: Callable[[], bool] = lambda: False) -> list[IntakeOutcome]:
        """Handle every message now in the inbox, a group per transaction, until `stop()`
        (SIGTERM: the group in hand is finished; the rest stays in the inbox).

        A pipeline: while worker processes parse the next groups (up to GROUPS_AHEAD), this
        process commits and moves the one before them, and a thread fetches the one after
        (daemon/parsing.py, daemon/ahead.py). Two groups ahead, not one, because groups differ:
        one heavy with complaints keeps this process the longer, one heavy with big mails the
        workers, and each side works on while the other catches up. A group parsed here (a
        few mails, a big one) is committed at once, after those before it: there is nothing
        to overlap. Groups are still committed, then moved, one at a time and in order."""
        outcomes: list[IntakeOutcome] = []
        parsed: deque[Parsing] = deque()  # in the workers, committed in order
        with Ahead(source, GROUP_MESSAGES, GROUP_BYTES) as inbox:  # fetches and moves on its own thread
            for items in _groups(inbox.fetch_new()):
                if stop():
                    return outcomes  # what is being parsed stays in the inbox
                parsing = self.parser.start(items)
                if parsing.in_workers:
                    parsed.append(parsing)
                while parsed and (len(parsed) > GROUPS_AHEAD or not parsing.in_workers):
                    outcomes += self._finish(inbox, parsed.popleft(), now)
                if not parsing.in_workers:
                    outcomes += self._finish(inbox, parsing, now)
            while parsed and not stop():
                outcomes += self._finish(inbox, parsed.popleft(), now)
        return outcomes

    def _finish(self, source: MailSource | Ahead, parsing: Parsing, now: datetime) -> list[IntakeOutcome]:
        settled = self._settle(parsing.items, parsing.results(), now)
        self.move(source, settled)
        return settled

    def handle(self, source: MailSource, item: Fetched, now: datetime) -> IntakeOutcome | None:
        """One message: commit its outcome, then move it; None when nothing could be committed."""
        settled = self.settle([item], now)
        self.move(source, settled)
        return settled[0] if settled else None

    def settle(self, items: list[Fetched], now: datetime) -> list[IntakeOutcome]:
        """Commit the outcomes of a group; a message that cannot be committed is left out."""
        return self._settle(items, [self.parse(item.raw, self.context) for item in items], now)

    def _settle(self, items: list[Fetched], parsed: list[ParsedMail], now: datetime) -> list[IntakeOutcome]:
        try:
            return self._commit(items, parsed, now)
        except OperationalError:
            log.exception("database unavailable; %d message(s) left in the inbox", len(items))
            return []
        except IntegrityError:
            if len(items) == 1:
                # Another process committed this place, or this Message-ID's case, meanwhile:
                # a second look finds it recorded, or registers a duplicate sighting.
                return self._second_look(items[0], parsed[0], now)
            log.warning("a group of %d conflicted; settling its messages one by one", len(items))
            return self._one_by_one(items, parsed, now)
        except MessageFailed as failed:
            # The group's transaction is rolled back whole, so nothing the failed message
            # half-did survives (all or nothing per message, without SAVEPOINTs, which
            # pysqlite mishandles). The others are settled alone; the failed one is quarantined.
            if len(items) > 1:
                return self._one_by_one(items, parsed, now)
            return self._quarantine_alone(items[0], parsed[0], now, failed.error)
        except Exception as exc:  # a bug of ours outside the per-message guard: never stop intake
            log.error("cannot settle %d message(s): %s: %s", len(items), type(exc).__name__, exc,
                      exc_info=log.isEnabledFor(logging.DEBUG))
            if len(items) > 1:
                return self._one_by_one(items, parsed, now)
            return self._quarantine_alone(items[0], parsed[0], now, f"{type(exc).__name__}: {exc}")

    def _one_by_one(self, items: list[Fetched], parsed: list[ParsedMail], now: datetime) -> list[IntakeOutcome]:
        return [o for item, mail in zip(items, parsed, strict=True) for o in self._settle([item], [mail], now)]

    def _quarantine_alone(self, item: Fetched, mail: ParsedMail, now: datetime, error: str) -> list[IntakeOutcome]:
        """Keep a message whose handling failed: its raw bytes and a reason, in Quarantine, and
        综合部 told. Only the headers proven harmless are kept of the parse (the failure may
        have come from any other field); if even that cannot be written, it stays in the inbox."""
        bare = ParsedMail(kind=Kind.UNUSABLE, reason=mail.reason, sender=_safe_sender(mail),
                          subject=_safe_text(mail.subject), message_id=None)
        try:
            with session(self.engine) as db:
                rows = Rows()
                outcome = self._failure(rows, item, bare, error, now)
                rows.write(db)
                db.commit()
            log.info("inbound quarantined after a failure key=%s", item.key.uid)
            return [outcome]
        except Exception:
            log.exception("cannot record; message left in the inbox key=%s", item.key)
            return []

    def move(self, source: MailSource | Ahead, settled: list[IntakeOutcome]) -> None:
        """Move committed messages out of the inbox. Nothing is written: a message found in
        the inbox again is recognised by its place and simply moved again."""
        source.move_to_quarantine([o.key for o in settled if o.status.folder == "quarantine"])
        source.move_to_processed([o.key for o in settled if o.status.folder != "quarantine"])

    # -- one transaction ------------------------------------------------------------------

    def _commit(self, items: list[Fetched], parsed: list[ParsedMail], now: datetime) -> list[IntakeOutcome]:
        with session(self.engine) as db:
            earlier = _recorded(db, [item.key for item in items])
            group = Group(now, registered=_registered(db, [_source_key(i, m) for i, m in zip(items, parsed, strict=False)]),
                          earlier=_earlier_originals(db, [original_key(m) for m in parsed if m.kind is Kind.COMPLAINT]))
            outcomes = []
            for item, mail in zip(items, parsed, strict=False):
                if item.key in earlier:
                    outcomes.append(earlier[item.key])
                    continue
                outcomes.append(self._decide(db, group, item, mail))
            for counter in group.counters.values():
                db.add(counter)
            group.rows.write(db)
            db.commit()
        if self.checkpoints is not None:
            self.checkpoints.wrote(sum(len(item.raw) for item in items))
        for outcome in outcomes:
            if not outcome.earlier:
                log.info("inbound %s case=%s key=%s", outcome.status, outcome.case_id, outcome.key.uid)
        return outcomes

    def _decide(self, db: Session, group: Group, item: Fetched, mail: ParsedMail) -> IntakeOutcome:
        """One message's rows, added to the group only when all of them could be made."""
        rows = Rows()
        try:
            outcome = self._apply(db, group, rows, item, mail)
        except Exception as exc:  # one bad message must never stop the daemon
            # An operator's line; the traceback only with -v (a traceback is no user interface).
            log.error("processing failed key=%s: %s: %s", item.key, type(exc).__name__, exc,
                      exc_info=log.isEnabledFor(logging.DEBUG))
            # Its changes to loaded rows (a reply's case) are in the session already: only
            # rolling back the whole transaction undoes them. settle() takes it from there.
            raise MessageFailed(f"{type(exc).__name__}: {exc}") from exc
        group.rows.extend(rows)
        return outcome

    def _apply(self, db: Session, group: Group, rows: Rows, item: Fetched, mail: ParsedMail) -> IntakeOutcome:
        now = group.now
        if mail.kind is Kind.COMPLAINT:
            return self._complaint(db, group, rows, item, mail)
        status = _STATUS_OF_KIND[mail.kind]
        if status is InboundStatus.QUARANTINED:
            return self._quarantine(rows, item, mail, mail.reason, now)
        if status is InboundStatus.REPLY:
            return self._reply(db, group, rows, item, mail)
        case_id = self.replies.named_case(db, mail) if status is not InboundStatus.IGNORED else None
        if case_id:
            self._event(rows, case_id, now, EventKind.MAIL_IN, mail, f"{status}: {first_line(mail.text)}")
            self._unreachable(db, rows, case_id, mail, status, now)
        self._inbound(rows, item, mail, status, case_id, mail.reason, now)
        return IntakeOutcome(item.key, status, case_id, mail.reason)

    def _reply(self, db: Session, group: Group, rows: Rows, item: Fetched, mail: ParsedMail) -> IntakeOutcome:
        """A reply to a case mail: authenticated, acknowledged, acted on (daemon/replies.py);
        an outsider's mail that only looked like one is a complaint."""
        handled = self.replies.handle(db, mail, group.now)
        if handled.register:
            return self._complaint(db, group, rows, item, mail)
        for event in handled.events:
            rows.add(Event, **event.model_dump(exclude={"id"}))
        rows.outbox += handled.outbox
        rejected = [e.summary for e in handled.events if e.kind == EventKind.REJECTED]
        reason = "；".join(rejected) if rejected else mail.reason
        self._inbound(rows, item, mail, InboundStatus.REPLY, handled.case_id, reason, group.now)
        return IntakeOutcome(item.key, InboundStatus.REPLY, handled.case_id, reason)

    def _unreachable(self, db: Session, rows: Rows, case_id: str, mail: ParsedMail, status: InboundStatus,
                     now: datetime) -> None:
        """An out-of-office from a notified person, or a bounce naming them: their answer will
        not come, so their ack windows fall due now and the next pass tells B or the next
        leader up. Neither kind of mail ever acknowledges anything or gets an answer."""
        away: tuple[str, ...]
        if status is InboundStatus.AUTOREPLY and mail.sender:
            away = (mail.sender.email,)
        elif status is InboundStatus.BOUNCE:
            away = mail.failed_recipients
        else:
            return
        for address in away:
            if expire_ack_windows(db, case_id, address, now):
                why = "自动回复（不在岗）" if status is InboundStatus.AUTOREPLY else "退信（无法送达）"
                self._event(rows, case_id, now, EventKind.UNREACHABLE, None, f"{address} {why}：转 B 角或上一级")
            if status is InboundStatus.BOUNCE and self.settings.directory.is_known(address):
                rows.outbox += bad_address_rows(self.settings, self.renderer, case_id, address, why="bounce",
                                                reason=mail.reason, subject=mail.subject, step="bounce", now=now)

    def _complaint(self, db: Session, group: Group, rows: Rows, item: Fetched, mail: ParsedMail) -> IntakeOutcome:
        now = group.now
        source_key = _source_key(item, mail)
        existing = group.registered.get(source_key)
        if existing is not None:
            reason = f"重复收到，已登记为 {existing}"
            self._event(rows, existing, now, EventKind.DUPLICATE, mail, f"同一邮件再次收到（{item.key.mailbox}）")
            self._inbound(rows, item, mail, InboundStatus.DUPLICATE, existing, reason, now)
            return IntakeOutcome(item.key, InboundStatus.DUPLICATE, existing, reason)
        draft = draft_case(mail, self.settings.directory, self.settings.deadlines,
                           item.arrived_at or now, now)
        first = self._first_case_of_original(db, group, draft)
        if first is not None:
            return self._forwarded_again(rows, item, mail, draft, first, now)
        case_id = self._next_case_id(db, group)
        self._register(rows, case_id, draft, mail, source_key, now)
        group.registered[source_key] = case_id
        if draft.original_key:
            group.originals.setdefault(draft.original_key, []).append((case_id, draft.original_from))
        self._inbound(rows, item, mail, InboundStatus.REGISTERED, case_id, mail.reason, now)
        return IntakeOutcome(item.key, InboundStatus.REGISTERED, case_id, mail.reason)

    def _first_case_of_original(self, db: Session, group: Group, draft: CaseDraft) -> str | None:
        """The case an earlier forward of the same original became, if any: same original
        time and subject (the key), and a sender that can be the same person."""
        key = draft.original_key
        if key is None:
            return None
        if key not in group.earlier:  # a complaint that came as a reply: not looked up with the group
            group.earlier.update(_earlier_originals(db, [key]))
        candidates = [*group.earlier[key], *group.originals.get(key, [])]
        return next((case_id for case_id, sender in candidates if same_sender(sender, draft.original_from)), None)

    def _forwarded_again(self, rows: Rows, item: Fetched, mail: ParsedMail, draft: CaseDraft, case_id: str,
                         now: datetime) -> IntakeOutcome:
        """The same original forwarded again (inline, then attached; by a colleague): one case.
        The second forward goes on the first case's record; nobody is mailed twice for it."""
        by = draft.forwarder_email or (mail.sender.email if mail.sender else "未知")
        note = f"；附言：{first_line(draft.forwarder_note)}" if draft.forwarder_note else ""
        self._event(rows, case_id, now, EventKind.DUPLICATE, mail, f"再次转来（{by}）{note}", actor=by)
        reason = f"同一原始投诉再次转来，已登记为 {case_id}"
        self._inbound(rows, item, mail, InboundStatus.DUPLICATE, case_id, reason, now)
        return IntakeOutcome(item.key, InboundStatus.DUPLICATE, case_id, reason)

    def _register(self, rows: Rows, case_id: str, draft: CaseDraft, mail: ParsedMail, source_key: str,
                  now: datetime) -> None:
        case = case_row(draft, mail, source_key, case_id, now)
        rows.add(Case, **case.model_dump())
        for d in draft.deadlines:
            rows.add(Deadline, case_id=case_id, kind=d.kind, round=0, due_at=d.due_at,
                     met_at=d.met_at, breached_at=None, late=d.late, target="")
        actor = draft.forwarder_email or (mail.sender.email if mail.sender else "unknown")
        self._event(rows, case_id, now, EventKind.MAIL_IN, mail, "转来投诉" if draft.forwarder_email else "外部来信",
                    actor=actor)
        self._event(rows, case_id, now, EventKind.REGISTERED, None, _registration_summary(draft))
        if mail.problems:  # decoded all the same, but a person should know what was guessed
            self._event(rows, case_id, now, EventKind.PARSE_PROBLEMS, None, "读取时的问题：" + "；".join(mail.problems))
        rows.outbox += self._acknowledgment(case, draft.deadlines, mail, now)

    def _acknowledgment(self, case: Case, deadlines: Sequence[ClockView], mail: ParsedMail,
                        now: datetime) -> list[dict[str, Any]]:
        """The registration mail: to the forwarder, cc 综合部 (a direct complaint: 综合部 only)."""
        directory = self.settings.directory
        forwarder = _forwarder_person(case, mail, directory.person(case.forwarder_email or ""))
        notice = registration_notice(forwarder, directory, now)
        to, cc = list(notice.to), list(notice.cc)
        context = mail_context(case, deadlines, directory)
        context["greeting"] = greeting(to, directory)
        # The forwarder's copy answers their forward; 综合部 never saw that mail, so for them
        # this mail starts the case's conversation (later mail hangs under each one's copy).
        thread = Thread(own={forwarder.email: Thread(mail.message_id, (*mail.references, mail.message_id))}) \
            if forwarder and mail.message_id else Thread()
        return outbox_rows(self.renderer, directory, Mail(case.id, notice.step, notice.step, context, to, cc, thread=thread),
                           now, self.settings.message_id_domain)

    def _quarantine(self, rows: Rows, item: Fetched, mail: ParsedMail, reason: str, now: datetime,
                    kind: str | None = None) -> IntakeOutcome:
        """Keep the evidence and tell 综合部."""
        directory = self.settings.directory
        self._inbound(rows, item, mail, InboundStatus.QUARANTINED, None, reason, now, kind)
        rows.add(Event, case_id=None, at=now, kind=EventKind.QUARANTINED,
                 actor=mail.sender.email if mail.sender else "unknown",
                 message_id=mail.message_id, subject=mail.subject[:500] or None,
                 summary=f"移入 {self.settings.inbound.quarantine_folder}（{item.key.mailbox} UID {item.key.uid}）：{reason}")
        context = {
            "greeting": directory.general_dept.name,
            "folder": self.settings.inbound.quarantine_folder,
            "mail": {"mailbox": item.key.mailbox, "uid": item.key.uid,
                     "sender": mail.sender.email if mail.sender else None,
                     "subject": mail.subject, "seen_at": now, "size": len(item.raw), "reason": reason},
        }
        step = f"quarantine-{item.digest[:16]}"
        rows.outbox += outbox_rows(self.renderer, directory,
                                   Mail(None, step, "quarantine", context, directory.mailboxes(directory.general_dept)),
                                   now, self.settings.message_id_domain)
        return IntakeOutcome(item.key, InboundStatus.QUARANTINED, None, reason)

    def _failure(self, rows: Rows, item: Fetched, mail: ParsedMail, error: str, now: datetime) -> IntakeOutcome:
        return self._quarantine(rows, item, mail, f"处理出错：{error}", now, kind="error")

    def _second_look(self, item: Fetched, mail: ParsedMail, now: datetime) -> list[IntakeOutcome]:
        try:
            return self._commit([item], [mail], now)
        except (IntegrityError, OperationalError):
            log.exception("cannot record; message left in the inbox key=%s", item.key)
            return []

    # -- rows -----------------------------------------------------------------------------

    def _next_case_id(self, db: Session, group: Group) -> str:
        """MT-YYYYMMDD-NNNN, numbered per local day."""
        day = group.now.astimezone(self.settings.daemon.timezone).strftime("%Y%m%d")
        counter = group.counters.get(day)
        if counter is None:
            counter = db.exec(select(CaseCounter).where(CaseCounter.day == day).with_for_update()).first()
            counter = group.counters[day] = counter or CaseCounter(day=day, last=0)
        counter.last += 1
        return f"{self.settings.daemon.case_prefix}-{day}-{counter.last:04d}"

    def _inbound(self, rows: Rows, item: Fetched, mail: ParsedMail, status: InboundStatus,
                 case_id: str | None, reason: str, now: datetime, kind: str | None = None) -> None:
        rows.add(InboundMail,
                 mailbox=item.key.mailbox, uidvalidity=item.key.uidvalidity, uid=item.key.uid,
                 message_id=mail.message_id, digest=item.digest, kind=kind or mail.kind.value,
                 status=status, case_id=case_id, sender=mail.sender.email if mail.sender else None,
                 subject=mail.subject[:500], reason=reason, size=len(item.raw), raw=item.raw, seen_at=now)

    def _event(self, rows: Rows, case_id: str, now: datetime, kind: EventKind, mail: ParsedMail | None,
               summary: str, actor: str | None = None) -> None:
        sender = mail.sender.email if mail and mail.sender else "complaintd"
        rows.add(Event, case_id=case_id, at=now, kind=kind, actor=actor or sender,
                 message_id=mail.message_id if mail else None,
                 subject=mail.subject[:500] if mail else None, summary=summary)


def _safe_text(text: str) -> str:
    """Text that any database takes: no lone surrogates (undecodable bytes), no NUL."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")[:500]


def _safe_sender(mail: ParsedMail) -> Address | None:
    if mail.sender is None:
        return None
    return Address(_safe_text(mail.sender.name), _safe_text(mail.sender.email))


def _groups(items: Iterable[Fetched]) -> Iterator[list[Fetched]]:
    group: list[Fetched] = []
    size = 0
    for item in items:
        if group and (len(group) >= GROUP_MESSAGES or size + len(item.raw) > GROUP_BYTES):
            yield group
            group, size = [], 0
        group.append(item)
        size += len(item.raw)
    if group:
        yield group


def _recorded(db: Session, keys: list[SourceKey]) -> dict[SourceKey, IntakeOutcome]:
    """Which of these places an earlier pass committed (one query per folder)."""
    found: dict[SourceKey, IntakeOutcome] = {}
    for (mailbox, uidvalidity), uids in _by_folder(keys).items():
        query = select(InboundMail.uid, InboundMail.status, InboundMail.case_id, InboundMail.reason).where(
            InboundMail.mailbox == mailbox, InboundMail.uidvalidity == uidvalidity,
            InboundMail.uid.in_(uids))  # type: ignore[attr-defined]
        for uid, status, case_id, reason in db.exec(query):
            key = SourceKey(mailbox, uidvalidity, uid)
            found[key] = IntakeOutcome(key, InboundStatus(status), case_id, reason, earlier=True)
    return found


def _earlier_originals(db: Session, keys: list[str | None]) -> dict[str, list[tuple[str, Address | None]]]:
    """The committed cases of these originals (one query for the group), each key's in the
    order they were registered; every key asked for is in the answer."""
    wanted = {key for key in keys if key is not None}
    found: dict[str, list[tuple[str, Address | None]]] = {key: [] for key in wanted}
    if not wanted:
        return found
    query = (select(Case.original_key, Case.id, Case.original_from_name, Case.original_from_email)
             .where(col(Case.original_key).in_(wanted)).order_by(col(Case.registered_at), col(Case.id)))
    for key, case_id, name, email in db.exec(query):
        assert key is not None  # IN (…) matches no NULL
        found[key].append((case_id, Address(name or "", email or "") if name or email else None))
    return found


def _registered(db: Session, source_keys: list[str]) -> dict[str, str]:
    """Which of these messages are cases already (one query for the group)."""
    query = select(Case.source_key, Case.id).where(Case.source_key.in_(source_keys))  # type: ignore[attr-defined]
    return {key: case_id for key, case_id in db.exec(query)}


def _source_key(item: Fetched, mail: ParsedMail) -> str:
    """What makes a message one case however often it is seen: its Message-ID, else its bytes.

    Only a well-formed id counts (the parser drops others; this is the second line): 8-bit
    bytes in a hostile Message-ID must never reach a query, where they stopped all intake.
    """
    return mail.message_id if mail.message_id and is_message_id(mail.message_id) else "sha256:" + item.digest


def _by_folder(keys: Iterable[SourceKey]) -> dict[tuple[str, int], list[str]]:
    folders: dict[tuple[str, int], list[str]] = defaultdict(list)
    for key in keys:
        folders[(key.mailbox, key.uidvalidity)].append(key.uid)
    return folders


def case_row(draft: CaseDraft, mail: ParsedMail, source_key: str, case_id: str, now: datetime) -> Case:
    """The register's row for a drafted case (not added to any session)."""
    # Not Case.model_construct, at a tenth of the cost: its object skips SQLAlchemy's set-up,
    # and reading it fails in a process where no mapper was configured yet (`ingest --dry-run`).
    original = draft.original_from
    return Case(
        id=case_id, status=CaseStatus.REGISTERED, category=draft.category,
        received_at=draft.received_at, registered_at=now, receiving_dept=draft.receiving_dept.id,
        receiver_email=draft.receiver_email, forwarder_email=draft.forwarder_email,
        media_outlet=draft.media_outlet, reporter_name=draft.reporter_name,
        original_from_name=original.name if original else None,
        original_from_email=original.email if original else None,
        original_sent_at=draft.original_sent_at, original_subject=draft.original_subject,
        phone=draft.phone, customer_number=draft.customer_number, complaint_text=draft.complaint_text,
        attachments=list(draft.attachments), account_manager=draft.account_manager, late=draft.late,
        category_basis=draft.category_basis, category_reason=draft.category_reason,
        forwarder_note=draft.forwarder_note, original_key=draft.original_key,
        source_key=source_key, source_message_id=mail.message_id, updated_at=now,
        # Given, not defaulted: pydantic's default_factory call inspects list's signature each
        # time, which cost more than the rest of the row.
        group_depts=[],
    )


def _forwarder_person(case: Case, mail: ParsedMail, known: Person | None) -> Person | None:
    if case.forwarder_email is None:
        return None
    if known is not None:
        return known
    return Person(mail.sender.name if mail.sender else "", case.forwarder_email)


def _registration_summary(draft: CaseDraft) -> str:
    parts = [f"接收部门 {draft.receiving_dept.name}"]
    if draft.media_outlet:
        parts.append(f"媒体单位 {draft.media_outlet}")
    if draft.late:
        parts.append("迟报：登记时已有时限过期")
    return "登记：" + "，".join(parts)
