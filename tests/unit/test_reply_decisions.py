"""Reply commands as a pure decision (models/replies.py): who may give which command on a case
in which status, and what each accepted command does to the case — its status, its clocks, the
mails it sends. A small directory is built here from models/directory.py; times are literal.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from models.directory import (
    DEFAULT_DEADLINES,
    Deadlines,
    Department,
    DepartmentKind,
    Directory,
    Leaders,
    MediaOutlet,
    Person,
)
from models.permissions import Role, roles_of
from models.policy import CaseState, Clock, Step, decide
from models.replies import RULES, Answer, ReplyDecision, decide_reply
from models.types import CLOSED_STATUSES, AckTarget, CaseStatus, EventKind
from parsers.commands import Command, Verb
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

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEADLINES = Deadlines(DEFAULT_DEADLINES)
T0 = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)  # received: 10:15 in Shanghai
NOW = T0 + timedelta(minutes=10)  # the reply arrives

GD = Department("general_dept", "综合部", DepartmentKind.GENERAL_DEPT, ("zonghe@corp.test", "liu.gd@corp.test"),
                Person("刘洋", "liu.gd@corp.test"), Person("周敏", "zhou.gd@corp.test"))
NETWORK = Department("network", "网络部", DepartmentKind.DEPARTMENT, ("*@net.corp.test",),
                     Person("张伟", "zhang@net.corp.test"), Person("李娜", "li@net.corp.test"),
                     Person("王强", "wang@corp.test"), in_company_group=True)
MARKETING = Department("marketing", "市场部", DepartmentKind.DEPARTMENT, ("*@mkt.corp.test",),
                       Person("冯涛", "feng@mkt.corp.test"), Person("蒋丽", "jiang@mkt.corp.test"),
                       Person("郑红", "zheng@corp.test"))
JCWB = MediaOutlet("江城晚报", ("江城晚报社",), ("jcwb.example.cn",), Person("陈静", "chen.am@corp.test"),
                   Person("吴磊", "wu.am@corp.test"))
WEEKLY = MediaOutlet("城市周刊", (), (), Person("何平", "he.am@corp.test"))
LEADERS = Leaders(Person("赵总", "zhao@corp.test"), Person("钱总", "qian@corp.test"),
                  Person("省公司综合部", "gd@prov.test"), (Person("应急办", "emergency@corp.test"),))
DIRECTORY = Directory(GD, LEADERS, (NETWORK, MARKETING), (JCWB, WEEKLY))

GD_BOX = ("zonghe@corp.test", "liu.gd@corp.test")  # 综合部's mailboxes: its listed members
NET_LEADER, COMPANY, MEDIA, EMERGENCY = "wang@corp.test", "zhao@corp.test", "qian@corp.test", "emergency@corp.test"

# One address per role, holding that role alone on a case 网络部 received about 江城晚报.
SENDER = {
    Role.RECEIVER: "sun@net.corp.test",
    Role.DEPT_LEADER: NET_LEADER,
    Role.ACCOUNT_MANAGER: "chen.am@corp.test",
    Role.GENERAL_DEPT: "zonghe@corp.test",
    Role.INTERFACE: "feng@mkt.corp.test",
    Role.COMPANY_LEADER: COMPANY,
    Role.MEDIA_LEADER: MEDIA,
    Role.HIGHER_AUTHORITY: "gd@prov.test",
}



def clock(kind: str, due_at: datetime, round: int = 0, met: bool = False, target: str = "") -> Clock:
    return Clock(kind, round, due_at, T0 + m(5) if met else None, None, AckTarget.parse(target) if target else None)


def clocks_at(status: CaseStatus) -> tuple[Clock, ...]:
    """A case's clocks as they stand when it reached `status` a few minutes after receipt."""
    local, at_am = status is CaseStatus.LOCAL, status is CaseStatus.ACCOUNT_MANAGER
    gd_stage = status in (CaseStatus.GENERAL_DEPT, CaseStatus.COMPANY_GROUP)
    closed = status in CLOSED_STATUSES
    intake = (clock(ASSESS, T0 + m(15), met=status is not CaseStatus.REGISTERED),
              clock(AM, T0 + m(30), met=local or at_am or gd_stage or closed),
              clock(GEN, T0 + m(60), met=local or gd_stage or closed),
              clock(SOLUTION, T0 + m(240), met=closed), clock(COMPLETION, T0 + m(72 * 60), met=closed))
    if status is CaseStatus.REGISTERED or local or at_am:
        return intake
    stage = (clock(GROUP, T0 + m(65), met=status is not CaseStatus.GENERAL_DEPT),
             clock(PROGRESS, T0 + m(245), 1, met=closed))
    group = (clock(HA, T0 + m(68), met=closed),) if status is not CaseStatus.GENERAL_DEPT else ()
    return intake + stage + group


