"""parsers.dates: RFC 5322 Date headers and the times mail clients print in forward blocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from parsers.dates import parse_client_date, parse_header_date

SHANGHAI = ZoneInfo("Asia/Shanghai")
PLUS8 = timezone(timedelta(hours=8))
UTC = UTC

CLIENT_FORMS = [
    ("2026年11月27日(星期五) 上午10:15", datetime(2026, 11, 27, 10, 15, tzinfo=SHANGHAI)),  # Foxmail
    ("2026年11月27日(星期五) 下午3:05", datetime(2026, 11, 27, 15, 5, tzinfo=SHANGHAI)),
    ("2026年11月27日 星期五 10:15", datetime(2026, 11, 27, 10, 15, tzinfo=SHANGHAI)),  # Outlook zh
    ("2026年11月27日 18:48:45", datetime(2026, 11, 27, 18, 48, 45, tzinfo=SHANGHAI)),
    ("2026年11月27日周五 下午2:15", datetime(2026, 11, 27, 14, 15, tzinfo=SHANGHAI)),  # Gmail zh
    ("2026年11月27日 中午12:30", datetime(2026, 11, 27, 12, 30, tzinfo=SHANGHAI)),
    ("2026年11月27日 中午1:10", datetime(2026, 11, 27, 13, 10, tzinfo=SHANGHAI)),
    ("2026年11月27日 晚上9:40", datetime(2026, 11, 27, 21, 40, tzinfo=SHANGHAI)),
    ("2026年11月27日 上午12:05", datetime(2026, 11, 27, 0, 5, tzinfo=SHANGHAI)),
    ("2026年11月27日 GMT+8 上午10:15:00", datetime(2026, 11, 27, 10, 15, tzinfo=PLUS8)),  # Apple Mail zh
    ("2026/11/27 10:15", datetime(2026, 11, 27, 10, 15, tzinfo=SHANGHAI)),  # Thunderbird zh
    ("2026-11-27 10:15:00", datetime(2026, 11, 27, 10, 15, tzinfo=SHANGHAI)),  # Coremail
    ("2026-11-27T10:15:00+08:00", datetime(2026, 11, 27, 10, 15, tzinfo=PLUS8)),
    ("Friday, November 27, 2026 10:15 AM", datetime(2026, 11, 27, 10, 15, tzinfo=SHANGHAI)),  # Outlook en
    ("Friday, November 27, 2026 3:15 PM", datetime(2026, 11, 27, 15, 15, tzinfo=SHANGHAI)),
    ("Fri, Nov 27, 2026 at 10:15 AM", datetime(2026, 11, 27, 10, 15, tzinfo=SHANGHAI)),  # Gmail en
    ("Fri, Nov 27, 2026 at 10:15\u202fAM", datetime(2026, 11, 27, 10, 15, tzinfo=SHANGHAI)),  # narrow NBSP
    ("November 27, 2026 at 10:15:00 PM GMT+8", datetime(2026, 11, 27, 22, 15, tzinfo=PLUS8)),  # Apple Mail
    ("27 November 2026 10:15", datetime(2026, 11, 27, 10, 15, tzinfo=SHANGHAI)),
    ("Thursday, 26 November 2026 at 22:15 GMT", datetime(2026, 11, 26, 22, 15, tzinfo=UTC)),
    ("11/27/2026 3:15 PM", datetime(2026, 11, 27, 15, 15, tzinfo=SHANGHAI)),
    ("Fri, 27 Nov 2026 10:15:00 +0800", datetime(2026, 11, 27, 10, 15, tzinfo=PLUS8)),  # Thunderbird en
]


@pytest.mark.parametrize(("text", "expected"), CLIENT_FORMS, ids=[c[0] for c in CLIENT_FORMS])
def test_client_date_forms_give_aware_local_times(text: str, expected: datetime) -> None:
    """Each client's printed time is read as the same instant, aware, local when no zone is given."""
    result = parse_client_date(text, SHANGHAI)
    assert result == expected
    assert result is not None and result.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("text", ["", "garbage", "2026年13月40日 10:15", "明天上午", "Friday at noon"])
def test_unreadable_client_dates_give_none(text: str) -> None:
    """Text that is not a time, or an impossible date, gives None rather than a guess."""
    assert parse_client_date(text, SHANGHAI) is None


def test_rfc5322_date_keeps_its_offset() -> None:
    """A Date header with a numeric zone keeps that zone."""
    result = parse_header_date("Fri, 27 Nov 2026 10:15:00 +0100 (CET)", SHANGHAI)
    assert result == datetime(2026, 11, 27, 10, 15, tzinfo=timezone(timedelta(hours=1)))
    assert result is not None and result.utcoffset() == timedelta(hours=1)


def test_rfc5322_date_without_zone_is_local() -> None:
    """A Date header without any zone is local time in the configured timezone."""
    assert parse_header_date("Fri, 27 Nov 2026 10:15:00", SHANGHAI) == datetime(2026, 11, 27, 10, 15, tzinfo=SHANGHAI)


def test_rfc5322_minus_zero_zone_is_utc() -> None:
    """-0000 means UTC with the sender's zone unknown (RFC 5322 §3.3)."""
    assert parse_header_date("Fri, 27 Nov 2026 10:15:00 -0000", SHANGHAI) == datetime(2026, 11, 27, 10, 15, tzinfo=UTC)


def test_date_header_in_a_client_form_is_still_read() -> None:
    """Some mailers write the Date header as 2026-11-27 10:15:00; it is read as local time."""
    assert parse_header_date("2026-11-27 10:15:00", SHANGHAI) == datetime(2026, 11, 27, 10, 15, tzinfo=SHANGHAI)


def test_bad_date_header_gives_none() -> None:
    """A Date header that is no date gives None."""
    assert parse_header_date("sometime last week", SHANGHAI) is None
    assert parse_header_date(None, SHANGHAI) is None
