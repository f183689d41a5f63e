"""The clocks of SPEC §3 as a pure function: one rule per clock, ack windows, and properties.

`decide(case, directory, deadlines, now)` is called with literal times; the directory and the
durations are the shipped config.toml's (the SPEC defaults).
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.config import load_settings
from models.directory import MediaOutlet, Person
from models.policy import CaseState, Clock, Decision, Step, decide
from models.registration import intake_deadlines
from models.types import CLOSED_STATUSES, AckTarget, CaseStatus, DeadlineKind
from tests.support.clocks import (
    ACK,
    AM,
    ASSESS,
    COMPLETION,
    GEN,
    GROUP,
    HA,
    OPEN_STATUSES,
    PROGRESS,
    SOLUTION,
    STATEMENT,
    m,
)

SETTINGS = load_settings(Path(__file__).resolve().parents[2] / "config.toml", env={})
DIRECTORY, DEADLINES = SETTINGS.directory, SETTINGS.deadlines
T0 = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)  # received_at: 10:15 in Shanghai

NETWORK = DIRECTORY.department("network")
BRANCH = DIRECTORY.department("east_branch")
GD = DIRECTORY.general_dept
assert NETWORK is not None and BRANCH is not None
JCWB = DIRECTORY.outlet("江城晚报")
NO_AM = MediaOutlet("城市周刊")  # an outlet the directory has no account manager for

RECEIVER = "sun@corp.example.com"  # 网络部 staff (listed member), not a named person
BRANCH_RECEIVER = "ma@east.corp.example.com"  # 东郊分公司 staff, by *@domain
NET_LEADER, NET_A, NET_B = "wang.net@corp.example.com", "zhang.net@corp.example.com", "li.net@corp.example.com"
MKT_A, CS_A = "feng.mkt@corp.example.com", "yang.cs@corp.example.com"
EAST_LEADER, EAST_A = "qin.east@corp.example.com", "xu.east@corp.example.com"
GD_A, GD_B = "liu.gd@corp.example.com", "zhou.gd@corp.example.com"
GD_BOX = ("zonghe@corp.example.com", GD_A)  # 综合部's mailboxes: its members and its A contact (B only on failover)
AM_A, AM_B = "chen.am@corp.example.com", "wu.am@corp.example.com"
COMPANY, HIGHER = "zhao.ceo@corp.example.com", "gd@prov.example.com"
GROUP_AS = (NET_A, MKT_A, CS_A)  # interface A of the in_company_group departments



def h(hours: float) -> timedelta:
    return timedelta(hours=hours)


def due(kind: DeadlineKind) -> datetime:
    """An intake clock's due time for a case received at T0."""
    return T0 + DEADLINES[kind]


def clock(kind: str, due_at: datetime, round: int = 0, *, met: datetime | None = None,
          breached: datetime | None = None, target: str = "") -> Clock:
    return Clock(kind, round, due_at, met, breached, AckTarget.parse(target) if target else None)


def window(round: int, target: str, due_at: datetime, *, met: datetime | None = None,
           breached: datetime | None = None) -> Clock:
    """An ack window awaiting the address at the end of `target` ("step/round/email")."""
    return Clock(ACK, round, due_at, met, breached, AckTarget.parse(target))


def case(*clocks: Clock, status: CaseStatus = CaseStatus.REGISTERED, dept=NETWORK,  # type: ignore[no-untyped-def]
         receiver: str | None = RECEIVER, outlet: MediaOutlet | None = JCWB, assessment: str | None = None,
         group_depts: tuple[str, ...] = (), group_requested: bool = False) -> CaseState:
    return CaseState("MT-20261127-0001", status, dept, receiver, outlet, T0, tuple(clocks),
                     assessment=assessment, group_depts=group_depts, group_requested=group_requested)


def emails(people: tuple[Person, ...]) -> tuple[str, ...]:
    return tuple(p.email for p in people)


def fold(state: CaseState, decision: Decision, now: datetime) -> CaseState:
    """The case after the daemon carried out `decision` (as daemon/escalation.py does)."""
    met, breached = set(decision.met), set(decision.breached)
    clocks = [replace(c, met_at=now) if (c.kind, c.round) in met
              else replace(c, breached_at=now) if (c.kind, c.round) in breached else c
              for c in state.clocks]
    taken = {(c.kind, c.round) for c in clocks}
    for new in decision.clocks:  # (case, kind, round) is unique: a repeated clock is not added
        if (new.kind, new.round) not in taken:
            clocks.append(Clock(new.kind, new.round, new.due_at, target=new.target))
            taken.add((new.kind, new.round))
    return replace(state, status=decision.status or state.status, clocks=tuple(clocks))


def outbox_keys(decision: Decision) -> set[tuple[str, int, str]]:
    """The outbox's unique key per recipient: (step, round, recipient)."""
    return {(mail.step.value, mail.round, p.email) for mail in decision.mails for p in (*mail.to, *mail.cc)}


# -- one row per rule (SPEC §3) -----------------------------------------------------------

@dataclass(frozen=True)
class Expect:
    met: tuple[tuple[str, int], ...] = ()
    breached: tuple[tuple[str, int], ...] = ()
    mails: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = ()  # (step, to, cc)
    forms: tuple[str, ...] = ()  # steps whose mail carries the registration form
    status: CaseStatus | None = None
    clocks: tuple[tuple[str, int, timedelta], ...] = ()  # new non-ack clocks, due relative to now
    windows: tuple[tuple[int, str], ...] = ()  # new ack windows (round, target), due now + 10 min
    marks: tuple[str, ...] = ()
    abouts: tuple[str, ...] = ()  # failover mails: who did not answer


STAGE_CLOCKS = ((GROUP, 0, h(1)), (PROGRESS, 1, h(4)))  # what 综合部 taking over starts
AT_GD = {"status": CaseStatus.GENERAL_DEPT}
AT_GROUP = {"status": CaseStatus.COMPANY_GROUP}

