"""Contract of the per-client stores (``RateLimitStore``, ``QuotaStore``, ``LockoutStore``,
``ClientKeyStore``): every implementation passes the same tests. The last section checks
that the SQLite stores stay atomic across separate connections (worker processes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest

from skysend_adapters.mapped_rates import MappedRateLimitStore
from skysend_core.limits_model import QUOTA_KEY_MAX_AGE_MS, LockoutEntry, QuotaKey, QuotaUsage
from skysend_core.ports import ClientKeyStore, LockoutStore, QuotaStore, RateLimitStore
from tests.adapters.factories import NOW_MS

WINDOW = 60_000
QUOTA_WINDOW = 3_600_000
LOCKOUT = 900_000
IP_A = "a" * 64
IP_B = "b" * 64


@attrs.frozen
class Stores:
    rates: RateLimitStore
    quotas: QuotaStore
    lockouts: LockoutStore
    keys: ClientKeyStore


@pytest.fixture(params=["memory", "embedded"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    if request.param == "memory":
        from skysend_adapters.memory import (
            InMemoryClientKeyStore,
            InMemoryLockoutStore,
            InMemoryQuotaStore,
            InMemoryRateLimitStore,
        )

        yield Stores(
            InMemoryRateLimitStore(),
            InMemoryQuotaStore(),
            InMemoryLockoutStore(),
            InMemoryClientKeyStore(),
        )
        return
    from skysend_adapters.sqlite import (
        SqliteClientKeyStore,
        SqliteDatabase,
        SqliteLockoutStore,
        SqliteQuotaStore,
    )

    rates = MappedRateLimitStore.open(tmp_path / "db" / "rate-limits")
    async with await SqliteDatabase.open(tmp_path / "db" / "skysend.db") as db:
        yield Stores(rates, SqliteQuotaStore(db), SqliteLockoutStore(db), SqliteClientKeyStore(db))
    rates.close()


# -- RateLimitStore ------------------------------------------------------------------------


async def test_first_hit_opens_a_window(stores: Stores) -> None:
    window = await stores.rates.hit("k", NOW_MS, WINDOW)
    assert (window.count, window.window_end) == (1, NOW_MS + WINDOW)


async def test_hits_within_the_window_count_up_and_keep_its_end(stores: Stores) -> None:
    await stores.rates.hit("k", NOW_MS, WINDOW)
    second = await stores.rates.hit("k", NOW_MS + 10, WINDOW)
    last = await stores.rates.hit("k", NOW_MS + WINDOW - 1, WINDOW)
    assert (second.count, second.window_end) == (2, NOW_MS + WINDOW)
    assert (last.count, last.window_end) == (3, NOW_MS + WINDOW)


async def test_a_window_ends_at_its_end(stores: Stores) -> None:
    for _ in range(5):
        await stores.rates.hit("k", NOW_MS, WINDOW)
    fresh = await stores.rates.hit("k", NOW_MS + WINDOW, WINDOW)
    assert (fresh.count, fresh.window_end) == (1, NOW_MS + 2 * WINDOW)


async def test_keys_count_separately(stores: Stores) -> None:
    await stores.rates.hit("k1", NOW_MS, WINDOW)
    await stores.rates.hit("k1", NOW_MS, WINDOW)
    assert (await stores.rates.hit("k2", NOW_MS + 5, WINDOW)).count == 1
    assert (await stores.rates.hit("k1", NOW_MS + 5, WINDOW)).count == 3


async def test_purge_removes_ended_windows_only(stores: Stores) -> None:
    await stores.rates.hit("old", NOW_MS, WINDOW)
    await stores.rates.hit("old", NOW_MS, WINDOW)
    await stores.rates.hit("live", NOW_MS + 1, WINDOW)
    await stores.rates.hit("live", NOW_MS + 1, WINDOW)
    assert await stores.rates.purge(NOW_MS + WINDOW) == 1
    assert (await stores.rates.hit("live", NOW_MS + WINDOW, WINDOW)).count == 3
    # A purged window is simply absent: the next hit opens a new one.
    assert (await stores.rates.hit("old", NOW_MS + WINDOW, WINDOW)).count == 1


async def test_forget_all_rate_windows(stores: Stores) -> None:
    await stores.rates.hit("k", NOW_MS, WINDOW)
    await stores.rates.forget_all()
    assert (await stores.rates.hit("k", NOW_MS + 1, WINDOW)).count == 1


async def test_concurrent_hits_each_get_their_own_count(stores: Stores) -> None:
    windows = await asyncio.gather(*(stores.rates.hit("k", NOW_MS, WINDOW) for _ in range(40)))
    assert sorted(w.count for w in windows) == list(range(1, 41))


# -- QuotaStore ----------------------------------------------------------------------------


def quota_key(fill: int, created_at: int = NOW_MS) -> QuotaKey:
    return QuotaKey(bytes([fill]) * 32, created_at)


async def test_the_first_quota_key_is_the_candidate(stores: Stores) -> None:
    assert await stores.quotas.current_key(quota_key(1), NOW_MS) == quota_key(1)


async def test_a_young_quota_key_is_kept(stores: Stores) -> None:
    await stores.quotas.current_key(quota_key(1), NOW_MS)
    later = NOW_MS + QUOTA_KEY_MAX_AGE_MS - 1
    assert await stores.quotas.current_key(quota_key(2, later), later) == quota_key(1)


async def test_a_day_old_quota_key_is_replaced_and_usage_wiped(stores: Stores) -> None:
    await stores.quotas.current_key(quota_key(1), NOW_MS)
    await stores.quotas.add(IP_A, 500, NOW_MS, 10 * QUOTA_KEY_MAX_AGE_MS)
    later = NOW_MS + QUOTA_KEY_MAX_AGE_MS
    assert await stores.quotas.current_key(quota_key(2, later), later) == quota_key(2, later)
    usage = await stores.quotas.usage(IP_A, later, QUOTA_WINDOW)
    assert usage == QuotaUsage(0, later + QUOTA_WINDOW)


async def test_usage_is_created_empty_with_a_full_window(stores: Stores) -> None:
    assert await stores.quotas.usage(IP_A, NOW_MS, QUOTA_WINDOW) == QuotaUsage(
        0, NOW_MS + QUOTA_WINDOW
    )
    # Asking again does not move the window.
    assert await stores.quotas.usage(IP_A, NOW_MS + 5, QUOTA_WINDOW) == QuotaUsage(
        0, NOW_MS + QUOTA_WINDOW
    )


async def test_add_accumulates_within_the_window(stores: Stores) -> None:
    await stores.quotas.add(IP_A, 100, NOW_MS, QUOTA_WINDOW)
    after = await stores.quotas.add(IP_A, 50, NOW_MS + 10, QUOTA_WINDOW)
    assert after == QuotaUsage(150, NOW_MS + QUOTA_WINDOW)
    assert await stores.quotas.usage(IP_B, NOW_MS, QUOTA_WINDOW) == QuotaUsage(
        0, NOW_MS + QUOTA_WINDOW
    )


async def test_an_ended_quota_window_starts_over(stores: Stores) -> None:
    await stores.quotas.add(IP_A, 100, NOW_MS, QUOTA_WINDOW)
    reset = NOW_MS + QUOTA_WINDOW
    assert await stores.quotas.usage(IP_A, reset, QUOTA_WINDOW) == QuotaUsage(
        0, reset + QUOTA_WINDOW
    )
    await stores.quotas.add(IP_B, 100, NOW_MS, QUOTA_WINDOW)
    assert await stores.quotas.add(IP_B, 7, reset, QUOTA_WINDOW) == QuotaUsage(
        7, reset + QUOTA_WINDOW
    )


async def test_quota_purge_removes_entries_reset_before_now(stores: Stores) -> None:
    await stores.quotas.add(IP_A, 1, NOW_MS, QUOTA_WINDOW)
    await stores.quotas.add(IP_B, 1, NOW_MS + 1, QUOTA_WINDOW)
    assert await stores.quotas.purge(NOW_MS + QUOTA_WINDOW) == 0  # reset_at == now stays
    assert await stores.quotas.purge(NOW_MS + QUOTA_WINDOW + 1) == 1
    assert (await stores.quotas.usage(IP_B, NOW_MS + 2, QUOTA_WINDOW)).bytes_used == 1


async def test_concurrent_adds_all_count(stores: Stores) -> None:
    await asyncio.gather(*(stores.quotas.add(IP_A, 10, NOW_MS, QUOTA_WINDOW) for _ in range(30)))
    assert (await stores.quotas.usage(IP_A, NOW_MS, QUOTA_WINDOW)).bytes_used == 300


# -- LockoutStore --------------------------------------------------------------------------


async def fail(stores: Stores, times: int, now: int = NOW_MS, max_attempts: int = 3) -> None:
    for _ in range(times):
        await stores.lockouts.record_failure("r", now, max_attempts, LOCKOUT)


async def test_no_entry_is_not_locked(stores: Stores) -> None:
    assert await stores.lockouts.locked_until("r", NOW_MS) is None


async def test_failures_count_up_and_lock_at_the_maximum(stores: Stores) -> None:
    assert await stores.lockouts.record_failure("r", NOW_MS, 3, LOCKOUT) == LockoutEntry(1)
    assert await stores.lockouts.record_failure("r", NOW_MS, 3, LOCKOUT) == LockoutEntry(2)
    assert await stores.lockouts.locked_until("r", NOW_MS) is None
    third = await stores.lockouts.record_failure("r", NOW_MS + 7, 3, LOCKOUT)
    assert third == LockoutEntry(3, NOW_MS + 7 + LOCKOUT)
    assert await stores.lockouts.locked_until("r", NOW_MS + 7) == NOW_MS + 7 + LOCKOUT
    assert await stores.lockouts.locked_until("r", NOW_MS + 6 + LOCKOUT) == NOW_MS + 7 + LOCKOUT


async def test_one_allowed_attempt_locks_at_the_first_failure(stores: Stores) -> None:
    entry = await stores.lockouts.record_failure("r", NOW_MS, 1, LOCKOUT)
    assert entry == LockoutEntry(1, NOW_MS + LOCKOUT)


async def test_an_ended_lock_is_removed_and_counting_restarts(stores: Stores) -> None:
    await fail(stores, 3)
    assert await stores.lockouts.locked_until("r", NOW_MS + LOCKOUT) is None
    after = await stores.lockouts.record_failure("r", NOW_MS + LOCKOUT, 3, LOCKOUT)
    assert after == LockoutEntry(1)


async def test_a_failure_after_an_ended_lock_restarts_without_a_check(stores: Stores) -> None:
    await fail(stores, 3)
    after = await stores.lockouts.record_failure("r", NOW_MS + LOCKOUT + 1, 3, LOCKOUT)
    assert after == LockoutEntry(1)


async def test_reset_clears_the_count(stores: Stores) -> None:
    await fail(stores, 2)
    await stores.lockouts.reset("r")
    await stores.lockouts.reset("never-seen")  # no entry is fine
    assert await stores.lockouts.record_failure("r", NOW_MS, 3, LOCKOUT) == LockoutEntry(1)


async def test_lockout_keys_are_separate(stores: Stores) -> None:
    await fail(stores, 3)
    assert await stores.lockouts.locked_until("other", NOW_MS) is None
    assert await stores.lockouts.record_failure("other", NOW_MS, 3, LOCKOUT) == LockoutEntry(1)


async def test_lockout_purge_removes_ended_locks_only(stores: Stores) -> None:
    await fail(stores, 3, now=NOW_MS)  # "r": locked until NOW_MS + LOCKOUT
    await stores.lockouts.record_failure("counting", NOW_MS, 3, LOCKOUT)
    for _ in range(3):
        await stores.lockouts.record_failure("later", NOW_MS + 10, 3, LOCKOUT)
    assert await stores.lockouts.purge(NOW_MS + LOCKOUT) == 1
    # A count that never reached the limit does not expire by time.
    assert await stores.lockouts.record_failure("counting", NOW_MS, 3, LOCKOUT) == LockoutEntry(2)
    assert await stores.lockouts.locked_until("later", NOW_MS + LOCKOUT) == NOW_MS + 10 + LOCKOUT


async def test_forget_all_lockouts(stores: Stores) -> None:
    await fail(stores, 3)
    await stores.lockouts.forget_all()
    assert await stores.lockouts.locked_until("r", NOW_MS) is None


async def test_concurrent_failures_all_count(stores: Stores) -> None:
    entries = await asyncio.gather(
        *(stores.lockouts.record_failure("r", NOW_MS, 100, LOCKOUT) for _ in range(20))
    )
    assert sorted(e.failures for e in entries) == list(range(1, 21))


# -- ClientKeyStore ------------------------------------------------------------------------


async def test_the_first_client_key_is_the_candidate_and_stays(stores: Stores) -> None:
    assert await stores.keys.client_key(b"\x01" * 32) == b"\x01" * 32
    assert await stores.keys.client_key(b"\x02" * 32) == b"\x01" * 32


async def test_a_forgotten_client_key_is_replaced(stores: Stores) -> None:
    await stores.keys.client_key(b"\x01" * 32)
    await stores.keys.forget_client_key()
    await stores.keys.forget_client_key()  # idempotent
    assert await stores.keys.client_key(b"\x02" * 32) == b"\x02" * 32


# -- SQLite across connections -------------------------------------------------------------


async def test_sqlite_client_key_is_shared_by_connections(tmp_path: Path) -> None:
    from skysend_adapters.sqlite import SqliteClientKeyStore, SqliteDatabase

    path = tmp_path / "db" / "skysend.db"
    async with await SqliteDatabase.open(path) as first, await SqliteDatabase.open(path) as second:
        a = await SqliteClientKeyStore(first).client_key(b"\x01" * 32)
        b = await SqliteClientKeyStore(second).client_key(b"\x02" * 32)
    assert a == b == b"\x01" * 32


async def test_sqlite_quota_state_uses_the_reference_encoding(tmp_path: Path) -> None:
    from skysend_adapters.sqlite import SqliteDatabase, SqliteQuotaStore

    async with await SqliteDatabase.open(tmp_path / "db" / "skysend.db") as db:
        await SqliteQuotaStore(db).current_key(quota_key(0xAB), NOW_MS)
        rows = await db.run(
            lambda conn: conn.execute("SELECT key, value FROM quota_state ORDER BY key").fetchall()
        )
    assert [tuple(row) for row in rows] == [
        ("hmac_key", "ab" * 32),
        ("key_created_at", str(NOW_MS)),
    ]
