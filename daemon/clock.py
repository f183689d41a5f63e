"""The one place the daemon reads the time. Everything below the shell gets `now` passed in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class TimeSource(Protocol):
    """Where the shell reads `now` once per tick: SystemClock, or a test's fixed or stepped time.
    (The procedure's clocks are deadlines: models/policy.py Clock.)"""

    def now(self) -> datetime:
        """Aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
