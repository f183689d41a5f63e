"""Hostile lines for the pathological-input guards: the tests (tests/unit/test_pathological.py)
and the benchmark (bench/pathological.py) feed the parsers the same shapes."""

from __future__ import annotations

import random
from collections.abc import Callable


def repeat(unit: str) -> Callable[[int], str]:
    return lambda n: (unit * (n // len(unit) + 1))[:n]


MIXED = "-_*=>#|:：，。、；！？…—·「」【】《》 \t投诉媒体记者写道原始邮件发件人预计完成方案收到abcXYZ0123@."


def mixed(n: int) -> str:
    rng = random.Random(10)  # the same line on every run
    return "".join(rng.choice(MIXED) for _ in range(n))


# name → a line of n characters. The first eight are the (its ninth, a line without any
# newline, is the reply "no newline"); the rest came out of the audit, each feeding a pattern
# that was super-linear on it: a separator that fails only at its last character, a word
# without "@" for the address searches, dots for the inline 预计完成, blank lines and rule lines
# for the trailing-rule cut, "From:" lines for the forward-block search, words between blank
# lines for email-forward-parser, a date and blanks for the client-date patterns.
SHAPES: dict[str, Callable[[int], str]] = {
    "spaces": repeat(" "),
    "dashes": repeat("-"),
    "gt": repeat(">"),
    "stars": repeat("*"),
    "tabs": repeat("\t"),
    "equals": repeat("="),
    "dash-space": repeat("- "),
    "mixed-punct-cjk": mixed,
    "dashes-then-word": lambda n: "-" * (n - 1) + "x",
    "spaces-then-word": lambda n: " " * (n - 1) + "x",
    "one-word": repeat("a"),
    "dots": repeat("."),
    "ideographic-full-stops": repeat("。"),
    "blank-lines": repeat("\n"),
    "blank-lines-between-words": lambda n: "x" + "\n" * (n - 2) + "y",
    "rule-lines": repeat("---\n"),
    "from-lines": repeat("From: x\n"),
    "wrote-lines": repeat("On x wrote:\n"),
    "gt-space": repeat("> "),
    "date-then-spaces": lambda n: "2026-11-27" + " " * (n - 11) + "x",
}
