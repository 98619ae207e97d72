"""The clocks behind the ``Clock`` port."""

from __future__ import annotations

import time

from skysend_adapters.clock import ManualClock, SystemClock


def test_system_clock_is_unix_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    now = SystemClock().now_ms()
    assert before <= now <= time.time_ns() // 1_000_000


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(1_000)
    assert clock.now_ms() == 1_000
    assert clock.advance(250) == 1_250
    assert clock.now_ms() == 1_250
    clock.set(5)
    assert clock.now_ms() == 5