RULES = [
    # assess (15 min): an assessment given in time meets it; silence reminds the receiver
    pytest.param(case(clock(ASSESS, due(DeadlineKind.ASSESS)), assessment="local", status=CaseStatus.LOCAL),
                 T0 + m(15), Expect(met=((ASSESS, 0),)), id="assess-met-just-in-time"),
    pytest.param(case(clock(ASSESS, due(DeadlineKind.ASSESS))), T0 + m(15) + timedelta(seconds=1),
                 Expect(breached=((ASSESS, 0),), mails=(("assess_overdue", (RECEIVER,), (NET_LEADER,)),),
                        windows=((0, f"assess_overdue/0/{NET_LEADER}"),)),
                 id="assess-missed-by-one-second"),
    pytest.param(case(clock(ASSESS, due(DeadlineKind.ASSESS))), T0 + m(15) - timedelta(seconds=1), Expect(),
                 id="assess-not-yet-due"),
    # account_manager (30 min): silence or "cannot" engages the outlet's AM; "local" needs nobody
    pytest.param(case(clock(AM, due(DeadlineKind.ACCOUNT_MANAGER))), T0 + m(30),
                 Expect(breached=((AM, 0),), mails=(("account_manager", (AM_A,), (RECEIVER,)),),
                        status=CaseStatus.ACCOUNT_MANAGER, windows=((0, f"account_manager/0/{AM_A}"),)),
                 id="account-manager-silence"),
    pytest.param(case(clock(AM, T0 + m(20)), assessment="cannot"), T0 + m(20),  # 无法处理 at 20 min
                 Expect(met=((AM, 0),), mails=(("account_manager", (AM_A,), (RECEIVER,)),),
                        status=CaseStatus.ACCOUNT_MANAGER, windows=((0, f"account_manager/0/{AM_A}"),)),
                 id="account-manager-cannot"),
    pytest.param(case(clock(AM, due(DeadlineKind.ACCOUNT_MANAGER)), assessment="local", status=CaseStatus.LOCAL),
                 T0 + m(30), Expect(met=((AM, 0),)), id="account-manager-local"),
    pytest.param(case(clock(AM, due(DeadlineKind.ACCOUNT_MANAGER), met=T0 + m(30)), clock(AM, T0 + h(2), 1),
                      assessment="cannot", status=CaseStatus.LOCAL), T0 + h(2),  # a plan, then 无法处理 at 2 h
                 Expect(met=((AM, 1),), mails=(("account_manager", (AM_A,), (RECEIVER,)),),
                        status=CaseStatus.ACCOUNT_MANAGER, windows=((0, f"account_manager/1/{AM_A}"),)),
                 id="account-manager-cannot-after-a-plan"),
    pytest.param(case(clock(AM, due(DeadlineKind.ACCOUNT_MANAGER)), outlet=None), T0 + m(30),
                 Expect(breached=((AM, 0),), mails=(("account_manager_unknown", (GD_A,), (RECEIVER,)),),
                        status=CaseStatus.ACCOUNT_MANAGER, windows=((0, f"account_manager_unknown/0/{GD_A}"),)),
                 id="account-manager-unknown-outlet"),
    pytest.param(case(clock(AM, due(DeadlineKind.ACCOUNT_MANAGER)), dept=BRANCH, receiver=BRANCH_RECEIVER),
                 T0 + m(30),
                 Expect(breached=((AM, 0),), mails=(("general_dept", GD_BOX, (BRANCH_RECEIVER, EAST_LEADER, AM_A)),),
                        forms=("general_dept",), status=CaseStatus.GENERAL_DEPT, clocks=STAGE_CLOCKS,
                        windows=((0, f"general_dept/0/{GD_A}"),), marks=("gd_takeover_at",)),
                 id="account-manager-branch-goes-to-general-dept"),
    # general_dept (1 h): the whole event and the form to 综合部, which takes over
    pytest.param(case(clock(AM, due(DeadlineKind.ACCOUNT_MANAGER), breached=T0 + m(30)),
                      clock(GEN, due(DeadlineKind.GENERAL_DEPT)), status=CaseStatus.ACCOUNT_MANAGER), T0 + h(1),
                 Expect(breached=((GEN, 0),), mails=(("general_dept", GD_BOX, (RECEIVER, NET_LEADER, AM_A)),),
                        forms=("general_dept",), status=CaseStatus.GENERAL_DEPT, clocks=STAGE_CLOCKS,
                        windows=((0, f"general_dept/0/{GD_A}"),), marks=("gd_takeover_at",)),
                 id="general-dept-silence"),
    pytest.param(case(clock(GEN, due(DeadlineKind.GENERAL_DEPT)), assessment="local", status=CaseStatus.LOCAL),
                 T0 + h(1), Expect(met=((GEN, 0),)), id="general-dept-local"),
    pytest.param(case(clock(GEN, T0 + h(2), 1), dept=GD, receiver=None, assessment="cannot", status=CaseStatus.LOCAL),
                 T0 + h(2), Expect(met=((GEN, 1),)), id="general-dept-received-it-itself"),
    # solution (4 h) and normal_completion (72 h): the leader and 综合部
    pytest.param(case(clock(SOLUTION, due(DeadlineKind.SOLUTION)), assessment="local", status=CaseStatus.LOCAL),
                 T0 + h(4), Expect(breached=((SOLUTION, 0),),
                                   mails=(("solution_overdue", (NET_LEADER, GD_A), (RECEIVER,)),),
                                   windows=((0, f"solution_overdue/0/{NET_LEADER}"),)),
                 id="solution-overdue"),
    pytest.param(case(clock(COMPLETION, due(DeadlineKind.NORMAL_COMPLETION)), assessment="local",
                      status=CaseStatus.LOCAL),
                 T0 + h(72), Expect(breached=((COMPLETION, 0),),
                                    mails=(("completion_overdue", (NET_LEADER, GD_A), (RECEIVER,)),),
                                    windows=((0, f"completion_overdue/0/{NET_LEADER}"),)),
                 id="normal-completion-overdue"),
    # group (1 h from takeover at T0+1h): convened when 综合部 replied 成立小组 (the reply makes
    # the clock due at once): interface A of the group, company leader in copy
    pytest.param(case(clock(GROUP, T0 + h(1.5)), group_requested=True, **AT_GD), T0 + h(1.5),
                 Expect(met=((GROUP, 0),), mails=(("group", GROUP_AS, (*GD_BOX, COMPANY)),), forms=("group",),
                        status=CaseStatus.COMPANY_GROUP, clocks=((HA, 0, h(1)),),
                        windows=tuple((i, f"group/0/{a}") for i, a in enumerate(GROUP_AS)),
                        marks=("group_formed_at",)),
                 id="group-convened-by-reply"),
    # … and silence convenes nothing: the company leader is asked to decide, 综合部 in copy
    pytest.param(case(clock(GROUP, T0 + h(2)), **AT_GD), T0 + h(2),
                 Expect(breached=((GROUP, 0),), mails=(("group_overdue", (COMPANY,), GD_BOX),),
                        windows=((0, f"group_overdue/0/{COMPANY}"),)),
                 id="group-missed-goes-to-the-company-leader"),
    pytest.param(case(clock(GROUP, T0 + h(2)), assessment="local", **AT_GD), T0 + h(2),  # a plan from 综合部
                 Expect(met=((GROUP, 0),)), id="group-not-needed-after-a-plan"),
    # higher_authority (1 h from the group)
    pytest.param(case(clock(HA, T0 + h(3)), **AT_GROUP), T0 + h(3),
                 Expect(breached=((HA, 0),), mails=(("higher_authority", (HIGHER,), (COMPANY, *GD_BOX)),),
                        forms=("higher_authority",)),
                 id="higher-authority"),
    # progress (every 4 h at 综合部 or group level): a report, then the next round
    pytest.param(case(clock(PROGRESS, T0 + h(5), 1), **AT_GD), T0 + h(5),
                 Expect(met=((PROGRESS, 1),), mails=(("progress", (COMPANY,), GD_BOX),),
                        clocks=((PROGRESS, 2, h(4)),)),
                 id="progress-round"),
    # statement (approved at T0+3h, due T0+3h30m): sent at once, before its due time
    pytest.param(case(clock(STATEMENT, T0 + h(3.5)), **AT_GROUP), T0 + h(3),
                 Expect(met=((STATEMENT, 0),), mails=(("statement", GROUP_AS, GD_BOX),),
                        windows=tuple((i, f"statement/0/{a}") for i, a in enumerate(GROUP_AS))),
                 id="statement-at-once"),
    # ack (10 min): A silent → B; B silent → nobody; a silent leader → the next one up
    pytest.param(case(window(4, f"group/0/{NET_A}", T0 + h(2) + m(10)), **AT_GROUP), T0 + h(2) + m(10),
                 Expect(breached=((ACK, 4),), mails=(("failover", (NET_B,), (NET_A,)),),
                        windows=((5, f"failover/4/{NET_B}"),), abouts=(f"group/0/{NET_A}",)),
                 id="ack-a-silent-fails-over-to-b"),
    pytest.param(case(window(4, f"group/0/{NET_A}", T0 + h(2) + m(10), met=T0 + h(2) + m(3)), **AT_GROUP),
                 T0 + h(2) + m(10), Expect(), id="ack-a-answered"),
    pytest.param(case(window(4, f"group/0/{NET_A}", T0 + h(2) + m(10), breached=T0 + h(2) + m(10)),
                      window(5, f"failover/4/{NET_B}", T0 + h(2) + m(20), met=T0 + h(2) + m(15)), **AT_GROUP),
                 T0 + h(2) + m(20), Expect(), id="ack-only-b-answered"),
    pytest.param(case(window(4, f"group/0/{NET_A}", T0 + h(2) + m(10), breached=T0 + h(2) + m(10)),
                      window(5, f"failover/4/{NET_B}", T0 + h(2) + m(20)), **AT_GROUP),
                 T0 + h(2) + m(20), Expect(breached=((ACK, 5),)), id="ack-neither-answered"),
    pytest.param(case(window(0, f"account_manager/0/{AM_A}", T0 + m(40)), status=CaseStatus.ACCOUNT_MANAGER),
                 T0 + m(40), Expect(breached=((ACK, 0),), mails=(("failover", (AM_B,), (AM_A,)),),
                                    windows=((1, f"failover/0/{AM_B}"),), abouts=(f"account_manager/0/{AM_A}",)),
                 id="ack-account-manager-a-silent"),
    pytest.param(case(window(0, f"assess_overdue/0/{NET_LEADER}", T0 + m(25))), T0 + m(25),
                 Expect(breached=((ACK, 0),), mails=(("failover", (COMPANY,), (NET_LEADER,)),),
                        windows=((1, f"failover/0/{COMPANY}"),), abouts=(f"assess_overdue/0/{NET_LEADER}",)),
                 id="ack-leader-silent-goes-to-company-leader"),
    pytest.param(case(window(1, f"failover/0/{COMPANY}", T0 + m(35))), T0 + m(35),
                 Expect(breached=((ACK, 1),), mails=(("leader_silent", GD_BOX, (COMPANY,)),)),
                 id="ack-company-leader-silent-general-dept-asked-to-reach-them"),
]


