"""Parse functions for the parse-worker tests, handed to Intake or Parser in place of
parsers.parse (the workers import them by name). Each is parsers.parse except on a marked mail."""

from __future__ import annotations

import os
from dataclasses import replace

from parsers import parse
from parsers.message import ParseContext, ParsedMail

KILL = b"X-Test-Parse: kill\r\n"  # a header: the worker dies on this mail, as on a segfault
RAISE = b"X-Test-Parse: raise\r\n"  # a header: the task raises, which parse() itself never does


def dying_parse(raw: bytes, ctx: ParseContext) -> ParsedMail:
    if KILL in raw:
        os._exit(70)
    if RAISE in raw:
        raise MemoryError("the test's parse ran out of memory")
    return parse(raw, ctx)


def telling_parse(raw: bytes, ctx: ParseContext) -> ParsedMail:
    """The pid of the process that parsed the mail, as its reason."""
    return replace(parse(raw, ctx), reason=str(os.getpid()))
