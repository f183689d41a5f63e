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
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic"}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def clock_reads(tree: ast.AST) -> list[str]:
    """Calls like datetime.now() or time.time(): reading the clock instead of being given it."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in CLOCK_CALLS and not node.args:
                found.append(f"line {node.lineno}: .{node.func.attr}()")
    return found


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
    offenders = []
    for path in modules(package):
        offenders += [f"{path.relative_to(ROOT)} {hit}"
                      for hit in clock_reads(ast.parse(path.read_text(encoding="utf-8")))]
    assert not offenders, "\n".join(offenders)

