"""Waiting for an outcome in tests: poll, never sleep for a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float = 20.0) -> bool:
    """True as soon as `condition()` is; False after `timeout` seconds (which only bounds a
    failing test: a passing one returns at the first success)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False
