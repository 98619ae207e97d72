"""The file use cases (``Files``) and the cleanup job on in-memory adapters."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator, Iterable, Sequence

import attrs
import pytest

from skysend_adapters.clock import ManualClock
from skysend_adapters.memory import (
    InMemoryBlobStore,
    InMemoryUploadRepository,
    InMemoryUploadSessionStore,
)
from skysend_core import uploads
from skysend_core.config import Settings
from skysend_core.errors import (
    BlobMissing,
    Conflict,
    Gone,
    InvalidRequest,
    InvalidToken,
    NotFound,
    RateLimited,
    StorageError,
    TooLarge,
)
from skysend_core.lifecycle import Cleanup
from skysend_core.ports import BlobLink
from skysend_core.upload_params import parse_upload_params
from skysend_core.uploads import Files
from skysend_core.uploads_model import OUT_OF_ORDER_LIMIT, SESSION_TTL_MS, UploadParams

NOW = 1_800_000_000_000
MIB = 1024 * 1024


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


AUTH, OWNER = b64u(secrets.token_bytes(32)), b64u(secrets.token_bytes(32))


@attrs.define
class World:
    files: Files
    cleanup: Cleanup
    clock: ManualClock
    uploads: InMemoryUploadRepository
    sessions: InMemoryUploadSessionStore
    blobs: InMemoryBlobStore


def world(links_at: str | None = None, **env: str) -> World:
    settings = Settings.from_env({"BASE_URL": "https://send.example", **env})
    clock = ManualClock(NOW)
    uploads, sessions = InMemoryUploadRepository(), InMemoryUploadSessionStore()
    blobs = InMemoryBlobStore(clock, links_at=links_at)
    return World(
        Files(settings, uploads, sessions, blobs, clock),
        Cleanup(uploads, sessions, blobs, clock),
        clock,
        uploads,
        sessions,
        blobs,
    )


def params(w: World, size: int, **extra: str) -> UploadParams:
    raw = {
        "authToken": AUTH,
        "ownerToken": OWNER,
        "salt": b64u(secrets.token_bytes(32)),
        "maxDownloads": "2",
        "expireSec": "3600",
        "contentLength": str(size),
        **extra,
    }
    return parse_upload_params(raw, w.files.settings)


async def stream(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def read_all(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


async def download(w: World, upload_id: str) -> bytes:
    found = await w.files.open_download(upload_id, AUTH)
    try:
        return await read_all(found.source.chunks())
    finally:
        await found.source.aclose()


async def chunked(w: World, pieces: Iterable[tuple[int, bytes]], size: int) -> str:
    session_id = await w.files.init_chunked(params(w, size))
    for index, data in pieces:
        await w.files.append_chunk(session_id, str(index), stream(data))
    return session_id


async def test_single_upload_round_trip_and_expiry_from_completion() -> None:
    w = world()
    body = secrets.token_bytes(5000)
    upload = await w.files.upload(params(w, len(body)), stream(body[:1000], body[1000:]))
    assert upload.size == len(body)
    assert upload.expires_at == (NOW + 3_600_000) // 1000
    assert await download(w, upload.id) == body


@pytest.mark.parametrize("sent", [b"", b"x" * 99, b"x" * 101])
async def test_single_upload_of_the_wrong_length_stores_nothing(sent: bytes) -> None:
    w = world()
    with pytest.raises(InvalidRequest) as caught:
        await w.files.upload(params(w, 100), stream(sent) if sent else stream())
    expected = (
        "Missing request body" if not sent else "Body size does not match declared content length"
    )
    assert caught.value.message == expected
    assert await w.blobs.stale_items(NOW + 1) == []


async def test_chunks_out_of_order_are_assembled_in_index_order() -> None:
    w = world()
    parts = [secrets.token_bytes(n) for n in (300, 100, 200)]
    session_id = await chunked(w, [(2, parts[2]), (0, parts[0]), (1, parts[1])], 600)
    upload = await w.files.finalize(session_id, OWNER)
    assert await download(w, upload.id) == b"".join(parts)
    assert await w.sessions.get(session_id) is None


async def test_repeated_chunk_index_is_refused_and_keeps_the_first() -> None:
    w = world()
    session_id = await chunked(w, [(0, b"a" * 10)], 20)
    with pytest.raises(Conflict, match="Chunk already received"):
        await w.files.append_chunk(session_id, "0", stream(b"b" * 10))
    await w.files.append_chunk(session_id, "1", stream(b"c" * 10))
    upload = await w.files.finalize(session_id, OWNER)
    assert await download(w, upload.id) == b"a" * 10 + b"c" * 10


async def test_overflow_aborts_the_session() -> None:
    w = world()
    session_id = await chunked(w, [(0, b"a" * 10)], 15)
    with pytest.raises(TooLarge, match="Total bytes exceed declared content length"):
        await w.files.append_chunk(session_id, "1", stream(b"b" * 3, b"b" * 3))
    with pytest.raises(NotFound, match="Upload session not found or expired"):
        await w.files.append_chunk(session_id, "1", stream(b"b"))
    assert await w.blobs.stale_items(NOW + 1) == []


@pytest.mark.parametrize("index", [None, "", "-1", "x"])
async def test_bad_chunk_index(index: str | None) -> None:
    w = world()
    session_id = await w.files.init_chunked(params(w, 10))
    with pytest.raises(InvalidRequest, match="Missing or invalid chunk index"):
        await w.files.append_chunk(session_id, index, stream(b"a"))


async def test_chunk_index_is_read_like_parse_int() -> None:
    w = world()
    session_id = await w.files.init_chunked(params(w, 2))
    await w.files.append_chunk(session_id, "1abc", stream(b"b"))
    await w.files.append_chunk(session_id, " 0", stream(b"a"))
    upload = await w.files.finalize(session_id, OWNER)
    assert await download(w, upload.id) == b"ab"


async def test_empty_chunk_is_refused() -> None:
    w = world()
    session_id = await w.files.init_chunked(params(w, 10))
    with pytest.raises(InvalidRequest, match="Missing chunk body"):
        await w.files.append_chunk(session_id, "0", stream())


async def test_out_of_order_buffer_limit() -> None:
    w = world()
    session_id = await w.files.init_chunked(params(w, 200 * MIB))
    await w.files.append_chunk(session_id, "1", stream(b"x" * (OUT_OF_ORDER_LIMIT - 10)))
    with pytest.raises(RateLimited, match="Too many out-of-order chunks buffered"):
        await w.files.append_chunk(session_id, "2", stream(b"x" * 11))
    # In order is always fine, and the refused chunk may come again later.
    await w.files.append_chunk(session_id, "0", stream(b"x" * 11))


async def test_finalize_checks() -> None:
    w = world()
    session_id = await chunked(w, [(0, b"a" * 5), (2, b"c" * 5)], 15)
    with pytest.raises(InvalidToken, match="Invalid or missing owner token"):
        await w.files.finalize(session_id, None)
    with pytest.raises(InvalidToken):
        await w.files.finalize(session_id, AUTH)
    with pytest.raises(InvalidRequest, match="Body size does not match declared content length"):
        await w.files.finalize(session_id, OWNER)
    with pytest.raises(NotFound):
        await w.files.finalize(session_id, OWNER)
    assert await w.blobs.stale_items(NOW + 1) == []


async def test_a_part_lost_on_disk_fails_finalize_cleanly() -> None:
    w = world()
    session_id = await chunked(w, [(0, b"a" * 5), (1, b"b" * 5)], 10)
    # Simulate a part that lost bytes (e.g. to a power failure after it was committed).
    area = w.blobs._parts[session_id]
    key = next(iter(area))
    area[key] = area[key][:2]
    with pytest.raises(StorageError):
        await w.files.finalize(session_id, OWNER)
    assert await w.uploads.get(session_id) is None
    assert await w.blobs.open(session_id) is None
    assert await w.sessions.get(session_id) is None


async def test_streamed_upload_round_trip() -> None:
    w = world()
    session_id = await w.files.start_stream(params(w, 7))
    part = await w.files.write_stream(session_id, stream(b"abc", b"defg"))
    await w.files.record_progress(session_id, part.size)
    upload = await w.files.finish_stream(session_id, part.key, part.size)
    assert upload.id == session_id
    assert upload.size == 7
    assert await download(w, upload.id) == b"abcdefg"
    assert await w.sessions.get(session_id) is None
    assert [item.kind for item in await w.blobs.stale_items(NOW + 1)] == ["blob"]


async def test_streamed_upload_of_the_wrong_length_stores_nothing() -> None:
    w = world()
    session_id = await w.files.start_stream(params(w, 7))
    part = await w.files.write_stream(session_id, stream(b"abc"))
    with pytest.raises(InvalidRequest, match="Body size does not match declared content length"):
        await w.files.finish_stream(session_id, part.key, part.size)
    assert await w.uploads.get(session_id) is None
    assert await w.sessions.get(session_id) is None
    assert await w.blobs.stale_items(NOW + 1) == []
    with pytest.raises(NotFound, match="Upload session not found or expired"):
        await w.files.finish_stream(session_id, part.key, part.size)


async def test_aborted_stream_leaves_nothing() -> None:
    w = world()
    session_id = await w.files.start_stream(params(w, 7))
    await w.files.write_stream(session_id, stream(b"abc"))
    await w.files.abort(session_id)
    await w.files.abort(session_id)  # idempotent
    assert await w.sessions.get(session_id) is None
    assert await w.blobs.stale_items(NOW + 1) == []


async def test_sessions_expire_after_an_idle_hour_not_an_hour_after_init() -> None:
    w = world()
    session_id = await w.files.init_chunked(params(w, 20))
    w.clock.advance(SESSION_TTL_MS - 1)
    await w.files.append_chunk(session_id, "0", stream(b"a" * 10))  # activity
    w.clock.advance(SESSION_TTL_MS - 1)
    await w.files.append_chunk(session_id, "1", stream(b"b" * 10))
    w.clock.advance(SESSION_TTL_MS + 1)
    with pytest.raises(NotFound):
        await w.files.finalize(session_id, OWNER)
    report = await w.cleanup.run()
    assert report.sessions == 1
    assert await w.blobs.stale_items(w.clock.now_ms() + 1) == []


async def test_speed_limit_delays_chunk_answers() -> None:
    w = world(FILE_UPLOAD_SPEED_LIMIT="1000")
    session_id = await w.files.init_chunked(params(w, 4000))
    first = await w.files.append_chunk(session_id, "0", stream(b"a" * 2000))
    assert first.delay_s == pytest.approx(2.0)
    w.clock.advance(1500)
    second = await w.files.append_chunk(session_id, "1", stream(b"a" * 1000))
    assert second.delay_s == pytest.approx(1.5)


async def test_download_counts_exactly_up_to_the_limit() -> None:
    w = world()
    upload = await w.files.upload(params(w, 3), stream(b"abc"))
    assert await download(w, upload.id) == b"abc"
    assert await download(w, upload.id) == b"abc"
    with pytest.raises(Gone, match="Download limit reached"):
        await w.files.open_download(upload.id, AUTH)
    assert (await w.uploads.get(upload.id)).download_count == 2  # type: ignore[union-attr]


async def test_a_store_that_hands_out_links_gives_counted_links() -> None:
    """Object storage: the download is a link the client fetches itself, counted exactly
    like a streamed one, and a missing blob uses up no download."""
    w = world(links_at="https://bucket.example/")
    upload = await w.files.upload(params(w, 3), stream(b"abc"))
    for _ in range(2):
        found = await w.files.open_download(upload.id, AUTH)
        assert found.source == BlobLink(f"https://bucket.example/{upload.id}.bin", 3)
    with pytest.raises(Gone, match="Download limit reached"):
        await w.files.open_download(upload.id, AUTH)
    other = await w.files.upload(params(w, 3), stream(b"xyz"))
    await w.blobs.delete(other.id)
    with pytest.raises(BlobMissing, match="File not found on disk"):
        await w.files.open_download(other.id, AUTH)
    assert (await w.uploads.get(other.id)).download_count == 0  # type: ignore[union-attr]


async def test_download_checks_token_before_availability() -> None:
    w = world()
    upload = await w.files.upload(params(w, 3), stream(b"abc"))
    with pytest.raises(InvalidToken, match="Invalid or missing auth token"):
        await w.files.open_download(upload.id, None)
    with pytest.raises(InvalidToken):
        await w.files.open_download(upload.id, OWNER)
    with pytest.raises(NotFound, match="Upload not found"):
        await w.files.open_download("../../etc/passwd", AUTH)
    w.clock.advance(3_600_000)
    with pytest.raises(Gone, match="Upload has expired"):
        await w.files.open_download(upload.id, AUTH)


async def test_cleanup_removes_expired_uploads_row_first_then_blob() -> None:
    w = world()
    kept = await w.files.upload(params(w, 3), stream(b"abc"))
    w.clock.advance(1000)
    gone = await w.files.upload(params(w, 3, expireSec="300"), stream(b"xyz"))
    w.clock.advance(300_000)
    report = await w.cleanup.run()
    assert report.uploads == 1
    assert await w.uploads.get(gone.id) is None
    assert await w.blobs.open(gone.id) is None
    assert await w.uploads.get(kept.id) is not None


async def test_orphan_sweep_only_takes_old_unowned_items() -> None:
    w = world()
    upload = await w.files.upload(params(w, 3), stream(b"abc"))
    orphan = "0" * 8 + "-0000-4000-8000-" + "0" * 12
    await w.blobs.write(orphan, stream(b"lost"))
    live = await w.files.init_chunked(params(w, 10))
    await w.files.append_chunk(live, "0", stream(b"a"))
    assert await w.cleanup.sweep_orphans(w.clock.now_ms()) == 0  # too young
    w.clock.advance(SESSION_TTL_MS + 1)
    assert await w.cleanup.sweep_orphans(w.clock.now_ms()) == 2  # the blob and the idle area
    assert await w.blobs.open(orphan) is None
    assert await w.blobs.open(upload.id) is not None


async def test_metadata_is_set_once() -> None:
    w = world()
    upload = await w.files.upload(params(w, 3), stream(b"abc"))
    body = b'{"encryptedMeta":"AAEC","nonce":"AAECAwQFBgcICQoL"}'
    await w.files.set_metadata(upload.id, OWNER, body)
    with pytest.raises(Conflict, match="Metadata already set"):
        await w.files.set_metadata(upload.id, OWNER, body)
    stored = await w.uploads.get(upload.id)
    assert stored is not None
    assert stored.encrypted_meta == b"\x00\x01\x02"


async def test_delete_needs_the_owner_token_and_removes_everything() -> None:
    w = world()
    upload = await w.files.upload(params(w, 3), stream(b"abc"))
    with pytest.raises(InvalidToken):
        await w.files.delete(upload.id, AUTH)
    await w.files.delete(upload.id, OWNER)
    with pytest.raises(NotFound):
        await w.files.info(upload.id)
    assert await w.blobs.open(upload.id) is None


class FailingDiscard(InMemoryBlobStore):
    """A store whose removal of a session's partial data fails (an S3 listing error)."""

    async def discard_parts(self, session_id: str, part_keys: Sequence[str] | None = None) -> None:
        raise StorageError("object storage error (ListMultipartUploads): SlowDown")


