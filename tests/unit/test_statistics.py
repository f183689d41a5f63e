"""The register's statistics (models/statistics.py) on literal times, figures worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from models.statistics import CaseFacts, DeadlineFacts, Durations, percentile, register_statistics

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
UNTIL = T0 + timedelta(days=2)


def m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def case(n: int, *, received: datetime = T0, category: int | None = 2, dept: str = "network",
         outlet: str | None = "江城晚报", status: str = "local", assessed: float | None = None,
         am: float | None = None, gd: float | None = None, resolved: float | None = None,
         deadlines: tuple[DeadlineFacts, ...] = ()) -> CaseFacts:
    """A case received at `received`; each step given in minutes after it."""
    def at(minutes: float | None) -> datetime | None:
        return None if minutes is None else received + m(minutes)

    return CaseFacts(id=f"MT-20261127-{n:04d}", category=category, receiving_dept=dept,
                     media_outlet=outlet, received_at=received, status=status,
                     resolved_at=at(resolved), assessed_at=at(assessed), account_manager_at=at(am),
                     general_dept_at=at(gd), deadlines=deadlines)


# Five cases, assessed after 10, 20, 30, 40 and 100 minutes; four reached the account manager
# (after 10, 20, 30, 40 min); two went to 综合部 (60, 90 min); three resolved (5 h, 1 h, 3 h).
REGISTER = [
    case(1, assessed=10, am=10, gd=60, resolved=300, status="resolved", category=2),
    case(2, assessed=20, am=20, resolved=60, status="resolved", category=1, outlet="江城电视台"),
    case(3, assessed=30, am=30, gd=90, status="general_dept", category=2, dept="customer_service"),
    case(4, assessed=40, am=40, resolved=180, status="dismissed", category=None, outlet=None),
    case(5, assessed=100, status="registered", category=2, outlet="江城电视台"),
]


def test_median_and_p90_are_linear_percentiles_worked_by_hand() -> None:
    """Odd and even counts: median the middle / mean of the middle two, p90 interpolated."""
    s = register_statistics(REGISTER, None, UNTIL)
    # 10 20 30 40 100: median 30; p90 rank 4·0.9 = 3.6 → 40 + 0.6·(100−40) = 76.
    assert s.to_assessment == Durations(5, m(30), m(76))
    # 10 20 30 40: median (20+30)/2 = 25; p90 rank 3·0.9 = 2.7 → 30 + 0.7·10 = 37.
    assert s.to_account_manager == Durations(4, m(25), m(37))
    # 60 90: median 75; p90 rank 0.9 → 60 + 0.9·30 = 87.
    assert s.to_general_dept == Durations(2, m(75), m(87))
    # 60 180 300: median 180; p90 rank 1.8 → 180 + 0.8·120 = 276.
    assert s.to_resolution == Durations(3, m(180), m(276))


def test_counts_by_category_department_outlet_and_status() -> None:
    """Most cases first; ties in key order; the unknown (None) last."""
    s = register_statistics(REGISTER, None, UNTIL)
    assert s.cases == 5 and s.closed == 3  # two resolved, one dismissed
    assert s.by_category == ((2, 3), (1, 1), (None, 1))
    assert s.by_department == (("network", 4), ("customer_service", 1))
    assert s.by_outlet == (("江城晚报", 2), ("江城电视台", 2), (None, 1))
    assert s.by_status == (("resolved", 2), ("dismissed", 1), ("general_dept", 1), ("registered", 1))


def test_the_period_takes_the_cases_received_in_it() -> None:
    """since and until bound received_at, both inclusive; a case outside is not counted at all."""
    early = case(6, received=T0 - timedelta(days=1), assessed=1)
    late = case(7, received=UNTIL + timedelta(seconds=1), assessed=1)
    s = register_statistics([early, *REGISTER, late], T0, UNTIL)
    assert s.cases == 5 and s.to_assessment.count == 5
    edge = case(8, received=UNTIL, assessed=None)
    assert register_statistics([edge], T0, UNTIL).cases == 1


def test_steps_after_until_do_not_count_yet() -> None:
    """As of `until`: a resolution or a met deadline after it is still in the future."""
    s = register_statistics(REGISTER, None, T0 + m(70))
    assert s.to_assessment == Durations(4, m(25), m(37))  # the 100-minute assessment is later
    assert s.to_general_dept == Durations(1, m(60), m(60))
    assert s.to_resolution == Durations(1, m(60), m(60))  # only case 2 was resolved by then
    assert s.cases == 5 and s.closed == 3  # statuses are as stored: the caller passes `now`


def test_on_time_percentage_over_decided_deadlines_without_ack_windows() -> None:
    """Met by the due time counts (exactly at it too); late, breached, breached-then-met do not."""
    due = T0 + m(15)
    clocks = (
        DeadlineFacts("assess", due, met_at=due),  # on time, at the second
        DeadlineFacts("account_manager", due, met_at=due - m(5)),  # on time
        DeadlineFacts("general_dept", due, met_at=due + timedelta(seconds=1)),  # late
        DeadlineFacts("solution", due, breached_at=due),  # breached
        DeadlineFacts("progress", due, met_at=due + m(9), breached_at=due),  # breached, then met
        DeadlineFacts("normal_completion", due),  # still open: not counted
        DeadlineFacts("ack", due, met_at=due - m(1)),  # an ack window: never counted
        DeadlineFacts("ack", due, breached_at=due),
        DeadlineFacts("statement", UNTIL, met_at=UNTIL + m(1)),  # decided after until: not yet
    )
    s = register_statistics([case(1, deadlines=clocks)], None, UNTIL)
    assert (s.deadlines_on_time, s.deadlines_decided) == (2, 5)
    assert s.on_time_percent == pytest.approx(40.0)


def test_an_empty_register_gives_zeros_and_no_figures() -> None:
    """No cases (or none in the period): zeros and None, never an exception."""
    for cases in ([], [case(1, received=T0 - timedelta(days=9), assessed=5)]):
        s = register_statistics(cases, T0, UNTIL)
        assert s.cases == 0 and s.closed == 0
        assert s.by_category == s.by_department == s.by_outlet == s.by_status == ()
        assert s.to_assessment == s.to_account_manager == s.to_general_dept == s.to_resolution == Durations()
        assert s.to_assessment.median is None and s.to_assessment.p90 is None
        assert s.deadlines_decided == 0 and s.on_time_percent is None


def test_a_case_with_no_clocks_met_is_counted_but_has_no_durations() -> None:
    """A fresh case counts under its category, department and outlet and nowhere else."""
    s = register_statistics([case(1, status="registered")], None, UNTIL)
    assert s.cases == 1 and s.by_department == (("network", 1),)
    assert s.to_assessment == Durations() and s.on_time_percent is None


def test_percentile_is_exact_to_the_microsecond() -> None:
    """One value is every percentile; interpolation does not drift through floating point."""
    assert percentile([m(7)], Fraction(9, 10)) == m(7)
    values = [timedelta(seconds=s) for s in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)]
    assert percentile(values, Fraction(9, 10)) == timedelta(seconds=10)  # rank 9 exactly
    assert percentile([timedelta(0), timedelta(microseconds=3)], Fraction(1, 2)) == timedelta(microseconds=2)
    assert percentile([m(40), m(10), m(30), m(20)], Fraction(0)) == m(10)  # order of input is irrelevant
    assert percentile([m(40), m(10)], Fraction(1)) == m(40)
    with pytest.raises(ValueError):
        percentile([], Fraction(1, 2))