@pytest.mark.parametrize("state, now, expect", RULES)
def test_each_clock_rule_acts_as_spec_section_3_says(state: CaseState, now: datetime, expect: Expect) -> None:
    """Each clock kind's rule: met or breached, who is mailed, the status, the clocks it starts."""
    d = decide(state, DIRECTORY, DEADLINES, now)
    assert d.met == list(expect.met)
    assert d.breached == list(expect.breached)
    assert [(n.step.value, emails(n.to), emails(n.cc)) for n in d.mails] == list(expect.mails)
    assert tuple(n.step.value for n in d.mails if n.attach_form) == expect.forms
    assert d.status == expect.status
    assert [(c.kind, c.round, c.due_at - now) for c in d.clocks if c.kind != ACK] == list(expect.clocks)
    assert [(c.round, str(c.target)) for c in d.clocks if c.kind == ACK] == list(expect.windows)
    assert all(c.due_at == now + m(10) for c in d.clocks if c.kind == ACK)
    assert d.marks == {name: now for name in expect.marks}
    assert tuple(str(n.about) for n in d.mails if n.step is Step.FAILOVER) == expect.abouts
    assert not any(n.late for n in d.mails)  # every row acts at its due time (or before)


# -- the details the table does not show ----------------------------------------------------

def test_assess_reminder_awaits_the_leader_and_names_its_deadline() -> None:
    """The 15-minute reminder is about the assess clock and waits for the leader's answer."""
    now = T0 + m(16)
    [mail] = decide(case(clock(ASSESS, due(DeadlineKind.ASSESS))), DIRECTORY, DEADLINES, now).mails
    assert mail.step is Step.ASSESS_OVERDUE and mail.round == 0
    assert emails(mail.awaits) == (NET_LEADER,)
    assert mail.due_at == T0 + m(15) and not mail.attach_form
    assert not mail.late  # one minute late is within the grace


