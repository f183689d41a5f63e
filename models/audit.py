"""The directory read as the procedure will use it: holes that pass validation but break a step.

`complaintd check` refuses what cannot work at all (daemon/config.py). A directory can be
valid and still leave a step with nobody to take it: no B behind an A, an outlet without an
account manager, a leader whose 越级上报 stops short of the company leader. Such a hole shows
only when a complaint walks into it; `audit` finds it beforehand, by the same lookups the
policy makes (Directory.backup_of, department_of). Each finding names the config key to fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from models.directory import Department, Directory, Person
from models.labels import DEPARTMENT_ROLE_LABELS, LEADER_LABELS


@dataclass(frozen=True)
class Finding:
    """One warning: the config key (departments.network.interface_b) and what goes wrong."""

    key: str
    text: str

    def __str__(self) -> str:
        return f"{self.key}: {self.text}"


def audit(directory: Directory, company_domain: str) -> list[Finding]:
    """Every hole found, in the file's order of tables. `company_domain` is where the
    company's own addresses live (its subdomains included)."""
    return [*_departments(directory), *_leaders(directory), *_outlets(directory),
            *_domains(directory, company_domain.lower())]


def dept_key(dept: Department, directory: Directory) -> str:
    return "general_dept" if dept is directory.general_dept else f"departments.{dept.id}"


def _departments(directory: Directory) -> Iterator[Finding]:
    b = DEPARTMENT_ROLE_LABELS["interface_b"]
    for dept in (directory.general_dept, *directory.departments):
        key = dept_key(dept, directory)
        if dept.interface_b is None:
            yield Finding(f"{key}.interface_b", f"missing ({b}): when interface_a "
                          f"{dept.interface_a.email} does not answer, nobody takes over")
        if dept is not directory.general_dept:
            yield from _department_leader(dept, key, directory)
    if directory.departments and not any(d.in_company_group for d in directory.departments):
        yield Finding("departments", "no department has in_company_group = true: a company-level group "
                      "would be 综合部 and the receiving department alone")


def _department_leader(dept: Department, key: str, directory: Directory) -> Iterator[Finding]:
    leader = dept.leader
    if leader is None:
        yield Finding(f"{key}.leader", f"missing ({DEPARTMENT_ROLE_LABELS['leader']}): the department's reports "
                      f"go straight to the company leader {directory.leaders.company.email}")
        return
    yield from _member_elsewhere(leader, f"{key}.leader", dept, directory)
    yield from _chain(leader, f"{key}.leader", directory)


def _leaders(directory: Directory) -> Iterator[Finding]:
    leaders = directory.leaders
    yield from _member_elsewhere(leaders.company, "leaders.company", None, directory)
    if leaders.media is not None:
        yield from _member_elsewhere(leaders.media, "leaders.media", None, directory)
        yield from _chain(leaders.media, "leaders.media", directory)


def _member_elsewhere(person: Person, key: str, own: Department | None, directory: Directory) -> Iterator[Finding]:
    """A leader counted as another department's staff: a complaint they forward is registered
    there, and their replies act as that department's."""
    owner = directory.department_of(person.email)
    if owner is not None and owner is not own:
        yield Finding(key, f"{person.email} is also a member of {dept_key(owner, directory)} ({owner.name}): "
                      "a complaint they forward is registered there, and they answer as its staff")


def _chain(leader: Person, key: str, directory: Directory) -> Iterator[Finding]:
    """越级上报 from `leader`, one silent person after the next, must reach the company leader."""
    company = directory.leaders.company.email
    seen = {leader.email}
    last = leader
    while last.email != company:
        up = directory.backup_of(last.email)
        if up is None or up.email in seen:
            yield Finding(key, f"越级上报 from {leader.email} stops at {last.email}, before the "
                          f"{LEADER_LABELS['company']} {company}: "
                          + ("nobody stands behind them" if up is None else f"it comes back to {up.email}"))
            return
        seen.add(up.email)
        last = up


def _outlets(directory: Directory) -> Iterator[Finding]:
    for outlet in directory.outlets:
        key = f"media_outlets.{outlet.name}"
        a, b = outlet.account_manager_a, outlet.account_manager_b
        if a is None:
            yield Finding(f"{key}.account_manager_a", "missing: at 30 minutes 综合部 is asked who the account "
                          "manager is instead of one being told")
        elif b is None:
            yield Finding(f"{key}.account_manager_b", f"missing: when {a.email} does not answer, nobody takes over")
        elif a.email == b.email:
            yield Finding(f"{key}.account_manager_b", f"{b.email} is account_manager_a too: when they do not "
                          "answer, nobody takes over")


def _domains(directory: Directory, domain: str) -> Iterator[Finding]:
    """Every address complaintd mails, except the higher authority's (outside the company by
    definition), on the company's domain or one under it."""
    if not domain:
        return
    seen: set[str] = set()
    for key, email in _addresses(directory):
        at = email.rpartition("@")[2]
        if email in seen:
            continue
        seen.add(email)
        if at != domain and not at.endswith("." + domain):
            yield Finding(key, f"{email} is not on {domain}, the company's domain (outbound.from): "
                          "a typo, or a private mailbox the procedure should not depend on")


def _addresses(directory: Directory) -> Iterator[tuple[str, str]]:
    for dept in (directory.general_dept, *directory.departments):
        key = dept_key(dept, directory)
        for role in DEPARTMENT_ROLE_LABELS:
            person = getattr(dept, role)
            if person is not None:
                yield f"{key}.{role}", person.email
        for member in dept.members:  # (综合部's A is among them even when the file's list forgets it)
            yield f"{key}.members", member
    leaders = directory.leaders
    yield "leaders.company", leaders.company.email
    if leaders.media is not None:
        yield "leaders.media", leaders.media.email
    for person in leaders.major_incident:
        yield "leaders.major_incident", person.email
    for outlet in directory.outlets:
        for role in ("account_manager_a", "account_manager_b"):
            person = getattr(outlet, role)
            if person is not None:
                yield f"media_outlets.{outlet.name}.{role}", person.email