def failing_world() -> World:
    w = world()
    w.blobs = FailingDiscard(w.clock)
    w.files.blobs = w.blobs
    return w


async def test_a_completed_finalize_succeeds_when_the_cleanup_after_it_fails() -> None:
    """The row and blob exist: a failing removal of the partial data is left to the
    orphan sweep instead of failing the request (storage-and-lifecycle.md §6)."""
    w = failing_world()
    session_id = await chunked(w, [(0, b"a" * 5), (1, b"b" * 5)], 10)
    upload = await w.files.finalize(session_id, OWNER)
    assert upload.id == session_id
    assert await w.uploads.get(session_id) is not None
    assert await w.sessions.get(session_id) is None
    assert await download(w, session_id) == b"a" * 5 + b"b" * 5

    stream_id = await w.files.start_stream(params(w, 4))
    part = await w.files.write_stream(stream_id, stream(b"data"))
    assert (await w.files.finish_stream(stream_id, part.key, part.size)).id == stream_id


async def test_a_failing_cleanup_does_not_replace_the_error_being_answered() -> None:
    w = failing_world()
    session_id = await chunked(w, [(0, b"a" * 5)], 10)
    with pytest.raises(TooLarge):
        await w.files.append_chunk(session_id, "1", stream(b"b" * 6))
    assert await w.sessions.get(session_id) is None
    session_id = await chunked(w, [(0, b"a" * 5)], 10)
    with pytest.raises(TooLarge):
        await w.files.append_chunk(session_id, "1", stream(b"b" * 6), announced=6)
    session_id = await chunked(w, [(0, b"a" * 5)], 10)
    with pytest.raises(InvalidRequest, match="Body size does not match"):
        await w.files.finalize(session_id, OWNER)
    assert await w.sessions.get(session_id) is None
    stream_id = await w.files.start_stream(params(w, 10))
    part = await w.files.write_stream(stream_id, stream(b"data"))
    with pytest.raises(InvalidRequest, match="Body size does not match"):
        await w.files.finish_stream(stream_id, part.key, part.size)


