"""The procedure as a timeline before it runs: every mail one case would cause, and when.

`simulate` carries a case through time in memory, from each due clock to the next, with the
daemon's own rules and nothing else: the clocks intake starts (`intake_deadlines`,
models/registration.py), the policy's `decide` at each due time (models/policy.py),
`decide_reply` for each scripted answer (models/replies.py), and for a bounce or an
out-of-office what the shell does with one (the addressee's open ack windows fall due at
once). Each decision is applied to the simulation's own copy of the case as
daemon/escalation.py and daemon/replies.py write it to the register; the mails are collected
in order with their time. A change to a rule changes the plan with it: the procedure is
described once.

Answers are scripted as `WHO=WHAT@H:MM[:SS]` (offset from receipt): WHO is a role of the
case (`ANSWERERS`) or an address, WHAT a reply's first line (可处理, 无法处理, 上报综合部,
收到, 成立小组：网络部, 方案：… 预计完成：…) or one of `UNREACHABLE` (退信, 自动回复).
Within one instant answers act first and the clocks after, as in the daemon's tick (intake,
then the deadline pass).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any

from models.directory import Deadlines, Department, DepartmentKind, Directory, MediaOutlet, Person
from models.permissions import roles_of
from models.policy import CaseState, Clock, Decision, Notify, Step, decide, registration_notice
from models.registration import intake_deadlines
from models.replies import Answer, ReplyDecision, decide_reply
from models.types import CaseStatus, DeadlineKind, EventKind
from parsers.commands import read_commands

HORIZON = timedelta(hours=24)  # simulated time after registration that a plan covers
PASSES = 10_000  # a bound on the passes of one simulation, far above any real procedure's

# What a scripted answer may say besides a reply: the addressee cannot be reached.
UNREACHABLE = frozenset({"退信", "bounce", "自动回复", "autoreply", "away"})
_OFFSET = re.compile(r"\+?(\d{1,3}):([0-5]\d)(?::([0-5]\d))?")


class PlanError(ValueError):
    """A plan that cannot be made as asked: the message says what to write instead."""


def _receiver(case: CaseState, directory: Directory) -> Person | None:
    if case.receiver_email:
        return directory.person(case.receiver_email) or Person("", case.receiver_email)
    return case.receiving_dept.interface_a


def _leader(case: CaseState, directory: Directory) -> Person | None:
    return case.receiving_dept.leader or directory.leaders.company


# Who answers, by the name a script gives them. The clock names stand for the person whose
# answer that clock waits for (assess=可处理 is the receiver's assessment).
ANSWERERS: dict[str, Callable[[CaseState, Directory], Person | None]] = {
    "receiver": _receiver,
    "assess": _receiver,
    "receiver_b": lambda c, d: c.receiving_dept.interface_b,
    "leader": _leader,
    "am": lambda c, d: c.outlet.account_manager_a if c.outlet else None,
    "account_manager": lambda c, d: c.outlet.account_manager_a if c.outlet else None,
    "am_b": lambda c, d: c.outlet.account_manager_b if c.outlet else None,
    "gd": lambda c, d: d.general_dept.interface_a,
    "general_dept": lambda c, d: d.general_dept.interface_a,
    "group": lambda c, d: d.general_dept.interface_a,
    "gd_b": lambda c, d: d.general_dept.interface_b,
    "company": lambda c, d: d.leaders.company,
    "media": lambda c, d: d.leaders.media,
}


@dataclass(frozen=True)
class Scripted:
    """One answer of a script: `who` says `says`, `after` the receipt."""

    who: str
    says: str
    after: timedelta

    @property
    def unreachable(self) -> bool:
        return self.says.strip().lower() in UNREACHABLE

    @property
    def written(self) -> str:
        """As a script writes it: assess=可处理@0:05."""
        return f"{self.who}={self.says}@{offset_text(self.after).lstrip('+')}"


def parse_answers(text: str) -> tuple[Scripted, ...]:
    """`assess=可处理@0:05; am=退信@0:35` → the answers; PlanError names what is wrong."""
    answers = []
    for item in (part.strip() for part in re.split(r"[;,\n]", text)):
        if not item:
            continue
        who, eq, rest = item.partition("=")
        says, at, when = rest.rpartition("@")
        who = who.strip()
        if not eq or not at or not says.strip():
            raise PlanError(f"{item!r}: write an answer as WHO=WHAT@H:MM, e.g. assess=可处理@0:05")
        if who not in ANSWERERS and "@" not in who:
            raise PlanError(f"{item!r}: {who!r} is not one of {', '.join(ANSWERERS)} nor an address")
        answers.append(Scripted(who.lower() if "@" in who else who, says.strip(), parse_offset(when, item)))
    return tuple(answers)


def parse_offset(text: str, item: str = "") -> timedelta:
    match = _OFFSET.fullmatch(text.strip())
    if match is None:
        raise PlanError(f"{item or text!r}: the time after receipt is H:MM or H:MM:SS, e.g. 0:05 or 1:30")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def offset_text(offset: timedelta) -> str:
    """+0:15, +25:00; seconds only when there are any (+0:00:15, for second-long clocks)."""
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


@dataclass(frozen=True)
class Start:
    """A case as intake registers it: who received it, about which outlet, when."""

    receiving_dept: Department
    outlet: MediaOutlet | None
    received_at: datetime
    registered_at: datetime  # when complaintd registers it: the first pass (≥ received_at)
    receiver_email: str | None = None  # the forwarder; None: the department's A contact stands for it


@dataclass(frozen=True)
class PlannedMail:
    """One mail of the plan: the policy's Notify, when it goes, and for a failover, who was silent."""

    at: datetime
    offset: timedelta
    notify: Notify
    failover: str = ""  # "a" (A → B), "leader" (越级上报) or "" for any other step
    silent: Person | None = None  # a failover's (or leader_silent's) person who did not answer


