"""The deadline pass: find the cases whose clocks came due, ask the policy, carry it out.

Each case is settled in its own transaction: its clocks met or breached, its status, new
clocks (ack windows, the 综合部 stage), and the mails as outbox rows, all at once or not at
all. The pass reads only what is due, through the (met_at, breached_at, due_at) index, so
its cost follows the number of due clocks, not the size of the register.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from functools import cached_property
from typing import Any, cast

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.orm import object_session
from sqlmodel import Session, select

from daemon.config import Settings
from daemon.outbox import Mail, Thread, enqueue, outbox_rows
from daemon.rendering import Renderer
from daemon.store import session
from daemon.views import greeting, mail_context
from models.directory import Person
from models.labels import STATUS_LABELS, clock_label
from models.policy import CaseState, Clock, Decision, Notify, Step, decide
from models.tables import Case, Deadline, Event, Outbox
from models.types import CLOSED_STATUSES, AckTarget, DeadlineKind, EventKind

log = logging.getLogger(__name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PASS_LIMIT = 1000  # cases settled per pass; the rest are due on the next tick


def deadline_pass(engine: Engine, settings: Settings, renderer: Renderer, now: datetime,
                  stop: Callable[[], bool] = lambda: False) -> int:
    """Settle every case with a clock due at `now`, until `stop()` (SIGTERM: the case in hand
    is finished, the rest wait for the next start); returns how many cases acted."""
    acted = 0
    for case_id in due_cases(engine, now):
        if stop():
            break
        try:
            acted += settle_case(engine, settings, renderer, case_id, now)
        except Exception:  # one case's failure must not hold up the others' clocks
            log.exception("deadline pass failed case=%s", case_id)
    return acted


def due_cases(engine: Engine, now: datetime, limit: int = PASS_LIMIT) -> list[str]:
    """Open cases with an open clock due by `now`, or an approved statement waiting."""
    closed = list(CLOSED_STATUSES)
    open_clock = (Deadline.met_at.is_(None), Deadline.breached_at.is_(None))  # type: ignore[union-attr]
    with session(engine) as db:
        due = db.exec(select(Deadline.case_id).where(*open_clock, Deadline.due_at <= now)
                      .order_by(Deadline.due_at).limit(limit)).all()  # type: ignore[arg-type]
        waiting = db.exec(select(Deadline.case_id).where(
            *open_clock, Deadline.kind == DeadlineKind.STATEMENT)).all()
        ids = list(dict.fromkeys([*due, *waiting]))
        if not ids:
            return []
        open_ids = set(db.exec(select(Case.id).where(Case.id.in_(ids), Case.status.not_in(closed))))  # type: ignore[attr-defined]
    return [i for i in ids if i in open_ids]


def next_due(engine: Engine, now: datetime) -> datetime | None:
    """When the next open clock runs out after `now` (None: no clock ahead), so that the clock
    loop can wake for it rather than at the tick after it. One look along the open-clock
    index; a case closed meanwhile only costs a pass that finds nothing."""
    with session(engine) as db:
        return db.exec(select(func.min(Deadline.due_at)).where(
            Deadline.met_at.is_(None), Deadline.breached_at.is_(None), Deadline.due_at > now)).one()  # type: ignore[union-attr]


def settle_case(engine: Engine, settings: Settings, renderer: Renderer, case_id: str, now: datetime) -> int:
    with session(engine) as db:
        case = db.exec(select(Case).where(Case.id == case_id).with_for_update()).one()
        clocks = list(db.exec(select(Deadline).where(Deadline.case_id == case_id)))
        decision = decide(case_state(case, clocks, settings), settings.directory, settings.deadlines, now)
        if decision.empty:
            return 0
        _apply(db, settings, renderer, case, clocks, decision, now)
        db.commit()
    log.info("deadline pass case=%s breached=%s mails=%s status=%s", case_id,
             [str(k) for k, _ in decision.breached], [str(m.step) for m in decision.mails], decision.status)
    return 1


def case_state(case: Case, clocks: Sequence[Deadline], settings: Settings) -> CaseState:
    directory = settings.directory
    dept = directory.department(case.receiving_dept) or directory.general_dept
    return CaseState(
        id=case.id, status=case.status, receiving_dept=dept, receiver_email=case.receiver_email,
        outlet=directory.outlet(case.media_outlet), received_at=case.received_at,
        clocks=tuple(Clock(c.kind, c.round, c.due_at, c.met_at, c.breached_at, ack_target(c)) for c in clocks),
        assessment=case.assessment, expected_completion_at=case.expected_completion_at,
        group_depts=tuple(case.group_depts or ()), group_requested=case.group_requested_at is not None,
    )


def _apply(db: Session, settings: Settings, renderer: Renderer, case: Case, clocks: list[Deadline],
           decision: Decision, now: datetime) -> None:
    by_key = {(c.kind, c.round): c for c in clocks}
    for kind, round_ in decision.met:
        by_key[(kind, round_)].met_at = now
    for kind, round_ in decision.breached:
        by_key[(kind, round_)].breached_at = now
        target = ack_target(by_key[(kind, round_)])
        _event(db, case.id, now, EventKind.BREACHED, f"时限已过：{clock_label(kind)}"
               + (f"（{target.address} 未答复）" if target and kind == DeadlineKind.ACK else ""))
    if decision.status is not None and decision.status != case.status:
        before, after = (STATUS_LABELS.get(x, x) for x in (case.status, decision.status))
        _event(db, case.id, now, EventKind.STATUS, f"状态：{before} → {after}")
        case.status = decision.status
    for name, at in decision.marks.items():
        setattr(case, name, at)
    case.updated_at = now
    for new in decision.clocks:
        if (new.kind, new.round) not in by_key:
            clock = Deadline(case_id=case.id, kind=new.kind, round=new.round, due_at=new.due_at,
                             target=str(new.target or ""))
            db.add(clock)
            clocks.append(clock)
            by_key[(new.kind, new.round)] = clock
    db.add(case)
    if not decision.mails:
        return
    db.flush()  # the mails quote the event log, this decision's lines included
    events = list(db.exec(select(Event).where(Event.case_id == case.id).order_by(Event.at, Event.id)))  # type: ignore[arg-type]
    form = RegistrationForm(settings, case, clocks, events)
    for notify in decision.mails:
        enqueue(db, outbox_rows(renderer, settings.directory,
                                case_mail(settings, case, clocks, events, notify, now, form=form),
                                now, settings.message_id_domain))


class RegistrationForm:
    """The registration form (媒体投诉登记表, an XLSX) of one case version, built when first
    asked for.

    A case version is the case row, its clocks and its event log as the transaction that
    decides sees them: every mail of one decision shows that same record, so one form serves
    them all, and each of their recipients (building it takes openpyxl some 25 ms).
    """

    def __init__(self, settings: Settings, case: Case, clocks: Sequence[Deadline], events: Sequence[Event]) -> None:
        self.settings, self.case, self.clocks, self.events = settings, case, clocks, events

    @cached_property
    def attachment(self) -> tuple[str, str, bytes]:
        """(file name, MIME type, bytes), as Mail.attachments holds them."""
        from daemon.forms import registration_form  # openpyxl loads only once a form is made

        data = registration_form(self.case, self.clocks, self.events, self.settings.directory,
                                 self.settings.daemon.timezone)
        return f"媒体投诉登记表-{self.case.id}.xlsx", XLSX, data


def case_mail(settings: Settings, case: Case, clocks: Sequence[Deadline], events: Sequence[Event], notify: Notify,
              now: datetime, *, form: RegistrationForm | None = None, **extra: Any) -> Mail:
    """The step's template with the case, the clock it is about, and what is asked; with the
    registration form when the step calls for it (`form`: the decision's own, shared by its
    mails; else one is built for this mail)."""
    context: dict[str, Any] = mail_context(case, clocks, settings.directory)
    context.update(
        greeting=greeting(notify.to, settings.directory),
        step={"name": notify.step, "round": notify.round, "due_at": notify.due_at, "late": notify.late,
              "about": _about(settings, notify), "about_kind": _about_kind(settings, notify)},
        status_label=STATUS_LABELS.get(case.status, case.status),
        # By when an answer is expected before B or the next leader is told (the ack window).
        reply_by=(now + settings.deadlines[DeadlineKind.ACK]) if notify.awaits else None,
        events=_since_last_report(events) if notify.step is Step.PROGRESS else events,
        statement=case.statement or "",
    )
    context.update(extra)
    attachments = []
    if notify.attach_form:
        attachments.append((form or RegistrationForm(settings, case, clocks, events)).attachment)
    return Mail(case.id, notify.step, notify.step, context, notify.to, notify.cc,
                round=notify.round, thread=case_thread(case, [*notify.to, *notify.cc]), attachments=attachments)


def case_thread(case: Case, people: Sequence[Person]) -> Thread:
    """Each recipient's place: under the first mail of the case they were sent, their own
    copy, so every client shows them one conversation per case under a message they hold.
    Someone who has had none starts their conversation with this mail.

    The outbox is read through the case row's session: the transaction that queues this mail
    sees every copy queued before it. (A case drawn up outside any session has no mail yet.)
    A first copy that was never delivered stays the root all the same: every later mail
    names it, so clients still group them, under a missing parent.
    """
    db = cast(Session | None, object_session(case))
    emails = {p.email for p in people}
    if db is None or not emails:
        return Thread()
    first = select(func.min(Outbox.id)).where(
        Outbox.case_id == case.id, Outbox.recipient.in_(emails)).group_by(Outbox.recipient)  # type: ignore[attr-defined]
    # Only the head of each root mail is read: its References are all that is wanted, and the
    # whole row would bring the registration form (an XLSX) along with every case mail.
    roots = db.exec(select(Outbox.recipient, Outbox.message_id, func.substr(Outbox.data, 1, _HEAD_BYTES))
                    .where(Outbox.id.in_(first)))  # type: ignore[union-attr]
    return Thread(own={recipient: Thread(message_id, (*_references(head), message_id))
                       for recipient, message_id, head in roots})


# Our headers stay far below this: at most 20 References of ≤ 250 characters, the others short.
_HEAD_BYTES = 16_384


def _references(data: bytes) -> tuple[str, ...]:
    """The References a composed mail of ours carries (one id per folded line)."""
    head = BytesHeaderParser(policy=compat32).parsebytes(bytes(data).split(b"\r\n\r\n", 1)[0])
    return tuple(str(head.get("References", "")).split())


def ack_target(clock: Deadline) -> AckTarget | None:
    """What an ack window awaits, read from its stored target; None for the other clocks."""
    return AckTarget.parse(clock.target) if clock.target else None


def _about(settings: Settings, notify: Notify) -> str:
    """The person who did not answer, as a failover mail names them."""
    if notify.about is None:
        return ""
    email = notify.about.address
    person = settings.directory.person(email)
    return person.mailbox if person else email


def _about_kind(settings: Settings, notify: Notify) -> str:
    """"leader" when the silent person is a leader (越级上报), else "a" (an A contact → B)."""
    email = notify.about.address if notify.about else ""
    leaders = settings.directory.leaders
    leader_emails = {p.email for p in (leaders.company, leaders.media, leaders.higher_authority) if p}
    leader_emails |= {d.leader.email for d in settings.directory.departments if d.leader}
    return "leader" if email in leader_emails else "a"


def _since_last_report(events: Sequence[Event]) -> Sequence[Event]:
    """A dynamic report tells what happened since the previous one."""
    last = max((i for i, e in enumerate(events) if e.kind == EventKind.MAIL_OUT and "progress" in (e.message_id or "")),
               default=-1)
    return events[last + 1:]


def _event(db: Session, case_id: str, now: datetime, kind: EventKind, summary: str) -> None:
    db.add(Event(case_id=case_id, at=now, kind=kind, actor="complaintd", summary=summary))