def case(status: CaseStatus = CaseStatus.REGISTERED, *extra: Clock, **fields: object) -> CaseState:
    """网络部's case about 江城晚报, category 3 as judged from the story."""
    values: dict[str, object] = dict(category=3, category_basis="judged", receiver_email="sun@net.corp.test")
    values.update(fields)
    return CaseState("MT-20261127-0001", status, NETWORK, outlet=JCWB, received_at=T0,
                     clocks=clocks_at(status) + extra, **values)  # type: ignore[arg-type]


def answer(sender: str, *commands: Command, opening: str = "") -> Answer:
    return Answer(sender, "", roles_of(sender, NETWORK, JCWB, DIRECTORY), commands, opening, confirm_round=3)


def decide_at(state: CaseState, sender: str, *commands: Command, now: datetime = NOW) -> ReplyDecision:
    return decide_reply(state, answer(sender, *commands), DIRECTORY, DEADLINES, SHANGHAI, now)


def emails(people: tuple[Person, ...]) -> tuple[str, ...]:
    return tuple(p.email for p in people)


def mails(decision: ReplyDecision) -> list[tuple[str, tuple[str, ...], tuple[str, ...], bool]]:
    """(step, to, cc, form attached) of each mail, the confirmation included."""
    return [(n.step.value, emails(n.to), emails(n.cc), n.attach_form) for n in decision.mails]


def after(state: CaseState, d: ReplyDecision, now: datetime = NOW) -> CaseState:
    """The case once the shell has written the decision (as daemon/replies.py does)."""
    met = set(d.met)
    clocks = [*state.clocks, *(Clock(c.kind, c.round, c.due_at, target=c.target) for c in d.clocks)]
    clocks = [replace(c, due_at=d.moved.get((c.kind, c.round), c.due_at),
                      met_at=now if (c.kind, c.round) in met else c.met_at) for c in clocks]
    return replace(state, status=d.status or state.status, clocks=tuple(clocks),
                   assessment=d.fields.get("assessment", state.assessment),
                   group_requested=state.group_requested or "group_requested_at" in d.fields)


def test_every_role_sender_holds_that_role_alone() -> None:
    """The fixture: each sender is exactly one role on the case, so a verdict is that role's."""
    assert {role: roles_of(email, NETWORK, JCWB, DIRECTORY) for role, email in SENDER.items()} == {
        role: frozenset({role}) for role in Role}


# -- who may give which command, in every status ---------------------------------------------------

# R receiver, L its leader, A account manager, G 综合部, I an interface person, C company leader,
# M media leader, H higher authority (SPEC §4: only the leaders approve, only 综合部 dismisses).
LETTERS = {"R": Role.RECEIVER, "L": Role.DEPT_LEADER, "A": Role.ACCOUNT_MANAGER, "G": Role.GENERAL_DEPT,
           "I": Role.INTERFACE, "C": Role.COMPANY_LEADER, "M": Role.MEDIA_LEADER, "H": Role.HIGHER_AUTHORITY}
