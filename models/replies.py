"""Reply commands as a pure decision: (case state, who answered with which commands, directory,
durations, zone, now) → ReplyDecision.

The shell (daemon/replies.py) authenticates a reply and loads the case; `decide_reply` says
what the reply does, as data, in the clocks' vocabulary (models/policy.py): clocks met, due
times moved, new clocks, a status change from the one TRANSITIONS table, the same Notify
mails; besides, the case's changed fields, one event per command (accepted, or rejected
with the reason) and the lines of the confirmation to its sender. The shell writes it all in
the reply's transaction.

Every command has exactly one entry in RULES: its word (as the record and the confirmation
name it), the roles that may give it (SPEC §4) and its action. Commands act in the order
written, each seeing what the ones before it did (可处理 then 无法处理 in one reply restarts the
clocks 可处理 stopped). Adding a command: docs/design.md, "Adding a reply command".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any

from models.directory import Deadlines, Directory, Person
from models.permissions import Role, partners
from models.policy import CaseState, Clock, NewClock, Notify, Step, next_status, round_of_reply
from models.types import CLOSED_STATUSES, CaseStatus, DeadlineKind, EventKind
from parsers.commands import Command, Verb

EVERYONE = frozenset(Role)
HANDLERS = frozenset({Role.RECEIVER, Role.DEPT_LEADER, Role.ACCOUNT_MANAGER, Role.GENERAL_DEPT})
CORRECTORS = frozenset({Role.RECEIVER, Role.DEPT_LEADER, Role.GENERAL_DEPT})  # who may correct the record
LEADERS = frozenset({Role.COMPANY_LEADER, Role.MEDIA_LEADER})


@dataclass(frozen=True)
class Answer:
    """One authenticated reply as the rules see it."""

    sender: str  # the proven address, lower-case
    name: str  # the display name of its From:, for the confirmation when the directory has none
    roles: frozenset[Role]  # what the sender is on this case (permissions.roles_of)
    commands: tuple[Command, ...]
    opening: str = ""  # its first line (≤ 80 characters), quoted back when no command was read
    confirm_round: int = 1  # the round the confirmation mail gets (the shell counts them)


@dataclass(frozen=True)
class EventLine:
    """One line for the case's event log: a command done, or one rejected with the reason."""

    kind: EventKind  # COMMAND or REJECTED
    summary: str


@dataclass
class ReplyDecision:
    """What one reply does to one case."""

    fields: dict[str, Any] = field(default_factory=dict)  # Case column → new value
    status: CaseStatus | None = None
    met: list[tuple[DeadlineKind, int]] = field(default_factory=list)  # clocks (kind, round) met now
    moved: dict[tuple[DeadlineKind, int], datetime] = field(default_factory=dict)  # clock → its earlier due time
    clocks: list[NewClock] = field(default_factory=list)
    mails: list[Notify] = field(default_factory=list)  # reports first, the confirmation last
    events: list[EventLine] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # what changed, in words, for the confirmation


@dataclass
class _Reply:
    """The case as the commands so far have left it, and the decision being built."""

    case: CaseState
    answer: Answer
    directory: Directory
    deadlines: Deadlines
    zone: tzinfo
    now: datetime
    d: ReplyDecision = field(default_factory=ReplyDecision)

    @property
    def status(self) -> CaseStatus:
        return self.d.status or self.case.status

    def value(self, name: str) -> Any:
        """A case field as the commands so far have left it."""
        return self.d.fields[name] if name in self.d.fields else getattr(self.case, name)

    def set(self, **fields: Any) -> None:
        self.d.fields.update(fields)

    def transition(self, cause: Verb) -> bool:
        """Move the status as TRANSITIONS says for `cause`; whether it moved."""
        target = next_status(self.status, cause)
        if target is None or target == self.status:
            return False
        self.d.status = target
        return True

    # -- clocks ------------------------------------------------------------------------------

    def clock(self, kind: DeadlineKind) -> Clock | None:
        """The open clock of this kind, if any."""
        return next((c for c in self.case.clocks if c.kind == kind and c.open), None)

    def _put(self, old: Clock, new: Clock) -> None:
        self.case = replace(self.case, clocks=tuple(new if c is old else c for c in self.case.clocks))

    def meet(self, kind: DeadlineKind) -> None:
        clock = self.clock(kind)
        if clock is not None:
            self._met(clock)

    def _met(self, clock: Clock) -> None:
        self._put(clock, replace(clock, met_at=self.now))
        self.d.met.append((clock.kind, clock.round))

    def due_by(self, kind: DeadlineKind, at: datetime) -> None:
        """The open clock of this kind runs out at `at` at the latest (无法处理 → the AM now)."""
        clock = self.clock(kind)
        if clock is not None and at < clock.due_at:
            self._put(clock, replace(clock, due_at=at))
            self.d.moved[(clock.kind, clock.round)] = at

    def new_clock(self, kind: DeadlineKind, due_at: datetime) -> None:
        """A new round of `kind`, after every round the case has had."""
        taken = [c.round for c in self.case.clocks if c.kind == kind]
        clock = Clock(kind, max(taken, default=-1) + 1, due_at)
        self.case = replace(self.case, clocks=(*self.case.clocks, clock))
        self.d.clocks.append(NewClock(clock.kind, clock.round, clock.due_at))

    def restart(self, kind: DeadlineKind, due_at: datetime) -> None:
        """A new round of a clock that was met (the policy acts on it when due), unless one is open."""
        if self.clock(kind) is None:
            self.new_clock(kind, due_at)

    def close_clocks(self) -> None:
        for clock in [c for c in self.case.clocks if c.open]:
            self._met(clock)

    # -- mails -------------------------------------------------------------------------------

    def report(self, step: Step, attach_form: bool = False) -> None:
        """A report of what the sender did: to the people `step` is for, the sender and 综合部 in copy."""
        directory = self.directory
        gd = list(directory.mailboxes(directory.general_dept))
        to = _REPORT_TO.get(step, _leader_and_general_dept)(self.case, directory)
        actor = directory.person(self.answer.sender) or Person("", self.answer.sender)
        self.d.mails.append(Notify(step, round_of_reply(self.now), tuple(to), (actor, *gd), (), self.now,
                                   False, attach_form))


