"""Replies: the people's half of the conversation. Authenticate, acknowledge, act, confirm.

Who may answer (threat model in docs/design.md, "Who may answer"): a `From:` header proves
nothing. A reply counts only when it proves that its sender received a mail of that case:
1. it threads (In-Reply-To / References) to a Message-ID complaintd minted for that very
   address — the random part of our Message-IDs is the secret a forger cannot know — or,
2. for clients that drop threading headers, its subject carries that address's own token in
   the case tag, `[MT-20261130-0001·7f3a9c]` (rendering.token_of);
and then only for a command that sender's role allows on that case (models/permissions.py).

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
sender gets one short threaded confirmation (at most CONFIRMS_PER_HOUR an hour).
"""

from __future__ import annotations

import logging
from hmac import compare_digest
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Callable

from sqlalchemy import func
from sqlmodel import Session, select

from daemon.config import Settings
from daemon.escalation import case_mail
from daemon.outbox import outbox_rows
from daemon.rendering import Renderer, token_of
from daemon.views import first_line
from models.directory import Person
from models.permissions import may, partners, roles_of
from models.policy import Notify, Step
from models.tables import Case, Deadline, Event, Outbox
from models.types import CLOSED_STATUSES, CaseStatus, DeadlineKind
from parsers.commands import Command, Verb, read_commands
from parsers.message import ParsedMail

log = logging.getLogger(__name__)

CONFIRMS_PER_HOUR = 10  # a reply loop with a person's client never floods their inbox
FOLLOWUPS_PER_HOUR = 5  # an outsider writing again and again is logged, not relayed each time
_FOLLOWUP_TEXT = 4000  # characters of an outsider's follow-up quoted to the case's people

