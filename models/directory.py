"""The contact directory and the policy settings from config.toml, as frozen values.

daemon/config.py builds these from the file; everything here is pure lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from functools import cached_property

from models.types import DeadlineKind

GENERAL_DEPT_ID = "general_dept"  # 综合部 is a receiving department too (direct complaints)


class DepartmentKind(StrEnum):
    DEPARTMENT = "department"
    BRANCH = "branch"  # 郊市分公司
    GENERAL_DEPT = "general_dept"  # 综合部


@dataclass(frozen=True)
class Person:
    name: str
    email: str  # lower-case
    phone: str = ""

    @property
    def mailbox(self) -> str:
        """`名字 <addr>`, as shown in records and headers."""
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    kind: DepartmentKind
    members: tuple[str, ...]  # addresses, or "*@domain" patterns; lower-case
    interface_a: Person
    interface_b: Person | None = None
    leader: Person | None = None
    in_company_group: bool = False

    def claims(self, email: str) -> bool:
        """Whether `email` counts as this department's staff: its members, and its own interface
        persons and leader even when `members` does not list them (a complaint the interface
        person forwards is the department's, not 综合部's)."""
        email = email.lower()
        return self.claims_exactly(email) or any(_matches(pattern, email) for pattern in self.members)

    def claims_exactly(self, email: str) -> bool:
        email = email.lower()
        return email in self.members or any(
            p is not None and p.email == email for p in (self.interface_a, self.interface_b, self.leader))


@dataclass(frozen=True)
class MediaOutlet:
    name: str
    aliases: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()  # lower-case
    account_manager_a: Person | None = None
    account_manager_b: Person | None = None


@dataclass(frozen=True)
class Leaders:
    company: Person  # 公司主管领导
    media: Person | None = None  # 媒体主管领导
    higher_authority: Person | None = None  # 上一级主管部门
    major_incident: tuple[Person, ...] = ()  # 重大突发事件 contacts


@dataclass(frozen=True)
class Directory:
    general_dept: Department
    leaders: Leaders
    departments: tuple[Department, ...] = ()
    outlets: tuple[MediaOutlet, ...] = ()

    def department_of(self, email: str) -> Department | None:
        """The department whose staff `email` is: an exact address beats a `*@domain` pattern."""
        everyone = (self.general_dept, *self.departments)
        for dept in everyone:
            if dept.claims_exactly(email):
                return dept
        for dept in everyone:
            if dept.claims(email):
                return dept
        return None

    def department(self, dept_id: str) -> Department | None:
        return next((d for d in (self.general_dept, *self.departments) if d.id == dept_id), None)

    def people(self) -> tuple[Person, ...]:
        """Everyone the directory names, for `is_known`."""
        found: list[Person] = [self.leaders.company, *self.leaders.major_incident]
        found += [p for p in (self.leaders.media, self.leaders.higher_authority) if p]
        for dept in (self.general_dept, *self.departments):
            found += [p for p in (dept.interface_a, dept.interface_b, dept.leader) if p]
        for outlet in self.outlets:
            found += [p for p in (outlet.account_manager_a, outlet.account_manager_b) if p]
        return tuple(found)

    def is_known(self, email: str) -> bool:
        """Whether complaintd may mail this address: only people in the directory, ever."""
        email = email.lower()
        return self.department_of(email) is not None or email in self._by_email

    def person(self, email: str) -> Person | None:
        return self._by_email.get(email.lower())

    @cached_property
    def _by_email(self) -> dict[str, Person]:
        """The first person named with each address: a mail names several (a case's every
        step), and the directory hundreds."""
        found: dict[str, Person] = {}
        for person in self.people():
            found.setdefault(person.email, person)
        return found

    def mailboxes(self, dept: Department) -> tuple[Person, ...]:
        """A department's listed addresses as people to mail (a *@domain pattern is not one)."""
        return tuple(self.person(m) or Person(dept.name, m)
                     for m in dept.members if not m.startswith("*@"))

    def outlet(self, name: str | None) -> MediaOutlet | None:
        return next((o for o in self.outlets if o.name == name), None) if name else None

    def backup_of(self, email: str) -> Person | None:
        """Who is told when `email` does not answer: an A contact's B (接口人 A角 → B角, the
        account manager A → B), a leader's next leader up (越级上报: department or media
        leader → company leader). None when nobody stands behind them: skip-level reporting
        climbs the company's own leaders and stops at the company leader; the higher authority
        hears only through its own step (seed §5.2), never because someone was silent."""
        email = email.lower()
        for dept in (self.general_dept, *self.departments):
            if dept.interface_a.email == email and dept.interface_b:
                return dept.interface_b
            if dept.leader and dept.leader.email == email:
                return self.leaders.company
        for outlet in self.outlets:
            if outlet.account_manager_a and outlet.account_manager_a.email == email:
                return outlet.account_manager_b
        if self.leaders.media and self.leaders.media.email == email:
            return self.leaders.company
        return None

    def outlet_by_domain(self, email: str) -> MediaOutlet | None:
        domain = email.lower().rpartition("@")[2]
        if not domain:
            return None
        return next((o for o in self.outlets if _domain_matches(domain, o.domains)), None)

    def outlet_by_name(self, text: str) -> MediaOutlet | None:
        """The outlet named in `text`; the longest name wins (江城晚报社 over 江城晚报)."""
        best: tuple[int, MediaOutlet] | None = None
        for outlet in self.outlets:
            for name in (outlet.name, *outlet.aliases):
                if name and name in text and (best is None or len(name) > best[0]):
                    best = (len(name), outlet)
        return best[1] if best else None


