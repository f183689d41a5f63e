"""The plan (models/plan.py): the shipped directory's procedure as a timeline, without a daemon.

What the daemon really sends for the same scripts is compared in
tests/integration/test_plan_equals_reality.py; here, what a reader of the plan relies on.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.config import Settings, load_settings
from models.directory import Deadlines, Directory
from models.plan import (
    ANSWERERS,
    Plan,
    PlanError,
    PlannedAnswer,
    Scripted,
    Start,
    branch,
    department,
    offset_text,
    parse_answers,
    simulate,
)
from models.types import CaseStatus, DeadlineKind
from tests.support.mail import ROOT

SETTINGS: Settings = load_settings(ROOT / "config.toml", env={})
DIRECTORY = SETTINGS.directory
ZONE = SETTINGS.daemon.timezone
T0 = datetime(2026, 12, 1, 15, 50, tzinfo=UTC)  # 23:50 in Shanghai
NETWORK = department(DIRECTORY, "network")
assert NETWORK is not None


def plan(dept: str = "network", outlet: str | None = "江城晚报", answers: str = "", *,
         registered: timedelta = timedelta(0), directory: Directory = DIRECTORY,
         deadlines: Deadlines = SETTINGS.deadlines, horizon: timedelta = timedelta(hours=24)) -> Plan:
    receiving = department(directory, dept) or branch(directory, dept)
    assert receiving is not None
    start = Start(receiving, directory.outlet(outlet), T0, T0 + registered)
    return simulate(start, directory, deadlines, ZONE, parse_answers(answers), horizon)


def timeline(p: Plan) -> list[tuple[str, str, tuple[str, ...]]]:
    """(offset, step, To addresses) per mail."""
    return [(offset_text(m.offset), m.notify.step.value, tuple(x.email for x in m.notify.to)) for m in p.mails]


def test_silence_walks_every_step_of_spec_section_3_with_its_failovers() -> None:
    """Nobody answers a 网络部 case about 江城晚报: the steps of SPEC §3 in their order and at
    their times, each silent A handing over to B and the silent leader to the next one up."""
    p = plan()
    assert timeline(p)[:12] == [
        ("+0:00", "ack", ("zhang.net@corp.example.com",)),  # 登记回执 to the receiver, 综合部 in copy
        ("+0:15", "assess_overdue", ("zhang.net@corp.example.com",)),
        ("+0:25", "failover", ("zhao.ceo@corp.example.com",)),  # 王强 silent: 越级上报
        ("+0:30", "account_manager", ("chen.am@corp.example.com",)),
        ("+0:35", "leader_silent", ("zonghe@corp.example.com", "liu.gd@corp.example.com")),
        ("+0:40", "failover", ("wu.am@corp.example.com",)),  # 陈静 → 吴磊
        ("+1:00", "general_dept", ("zonghe@corp.example.com", "liu.gd@corp.example.com")),
        ("+1:10", "failover", ("zhou.gd@corp.example.com",)),  # 刘洋 → 周敏
        ("+2:00", "group_overdue", ("zhao.ceo@corp.example.com",)),
        ("+2:10", "leader_silent", ("zonghe@corp.example.com", "liu.gd@corp.example.com")),
        ("+4:00", "solution_overdue", ("wang.net@corp.example.com", "liu.gd@corp.example.com")),
        ("+4:10", "failover", ("zhao.ceo@corp.example.com",)),
    ]
    kinds = {(m.notify.step.value, m.failover) for m in p.mails}
    assert {("failover", "a"), ("failover", "leader")} <= kinds
    assert p.status is CaseStatus.GENERAL_DEPT
    assert next(m for m in p.mails if m.notify.step.value == "general_dept").notify.attach_form


def test_progress_reports_stop_at_the_horizon_and_the_plan_says_what_still_runs() -> None:
    p = plan()
    reports = [offset_text(m.offset) for m in p.mails if m.notify.step.value == "progress"]
    assert reports == ["+5:00", "+9:00", "+13:00", "+17:00", "+21:00"]
    assert all(m.at <= p.until for m in p.mails)
    left = {c.kind: c.due_at - T0 for c in p.left_open}
    assert left == {"progress": timedelta(hours=25), "normal_completion": timedelta(hours=72)}


def test_an_assessment_at_once_keeps_the_case_in_the_department() -> None:
    """可处理 at +0:05: confirmed to the receiver; no account manager, no 综合部, no group."""
    p = plan(answers="assess=可处理@0:05")
    answer = next(e for e in p.entries if isinstance(e, PlannedAnswer))
    assert answer.person.email == "zhang.net@corp.example.com" and answer.done
    steps = [m.notify.step.value for m in p.mails]
    assert steps[:2] == ["ack", "confirm"]  # the 登记回执, then the answer's confirmation
    assert not {"assess_overdue", "account_manager", "general_dept", "group_overdue", "progress"} & set(steps)
    assert p.status is CaseStatus.LOCAL


def test_a_bounce_hands_over_to_b_at_once() -> None:
    """The account manager's A bounces at +0:31: B is told then, not at +0:40."""
    failovers = [(offset_text(m.offset), m.notify.to[0].email) for m in plan(answers="am=退信@0:31").mails
                 if m.notify.step.value == "failover"]
    assert ("+0:31", "wu.am@corp.example.com") in failovers
    assert ("+0:40", "wu.am@corp.example.com") not in failovers


