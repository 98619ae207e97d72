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
from skysend_core.ports import QuotaStore, RateLimitStore


def memory_limits(
    settings: Settings,
    clock: ManualClock,
    rates: RateLimitStore | None = None,
    quotas: QuotaStore | None = None,
) -> Limits:
    """``Limits`` on in-memory stores (``rates`` and ``quotas`` replace those stores)."""
    return Limits(
        settings,
        rates if rates is not None else InMemoryRateLimitStore(),
        quotas if quotas is not None else InMemoryQuotaStore(),
        InMemoryLockoutStore(),
        InMemoryClientKeyStore(),
        clock,
    )
