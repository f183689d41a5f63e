"""The procedure's clocks as a pure function: (case state, directory, durations, now) → actions.

Every timed duty of SPEC §3 is a clock (a Deadline row). A clock that comes due — or, for
the statement, that merely exists — is handled by one rule below, which returns what should
happen as data: clocks met or breached, mails to send, a status change, new clocks. The
daemon (daemon/escalation.py) executes a Decision in one transaction; the outbox's unique
keys make a repeated decision harmless.

Replies drive the same clocks (models/replies.py): "无法处理" sets the account-manager clock
due now, "上报综合部" the general-department clock, "批准" creates the statement clock, a human
reply meets an ack window. Silence lets them run out. A bounce, an auto-reply or a 5xx
refusal makes the addressee's ack window due at once (daemon/escalation.py,
`expire_ack_windows`), so B or the next leader is told on the next pass. Every status change,
a clock's or a reply's, is a row of one table, TRANSITIONS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from models.directory import Deadlines, Department, DepartmentKind, Directory, MediaOutlet, Person
from models.types import CLOSED_STATUSES, AckTarget, CaseStatus, DeadlineKind
from parsers.commands import Verb

LATE_GRACE = timedelta(minutes=1)  # acting later than this after the due time is "late" (迟发)


class Step(StrEnum):
    """The mails the clocks cause; each has its templates under templates/<value>.*.j2."""

    ASSESS_OVERDUE = "assess_overdue"  # remind the receiver, report to the department leader
    ACCOUNT_MANAGER = "account_manager"  # the media unit's account manager engaged
    ACCOUNT_MANAGER_UNKNOWN = "account_manager_unknown"  # 综合部 asked who the AM is
    GENERAL_DEPT = "general_dept"  # the whole event and the registration form to 综合部
    SOLUTION_OVERDUE = "solution_overdue"
    COMPLETION_OVERDUE = "completion_overdue"
    GROUP = "group"  # company-level group convened (综合部 replied 成立小组); company leader told
    GROUP_OVERDUE = "group_overdue"  # 综合部 silent at the group deadline: the company leader asked to decide
    HIGHER_AUTHORITY = "higher_authority"
    PROGRESS = "progress"  # dynamic report to the company leader
    STATEMENT = "statement"  # the approved unified statement to every interface person
    FAILOVER = "failover"  # no answer: B, or the next leader up
    LEADER_SILENT = "leader_silent"  # the company leader did not answer: 综合部 is asked to reach them
    # The registration mail (登记回执) intake sends when a case is registered; it awaits nobody:
    # the clocks do the chasing. Its value is the "ack" its outbox keys have always carried.
    REGISTRATION = "ack"
    # Mails that replies cause (models/replies.py, daemon/replies.py), not the clocks:
    CONFIRM = "confirm"  # what a reply changed, to the person who sent it
    SOLUTION_REPORT = "solution_report"  # the agreed solution, to the leader and 综合部
    RESOLVED = "resolved"  # closure report with the form
    STATEMENT_DRAFT = "statement_draft"  # a statement for the leaders to approve
    MAJOR = "major"  # handed to the 重大突发事件 contacts
    VERIFY = "verify"  # a reply that proved nothing: its claimed sender asked to answer our mail
    FOLLOWUP = "followup"  # an outsider wrote again about a case: its people are told


@dataclass(frozen=True)
class Clock:
    """A deadline as the policy sees it. `target` names, for an ack window, the step and
    round of the mail it belongs to and the address whose answer is awaited."""

    kind: DeadlineKind
    round: int
    due_at: datetime
    met_at: datetime | None = None
    breached_at: datetime | None = None
    target: AckTarget | None = None

    @property
    def open(self) -> bool:
        return self.met_at is None and self.breached_at is None

    @property
    def awaited(self) -> str:
        """The address whose answer an ack window awaits; "" for the other clocks."""
        return self.target.address if self.target else ""


@dataclass(frozen=True)
class CaseState:
    id: str
    status: CaseStatus
    receiving_dept: Department
    receiver_email: str | None
    outlet: MediaOutlet | None
    received_at: datetime
    clocks: tuple[Clock, ...]
    assessment: str | None = None  # "local" (可处理) or "cannot" (无法处理), from replies
    expected_completion_at: datetime | None = None
    group_depts: tuple[str, ...] = ()  # departments named when the group was convened
    group_requested: bool = False  # 综合部 replied "成立小组：…" (the clock is met, not missed)
    # What the reply commands read besides (models/replies.py); the clocks' rules do not.
    category: int | None = None
    category_basis: str | None = None  # "stated" | "judged" | None
    statement: str | None = None  # the draft of the unified statement (口径)


@dataclass(frozen=True)
class Notify:
    """A mail to send: one outbox row per recipient, keyed (case, step, round, recipient)."""

    step: Step
    round: int
    to: tuple[Person, ...]
    cc: tuple[Person, ...] = ()
    awaits: tuple[Person, ...] = ()  # whose answer opens an ack window
    due_at: datetime | None = None  # the deadline this mail is about
    late: bool = False  # sent after its due time (registered late, or the daemon was down)
    attach_form: bool = False  # the registration form (媒体投诉登记表) goes with it
    about: AckTarget | None = None  # for a failover: the mail the person did not answer


def round_of_reply(at: datetime) -> int:
    """The round of a report a reply causes (a solution, a resolution, a statement draft):
    the reply's time in whole seconds since the epoch, so that each reply's report is a mail
    of its own under the outbox's unique key. These numbers are in the keys of mails already
    queued; numbering them otherwise would send those mails a second time."""
    return int(at.timestamp())


@dataclass(frozen=True)
class NewClock:
    kind: DeadlineKind
    round: int
    due_at: datetime
    target: AckTarget | None = None

    @property
    def awaited(self) -> str:
        return self.target.address if self.target else ""


@dataclass
class Decision:
    """What one pass does to one case."""

    met: list[tuple[DeadlineKind, int]] = field(default_factory=list)
    breached: list[tuple[DeadlineKind, int]] = field(default_factory=list)
    mails: list[Notify] = field(default_factory=list)
    clocks: list[NewClock] = field(default_factory=list)
    status: CaseStatus | None = None
    marks: dict[str, datetime] = field(default_factory=dict)  # gd_takeover_at, group_formed_at

    @property
    def empty(self) -> bool:
        return not (self.met or self.breached or self.mails or self.clocks or self.status)


@dataclass(frozen=True)
class Transition:
    """One row of the status table: by `cause`, a case in any of `sources` goes to `target`."""

    cause: Step | Verb  # a clock's mail, or a reply command
    sources: frozenset[CaseStatus]
    target: CaseStatus


_OPEN = frozenset(CaseStatus) - CLOSED_STATUSES
_BELOW_GENERAL_DEPT = frozenset({CaseStatus.REGISTERED, CaseStatus.LOCAL, CaseStatus.ACCOUNT_MANAGER})

# Every status change, whatever causes it: the clocks' steps and the reply commands. A case
# handled locally (可处理, or an agreed plan) goes to the account manager when the department
# says 无法处理 after all. A list of rows, not a dict: Step and Verb are str enums, and
# Step.GROUP == Verb.GROUP ("group") would make them one key.
TRANSITIONS: tuple[Transition, ...] = (
    # by the clocks
    Transition(Step.ACCOUNT_MANAGER, frozenset({CaseStatus.REGISTERED, CaseStatus.LOCAL}), CaseStatus.ACCOUNT_MANAGER),
    Transition(Step.ACCOUNT_MANAGER_UNKNOWN, frozenset({CaseStatus.REGISTERED, CaseStatus.LOCAL}),
               CaseStatus.ACCOUNT_MANAGER),
    Transition(Step.GENERAL_DEPT, _BELOW_GENERAL_DEPT, CaseStatus.GENERAL_DEPT),
    Transition(Step.GROUP, frozenset({CaseStatus.GENERAL_DEPT}), CaseStatus.COMPANY_GROUP),
    # by reply commands (models/replies.py)
    Transition(Verb.LOCAL, frozenset({CaseStatus.REGISTERED, CaseStatus.ACCOUNT_MANAGER}), CaseStatus.LOCAL),
    Transition(Verb.SOLUTION, frozenset({CaseStatus.REGISTERED, CaseStatus.ACCOUNT_MANAGER}), CaseStatus.LOCAL),
    Transition(Verb.GROUP, _BELOW_GENERAL_DEPT, CaseStatus.GENERAL_DEPT),  # 综合部 takes it over to convene
    Transition(Verb.RESOLVED, _OPEN, CaseStatus.RESOLVED),
    Transition(Verb.MAJOR, _OPEN, CaseStatus.MAJOR),
    Transition(Verb.DISMISS, _OPEN, CaseStatus.DISMISSED),
)


def transition_of(cause: Step | Verb) -> Transition | None:
    """The row for `cause`, or None when it changes no status. Compared by identity, since a
    Step and a Verb of the same name are equal strings."""
    return next((row for row in TRANSITIONS if row.cause is cause), None)


def next_status(status: CaseStatus, cause: Step | Verb) -> CaseStatus | None:
    """Where `cause` takes a case that stands at `status`; None when it does not move it."""
    row = transition_of(cause)
    return row.target if row is not None and status in row.sources else None


@dataclass(frozen=True)
class Context:
    """Everything a rule may read besides the case: the directory, the durations, now."""

    directory: Directory
    deadlines: Deadlines
    now: datetime


def decide(case: CaseState, directory: Directory, deadlines: Deadlines, now: datetime) -> Decision:
    """The actions due for `case` at `now`: one rule per clock that came due, in due order."""
    decision = Decision()
    if case.status in CLOSED_STATUSES:
        return decision
    ctx = Context(directory, deadlines, now)
    for clock in sorted((c for c in case.clocks if c.open and _triggered(c, now)),
                        key=lambda c: (c.due_at, c.kind, c.round)):
        RULES[clock.kind](case, clock, ctx, decision)
        case = _advanced(case, decision)
    return decision


def _triggered(clock: Clock, now: datetime) -> bool:
    """Due by time; the statement at once: it goes out as soon as it is approved, its due
    time (approval + 30 min) is the limit it is measured against."""
    return clock.kind == DeadlineKind.STATEMENT or clock.due_at <= now


def _advanced(case: CaseState, decision: Decision) -> CaseState:
    """The case as later rules in the same pass must see it (status moved on)."""
    return replace(case, status=decision.status) if decision.status else case


# -- the rules, one per clock ------------------------------------------------------------

def assess(case: CaseState, clock: Clock, ctx: Context, d: Decision) -> None:
    """15 min without an assessment: remind the receiver, report to the department leader."""
    if case.assessment:
        d.met.append((clock.kind, clock.round))
        return
    d.breached.append((clock.kind, clock.round))
    leader = _leader(case, ctx)
    receivers = _receivers(case, ctx)
    _send(case, d, ctx, _notify(case, Step.ASSESS_OVERDUE, clock, ctx, to=receivers, cc=_optional(leader),
                                awaits=[leader] if leader else receivers))


def account_manager(case: CaseState, clock: Clock, ctx: Context, d: Decision) -> None:
    """Cannot resolve, or silence at 30 min: the outlet's account manager is engaged. A branch
    goes straight to 综合部; an outlet without a known account manager asks 综合部 who it is."""
    if case.assessment == "local":
        d.met.append((clock.kind, clock.round))
        return
    (d.met if case.assessment == "cannot" else d.breached).append((clock.kind, clock.round))
    if case.receiving_dept.kind is DepartmentKind.BRANCH:
        if next_status(case.status, Step.GENERAL_DEPT) is not None:  # not when 综合部 has it already (上报综合部)
            _to_general_dept(case, clock, ctx, d)
        return
    if case.receiving_dept.kind is DepartmentKind.GENERAL_DEPT and case.outlet is None:
        return  # 综合部 already holds it; there is nobody else to ask
    am = case.outlet.account_manager_a if case.outlet else None
    if am is None:
        gd_a = ctx.directory.general_dept.interface_a
        _send(case, d, ctx, _notify(case, Step.ACCOUNT_MANAGER_UNKNOWN, clock, ctx, to=[gd_a],
                                    cc=_receivers(case, ctx), awaits=[gd_a]))
        _transition(case, Step.ACCOUNT_MANAGER_UNKNOWN, d)
        return
    _send(case, d, ctx, _notify(case, Step.ACCOUNT_MANAGER, clock, ctx, to=[am],
                                cc=_receivers(case, ctx), awaits=[am]))
    _transition(case, Step.ACCOUNT_MANAGER, d)


def general_dept(case: CaseState, clock: Clock, ctx: Context, d: Decision) -> None:
    """1 h and still unresolved (or 上报综合部): the whole event and the form go to 综合部."""
    if case.assessment == "local" or next_status(case.status, Step.GENERAL_DEPT) is None \
            or case.receiving_dept.kind is DepartmentKind.GENERAL_DEPT:
        d.met.append((clock.kind, clock.round))  # handled locally, or 综合部 has it already
        return
    (d.met if case.assessment == "cannot" else d.breached).append((clock.kind, clock.round))
    _to_general_dept(case, clock, ctx, d)


def _to_general_dept(case: CaseState, clock: Clock, ctx: Context, d: Decision) -> None:
    gd = ctx.directory.general_dept
    cc = [*_receivers(case, ctx), *_optional(_leader(case, ctx))]
    am = _acting(case, case.outlet.account_manager_a, ctx) if case.outlet and case.outlet.account_manager_a else []
    _send(case, d, ctx, _notify(case, Step.GENERAL_DEPT, clock, ctx, to=ctx.directory.mailboxes(gd),
                                cc=[*cc, *am], awaits=[gd.interface_a], attach_form=True))
    _transition(case, Step.GENERAL_DEPT, d)
    _start_general_dept_clocks(ctx, d)


def _start_general_dept_clocks(ctx: Context, d: Decision) -> None:
    d.marks["gd_takeover_at"] = ctx.now
    d.clocks.append(NewClock(DeadlineKind.GROUP, 0, ctx.now + ctx.deadlines[DeadlineKind.GROUP]))
    d.clocks.append(NewClock(DeadlineKind.PROGRESS, 1, ctx.now + ctx.deadlines[DeadlineKind.PROGRESS]))


def solution(case: CaseState, clock: Clock, ctx: Context, d: Decision) -> None:
    """4 h without an agreed solution: report to the department leader and 综合部."""
    _overdue_to_leader_and_gd(case, clock, ctx, d, Step.SOLUTION_OVERDUE)


def normal_completion(case: CaseState, clock: Clock, ctx: Context, d: Decision) -> None:
    """Past min(agreed completion, the normal limit): escalate to the leader and 综合部. (A
    reply agreeing an earlier completion time moves this clock's due time up.)"""
    _overdue_to_leader_and_gd(case, clock, ctx, d, Step.COMPLETION_OVERDUE)


def _overdue_to_leader_and_gd(case: CaseState, clock: Clock, ctx: Context, d: Decision, step: Step) -> None:
    d.breached.append((clock.kind, clock.round))
    leader = _leader(case, ctx)
    gd_a = ctx.directory.general_dept.interface_a
    _send(case, d, ctx, _notify(case, step, clock, ctx, to=[*_optional(leader), gd_a],
                                cc=_receivers(case, ctx), awaits=_optional(leader)))


def group(case: CaseState, clock: Clock, ctx: Context, d: Decision) -> None:
    """综合部 replied "成立小组": the company-level group is convened at once. Otherwise, 1 h
    after 综合部 took over, see `_group_not_requested`."""
    if not case.group_requested:
        _group_not_requested(case, clock, ctx, d)
        return
    d.met.append((clock.kind, clock.round))
    _convene_group(case, clock, ctx, d)


def _group_not_requested(case: CaseState, clock: Clock, ctx: Context, d: Decision) -> None:
    """Only 综合部 can judge a case beyond its authority; silence is not that judgement, so
    complaintd convenes nothing. A missed group clock goes to the company leader, asking him
    to decide (SPEC §3), 综合部 in copy so that it can convene by answering the same mail. A
    plan or 可处理 since the takeover means the case is being solved at this level: met."""
    if case.assessment == "local":
        d.met.append((clock.kind, clock.round))
        return
    d.breached.append((clock.kind, clock.round))
    company = ctx.directory.leaders.company
    _send(case, d, ctx, _notify(case, Step.GROUP_OVERDUE, clock, ctx, to=[company],
                                cc=ctx.directory.mailboxes(ctx.directory.general_dept), awaits=[company]))


def _convene_group(case: CaseState, clock: Clock, ctx: Context, d: Decision) -> None:
    """The group by mail (interface persons of the group departments), company leader told;
    the higher authority's hour starts."""
    members = _group_interfaces(case, ctx.directory)
    gd = ctx.directory.general_dept
    _send(case, d, ctx, _notify(case, Step.GROUP, clock, ctx, to=members,
                                cc=[*ctx.directory.mailboxes(gd), ctx.directory.leaders.company],
                                awaits=members, attach_form=True))
    _transition(case, Step.GROUP, d)
    d.marks["group_formed_at"] = ctx.now
    d.clocks.append(NewClock(DeadlineKind.HIGHER_AUTHORITY, 0,
                             ctx.now + ctx.deadlines[DeadlineKind.HIGHER_AUTHORITY]))


def higher_authority(case: CaseState, clock: Clock, ctx: Context, d: Decision) -> None:
    """1 h after the group formed: the whole event to the higher-level authority."""
    d.breached.append((clock.kind, clock.round))
    leaders = ctx.directory.leaders
    to = [leaders.higher_authority] if leaders.higher_authority else [leaders.company]
    _send(case, d, ctx, _notify(case, Step.HIGHER_AUTHORITY, clock, ctx, to=to,
                                cc=[leaders.company, *ctx.directory.mailboxes(ctx.directory.general_dept)],
                                attach_form=True))


def progress(case: CaseState, clock: Clock, ctx: Context, d: Decision) -> None:
    """Every 4 h at 综合部 or group level: a dynamic report to the company leader. Rounds
    missed while the daemon was down are not repeated: one report, then the next round."""
    d.met.append((clock.kind, clock.round))
    if case.status not in (CaseStatus.GENERAL_DEPT, CaseStatus.COMPANY_GROUP):
        return
    leaders = ctx.directory.leaders
    _send(case, d, ctx, _notify(case, Step.PROGRESS, clock, ctx, to=[leaders.company],
                                cc=ctx.directory.mailboxes(ctx.directory.general_dept)))
    every = ctx.deadlines[DeadlineKind.PROGRESS]
    skipped = max(0, int((ctx.now - clock.due_at) / every))
    d.clocks.append(NewClock(DeadlineKind.PROGRESS, clock.round + skipped + 1,
                             clock.due_at + every * (skipped + 1)))


def statement(case: CaseState, clock: Clock, ctx: Context, d: Decision) -> None:
    """Approved: the unified statement goes to every involved interface person at once."""
    d.met.append((clock.kind, clock.round))
    people = _group_interfaces(case, ctx.directory)
    receiving = case.receiving_dept.interface_a
    to = [*people, *([receiving] if receiving.email not in {p.email for p in people} else [])]
    _send(case, d, ctx, _notify(case, Step.STATEMENT, clock, ctx, to=to,
                                cc=ctx.directory.mailboxes(ctx.directory.general_dept), awaits=to))


def ack(case: CaseState, clock: Clock, ctx: Context, d: Decision) -> None:
    """No human answer within the ack window (or the address is unreachable): B is told, A
    stays in copy; a silent leader → the next one up, up to the company leader. The backup
    gets a window of its own."""
    d.breached.append((clock.kind, clock.round))
    silent = clock.awaited
    person = ctx.directory.person(silent) or Person("", silent)
    if silent == ctx.directory.leaders.company.email:
        # The top of the company's chain. 越级上报 (seed §5 note 3) climbs the company's own
        # leaders; the higher-level authority is told by its own step only, once a company-level
        # group exists (seed §5.2). The office would not let a silent company leader go
        # unnoticed either: 综合部, which follows every case, is asked to reach them by phone.
        gd = ctx.directory.mailboxes(ctx.directory.general_dept)
        _send(case, d, ctx, _notify(case, Step.LEADER_SILENT, clock, ctx, to=gd, cc=[person],
                                    round=clock.round, about=clock.target))
        return
    backup = _backup_of(silent, ctx)
    if backup is None:
        return
    _send(case, d, ctx, _notify(case, Step.FAILOVER, clock, ctx, to=[backup], cc=[person], awaits=[backup],
                                round=clock.round, about=clock.target))


def _backup_of(silent: str, ctx: Context) -> Person | None:
    """Who stands behind `silent` inside the company (Directory.backup_of: B for an A contact,
    the next leader up for a leader, never the higher-level authority); nobody for B."""
    backup = ctx.directory.backup_of(silent)
    return None if backup is None or backup.email == silent else backup


RULES: dict[DeadlineKind, Callable[[CaseState, Clock, Context, Decision], None]] = {
    DeadlineKind.ASSESS: assess,
    DeadlineKind.ACCOUNT_MANAGER: account_manager,
    DeadlineKind.GENERAL_DEPT: general_dept,
    DeadlineKind.SOLUTION: solution,
    DeadlineKind.NORMAL_COMPLETION: normal_completion,
    DeadlineKind.GROUP: group,
    DeadlineKind.HIGHER_AUTHORITY: higher_authority,
    DeadlineKind.PROGRESS: progress,
    DeadlineKind.STATEMENT: statement,
    DeadlineKind.ACK: ack,
}


# -- who ----------------------------------------------------------------------------------

def registration_notice(forwarder: Person | None, directory: Directory, now: datetime) -> Notify:
    """The registration mail: to the forwarder, 综合部 in copy; a complaint written straight to
    the mailbox has no forwarder, so it goes to 综合部 alone."""
    gd = directory.mailboxes(directory.general_dept)
    to, cc = ((forwarder,), gd) if forwarder is not None else (gd, ())
    return Notify(Step.REGISTRATION, 0, tuple(to), tuple(p for p in cc if p.email != to[0].email), (), now)


def _notify(case: CaseState, step: Step, clock: Clock, ctx: Context, *, to: Iterable[Person],
            cc: Iterable[Person] = (), awaits: Iterable[Person] = (), attach_form: bool = False,
            round: int | None = None, about: AckTarget | None = None) -> Notify:
    to_list = _unique(to)
    cc_list = [p for p in _unique(cc) if p.email not in {t.email for t in to_list}]
    if case.receiving_dept.kind is DepartmentKind.BRANCH:  # a branch's case mail all goes to 综合部
        gd_people = ctx.directory.mailboxes(ctx.directory.general_dept)
        cc_list += [p for p in gd_people if p.email not in {q.email for q in (*to_list, *cc_list)}]
    return Notify(step, clock.round if round is None else round, tuple(to_list), tuple(cc_list),
                  tuple(_unique(awaits)), clock.due_at, ctx.now - clock.due_at > LATE_GRACE,
                  attach_form, about)


def _send(case: CaseState, d: Decision, ctx: Context, mail: Notify) -> None:
    """Queue the mail, and open an ack window for each person whose answer it awaits — unless
    one is open for them already. Any reply of theirs meets all their windows, so a second
    window could only double the failover: a case registered late sends several reminders
    to one leader in one pass, and he must cause one 越级上报, not two identical ones."""
    d.mails.append(mail)
    taken = [c.round for c in case.clocks if c.kind == DeadlineKind.ACK]
    taken += [c.round for c in d.clocks if c.kind == DeadlineKind.ACK]
    next_round = max(taken, default=-1) + 1
    waiting = _waiting_for(case, d)
    for person in mail.awaits:
        if person.email in waiting:
            continue
        d.clocks.append(NewClock(DeadlineKind.ACK, next_round, ctx.now + ctx.deadlines[DeadlineKind.ACK],
                                 target=AckTarget(mail.step, mail.round, person.email)))
        next_round += 1
        waiting.add(person.email)


def _waiting_for(case: CaseState, d: Decision) -> set[str]:
    """Whose answer an open ack window awaits, as this pass has left them so far."""
    settled = {*d.met, *d.breached}
    ack = DeadlineKind.ACK
    waiting = {c.awaited for c in case.clocks if c.kind == ack and c.open and (c.kind, c.round) not in settled}
    return waiting | {c.awaited for c in d.clocks if c.kind == ack}


def _transition(case: CaseState, step: Step, d: Decision) -> None:
    target = next_status(d.status or case.status, step)
    if target is not None:
        d.status = target


def _receivers(case: CaseState, ctx: Context) -> list[Person]:
    """Who owns it first: the receiver, else the receiving department's A contact."""
    if case.receiver_email:
        return [ctx.directory.person(case.receiver_email) or Person("", case.receiver_email)]
    return _acting(case, case.receiving_dept.interface_a, ctx)


def _acting(case: CaseState, a: Person, ctx: Context) -> list[Person]:
    """Who stands for an A contact on this case now: A, or — once A missed an answer and B
    was told (a breached ack window awaiting A) — B first, with A kept in copy, as a
    failover mail does. Later mails then reach the person who is actually answering."""
    missed = any(c.kind == DeadlineKind.ACK and c.breached_at is not None and c.awaited == a.email
                 for c in case.clocks)
    backup = _backup_of(a.email, ctx) if missed else None
    return [backup, a] if backup is not None else [a]


def _leader(case: CaseState, ctx: Context) -> Person | None:
    """The receiving department's leader (上级领导). 综合部 has none in the directory: its
    cases reach the company leader through the group step, not through every reminder."""
    if case.receiving_dept.kind is DepartmentKind.GENERAL_DEPT:
        return None
    return case.receiving_dept.leader or ctx.directory.leaders.company


def _group_interfaces(case: CaseState, directory: Directory) -> list[Person]:
    """Interface persons A of the company-level group: the in_company_group departments, the
    ones named when convening, and the receiving department."""
    depts = [d for d in directory.departments
             if d.in_company_group or d.id in case.group_depts or d.id == case.receiving_dept.id]
    return [d.interface_a for d in depts]


def _optional(person: Person | None) -> list[Person]:
    return [person] if person is not None else []


def _unique(people: Iterable[Person]) -> list[Person]:
    seen: dict[str, Person] = {}
    for person in people:
        seen.setdefault(person.email, person)
    return list(seen.values())