def test_general_dept_case_assess_reminder_goes_to_its_interface_a() -> None:
    """A direct complaint (综合部 receives it, no receiver, no leader): 综合部's A is reminded."""
    state = case(clock(ASSESS, due(DeadlineKind.ASSESS)), dept=GD, receiver=None, outlet=None)
    [mail] = decide(state, DIRECTORY, DEADLINES, T0 + m(15)).mails
    assert (emails(mail.to), emails(mail.cc), emails(mail.awaits)) == ((GD_A,), (), (GD_A,))


def test_group_includes_the_receiving_branch_and_departments_named_when_convening() -> None:
    """The group is the in_company_group departments, the receiving one and the named ones."""
    branch = case(clock(GROUP, T0 + h(2)), dept=BRANCH, receiver=BRANCH_RECEIVER, group_requested=True, **AT_GD)
    [mail] = decide(branch, DIRECTORY, DEADLINES, T0 + h(2)).mails
    assert emails(mail.to) == (*GROUP_AS, EAST_A)
    named = case(clock(GROUP, T0 + h(2)), group_depts=("east_branch",), group_requested=True, **AT_GD)
    [mail] = decide(named, DIRECTORY, DEADLINES, T0 + h(2)).mails
    assert emails(mail.to) == (*GROUP_AS, EAST_A)


BRANCH_CLOCKS = [
    pytest.param(clock(ASSESS, due(DeadlineKind.ASSESS)), CaseStatus.REGISTERED, id="assess"),
    pytest.param(clock(AM, due(DeadlineKind.ACCOUNT_MANAGER)), CaseStatus.REGISTERED, id="account_manager"),
    pytest.param(clock(SOLUTION, due(DeadlineKind.SOLUTION)), CaseStatus.LOCAL, id="solution"),
    pytest.param(clock(COMPLETION, due(DeadlineKind.NORMAL_COMPLETION)), CaseStatus.LOCAL, id="normal_completion"),
    pytest.param(clock(GROUP, T0 + h(2)), CaseStatus.GENERAL_DEPT, id="group"),
    pytest.param(clock(PROGRESS, T0 + h(5), 1), CaseStatus.GENERAL_DEPT, id="progress"),
    pytest.param(clock(STATEMENT, T0 + h(4)), CaseStatus.COMPANY_GROUP, id="statement"),
    pytest.param(window(0, f"assess_overdue/0/{EAST_LEADER}", T0 + m(25)), CaseStatus.REGISTERED, id="ack-leader"),
    pytest.param(window(0, f"group/0/{EAST_A}", T0 + h(2) + m(10)), CaseStatus.COMPANY_GROUP, id="ack-a"),
]


@pytest.mark.parametrize("due_clock, status", BRANCH_CLOCKS)
def test_every_branch_mail_copies_general_dept(due_clock: Clock, status: CaseStatus) -> None:
    """SPEC §3: a suburban branch's case mail always also goes to 综合部."""
    state = case(due_clock, dept=BRANCH, receiver=BRANCH_RECEIVER, status=status)
    d = decide(state, DIRECTORY, DEADLINES, due_clock.due_at)
    assert d.mails
    for mail in d.mails:
        assert set(GD_BOX) <= set(emails(mail.to)) | set(emails(mail.cc)), mail.step


def test_statement_is_not_late_before_its_due_time() -> None:
    """The statement goes out at approval; its due time is only the limit it is measured by."""
    state = case(clock(STATEMENT, T0 + h(3.5)), **AT_GROUP)
    [mail] = decide(state, DIRECTORY, DEADLINES, T0 + h(3)).mails
    assert mail.due_at == T0 + h(3.5) and not mail.late


def test_progress_after_three_missed_rounds_sends_one_report_and_schedules_the_next() -> None:
    """Daemon down across rounds due T0+5h, +9h, +13h: one (late) report, next round in the future."""
    now = T0 + h(13) + m(30)
    d = decide(case(clock(PROGRESS, T0 + h(5), 1), **AT_GD), DIRECTORY, DEADLINES, now)
    assert [(n.step, n.round, n.late) for n in d.mails] == [(Step.PROGRESS, 1, True)]
    assert [(c.kind, c.round, c.due_at) for c in d.clocks] == [(PROGRESS, 4, T0 + h(17))]
    assert decide(fold(case(clock(PROGRESS, T0 + h(5), 1), **AT_GD), d, now), DIRECTORY, DEADLINES, now).empty


def test_progress_stops_below_general_dept_level() -> None:
    """No dynamic report, and no next round, once the case is back in the department's hands."""
    d = decide(case(clock(PROGRESS, T0 + h(5), 1), status=CaseStatus.LOCAL), DIRECTORY, DEADLINES, T0 + h(5))
    assert (d.met, d.mails, d.clocks) == ([(PROGRESS, 1)], [], [])


