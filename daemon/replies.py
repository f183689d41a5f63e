"""Replies: the people's half of the conversation. Authenticate, acknowledge, act, confirm.

Who may answer (threat model in docs/design.md, "Who may answer"): a `From:` header proves
nothing. A reply counts only when it proves that its sender received a mail of that case:
1. it threads (In-Reply-To / References) to a Message-ID complaintd minted for that very
   address — the random part of our Message-IDs is the secret a forger cannot know — or,
2. for clients that drop threading headers, its subject carries that address's own token in
   the case tag, `[MT-20261130-0001·7f3a9c]` (rendering.token_of);
and then only for a command that sender's role allows on that case (the rule table, models/replies.py).

What becomes of the others:
- a directory address that proves nothing changes nothing; that person is mailed once (at
  most CONFIRMS_PER_HOUR an hour) asking them to answer our mail instead, so a forged From
  warns the real owner and a genuine user of a header-dropping client is told what to do;
- an address outside the directory that names a case (a journalist or customer writing
  again) is attached to the case as an event and the case's people are told (FOLLOWUPS_PER_HOUR);
  when it names no case of ours it is registered as a new complaint (`Handled.register`);
- a mail naming no case from a directory address is recorded and rejected; no backscatter.
Every accepted reply from a notified person acknowledges what was awaited from them or their
A/B partner; commands change the case as SPEC §3 says, mostly by moving the clocks, and the
sender gets one short threaded confirmation (at most CONFIRMS_PER_HOUR an hour). What a
proven reply does is decided by models/replies.py (`decide_reply`, pure); this module loads
the case for it, writes the decision to the rows and composes the mails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from hmac import compare_digest
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from daemon.config import Settings
from daemon.escalation import RegistrationForm, case_mail, case_state
from daemon.outbox import outbox_rows
from daemon.rendering import Renderer, token_of
from daemon.views import first_line
from models.directory import Person
from models.permissions import roles_of
from models.policy import Notify, Step
from models.replies import Answer, ReplyDecision, decide_reply, word_of
from models.tables import Case, Deadline, Event, Outbox
from models.types import EventKind
from parsers.commands import Command, read_commands
from parsers.message import ParsedMail

log = logging.getLogger(__name__)

CONFIRMS_PER_HOUR = 10  # a reply loop with a person's client never floods their inbox
FOLLOWUPS_PER_HOUR = 5  # an outsider writing again and again is logged, not relayed each time
_FOLLOWUP_TEXT = 4000  # characters of an outsider's follow-up quoted to the case's people


@dataclass(frozen=True)
class Handled:
    """What one reply comes to: the case it concerns, what to log, what to send; `register`
    when an outsider's mail names no case of ours after all (SPEC §4: then it is a complaint)."""

    case_id: str | None
    events: list[Event]
    outbox: list[dict[str, object]]
    register: bool = False


@dataclass
class Reply:
    """One proven reply being handled: the case row and its clocks, loaded for update, and
    what the rules decided."""

    case: Case
    clocks: list[Deadline]
    sender: str
    now: datetime
    decision: ReplyDecision


