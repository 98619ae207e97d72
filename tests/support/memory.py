"""In-memory wiring shared by tests that drive the core or the gateway without storage."""

from __future__ import annotations

from skysend_adapters.clock import ManualClock
from skysend_adapters.memory import (
    InMemoryClientKeyStore,
    InMemoryLockoutStore,
    InMemoryQuotaStore,
    InMemoryRateLimitStore,
)
from skysend_core.config import Settings
from skysend_core.limits import Limits
from skysend_core.ports import RateLimitStore


def memory_limits(
    settings: Settings, clock: ManualClock, rates: RateLimitStore | None = None
) -> Limits:
    """``Limits`` on in-memory stores (``rates`` replaces the rate-limit store)."""
    return Limits(
        settings,
        rates if rates is not None else InMemoryRateLimitStore(),
        InMemoryQuotaStore(),
        InMemoryLockoutStore(),
        InMemoryClientKeyStore(),
        clock,
    )
