"""Who sees which case on the board: a person's scope, from the directory alone.

Pure: an address and the directory in, a Scope out; a case's facts (its receiving department
and its outlet) against a scope, a yes or no. The board (daemon/web/) asks nothing else, so a
case a person may not see is refused whole, never shown in part.

The rule (issue 16, "Who sees what"):
- 综合部 (its members and A/B contacts), the company leader and the media leader see every case;
- a department's staff, interface persons and leader see the cases their department received;
- an outlet's account managers (A and B) see the cases about that outlet;
- anyone else, including people the directory names only as an outside party (the higher
  authority, the major-incident contacts), sees nothing, and is not sent a login link.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.directory import Directory


@dataclass(frozen=True)
class Scope:
    """The cases one person may see: all of them, or those of some departments and outlets."""

    email: str
    everything: bool = False
    departments: frozenset[str] = frozenset()  # department ids
    outlets: frozenset[str] = frozenset()  # outlet names, as cases store them
    general_dept: bool = False  # 综合部 staff: also the original mail (.eml) of a case

    @property
    def empty(self) -> bool:
        return not (self.everything or self.departments or self.outlets)


def scope_of(email: str, directory: Directory) -> Scope:
    """What `email` may see on the board."""
    email = email.lower()
    gd = directory.general_dept
    in_gd = gd.claims(email)
    leaders = directory.leaders
    is_leader = any(p is not None and p.email == email for p in (leaders.company, leaders.media))
    home = directory.department_of(email)
    departments = {d.id for d in directory.departments if d.claims_exactly(email)}
    if home is not None and home.id != gd.id:
        departments.add(home.id)
    outlets = {o.name for o in directory.outlets
               if any(p is not None and p.email == email for p in (o.account_manager_a, o.account_manager_b))}
    return Scope(email, everything=in_gd or is_leader, departments=frozenset(departments),
                 outlets=frozenset(outlets), general_dept=in_gd)


def may_see(scope: Scope, receiving_dept: str, media_outlet: str | None) -> bool:
    """Whether a case received by `receiving_dept` about `media_outlet` is in `scope`."""
    return scope.everything or receiving_dept in scope.departments or (
        media_outlet is not None and media_outlet in scope.outlets)