PERMITTED = {
    Verb.ACK: "RLAGICMH",
    Verb.LOCAL: "RLAG",
    Verb.CANNOT: "RLAG",
    Verb.ESCALATE: "RLAG",
    Verb.SOLUTION: "RLAG",
    Verb.PROGRESS: "RLAGI",
    Verb.RESOLVED: "RLAG",
    Verb.CATEGORY: "RLG",
    Verb.MEDIA_OUTLET: "RLG",
    Verb.REPORTER: "RLG",
    Verb.GROUP: "GC",
    Verb.STATEMENT: "GCM",
    Verb.APPROVE: "CM",
    Verb.MAJOR: "GCM",
    Verb.DISMISS: "G",
}

EXPECTED_AT = NOW + timedelta(hours=2)
COMMANDS = {  # each verb as a reply would carry it
    Verb.ACK: Command(Verb.ACK),
    Verb.LOCAL: Command(Verb.LOCAL),
    Verb.CANNOT: Command(Verb.CANNOT),
    Verb.ESCALATE: Command(Verb.ESCALATE),
    Verb.SOLUTION: Command(Verb.SOLUTION, "更换基站电源", expected_at=EXPECTED_AT),
    Verb.PROGRESS: Command(Verb.PROGRESS, "正在抢修"),
    Verb.RESOLVED: Command(Verb.RESOLVED, "已恢复信号"),
    Verb.CATEGORY: Command(Verb.CATEGORY, "2", category=2),
    Verb.MEDIA_OUTLET: Command(Verb.MEDIA_OUTLET, "城市周刊"),
    Verb.REPORTER: Command(Verb.REPORTER, "李雷"),
    Verb.GROUP: Command(Verb.GROUP, "市场部", departments=("市场部",)),
    Verb.STATEMENT: Command(Verb.STATEMENT, "我司高度重视，正在抢修。"),
    Verb.APPROVE: Command(Verb.APPROVE),
    Verb.MAJOR: Command(Verb.MAJOR),
    Verb.DISMISS: Command(Verb.DISMISS),
}
WORDS = {Verb.ACK: "收到", Verb.LOCAL: "可处理", Verb.CANNOT: "无法处理", Verb.ESCALATE: "上报综合部",
         Verb.SOLUTION: "方案", Verb.PROGRESS: "进展", Verb.RESOLVED: "办结", Verb.CATEGORY: "类别",
         Verb.MEDIA_OUTLET: "媒体单位", Verb.REPORTER: "记者", Verb.GROUP: "成立小组", Verb.STATEMENT: "口径",
         Verb.APPROVE: "批准", Verb.MAJOR: "重大", Verb.DISMISS: "非媒体投诉"}

GRID = [pytest.param(verb, role, status, id=f"{verb.value}-{role.value}-{status.value}")
        for verb in Verb for role in Role for status in CaseStatus]


@pytest.mark.parametrize("verb, role, status", GRID)
def test_a_command_is_accepted_only_from_a_permitted_role_on_an_open_case(
        verb: Verb, role: Role, status: CaseStatus) -> None:
    """Closed cases take only 收到; otherwise the role decides; a refusal changes nothing."""
    sender = SENDER[role]
    d = decide_at(case(status), sender, COMMANDS[verb])
    [event] = d.events
    if status in CLOSED_STATUSES and verb is not Verb.ACK:
        assert (event.kind, event.summary) == ("rejected", f"“{WORDS[verb]}”：案件已关闭")
    elif role not in {LETTERS[letter] for letter in PERMITTED[verb]}:
        assert (event.kind, event.summary) == ("rejected", f"“{WORDS[verb]}”：{sender} 无权执行")
    else:
        assert event.kind == "command" and event.summary == f"{WORDS[verb]}：{d.done[0]}"
        assert mails(d)[-1] == ("confirm", (sender,), (), False)
        return
    assert (d.fields, d.status, d.met, d.moved, d.clocks, d.mails, d.done) == ({}, None, [], {}, [], [], [])


# -- what each accepted command does, in every open status -----------------------------------------