def walk(state: CaseState, *times: datetime) -> tuple[CaseState, list[Decision]]:
    """Run the deadline pass at each time, carrying each decision out before the next."""
    decisions = []
    for now in times:
        decisions.append(decide(state, DIRECTORY, DEADLINES, now))
        state = fold(state, decisions[-1], now)
    return state, decisions


def test_silent_leaders_are_skipped_up_to_the_company_leader_and_no_further() -> None:
    """越级上报: network leader → company leader → (综合部 asked to reach him) → nobody, 10 min each."""
    start = T0 + m(15)
    _, ds = walk(case(clock(ASSESS, start)), start, start + m(10), start + m(20), start + m(30))
    sent = [(n.step.value, emails(n.to), emails(n.cc), emails(n.awaits)) for d in ds for n in d.mails]
    assert sent == [("assess_overdue", (RECEIVER,), (NET_LEADER,), (NET_LEADER,)),
                    ("failover", (COMPANY,), (NET_LEADER,), (COMPANY,)),
                    ("leader_silent", GD_BOX, (COMPANY,), ())]
    assert [d.breached for d in ds[1:3]] == [[(ACK, 0)], [(ACK, 1)]]
    assert ds[3].empty


MEDIA_LEADER = DIRECTORY.leaders.media.email if DIRECTORY.leaders.media else ""
# Every mail that waits for a leader's answer, as the clock that sends it (or the window itself).
LEADER_AWAITED = [
    pytest.param(case(clock(ASSESS, due(DeadlineKind.ASSESS))), id="assess_overdue"),
    pytest.param(case(clock(ASSESS, due(DeadlineKind.ASSESS)), dept=BRANCH, receiver=BRANCH_RECEIVER),
                 id="assess_overdue-branch"),
    pytest.param(case(clock(SOLUTION, due(DeadlineKind.SOLUTION)), assessment="local", status=CaseStatus.LOCAL),
                 id="solution_overdue"),
    pytest.param(case(clock(COMPLETION, due(DeadlineKind.NORMAL_COMPLETION)), assessment="local",
                      status=CaseStatus.LOCAL), id="completion_overdue"),
    *(pytest.param(case(window(0, f"statement_draft/0/{who}", T0 + m(10)), **AT_GD), id=f"window-{who}")
      for who in (NET_LEADER, EAST_LEADER, MEDIA_LEADER, COMPANY)),
]


@pytest.mark.parametrize("state", LEADER_AWAITED)
def test_a_silent_leader_never_takes_the_case_out_of_the_company(state: CaseState) -> None:
    """Nobody answers, at any level, for ten days: the higher authority is never mailed;
    the chain ends at the company leader, and 综合部 is asked once to reach him."""
    start = min(c.due_at for c in state.clocks)
    _, ds = walk(state, *(start + m(n) for n in range(0, 120)), start + h(240))
    mails = [n for d in ds for n in d.mails]
    assert all(HIGHER not in emails(n.to) + emails(n.cc) for n in mails)
    assert all(emails(n.to) == (COMPANY,) for n in mails if n.step is Step.FAILOVER)  # 越级: only him
    assert [(n.step, emails(n.cc)) for n in mails if n.step is Step.LEADER_SILENT] == [(Step.LEADER_SILENT, (COMPANY,))]
    assert mails[-1].step is Step.LEADER_SILENT  # and nothing after it


def test_a_answering_in_time_means_no_failover() -> None:
    """A's window met (a human reply) before it ran out: B is never told."""
    state, _ = walk(case(clock(AM, due(DeadlineKind.ACCOUNT_MANAGER))), T0 + m(30))
    [window_a] = [c for c in state.clocks if c.kind == ACK]
    answered = replace(state, clocks=tuple(replace(c, met_at=T0 + m(33)) if c is window_a else c
                                           for c in state.clocks))
    assert decide(answered, DIRECTORY, DEADLINES, T0 + h(1) - m(1)).empty


def test_only_b_answering_ends_the_failover() -> None:
    """A silent: B is told with A in copy and gets a window; B answers; nothing further."""
    state, [_, failover] = walk(case(clock(AM, due(DeadlineKind.ACCOUNT_MANAGER))), T0 + m(30), T0 + m(40))
    [mail] = failover.mails
    assert (mail.step, emails(mail.to), emails(mail.cc), emails(mail.awaits)) == (
        Step.FAILOVER, (AM_B,), (AM_A,), (AM_B,))
    state = replace(state, clocks=tuple(replace(c, met_at=T0 + m(45)) if c.awaited == AM_B else c
                                        for c in state.clocks))
    assert decide(state, DIRECTORY, DEADLINES, T0 + m(50)).empty


def test_neither_answering_stops_at_b() -> None:
    """A and B both silent: B's window is breached, and B has nobody behind them."""
    _, ds = walk(case(clock(AM, due(DeadlineKind.ACCOUNT_MANAGER))), T0 + m(30), T0 + m(40), T0 + m(50))
    assert ds[2].breached == [(ACK, 1)] and ds[2].mails == [] and ds[2].clocks == []


def test_registered_after_three_deadlines_takes_the_three_steps_at_once_marked_late() -> None:
    """迟报: registered at T0+1h30m, assess/AM/综合部 are all past: one pass, three late steps."""
    now = T0 + h(1.5)
    drafts = intake_deadlines(T0, NETWORK, DEADLINES, now)
    assert [(d.kind.value, d.late) for d in drafts] == [
        (ASSESS, True), (AM, True), (GEN, True), (SOLUTION, False), (COMPLETION, False)]
    state = case(*(clock(d.kind.value, d.due_at, met=d.met_at) for d in drafts))
    d = decide(state, DIRECTORY, DEADLINES, now)
    assert [(n.step, n.due_at, n.late) for n in d.mails] == [
        (Step.ASSESS_OVERDUE, T0 + m(15), True), (Step.ACCOUNT_MANAGER, T0 + m(30), True),
        (Step.GENERAL_DEPT, T0 + h(1), True)]
    assert d.breached == [(ASSESS, 0), (AM, 0), (GEN, 0)]
    assert d.status is CaseStatus.GENERAL_DEPT and d.marks == {"gd_takeover_at": now}
    assert [(c.round, str(c.target)) for c in d.clocks if c.kind == ACK] == [
        (0, f"assess_overdue/0/{NET_LEADER}"), (1, f"account_manager/0/{AM_A}"), (2, f"general_dept/0/{GD_A}")]
    assert [(c.kind, c.due_at) for c in d.clocks if c.kind != ACK] == [(GROUP, now + h(1)), (PROGRESS, now + h(4))]