VERB_WORDS = {
    Verb.ACK: "收到", Verb.LOCAL: "可处理", Verb.CANNOT: "无法处理", Verb.ESCALATE: "上报综合部",
    Verb.SOLUTION: "方案", Verb.PROGRESS: "进展", Verb.RESOLVED: "办结", Verb.CATEGORY: "类别",
    Verb.MEDIA_OUTLET: "媒体单位", Verb.REPORTER: "记者", Verb.GROUP: "成立小组", Verb.STATEMENT: "口径",
    Verb.APPROVE: "批准", Verb.MAJOR: "重大", Verb.DISMISS: "非媒体投诉",
}


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
    """One reply being handled: the case row and its clocks, loaded for update."""

    case: Case
    clocks: list[Deadline]
    sender: str
    now: datetime
    done: list[str] = field(default_factory=list)  # what changed, in words, for the confirmation
    mails: list[tuple[Notify, dict[str, object]]] = field(default_factory=list)

    def clock(self, kind: DeadlineKind) -> Deadline | None:
        """The open clock of this kind, if any."""
        return next((c for c in self.clocks if c.kind == kind.value and c.met_at is None and c.breached_at is None),
                    None)

    def meet(self, kind: DeadlineKind) -> None:
        clock = self.clock(kind)
        if clock is not None:
            clock.met_at = self.now

    def due_now(self, kind: DeadlineKind) -> None:
        """Make a clock act on this tick's deadline pass (无法处理 → the AM at once)."""
        clock = self.clock(kind)
        if clock is not None:
            clock.due_at = min(clock.due_at, self.now)


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
            return Handled(None, [_event(None, now, "rejected", sender, mail, f"没有案件 {case_id}")], [])
        dept = self.settings.directory.department(case.receiving_dept) or self.settings.directory.general_dept
        roles = roles_of(sender, dept, self.settings.directory.outlet(case.media_outlet), self.settings.directory)
        if not roles:
            return Handled(case.id, [_event(case.id, now, "rejected", sender, mail,
                                            f"{sender} 不在本案件的处理人员中，回复未采纳")], [])
        reply = Reply(case, list(db.exec(select(Deadline).where(Deadline.case_id == case.id))), sender, now)
        events = [_event(case.id, now, "mail_in", sender, mail, first_line(mail.text) or "（空白回复）")]
        in_time, late = self._acknowledge(reply)
        if in_time:
            reply.done.append("已确认收到")
        if late:  # still counted: the record says who answered, and that it was after the window
            reply.done.append("已确认收到（已过答复时限，记为迟复）")
            events.append(_event(case.id, now, "command", sender, mail, "迟复确认：答复晚于确认时限"))
        commands = _commands_in(mail, self.settings.daemon.timezone, now)
        for command in commands:
            events.append(self._command(reply, roles, command, mail))
        if not commands and not in_time and not late:
            # Never silent: a reply we could not read is answered with what we read of it.
            reply.done.append(f"未识别出指令（读到：“{first_line(mail.text, 80) or '空白'}”），回复已记入案件记录。"
                              "如需操作，请在回复的第一行写明，例如“收到”“无法处理”“方案：……”")
        db.add(case)
        for clock in reply.clocks:
            db.add(clock)
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
            return Handled(None, [_event(None, now, "rejected", sender, mail,
                                         "回复中找不到本系统的案件，未采纳")], [])
        events = [_event(case_id, now, "rejected", sender, mail,
                         "未能证明发件人收到过本案件的邮件（无邮件线索，主题口令不符），未采纳；已请其回复系统邮件确认")]
        if self._sent_within_hour(db, Step.VERIFY, sender=sender, now=now) >= CONFIRMS_PER_HOUR:
            return Handled(case_id, events, [])
        case = db.get(Case, case_id)
        assert case is not None  # named_case found it
        person = self.settings.directory.person(sender) or Person(mail.sender.name if mail.sender else "", sender)
        understood = [VERB_WORDS[c.verb] for c in _commands_in(mail, self.settings.daemon.timezone, now)]
        notify = Notify(Step.VERIFY, _next_step_round(db, case_id, Step.VERIFY), (person,), (), (), now)
        rows = self._case_mail_rows(db, case, notify, now, claimed=sender, their_subject=mail.subject,
                                    understood=understood)
        return Handled(case_id, events, rows)

    def _followup(self, db: Session, mail: ParsedMail, case_id: str, sender: str, now: datetime) -> Handled:
        """An outsider wrote again about a case: never dropped, never answered; the case's
        people are told (SPEC §4), at most FOLLOWUPS_PER_HOUR times an hour per case."""
        text = mail.text.strip()
        events = [_event(case_id, now, "mail_in", sender, mail, f"外部来信（补充）：{first_line(text) or '（无正文）'}")]
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
                        **extra: object) -> list[dict[str, object]]:
        clocks = list(db.exec(select(Deadline).where(Deadline.case_id == case.id)))
        events = list(db.exec(select(Event).where(Event.case_id == case.id).order_by(Event.at, Event.id)))  # type: ignore[arg-type]
        composed = case_mail(self.settings, case, clocks, events, notify, now, **extra)
        return outbox_rows(self.renderer, self.settings.directory, composed, now, self.settings.message_id_domain)

    def _sent_within_hour(self, db: Session, step: Step, *, now: datetime, sender: str | None = None,
                          case_id: str | None = None) -> int:
        """How many mails of this step went to `sender` (rows), or about `case_id` (rounds), in the last hour."""
        query = select(func.count(func.distinct(Outbox.round)) if case_id else func.count()).select_from(Outbox).where(
            Outbox.step == step.value, Outbox.created_at > now - timedelta(hours=1))
        if sender is not None:
            query = query.where(Outbox.recipient == sender)
        if case_id is not None:
            query = query.where(Outbox.case_id == case_id)
        return db.exec(query).one()

    def _acknowledge(self, reply: Reply) -> tuple[int, int]:
        """Any human reply meets the ack windows awaiting its sender or their A/B partner:
        (open windows met in time, windows already run out and now answered late). A late
        answer keeps its breach (B or the next leader was told) and gains its met time."""
        who = partners(reply.sender, self.settings.directory)
        in_time = late = 0
        for clock in reply.clocks:
            if clock.kind != DeadlineKind.ACK.value or clock.met_at is not None or clock.target.rsplit("/", 1)[-1] not in who:
                continue
            clock.met_at = reply.now
            if clock.breached_at is None:
                in_time += 1
            else:
                late += 1
        return in_time, late

    # -- commands -------------------------------------------------------------------------

    def _command(self, reply: Reply, roles: frozenset, command: Command, mail: ParsedMail) -> Event:
        word = VERB_WORDS[command.verb]
        if CaseStatus(reply.case.status) in CLOSED_STATUSES and command.verb is not Verb.ACK:
            return _event(reply.case.id, reply.now, "rejected", reply.sender, mail, f"“{word}”：案件已关闭")
        if not may(command.verb, roles):
            return _event(reply.case.id, reply.now, "rejected", reply.sender, mail,
                          f"“{word}”：{reply.sender} 无权执行")
        summary = ACTIONS[command.verb](self, reply, command)
        reply.done.append(summary)
        return _event(reply.case.id, reply.now, "command", reply.sender, mail, f"{word}：{summary}")

    def _local(self, r: Reply, c: Command) -> str:
        r.case.assessment = "local"
        r.meet(DeadlineKind.ASSESS)
        if r.case.status in (CaseStatus.REGISTERED.value, CaseStatus.ACCOUNT_MANAGER.value):
            r.case.status = CaseStatus.LOCAL.value
        return "本部门可处理，由接收部门组织处理"

    def _cannot(self, r: Reply, c: Command) -> str:
        r.case.assessment = "cannot"
        r.meet(DeadlineKind.ASSESS)
        if r.case.status == CaseStatus.LOCAL.value:
            # 可处理 or a plan stopped the account-manager and 综合部 clocks; the plan has failed,
            # so they run again: the AM at once, 综合部 as long after as the procedure allows.
            deadlines = self.settings.deadlines
            gap = deadlines[DeadlineKind.GENERAL_DEPT] - deadlines[DeadlineKind.ACCOUNT_MANAGER]
            self._restart(r, DeadlineKind.ACCOUNT_MANAGER, r.now)
            self._restart(r, DeadlineKind.GENERAL_DEPT, r.now + max(gap, timedelta(0)))
        r.due_now(DeadlineKind.ACCOUNT_MANAGER)
        return "本部门无法处理，立即通知媒体单位客户经理"

    def _escalate(self, r: Reply, c: Command) -> str:
        r.case.assessment = "cannot"
        r.meet(DeadlineKind.ASSESS)
        if r.case.status == CaseStatus.LOCAL.value:  # its 综合部 clock was stopped by 可处理 or a plan
            self._restart(r, DeadlineKind.GENERAL_DEPT, r.now)
        r.due_now(DeadlineKind.GENERAL_DEPT)
        return "立即上报综合部"

    def _restart(self, r: Reply, kind: DeadlineKind, due_at: datetime) -> None:
        """A new round of a clock that was met (the policy acts on it when due), unless one is open."""
        if r.clock(kind) is None:
            rounds = [k.round for k in r.clocks if k.kind == kind.value]
            r.clocks.append(Deadline(case_id=r.case.id, kind=kind.value, round=max(rounds, default=-1) + 1,
                                     due_at=due_at, target=""))

    def _solution(self, r: Reply, c: Command) -> str:
        # A plan agreed with the media/customer means the case is being handled where it is,
        # as with 可处理: the account-manager and 综合部 clocks stop; only 无法处理, 上报综合部,
        # silence or a missed completion escalate from here (issue 12).
        self._local(r, c)
        r.case.solution = c.text
        r.case.expected_completion_at = c.expected_at
        r.meet(DeadlineKind.SOLUTION)
        completion = r.clock(DeadlineKind.NORMAL_COMPLETION)
        if completion is not None and c.expected_at is not None:
            completion.due_at = min(completion.due_at, c.expected_at)  # min(agreed, normal limit)
        self._report(r, Step.SOLUTION_REPORT)
        when = c.expected_at.astimezone(self.settings.daemon.timezone).strftime("%m-%d %H:%M") if c.expected_at else "未写明"
        return f"方案已登记（预计完成 {when}），已报部门领导和综合部"

    def _progress(self, r: Reply, c: Command) -> str:
        return "进展已记录，将写入下一次动态报告"

    def _resolved(self, r: Reply, c: Command) -> str:
        r.case.status, r.case.resolved_at, r.case.result = CaseStatus.RESOLVED.value, r.now, c.text or "已解决"
        self._close_clocks(r)
        self._report(r, Step.RESOLVED, attach_form=True)
        return "案件已办结，时限全部关闭，已报部门领导和综合部"

    def _category(self, r: Reply, c: Command) -> str:
        before = r.case.category
        was = ("推测" if r.case.category_basis == "judged" else "") + (f" {before} 类" if before else "未定")
        r.case.category, r.case.category_basis = c.category, "stated"
        r.case.category_reason = f"{r.sender} 回复确认" if before == c.category else f"{r.sender} 回复更正"
        if before == c.category:
            return f"投诉类别确认为 {c.category} 类"
        return f"投诉类别由{was}更正为 {c.category} 类"

    def _outlet(self, r: Reply, c: Command) -> str:
        outlet = self.settings.directory.outlet_by_name(c.text)
        r.case.media_outlet = outlet.name if outlet else c.text
        if outlet and outlet.account_manager_a:
            r.case.account_manager = outlet.account_manager_a.mailbox
        return f"媒体单位更正为 {r.case.media_outlet}"

    def _reporter(self, r: Reply, c: Command) -> str:
        r.case.reporter_name = c.text
        return f"记者/联系人更正为 {c.text}"

    def _group(self, r: Reply, c: Command) -> str:
        directory = self.settings.directory
        named = [d.id for d in directory.departments if any(n and (n in d.name or d.name in n) for n in c.departments)]
        r.case.group_depts = sorted(set(r.case.group_depts or []) | set(named))
        r.case.group_requested_at = r.now
        if r.case.status != CaseStatus.GENERAL_DEPT.value and r.case.status != CaseStatus.COMPANY_GROUP.value:
            r.case.status, r.case.gd_takeover_at = CaseStatus.GENERAL_DEPT.value, r.now
        group = r.clock(DeadlineKind.GROUP)
        if group is None:
            taken = [c.round for c in r.clocks if c.kind == DeadlineKind.GROUP.value]
            group = Deadline(case_id=r.case.id, kind=DeadlineKind.GROUP.value, round=max(taken, default=-1) + 1,
                             due_at=r.now, target="")
            r.clocks.append(group)
        group.due_at = min(group.due_at, r.now)
        return "成立公司级媒体投诉处理小组，立即通知各部门接口人"

    def _statement(self, r: Reply, c: Command) -> str:
        r.case.statement = c.text
        r.case.statement_approved_at = r.case.statement_approved_by = None
        self._report(r, Step.STATEMENT_DRAFT)
        return "对外口径草稿已登记，已送公司主管领导和媒体主管领导批准"

    def _approve(self, r: Reply, c: Command) -> str:
        if not r.case.statement:
            return "尚无口径草稿，批准未生效"
        r.case.statement_approved_at, r.case.statement_approved_by = r.now, r.sender
        taken = [c.round for c in r.clocks if c.kind == DeadlineKind.STATEMENT.value]
        r.clocks.append(Deadline(case_id=r.case.id, kind=DeadlineKind.STATEMENT.value,
                                 round=max(taken, default=-1) + 1,
                                 due_at=r.now + self.settings.deadlines[DeadlineKind.STATEMENT], target=""))
        return "口径已批准，立即下发各相关部门接口人"

    def _major(self, r: Reply, c: Command) -> str:
        r.case.status = CaseStatus.MAJOR.value
        self._close_clocks(r)
        self._report(r, Step.MAJOR, attach_form=True)
        return "已转重大突发事件处理，本流程时限停止"

    def _dismiss(self, r: Reply, c: Command) -> str:
        r.case.status = CaseStatus.DISMISSED.value
        self._close_clocks(r)
        return "认定为非媒体投诉，案件关闭"

    def _ack(self, r: Reply, c: Command) -> str:
        return "已确认收到"

    # -- mails ----------------------------------------------------------------------------

    def _close_clocks(self, r: Reply) -> None:
        for clock in r.clocks:
            if clock.met_at is None and clock.breached_at is None:
                clock.met_at = r.now

    def _report(self, r: Reply, step: Step, attach_form: bool = False) -> None:
        directory = self.settings.directory
        dept = directory.department(r.case.receiving_dept)
        leaders = directory.leaders
        gd = list(directory.mailboxes(directory.general_dept))
        to: list[Person] = {
            Step.STATEMENT_DRAFT: [p for p in (leaders.company, leaders.media) if p],
            Step.MAJOR: [*leaders.major_incident, leaders.company],
        }.get(step, [*([dept.leader] if dept and dept.leader else []), *gd])
        actor = directory.person(r.sender) or Person("", r.sender)
        r.mails.append((Notify(step, _next_round(r), tuple(to), (actor, *gd), (), r.now, False, attach_form),
                        {}))

    def _mails(self, db: Session, reply: Reply, mail: ParsedMail) -> list[dict[str, object]]:
        events = list(db.exec(select(Event).where(Event.case_id == reply.case.id).order_by(Event.at, Event.id)))  # type: ignore[arg-type]
        rows: list[dict[str, object]] = []
        if reply.done and self._may_confirm(db, reply):
            actor = self.settings.directory.person(reply.sender) or Person(mail.sender.name if mail.sender else "", reply.sender)
            confirm = Notify(Step.CONFIRM, _next_step_round(db, reply.case.id, Step.CONFIRM), (actor,), (), (), reply.now)
            reply.mails.append((confirm, {"done": reply.done}))
        for notify, extra in reply.mails:
            composed = case_mail(self.settings, reply.case, reply.clocks, events, notify, reply.now,
                                 done=extra.get("done", reply.done))
            rows += outbox_rows(self.renderer, self.settings.directory, composed, reply.now,
                                self.settings.message_id_domain)
        return rows

    def _may_confirm(self, db: Session, reply: Reply) -> bool:
        return self._sent_within_hour(db, Step.CONFIRM, sender=reply.sender, now=reply.now) < CONFIRMS_PER_HOUR


