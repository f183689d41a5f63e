"""The import direction of the functional core: daemon → parsers, models; never back.

parsers/ and models/ are pure: no network, no clock, no scheduler, no database session. The
shell (daemon/) is the only place that touches the outside world.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

IO_MODULES = {"daemon", "imapclient", "aiosmtplib", "aiosmtpd", "smtplib", "imaplib", "socket",
              "schedule", "asyncio", "ssl", "subprocess", "requests", "urllib.request", "time"}
FORBIDDEN = {
    "parsers": IO_MODULES | {"models", "sqlmodel", "sqlalchemy"},
    "models": IO_MODULES,
}
# Functions that read the clock, by the qualified name they are imported under.
CLOCK_FUNCTIONS = {
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today", "datetime.date.today",
    "time.time", "time.time_ns", "time.monotonic", "time.monotonic_ns", "time.perf_counter",
    "time.perf_counter_ns",
}
# Whatever the receiver, a method by one of these names reads a clock: the core has no business
# calling one (a Clock passed in, pendulum, arrow …).
CLOCK_METHODS = {"now", "utcnow", "today"}


def modules(package: str, root: Path = ROOT) -> list[Path]:
    return sorted((root / package).rglob("*.py"))


def imported_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def import_aliases(tree: ast.AST) -> dict[str, str]:
    """Local name → the qualified name it was imported as: `import time as t` gives t → time,
    `from datetime import datetime as dt` gives dt → datetime.datetime."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:  # `import a.b` binds a
                    top = alias.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def dotted(node: ast.expr) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"]; None when the chain does not start at a plain name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def clock_reads(tree: ast.AST) -> list[str]:
    """Every use of a clock function (called or handed on, as in default_factory=datetime.now)
    and every call of a method named now/utcnow/today: reading the clock instead of being given it."""
    aliases = import_aliases(tree)
    found: dict[ast.expr, tuple[int, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load):
            parts = dotted(node)
            if parts is not None and parts[0] in aliases:
                qualified = ".".join([aliases[parts[0]], *parts[1:]])
                if qualified in CLOCK_FUNCTIONS:
                    found[node] = (node.lineno, f"line {node.lineno}: {ast.unparse(node)} ({qualified})")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in CLOCK_METHODS and node.func not in found):
            found[node.func] = (node.lineno, f"line {node.lineno}: {ast.unparse(node)}")
    return [text for _, text in sorted(found.values())]


def clock_offenders(package: str, root: Path = ROOT) -> list[str]:
    return [f"{path.relative_to(root)} {hit}"
            for path in modules(package, root)
            for hit in clock_reads(ast.parse(path.read_text(encoding="utf-8")))]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_core_imports_nothing_from_the_shell_or_the_network(package: str) -> None:
    """parsers/ and models/ import neither daemon/ nor any I/O library."""
    offenders = []
    for path in modules(package):
        for name in imported_names(ast.parse(path.read_text(encoding="utf-8"))):
            top = name.split(".")[0]
            if name in FORBIDDEN[package] or top in FORBIDDEN[package]:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_core_never_reads_the_clock(package: str) -> None:
    """`now` is a parameter in the core; only daemon/clock.py reads the time."""
    offenders = clock_offenders(package)
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("source", [
    "from datetime import datetime\ndatetime.now()",
    "from datetime import datetime, timezone\ndatetime.now(timezone.utc)",
    "from datetime import datetime, UTC\ndatetime.now(tz=UTC)",
    "import datetime\ndatetime.datetime.now(datetime.timezone.utc)",
    "from datetime import datetime as dt\ndt.now(tz)",
    "import datetime as d\nd.datetime.utcnow()",
    "from datetime import datetime\ndatetime.utcnow()",
    "from datetime import date\ndate.today()",
    "import datetime\ndatetime.date.today()",
    "import time\ntime.time()",
    "import time as t\nt.time()",
    "from time import time\ntime()",
    "from time import monotonic as tick\ntick()",
    "import time\ntime.monotonic()",
    "from datetime import datetime\nfrom dataclasses import field\nfield(default_factory=datetime.now)",
    "def f(clock):\n    return clock.now()",
    "import pendulum\npendulum.now('Asia/Shanghai')",
])
def test_the_clock_check_catches_every_spelling_of_a_clock_read(source: str) -> None:
    """Aliased imports, a timezone argument, a function handed on uncalled: each is a clock read."""
    assert clock_reads(ast.parse(source))


@pytest.mark.parametrize("source", [
    "def f(now):\n    return now",
    "from datetime import datetime, timezone\ndatetime(2026, 11, 27, tzinfo=timezone.utc)",
    "from datetime import datetime\ndef f(moment: datetime):\n    return moment.time(), moment.date()",
    "from datetime import datetime\ndatetime.fromisoformat('2026-11-27T10:15:00+08:00')",
    "def f(row):\n    return row.time",
])
def test_the_clock_check_leaves_time_given_as_a_value_alone(source: str) -> None:
    """Datetimes passed in, built from literals or parsed from text are values, not clock reads."""
    assert clock_reads(ast.parse(source)) == []


def test_a_planted_clock_read_fails_the_package_check(tmp_path: Path) -> None:
    """A module in a core package that reads the clock through an alias is named with its line."""
    package = tmp_path / "models"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "rules.py").write_text(
        "from datetime import datetime as dt, timezone\n\n\ndef stamp():\n    return dt.now(timezone.utc)\n",
        encoding="utf-8")
    assert clock_offenders("models", root=tmp_path) == [
        "models/rules.py line 5: dt.now (datetime.datetime.now)",
    ]