def _leader_and_general_dept(case: CaseState, directory: Directory) -> list[Person]:
    leader = case.receiving_dept.leader
    return [*([leader] if leader else []), *directory.mailboxes(directory.general_dept)]


def _leaders(case: CaseState, directory: Directory) -> list[Person]:
    return [p for p in (directory.leaders.company, directory.leaders.media) if p]


def _major_incident(case: CaseState, directory: Directory) -> list[Person]:
    return [*directory.leaders.major_incident, directory.leaders.company]


_REPORT_TO: dict[Step, Callable[[CaseState, Directory], list[Person]]] = {
    Step.STATEMENT_DRAFT: _leaders,  # the statement waits for their approval
    Step.MAJOR: _major_incident,  # the 重大突发事件 contacts take it over
}


def decide_reply(case: CaseState, answer: Answer, directory: Directory, deadlines: Deadlines, zone: tzinfo,
                 now: datetime) -> ReplyDecision:
    """What `answer` does to `case` at `now`: it acknowledges, then each command acts or is
    refused in turn; a confirmation of what was done goes to the sender."""
    r = _Reply(case, answer, directory, deadlines, zone, now)
    in_time, late = _acknowledge(r)
    if in_time:
        r.d.done.append("已确认收到")
    if late:  # still counted: the record says who answered, and that it was after the window
        r.d.done.append("已确认收到（已过答复时限，记为迟复）")
        r.d.events.append(EventLine(EventKind.COMMAND, "迟复确认：答复晚于确认时限"))
    for command in answer.commands:
        r.d.events.append(_command(r, command))
    if not answer.commands and not in_time and not late:
        # Never silent: a reply we could not read is answered with what we read of it.
        r.d.done.append(f"未识别出指令（读到：“{answer.opening or '空白'}”），回复已记入案件记录。"
                        "如需操作，请在回复的第一行写明，例如“收到”“无法处理”“方案：……”")
    if r.d.done:
        actor = directory.person(answer.sender) or Person(answer.name, answer.sender)
        r.d.mails.append(Notify(Step.CONFIRM, answer.confirm_round, (actor,), (), (), now))
    return r.d


def _acknowledge(r: _Reply) -> tuple[int, int]:
    """Any human reply meets the ack windows awaiting its sender or their A/B partner:
    (open windows met in time, windows already run out and now answered late). A late
    answer keeps its breach (B or the next leader was told) and gains its met time."""
    who = partners(r.answer.sender, r.directory)
    in_time = late = 0
    for clock in r.case.clocks:
        if clock.kind != DeadlineKind.ACK or clock.met_at is not None or clock.awaited not in who:
            continue
        r._met(clock)
        if clock.breached_at is None:
            in_time += 1
        else:
            late += 1
    return in_time, late