ACTIONS: dict[Verb, Callable[[Replies, Reply, Command], str]] = {
    Verb.ACK: Replies._ack, Verb.LOCAL: Replies._local, Verb.CANNOT: Replies._cannot,
    Verb.ESCALATE: Replies._escalate, Verb.SOLUTION: Replies._solution, Verb.PROGRESS: Replies._progress,
    Verb.RESOLVED: Replies._resolved, Verb.CATEGORY: Replies._category, Verb.MEDIA_OUTLET: Replies._outlet,
    Verb.REPORTER: Replies._reporter, Verb.GROUP: Replies._group, Verb.STATEMENT: Replies._statement,
    Verb.APPROVE: Replies._approve, Verb.MAJOR: Replies._major, Verb.DISMISS: Replies._dismiss,
}


def _next_round(r: Reply) -> int:
    """Reports a reply causes are numbered by the reply's time, so each reply gets its own."""
    return int(r.now.timestamp())


def _next_step_round(db: Session, case_id: str, step: Step) -> int:
    last = db.exec(select(func.max(Outbox.round)).where(Outbox.case_id == case_id, Outbox.step == step.value)).one()
    return (last or 0) + 1


def _event(case_id: str | None, now: datetime, kind: str, actor: str, mail: ParsedMail, summary: str) -> Event:
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
