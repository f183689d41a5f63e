"""Statistics of the register for a period: counts, durations, deadlines met on time.

Pure: the shell turns table rows into `CaseFacts` (daemon/export.py `case_facts`) and gives the
period; nothing here reads the clock or a database.

The period: the cases *received* in [since, until] (since None: from the beginning), as they
stood at `until` — a step, a resolution or a deadline decided after `until` does not count yet,
so that a report for a past period says what could have been said then.

Percentiles are linear (the "inclusive" definition: rank (n-1)·p between the sorted values,
interpolated), the same as Excel's MEDIAN and PERCENTILE.INC, so 综合部 can check a figure in
the exported sheet; the median is the 50th percentile (the mean of the two middle values when
the count is even).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, TypeVar

from models.types import CLOSED_STATUSES, CaseStatus, DeadlineKind

K = TypeVar("K", bound=Hashable)

_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class DeadlineFacts:
    """One clock of a case, any round."""

    kind: DeadlineKind
    due_at: datetime
    met_at: datetime | None = None
    breached_at: datetime | None = None

    @property
    def decided_at(self) -> datetime | None:
        """When it stopped being open: met, or breached, whichever came first."""
        times = [t for t in (self.met_at, self.breached_at) if t is not None]
        return min(times) if times else None

    @property
    def on_time(self) -> bool:
        return self.met_at is not None and self.met_at <= self.due_at


@dataclass(frozen=True)
class CaseFacts:
    """What the statistics need of one case; times are aware (UTC in practice)."""

    id: str
    category: int | None
    receiving_dept: str  # a department id
    media_outlet: str | None
    received_at: datetime
    status: CaseStatus
    resolved_at: datetime | None = None
    assessed_at: datetime | None = None  # the assess clock met
    account_manager_at: datetime | None = None  # the account_manager clock met, else breached
    general_dept_at: datetime | None = None  # the general_dept clock met, else breached
    deadlines: tuple[DeadlineFacts, ...] = ()


@dataclass(frozen=True)
class Durations:
    """From received_at to one step, over the cases that reached it by `until`."""

    count: int = 0
    median: timedelta | None = None
    p90: timedelta | None = None


@dataclass(frozen=True)
class Statistics:
    since: datetime | None
    until: datetime
    cases: int
    closed: int
    by_category: tuple[tuple[int | None, int], ...]  # most cases first, then by key
    by_department: tuple[tuple[str, int], ...]
    by_outlet: tuple[tuple[str | None, int], ...]
    by_status: tuple[tuple[str, int], ...]
    to_assessment: Durations
    to_account_manager: Durations
    to_general_dept: Durations
    to_resolution: Durations
    deadlines_decided: int  # met or breached by `until`, acknowledgment windows excluded
    deadlines_on_time: int  # of those, met at or before their due time

    @property
    def on_time_percent(self) -> float | None:
        """Deadlines met on time in % of those decided; None when none was decided."""
        if not self.deadlines_decided:
            return None
        return 100.0 * self.deadlines_on_time / self.deadlines_decided


def register_statistics(cases: Sequence[CaseFacts], since: datetime | None, until: datetime) -> Statistics:
    """The statistics of the cases received in [since, until], as they stood at `until`."""
    period = [c for c in cases if (since is None or c.received_at >= since) and c.received_at <= until]

    def by_then(value: datetime | None) -> datetime | None:
        return value if value is not None and value <= until else None

    def durations(step: str) -> Durations:
        spans = [done - c.received_at for c in period
                 if (done := by_then(getattr(c, step))) is not None]
        return summarize(spans)

    decided = [d for c in period for d in c.deadlines
               # ack windows are the daemon's own chasing, not the procedure's deadlines
               if d.kind != DeadlineKind.ACK and (at := d.decided_at) is not None and at <= until]
    return Statistics(
        since=since,
        until=until,
        cases=len(period),
        closed=sum(1 for c in period if c.status in CLOSED_STATUSES),
        by_category=_counts(c.category for c in period),
        by_department=_counts(c.receiving_dept for c in period),
        by_outlet=_counts(c.media_outlet or None for c in period),
        by_status=_counts(c.status for c in period),
        to_assessment=durations("assessed_at"),
        to_account_manager=durations("account_manager_at"),
        to_general_dept=durations("general_dept_at"),
        to_resolution=durations("resolved_at"),
        deadlines_decided=len(decided),
        deadlines_on_time=sum(1 for d in decided if d.on_time),
    )


def summarize(spans: Sequence[timedelta]) -> Durations:
    if not spans:
        return Durations()
    return Durations(len(spans), percentile(spans, Fraction(1, 2)), percentile(spans, Fraction(9, 10)))


def percentile(values: Sequence[timedelta], p: Fraction) -> timedelta:
    """The linear ("inclusive", Excel PERCENTILE.INC) percentile p in [0, 1] of `values`.

    Exact arithmetic to the microsecond (rounded half to even), so a hand-computed figure in a
    test is the figure here.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 1:
        raise ValueError(f"percentile {p} outside [0, 1]")
    ordered = sorted(v // _MICROSECOND for v in values)
    rank = (len(ordered) - 1) * p
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    exact = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return round(exact) * _MICROSECOND


def _counts(keys: Iterable[K]) -> tuple[tuple[K, int], ...]:
    """(key, count), most first; equal counts in key order, None (unknown) last."""
    def order(item: tuple[K, int]) -> tuple[int, bool, Any]:
        key, count = item
        return -count, key is None, key  # Counter keys are distinct: two Nones never compare

    return tuple(sorted(Counter(keys).items(), key=order))