class Replies:
    def __init__(self, settings: Settings, renderer: Renderer) -> None:
        self.settings = settings
        self.renderer = renderer

    def handle(self, db: Session, mail: ParsedMail, now: datetime) -> Handled:
        """What one reply does: the case it concerns, events to log, outbox rows; the caller writes them."""
        sender = mail.sender.email if mail.sender else ""
        if not self.settings.directory.is_known(sender):
            named = self.named_case(db, mail)
            if named is None:
                return Handled(None, [], [], register=True)
            return self._followup(db, mail, named, sender, now)
        case_id = self._proven_case(db, mail, sender)
        if case_id is None:
            return self._unproven(db, mail, sender, now)
        case = db.exec(select(Case).where(Case.id == case_id).with_for_update()).first()
        if case is None:
            return Handled(None, [_event(None, now, EventKind.REJECTED, sender, mail, f"没有案件 {case_id}")], [])
        dept = self.settings.directory.department(case.receiving_dept) or self.settings.directory.general_dept
        roles = roles_of(sender, dept, self.settings.directory.outlet(case.media_outlet), self.settings.directory)
        if not roles:
            return Handled(case.id, [_event(case.id, now, EventKind.REJECTED, sender, mail,
                                            f"{sender} 不在本案件的处理人员中，回复未采纳")], [])
        clocks = list(db.exec(select(Deadline).where(Deadline.case_id == case.id)))
        answer = Answer(sender, mail.sender.name if mail.sender else "", roles,
                        _commands_in(mail, self.settings.daemon.timezone, now), first_line(mail.text, 80),
                        _next_step_round(db, case.id, Step.CONFIRM))
        state = replace(case_state(case, clocks, self.settings), category=case.category,
                        category_basis=case.category_basis, statement=case.statement)
        decision = decide_reply(state, answer, self.settings.directory, self.settings.deadlines,
                                self.settings.daemon.timezone, now)
        events = [_event(case.id, now, EventKind.MAIL_IN, sender, mail, first_line(mail.text) or "（空白回复）")]
        events += [_event(case.id, now, o.kind, sender, mail, o.summary) for o in decision.events]
        reply = Reply(case, clocks, sender, now, decision)
        _apply(db, reply)
        return Handled(case.id, events, self._mails(db, reply, mail))

    # -- authentication -------------------------------------------------------------------

    def _proven_case(self, db: Session, mail: ParsedMail, sender: str) -> str | None:
        """The case whose mail this sender provably received and answers, else None."""
        ids = [*mail.in_reply_to, *mail.references]
        if ids:
            case_id = db.exec(select(Outbox.case_id).where(
                Outbox.message_id.in_(ids), Outbox.recipient == sender,  # type: ignore[attr-defined]
                Outbox.case_id.is_not(None))).first()  # type: ignore[union-attr]
            if case_id is not None:
                if mail.case_tag and mail.case_tag != case_id:
                    log.warning("reply tagged %s threads to %s; acting on %s", mail.case_tag, case_id, case_id)
                return case_id
        if mail.case_tag and mail.case_token:
            sent = db.exec(select(Outbox.message_id).where(Outbox.case_id == mail.case_tag,
                                                           Outbox.recipient == sender))
            token = mail.case_token.lower()
            if any(compare_digest(token_of(mid), token) for mid in sent):
                return mail.case_tag
        return None

    def named_case(self, db: Session, mail: ParsedMail) -> str | None:
        """The existing case a mail names, proof or not: threading to any mail of ours (the
        case's thread root included), else the subject tag."""
        ids = [*mail.in_reply_to, *mail.references]
        if ids:
            hit = db.exec(select(Outbox.case_id).where(Outbox.message_id.in_(ids),  # type: ignore[attr-defined]
                                                       Outbox.case_id.is_not(None))).first()  # type: ignore[union-attr]
            if hit:
                return hit
            suffix = f"@{self.settings.message_id_domain}>"
            roots = [i[1:-len(suffix)] for i in ids if i.endswith(suffix) and "." not in i[1:-len(suffix)]]
            if roots:
                hit = db.exec(select(Case.id).where(Case.id.in_(roots))).first()  # type: ignore[attr-defined]
                if hit:
                    return hit
        if mail.case_tag and db.get(Case, mail.case_tag) is not None:
            return mail.case_tag
        return None

    def _unproven(self, db: Session, mail: ParsedMail, sender: str, now: datetime) -> Handled:
        """A directory address whose mail proves nothing: nothing changes, and the address's
        owner is asked once to answer our mail instead (a forgery thus reaches the real owner)."""
        case_id = self.named_case(db, mail)
        if case_id is None:
            return Handled(None, [_event(None, now, EventKind.REJECTED, sender, mail,
                                         "回复中找不到本系统的案件，未采纳")], [])
        events = [_event(case_id, now, EventKind.REJECTED, sender, mail,
                         "未能证明发件人收到过本案件的邮件（无邮件线索，主题口令不符），未采纳；已请其回复系统邮件确认")]
        if self._sent_within_hour(db, Step.VERIFY, sender=sender, now=now) >= CONFIRMS_PER_HOUR:
            return Handled(case_id, events, [])
        case = db.get(Case, case_id)
        assert case is not None  # named_case found it
        person = self.settings.directory.person(sender) or Person(mail.sender.name if mail.sender else "", sender)
        understood = [word_of(c.verb) for c in _commands_in(mail, self.settings.daemon.timezone, now)]
        notify = Notify(Step.VERIFY, _next_step_round(db, case_id, Step.VERIFY), (person,), (), (), now)
        rows = self._case_mail_rows(db, case, notify, now, claimed=sender, their_subject=mail.subject,
                                    understood=understood)
        return Handled(case_id, events, rows)

    def _followup(self, db: Session, mail: ParsedMail, case_id: str, sender: str, now: datetime) -> Handled:
        """An outsider wrote again about a case: never dropped, never answered; the case's
        people are told (SPEC §4), at most FOLLOWUPS_PER_HOUR times an hour per case."""
        text = mail.text.strip()
        events = [_event(case_id, now, EventKind.MAIL_IN, sender, mail, f"外部来信（补充）：{first_line(text) or '（无正文）'}")]
        if self._sent_within_hour(db, Step.FOLLOWUP, case_id=case_id, now=now) >= FOLLOWUPS_PER_HOUR:
            return Handled(case_id, events, [])
        case = db.get(Case, case_id)
        assert case is not None
        directory = self.settings.directory
        dept = directory.department(case.receiving_dept)
        receiver = case.receiver_email or case.forwarder_email
        to = [p for p in (directory.person(receiver) or Person("", receiver) if receiver else None,
                          dept.leader if dept else None) if p is not None]
        gd = list(directory.mailboxes(directory.general_dept))
        notify = Notify(Step.FOLLOWUP, _next_step_round(db, case_id, Step.FOLLOWUP), tuple(to or gd),
                        tuple(gd) if to else (), (), now)
        rows = self._case_mail_rows(db, case, notify, now, from_address=sender, their_subject=mail.subject,
                                    their_text=text[:_FOLLOWUP_TEXT])
        return Handled(case_id, events, rows)

    def _case_mail_rows(self, db: Session, case: Case, notify: Notify, now: datetime,
                        **extra: Any) -> list[dict[str, object]]:
        clocks = list(db.exec(select(Deadline).where(Deadline.case_id == case.id)))
        events = list(db.exec(select(Event).where(Event.case_id == case.id).order_by(Event.at, Event.id)))  # type: ignore[arg-type]
        composed = case_mail(self.settings, case, clocks, events, notify, now, **extra)
        return outbox_rows(self.renderer, self.settings.directory, composed, now, self.settings.message_id_domain)

    def _sent_within_hour(self, db: Session, step: Step, *, now: datetime, sender: str | None = None,
                          case_id: str | None = None) -> int:
        """How many mails of this step went to `sender` (rows), or about `case_id` (rounds), in the last hour."""
        query = select(func.count(func.distinct(Outbox.round)) if case_id else func.count()).select_from(Outbox).where(
            Outbox.step == step, Outbox.created_at > now - timedelta(hours=1))
        if sender is not None:
            query = query.where(Outbox.recipient == sender)
        if case_id is not None:
            query = query.where(Outbox.case_id == case_id)
        return db.exec(query).one()

    def _mails(self, db: Session, reply: Reply, mail: ParsedMail) -> list[dict[str, object]]:
        """The decided mails as outbox rows, the confirmation only while its sender is under the cap."""
        events = list(db.exec(select(Event).where(Event.case_id == reply.case.id).order_by(Event.at, Event.id)))  # type: ignore[arg-type]
        form = RegistrationForm(self.settings, reply.case, reply.clocks, events)
        rows: list[dict[str, object]] = []
        for notify in reply.decision.mails:
            if notify.step is Step.CONFIRM and not self._may_confirm(db, reply):
                continue
            composed = case_mail(self.settings, reply.case, reply.clocks, events, notify, reply.now, form=form,
                                 done=reply.decision.done)
            rows += outbox_rows(self.renderer, self.settings.directory, composed, reply.now,
                                self.settings.message_id_domain)
        return rows

    def _may_confirm(self, db: Session, reply: Reply) -> bool:
        return self._sent_within_hour(db, Step.CONFIRM, sender=reply.sender, now=reply.now) < CONFIRMS_PER_HOUR


