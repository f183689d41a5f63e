"""Bytes → text for mail: charset aliases, fallbacks, RFC 2047 headers and RFC 2231 parameters.

Why our own code rather than the stdlib's or mail-parser's decoders:

* Chinese mail lies about its charset. A part labelled ``gb2312`` very often holds GBK-only
  characters (镕, 喆, 堃 …); decoding it as GB2312 fails or, in mail-parser 4.8, silently loses
  the whole body. Every GB label is therefore relabelled to ``gb18030``, a strict superset of
  GB2312 and GBK, before anything decodes it.
* ``email.header.decode_header`` raises on a badly padded base64 word and decodes each encoded
  word on its own, so a GBK character split across two words (Outlook and Foxmail do this)
  becomes two replacement characters. Here adjacent words in one charset are joined as bytes
  first, then decoded once.
* Raw 8-bit headers (no RFC 2047 at all, common from Chinese webmail) arrive from the stdlib
  parser as surrogate escapes; mail-parser decodes them as UTF-8 with ``errors="ignore"`` and so
  drops GBK names. Here the original bytes are recovered and tried as UTF-8, then GB18030.

Every function here is total: it returns text, never raises, and reports a guess it had to make
as a short English ``problem`` string for the event log.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

# Labels that mean "some GB encoding": GB18030 decodes all of them, and more.
_GB_LABELS = frozenset(
    {
        "gb2312", "gb_2312", "gb_2312-80", "gb2312-80", "csgb2312", "euc-cn", "euccn",
        "x-euc-cn", "gbk", "x-gbk", "cp936", "ms936", "windows-936", "chinese", "gb18030",
        "x-gb18030", "iso-ir-58", "csiso58gb231280",
    }
)
# Big5 as written by Taiwan and Hong Kong clients; the HKSCS table is a superset of plain Big5
# for the characters people actually type, and cp950 adds Microsoft's extensions.
_BIG5_LABELS = frozenset({"big5", "big-5", "x-big5", "cn-big5", "csbig5", "big5-hkscs", "big5hkscs", "cp950"})
# Labels Python does not know, or knows under a narrower meaning than mail clients do.
_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "unicode-1-1-utf-7": "utf-7",
    "x-unicode20utf8": "utf-8",
    "utf8": "utf-8",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "iso-8859-8-i": "iso-8859-8",
    "x-mac-roman": "mac_roman",
}
# Western labels: browsers and mail clients treat them as windows-1252, which only adds
# printable characters where ISO-8859-1 has C1 controls.
_WESTERN_LABELS = frozenset({"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "cp819", "windows-1252", "cp1252"})
_ASCII_LABELS = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", "7bit", "8bit"})
# What undeclared or wrongly declared text most probably is, in this company's mail.
FALLBACK_ORDER = ("utf-8", "gb18030")
# Python codecs that call themselves text encodings but are no mail charset: their decoders
# raise on ordinary bytes (idna, punycode, undefined) or read backslashes as escapes.
_NOT_CHARSETS = frozenset({"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape"})
_MAX_LABEL = 40  # IANA charset names are at most 40 characters
# What a decoder may raise on hostile input; the decoders here turn all of it into a guess.
_DECODE_ERRORS = (UnicodeError, LookupError, ValueError, TypeError)


def normalize_label(label: str | None) -> str | None:
    """The Python codec name to use for a MIME charset label, or None when it is unusable.

    A label is sender data: ``zlib``, ``base64`` or ``rot13`` name bytes-to-bytes codecs that
    ``bytes.decode`` refuses, and a NUL makes ``codecs.lookup`` raise ValueError. Only real
    text charsets come back; anything else is None, so the caller falls back to guessing.
    """
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if not (name.isascii() and name.isprintable() and 0 < len(name) <= _MAX_LABEL):
        return None
    if name in _GB_LABELS:
        return "gb18030"
    if name in _BIG5_LABELS:
        return "big5hkscs"
    if name in _WESTERN_LABELS:
        return "cp1252"
    if name in _ASCII_LABELS:
        return "ascii"
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except _DECODE_ERRORS:
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return info.name


def _try_decode(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except _DECODE_ERRORS:
        return None


def _decode_big5(data: bytes) -> str | None:
    """Big5 with HKSCS first, then Microsoft's cp950 for its extension characters."""
    return _try_decode(data, "big5hkscs") or _try_decode(data, "cp950")