@dataclass(frozen=True)
class Effect:
    """What an accepted command does. Per-status entries are keyed by the status before it."""

    fields: dict[str, object] = field(default_factory=dict)
    status: dict[CaseStatus, CaseStatus] = field(default_factory=dict)
    met: tuple[str, ...] | str = ()  # kinds met where open; "all": every open clock
    moved: dict[CaseStatus, dict[tuple[str, int], datetime]] = field(default_factory=dict)
    clocks: dict[CaseStatus, list[tuple[str, int, datetime]]] = field(default_factory=dict)
    fields_by_status: dict[CaseStatus, dict[str, object]] = field(default_factory=dict)
    report: tuple[str, tuple[str, ...], bool] | None = None  # step, to (cc: sender and 综合部), form


BELOW_GD = (CaseStatus.REGISTERED, CaseStatus.LOCAL, CaseStatus.ACCOUNT_MANAGER)
EFFECTS = {
    Verb.ACK: Effect(),
    Verb.LOCAL: Effect(fields={"assessment": "local"}, met=(ASSESS,),
                       status={CaseStatus.REGISTERED: CaseStatus.LOCAL, CaseStatus.ACCOUNT_MANAGER: CaseStatus.LOCAL}),
    # the AM at once; after 可处理 or a plan, the stopped AM and 综合部 clocks run again
    Verb.CANNOT: Effect(fields={"assessment": "cannot"}, met=(ASSESS,),
                        moved={CaseStatus.REGISTERED: {(AM, 0): NOW}},
                        clocks={CaseStatus.LOCAL: [(AM, 1, NOW), (GEN, 1, NOW + m(30))]}),
    Verb.ESCALATE: Effect(fields={"assessment": "cannot"}, met=(ASSESS,),
                          moved={CaseStatus.REGISTERED: {(GEN, 0): NOW}, CaseStatus.ACCOUNT_MANAGER: {(GEN, 0): NOW}},
                          clocks={CaseStatus.LOCAL: [(GEN, 1, NOW)]}),
    Verb.SOLUTION: Effect(fields={"assessment": "local", "solution": "更换基站电源",
                                  "expected_completion_at": EXPECTED_AT},
                          met=(ASSESS, SOLUTION), moved={s: {(COMPLETION, 0): EXPECTED_AT} for s in OPEN_STATUSES},
                          status={CaseStatus.REGISTERED: CaseStatus.LOCAL, CaseStatus.ACCOUNT_MANAGER: CaseStatus.LOCAL},
                          report=("solution_report", (NET_LEADER, *GD_BOX), False)),
    Verb.PROGRESS: Effect(),
    Verb.RESOLVED: Effect(fields={"resolved_at": NOW, "result": "已恢复信号"}, met="all",
                          status={s: CaseStatus.RESOLVED for s in OPEN_STATUSES},
                          report=("resolved", (NET_LEADER, *GD_BOX), True)),
    Verb.CATEGORY: Effect(fields={"category": 2, "category_basis": "stated"}),
    Verb.MEDIA_OUTLET: Effect(fields={"media_outlet": "城市周刊", "account_manager": "何平 <he.am@corp.test>"}),
    Verb.REPORTER: Effect(fields={"reporter_name": "李雷"}),
    # 综合部 takes the case over if it had not, and the group clock is due at once
    Verb.GROUP: Effect(fields={"group_depts": ["marketing"], "group_requested_at": NOW},
                       fields_by_status={s: {"gd_takeover_at": NOW} for s in BELOW_GD},
                       status={s: CaseStatus.GENERAL_DEPT for s in BELOW_GD},
                       moved={CaseStatus.GENERAL_DEPT: {(GROUP, 0): NOW}},
                       clocks={**{s: [(GROUP, 0, NOW)] for s in BELOW_GD}, CaseStatus.COMPANY_GROUP: [(GROUP, 1, NOW)]}),
    Verb.STATEMENT: Effect(fields={"statement": "我司高度重视，正在抢修。", "statement_approved_at": None,
                                   "statement_approved_by": None},
                           report=("statement_draft", (COMPANY, MEDIA), False)),
    Verb.APPROVE: Effect(),  # no draft yet: see test_approving_a_draft_starts_the_statement_clock
    Verb.MAJOR: Effect(met="all", status={s: CaseStatus.MAJOR for s in OPEN_STATUSES},
                       report=("major", (EMERGENCY, COMPANY), True)),
    Verb.DISMISS: Effect(met="all", status={s: CaseStatus.DISMISSED for s in OPEN_STATUSES}),
}