class Refused(Exception):
    """An action's command cannot be carried out as written (类别：7); nothing changes."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _command(r: _Reply, command: Command) -> EventLine:
    rule = RULES[command.verb]
    if r.status in CLOSED_STATUSES and command.verb is not Verb.ACK:
        return EventLine(EventKind.REJECTED, f"“{rule.word}”：案件已关闭")
    if not rule.roles & r.answer.roles:
        return EventLine(EventKind.REJECTED, f"“{rule.word}”：{r.answer.sender} 无权执行")
    try:
        summary = rule.action(r, command)
    except Refused as refused:  # the sender is told why, in the confirmation
        r.d.done.append(f"“{rule.word}”未执行：{refused.reason}")
        return EventLine(EventKind.REJECTED, f"“{rule.word}”：{refused.reason}")
    r.d.done.append(summary)
    return EventLine(EventKind.COMMAND, f"{rule.word}：{summary}")



def may(verb: Verb, roles: frozenset[Role]) -> bool:
    """Whether someone holding `roles` on a case may give `verb`."""
    return bool(RULES[verb].roles & roles)


def word_of(verb: Verb) -> str:
    """The command as the record and the confirmation name it (收到, 无法处理, …)."""
    return RULES[verb].word


# -- the actions, one per command ----------------------------------------------------------

def _ack(r: _Reply, c: Command) -> str:
    return "已确认收到"


def _local(r: _Reply, c: Command) -> str:
    r.set(assessment="local")
    r.meet(DeadlineKind.ASSESS)
    r.transition(Verb.LOCAL)
    return "本部门可处理，由接收部门组织处理"


def _cannot(r: _Reply, c: Command) -> str:
    r.set(assessment="cannot")
    r.meet(DeadlineKind.ASSESS)
    if r.status is CaseStatus.LOCAL:
        # 可处理 or a plan stopped the account-manager and 综合部 clocks; the plan has failed,
        # so they run again: the AM at once, 综合部 as long after as the procedure allows.
        gap = r.deadlines[DeadlineKind.GENERAL_DEPT] - r.deadlines[DeadlineKind.ACCOUNT_MANAGER]
        r.restart(DeadlineKind.ACCOUNT_MANAGER, r.now)
        r.restart(DeadlineKind.GENERAL_DEPT, r.now + max(gap, timedelta(0)))
    r.due_by(DeadlineKind.ACCOUNT_MANAGER, r.now)
    return "本部门无法处理，立即通知媒体单位客户经理"


def _escalate(r: _Reply, c: Command) -> str:
    r.set(assessment="cannot")
    r.meet(DeadlineKind.ASSESS)
    if r.status is CaseStatus.LOCAL:  # its 综合部 clock was stopped by 可处理 or a plan
        r.restart(DeadlineKind.GENERAL_DEPT, r.now)
    r.due_by(DeadlineKind.GENERAL_DEPT, r.now)
    return "立即上报综合部"


def _solution(r: _Reply, c: Command) -> str:
    # A plan agreed with the media/customer means the case is being handled where it is, as
    # with 可处理: the account-manager and 综合部 clocks stop; only 无法处理, 上报综合部, silence
    # or a missed completion escalate from here.
    r.set(assessment="local", solution=c.text, expected_completion_at=c.expected_at)
    r.meet(DeadlineKind.ASSESS)
    r.transition(Verb.SOLUTION)
    r.meet(DeadlineKind.SOLUTION)
    if c.expected_at is not None:
        r.due_by(DeadlineKind.NORMAL_COMPLETION, c.expected_at)  # min(agreed, normal limit)
    r.report(Step.SOLUTION_REPORT)
    when = c.expected_at.astimezone(r.zone).strftime("%m-%d %H:%M") if c.expected_at else "未写明"
    return f"方案已登记（预计完成时间 {when}），已报部门领导和综合部"


def _progress(r: _Reply, c: Command) -> str:
    return "进展已记录，将写入下一次动态报告"


def _resolved(r: _Reply, c: Command) -> str:
    r.transition(Verb.RESOLVED)
    r.set(resolved_at=r.now, result=c.text or "已解决")
    r.close_clocks()
    r.report(Step.RESOLVED, attach_form=True)
    return "案件已办结，时限全部关闭，已报部门领导和综合部"


def _category(r: _Reply, c: Command) -> str:
    if c.category is None:
        raise Refused(f"投诉类别只有 1–5 类（读到：“{c.text[:40]}”），类别未改")
    before = r.value("category")
    was = ("推测" if r.value("category_basis") == "judged" else "") + (f" {before} 类" if before else "未定")
    r.set(category=c.category, category_basis="stated",
          category_reason=f"{r.answer.sender} 回复确认" if before == c.category else f"{r.answer.sender} 回复更正")
    if before == c.category:
        return f"投诉类别确认为 {c.category} 类"
    return f"投诉类别由{was}更正为 {c.category} 类"


def _outlet(r: _Reply, c: Command) -> str:
    outlet = r.directory.outlet_by_name(c.text)
    r.set(media_outlet=outlet.name if outlet else c.text)
    if outlet and outlet.account_manager_a:
        r.set(account_manager=outlet.account_manager_a.mailbox)
    return f"媒体单位更正为 {r.value('media_outlet')}"


def _reporter(r: _Reply, c: Command) -> str:
    r.set(reporter_name=c.text)
    return f"记者/联系人更正为 {c.text}"


def _group(r: _Reply, c: Command) -> str:
    named = [d.id for d in r.directory.departments
             if any(n and (n in d.name or d.name in n) for n in c.departments)]
    r.set(group_depts=sorted(set(r.value("group_depts") or ()) | set(named)), group_requested_at=r.now)
    if r.transition(Verb.GROUP):
        r.set(gd_takeover_at=r.now)
    if r.clock(DeadlineKind.GROUP) is None:
        r.new_clock(DeadlineKind.GROUP, r.now)
    r.due_by(DeadlineKind.GROUP, r.now)  # the deadline pass of this tick convenes it
    return "成立公司级媒体投诉处理小组，立即通知各部门接口人"


def _statement(r: _Reply, c: Command) -> str:
    r.set(statement=c.text, statement_approved_at=None, statement_approved_by=None)
    r.report(Step.STATEMENT_DRAFT)
    return "对外解释口径草稿已登记，已送公司主管领导和媒体主管领导批准"


def _approve(r: _Reply, c: Command) -> str:
    if not r.value("statement"):
        return "尚无口径草稿，批准未生效"
    r.set(statement_approved_at=r.now, statement_approved_by=r.answer.sender)
    r.new_clock(DeadlineKind.STATEMENT, r.now + r.deadlines[DeadlineKind.STATEMENT])
    return "口径已批准，立即下发各相关部门接口人"


def _major(r: _Reply, c: Command) -> str:
    r.transition(Verb.MAJOR)
    r.close_clocks()
    r.report(Step.MAJOR, attach_form=True)
    return "已转重大突发事件处理，本流程时限停止"


def _dismiss(r: _Reply, c: Command) -> str:
    r.transition(Verb.DISMISS)
    r.close_clocks()
    return "认定为非媒体投诉，案件关闭"


# -- the rule table ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """One reply command: how it is named, who may give it, what it does, what it reports."""

    word: str  # in the event log and the confirmation: “无法处理”：…
    roles: frozenset[Role]  # who may give it (SPEC §4)
    action: Callable[[_Reply, Command], str]  # acts on the case; returns what it did, in words
    reports: tuple[Step, ...] = ()  # the mails it may send besides the confirmation


RULES: dict[Verb, Rule] = {
    Verb.ACK: Rule("收到", EVERYONE, _ack),
    Verb.LOCAL: Rule("可处理", HANDLERS, _local),
    Verb.CANNOT: Rule("无法处理", HANDLERS, _cannot),
    Verb.ESCALATE: Rule("上报综合部", HANDLERS, _escalate),
    Verb.SOLUTION: Rule("方案", HANDLERS, _solution, (Step.SOLUTION_REPORT,)),
    Verb.PROGRESS: Rule("进展", HANDLERS | {Role.INTERFACE}, _progress),
    Verb.RESOLVED: Rule("办结", HANDLERS, _resolved, (Step.RESOLVED,)),
    Verb.CATEGORY: Rule("类别", CORRECTORS, _category),
    Verb.MEDIA_OUTLET: Rule("媒体单位", CORRECTORS, _outlet),
    Verb.REPORTER: Rule("记者", CORRECTORS, _reporter),
    # SPEC §3: a missed group clock goes to the company leader, "who (or 综合部) convenes by reply".
    Verb.GROUP: Rule("成立小组", frozenset({Role.GENERAL_DEPT, Role.COMPANY_LEADER}), _group),
    Verb.STATEMENT: Rule("口径", frozenset({Role.GENERAL_DEPT}) | LEADERS, _statement, (Step.STATEMENT_DRAFT,)),
    Verb.APPROVE: Rule("批准", LEADERS, _approve),  # only the company or the media leader approves
    Verb.MAJOR: Rule("重大", frozenset({Role.GENERAL_DEPT}) | LEADERS, _major, (Step.MAJOR,)),
    Verb.DISMISS: Rule("非媒体投诉", frozenset({Role.GENERAL_DEPT}), _dismiss),  # only 综合部 dismisses
}

# The mails a reply can cause: the commands' reports and the confirmation; the shell's own
# (daemon/replies.py) when a reply proves nothing, or an outsider writes again.
REPLY_STEPS: tuple[Step, ...] = (*dict.fromkeys(s for rule in RULES.values() for s in rule.reports),
                                 Step.CONFIRM, Step.VERIFY, Step.FOLLOWUP)