@dataclass(frozen=True)
class PlannedAnswer:
    """One scripted answer as the case took it: what it did, in the confirmation's words."""

    at: datetime
    offset: timedelta
    script: Scripted
    person: Person
    done: tuple[str, ...] = ()  # accepted, as the confirmation says it
    refused: tuple[str, ...] = ()  # commands or the whole reply not taken, with the reason


Entry = PlannedMail | PlannedAnswer


@dataclass(frozen=True)
class Plan:
    start: Start
    receiver: Person  # who owns it first (the forwarder, else the department's A contact)
    entries: tuple[Entry, ...]
    until: datetime  # the end of the simulated time
    left_open: tuple[Clock, ...]  # clocks still running at `until`, in due order
    status: CaseStatus  # where the case stands at the end

    @property
    def mails(self) -> tuple[PlannedMail, ...]:
        return tuple(e for e in self.entries if isinstance(e, PlannedMail))


@dataclass
class _Sim:
    case: CaseState
    directory: Directory
    deadlines: Deadlines
    zone: tzinfo
    received_at: datetime
    entries: list[Entry] = field(default_factory=list)
    confirms: int = 0  # confirmation mails so far: the next one's round is this + 1

    def at(self, now: datetime) -> timedelta:
        return now - self.received_at


def simulate(start: Start, directory: Directory, deadlines: Deadlines, zone: tzinfo,
             answers: tuple[Scripted, ...] = (), horizon: timedelta = HORIZON) -> Plan:
    """Every mail the case causes from its registration to `registered_at + horizon`, given
    the scripted answers and silence otherwise."""
    clocks = tuple(Clock(d.kind, 0, d.due_at, d.met_at)
                   for d in intake_deadlines(start.received_at, start.receiving_dept, deadlines,
                                             start.registered_at))
    case = CaseState(id="plan", status=CaseStatus.REGISTERED, receiving_dept=start.receiving_dept,
                     receiver_email=start.receiver_email, outlet=start.outlet, received_at=start.received_at,
                     clocks=clocks)
    sim = _Sim(case, directory, deadlines, zone, start.received_at)
    # Who forwarded it: the receiver; without one, the department's A contact stands for them,
    # as for the clocks. A complaint written straight to the mailbox is 综合部's, with no forwarder.
    if start.receiver_email:
        forwarder: Person | None = directory.person(start.receiver_email) or Person("", start.receiver_email)
    elif start.receiving_dept.kind is not DepartmentKind.GENERAL_DEPT:
        forwarder = start.receiving_dept.interface_a
    else:
        forwarder = None
    notice = registration_notice(forwarder, directory, start.registered_at)
    sim.entries.append(PlannedMail(start.registered_at, sim.at(start.registered_at), notice))
    waiting = sorted(answers, key=lambda a: a.after)
    until = start.registered_at + horizon
    now = start.registered_at
    for _ in range(PASSES):
        while waiting and start.received_at + waiting[0].after <= now:
            _answer(sim, waiting.pop(0), now)
        _decide(sim, now)
        later = [c.due_at for c in sim.case.clocks if c.open and c.due_at > now]
        later += [start.received_at + a.after for a in waiting]
        if not later or min(later) > until:
            break
        now = min(later)
    receiver = _receiver(case, directory) or case.receiving_dept.interface_a
    left = tuple(sorted((c for c in sim.case.clocks if c.open), key=lambda c: (c.due_at, c.kind)))
    return Plan(start, receiver, tuple(sim.entries), until, left, sim.case.status)