ACCEPTED = [pytest.param(verb, role, status, id=f"{verb.value}-{role.value}-{status.value}")
            for verb in Verb for role in Role for status in OPEN_STATUSES if role.value in
            {LETTERS[letter].value for letter in PERMITTED[verb]}]


@pytest.mark.parametrize("verb, role, status", ACCEPTED)
def test_each_accepted_command_changes_the_case_as_spec_section_3_says(
        verb: Verb, role: Role, status: CaseStatus) -> None:
    """Fields, status, clocks met / moved / started, and the mails with their recipients."""
    sender, effect, state = SENDER[role], EFFECTS[verb], case(status)
    d = decide_at(state, sender, COMMANDS[verb])
    fields = {**effect.fields, **effect.fields_by_status.get(status, {})}
    assert {k: v for k, v in d.fields.items() if k != "category_reason"} == fields
    assert d.status == effect.status.get(status)
    open_kinds = [(c.kind, c.round) for c in state.clocks if c.open]
    met = open_kinds if effect.met == "all" else [(k, r) for k, r in open_kinds if k in effect.met]
    assert sorted(d.met) == sorted(met)
    assert d.moved == effect.moved.get(status, {})
    assert [(c.kind, c.round, c.due_at) for c in d.clocks] == effect.clocks.get(status, [])
    expected = []
    if effect.report:
        step, to, form = effect.report
        expected.append((step, to, (sender, *GD_BOX), form))
    assert mails(d) == [*expected, ("confirm", (sender,), (), False)]


# -- 可处理, 上报综合部, 类别, 媒体单位, 记者: their effect on a case ------------------------------------

RECEIVER = SENDER[Role.RECEIVER]


def test_local_keeps_the_case_in_the_department_so_the_am_and_gd_clocks_send_nothing() -> None:
    """可处理 at 10 min: the case is local; at 30 min and 1 h the clocks are met, nobody is mailed."""
    d = decide_at(case(), RECEIVER, Command(Verb.LOCAL))
    assert (d.status, d.fields, d.met) == (CaseStatus.LOCAL, {"assessment": "local"}, [(ASSESS, 0)])
    assert d.done == ["本部门可处理，由接收部门组织处理"]
    state = after(case(), d)
    at_30, at_60 = (decide(state, DIRECTORY, DEADLINES, T0 + m(n)) for n in (30, 60))
    assert (at_30.met, at_30.mails, at_30.status) == ([(AM, 0)], [], None)
    assert (at_60.met, at_60.mails, at_60.status) == ([(AM, 0), (GEN, 0)], [], None)


def test_local_from_the_account_manager_stage_brings_it_back_to_the_department() -> None:
    """The AM was engaged; the department says 可处理 after all: status local again."""
    d = decide_at(case(CaseStatus.ACCOUNT_MANAGER), RECEIVER, Command(Verb.LOCAL))
    assert d.status is CaseStatus.LOCAL and d.met == []  # the assess clock was met already


def test_escalate_hands_the_case_to_general_dept_on_the_same_pass() -> None:
    """上报综合部 at 10 min: the 1 h clock is due now, and this tick's pass sends 综合部 the form."""
    d = decide_at(case(), RECEIVER, Command(Verb.ESCALATE))
    assert (d.fields, d.met, d.moved) == ({"assessment": "cannot"}, [(ASSESS, 0)], {(GEN, 0): NOW})
    assert d.done == ["立即上报综合部"]
    passed = decide(after(case(), d), DIRECTORY, DEADLINES, NOW)
    [mail] = passed.mails
    assert (mail.step, emails(mail.to), mail.attach_form) == (Step.GENERAL_DEPT, GD_BOX, True)
    assert passed.status is CaseStatus.GENERAL_DEPT and passed.met == [(GEN, 0)]