def test_branch_registered_late_goes_to_general_dept_once() -> None:
    """A late branch case: the AM step hands it to 综合部; the 1 h clock is then simply met."""
    now = T0 + h(1.5)
    drafts = intake_deadlines(T0, BRANCH, DEADLINES, now)
    state = case(*(clock(d.kind.value, d.due_at, met=d.met_at) for d in drafts), dept=BRANCH,
                 receiver=BRANCH_RECEIVER)
    d = decide(state, DIRECTORY, DEADLINES, now)
    assert [n.step for n in d.mails] == [Step.ASSESS_OVERDUE, Step.GENERAL_DEPT]
    assert (d.breached, d.met) == ([(ASSESS, 0), (AM, 0)], [(GEN, 0)])


def test_branch_escalated_early_is_not_handed_to_general_dept_again_at_30_minutes() -> None:
    """上报综合部 at 10 min: 综合部 has it; the AM clock at 30 min must not resend the hand-over,
    restart the takeover time, or open a second window for 综合部's A (a spurious failover later)."""
    state = case(clock(AM, due(DeadlineKind.ACCOUNT_MANAGER)), clock(GEN, T0 + m(10)), dept=BRANCH,
                 receiver=BRANCH_RECEIVER)
    _, (escalated, at_30) = walk(state, T0 + m(10), T0 + m(30))
    assert [n.step for n in escalated.mails] == [Step.GENERAL_DEPT]
    assert Step.GENERAL_DEPT not in [n.step for n in at_30.mails]
    assert at_30.marks == {} and [str(c.target) for c in at_30.clocks] == [f"failover/0/{GD_B}"]

def open_windows(state: CaseState) -> list[str]:
    """Whose answer is awaited right now: one entry per open ack window."""
    return [c.awaited for c in state.clocks if c.kind == ACK and c.open]


def test_a_late_registration_waits_once_for_each_person() -> None:
    """Received 5 h before it was registered: the assess and solution reminders both await the
    department leader in one pass. One window for him, so one 越级上报 to the company leader
    (not two identical ones), and so on up: no person ever has two windows open."""
    now = T0 + h(5)
    drafts = intake_deadlines(T0, NETWORK, DEADLINES, now)
    state = case(*(clock(d.kind.value, d.due_at, met=d.met_at) for d in drafts))
    failovers: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    windows: list[str] = []
    for t in (now + m(n) for n in range(0, 6 * 60)):
        d = decide(state, DIRECTORY, DEADLINES, t)
        failovers += [(emails(n.to), emails(n.cc)) for n in d.mails if n.step is Step.FAILOVER]
        windows += [str(c.target) for c in d.clocks if c.kind == ACK]
        state = fold(state, d, t)
        awaited = open_windows(state)
        assert len(awaited) == len(set(awaited)), f"{t - T0}: {sorted(awaited)}"
    assert failovers.count(((COMPANY,), (NET_LEADER,))) == 1
    assert len(failovers) == len(set(failovers))
    assert len(windows) == len(set(windows))


def test_direct_complaint_registered_late_needs_no_account_manager_step() -> None:
    """综合部 received it itself (its 1 h clock met on arrival); no outlet: nobody to ask."""
    now = T0 + h(1.5)
    drafts = intake_deadlines(T0, GD, DEADLINES, now)
    state = case(*(clock(d.kind.value, d.due_at, met=d.met_at) for d in drafts), dept=GD, receiver=None,
                 outlet=None)
    d = decide(state, DIRECTORY, DEADLINES, now)
    assert [n.step for n in d.mails] == [Step.ASSESS_OVERDUE]
    assert d.breached == [(ASSESS, 0), (AM, 0)] and d.status is None


def test_daemon_down_across_two_deadlines_acts_on_both_in_due_order() -> None:
    """At 综合部 since T0+1h, down until T0+5h30m: the group question to the company leader
    (due +2h), then the report (+5h)."""
    now = T0 + h(5.5)
    state = case(clock(GROUP, T0 + h(2)), clock(PROGRESS, T0 + h(5), 1),
                 window(3, f"general_dept/0/{GD_A}", T0 + h(1) + m(10), met=T0 + h(1) + m(5)), **AT_GD)
    d = decide(state, DIRECTORY, DEADLINES, now)
    assert [(n.step, n.late) for n in d.mails] == [(Step.GROUP_OVERDUE, True), (Step.PROGRESS, True)]
    assert d.status is None
    assert [(c.kind, c.round, c.due_at) for c in d.clocks if c.kind != ACK] == [(PROGRESS, 2, T0 + h(9))]
    assert [c.round for c in d.clocks if c.kind == ACK] == [4]  # after the existing window 3


def test_a_missed_group_clock_convenes_nothing() -> None:
    """综合部 silent at the group deadline: the company leader is asked to decide, and then told
    again by 综合部; no group mail to any interface person, no company-level status, and so no
    report to the higher authority, however long nobody answers."""
    start = T0 + h(2)
    state, ds = walk(case(clock(GROUP, start), clock(PROGRESS, T0 + h(5), 1), **AT_GD),
                     *(start + m(n) for n in range(0, 24 * 60, 5)))
    mails = [n for d in ds for n in d.mails]
    assert [(n.step, emails(n.to)) for n in mails[:2]] == [(Step.GROUP_OVERDUE, (COMPANY,)),
                                                          (Step.LEADER_SILENT, GD_BOX)]
    assert {n.step for n in mails[2:]} == {Step.PROGRESS}  # the company leader's dynamic reports go on
    interface = {p.email for dept in DIRECTORY.departments for p in (dept.interface_a, dept.interface_b) if p}
    assert not any(interface & set(emails(n.to) + emails(n.cc)) for n in mails)
    assert state.status is CaseStatus.GENERAL_DEPT
    assert not [c for c in state.clocks if c.kind == HA] and not any(d.marks for d in ds)


