"""Telephone numbers in complaint text: find them, normalise them to digits.

The register stores a number as digits only, so that the same phone written as "130 6080 9393",
"+86 130-6080-9393" or "１３０６０８０９３９３" is one value:

- a mobile (手机) as its 11 digits: "13060809393";
- a landline (座机, 固话) as the trunk "0", its area code (区号) and the local number:
  "0728-8888 6666" → "072888886666", "+86 27 8888 6666" → "02788886666".

Validation is the `phonenumbers` library's (region CN). It knows the mobile ranges and most area
codes, but rejects some landlines that people do write and dial (an 8-digit local number after
a 4-digit area code such as 0728); those are accepted on shape alone — trunk 0, a 2- or 3-digit
area code, a 7- or 8-digit local number — because a phone someone wrote in a complaint is worth
keeping even when the number plan says it should be shorter. A bare local number without area
code (8888 6666) is no number of ours: without a label it is as likely a date, an amount or an
order number.

Finding is ours, not ``phonenumbers.PhoneNumberMatcher``: the matcher's own patterns are not
known to be linear on hostile text, and candidates here are cheap to find exactly (runs of digits
and the separators people put in numbers), each capped in length, each checked once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

_FULL_WIDTH = str.maketrans("０１２３４５６７８９＋（）－", "0123456789+()-")
# A run of what a written number is made of: digits, "+" and the separators people type between
# groups. Bounded and possessive: each character is read once, a longer run is split into pieces
# of at most 40 characters (no number is that long), and the pieces are examined one by one.
# A run glued to letters or digits before it (an account "wh02788886666") is not a phone.
_RUN = re.compile(r"(?<![0-9A-Za-z])[+(]?[0-9][0-9 \u00a0()\-\u2010-\u2014.]{0,40}+")
_SEPARATORS = re.compile(r"[ \u00a0]+")
_MAX_CANDIDATES = 200  # runs examined per text: a complaint has a handful, a log thousands
_MAX_GROUPS = 6  # space-separated groups one number may be written in: "+86 130 6080 9393"
_MOBILE_STARTS = ("13", "14", "15", "16", "17", "18", "19")  # CN mobiles: 1, then 3–9


@dataclass(frozen=True)
class PhoneMention:
    """One telephone number found in a text: its digits, what kind, and where it was written."""

    number: str  # normalised digits (see the module docstring)
    kind: str  # "mobile" | "landline"
    start: int
    end: int


def normalise(written: str) -> str | None:
    """The digits of one written number, or None when it is no CN mobile or landline."""
    digits = _digits(written)
    if digits is None:
        return None
    mobile = _mobile(digits)
    return mobile if mobile is not None else _landline(digits, written)


def kind_of(number: str) -> str:
    """"mobile" or "landline" for a normalised number."""
    return "landline" if number.startswith("0") else "mobile"


def mentions(text: str) -> list[PhoneMention]:
    """Every CN mobile or landline written in `text`, in order (at most _MAX_CANDIDATES runs read)."""
    found: list[PhoneMention] = []
    for count, run in enumerate(_RUN.finditer(text.translate(_FULL_WIDTH))):
        if count >= _MAX_CANDIDATES:
            break
        found.extend(_numbers_in_run(run.group(0), run.start()))
    return found


def _numbers_in_run(run: str, offset: int) -> list[PhoneMention]:
    """The numbers in one run: the longest readable group of space-separated pieces first,
    so that "130 6080 9393" is one number and "13060809393 13912345678" two."""
    pieces = [(m.start(), m.end()) for m in re.finditer(r"[^ \u00a0]+", run)]
    found: list[PhoneMention] = []
    index = 0
    while index < len(pieces):
        for last in range(min(len(pieces), index + _MAX_GROUPS) - 1, index - 1, -1):
            start, end = pieces[index][0], pieces[last][1]
            written = run[start:end].rstrip("-.(\u2010\u2011\u2012\u2013\u2014")
            number = normalise(written)
            if number is not None:
                found.append(PhoneMention(number, kind_of(number), offset + start, offset + start + len(written)))
                index = last + 1
                break
        else:
            index += 1
    return found


def _digits(written: str) -> str | None:
    """The digits with an international prefix (+86, 0086, 86) made national; None when the
    text has too few or too many digits to be a phone, or other characters in it."""
    written = written.translate(_FULL_WIDTH).strip()
    if not written or len(written) > 40:
        return None
    international = written.startswith(("+", "00"))
    digits = re.sub(r"[^0-9]", "", written)
    if digits.startswith("0086"):
        digits, international = digits[4:], True
    elif digits.startswith("86") and (international or len(digits) in (12, 13)):
        digits, international = digits[2:], True
    if international and not digits.startswith("0") and not (len(digits) == 11 and digits[:2] in _MOBILE_STARTS):
        digits = "0" + digits  # +86 27 … is 027 …, +86 10 … (Beijing) 010 …; +86 139 … a mobile
    return digits if 10 <= len(digits) <= 12 else None


def _mobile(digits: str) -> str | None:
    if len(digits) != 11 or not re.fullmatch(r"1[3-9][0-9]{9}", digits):
        return None
    parsed = phonenumbers.parse(digits, "CN")
    if phonenumbers.number_type(parsed) in (phonenumbers.PhoneNumberType.MOBILE,
                                           phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return digits
    return None


# Trunk 0, then a 2-digit area code (010 Beijing, 02x the big cities) with an 8-digit local
# number, or a 3-digit one (0311 … 0999) with a 7- or 8-digit local number. Local numbers never
# start with 0 or 1.
_LANDLINE_SHAPE = re.compile(r"0(?:(?:10|2[0-9])[2-9][0-9]{7}|[3-9][0-9]{2}[2-9][0-9]{6,7})")


def _landline(digits: str, written: str) -> str | None:
    if not digits.startswith("0") or digits.startswith("00"):
        return None
    if len(re.sub(r"[^0-9]", "", written)) < 10:
        return None
    parsed = phonenumbers.parse(digits, "CN")
    if phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) in (
            phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return "0" + str(parsed.national_number)
    return digits if _LANDLINE_SHAPE.fullmatch(digits) else None
