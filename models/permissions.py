"""Who may do what by reply: the roles a person holds on a case, and a role × command table.

Pure: the directory and the case's facts in, a verdict out. The shell (daemon/replies.py)
adds the other half of authentication: a reply with threading headers must thread to a
Message-ID complaintd sent to that same person.
"""

from __future__ import annotations

from enum import Enum

from models.directory import Department, Directory, MediaOutlet, Person
from parsers.commands import Verb


class Role(str, Enum):
    RECEIVER = "receiver"  # the receiving department's staff (接收部门)
    DEPT_LEADER = "dept_leader"  # its leader (上级领导)
    ACCOUNT_MANAGER = "account_manager"  # the outlet's account manager, A or B
    GENERAL_DEPT = "general_dept"  # 综合部 staff and its A/B contacts
    INTERFACE = "interface"  # any department's interface person, A or B
    COMPANY_LEADER = "company_leader"
    MEDIA_LEADER = "media_leader"
    HIGHER_AUTHORITY = "higher_authority"


_HANDLERS = frozenset({Role.RECEIVER, Role.DEPT_LEADER, Role.ACCOUNT_MANAGER, Role.GENERAL_DEPT})
_LEADERS = frozenset({Role.COMPANY_LEADER, Role.MEDIA_LEADER})

# Who may give each command (SPEC §4; issue: only the company or media leader approves a
# statement, only 综合部 convenes the group or dismisses).
ALLOWED: dict[Verb, frozenset[Role]] = {
    Verb.ACK: frozenset(Role),
    Verb.LOCAL: _HANDLERS,
    Verb.CANNOT: _HANDLERS,
    Verb.ESCALATE: _HANDLERS,
    Verb.SOLUTION: _HANDLERS,
    Verb.PROGRESS: _HANDLERS | {Role.INTERFACE},
    Verb.RESOLVED: _HANDLERS,
    Verb.CATEGORY: frozenset({Role.RECEIVER, Role.DEPT_LEADER, Role.GENERAL_DEPT}),
    Verb.MEDIA_OUTLET: frozenset({Role.RECEIVER, Role.DEPT_LEADER, Role.GENERAL_DEPT}),
    Verb.REPORTER: frozenset({Role.RECEIVER, Role.DEPT_LEADER, Role.GENERAL_DEPT}),
    # SPEC §3: a missed group clock goes to the company leader, "who (or 综合部) convenes by reply".
    Verb.GROUP: frozenset({Role.GENERAL_DEPT, Role.COMPANY_LEADER}),
    Verb.STATEMENT: frozenset({Role.GENERAL_DEPT}) | _LEADERS,
    Verb.APPROVE: _LEADERS,
    Verb.MAJOR: frozenset({Role.GENERAL_DEPT}) | _LEADERS,
    Verb.DISMISS: frozenset({Role.GENERAL_DEPT}),
}


def roles_of(email: str, receiving: Department, outlet: MediaOutlet | None, directory: Directory) -> frozenset[Role]:
    """Every role `email` holds on a case received by `receiving` about `outlet`."""
    email = email.lower()
    roles: set[Role] = set()
    if receiving.claims(email) or _is(email, receiving.interface_a, receiving.interface_b):
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


def may(verb: Verb, roles: frozenset[Role]) -> bool:
    return bool(ALLOWED[verb] & roles)


def partners(email: str, directory: Directory) -> frozenset[str]:
    """The A/B partner(s) of `email`: either may acknowledge for the other."""
    email = email.lower()
    pairs = [(d.interface_a, d.interface_b) for d in (directory.general_dept, *directory.departments)]
    pairs += [(o.account_manager_a, o.account_manager_b) for o in directory.outlets]
    found = {email}
    for a, b in pairs:
        if a and b and email in (a.email, b.email):
            found |= {a.email, b.email}
    return frozenset(found)


def _is(email: str, *people: Person | None) -> bool:
    return any(p is not None and p.email == email for p in people)