class HeldAssembly(InMemoryBlobStore):
    """Assembly that waits until released (a large blob on its way to object storage)."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def assemble(self, session_id: str, part_keys: Sequence[str], blob_id: str) -> int:
        self.started.set()
        await self.release.wait()
        return await super().assemble(session_id, part_keys, blob_id)


async def touched_since(w: World, session_id: str, now_ms: int) -> bool:
    session = await w.sessions.get(session_id)
    return session is not None and session.last_activity_at >= now_ms


async def test_a_long_assembly_keeps_its_session_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "ASSEMBLY_TOUCH_S", 0.01)
    w = world()
    blobs = HeldAssembly(w.clock)
    files = Files(w.files.settings, w.uploads, w.sessions, blobs, w.clock)
    cleanup = Cleanup(w.uploads, w.sessions, blobs, w.clock)
    session_id = await files.init_chunked(params(w, 10))
    await files.append_chunk(session_id, "0", stream(b"a" * 10))
    finalizing = asyncio.create_task(files.finalize(session_id, OWNER))
    await blobs.started.wait()
    w.clock.advance(SESSION_TTL_MS + 1)  # an assembly longer than the session's TTL
    async with asyncio.timeout(5):
        while not await touched_since(w, session_id, w.clock.now_ms()):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    await cleanup.run()
    assert await w.sessions.get(session_id) is not None
    blobs.release.set()
    upload = await finalizing
    assert upload.size == 10