def test_escalate_after_local_restarts_the_general_dept_clock() -> None:
    """可处理 had stopped the 综合部 clock; 上报综合部 starts a new round, due now."""
    state = case(CaseStatus.LOCAL, assessment="local")
    d = decide_at(state, RECEIVER, Command(Verb.ESCALATE))
    assert [(c.kind, c.round, c.due_at) for c in d.clocks] == [(GEN, 1, NOW)]
    passed = decide(after(state, d), DIRECTORY, DEADLINES, NOW)
    assert [n.step for n in passed.mails] == [Step.GENERAL_DEPT] and passed.status is CaseStatus.GENERAL_DEPT


def test_escalate_at_general_dept_changes_no_clock() -> None:
    """综合部 has it already: nothing to make due."""
    d = decide_at(case(CaseStatus.GENERAL_DEPT), SENDER[Role.GENERAL_DEPT], Command(Verb.ESCALATE))
    assert (d.met, d.moved, d.clocks, d.status) == ([], {}, [], None)


@pytest.mark.parametrize("before, basis, value, summary, reason", [
    pytest.param(3, "judged", 2, "投诉类别由推测 3 类更正为 2 类", "回复更正", id="corrects-a-guess"),
    pytest.param(3, "judged", 3, "投诉类别确认为 3 类", "回复确认", id="confirms-a-guess"),
    pytest.param(4, "stated", 2, "投诉类别由 4 类更正为 2 类", "回复更正", id="corrects-a-stated-one"),
    pytest.param(None, None, 5, "投诉类别由未定更正为 5 类", "回复更正", id="sets-a-missing-one"),
])
def test_category_is_stated_by_the_reply_and_the_log_says_from_what(
        before: int | None, basis: str | None, value: int, summary: str, reason: str) -> None:
    """类别：N makes the category N, stated, with who said so; the confirmation says what changed."""
    d = decide_at(case(category=before, category_basis=basis), RECEIVER, Command(Verb.CATEGORY, str(value),
                                                                                 category=value))
    assert d.fields == {"category": value, "category_basis": "stated", "category_reason": f"{RECEIVER} {reason}"}
    assert d.done == [summary] and d.events[0].summary == f"类别：{summary}"
    assert (d.status, d.met, d.clocks) == (None, [], [])


@pytest.mark.parametrize("written", ["7", "第九类", "重要"])
def test_a_category_outside_one_to_five_changes_nothing_and_the_sender_is_told(written: str) -> None:
    """类别：7 is no category: the record keeps its category, the log says why, and the
    confirmation tells the sender that only 1–5 exist (never "更正为 None 类")."""
    d = decide_at(case(category=3, category_basis="judged"), RECEIVER, Command(Verb.CATEGORY, written))
    assert d.fields == {}
    assert d.events[0].kind == EventKind.REJECTED and "1–5" in d.events[0].summary
    assert any("类别”未执行" in line and "1–5" in line and written in line for line in d.done)
    assert [n.step for n in d.mails] == [Step.CONFIRM]


def test_two_category_lines_in_one_reply_read_each_other() -> None:
    """The second 类别 sees the first: 3 → 2, then 2 → 1."""
    d = decide_at(case(), RECEIVER, Command(Verb.CATEGORY, "2", category=2), Command(Verb.CATEGORY, "1", category=1))
    assert d.done == ["投诉类别由推测 3 类更正为 2 类", "投诉类别由 2 类更正为 1 类"]
    assert d.fields["category"] == 1


@pytest.mark.parametrize("written, outlet, manager", [
    pytest.param("江城晚报社", "江城晚报", "陈静 <chen.am@corp.test>", id="an-alias-names-the-directory-outlet"),
    pytest.param("城市周刊", "城市周刊", "何平 <he.am@corp.test>", id="another-directory-outlet"),
])
def test_media_outlet_correction_brings_that_outlets_account_manager(written: str, outlet: str,
                                                                     manager: str) -> None:
    """媒体单位：… names a directory outlet: the case is about it, and its AM A is the AM."""
    d = decide_at(case(), RECEIVER, Command(Verb.MEDIA_OUTLET, written))
    assert d.fields == {"media_outlet": outlet, "account_manager": manager}
    assert d.done == [f"媒体单位更正为 {outlet}"] and (d.status, d.met, d.clocks) == (None, [], [])


