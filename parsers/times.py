"""Deadlines as people write them (SPEC §4): ``明天18:00``, ``11月28日 下午6点``, ``周五上午``,
``2小时内``, ``tomorrow 6pm``, ISO 8601 → an aware time; None when unreadable.

``read_time(value, tz, now)`` never reads the clock: relative times are resolved against the
``now`` it is given, in the zone ``tz``. ``parsers.commands`` uses it for 预计完成 (a SOLUTION's
``expected_at``).

Also here, because both modules need them: ``SPACES`` (the blanks people type),
``narrow()`` (full-width digits, letters and colons to ASCII) and ``chinese_number()``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo

from parsers.dates import parse_client_date

__all__ = ["SPACES", "chinese_number", "narrow", "read_time"]

# Blanks as they come in mail text: ASCII, the ideographic space, NBSP, zero-width space, BOM.
SPACES = " \t\u3000\u00a0\u200b\ufeff"

_CHINESE_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
                   "六": 6, "七": 7, "八": 8, "九": 9}
_WIDE = str.maketrans("０１２３４５６７８９：　ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ／－",
                      "0123456789: ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz/-")


def narrow(text: str) -> str:
    """`text` with full-width digits, Latin letters, colon, space, slash and dash in ASCII."""
    return text.translate(_WIDE)


def chinese_number(token: str) -> int | None:
    """0–99 in Chinese numerals (三, 十, 十二, 二十, 二十三) or ASCII digits; None otherwise."""
    if token.isascii() and token.isdigit():
        return int(token)
    if not token or len(token) > 3:
        return None
    if "十" not in token:
        return _CHINESE_DIGITS.get(token) if len(token) == 1 else None
    tens, _, ones = token.partition("十")
    tens_value = _CHINESE_DIGITS.get(tens) if tens else 1
    ones_value = _CHINESE_DIGITS.get(ones) if ones else 0
    if tens_value is None or ones_value is None:
        return None
    return tens_value * 10 + ones_value


def read_time(value: str, tz: tzinfo, now: datetime) -> datetime | None:
    """An aware time from how people write a deadline (明天18:00, 11月28日 下午6点, ISO 8601); None if unreadable.

    Relative to ``now`` in ``tz``. A date without a time means the end of that day (23:59), a
    day-part without a time its end (上午 12:00, 下午 18:00, 晚上 23:59); a time without a date the
    next such time (today, or tomorrow when it has passed); 11月28日 without a year the nearest
    such day (a date more than half a year past means next year).
    """
    try:
        found = _read_time(value or "", tz, _local(now, tz))
        return found.astimezone(tz) if found is not None else None
    except OverflowError:  # a date at the calendar's edge (9999-12-31 24:00) moved past it: no time
        return None


_NUMBER = r"(?:[0-9]{1,2}|[零〇一二两三四五六七八九十]{1,3})"
_DAY_OFFSET = {"今天": 0, "今日": 0, "本日": 0, "当天": 0, "today": 0, "tonight": 0, "明天": 1, "明日": 1,
               "tomorrow": 1, "后天": 2, "後天": 2, "大后天": 3}
_DAY_AND_PART = {"今晚": (0, "晚上"), "今夜": (0, "晚上"), "今早": (0, "早上"), "今晨": (0, "早上"),
                 "明晚": (1, "晚上"), "明夜": (1, "晚上"), "明早": (1, "早上"), "明晨": (1, "早上")}
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "7": 6,
             "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5}
_MORNING = {"上午", "早上", "早晨", "凌晨", "早", "am", "a.m.", "a.m"}
_EVENING = {"下午", "傍晚", "晚上", "夜里", "夜间", "晚", "pm", "p.m.", "p.m"}
_PART_END = {"上午": time(12), "早上": time(12), "早晨": time(12), "凌晨": time(6), "早": time(12),
             "中午": time(13), "下午": time(18), "傍晚": time(19), "晚上": time(23, 59), "夜里": time(23, 59),
             "夜间": time(23, 59), "晚": time(23, 59)}
_END_OF_DAY = time(23, 59)
_WEEKDAY_NOTE = r"(?:\s*[(（]?\s*(?:周|星期|礼拜)[一二三四五六日天]\s*[)）]?)?"
_TIME = re.compile(
    r"^(?:(?:"
    r"(?P<day>大后天|后天|後天|明天|明日|今天|今日|本日|当天|today|tomorrow|tonight)"
    r"|(?P<daypart>今晚|今夜|今早|今晨|明晚|明夜|明早|明晨)"
    r"|(?P<week>下下个?|下个?|本|这个?|next|this)?\s*(?:周|星期|礼拜)(?P<weekday>[一二三四五六日天1-7])"
    r"|(?:(?P<year>[0-9]{4})\s*年\s*)?(?P<month>[0-9]{1,2})\s*月\s*(?P<dom>[0-9]{1,2})\s*[日号]?" + _WEEKDAY_NOTE
    + r"|(?P<year2>[0-9]{4})\s*[-/.]\s*(?P<month2>[0-9]{1,2})\s*[-/.]\s*(?P<dom2>[0-9]{1,2})" + _WEEKDAY_NOTE
    + r"|(?P<month3>[0-9]{1,2})\s*[-/]\s*(?P<dom3>[0-9]{1,2})(?![0-9])"
    r")\s*(?:at\s+|t)?)?"
    r"(?P<part>上午|下午|中午|晚上|早上|早晨|凌晨|傍晚|夜里|夜间|晚|早)?\s*"
    r"(?:(?P<hour>" + _NUMBER + r")\s*(?:"
    r"[:：]\s*(?P<minute>[0-9]{2})(?:\s*[:：]\s*[0-9]{2})?"
    r"|[点點时時]\s*(?:(?P<half>半)|(?P<quarter>一刻|三刻)|(?P<minute2>" + _NUMBER + r")\s*分?)?"
    r"|(?=\s*(?:am|pm|a\.m\.?|p\.m\.?)))"
    r"\s*(?P<ampm>am|pm|a\.m\.?|p\.m\.?)?)?$",
    re.IGNORECASE,
)
_RELATIVE = re.compile(
    r"^(?:(?:in|within)\s+)?(?P<n>[0-9]{1,3}|[一二两三四五六七八九十]{1,3}|半)\s*个?\s*"
    r"(?P<unit>小时|钟头|分钟|天|日|hours?|hrs?|h|minutes?|mins?|days?)$",
    re.IGNORECASE,
)
_FILLER_BEFORE = re.compile(r"^(?:于|在|将于|将在|by|before|at|until)\s*", re.IGNORECASE)
# What may follow a time (之前, 左右, 。…): blanks and these marks, and these words. Stripped from
# the end by _without_trailing_filler(); see there why not by a pattern.
_FILLER_MARKS = "。.,，;；!！"
_FILLER_WORDS = ("之前", "以前", "前", "左右", "前后", "为止", "止", "完成", "修复", "解决", "恢复", "处理完毕", "处理完",
                 "完毕", "以内", "之内", "内", "以后", "之后", "后")
_FILLER_BY_FIRST = {first: tuple(w for w in _FILLER_WORDS if w[0] == first) for first in {w[0] for w in _FILLER_WORDS}}
_LONGEST_FILLER = max(map(len, _FILLER_WORDS))
_BLANK_RUN = re.compile(r"\s+")


def _local(now: datetime, tz: tzinfo) -> datetime:
    return now.replace(tzinfo=tz) if now.tzinfo is None else now.astimezone(tz)


def _read_time(value: str, tz: tzinfo, now: datetime) -> datetime | None:
    cleaned = narrow(value).strip(SPACES)
    cleaned = _FILLER_BEFORE.sub("", cleaned)
    trimmed = _without_trailing_filler(cleaned).strip(SPACES)
    if not trimmed:
        return None
    # _RELATIVE and _TIME see blanks only through "\s", in runs like "\s*个?\s*" or "日\s*[(（]?\s*"
    # that share a long run between them in every possible way (cubic); one blank per run
    # changes nothing they match and leaves each of those quantifiers one character to take.
    words = _BLANK_RUN.sub(" ", trimmed)
    relative = _RELATIVE.match(words)
    if relative is not None:
        return _relative(relative, now)
    match = _TIME.match(words)
    if match is not None and any(match.group(key) for key in ("day", "daypart", "weekday", "month", "dom2",
                                                               "month3", "part", "hour")):
        return _build(match, tz, now)
    try:
        iso = datetime.fromisoformat(trimmed)
    except ValueError:
        iso = None
    if iso is not None:
        return iso if iso.tzinfo is not None else iso.replace(tzinfo=tz)
    return parse_client_date(trimmed, tz)


def _without_trailing_filler(text: str) -> str:
    """`text` without the longest end of it that is made of filler only (blanks, marks, words).

    The same as removing a match of "(?:[\\s。.,，;；!！]|之前|…|后)+$", computed from the end: a
    search with that pattern restarts at every character of a long run of filler that does not
    reach the end ("明天18:00。。。…x") and reads the run again each time (quadratic). Here a position
    counts when a mark or word starts there and ends at the end of the text or at a position that
    counts; once no position counts for as long as the longest word, none further left can.
    """
    counts = [False] * len(text) + [True]  # counts[i]: text[i:] is filler only (the end: trivially)
    start = len(text)
    misses = 0
    for position in range(len(text) - 1, -1, -1):
        if misses >= _LONGEST_FILLER:
            break
        char = text[position]
        if ((char.isspace() or char in _FILLER_MARKS) and counts[position + 1]) or any(
            counts[position + len(word)] for word in _FILLER_BY_FIRST.get(char, ()) if text.startswith(word, position)
        ):
            counts[position], start, misses = True, position, 0
        else:
            misses += 1
    return text[:start]


def _relative(match: re.Match[str], now: datetime) -> datetime | None:
    token, unit = match.group("n"), match.group("unit").lower()
    amount = 0.5 if token == "半" else chinese_number(token)
    if amount is None:
        return None
    if unit in ("分钟",) or unit.startswith("min"):
        return now + timedelta(minutes=amount)
    if unit in ("天", "日") or unit.startswith("day"):
        return now + timedelta(days=amount)
    return now + timedelta(hours=amount)


def _build(match: re.Match[str], tz: tzinfo, now: datetime) -> datetime | None:
    groups = match.groupdict()
    part = (groups["part"] or "").lower()
    day = _day(groups, now.date())
    if groups["daypart"]:
        offset, implied_part = _DAY_AND_PART[groups["daypart"]]
        day, part = now.date() + timedelta(days=offset), part or implied_part
    if groups["day"] == "tonight":
        part = part or "晚上"
    if day is None and (groups["month"] or groups["dom2"] or groups["month3"]):
        return None  # a date that does not exist (2月30日)
    clock = _clock(groups, groups["ampm"] or part)
    if clock is None and groups["hour"]:
        return None
    if clock is None:
        end = _PART_END.get(part, _END_OF_DAY)
        return _at(day or now.date(), end, tz)
    hours, minutes = clock
    if day is not None:
        return _at(day, time(0), tz) + timedelta(hours=hours, minutes=minutes)
    result = _at(now.date(), time(0), tz) + timedelta(hours=hours, minutes=minutes)
    return result if result >= now else result + timedelta(days=1)


def _at(day: date, clock: time, tz: tzinfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz)


def _day(groups: dict[str, str | None], today: date) -> date | None:
    if groups["day"]:
        return today + timedelta(days=_DAY_OFFSET[groups["day"].lower()])
    if groups["weekday"]:
        return _weekday(groups["week"] or "", _WEEKDAYS[groups["weekday"]], today)
    year_text = groups["year"] or groups["year2"]
    month_text = groups["month"] or groups["month2"] or groups["month3"]
    dom_text = groups["dom"] or groups["dom2"] or groups["dom3"]
    if not (month_text and dom_text):
        return None
    month, dom = int(month_text), int(dom_text)
    try:
        if year_text:
            return date(int(year_text), month, dom)
        candidate = date(today.year, month, dom)
    except ValueError:
        return None
    if candidate < today - timedelta(days=183):
        try:
            return date(today.year + 1, month, dom)
        except ValueError:
            return None
    return candidate


def _weekday(prefix: str, target: int, today: date) -> date:
    prefix = prefix.lower()
    monday = today - timedelta(days=today.weekday())
    if prefix.startswith("下下"):
        return monday + timedelta(days=14 + target)
    if prefix.startswith(("下", "next")):
        return monday + timedelta(days=7 + target)
    if prefix.startswith(("本", "这", "this")):
        return monday + timedelta(days=target)
    return today + timedelta(days=(target - today.weekday()) % 7)  # 周五: the next Friday, today included


def _clock(groups: dict[str, str | None], marker: str) -> tuple[int, int] | None:
    """(hours 0–24, minutes) of the written clock time, the day-part applied; None if none or invalid."""
    if not groups["hour"]:
        return None
    hour = chinese_number(groups["hour"])
    minute_text = groups["minute"] or groups["minute2"]
    minute = chinese_number(minute_text) if minute_text else 0
    if groups["half"]:
        minute = 30
    elif groups["quarter"]:
        minute = 15 if groups["quarter"] == "一刻" else 45
    if hour is None or minute is None or hour > 24 or minute > 59:
        return None
    marker = marker.lower()
    if marker in _MORNING and hour == 12:
        hour = 0
    elif marker in _EVENING and hour < 12:
        hour += 12
    elif marker in _EVENING and hour == 12 and marker not in ("pm", "p.m.", "p.m", "下午"):
        hour = 24  # 晚上12点: midnight at the end of that day
    elif marker == "中午" and hour < 11:
        hour += 12
    if hour == 24 and minute:
        return None
    return hour, minute
