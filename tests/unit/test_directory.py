"""Directory lookups: who counts as a department's staff (models/directory.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import load_settings

DIRECTORY = load_settings(Path(__file__).resolve().parents[2] / "config.toml", env={}).directory


@pytest.mark.parametrize("sender", [
    "wei@net.corp.example.com",
    "Wei.Zhang@NET.corp.example.com",
    "a+tag@net.corp.example.com",
])
def test_an_address_at_a_patterns_domain_is_that_departments_staff(sender: str) -> None:
    """*@net.corp.example.com: 网络部's staff, who may answer its cases and get its mail."""
    dept = DIRECTORY.department_of(sender)
    assert dept is not None and dept.name == "网络部"
    assert DIRECTORY.is_known(sender)


@pytest.mark.parametrize("sender", [
    '"x@evil.example"@net.corp.example.com',  # a quoted local part: the mailbox is not at our domain
    "x@evil.example@net.corp.example.com",  # the part before the last @ is not a plain mailbox
    "@net.corp.example.com",  # no mailbox at all
    '"wei"@net.corp.example.com',
    "wei zhang@net.corp.example.com",
    "wei@evil-net.corp.example.com",  # another domain ending in the same letters
    "wei@sub.net.corp.example.com",  # *@domain is that domain only
])
def test_only_a_plain_mailbox_at_exactly_the_domain_matches_a_pattern(sender: str) -> None:
    """Anything else is nobody's staff: it may not act on a case, and complaintd never mails it."""
    assert DIRECTORY.department_of(sender) is None
    assert not DIRECTORY.is_known(sender)


def test_skip_level_reporting_stops_at_the_company_leader() -> None:
    """越级上报 climbs the company's own leaders: nobody stands behind the company leader
    (the higher authority hears only through its own step, seed §5.2)."""
    d = DIRECTORY
    assert d.backup_of("wang.net@corp.example.com") == d.leaders.company
    assert d.backup_of("qian.media@corp.example.com") == d.leaders.company
    assert d.backup_of(d.leaders.company.email) is None


@pytest.mark.parametrize("dept_id", [d.id for d in DIRECTORY.departments])
def test_a_departments_own_interface_persons_and_leader_are_its_staff(dept_id: str) -> None:
    """The shipped config lists 张伟, 冯涛, 杨帆, 许亮 … as interface persons but not as members:
    a complaint one of them forwards is still their department's case, not 综合部's."""
    dept = DIRECTORY.department(dept_id)
    assert dept is not None
    for person in (dept.interface_a, dept.interface_b, dept.leader):
        if person is not None:
            assert DIRECTORY.department_of(person.email) == dept, person.email
