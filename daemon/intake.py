"""Intake: one mailbox message → one committed outcome → the message moved. In that order.

For each message: if its place (mailbox, uidvalidity, uid) is already recorded, the outcome
is committed and only the move is left (a crash came between the two). Otherwise it is parsed
(pure), and in ONE transaction the raw bytes, the outcome, the case with its clocks and event
log, and the mails it calls for are written. Only then is the message moved to Processed or
Quarantine. A message whose processing fails is quarantined with a notice to 综合部; if even
that cannot be written (database down), the message stays in the inbox for the next pass.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, select

from daemon.config import Settings
from daemon.outbox import Thread, enqueue
from daemon.ports import Fetched, MailSource, SourceKey
from daemon.rendering import Renderer
from daemon.store import session
from daemon.views import mail_context
from models.directory import Person
from models.registration import CaseDraft, draft_case
from models.tables import Case, CaseCounter, Deadline, Event, InboundMail, Outbox
from models.types import CaseStatus, InboundStatus
from parsers import parse
from parsers.message import Kind, ParseContext, ParsedMail

log = logging.getLogger(__name__)

MOVE_BATCH = 100  # messages committed before their moves go out in one IMAP command

_STATUS_OF_KIND = {
    Kind.REPLY: InboundStatus.REPLY,
    Kind.AUTOREPLY: InboundStatus.AUTOREPLY,
    Kind.BOUNCE: InboundStatus.BOUNCE,
    Kind.OWN: InboundStatus.IGNORED,
    Kind.BULK: InboundStatus.IGNORED,
    Kind.UNUSABLE: InboundStatus.QUARANTINED,
}


@dataclass(frozen=True)
class Outcome:
    """What became of one message, for the CLI and the logs."""

    status: InboundStatus
    case_id: str | None
    reason: str
    earlier: bool = False  # recorded by an earlier pass; only the move was left to do


class Intake:
    def __init__(self, settings: Settings, engine: Engine, renderer: Renderer) -> None:
        self.settings = settings
        self.engine = engine
        self.renderer = renderer
        self.context = ParseContext(
            timezone=settings.daemon.timezone,
            case_prefix=settings.daemon.case_prefix,
            own_addresses=frozenset({settings.outbound.from_email}),
            own_message_id_domain=settings.message_id_domain,
        )

    # -- the pass -------------------------------------------------------------------------

    def drain(self, source: MailSource, now: datetime) -> list[Outcome]:
        """Handle every message now in the inbox; moves go in batches, each after its commits."""
        outcomes: list[Outcome] = []
        settled: list[tuple[SourceKey, Outcome]] = []
        for item in source.fetch_new():
            outcome = self.settle(item, now)
            if outcome is not None:
                outcomes.append(outcome)
                settled.append((item.key, outcome))
            if len(settled) >= MOVE_BATCH:
                self.move(source, settled, now)
                settled = []
        self.move(source, settled, now)
        return outcomes

    def handle(self, source: MailSource, item: Fetched, now: datetime) -> Outcome | None:
        """One message: commit its outcome, then move it; None when nothing could be committed."""
        outcome = self.settle(item, now)
        if outcome is not None:
            self.move(source, [(item.key, outcome)], now)
        return outcome

    def settle(self, item: Fetched, now: datetime) -> Outcome | None:
        """The committed outcome: found from an earlier pass, or decided and committed now."""
        return self.recorded(item.key) or self.record(item, now)

    def move(self, source: MailSource, settled: list[tuple[SourceKey, Outcome]], now: datetime) -> None:
        """Move committed messages out of the inbox, then note that they left."""
        if not settled:
            return
        to_quarantine = [k for k, o in settled if o.status.folder == "quarantine"]
        to_processed = [k for k, o in settled if o.status.folder != "quarantine"]
        source.move_to_quarantine(to_quarantine)
        source.move_to_processed(to_processed)
        self._mark_moved([k for k, _ in settled], now)

    def recorded(self, key: SourceKey) -> Outcome | None:
        with session(self.engine) as db:
            row = db.exec(_at_place(key)).first()
        return Outcome(InboundStatus(row.status), row.case_id, row.reason, earlier=True) if row else None

    def record(self, item: Fetched, now: datetime, retry: bool = True) -> Outcome | None:
        parsed = parse(item.raw, self.context)
        try:
            with session(self.engine) as db:
                outcome = self.apply(db, item, parsed, now)
                db.commit()
        except IntegrityError:
            # Another process committed this place, or this Message-ID's case, first: look
            # again, and the second look finds it recorded or registers a duplicate sighting.
            if retry:
                return self.recorded(item.key) or self.record(item, now, retry=False)
            log.exception("conflict persists key=%s message_id=%s", item.key, parsed.message_id)
            return self.record_failure(item, parsed, "database conflict", now)
        except OperationalError:
            log.exception("database unavailable; message left in the inbox key=%s", item.key)
            return None
        except Exception as exc:  # one bad message must never stop the daemon
            log.exception("processing failed key=%s message_id=%s", item.key, parsed.message_id)
            return self.record_failure(item, parsed, f"{type(exc).__name__}: {exc}", now)
        log.info("inbound %s case=%s message_id=%s subject=%r", outcome.status.value,
                 outcome.case_id, parsed.message_id, parsed.subject)
        return outcome

    def record_failure(self, item: Fetched, parsed: ParsedMail, error: str, now: datetime) -> Outcome | None:
        """Keep the evidence and tell 综合部, in a fresh transaction."""
        reason = f"处理出错：{error}"
        try:
            with session(self.engine) as db:
                self._inbound(db, item, parsed, InboundStatus.QUARANTINED, None, reason, now, kind="error")
                self._quarantine_notice(db, item, parsed, reason, now)
                db.commit()
        except Exception:
            log.exception("cannot record the failure; message left in the inbox key=%s", item.key)
            return None
        return Outcome(InboundStatus.QUARANTINED, None, reason)

    # -- one transaction ------------------------------------------------------------------

    def apply(self, db: Session, item: Fetched, parsed: ParsedMail, now: datetime) -> Outcome:
        if parsed.kind is Kind.COMPLAINT:
            return self._complaint(db, item, parsed, now)
        status = _STATUS_OF_KIND[parsed.kind]
        if status is InboundStatus.QUARANTINED:
            self._inbound(db, item, parsed, status, None, parsed.reason, now)
            self._quarantine_notice(db, item, parsed, parsed.reason, now)
            return Outcome(status, None, parsed.reason)
        case_id = self._thread_case(db, parsed) if status is not InboundStatus.IGNORED else None
        self._inbound(db, item, parsed, status, case_id, parsed.reason, now)
        if case_id:
            self._event(db, case_id, now, "mail_in", parsed, f"{status.value}: {_first_line(parsed.text)}")
        return Outcome(status, case_id, parsed.reason)

    def _complaint(self, db: Session, item: Fetched, parsed: ParsedMail, now: datetime) -> Outcome:
        source_key = parsed.message_id or "sha256:" + _digest(item.raw)
        existing = db.exec(select(Case.id).where(Case.source_key == source_key)).first()
        if existing is not None:
            reason = f"重复收到，已登记为 {existing}"
            self._inbound(db, item, parsed, InboundStatus.DUPLICATE, existing, reason, now)
            self._event(db, existing, now, "duplicate", parsed, f"同一邮件再次收到（{item.key.mailbox}）")
            return Outcome(InboundStatus.DUPLICATE, existing, reason)
        draft = draft_case(parsed, self.settings.directory, self.settings.deadlines,
                           item.arrived_at or now, now)
        case = self._register(db, draft, parsed, source_key, now)
        self._inbound(db, item, parsed, InboundStatus.REGISTERED, case.id, parsed.reason, now)
        return Outcome(InboundStatus.REGISTERED, case.id, parsed.reason)

    def _register(self, db: Session, draft: CaseDraft, parsed: ParsedMail, source_key: str,
                  now: datetime) -> Case:
        case = _case_row(draft, parsed, source_key, self._next_case_id(db, now), now)
        db.add(case)
        db.flush()  # the case row must exist before rows that reference it
        deadlines = [Deadline(case_id=case.id, kind=d.kind.value, due_at=d.due_at, met_at=d.met_at,
                              late=d.late) for d in draft.deadlines]
        db.add_all(deadlines)
        actor = draft.forwarder_email or (parsed.sender.email if parsed.sender else "unknown")
        self._event(db, case.id, now, "mail_in", parsed, "转来投诉" if draft.forwarder_email else "外部来信",
                    actor=actor)
        self._event(db, case.id, now, "registered", None, _registration_summary(draft))
        self._acknowledge(db, case, deadlines, parsed, now)
        return case

    def _acknowledge(self, db: Session, case: Case, deadlines: list[Deadline], parsed: ParsedMail,
                     now: datetime) -> None:
        """The registration mail: to the forwarder, cc 综合部 (a direct complaint: 综合部 only)."""
        directory = self.settings.directory
        gd = list(directory.mailboxes(directory.general_dept))
        forwarder = _forwarder_person(case, parsed, directory.person(case.forwarder_email or ""))
        to, cc = ([forwarder], gd) if forwarder else (gd, [])
        context = mail_context(case, deadlines, directory)
        context["greeting"] = "、".join(dict.fromkeys(p.name or p.email for p in to))
        references = (*parsed.references, parsed.message_id) if parsed.message_id else ()
        enqueue(db, self.renderer, directory, case_id=case.id, step="ack", template="ack",
                context=context, to=to, cc=cc, now=now,
                thread=Thread(parsed.message_id if forwarder else None, tuple(references) if forwarder else ()),
                message_id_domain=self.settings.message_id_domain)

    def _quarantine_notice(self, db: Session, item: Fetched, parsed: ParsedMail, reason: str,
                           now: datetime) -> None:
        directory = self.settings.directory
        inbound = db.exec(_at_place(item.key)).one()
        context = {
            "greeting": directory.general_dept.name,
            "folder": self.settings.inbound.quarantine_folder,
            "mail": {"id": inbound.id, "mailbox": item.key.mailbox, "sender": inbound.sender,
                     "subject": parsed.subject, "seen_at": now, "size": len(item.raw), "reason": reason},
        }
        enqueue(db, self.renderer, directory, case_id=None, step=f"quarantine-{inbound.id}",
                template="quarantine", context=context, to=directory.mailboxes(directory.general_dept),
                now=now, message_id_domain=self.settings.message_id_domain)

    # -- rows -----------------------------------------------------------------------------

    def _next_case_id(self, db: Session, now: datetime) -> str:
        """MT-YYYYMMDD-NNNN, numbered per local day."""
        day = now.astimezone(self.settings.daemon.timezone).strftime("%Y%m%d")
        counter = db.exec(select(CaseCounter).where(CaseCounter.day == day).with_for_update()).first()
        if counter is None:
            counter = CaseCounter(day=day, last=0)
        counter.last += 1
        db.add(counter)
        return f"{self.settings.daemon.case_prefix}-{day}-{counter.last:04d}"

    def _inbound(self, db: Session, item: Fetched, parsed: ParsedMail, status: InboundStatus,
                 case_id: str | None, reason: str, now: datetime, kind: str | None = None) -> None:
        db.add(InboundMail(
            mailbox=item.key.mailbox, uidvalidity=item.key.uidvalidity, uid=item.key.uid,
            message_id=parsed.message_id, digest=_digest(item.raw), kind=kind or parsed.kind.value,
            status=status.value, case_id=case_id, sender=parsed.sender.email if parsed.sender else None,
            subject=parsed.subject[:500], reason=reason, size=len(item.raw), raw=item.raw, seen_at=now,
        ))
        db.flush()

    def _event(self, db: Session, case_id: str, now: datetime, kind: str, parsed: ParsedMail | None,
               summary: str, actor: str | None = None) -> None:
        sender = parsed.sender.email if parsed and parsed.sender else "complaintd"
        db.add(Event(case_id=case_id, at=now, kind=kind, actor=actor or sender,
                     message_id=parsed.message_id if parsed else None,
                     subject=parsed.subject[:500] if parsed else None, summary=summary))

    def _thread_case(self, db: Session, parsed: ParsedMail) -> str | None:
        """The case a reply belongs to: by the Message-IDs we sent, else by the subject tag."""
        ids = [*parsed.in_reply_to, *parsed.references]
        if ids:
            hit = db.exec(select(Outbox.case_id).where(Outbox.message_id.in_(ids))).first()  # type: ignore[attr-defined]
            if hit:
                return hit
        if parsed.case_tag and db.get(Case, parsed.case_tag) is not None:
            return parsed.case_tag
        return None

    def _mark_moved(self, keys: list[SourceKey], now: datetime) -> None:
        with session(self.engine) as db:
            for key in keys:
                row = db.exec(_at_place(key)).first()
                if row is not None and row.moved_at is None:
                    row.moved_at = now
            db.commit()


def _at_place(key: SourceKey):  # type: ignore[no-untyped-def]
    return select(InboundMail).where(
        InboundMail.mailbox == key.mailbox, InboundMail.uidvalidity == key.uidvalidity,
        InboundMail.uid == key.uid,
    )


def _case_row(draft: CaseDraft, parsed: ParsedMail, source_key: str, case_id: str, now: datetime) -> Case:
    original = draft.original_from
    return Case(
        id=case_id, status=CaseStatus.REGISTERED.value, category=draft.category,
        received_at=draft.received_at, registered_at=now, receiving_dept=draft.receiving_dept.id,
        receiver_email=draft.receiver_email, forwarder_email=draft.forwarder_email,
        media_outlet=draft.media_outlet, reporter_name=draft.reporter_name,
        original_from_name=original.name if original else None,
        original_from_email=original.email if original else None,
        original_sent_at=draft.original_sent_at, original_subject=draft.original_subject,
        phone=draft.phone, customer_number=draft.customer_number, complaint_text=draft.complaint_text,
        attachments=list(draft.attachments), account_manager=draft.account_manager, late=draft.late,
        source_key=source_key, source_message_id=parsed.message_id, updated_at=now,
    )


def _forwarder_person(case: Case, parsed: ParsedMail, known: Person | None) -> Person | None:
    if case.forwarder_email is None:
        return None
    if known is not None:
        return known
    return Person(parsed.sender.name if parsed.sender else "", case.forwarder_email)


def _registration_summary(draft: CaseDraft) -> str:
    parts = [f"接收部门 {draft.receiving_dept.name}"]
    if draft.media_outlet:
        parts.append(f"媒体单位 {draft.media_outlet}")
    if draft.late:
        parts.append("迟报：登记时已有时限过期")
    return "登记：" + "，".join(parts)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:200]


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
