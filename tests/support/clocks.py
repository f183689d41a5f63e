"""Short names for the procedure's clocks and minutes, shared by the pure policy and reply tests."""

from __future__ import annotations

from datetime import timedelta

from models.types import CLOSED_STATUSES, CaseStatus, DeadlineKind

ASSESS, AM, GEN = DeadlineKind.ASSESS, DeadlineKind.ACCOUNT_MANAGER, DeadlineKind.GENERAL_DEPT
SOLUTION, COMPLETION = DeadlineKind.SOLUTION, DeadlineKind.NORMAL_COMPLETION
GROUP, HA, PROGRESS = DeadlineKind.GROUP, DeadlineKind.HIGHER_AUTHORITY, DeadlineKind.PROGRESS
STATEMENT, ACK = DeadlineKind.STATEMENT, DeadlineKind.ACK
OPEN_STATUSES = [s for s in CaseStatus if s not in CLOSED_STATUSES]


def m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)
