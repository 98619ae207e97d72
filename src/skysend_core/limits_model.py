"""Per-client protections, the values and pure rules: client identity, the fixed-window
rate limit, the upload quota and the password-attempt lockout (http-api.md §1.8-1.11).

Rules take ``now_ms`` explicitly; nothing here reads a clock or touches storage. The stores
(``skysend_core.ports``) apply the same rules atomically where the data lives; the in-memory
adapters call these functions directly, the SQLite ones spell them in SQL.
"""

from __future__ import annotations

import hmac

import attrs

UNKNOWN_CLIENT = "unknown"

TOO_MANY_REQUESTS = "Too many requests"
QUOTA_EXCEEDED = "Upload quota exceeded"
QUOTA_TOO_SMALL = "File size exceeds remaining quota."
LOCKED = "Too many failed attempts. Try again later."

#: The quota HMAC key is replaced (and all usage forgotten) when it reaches this age.
QUOTA_KEY_MAX_AGE_MS = 24 * 60 * 60 * 1000


def client_ip(
    remote_addr: str | None,
    x_forwarded_for: str | None,
    x_real_ip: str | None,
    trust_proxy: bool,
) -> str:
    """The client address of §1.8. Forwarding headers count only behind a trusted proxy,
    and then only the rightmost ``X-Forwarded-For`` entry (the one the proxy appended);
    a header that is blank after trimming counts as absent."""
    if trust_proxy:
        forwarded = x_forwarded_for.split(",")[-1].strip() if x_forwarded_for else ""
        if forwarded:
            return forwarded
        real = x_real_ip.strip() if x_real_ip else ""
        if real:
            return real
    return remote_addr or UNKNOWN_CLIENT


def hash_ip(key: bytes, ip: str) -> str:
    """``hex(HMAC-SHA256(key, ip))``: the only form in which an address is ever stored."""
    return hmac.digest(key, ip.encode("utf-8"), "sha256").hex()


def retry_after_s(until_ms: int, now_ms: int) -> int:
    """Whole seconds until ``until_ms``, rounded up (``Retry-After``, ``retryAfter``)."""
    return max(0, -((now_ms - until_ms) // 1000))


# -- rate limit (§1.9) ------------------------------------------------------------------


@attrs.frozen
class RateWindow:
    """One client's current window: requests counted so far and when the window ends."""

    count: int
    window_end: int


@attrs.frozen
class RateDecision:
    """The outcome of one counted request, with the values of the ``X-RateLimit-*``
    headers (``reset_ms`` is the window end in Unix milliseconds)."""

    allowed: bool
    limit: int
    remaining: int
    reset_ms: int


def count_request(window: RateWindow | None, now_ms: int, window_ms: int) -> RateWindow:
    """The window after counting one request: a missing or ended window (``now >= end``)
    starts over at ``now``; the request is counted before any limit is checked."""
    if window is None or now_ms >= window.window_end:
        return RateWindow(1, now_ms + window_ms)
    return RateWindow(window.count + 1, window.window_end)


def decide_rate(window: RateWindow, limit: int) -> RateDecision:
    return RateDecision(
        allowed=window.count <= limit,
        limit=limit,
        remaining=max(0, limit - window.count),
        reset_ms=window.window_end,
    )


# -- upload quota (§1.10) ---------------------------------------------------------------


@attrs.frozen
class QuotaUsage:
    """Encrypted bytes stored by one client in its current window."""

    bytes_used: int
    reset_at: int


@attrs.frozen
class QuotaKey:
    """The HMAC key of the quota identities and when it was created (Unix ms)."""

    key: bytes = attrs.field(repr=False)
    created_at: int

    def is_due(self, now_ms: int) -> bool:
        """Whether the key has reached the age at which it is replaced."""
        return now_ms - self.created_at >= QUOTA_KEY_MAX_AGE_MS


@attrs.frozen
class QuotaStatus:
    """``GET /api/quota`` for one client; ``reset_at`` is ``None`` when quotas are off."""

    enabled: bool
    limit: int
    used: int
    reset_at: int | None
    window_s: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


def current_usage(usage: QuotaUsage | None, now_ms: int, window_ms: int) -> QuotaUsage:
    """Get-or-create: a live entry is kept; a missing or ended one (``now >= reset_at``)
    starts over empty with a full window."""
    if usage is not None and now_ms < usage.reset_at:
        return usage
    return QuotaUsage(0, now_ms + window_ms)


def quota_refusal(usage: QuotaUsage, declared: int, limit: int, now_ms: int) -> str | None:
    """Why an upload of ``declared`` bytes may not start, or ``None`` if it may.

    ``QUOTA_EXCEEDED`` when nothing is left; ``QUOTA_TOO_SMALL`` when the declared size
    does not fit. An unknown size (``declared <= 0``) passes while anything is left.
    """
    if usage.bytes_used >= limit:
        return QUOTA_EXCEEDED
    if declared > 0 and usage.bytes_used + declared > limit:
        return QUOTA_TOO_SMALL
    return None


# -- password-attempt lockout (§1.11) ---------------------------------------------------


@attrs.frozen
class LockoutEntry:
    """Failed attempts of one client on one resource; ``locked_until`` once locked."""

    failures: int
    locked_until: int | None = None

    def is_locked(self, now_ms: int) -> bool:
        return self.locked_until is not None and now_ms < self.locked_until

    def lock_ended(self, now_ms: int) -> bool:
        return self.locked_until is not None and now_ms >= self.locked_until


def record_failure(
    entry: LockoutEntry | None, now_ms: int, max_attempts: int, lockout_ms: int
) -> LockoutEntry:
    """The entry after one more failure. A lock that has ended counts as no entry (the
    count restarts); reaching ``max_attempts`` locks until ``now + lockout_ms``."""
    failures = 1 if entry is None or entry.lock_ended(now_ms) else entry.failures + 1
    return LockoutEntry(failures, now_ms + lockout_ms if failures >= max_attempts else None)


def lockout_key(resource: str, hashed_ip: str) -> str:
    """``<resource>:<hashedIp>``, e.g. ``note:<id>:<64 hex>``."""
    return f"{resource}:{hashed_ip}"
