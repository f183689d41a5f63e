"""The directory audit (models/audit.py): each hole named by the key to fix, none in the shipped file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from daemon.config import load_settings
from models.audit import audit
from models.directory import Department, Directory, Person
from tests.support.mail import ROOT

SHIPPED = load_settings(ROOT / "config.toml", env={}).directory
DOMAIN = "corp.example.com"


def keys(directory: Directory) -> list[str]:
    return [f.key for f in audit(directory, DOMAIN)]


def dept(directory: Directory, dept_id: str, **changes: Any) -> Directory:
    return replace(directory, departments=tuple(replace(d, **changes) if d.id == dept_id else d
                                                for d in directory.departments))


def outlet(directory: Directory, name: str, **changes: Any) -> Directory:
    return replace(directory, outlets=tuple(replace(o, **changes) if o.name == name else o
                                            for o in directory.outlets))


def dept_of(directory: Directory, dept_id: str) -> Department:
    return next(d for d in directory.departments if d.id == dept_id)


def test_the_shipped_directory_has_no_holes() -> None:
    assert audit(SHIPPED, DOMAIN) == []


HOLES: dict[str, tuple[Callable[[Directory], Directory], str]] = {
    "a department without interface B": (lambda d: dept(d, "marketing", interface_b=None),
                                         "departments.marketing.interface_b"),
    "综合部 without interface B": (lambda d: replace(d, general_dept=replace(d.general_dept, interface_b=None)),
                                  "general_dept.interface_b"),
    "a leader who is another department's staff": (
        lambda d: dept(d, "network", members=(*dept_of(d, "network").members, "han.cs@corp.example.com")),
        "departments.customer_service.leader"),
    "an outlet without an account manager": (lambda d: outlet(d, "江城电视台", account_manager_a=None,
                                                              account_manager_b=None),
                                             "media_outlets.江城电视台.account_manager_a"),
    "an outlet whose A is its B": (lambda d: outlet(d, "江城晚报", account_manager_b=Person("陈静", "chen.am@corp.example.com")),
                                   "media_outlets.江城晚报.account_manager_b"),
    "a group of nobody": (lambda d: replace(d, departments=tuple(replace(x, in_company_group=False)
                                                                 for x in d.departments)), "departments"),
    "a leader chain that stops at a B": (lambda d: dept(d, "east_branch", leader=Person("杨帆", "yang.cs@corp.example.com")),
                                         "departments.east_branch.leader"),
    "a department without a leader": (lambda d: dept(d, "east_branch", leader=None), "departments.east_branch.leader"),
    "an address off the company's domain": (lambda d: dept(d, "network", interface_b=Person("李娜", "lina@gmail.com")),
                                            "departments.network.interface_b"),
}


@pytest.mark.parametrize("hole", HOLES)
def test_each_hole_is_named_by_its_key(hole: str) -> None:
    make, key = HOLES[hole]
    assert set(keys(make(SHIPPED))) == {key}  # a hole may draw two findings on its key (杨帆 as a
    # leader elsewhere: CS's own staff, and a chain that stops at her B)


def test_a_leader_chain_that_stops_says_where() -> None:
    findings = audit(dept(SHIPPED, "east_branch", leader=Person("杨帆", "yang.cs@corp.example.com")), DOMAIN)
    (finding,) = [f for f in findings if "越级上报" in f.text]
    assert "yang.cs@corp.example.com" in finding.text and "zhu.cs@corp.example.com" in finding.text
    assert "zhao.ceo@corp.example.com" in finding.text


def test_the_higher_authority_may_be_outside_the_company() -> None:
    """gd@prov.example.com is the provincial company: no finding for it (the shipped file has it)."""
    assert SHIPPED.leaders.higher_authority is not None
    assert not SHIPPED.leaders.higher_authority.email.endswith(DOMAIN)
    assert audit(SHIPPED, DOMAIN) == []


def test_subdomains_are_the_companys() -> None:
    assert audit(SHIPPED, "example.com") == []
    assert {f.key for f in audit(SHIPPED, "other.example")} >= {"leaders.company", "departments.network.members"}
