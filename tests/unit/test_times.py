"""Deadlines as people write them: parsers.times.read_time on its own (the forms 预计完成 takes
are in tests/unit/test_commands.py, read through the SOLUTION they belong to)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.times import read_time

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 10, 20, tzinfo=SHANGHAI)  # a Friday


def at(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def test_read_time_takes_now_in_any_zone() -> None:
    """`now` in UTC (as the daemon's clock gives it) or naive (taken as local) gives the same local answer."""
    utc_now = NOW.astimezone(UTC)
    assert read_time("明天18:00", SHANGHAI, utc_now) == at(28, 18)
    assert read_time("明天18:00", SHANGHAI, NOW.replace(tzinfo=None)) == at(28, 18)
    assert read_time("", SHANGHAI, NOW) is None


@pytest.mark.parametrize("when", ["9999-12-31 24:00", "9999年12月31日 晚上12点", "9999-12-31T23:59+00:00",
                                  "0001-01-01T00:00+08:00", "Fri, 31 Dec 9999 23:59:59 -1200"])
def test_a_time_past_the_end_of_the_calendar_is_unreadable(when: str) -> None:
    """A date at the calendar's edge that the clock or the zone would move past it gives None."""
    assert read_time(when, SHANGHAI, NOW) is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("明天今晚后周上下午点分半时:：-/.T+Z 0123456789１年月日号前内小时 amp")),
               max_size=40))
def test_never_raises_on_time_like_noise(text: str) -> None:
    """Any mix of digits, date words and separators gives an aware time in the zone, or None."""
    found = read_time(text, SHANGHAI, NOW)
    assert found is None or found.tzinfo is SHANGHAI


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_never_raises_on_any_text(text: str) -> None:
    """Arbitrary Unicode never makes read_time raise."""
    found = read_time(text, SHANGHAI, NOW)
    assert found is None or found.tzinfo is SHANGHAI