# -- the clocks ---------------------------------------------------------------------------

def _decide(sim: _Sim, now: datetime) -> None:
    decision = decide(sim.case, sim.directory, sim.deadlines, now)
    sim.case = applied(sim.case, decision, now)
    for notify in decision.mails:
        kind, silent = _failover(notify, sim.directory)
        sim.entries.append(PlannedMail(now, sim.at(now), notify, kind, silent))


def applied(case: CaseState, decision: Decision, now: datetime) -> CaseState:
    """The case after a deadline pass's decision, as daemon/escalation.py writes it."""
    clocks = list(case.clocks)
    index = {(c.kind, c.round): i for i, c in enumerate(clocks)}
    for key in decision.met:
        clocks[index[key]] = replace(clocks[index[key]], met_at=now)
    for key in decision.breached:
        clocks[index[key]] = replace(clocks[index[key]], breached_at=now)
    for new in decision.clocks:
        if (new.kind, new.round) not in index:
            index[(new.kind, new.round)] = len(clocks)
            clocks.append(Clock(new.kind, new.round, new.due_at, target=new.target))
    return replace(case, clocks=tuple(clocks), status=decision.status or case.status)


def _failover(notify: Notify, directory: Directory) -> tuple[str, Person | None]:
    """For a failover, whether a leader was silent (越级上报) or an A contact (→ B), and who."""
    if notify.step not in (Step.FAILOVER, Step.LEADER_SILENT) or not notify.about:
        return "", None
    email = notify.about.address
    person = directory.person(email) or Person("", email)
    if notify.step is Step.LEADER_SILENT:
        return "", person
    return ("leader" if email in _leader_emails(directory) else "a"), person


def _leader_emails(directory: Directory) -> set[str]:
    leaders = directory.leaders
    found = {p.email for p in (leaders.company, leaders.media) if p}
    return found | {d.leader.email for d in directory.departments if d.leader}


# -- the answers --------------------------------------------------------------------------

