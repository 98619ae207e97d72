"""Clocks: the real one, and a manual one for tests and simulations."""

from __future__ import annotations

import time


class SystemClock:
    """Wall-clock time in Unix milliseconds."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, now_ms: int) -> None:
        self._now = now_ms

    def now_ms(self) -> int:
        return self._now

    def set(self, now_ms: int) -> None:
        self._now = now_ms

    def advance(self, ms: int) -> int:
        """Move forward by ``ms`` and return the new time."""
        self._now += ms
        return self._now