def test_a_branch_reports_everything_to_general_dept_and_skips_the_account_manager() -> None:
    p = plan("east_branch")
    steps = [m.notify.step.value for m in p.mails]
    assert "account_manager" not in steps
    assert ("+0:30", "general_dept") in [(offset_text(m.offset), m.notify.step.value) for m in p.mails]
    gd = {p.email for p in DIRECTORY.mailboxes(DIRECTORY.general_dept)}
    assert all(gd & {x.email for x in (*m.notify.to, *m.notify.cc)} for m in p.mails)


def test_convening_the_group_reaches_the_higher_authority_an_hour_later() -> None:
    p = plan(answers="gd=成立小组：网络部、市场部@1:20")
    told = {(offset_text(m.offset), m.notify.step.value) for m in p.mails}
    assert {("+1:20", "group"), ("+2:20", "higher_authority")} <= told
    assert p.status is CaseStatus.COMPANY_GROUP


def test_resolved_ends_the_plan() -> None:
    p = plan(answers="receiver=办结：已修复@0:20")
    assert p.status is CaseStatus.RESOLVED
    assert [m.notify.step.value for m in p.mails if m.offset > timedelta(minutes=20)] == []
    assert p.left_open == ()


def test_a_case_registered_late_does_the_missed_steps_at_once_marked_late() -> None:
    p = plan(registered=timedelta(hours=2))
    first = [m for m in p.mails if m.offset == timedelta(hours=2) and m.notify.step.value != "ack"]
    assert {m.notify.step.value for m in first} == {"assess_overdue", "account_manager", "general_dept"}
    assert all(m.notify.late for m in first)
    assert p.mails[0].notify.step.value == "ack" and p.mails[0].offset == timedelta(hours=2)


def test_the_plan_follows_the_configured_durations() -> None:
    """Nothing in the plan is a second copy of the procedure: other durations, other times."""
    quick = Deadlines({**SETTINGS.deadlines.durations, DeadlineKind.ACK: timedelta(minutes=5)})
    assert ("+0:20", "failover") in [(offset_text(m.offset), m.notify.step.value) for m in plan(deadlines=quick).mails]


def test_a_department_without_b_has_no_a_to_b_failover() -> None:
    gd = replace(DIRECTORY.general_dept, interface_b=None)
    steps = [(m.notify.step.value, m.silent.email if m.silent else "") for m in plan(directory=replace(
        DIRECTORY, general_dept=gd)).mails]
    assert ("failover", "liu.gd@corp.example.com") not in steps


def test_an_answer_from_outside_the_case_changes_nothing() -> None:
    p = plan(answers="someone@elsewhere.example=无法处理@0:05")
    answer = next(e for e in p.entries if isinstance(e, PlannedAnswer))
    assert answer.refused and not answer.done
    assert timeline(p) == timeline(plan())


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(ANSWERERS)),
                          st.sampled_from(["收到", "可处理", "无法处理", "上报综合部", "退信", "成立小组：网络部"]),
                          st.integers(0, 600)), max_size=4))
def test_any_script_gives_a_timeline_in_order_within_the_horizon_to_directory_people(
        script: list[tuple[str, str, int]]) -> None:
    answers = tuple(Scripted(who, says, timedelta(minutes=m)) for who, says, m in script)
    start = Start(NETWORK, DIRECTORY.outlet("江城晚报"), T0, T0)
    p = simulate(start, DIRECTORY, SETTINGS.deadlines, ZONE, answers)
    offsets = [e.offset for e in p.entries]
    assert offsets == sorted(offsets)
    assert all(T0 <= m.at <= p.until for m in p.mails)
    assert all(DIRECTORY.is_known(x.email) for m in p.mails for x in (*m.notify.to, *m.notify.cc))


@pytest.mark.parametrize(("text", "expected"), [
    ("assess=可处理@0:05", [Scripted("assess", "可处理", timedelta(minutes=5))]),
    ("am=退信@0:35; gd=成立小组：网络部、市场部@1:20",
     [Scripted("am", "退信", timedelta(minutes=35)), Scripted("gd", "成立小组：网络部、市场部", timedelta(hours=1, minutes=20))]),
    ("Chen.AM@corp.example.com=收到@+2:00:30", [Scripted("chen.am@corp.example.com", "收到",
                                                         timedelta(hours=2, seconds=30))]),
])
def test_answers_are_read_as_written(text: str, expected: list[Scripted]) -> None:
    assert list(parse_answers(text)) == expected


@pytest.mark.parametrize("text", ["assess=可处理", "可处理@0:05", "boss=收到@0:05", "assess=@0:05",
                                  "assess=可处理@5 minutes", "assess=可处理@0:75"])
def test_an_unreadable_answer_says_how_to_write_it(text: str) -> None:
    with pytest.raises(PlanError):
        parse_answers(text)


def test_offsets_read_as_hours_and_minutes() -> None:
    assert [offset_text(timedelta(seconds=s)) for s in (900, 3600 * 25, 15, 3661)] == \
        ["+0:15", "+25:00", "+0:00:15", "+1:01:01"]
