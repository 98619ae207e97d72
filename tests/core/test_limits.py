"""Per-client protections (http-api.md §1.8-1.11): the pure rules, and the ``Limits``
facade on in-memory stores and a manual clock."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from skysend_adapters.clock import ManualClock
from skysend_adapters.memory import (
    InMemoryBlobStore,
    InMemoryClientKeyStore,
    InMemoryLockoutStore,
    InMemoryQuotaStore,
    InMemoryRateLimitStore,
    InMemoryUploadRepository,
    InMemoryUploadSessionStore,
)
from skysend_core.config import Settings
from skysend_core.errors import (
    Gone,
    InvalidRequest,
    InvalidToken,
    Locked,
    NotFound,
    QuotaExceeded,
    TooLarge,
)
from skysend_core.lifecycle import Cleanup
from skysend_core.limits import Limits
from skysend_core.limits_model import (
    QUOTA_KEY_MAX_AGE_MS,
    RateWindow,
    client_ip,
    count_request,
    decide_rate,
    hash_ip,
    retry_after_s,
)

NOW_MS = 1_800_000_000_250
IP = "203.0.113.5"
OTHER_IP = "198.51.100.7"


def settings(**env: str) -> Settings:
    return Settings.from_env({"BASE_URL": "http://127.0.0.1", **env})


class Server:
    """The shared stores of one server; :meth:`worker` builds a process's facade."""

    def __init__(self, clock: ManualClock, **env: str) -> None:
        self.clock = clock
        self.settings = settings(**env)
        self.rates = InMemoryRateLimitStore()
        self.quotas = InMemoryQuotaStore()
        self.lockouts = InMemoryLockoutStore()
        self.keys = InMemoryClientKeyStore()

    async def worker(self) -> Limits:
        limits = Limits(
            self.settings, self.rates, self.quotas, self.lockouts, self.keys, self.clock
        )
        await limits.start()
        return limits


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW_MS)


# -- client identity ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "forwarded", "real", "trust", "expected"),
    [
        (IP, "1.1.1.1", "2.2.2.2", False, IP),  # headers ignored without a trusted proxy
        (IP, "1.1.1.1, 2.2.2.2 , 3.3.3.3 ", "4.4.4.4", True, "3.3.3.3"),  # rightmost entry
        (IP, "1.1.1.1", None, True, "1.1.1.1"),
        (IP, "1.1.1.1,  ", "4.4.4.4", True, "4.4.4.4"),  # blank last entry: X-Real-IP
        (IP, None, " 4.4.4.4 ", True, "4.4.4.4"),
        (IP, "", "", True, IP),
        (IP, None, None, True, IP),
        ("::ffff:203.0.113.5", None, None, False, "::ffff:203.0.113.5"),  # verbatim
        (None, None, None, False, "unknown"),
        (None, "1.1.1.1", None, False, "unknown"),
    ],
)
def test_client_ip(
    remote: str | None, forwarded: str | None, real: str | None, trust: bool, expected: str
) -> None:
    assert client_ip(remote, forwarded, real, trust) == expected


def test_hash_ip_is_hex_hmac_sha256() -> None:
    key = bytes(range(32))
    digest = hash_ip(key, IP)
    assert digest == hmac.new(key, IP.encode(), hashlib.sha256).hexdigest()
    assert len(digest) == 64
    assert digest == digest.lower()
    assert hash_ip(bytes(32), IP) != digest


@pytest.mark.parametrize(
    ("until", "expected"), [(1, 1), (999, 1), (1000, 1), (1001, 2), (3_600_000, 3600), (0, 0)]
)
def test_retry_after_rounds_up_to_whole_seconds(until: int, expected: int) -> None:
    assert retry_after_s(NOW_MS + until, NOW_MS) == expected


# -- rate limit rules ----------------------------------------------------------------------


def test_count_request_opens_counts_and_restarts_windows() -> None:
    first = count_request(None, NOW_MS, 60_000)
    assert first == RateWindow(1, NOW_MS + 60_000)
    assert count_request(first, NOW_MS + 59_999, 60_000) == RateWindow(2, NOW_MS + 60_000)
    assert count_request(first, NOW_MS + 60_000, 60_000) == RateWindow(1, NOW_MS + 120_000)


def test_decide_rate_refuses_above_the_limit_with_header_values() -> None:
    at_limit = decide_rate(RateWindow(60, NOW_MS), 60)
    assert (at_limit.allowed, at_limit.remaining, at_limit.reset_ms) == (True, 0, NOW_MS)
    over = decide_rate(RateWindow(61, NOW_MS), 60)
    assert (over.allowed, over.limit, over.remaining) == (False, 60, 0)
    assert decide_rate(RateWindow(1, NOW_MS), 60).remaining == 59


# -- rate limiter --------------------------------------------------------------------------


