"""Per-client protections: one facade over the rate-limit, quota, lockout and key stores
(http-api.md §1.8-1.11).

Callers pass the client address (:func:`~skysend_core.limits_model.client_ip`); it is
hashed at once and only the hash reaches a store. Two keys are used:

* the **client key** hashes addresses for rate limits and lockouts. It lives for one
  server lifetime: ``skysend serve`` forgets it (with every window and lockout) before its
  workers start, and the first worker to start stores a new one that all others read.
* the **quota key** is the one of §1.10: persisted, shared, replaced (wiping all usage)
  when it is 24 hours old.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

import attrs

from skysend_core.config import Settings
from skysend_core.errors import InvalidToken, Locked, QuotaExceeded, TooLarge
from skysend_core.limits_model import (
    LOCKED,
    QUOTA_EXCEEDED,
    QuotaKey,
    QuotaStatus,
    RateDecision,
    decide_rate,
    hash_ip,
    lockout_key,
    quota_refusal,
    retry_after_s,
)
from skysend_core.ports import ClientKeyStore, Clock, LockoutStore, QuotaStore, RateLimitStore

KEY_BYTES = 32


@attrs.define
class Limits:
    """The per-client protections of one server. Call :meth:`start` before use."""

    settings: Settings
    rates: RateLimitStore
    quotas: QuotaStore
    lockouts: LockoutStore
    keys: ClientKeyStore
    clock: Clock
    _client_key: bytes | None = attrs.field(default=None, init=False, repr=False)
    _quota_key: QuotaKey | None = attrs.field(default=None, init=False, repr=False)

    async def start(self) -> None:
        """Load (or create) the client key; restore or rotate the quota key."""
        self._client_key = await self.keys.client_key(secrets.token_bytes(KEY_BYTES))
        await self._current_quota_key(self.clock.now_ms())

    async def forget_clients(self) -> None:
        """Begin a new server lifetime: drop the client key, every rate window and every
        lockout. Run it while no worker serves (``skysend serve`` does, before starting
        them); a worker started afterwards creates the new key."""
        await self.keys.forget_client_key()
        await self.rates.forget_all()
        await self.lockouts.forget_all()
        self._client_key = None

    def client_id(self, ip: str) -> str:
        """The address hashed under the client key."""
        if self._client_key is None:
            raise RuntimeError("Limits.start() was not awaited")
        return hash_ip(self._client_key, ip)

    # -- rate limit -----------------------------------------------------------------

    async def hit(self, ip: str) -> RateDecision:
        """Count one request of ``ip``; the decision carries the ``X-RateLimit-*`` values."""
        window = await self.rates.hit(
            self.client_id(ip), self.clock.now_ms(), self.settings.rate_limit_window
        )
        return decide_rate(window, self.settings.rate_limit_max)

    # -- upload quota ---------------------------------------------------------------

    @property
    def quota_enabled(self) -> bool:
        return self.settings.file_upload_quota_bytes > 0

    async def check_quota(self, ip: str, declared: int) -> None:
        """At upload creation: ``QuotaExceeded`` when nothing is left, ``TooLarge`` when
        ``declared`` bytes do not fit (``declared <= 0``: size unknown, not checked)."""
        if not self.quota_enabled:
            return
        now = self.clock.now_ms()
        usage = await self.quotas.usage(await self._quota_id(ip, now), now, self._window_ms)
        refusal = quota_refusal(usage, declared, self.settings.file_upload_quota_bytes, now)
        if refusal == QUOTA_EXCEEDED:
            raise QuotaExceeded(refusal, retry_after_s(usage.reset_at, now))
        if refusal is not None:
            raise TooLarge(refusal)

    async def record_upload(self, ip: str, size: int) -> None:
        """After an upload is stored and its row inserted: count its encrypted size."""
        if not self.quota_enabled:
            return
        now = self.clock.now_ms()
        await self.quotas.add(await self._quota_id(ip, now), size, now, self._window_ms)

    async def quota_status(self, ip: str) -> QuotaStatus:
        """``GET /api/quota``; creates or restarts the caller's entry like a check does."""
        if not self.quota_enabled:
            return QuotaStatus(enabled=False, limit=0, used=0, reset_at=None, window_s=0)
        now = self.clock.now_ms()
        usage = await self.quotas.usage(await self._quota_id(ip, now), now, self._window_ms)
        return QuotaStatus(
            enabled=True,
            limit=self.settings.file_upload_quota_bytes,
            used=usage.bytes_used,
            reset_at=usage.reset_at,
            window_s=self.settings.file_upload_quota_window,
        )

    @property
    def _window_ms(self) -> int:
        return self.settings.file_upload_quota_window * 1000

    async def _quota_id(self, ip: str, now_ms: int) -> str:
        return hash_ip((await self._current_quota_key(now_ms)).key, ip)

    async def _current_quota_key(self, now_ms: int) -> QuotaKey:
        """The cached key while it is not due; otherwise the store's (rotating it if due).
        Every process rotates at the same moment, the key's 24th hour, so a cached key
        that is not due is the stored one."""
        cached = self._quota_key
        if cached is None or cached.is_due(now_ms):
            candidate = QuotaKey(secrets.token_bytes(KEY_BYTES), now_ms)
            cached = self._quota_key = await self.quotas.current_key(candidate, now_ms)
        return cached

    # -- password-attempt lockout ---------------------------------------------------

    @contextlib.asynccontextmanager
    async def password_attempt(self, resource: str, ip: str) -> AsyncIterator[None]:
        """Guard one token check on ``resource`` (``file:<id>`` or ``note:<id>``).

        Refuses with ``Locked`` while the client is locked out of it. The block's
        ``InvalidToken`` (the 401 outcomes) counts as a failure; leaving the block normally
        (the token matched) clears the count; any other error changes nothing.
        """
        key = lockout_key(resource, self.client_id(ip))
        now = self.clock.now_ms()
        until = await self.lockouts.locked_until(key, now)
        if until is not None:
            raise Locked(LOCKED, retry_after_s(until, now))
        try:
            yield
        except InvalidToken:
            await self.lockouts.record_failure(
                key,
                self.clock.now_ms(),
                self.settings.password_max_attempts,
                self.settings.password_lockout_ms,
            )
            raise
        await self.lockouts.reset(key)

    # -- cleanup --------------------------------------------------------------------

    async def purge(self) -> None:
        """The cleanup job's share (storage-and-lifecycle.md §6.2 step 5): ended rate
        windows and locks, ended quota entries, then the quota key if it is due."""
        now = self.clock.now_ms()
        await self.rates.purge(now)
        await self.lockouts.purge(now)
        await self.quotas.purge(now)
        await self._current_quota_key(now)