def test_media_outlet_unknown_to_the_directory_is_kept_as_written() -> None:
    """An outlet the directory does not know: recorded as written, the AM left as it was."""
    d = decide_at(case(), RECEIVER, Command(Verb.MEDIA_OUTLET, "某某网"))
    assert d.fields == {"media_outlet": "某某网"} and d.done == ["媒体单位更正为 某某网"]


def test_reporter_correction_sets_the_reporters_name() -> None:
    """记者：… corrects the journalist's (or contact's) name and nothing else."""
    d = decide_at(case(), SENDER[Role.DEPT_LEADER], Command(Verb.REPORTER, "李雷"))
    assert d.fields == {"reporter_name": "李雷"} and d.done == ["记者/联系人更正为 李雷"]
    assert (d.status, d.met, d.moved, d.clocks) == (None, [], {}, [])
    assert mails(d) == [("confirm", (NET_LEADER,), (), False)]


# -- acknowledgement, order and confirmation -----------------------------------------------------

def test_a_reply_meets_the_windows_awaiting_its_sender_or_their_partner() -> None:
    """B answers for A (partners); a window for someone else stays open."""
    windows = (clock(ACK, NOW + m(5), 0, target="account_manager/0/chen.am@corp.test"),
               clock(ACK, NOW + m(5), 1, target="assess_overdue/0/wang@corp.test"))
    d = decide_at(case(CaseStatus.ACCOUNT_MANAGER, *windows), "wu.am@corp.test")
    assert d.met == [(ACK, 0)] and d.done == ["已确认收到"] and d.events == []
    assert mails(d) == [("confirm", ("wu.am@corp.test",), (), False)]


def test_a_late_answer_is_recorded_as_late() -> None:
    """A window already run out (B was told) is met all the same; the record says late."""
    late = replace(clock(ACK, T0 + m(40), 0, target="account_manager/0/chen.am@corp.test"), breached_at=T0 + m(40))
    d = decide_at(case(CaseStatus.ACCOUNT_MANAGER, late), "chen.am@corp.test", now=T0 + m(45))
    assert d.met == [(ACK, 0)] and d.done == ["已确认收到（已过答复时限，记为迟复）"]
    assert [(e.kind, e.summary) for e in d.events] == [("command", "迟复确认：答复晚于确认时限")]


def test_a_reply_without_commands_is_answered_with_what_was_read() -> None:
    """Never silent: nothing read, nothing awaited — the confirmation quotes its first line."""
    d = decide_reply(case(), answer(RECEIVER, opening="好的，我看一下"), DIRECTORY, DEADLINES, SHANGHAI, NOW)
    [line] = d.done
    assert line.startswith("未识别出指令（读到：“好的，我看一下”）") and mails(d) == [("confirm", (RECEIVER,), (), False)]


def test_a_refused_command_alone_sends_no_confirmation() -> None:
    """The interface person may not say 可处理: recorded as refused, nothing is mailed back."""
    d = decide_at(case(), SENDER[Role.INTERFACE], Command(Verb.LOCAL))
    assert d.mails == [] and [e.kind for e in d.events] == ["rejected"]


def test_commands_act_in_order_each_seeing_the_ones_before() -> None:
    """办结 then 进展: the case is closed by the time 进展 is read."""
    d = decide_at(case(), RECEIVER, Command(Verb.RESOLVED), Command(Verb.PROGRESS, "x"))
    assert [(e.kind, e.summary) for e in d.events] == [
        ("command", "办结：案件已办结，时限全部关闭，已报部门领导和综合部"), ("rejected", "“进展”：案件已关闭")]
    assert d.fields["result"] == "已解决"  # 办结 without words