def _answer(sim: _Sim, script: Scripted, now: datetime) -> None:
    person = _answerer(sim.case, script.who, sim.directory)
    if script.unreachable:
        sim.case = unreachable(sim.case, person.email, now)
        sim.entries.append(PlannedAnswer(now, sim.at(now), script, person))
        return
    roles = roles_of(person.email, sim.case.receiving_dept, sim.case.outlet, sim.directory)
    if not roles:  # the daemon records such a reply and rejects it: nothing changes
        sim.entries.append(PlannedAnswer(now, sim.at(now), script, person, refused=("不在本案件的处理人员中",)))
        return
    commands = read_commands(script.says, sim.zone, now)
    opening = (script.says.splitlines() or [""])[0][:80]
    answer = Answer(person.email, person.name, roles, commands, opening, sim.confirms + 1)
    decision = decide_reply(sim.case, answer, sim.directory, sim.deadlines, sim.zone, now)
    sim.case = replied(sim.case, decision, sim.directory, now)
    refused = tuple(o.summary for o in decision.events if o.kind == EventKind.REJECTED)
    sim.entries.append(PlannedAnswer(now, sim.at(now), script, person, tuple(decision.done), refused))
    for notify in decision.mails:
        if notify.step is Step.CONFIRM:
            sim.confirms += 1
        sim.entries.append(PlannedMail(now, sim.at(now), notify))


def _answerer(case: CaseState, who: str, directory: Directory) -> Person:
    if "@" in who:
        return directory.person(who) or Person("", who)
    person = ANSWERERS[who](case, directory)
    if person is None:
        raise PlanError(f"{who}: this case has nobody in that role (see the directory)")
    return person


def unreachable(case: CaseState, email: str, now: datetime) -> CaseState:
    """A bounce or an out-of-office from `email`: their open ack windows fall due now, as
    daemon/ack_windows.py `expire_ack_windows` makes them."""
    ack = DeadlineKind.ACK
    return replace(case, clocks=tuple(
        replace(c, due_at=min(c.due_at, now)) if c.kind == ack and c.open and c.awaited == email.lower() else c
        for c in case.clocks))


# The case fields a reply sets that the policy reads, by their name on the case row.
_READ_BY_POLICY = ("assessment", "expected_completion_at", "category", "category_basis", "statement")


def replied(case: CaseState, decision: ReplyDecision, directory: Directory, now: datetime) -> CaseState:
    """The case after a reply's decision, as daemon/replies.py writes it and
    daemon/escalation.py reads it back: fields, status, then new clocks, moved due times,
    met clocks."""
    fields = decision.fields
    changes: dict[str, Any] = {name: fields[name] for name in _READ_BY_POLICY if name in fields}
    if "group_depts" in fields:
        changes["group_depts"] = tuple(fields["group_depts"] or ())
    if "group_requested_at" in fields:
        changes["group_requested"] = fields["group_requested_at"] is not None
    if "media_outlet" in fields:
        changes["outlet"] = directory.outlet(fields["media_outlet"])
    clocks = [*case.clocks, *(Clock(n.kind, n.round, n.due_at, target=n.target) for n in decision.clocks)]
    clocks = [replace(c, due_at=decision.moved[(c.kind, c.round)]) if (c.kind, c.round) in decision.moved else c
              for c in clocks]
    met = set(decision.met)
    clocks = [replace(c, met_at=now) if (c.kind, c.round) in met else c for c in clocks]
    return replace(case, **changes, status=decision.status or case.status, clocks=tuple(clocks))


# -- the start ----------------------------------------------------------------------------

def department(directory: Directory, key: str) -> Department | None:
    """A department by its id or its name (网络部, network; 综合部, general_dept)."""
    everyone = (directory.general_dept, *directory.departments)
    return next((d for d in everyone if key in (d.id, d.name)), None)


def branch(directory: Directory, key: str = "") -> Department | None:
    """A suburban branch (郊市分公司) by id or name; the first one when no key is given."""
    branches = [d for d in directory.departments if d.kind is DepartmentKind.BRANCH]
    return next((d for d in branches if not key or key in (d.id, d.name)), None)
