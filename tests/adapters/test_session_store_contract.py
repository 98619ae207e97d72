"""Contract of ``UploadSessionStore``: every implementation passes the same tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest

from skysend_adapters.memory import InMemoryUploadSessionStore
from skysend_adapters.sqlite import SqliteDatabase, SqliteUploadSessionStore
from skysend_core.errors import StorageError
from skysend_core.ports import UploadSessionStore
from skysend_core.uploads_model import (
    OUT_OF_ORDER_LIMIT,
    SESSION_TTL_MS,
    ChunkDecision,
    ChunkOutcome,
    SessionState,
)
from tests.adapters.factories import MIB, NOW_MS, make_session, new_id


@pytest.fixture(params=["memory", "sqlite"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[UploadSessionStore]:
    if request.param == "memory":
        yield InMemoryUploadSessionStore()
        return
    async with await SqliteDatabase.open(tmp_path / "db" / "skysend.db") as db:
        yield SqliteUploadSessionStore(db)


def key() -> str:
    return uuid.uuid4().hex


@pytest.mark.parametrize(
    ("transport", "has_password"), [("http", False), ("http", True), ("ws", True)]
)
async def test_create_get_round_trip(
    store: UploadSessionStore, transport: str, has_password: bool
) -> None:
    session = make_session(transport=transport, has_password=has_password)
    await store.create(session)
    assert await store.get(session.id) == session
    assert await store.chunks(session.id) == []


async def test_round_trip_of_progress_fields(store: UploadSessionStore) -> None:
    session = attrs.evolve(make_session(), bytes_received=5, first_chunk_at=NOW_MS + 7)
    await store.create(session)
    assert await store.get(session.id) == session


async def test_get_missing_is_none(store: UploadSessionStore) -> None:
    assert await store.get(new_id()) is None


async def test_duplicate_create_is_a_storage_error(store: UploadSessionStore) -> None:
    session = make_session()
    await store.create(session)
    with pytest.raises(StorageError):
        await store.create(session)


async def test_commit_chunk_accepted_updates_the_session(store: UploadSessionStore) -> None:
    session = make_session(content_length=100)
    await store.create(session)
    k1, k0 = key(), key()

    first = await store.commit_chunk(session.id, 1, 30, k1, NOW_MS + 10)
    assert first == ChunkDecision(ChunkOutcome.ACCEPTED, 30, NOW_MS + 10)
    second = await store.commit_chunk(session.id, 0, 50, k0, NOW_MS + 20)
    assert second == ChunkDecision(ChunkOutcome.ACCEPTED, 80, NOW_MS + 10)

    stored = await store.get(session.id)
    assert stored == attrs.evolve(
        session, bytes_received=80, last_activity_at=NOW_MS + 20, first_chunk_at=NOW_MS + 10
    )
    assert await store.chunks(session.id) == [(0, 50, k0), (1, 30, k1)]


async def test_commit_chunk_duplicate(store: UploadSessionStore) -> None:
    session = make_session(content_length=100)
    await store.create(session)
    k = key()
    await store.commit_chunk(session.id, 0, 10, k, NOW_MS + 1)
    decision = await store.commit_chunk(session.id, 0, 10, key(), NOW_MS + 2)
    assert decision.outcome is ChunkOutcome.DUPLICATE
    assert await store.chunks(session.id) == [(0, 10, k)]
    stored = await store.get(session.id)
    assert stored is not None
    assert (stored.bytes_received, stored.last_activity_at) == (10, NOW_MS + 1)


async def test_commit_chunk_overflow_changes_nothing(store: UploadSessionStore) -> None:
    session = make_session(content_length=100)
    await store.create(session)
    await store.commit_chunk(session.id, 0, 60, key(), NOW_MS + 1)
    decision = await store.commit_chunk(session.id, 1, 41, key(), NOW_MS + 2)
    assert decision.outcome is ChunkOutcome.OVERFLOW
    assert [c[0] for c in await store.chunks(session.id)] == [0]
    # Exactly filling the declared length is fine.
    accepted = await store.commit_chunk(session.id, 1, 40, key(), NOW_MS + 3)
    assert accepted.outcome is ChunkOutcome.ACCEPTED


async def test_commit_chunk_out_of_order_limit(store: UploadSessionStore) -> None:
    session = make_session(content_length=200 * MIB)
    await store.create(session)
    # Chunk 0 is missing: everything above it is buffered out of order.
    buffered = await store.commit_chunk(session.id, 1, OUT_OF_ORDER_LIMIT - 1, key(), NOW_MS)
    assert buffered.outcome is ChunkOutcome.ACCEPTED
    decision = await store.commit_chunk(session.id, 2, 2, key(), NOW_MS)
    assert decision.outcome is ChunkOutcome.OUT_OF_ORDER
    fits = await store.commit_chunk(session.id, 2, 1, key(), NOW_MS)
    assert fits.outcome is ChunkOutcome.ACCEPTED
    # The lowest missing index itself is never refused as out of order.
    lowest = await store.commit_chunk(session.id, 0, MIB, key(), NOW_MS)
    assert lowest.outcome is ChunkOutcome.ACCEPTED


async def test_commit_chunk_missing_session(store: UploadSessionStore) -> None:
    decision = await store.commit_chunk(new_id(), 0, 1, key(), NOW_MS)
    assert decision.outcome is ChunkOutcome.NOT_FOUND


async def test_commit_chunk_needs_an_open_http_session(store: UploadSessionStore) -> None:
    ws = make_session(transport="ws")
    finalizing = make_session()
    await store.create(ws)
    await store.create(finalizing)
    assert await store.begin_finalize(finalizing.id, NOW_MS)
    for session in (ws, finalizing):
        decision = await store.commit_chunk(session.id, 0, 1, key(), NOW_MS)
        assert decision.outcome is ChunkOutcome.NOT_FOUND
        assert await store.chunks(session.id) == []


async def test_commit_chunk_on_an_expired_session(store: UploadSessionStore) -> None:
    session = make_session()
    await store.create(session)
    late = NOW_MS + SESSION_TTL_MS + 1
    assert (await store.commit_chunk(session.id, 0, 1, key(), late)).outcome is (
        ChunkOutcome.NOT_FOUND
    )
    just_in_time = NOW_MS + SESSION_TTL_MS
    assert (await store.commit_chunk(session.id, 0, 1, key(), just_in_time)).outcome is (
        ChunkOutcome.ACCEPTED
    )


async def test_concurrent_duplicate_commits_accept_exactly_one(
    store: UploadSessionStore,
) -> None:
    session = make_session(content_length=1000)
    await store.create(session)
    keys = [key() for _ in range(10)]
    decisions = await asyncio.gather(
        *(store.commit_chunk(session.id, 0, 10, k, NOW_MS) for k in keys)
    )
    outcomes = [d.outcome for d in decisions]
    assert outcomes.count(ChunkOutcome.ACCEPTED) == 1
    assert outcomes.count(ChunkOutcome.DUPLICATE) == 9
    winner = keys[outcomes.index(ChunkOutcome.ACCEPTED)]
    assert await store.chunks(session.id) == [(0, 10, winner)]
    stored = await store.get(session.id)
    assert stored is not None
    assert stored.bytes_received == 10


async def test_concurrent_commits_of_different_chunks_all_count(
    store: UploadSessionStore,
) -> None:
    session = make_session(content_length=100)
    await store.create(session)
    decisions = await asyncio.gather(
        *(store.commit_chunk(session.id, i, 10, key(), NOW_MS) for i in range(12))
    )
    outcomes = [d.outcome for d in decisions]
    assert outcomes.count(ChunkOutcome.ACCEPTED) == 10
    assert outcomes.count(ChunkOutcome.OVERFLOW) == 2
    stored = await store.get(session.id)
    assert stored is not None
    assert stored.bytes_received == 100
    assert len(await store.chunks(session.id)) == 10


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_begin_finalize_returns_the_prior_session(
    store: UploadSessionStore, transport: str
) -> None:
    session = make_session(transport=transport)
    await store.create(session)
    assert await store.begin_finalize(session.id, NOW_MS + 5) == session
    current = await store.get(session.id)
    assert current is not None
    assert current.state is SessionState.FINALIZING
    # Finalizing is activity: the session stays alive while it is being assembled.
    assert current.last_activity_at == NOW_MS + 5
    assert await store.begin_finalize(session.id, NOW_MS + 6) is None


async def test_begin_finalize_missing_or_expired(store: UploadSessionStore) -> None:
    assert await store.begin_finalize(new_id(), NOW_MS) is None
    session = make_session()
    await store.create(session)
    assert await store.begin_finalize(session.id, NOW_MS + SESSION_TTL_MS + 1) is None
    current = await store.get(session.id)
    assert current is not None
    assert current.state is SessionState.OPEN


async def test_concurrent_begin_finalize_exactly_once(store: UploadSessionStore) -> None:
    session = make_session()
    await store.create(session)
    results = await asyncio.gather(*(store.begin_finalize(session.id, NOW_MS) for _ in range(10)))
    assert sum(r is not None for r in results) == 1


async def test_delete_removes_session_and_chunks(store: UploadSessionStore) -> None:
    session = make_session()
    other = make_session()
    await store.create(session)
    await store.create(other)
    await store.commit_chunk(session.id, 0, 1, key(), NOW_MS)
    await store.commit_chunk(other.id, 0, 1, key(), NOW_MS)
    await store.delete(session.id)
    assert await store.get(session.id) is None
    assert await store.chunks(session.id) == []
    await store.delete(session.id)  # idempotent
    assert len(await store.chunks(other.id)) == 1
    # The id can be used again afterwards.
    await store.create(session)
    assert await store.chunks(session.id) == []


async def test_expired_ids_after_the_ttl(store: UploadSessionStore) -> None:
    session = make_session()
    later = make_session(now_ms=NOW_MS + 1000)
    await store.create(session)
    await store.create(later)
    assert await store.expired_ids(NOW_MS + SESSION_TTL_MS) == []
    assert await store.expired_ids(NOW_MS + SESSION_TTL_MS + 1) == [session.id]
    assert sorted(await store.expired_ids(NOW_MS + SESSION_TTL_MS + 1001)) == sorted(
        [session.id, later.id]
    )


async def test_activity_postpones_expiry(store: UploadSessionStore) -> None:
    session = make_session()
    await store.create(session)
    await store.commit_chunk(session.id, 0, 1, key(), NOW_MS + 1000)
    assert await store.expired_ids(NOW_MS + SESSION_TTL_MS + 1) == []
    assert await store.expired_ids(NOW_MS + SESSION_TTL_MS + 1001) == [session.id]


async def test_touch_records_streaming_progress(store: UploadSessionStore) -> None:
    session = make_session(transport="ws")
    await store.create(session)
    await store.touch(session.id, 4096, NOW_MS + 60_000)
    await store.touch(session.id, 8192, NOW_MS + 120_000)
    assert await store.get(session.id) == attrs.evolve(
        session,
        bytes_received=8192,
        last_activity_at=NOW_MS + 120_000,
        first_chunk_at=NOW_MS + 60_000,
    )
    assert await store.expired_ids(NOW_MS + SESSION_TTL_MS + 60_001) == []
    await store.touch(new_id(), 1, NOW_MS)  # a vanished session is not an error