def test_cannot_after_local_in_one_reply_restarts_the_stopped_clocks() -> None:
    """可处理 then 无法处理: the AM clock starts again due now, 综合部 30 min later."""
    stopped = (clock(ASSESS, T0 + m(15)), clock(AM, T0 + m(30), met=True), clock(GEN, T0 + m(60), met=True))
    state = replace(case(), clocks=stopped)
    d = decide_at(state, RECEIVER, Command(Verb.LOCAL), Command(Verb.CANNOT))
    assert d.status is CaseStatus.LOCAL and d.fields["assessment"] == "cannot"
    assert [(c.kind, c.round, c.due_at) for c in d.clocks] == [(AM, 1, NOW), (GEN, 1, NOW + m(30))]
    passed = decide(after(state, d), DIRECTORY, DEADLINES, NOW)
    assert [(n.step, emails(n.to)) for n in passed.mails] == [(Step.ACCOUNT_MANAGER, ("chen.am@corp.test",))]


def test_approving_a_draft_starts_the_statement_clock() -> None:
    """批准 by the media leader: approved by them now; the statement goes out on this pass."""
    state = case(CaseStatus.COMPANY_GROUP, statement="我司高度重视。")
    d = decide_at(state, MEDIA, Command(Verb.APPROVE))
    assert d.fields == {"statement_approved_at": NOW, "statement_approved_by": MEDIA}
    assert [(c.kind, c.round, c.due_at) for c in d.clocks] == [(STATEMENT, 0, NOW + m(30))]
    assert [n.step for n in decide(after(state, d), DIRECTORY, DEADLINES, NOW).mails] == [Step.STATEMENT]


def test_a_statement_then_its_approval_in_one_reply() -> None:
    """A leader drafts 口径 and says 批准 in the same reply: the draft is the one approved."""
    d = decide_at(case(CaseStatus.COMPANY_GROUP), COMPANY, Command(Verb.STATEMENT, "口径正文"), Command(Verb.APPROVE))
    assert d.fields["statement"] == "口径正文" and d.fields["statement_approved_by"] == COMPANY
    assert [n.step for n in d.mails] == [Step.STATEMENT_DRAFT, Step.CONFIRM]


def test_group_names_only_directory_departments() -> None:
    """成立小组：市场部、宣传部: 市场部 is added; 宣传部 is no department of the directory."""
    d = decide_at(case(CaseStatus.GENERAL_DEPT, group_depts=("network",)), SENDER[Role.GENERAL_DEPT],
                  Command(Verb.GROUP, "市场部、宣传部", departments=("市场部", "宣传部")))
    assert d.fields["group_depts"] == ["marketing", "network"]


def test_a_solution_without_a_time_leaves_completion_at_the_normal_limit() -> None:
    """方案 without 预计完成: the plan is recorded, completion stays at 72 h."""
    d = decide_at(case(), RECEIVER, Command(Verb.SOLUTION, "更换基站电源"))
    assert d.moved == {} and d.fields["expected_completion_at"] is None
    assert d.done == ["方案已登记（预计完成时间 未写明），已报部门领导和综合部"]


def test_the_confirmation_uses_the_directory_name_else_the_mails() -> None:
    """The sender as the directory names them; staff known only by domain keep their From name."""
    named = decide_at(case(), NET_LEADER, Command(Verb.ACK)).mails[-1].to
    unnamed = decide_reply(case(), Answer(RECEIVER, "孙明", frozenset({Role.RECEIVER}), (Command(Verb.ACK),)),
                           DIRECTORY, DEADLINES, SHANGHAI, NOW).mails[-1].to
    assert (named, unnamed) == ((Person("王强", NET_LEADER),), (Person("孙明", RECEIVER),))


def test_the_expectations_cover_every_command() -> None:
    """The expectations above name every command the rule table has."""
    assert set(PERMITTED) == set(EFFECTS) == set(COMMANDS) == set(WORDS) == set(RULES) == set(Verb)
