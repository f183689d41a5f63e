"""Times as mail headers and mail clients write them → aware datetimes.

RFC 5322 ``Date:`` headers go through the stdlib (``email.utils.parsedate_to_datetime``).
Forward header blocks are another matter: each client prints the original's time in its own,
often localised, form, and no library reads the Chinese ones, so they are matched here:

* ``2026年11月27日(星期五) 上午10:15``   (Foxmail, QQ Mail)
* ``2026年11月27日 星期五 10:15``        (Outlook zh)
* ``2026年11月27日周五 上午10:15``       (Gmail zh)
* ``2026年11月27日 GMT+8 上午10:15:00``  (Apple Mail zh)
* ``2026/11/27 10:15``, ``2026-11-27 10:15:00``  (Coremail, Thunderbird zh)
* ``Friday, November 27, 2026 10:15 AM`` (Outlook en), ``Fri, Nov 27, 2026 at 10:15 AM`` (Gmail en),
  ``November 27, 2026 at 10:15:00 AM GMT+8`` (Apple Mail en), ``27 November 2026 10:15``

A time without a zone is local time in the configured timezone (``ParseContext.timezone``).
Nothing here reads the clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"), ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))

# Chinese day-part words and English AM/PM: how to map a 12-hour clock reading to 0..23.
_MORNING = {"上午", "早上", "早晨", "凌晨", "am", "a.m."}
_AFTERNOON = {"下午", "晚上", "傍晚", "夜里", "夜间", "pm", "p.m."}
_NOON = {"中午"}

_DAY_PART = r"(?P<part>上午|下午|中午|晚上|早上|早晨|凌晨|傍晚|夜里|夜间)?"
_CLOCK = r"(?P<hour>\d{1,2})\s*[:：点時时]\s*(?P<minute>\d{1,2})(?:\s*[:：分]\s*(?P<second>\d{1,2}))?\s*(?:秒)?"
_AMPM = r"(?:\s*(?P<ampm>[AaPp]\.?[Mm]\.?))?"
_ZONE = r"(?:\s*\(?(?P<gmt>GMT|UTC)\s*(?P<zone>[+-]\s*\d{1,2}(?::?\d{2})?)?\)?|\s*(?P<numzone>[+-]\d{2}:?\d{2})(?!\d))?"
_WEEKDAY_ZH = r"(?:\s*[(（]?\s*(?:星期|周|礼拜)[一二三四五六日天]\s*[)）]?)?"

_CHINESE = re.compile(
    r"(?P<year>\d{4})\s*年\s*(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*[日号]"
    + _WEEKDAY_ZH + _ZONE.replace("zone>", "zone1>").replace("gmt>", "gmt1>")
    + r"\s*" + _DAY_PART + r"\s*" + _CLOCK + _AMPM + _ZONE
)
_NUMERIC = re.compile(
    r"(?P<year>\d{4})\s*[-/.]\s*(?P<month>\d{1,2})\s*[-/.]\s*(?P<day>\d{1,2})"
    + r"(?:T|\s*" + _WEEKDAY_ZH + r"\s*)" + _DAY_PART + r"\s*" + _CLOCK + _AMPM + _ZONE
)
_US_NUMERIC = re.compile(
    r"(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4})\s+" + _CLOCK + _AMPM + _ZONE
)
_ENGLISH = re.compile(
    # The weekday starts where a word starts: searched from inside a 100 KB word it read the
    # rest of the word again at every letter (quadratic); and what matched from inside a word
    # also matched from its start, which the search tries first.
    r"(?:(?<![A-Za-z])[A-Za-z]+,?\s+)?"  # weekday
    r"(?:(?P<month>" + _MONTH_NAMES + r")\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?"
    r"|(?P<day2>\d{1,2})\s+(?P<month2>" + _MONTH_NAMES + r")\.?)"
    r",?\s+(?P<year>\d{4}),?\s*(?:at\s+|@\s*)?" + _CLOCK + _AMPM + _ZONE,
    re.IGNORECASE,
)
_NBSP = re.compile(r"[\u00a0\u202f\u2009\u3000]")
# The patterns above see blanks only through "\s", often several in a row with optional parts
# between them ("日" + _WEEKDAY_ZH + _ZONE + "\s*" + _DAY_PART + "\s*"): a long run of blanks would
# be shared out between them in every possible way (cubic: 43 s for "2026-11-27" and 2,000 spaces
# in a forward's Sent: line). One blank per run changes nothing they match.
_BLANK_RUN = re.compile(r"\s+")


def parse_header_date(value: str | None, local: tzinfo) -> datetime | None:
    """The aware time of an RFC 5322 ``Date:`` value, or of a client-written form; None if unreadable."""
    if not value or not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is not None:
        if parsed.tzinfo is None:
            # "-0000" means UTC with the sender's zone unknown; no zone at all means local.
            return parsed.replace(tzinfo=UTC if "-0000" in value else local)
        return parsed
    return parse_client_date(value, local)


def parse_client_date(value: str | None, local: tzinfo) -> datetime | None:
    """The aware time in a forward header line as mail clients print it; None if unreadable."""
    if not value:
        return None
    text = _BLANK_RUN.sub(" ", _NBSP.sub(" ", value).strip())
    for pattern in (_CHINESE, _NUMERIC, _ENGLISH, _US_NUMERIC):
        match = pattern.search(text)
        if match is not None:
            return _build(match, local)
    try:  # some clients copy the RFC 5322 form into the forward block
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=local)


def _build(match: re.Match[str], local: tzinfo) -> datetime | None:
    groups = match.groupdict()
    month_text = groups.get("month") or groups.get("month2") or ""
    month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text.lower().rstrip("."), 0)
    day = int(groups.get("day") or groups.get("day2") or 0)
    hour, minute, second = (int(groups.get(key) or 0) for key in ("hour", "minute", "second"))
    hour = _to_24h(hour, groups.get("part"), groups.get("ampm"))
    try:
        naive = datetime(int(groups["year"]), month, day, hour, minute, second)
    except (TypeError, ValueError):
        return None
    zone = _zone(groups)
    return naive.replace(tzinfo=zone if zone is not None else local)


def _to_24h(hour: int, day_part: str | None, ampm: str | None) -> int:
    marker = (day_part or ampm or "").lower()
    if marker in _MORNING:
        return 0 if hour == 12 else hour
    if marker in _AFTERNOON:
        return hour + 12 if hour < 12 else hour
    if marker in _NOON:
        return hour + 12 if hour < 11 else hour  # 中午1点 is 13:00, 中午12点 is noon
    return hour


def _zone(groups: dict[str, str | None]) -> timezone | None:
    numeric = groups.get("numzone") or groups.get("numzone1")
    gmt = groups.get("zone") or groups.get("zone1")
    text = (numeric or gmt or "").replace(" ", "")
    if not text:
        return UTC if groups.get("gmt") or groups.get("gmt1") else None
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    if len(digits) <= 2:
        hours, minutes = int(digits), 0
    else:
        hours, minutes = int(digits[:-2]), int(digits[-2:])
    if hours > 14 or minutes > 59:
        return None
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