# -- properties ------------------------------------------------------------------------------

PROPERTY = settings(max_examples=200, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
# now, as seconds after T0: mostly the first hours, where the clocks crowd, sometimes up to 80 h
SECONDS = st.one_of(st.integers(0, 3 * 3600), st.integers(0, 80 * 3600))
OPEN = st.sampled_from(OPEN_STATUSES)
# Addresses outside the directory that a case's record can still hold: a receiver removed from
# the directory since the case was registered (a reload), an ack window awaiting someone who has
# left, a journalist's address.
GONE, NOBODY, JOURNALIST = "gone@corp.example.com", "nobody@corp.example.com", "wang.fang@jcwb.example.cn"
OUTSIDE = (GONE, NOBODY, JOURNALIST)
AWAITED = [NET_A, NET_B, NET_LEADER, EAST_A, GD_A, GD_B, AM_A, AM_B, COMPANY, HIGHER, RECEIVER, *OUTSIDE]


@st.composite
def case_states(draw: st.DrawFn, statuses: st.SearchStrategy[CaseStatus] = OPEN) -> CaseState:
    """A case received at T0 in any stage: which clocks are open, met or breached is drawn."""
    dept = draw(st.sampled_from([NETWORK, BRANCH, GD]))
    usual = {NETWORK.id: RECEIVER, BRANCH.id: BRANCH_RECEIVER, GD.id: None}[dept.id]
    receiver = draw(st.sampled_from([usual, usual, GONE]))
    clocks: list[Clock] = []

    def add(kind: str, due_at: datetime, round: int = 0, target: str = "") -> None:
        fate = draw(st.sampled_from(["open", "open", "met", "breached"]))
        done = min(due_at, T0 + timedelta(seconds=draw(SECONDS)))
        clocks.append(Clock(kind, round, due_at, done if fate == "met" else None,
                            done if fate == "breached" else None, AckTarget.parse(target) if target else None))

    for kind in (DeadlineKind.ASSESS, DeadlineKind.ACCOUNT_MANAGER, DeadlineKind.GENERAL_DEPT,
                 DeadlineKind.SOLUTION, DeadlineKind.NORMAL_COMPLETION):
        early = kind in (DeadlineKind.ACCOUNT_MANAGER, DeadlineKind.GENERAL_DEPT) and draw(st.booleans())
        # 无法处理 / 上报综合部 make these clocks due at the reply's time
        add(kind.value, T0 + timedelta(seconds=draw(st.integers(0, 3600))) if early else due(kind))
    if draw(st.booleans()):  # 综合部 stage, taken over at some point in the first hours
        takeover = T0 + timedelta(seconds=draw(st.integers(0, 4 * 3600)))
        add(GROUP, takeover + h(1))
        add(PROGRESS, takeover + h(4), 1)
        if draw(st.booleans()):
            add(HA, takeover + h(2))
    if draw(st.booleans()):
        add(STATEMENT, T0 + timedelta(seconds=draw(SECONDS)), draw(st.integers(0, 2)))
    for round in range(draw(st.integers(0, 3))):
        step = draw(st.sampled_from(list(Step)))
        add(ACK, T0 + timedelta(seconds=draw(SECONDS)), round, str(AckTarget(step, 0, draw(st.sampled_from(AWAITED)))))
    return CaseState("MT-20261127-0001", draw(statuses), dept, receiver,
                     draw(st.sampled_from([JCWB, NO_AM, None])), T0, tuple(clocks),
                     assessment=draw(st.sampled_from([None, "local", "cannot"])),
                     group_depts=tuple(draw(st.lists(st.sampled_from(["east_branch", "network"]), max_size=2))))


def acted(decision: Decision) -> set[tuple[str, int]]:
    return set(decision.met) | set(decision.breached)


@PROPERTY
@given(case_states(), SECONDS)
def test_a_step_carried_out_is_not_due_again_at_the_same_time(state: CaseState, offset: int) -> None:
    """Deciding again after carrying out a decision sends nothing already sent."""
    now = T0 + timedelta(seconds=offset)
    first = decide(state, DIRECTORY, DEADLINES, now)
    again = decide(fold(state, first, now), DIRECTORY, DEADLINES, now)
    assert not outbox_keys(first) & outbox_keys(again)
    assert again.empty  # everything due at `now` was settled by the first pass


@PROPERTY
@given(case_states(), st.lists(SECONDS, min_size=1, max_size=6))
def test_no_mail_is_due_twice_over_a_run_of_passes(state: CaseState, offsets: list[int]) -> None:
    """Over any sequence of deadline passes, no (step, round, recipient) comes due twice."""
    seen: set[tuple[str, int, str]] = set()
    for now in sorted(T0 + timedelta(seconds=s) for s in offsets):
        d = decide(state, DIRECTORY, DEADLINES, now)
        keys = outbox_keys(d)
        assert not keys & seen, f"due again at {now - T0}: {sorted(keys & seen)}"
        seen |= keys
        state = fold(state, d, now)


@PROPERTY
@given(case_states(), SECONDS, SECONDS)
def test_what_is_due_only_grows_with_time(state: CaseState, earlier: int, later_by: int) -> None:
    """The clocks acted on at t1 are among those acted on at any t2 ≥ t1 (same case)."""
    t1 = T0 + timedelta(seconds=earlier)
    t2 = t1 + timedelta(seconds=later_by)
    assert acted(decide(state, DIRECTORY, DEADLINES, t1)) <= acted(decide(state, DIRECTORY, DEADLINES, t2))


@PROPERTY
@given(case_states(), st.lists(SECONDS, min_size=1, max_size=6))
def test_the_higher_authority_hears_only_through_its_own_step(state: CaseState, offsets: list[int]) -> None:
    """Over any run of passes, 上一级主管部门 is mailed only by the higher_authority step."""
    for now in sorted(T0 + timedelta(seconds=s) for s in offsets):
        d = decide(state, DIRECTORY, DEADLINES, now)
        for mail in d.mails:
            assert mail.step is Step.HIGHER_AUTHORITY or HIGHER not in emails(mail.to) + emails(mail.cc), mail
        state = fold(state, d, now)


@PROPERTY
@given(case_states(), st.lists(SECONDS, min_size=1, max_size=6))
def test_nobody_waited_for_gets_a_second_window(state: CaseState, offsets: list[int]) -> None:
    """A pass opens an ack window only for people with none open: their one answer meets
    every window, so a second one could only double the failover."""
    for now in sorted(T0 + timedelta(seconds=s) for s in offsets):
        d = decide(state, DIRECTORY, DEADLINES, now)
        after = fold(state, d, now)
        opened = [c.awaited for c in d.clocks if c.kind == ACK]
        still_open = [c.awaited for c in after.clocks if c.kind == ACK and c.open and c in state.clocks]
        assert len(opened) == len(set(opened)) and not set(opened) & set(still_open), (opened, still_open)
        state = after


@PROPERTY
@given(case_states(statuses=st.sampled_from(sorted(CLOSED_STATUSES))), SECONDS)
def test_a_closed_case_never_acts(state: CaseState, offset: int) -> None:
    """Resolved, major or dismissed: no clock, mail or status change, ever."""
    d = decide(state, DIRECTORY, DEADLINES, T0 + timedelta(seconds=offset))
    assert d.empty and not d.marks


@PROPERTY
@given(case_states(), SECONDS)
def test_no_outside_address_is_mailed_but_the_cases_own_receiver_and_branch_mail_copies_general_dept(
        state: CaseState, offset: int) -> None:
    """SPEC §4: mail goes only to the directory. The policy names people from the case's record
    and the directory; the one outside address it can name is the case's own receiver, who may
    have left the directory since (the outbox then drops that copy: next test). An ack window
    awaiting an outside address fails over to nobody and names them to nobody. Every branch
    case mail also reaches 综合部 (SPEC §3)."""
    for mail in decide(state, DIRECTORY, DEADLINES, T0 + timedelta(seconds=offset)).mails:
        people = set(emails(mail.to)) | set(emails(mail.cc))
        outside = {e for e in people | set(emails(mail.awaits)) if not DIRECTORY.is_known(e)}
        assert outside <= {state.receiver_email}, (mail.step, outside)
        if state.receiving_dept.kind is BRANCH.kind:
            assert set(GD_BOX) <= people


def test_a_receiver_who_left_the_directory_is_named_by_the_policy_and_dropped_by_the_outbox(
        caplog: pytest.LogCaptureFixture) -> None:
    """The assess reminder of a case whose receiver has since left the directory: the policy
    still addresses the receiver; the outbox makes no copy for them, logs the refusal, and the
    leader's copy does not name them either."""
    from daemon.escalation import case_mail
    from daemon.outbox import outbox_rows
    from daemon.rendering import Renderer
    from models.tables import Case

    [mail] = decide(case(clock(ASSESS, due(DeadlineKind.ASSESS)), receiver=GONE), DIRECTORY, DEADLINES,
                    T0 + m(15)).mails
    assert (emails(mail.to), emails(mail.cc)) == ((GONE,), (NET_LEADER,))
    row = Case(id="MT-20261127-0001", status="registered", received_at=T0, registered_at=T0, receiving_dept="network",
               receiver_email=GONE, forwarder_email=GONE, source_key="<x@y>", updated_at=T0, complaint_text="没有信号。")
    renderer = Renderer(SETTINGS.daemon.timezone, Person("媒体投诉处理", "complaints@corp.example.com"))
    rows = outbox_rows(renderer, DIRECTORY, case_mail(SETTINGS, row, [], [], mail, T0 + m(15)), T0 + m(15),
                       SETTINGS.message_id_domain)
    assert [r["recipient"] for r in rows] == [NET_LEADER]
    head = email.message_from_bytes(rows[0]["data"], policy=email.policy.default)  # type: ignore[arg-type]
    assert GONE not in f"{head['To']} {head['Cc']}" and head["Cc"] == "王强 <wang.net@corp.example.com>"
    assert f"refusing to mail an address outside the directory case=MT-20261127-0001 step=assess_overdue to={GONE}" \
        in caplog.text


def test_the_general_dept_mail_copies_the_b_who_answers_for_a_silent_account_manager() -> None:
    """The AM's A stayed silent and B was told: the 1 h mail to 综合部 copies B (and A)."""
    state, _ = walk(case(clock(AM, due(DeadlineKind.ACCOUNT_MANAGER)), clock(GEN, due(DeadlineKind.GENERAL_DEPT))),
                    T0 + m(30), T0 + m(40))
    decision = decide(state, DIRECTORY, DEADLINES, T0 + h(1))
    [mail] = [n for n in decision.mails if n.step is Step.GENERAL_DEPT]
    assert {AM_A, AM_B} <= set(emails(mail.cc))


def test_the_general_dept_mail_copies_only_a_when_a_answered() -> None:
    state, _ = walk(case(clock(AM, due(DeadlineKind.ACCOUNT_MANAGER)), clock(GEN, due(DeadlineKind.GENERAL_DEPT))),
                    T0 + m(30))
    decision = decide(state, DIRECTORY, DEADLINES, T0 + h(1))
    [mail] = [n for n in decision.mails if n.step is Step.GENERAL_DEPT]
    assert AM_A in emails(mail.cc) and AM_B not in emails(mail.cc)
