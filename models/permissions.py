"""Who someone is on a case: the roles a person holds, and the A/B partners who answer for each other.

Pure: the directory and the case's facts in, a verdict out. Which role may give which reply
command is the rule table in models/replies.py. The shell (daemon/replies.py) adds the other
half of authentication: a reply with threading headers must thread to a Message-ID complaintd
sent to that same person.
"""

from __future__ import annotations

from enum import StrEnum

from models.directory import Department, Directory, MediaOutlet, Person


class Role(StrEnum):
    RECEIVER = "receiver"  # the receiving department's staff (接收部门)
    DEPT_LEADER = "dept_leader"  # its leader (上级领导)
    ACCOUNT_MANAGER = "account_manager"  # the outlet's account manager, A or B
    GENERAL_DEPT = "general_dept"  # 综合部 staff and its A/B contacts
    INTERFACE = "interface"  # any department's interface person, A or B
    COMPANY_LEADER = "company_leader"
    MEDIA_LEADER = "media_leader"
    HIGHER_AUTHORITY = "higher_authority"


def roles_of(email: str, receiving: Department, outlet: MediaOutlet | None, directory: Directory) -> frozenset[Role]:
    """Every role `email` holds on a case received by `receiving` about `outlet`."""
    email = email.lower()
    roles: set[Role] = set()
    if receiving.claims(email) and not _is(email, receiving.leader):  # its staff and interface persons
        roles.add(Role.RECEIVER)
    if _is(email, receiving.leader):
        roles.add(Role.DEPT_LEADER)
    if outlet and _is(email, outlet.account_manager_a, outlet.account_manager_b):
        roles.add(Role.ACCOUNT_MANAGER)
    gd = directory.general_dept
    if gd.claims(email) or _is(email, gd.interface_a, gd.interface_b):
        roles.add(Role.GENERAL_DEPT)
    if any(_is(email, d.interface_a, d.interface_b) for d in directory.departments):
        roles.add(Role.INTERFACE)
    leaders = directory.leaders
    for role, person in ((Role.COMPANY_LEADER, leaders.company), (Role.MEDIA_LEADER, leaders.media),
                         (Role.HIGHER_AUTHORITY, leaders.higher_authority)):
        if _is(email, person):
            roles.add(role)
    return frozenset(roles)


def partners(email: str, directory: Directory) -> frozenset[str]:
    """The A/B partner(s) of `email`: either may acknowledge for the other."""
    email = email.lower()
    pairs: list[tuple[Person | None, Person | None]] = [
        (d.interface_a, d.interface_b) for d in (directory.general_dept, *directory.departments)]
    pairs += [(o.account_manager_a, o.account_manager_b) for o in directory.outlets]
    found = {email}
    for a, b in pairs:
        if a and b and email in (a.email, b.email):
            found |= {a.email, b.email}
    return frozenset(found)


def _is(email: str, *people: Person | None) -> bool:
    return any(p is not None and p.email == email for p in people)