@dataclass(frozen=True)
class Deadlines:
    """The [deadlines] durations (SPEC §3)."""

    durations: dict[DeadlineKind, timedelta] = field(default_factory=dict)

    def __getitem__(self, kind: DeadlineKind) -> timedelta:
        return self.durations[kind]


DEFAULT_DEADLINES = {
    DeadlineKind.ASSESS: timedelta(minutes=15),
    DeadlineKind.ACCOUNT_MANAGER: timedelta(minutes=30),
    DeadlineKind.GENERAL_DEPT: timedelta(hours=1),
    DeadlineKind.SOLUTION: timedelta(hours=4),
    DeadlineKind.GROUP: timedelta(hours=1),
    DeadlineKind.HIGHER_AUTHORITY: timedelta(hours=1),
    DeadlineKind.PROGRESS: timedelta(hours=4),
    DeadlineKind.STATEMENT: timedelta(minutes=30),
    DeadlineKind.ACK: timedelta(minutes=10),
    DeadlineKind.NORMAL_COMPLETION: timedelta(hours=72),
}


# What complaintd sends to and matches on: an RFC 5321 dot-atom before the last @, an ASCII
# host name after it. Quoted local parts ("x@y"@corp…) and non-ASCII addresses (SMTPUTF8) are
# left out on purpose: formataddr cannot build a header for them, and no directory entry needs
# them. Classes are spelled out rather than case-folded: under re.IGNORECASE, [a-z] also
# matches the Kelvin sign and the long s.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")


def local_part(email: str) -> str | None:
    """The mailbox part of `email`, before its LAST @, when it is a plain dot-atom; None when
    there is none or it is anything else (empty, quoted, spaces, controls, non-ASCII)."""
    local, at, _ = email.rpartition("@")
    return local if at and _DOT_ATOM.fullmatch(local) else None


def is_host_name(domain: str) -> bool:
    """An ASCII domain of at least two labels (corp.example.com; not localhost, not 例子.cn)."""
    return _HOST_NAME.fullmatch(domain) is not None


def _matches(pattern: str, email: str) -> bool:
    if pattern.startswith("*@"):
        # The real local part, so that "x@evil"@domain (whose mailbox is at evil) or a bare
        # @domain is nobody's staff; and exactly this domain, not one ending in it.
        return local_part(email) is not None and email.rpartition("@")[2] == pattern[2:]
    return pattern == email


def _domain_matches(domain: str, domains: tuple[str, ...]) -> bool:
    """A sender at news.jcwb.example.cn belongs to jcwb.example.cn too."""
    return any(domain == d or domain.endswith("." + d) for d in domains)