def _apply(db: Session, reply: Reply) -> None:
    """Write the decision to the case row and its clocks (new ones first: a reply may move or
    meet a clock it started)."""
    case, decision = reply.case, reply.decision
    for name, value in decision.fields.items():
        setattr(case, name, value)
    if decision.status is not None:
        case.status = decision.status
    for new in decision.clocks:
        reply.clocks.append(Deadline(case_id=case.id, kind=new.kind, round=new.round, due_at=new.due_at,
                                     target=str(new.target or "")))
    by_key = {(c.kind, c.round): c for c in reply.clocks}
    for key, due_at in decision.moved.items():
        by_key[key].due_at = due_at
    for key in decision.met:
        by_key[key].met_at = reply.now
    db.add(case)
    for clock in reply.clocks:
        db.add(clock)


def _next_step_round(db: Session, case_id: str, step: Step) -> int:
    last = db.exec(select(func.max(Outbox.round)).where(Outbox.case_id == case_id, Outbox.step == step)).one()
    return (last or 0) + 1


def _event(case_id: str | None, now: datetime, kind: EventKind, actor: str, mail: ParsedMail, summary: str) -> Event:
    return Event(case_id=case_id, at=now, kind=kind, actor=actor or "unknown", message_id=mail.message_id,
                 subject=mail.subject[:500] or None, summary=summary)


def _commands_in(mail: ParsedMail, tz: tzinfo, now: datetime) -> tuple[Command, ...]:
    """The reply's commands; none when reading them raises (a bug of ours), which is logged: the
    reply still acknowledges, and its sender is told that no command was recognised."""
    try:
        return read_commands(mail.text, tz, now)
    except Exception:
        log.exception("message_id=%s reading the commands failed; taken as none", mail.message_id)
        return ()
