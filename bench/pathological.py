"""Hostile mail text: the worst parse time per shape of a 100 KB line.

    .venv/bin/python bench/pathological.py [--size 100000] [--limit 0.5] [--shape NAME …]

For each shape (a line of --size characters: spaces, dashes, '>', '*', tabs, '=', '- '
alternating, mixed punctuation and CJK, and a few more the regex audit pointed at), builds
mails that put the line where the parsers look hardest, and times each one:
- forwarded complaint (parsers.parse): the line as the forwarder's note, right under the
  "-----Original Message-----" separator, as the From:, Sent: and Subject: values of the
  forward block, in the original's body, and as a whole "Fw:" body without any block;
- direct complaint from an outsider (parsers.parse): the line alone, as a form value, with
  form lines after it;
- reply to a case mail: parsers.parse, then parsers.replies.new_text on the body and
  parsers.commands.read_commands on the parsed text, together: the line with a command on
  the next line, the line alone without any newline, and after "方案：" and "预计完成：".
A line followed by more text is cut to leave room for it where needed: parse() keeps the first
100,000 characters of a body. Prints the worst time per shape (and where), whether it is under
--limit, and the overall worst. The figures are wall-clock seconds on this machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from parsers import ParseContext, parse  # noqa: E402
from parsers.commands import read_commands  # noqa: E402
from parsers.complaint import MAX_TEXT_CHARS  # noqa: E402
from parsers.replies import new_text  # noqa: E402
from tests.support.hostile import SHAPES  # noqa: E402

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 10, 20, tzinfo=SHANGHAI)
CTX = ParseContext(SHANGHAI, "MT", frozenset({"complaints@corp.example.com"}), "complaintd.corp.example.com")
OUR_ID = "<MT-20261127-0001.ack.0.0123456789abcdef@complaintd.corp.example.com>"
ROOM = 2_000  # characters left for what follows the line in the same body


def _fit(n: int) -> int:
    """A line's length when more text follows it: parse() keeps MAX_TEXT_CHARS of a body."""
    return min(n, MAX_TEXT_CHARS - ROOM)