def _decode_declared(data: bytes, codec: str) -> str | None:
    if codec == "big5hkscs":
        return _decode_big5(data)
    if codec == "cp1252":
        return _try_decode(data, "cp1252") or data.decode("latin-1")
    return _try_decode(data, codec)


def decode_bytes(data: bytes, label: str | None, what: str = "text") -> tuple[str, str | None]:
    """Decode `data` declared as `label`; return the text and a problem description or None.

    Order: the declared charset (relabelled), then UTF-8, then GB18030, then UTF-8 with a few
    damaged sequences as U+FFFD, then the declared charset or windows-1252 with replacement
    characters. A declared UTF-8 with a few damaged sequences stays UTF-8 before any guess.
    Pure ASCII never needs a guess, unless the declared charset writes text in ASCII bytes
    (ISO-2022-JP, UTF-7).
    """
    codec = normalize_label(label)
    if data.isascii() and not _writes_in_ascii(codec):
        if label and codec is None:
            return data.decode("ascii"), f"{what}: unknown charset {label[:60]!r}; the text is plain ASCII"
        return data.decode("ascii"), None
    if codec is not None and codec != "ascii":
        text = _decode_declared(data, codec)
        if text is not None:
            return text, None
    if codec == "utf-8":
        damaged = _damaged_utf8(data)
        if damaged is not None:
            return damaged[0], f"{what}: {damaged[1]} damaged UTF-8 sequence(s) replaced with U+FFFD"
    for guess in FALLBACK_ORDER:
        if guess == codec:
            continue
        text = _try_decode(data, guess)
        if text is not None:
            return text, _guess_problem(what, label, codec, guess)
    declared = label or "none"
    damaged = _damaged_utf8(data) if codec != "utf-8" else None
    if damaged is not None:  # only now: GB18030 could not read it either
        return damaged[0], (f"{what}: bytes fit no known charset (declared {declared!r}); read as UTF-8 with "
                            f"{damaged[1]} damaged sequence(s) replaced with U+FFFD")
    last_resort = codec if codec not in (None, "ascii") else "cp1252"
    text = _replacing(data, last_resort)
    if text is None:  # a codec whose error handling itself fails: Latin-1 maps every byte
        last_resort, text = "latin-1", data.decode("latin-1")
    return text, f"{what}: bytes fit no known charset (declared {declared!r}); decoded as {last_resort} with replacements"


def _writes_in_ascii(codec: str | None) -> bool:
    """Charsets whose non-ASCII text is ASCII bytes (escape sequences, base64 runs), so an
    ASCII-only payload still needs their decoder: ISO-2022-JP/-KR, UTF-7, HZ."""
    return codec is not None and (codec.startswith("iso2022") or codec in ("utf-7", "hz"))


# A text with at most one damaged sequence per this many other non-ASCII characters is UTF-8
# that lost a byte (a name cut mid-character, a relay's slip). Text in another charset read as
# UTF-8 is damaged at nearly every character: on the corpus' 76 GB, Korean, Japanese and
# Latin-1 text parts, at most 0.3 characters come out whole per damaged sequence.
_DAMAGE_RATIO = 10


def _damaged_utf8(data: bytes) -> tuple[str, int] | None:
    """`data` as UTF-8 with U+FFFD for each damaged sequence, and their number; None when the
    damage is more than a slip."""
    text = data.decode("utf-8", errors="replace")
    damaged = text.count("\ufffd") - data.count("\ufffd".encode("utf-8"))
    non_ascii = len(text) - len(text.encode("ascii", errors="ignore")) - damaged
    return (text, damaged) if 0 < damaged and damaged * _DAMAGE_RATIO <= non_ascii else None


def _replacing(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec, errors="replace")
    except _DECODE_ERRORS:
        return None


def _guess_problem(what: str, label: str | None, codec: str | None, guess: str) -> str:
    if not label:
        return f"{what}: 8-bit bytes without a declared charset; decoded as {guess}"
    if codec is None:
        return f"{what}: unknown or non-text charset {label[:60]!r}; decoded as {guess}"
    return f"{what}: bytes are not valid {label!r}; decoded as {guess}"


def recover_bytes(value: str) -> bytes:
    """The original octets of a header or payload string produced by the stdlib bytes parser.

    The parser maps each non-ASCII octet to a lone surrogate (surrogateescape); ASCII is itself.
    """
    return value.encode("utf-8", "surrogateescape")


