"""Deadlines as people write them: parsers.times.read_time on its own (the forms 预计完成 takes
are in tests/unit/test_commands.py, read through the SOLUTION they belong to)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

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