def _raw(headers: list[str], body: str) -> bytes:
    head = "\r\n".join([*headers, "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                        "Content-Transfer-Encoding: 8bit"])
    return head.encode() + b"\r\n\r\n" + body.encode("utf-8")


def _staff(subject: str, body: str) -> bytes:
    return _raw(["From: 孙工 <sun@corp.example.com>", "To: complaints@corp.example.com",
                 f"Subject: {subject}", "Date: Fri, 27 Nov 2026 10:20:00 +0800",
                 "Message-ID: <fwd-1@corp.example.com>"], body)


def _outsider(body: str) -> bytes:
    return _raw(["From: 李记者 <li.reporter@jcwb.example.cn>", "To: complaints@corp.example.com",
                 "Subject: 小区手机没有信号", "Date: Fri, 27 Nov 2026 10:20:00 +0800",
                 "Message-ID: <direct-1@jcwb.example.cn>"], body)


def _reply(body: str) -> bytes:
    return _raw(["From: 孙工 <sun@corp.example.com>", "To: complaints@corp.example.com",
                 "Subject: 回复: [MT-20261127-0001] 小区手机没有信号", "Date: Fri, 27 Nov 2026 10:25:00 +0800",
                 "Message-ID: <reply-1@corp.example.com>", f"In-Reply-To: {OUR_ID}", f"References: {OUR_ID}"], body)


def _block(sender: str = "李记者 <li.reporter@jcwb.example.cn>", sent: str = "2026年11月27日 10:15",
           subject: str = "小区手机没有信号") -> str:
    return (f"-----Original Message-----\nFrom: {sender}\nSent: {sent}\nTo: kefu@corp.example.com\n"
            f"Subject: {subject}\n\n")


_ORIGINAL = "您好，我是江城晚报记者，小区三天没有手机信号。\n"

# context → (what it is, a mail from a line of n characters of a shape).
Mail = Callable[[Callable[[int], str], int], bytes]
FORWARDED: dict[str, Mail] = {
    "note": lambda s, n: _staff("转发: 小区手机没有信号", s(_fit(n)) + "\n\n" + _block() + _ORIGINAL),
    "under separator": lambda s, n: _staff("转发: 小区手机没有信号", "-----Original Message-----\n" + s(_fit(n))
                                          + "\n" + _block()[len("-----Original Message-----\n"):] + _ORIGINAL),
    "From: value": lambda s, n: _staff("转发: 小区", _block(sender=s(_fit(n))) + _ORIGINAL),
    "Sent: value": lambda s, n: _staff("转发: 小区", _block(sent=s(_fit(n))) + _ORIGINAL),
    "Subject: value": lambda s, n: _staff("转发: 小区", _block(subject=s(_fit(n))) + _ORIGINAL),
    "original body": lambda s, n: _staff("转发: 小区手机没有信号", "请处理。\n\n" + _block() + s(_fit(n)) + "\n"),
    "Fw: body, no block": lambda s, n: _staff("Fw: 小区手机没有信号", s(n)),
}
DIRECT: dict[str, Mail] = {
    "line alone": lambda s, n: _outsider(s(n)),
    "form value": lambda s, n: _outsider("媒体单位：" + s(_fit(n)) + "\n投诉内容：小区没有信号\n"),
    "form after": lambda s, n: _outsider(s(_fit(n)) + "\n媒体单位：江城晚报\n记者：李记者\n投诉内容：小区没有信号\n"),
}
REPLY: dict[str, Callable[[Callable[[int], str], int], str]] = {  # the reply's body text
    "command after": lambda s, n: s(_fit(n)) + "\n收到\n",
    "no newline": lambda s, n: s(n),
    "方案：line": lambda s, n: "方案：" + s(_fit(n)),
    "预计完成：line": lambda s, n: "方案：修复光缆\n预计完成：" + s(_fit(n)),
}


def _parse_time(raw: bytes) -> float:
    """Seconds parsers.parse takes on one mail (built before the clock starts)."""
    started = time.perf_counter()
    parse(raw, CTX)
    return time.perf_counter() - started


def _reply_time(body: str) -> float:
    """Seconds a reply takes: parse, new_text on its body, read_commands on its parsed text."""
    raw = _reply(body)
    started = time.perf_counter()
    parsed = parse(raw, CTX)
    new_text(body)
    read_commands(parsed.text, SHANGHAI, NOW)
    return time.perf_counter() - started


def measure(shape: Callable[[int], str], size: int) -> list[tuple[float, str]]:
    """(seconds, where) for every mail built from one shape."""
    times = [(_parse_time(build(shape, size)), f"forwarded, {where}") for where, build in FORWARDED.items()]
    times += [(_parse_time(build(shape, size)), f"direct, {where}") for where, build in DIRECT.items()]
    times += [(_reply_time(build(shape, size)), f"reply, {where}") for where, build in REPLY.items()]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="characters per hostile line (default 100000)")
    parser.add_argument("--limit", type=float, default=0.5, help="seconds a mail may take (default 0.5)")
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), help="only these shapes")
    args = parser.parse_args()
    mails = len(FORWARDED) + len(DIRECT) + len(REPLY)
    print(f"{args.size:,} characters per line, {mails} mails per shape, limit {args.limit} s per mail")
    overall: tuple[float, str] = (0.0, "")
    for name in args.shape or SHAPES:
        seconds, where = max(measure(SHAPES[name], args.size))
        verdict = "under" if seconds < args.limit else "OVER"
        print(f"{name:26} worst {seconds:7.3f} s  {verdict} {args.limit} s  ({where})", flush=True)
        overall = max(overall, (seconds, f"{name}: {where}"))
    verdict = "under" if overall[0] < args.limit else "OVER"
    print(f"overall worst {overall[0]:.3f} s, {verdict} {args.limit} s ({overall[1]})")


if __name__ == "__main__":
    main()