async def test_the_request_after_the_maximum_is_refused(clock: ManualClock) -> None:
    limits = await Server(clock, RATE_LIMIT_MAX="3").worker()
    decisions = [await limits.hit(IP) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert {d.reset_ms for d in decisions} == {NOW_MS + 60_000}
    assert (await limits.hit(OTHER_IP)).allowed


async def test_refused_requests_count_and_a_new_window_starts_fresh(clock: ManualClock) -> None:
    limits = await Server(clock, RATE_LIMIT_MAX="2", RATE_LIMIT_WINDOW="1000").worker()
    for _ in range(5):
        await limits.hit(IP)
    clock.advance(999)
    assert not (await limits.hit(IP)).allowed
    clock.advance(1)
    fresh = await limits.hit(IP)
    assert (fresh.allowed, fresh.remaining, fresh.reset_ms) == (True, 1, clock.now_ms() + 1000)


async def test_workers_share_counters_and_store_only_hashes(clock: ManualClock) -> None:
    server = Server(clock, RATE_LIMIT_MAX="5")
    first, second = await server.worker(), await server.worker()
    assert first.client_id(IP) == second.client_id(IP)
    assert len(first.client_id(IP)) == 64
    await first.hit(IP)
    await second.hit(IP)
    # The store knows the client by its hash only.
    window = await server.rates.hit(first.client_id(IP), clock.now_ms(), 60_000)
    assert window.count == 3


async def test_forgetting_clients_starts_a_new_lifetime(clock: ManualClock) -> None:
    server = Server(clock, RATE_LIMIT_MAX="5")
    old = await server.worker()
    old_id = old.client_id(IP)
    await old.hit(IP)
    await old.forget_clients()
    with pytest.raises(RuntimeError):
        old.client_id(IP)
    new = await server.worker()
    assert new.client_id(IP) != old_id
    assert (await new.hit(IP)).remaining == 4


# -- upload quota --------------------------------------------------------------------------


QUOTA = {"FILE_UPLOAD_QUOTA_BYTES": "1000", "FILE_UPLOAD_QUOTA_WINDOW": "3600"}


async def test_quota_disabled_checks_nothing(clock: ManualClock) -> None:
    limits = await Server(clock).worker()
    await limits.record_upload(IP, 10**12)
    await limits.check_quota(IP, 10**12)
    status = await limits.quota_status(IP)
    assert (status.enabled, status.limit, status.used, status.remaining) == (False, 0, 0, 0)
    assert (status.reset_at, status.window_s) == (None, 0)


async def test_quota_check_refuses_what_does_not_fit(clock: ManualClock) -> None:
    limits = await Server(clock, **QUOTA).worker()
    await limits.check_quota(IP, 1000)
    await limits.record_upload(IP, 600)
    with pytest.raises(TooLarge) as too_large:
        await limits.check_quota(IP, 401)
    assert too_large.value.message == "File size exceeds remaining quota."
    await limits.check_quota(IP, 400)
    await limits.check_quota(IP, 0)  # size unknown: only an exhausted quota refuses
    await limits.check_quota(IP, -5)
    await limits.check_quota(OTHER_IP, 1000)


async def test_an_exhausted_quota_refuses_with_retry_after(clock: ManualClock) -> None:
    limits = await Server(clock, **QUOTA).worker()
    await limits.record_upload(IP, 700)
    clock.advance(1_500)
    await limits.record_upload(IP, 300)  # recorded even past the limit; checked at creation
    clock.advance(1_000)
    with pytest.raises(QuotaExceeded) as exceeded:
        await limits.check_quota(IP, 0)
    assert exceeded.value.message == "Upload quota exceeded"
    assert exceeded.value.retry_after == 3600 - 2  # ceil((reset_at - now) / 1000)
    clock.set(NOW_MS + 3_600_000)
    await limits.check_quota(IP, 1000)


async def test_quota_status_reports_and_creates_the_entry(clock: ManualClock) -> None:
    limits = await Server(clock, **QUOTA).worker()
    fresh = await limits.quota_status(IP)
    assert (fresh.enabled, fresh.limit, fresh.used, fresh.remaining) == (True, 1000, 0, 1000)
    assert (fresh.reset_at, fresh.window_s) == (NOW_MS + 3_600_000, 3600)
    clock.advance(10)
    await limits.record_upload(IP, 1200)
    status = await limits.quota_status(IP)
    assert (status.used, status.remaining, status.reset_at) == (1200, 0, NOW_MS + 3_600_000)


async def test_quota_identity_does_not_depend_on_the_client_key(clock: ManualClock) -> None:
    server = Server(clock, **QUOTA)
    old = await server.worker()
    await old.record_upload(IP, 1000)
    await old.forget_clients()  # a restart keeps quota usage (the quota key persists)
    with pytest.raises(QuotaExceeded):
        await (await server.worker()).check_quota(IP, 1)


async def test_the_quota_key_rotates_daily_and_wipes_usage(clock: ManualClock) -> None:
    server = Server(clock, FILE_UPLOAD_QUOTA_BYTES="1000", FILE_UPLOAD_QUOTA_WINDOW="604800")
    limits = await server.worker()
    await limits.record_upload(IP, 1000)
    clock.advance(QUOTA_KEY_MAX_AGE_MS - 1)
    await limits.purge()
    with pytest.raises(QuotaExceeded):
        await limits.check_quota(IP, 1)
    clock.advance(1)
    await limits.purge()
    await limits.check_quota(IP, 1000)


async def test_a_worker_notices_a_rotation_made_elsewhere(clock: ManualClock) -> None:
    server = Server(clock, FILE_UPLOAD_QUOTA_BYTES="1000", FILE_UPLOAD_QUOTA_WINDOW="604800")
    first, second = await server.worker(), await server.worker()
    await first.record_upload(IP, 1000)
    clock.advance(QUOTA_KEY_MAX_AGE_MS)
    await first.purge()  # rotates
    await second.check_quota(IP, 1000)  # its cached key is due: it reads the new one


# -- password lockout ----------------------------------------------------------------------


LOCKOUT = {"PASSWORD_MAX_ATTEMPTS": "3", "PASSWORD_LOCKOUT_MS": "60000"}


async def attempt(limits: Limits, error: Exception | None, resource: str = "file:x") -> None:
    """One guarded token check that ends with ``error`` (``None``: the token matched)."""
    async with limits.password_attempt(resource, IP):
        if error is not None:
            raise error


async def wrong(limits: Limits, resource: str = "file:x") -> None:
    with pytest.raises(InvalidToken):
        await attempt(limits, InvalidToken("Invalid password"), resource)


async def test_the_attempt_after_the_maximum_is_locked(clock: ManualClock) -> None:
    limits = await Server(clock, **LOCKOUT).worker()
    for _ in range(3):  # the third failure still answers as a wrong token
        await wrong(limits)
    clock.advance(500)
    with pytest.raises(Locked) as locked:
        await attempt(limits, None)
    assert locked.value.message == "Too many failed attempts. Try again later."
    assert locked.value.retry_after == 60  # ceil(59.5)


async def test_a_lock_covers_one_resource_and_one_client(clock: ManualClock) -> None:
    limits = await Server(clock, **LOCKOUT).worker()
    for _ in range(3):
        await wrong(limits, "note:a")
    await attempt(limits, None, "note:b")
    async with limits.password_attempt("note:a", OTHER_IP):
        pass
    with pytest.raises(Locked):
        await attempt(limits, None, "note:a")


async def test_success_resets_the_count(clock: ManualClock) -> None:
    limits = await Server(clock, **LOCKOUT).worker()
    await wrong(limits)
    await wrong(limits)
    await attempt(limits, None)
    await wrong(limits)
    await wrong(limits)
    await attempt(limits, None)  # not locked: the count restarted at the success


@pytest.mark.parametrize(
    "error",
    [
        InvalidRequest("Missing authToken in body"),
        NotFound("Upload not found"),
        Gone("Upload expired", "expired"),
        TooLarge("Request body too large"),
    ],
)
async def test_other_outcomes_neither_count_nor_reset(clock: ManualClock, error: Exception) -> None:
    limits = await Server(clock, **LOCKOUT).worker()
    await wrong(limits)
    await wrong(limits)
    for _ in range(5):
        with pytest.raises(type(error)):
            await attempt(limits, error)
    await wrong(limits)  # the third failure: the count survived the other outcomes
    with pytest.raises(Locked):
        await attempt(limits, None)


async def test_an_ended_lock_restarts_the_count(clock: ManualClock) -> None:
    limits = await Server(clock, **LOCKOUT).worker()
    for _ in range(3):
        await wrong(limits)
    clock.advance(60_000)
    await wrong(limits)
    await wrong(limits)
    await attempt(limits, None)  # two failures since the lock ended: not locked


async def test_workers_share_lockouts(clock: ManualClock) -> None:
    server = Server(clock, **LOCKOUT)
    first, second = await server.worker(), await server.worker()
    await wrong(first)
    await wrong(second)
    await wrong(first)
    with pytest.raises(Locked):
        await attempt(second, None)


# -- cleanup -------------------------------------------------------------------------------


async def test_cleanup_purges_ended_client_entries(clock: ManualClock) -> None:
    server = Server(clock, RATE_LIMIT_MAX="1", **LOCKOUT, **QUOTA)
    limits = await server.worker()
    await limits.hit(IP)
    for _ in range(3):
        await wrong(limits)
    await limits.record_upload(IP, 1)
    cleanup = Cleanup(
        InMemoryUploadRepository(),
        InMemoryUploadSessionStore(),
        InMemoryBlobStore(clock),
        clock,
        limits=limits,
    )
    clock.advance(3_600_001)
    await cleanup.run()
    assert await server.rates.purge(clock.now_ms()) == 0
    assert await server.lockouts.purge(clock.now_ms()) == 0
    assert await server.quotas.purge(clock.now_ms()) == 0