_ESCAPED_OCTETS = re.compile("[\udc80-\udcff]+")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """`text` with no lone surrogate left, so that it always encodes as UTF-8.

    Runs of surrogate-escaped octets (what the stdlib bytes parser makes of raw 8-bit bytes)
    are decoded with the usual guesses (UTF-8, GB18030, then replacement); any other lone
    surrogate (UTF-7 and UTF-16 can decode to one) becomes U+FFFD.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    text = _ESCAPED_OCTETS.sub(lambda run: decode_bytes(recover_bytes(run.group()), None)[0], text)
    return _LONE_SURROGATE.sub("\ufffd", text)


def decode_8bit(value: str, what: str = "header") -> tuple[str, str | None]:
    """Turn a parser string that may hold raw 8-bit octets into real text."""
    if value.isascii():
        return value, None
    try:
        data = recover_bytes(value)
    except UnicodeEncodeError:  # already real text (not from the bytes parser)
        return value, None
    return decode_bytes(data, None, what)


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_ONLY_SPACE = re.compile(r"[ \t\r\n]*")


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    try:
        if encoding in "bB":
            payload = payload.rstrip("=")
            payload += "=" * (-len(payload) % 4)
            return base64.b64decode(payload)
        return binascii.a2b_qp(payload.encode("ascii"), header=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def decode_header_text(value: str | None, what: str = "header") -> tuple[str, list[str]]:
    """Decode a raw header value (RFC 2047 words and/or raw 8-bit) into one line of text."""
    if not value:
        return "", []
    problems: list[str] = []
    text, problem = decode_8bit(value, what)
    if problem:
        problems.append(problem)
    if "=?" in text:
        text = _decode_encoded_words(text, what, problems)
    return _one_line(text), problems


def _decode_encoded_words(text: str, what: str, problems: list[str]) -> str:
    """RFC 2047: adjacent words in one charset are joined as bytes before decoding."""
    out: list[str] = []
    run_bytes = b""
    run_label: str | None = None
    position = 0

    def flush() -> None:
        nonlocal run_bytes, run_label
        if run_label is not None:
            decoded, problem = decode_bytes(run_bytes, run_label, what)
            out.append(decoded)
            if problem:
                problems.append(problem)
        run_bytes, run_label = b"", None

    for match in _ENCODED_WORD.finditer(text):
        gap = text[position:match.start()]
        label = match.group(1).split("*", 1)[0]  # RFC 2231 adds "*language"
        data = _word_bytes(match.group(2), match.group(3))
        if data is None:
            problems.append(f"{what}: broken encoded word {match.group(0)[:40]!r} kept as is")
            flush()
            out.append(gap + match.group(0))
        else:
            adjacent = run_label is not None and _ONLY_SPACE.fullmatch(gap) is not None
            same_charset = run_label is not None and label.lower() == run_label.lower()
            if adjacent and same_charset:
                run_bytes += data
            else:
                flush()
                if not adjacent:
                    out.append(gap)
                run_bytes, run_label = data, label
        position = match.end()
    flush()
    out.append(text[position:])
    return "".join(out)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FOLD = re.compile(r"\r?\n[ \t]*")


def _one_line(text: str) -> str:
    return _CONTROL.sub("", _FOLD.sub(" ", text)).strip()


def has_control_chars(text: str) -> bool:
    """True when `text` holds C0 controls other than tab and line breaks (NUL included)."""
    return _CONTROL.search(text) is not None


def clean_text(text: str) -> str:
    """Body text as one normal string: LF line ends, no NULs or other stray control characters."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def decode_param(value: object, what: str = "filename") -> tuple[str, list[str]]:
    """Decode a MIME parameter as returned by ``Message.get_param`` (compat32).

    RFC 2231 values arrive as ``(charset, language, text)`` with the percent-decoded octets
    as Latin-1 characters; anything else is a string that may hold RFC 2047 words (Outlook and
    Foxmail write ``filename="=?gb2312?B?…?="``) or raw 8-bit octets.
    """
    if isinstance(value, tuple):
        charset, _language, raw = value
        try:
            data = str(raw).encode("latin-1", errors="surrogateescape")
        except UnicodeEncodeError:  # not octets after all: keep the characters
            data = str(raw).encode("utf-8", errors="surrogatepass")
        text, problem = decode_bytes(data, charset or "utf-8", what)
        return _one_line(text), [problem] if problem else []
    if value is None:
        return "", []
    return decode_header_text(str(value).strip('"'), what)
