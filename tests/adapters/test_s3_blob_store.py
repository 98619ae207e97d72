"""What the S3 store does beyond the BlobStore contract (storage-and-lifecycle.md §3.2),
against a real S3-compatible server: multipart uploads with bounded parts in flight, no
optional checksums, nothing visible before completion, presigned links, the start-up check
and what the orphan sweep finds in the bucket."""

from __future__ import annotations

import asyncio
import inspect
import io
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiobotocore.session import get_session
from botocore.exceptions import EndpointConnectionError

from skysend_adapters.clock import SystemClock
from skysend_adapters.memory import InMemoryUploadRepository, InMemoryUploadSessionStore
from skysend_adapters.s3 import CONNECTIVITY_KEY, S3BlobStore, client_options
from skysend_core.config import Settings
from skysend_core.errors import InvalidRequest, StorageError
from skysend_core.lifecycle import Cleanup
from skysend_core.ports import BlobLink, StaleItem
from skysend_core.upload_params import parse_upload_params
from skysend_core.uploads import Files
from skysend_core.uploads_model import Upload
from tests.adapters.factories import MIB, new_id, s3_store
from tests.support.files_api import b64url
from tests.support.s3 import Bucket, S3Server

PART = 5 * MIB


@pytest.fixture
async def s3(s3_server: S3Server, tmp_path: Path) -> AsyncIterator[tuple[S3BlobStore, Bucket]]:
    async with s3_store(s3_server, tmp_path / "uploads", part_size=PART, concurrency=2) as pair:
        yield pair


class Traffic:
    """Requests the store's client sends, seen through botocore's own event hooks."""

    def __init__(self, store: S3BlobStore) -> None:
        self.headers: list[dict[str, str]] = []
        self.in_flight = self.most_in_flight = 0
        events = store._client.meta.events
        events.register("before-send.s3", self._sent)
        events.register("before-call.s3.UploadPart", self._part_started)
        events.register("after-call.s3.UploadPart", self._part_done)

    def _sent(self, request: Any, **_: Any) -> None:
        self.headers.append({k.lower(): v for k, v in request.headers.items()})

    def _part_started(self, **_: Any) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def _part_done(self, **_: Any) -> None:
        self.in_flight -= 1


async def metered(data: bytes, read: list[int]) -> AsyncIterator[bytes]:
    """``data`` in 256 KiB pieces, recording how much the store has taken."""
    for offset in range(0, len(data), 256 * 1024):
        await asyncio.sleep(0)
        piece = data[offset : offset + 256 * 1024]
        read.append(len(piece))
        yield piece


async def test_large_blobs_go_as_multipart_uploads_with_bounded_parts_in_flight(
    s3: tuple[S3BlobStore, Bucket],
) -> None:
    store, bucket = s3
    traffic = Traffic(store)
    data = os.urandom(6 * PART + 123)
    taken: list[int] = []
    sent_parts: list[int] = []

    def part_started(**_: Any) -> None:
        # Bytes taken from the source but not yet in a finished part: at most the parts
        # in flight and the one being filled.
        sent_parts.append(sum(taken))

    store._client.meta.events.register("before-call.s3.UploadPart", part_started)
    blob_id = new_id()
    assert await store.write(blob_id, metered(data, taken)) == len(data)
    assert bucket.read(f"{blob_id}.bin") == data
    head = bucket.client.head_object(Bucket=bucket.name, Key=f"{blob_id}.bin")
    assert head["ETag"].endswith('-7"')  # seven parts
    assert traffic.most_in_flight == 2
    for number, taken_then in enumerate(sent_parts, start=1):
        assert taken_then <= (number + 1) * PART  # never more than one part ahead
    assert bucket.uploads() == []


async def test_no_optional_checksums_are_sent(s3: tuple[S3BlobStore, Bucket]) -> None:
    store, _ = s3
    traffic = Traffic(store)
    await store.write(new_id(), metered(os.urandom(2 * PART + 1), []))
    await store.write(new_id(), metered(b"small", []))
    assert len(traffic.headers) >= 5  # create, three parts, complete, put
    for headers in traffic.headers:
        assert not [name for name in headers if name.startswith("x-amz-checksum")]
        assert "x-amz-sdk-checksum-algorithm" not in headers


async def test_an_object_is_invisible_until_complete_and_a_failed_write_aborts(
    s3: tuple[S3BlobStore, Bucket],
) -> None:
    store, bucket = s3
    blob_id = new_id()
    halfway = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield os.urandom(3 * PART)  # two parts sent, a third being filled
        halfway.set()
        await asyncio.Event().wait()
        yield b"never"

    writing = asyncio.ensure_future(store.write(blob_id, stalls()))
    await halfway.wait()
    await asyncio.sleep(0.3)
    assert bucket.uploads() == [f"{blob_id}.bin"]  # a multipart upload under way
    assert bucket.objects() == []
    assert await store.open(blob_id) is None
    assert await store.locate(blob_id) is None
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    assert bucket.uploads() == []
    assert bucket.objects() == []


async def test_locate_answers_a_presigned_get(s3: tuple[S3BlobStore, Bucket]) -> None:
    store, _ = s3
    blob_id = new_id()
    data = os.urandom(PART + 17)
    await store.write(blob_id, metered(data, []))
    link = await store.locate(blob_id)
    assert isinstance(link, BlobLink)
    assert link.size == len(data)
    assert "X-Amz-Expires=300" in link.url
    async with httpx.AsyncClient() as http:
        response = await http.get(link.url)
    assert response.content == data
    assert await store.locate(new_id()) is None
    assert await store.locate("../" + blob_id) is None


async def test_verify_checks_the_bucket_and_leaves_nothing(
    s3: tuple[S3BlobStore, Bucket], s3_server: S3Server, tmp_path: Path
) -> None:
    store, bucket = s3
    await store.verify()
    assert bucket.objects() == []
    bucket.client.delete_bucket(Bucket=bucket.name)
    with pytest.raises(StorageError, match=f"S3 bucket '{bucket.name}' is not usable.*HeadBucket"):
        await store.verify()


async def test_stale_items_in_the_bucket(s3: tuple[S3BlobStore, Bucket]) -> None:
    """``<id>.bin`` objects are blobs; unfinished multipart uploads are a session's
    leftovers, which ``discard_parts`` aborts; other keys are not ours."""
    store, bucket = s3
    blob_id, abandoned = new_id(), new_id()
    await store.write(blob_id, metered(b"blob", []))
    bucket.put(CONNECTIVITY_KEY, b"ok")
    bucket.put("notes/readme.txt", b"not ours")
    bucket.put(f"{new_id()}.bin.old", b"not ours either")
    started = bucket.client.create_multipart_upload(Bucket=bucket.name, Key=f"{abandoned}.bin")
    bucket.client.upload_part(
        Bucket=bucket.name,
        Key=f"{abandoned}.bin",
        UploadId=started["UploadId"],
        PartNumber=1,
        Body=b"x",
    )
    now_ms = time.time_ns() // 1_000_000
    assert await store.stale_items(now_ms - 60_000) == []
    assert await store.stale_items(now_ms + 60_000) == [
        StaleItem("blob", blob_id),
        StaleItem("session", abandoned),
    ]
    await store.discard_parts(abandoned)
    assert bucket.uploads() == []
    assert await store.stale_items(now_ms + 60_000) == [StaleItem("blob", blob_id)]


async def test_a_crash_during_assembly_leaves_leftovers_the_sweep_finds(
    s3: tuple[S3BlobStore, Bucket], tmp_path: Path
) -> None:
    """The parts joined on disk but never sent (a crash): reported as the session's, and
    removed with its parts."""
    store, bucket = s3
    session_id = new_id()
    part = await store.write_part(session_id, metered(b"chunk", []), 0)
    reader = await store._staging.join_parts(session_id, [part.key])  # assemble's first step
    await reader.aclose()
    assert not (tmp_path / "uploads" / f"{session_id}.bin").exists()
    joined = tmp_path / "uploads" / ".partial" / session_id / ".joined"
    assert not joined.exists()  # unlinked once open
    joined.write_bytes(b"chunk")  # what a crash while joining leaves
    now_ms = time.time_ns() // 1_000_000
    assert await store.stale_items(now_ms + 60_000) == [StaleItem("session", session_id)]
    await store.discard_parts(session_id)
    assert not joined.exists()
    assert await store.stale_items(now_ms + 60_000) == []
    assert bucket.objects() == []


@pytest.mark.parametrize("size", [1000, 2 * PART + 1], ids=["one-put", "multipart"])
async def test_an_upload_shorter_than_declared_never_completes_an_object(
    s3: tuple[S3BlobStore, Bucket], size: int
) -> None:
    """The body ends early: the write is abandoned before it completes, so no object
    (not even briefly) appears under the upload's id."""
    store, bucket = s3
    completed: list[str] = []
    events = store._client.meta.events
    for operation in ("PutObject", "CompleteMultipartUpload"):
        events.register(
            f"before-call.s3.{operation}", lambda model, **_: completed.append(model.name)
        )
    settings = Settings.from_env({"BASE_URL": "https://send.example"})
    files = Files(
        settings, InMemoryUploadRepository(), InMemoryUploadSessionStore(), store, SystemClock()
    )
    raw = {
        "authToken": b64url(os.urandom(32)),
        "ownerToken": b64url(os.urandom(32)),
        "salt": b64url(os.urandom(32)),
        "maxDownloads": "1",
        "expireSec": "3600",
        "contentLength": str(size + 1),
    }
    with pytest.raises(InvalidRequest, match="Body size does not match declared content length"):
        await files.upload(parse_upload_params(raw, settings), metered(os.urandom(size), []))
    assert completed == []
    assert bucket.objects() == []
    assert bucket.uploads() == []


async def test_discarding_a_session_survives_a_failing_multipart_listing(
    s3: tuple[S3BlobStore, Bucket], tmp_path: Path
) -> None:
    """Aborting leftover multipart uploads is best effort: the staged parts are gone, and
    whatever the listing could not find is left to the orphan sweep."""
    store, _ = s3
    session_id = new_id()
    await store.write_part(session_id, metered(b"chunk", []), 0)

    def refuse(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    store._client.meta.events.register("before-call.s3.ListMultipartUploads", refuse)
    await store.discard_parts(session_id)
    assert not (tmp_path / "uploads" / ".partial" / session_id).exists()


class _Captured(Exception):
    pass


@pytest.mark.parametrize(
    ("endpoint", "signed"),
    [(None, False), ("https://objects.example:9000", False), ("http://127.0.0.1:9000", True)],
    ids=["aws", "https", "plain-http"],
)
async def test_bodies_are_not_hashed_on_the_loop_over_https(
    endpoint: str | None, signed: bool
) -> None:
    """Over TLS, PutObject and UploadPart are signed as UNSIGNED-PAYLOAD, so no body is
    SHA-256 hashed on the event loop; over plain http the payload is still signed."""
    options = client_options(
        region="eu-central-1", endpoint=endpoint, force_path_style=False, concurrency=2
    )
    sent: list[str] = []

    def capture(request: Any, **_: Any) -> None:
        value = request.headers["x-amz-content-sha256"]
        sent.append(value.decode() if isinstance(value, bytes) else value)
        raise _Captured  # signed and ready to go: no network needed

    async with get_session().create_client(
        "s3", aws_access_key_id="k", aws_secret_access_key="s", **options
    ) as client:
        client.meta.events.register("before-send.s3", capture)
        with pytest.raises(_Captured):
            await client.put_object(Bucket="b", Key="k.bin", Body=io.BytesIO(b"x" * 1000))
        with pytest.raises(_Captured):
            await client.upload_part(
                Bucket="b", Key="k.bin", UploadId="u", PartNumber=1, Body=io.BytesIO(b"y" * 10)
            )
    assert len(sent) == 2
    for value in sent:
        if signed:
            assert value != "UNSIGNED-PAYLOAD"
            assert len(value) == 64
        else:
            assert value == "UNSIGNED-PAYLOAD"


async def test_the_sweep_never_touches_blobs_of_the_filesystem_backend(
    s3: tuple[S3BlobStore, Bucket], tmp_path: Path
) -> None:
    """After a switch from STORAGE_BACKEND=filesystem, ``UPLOADS_DIR/<id>.bin`` files are
    that backend's blobs: old, with or without a row, the S3 store neither reports nor
    deletes them."""
    store, _ = s3
    owned, unowned = new_id(), new_id()
    old = time.time() - 3 * 3600
    for blob_id in (owned, unowned):
        path = tmp_path / "uploads" / f"{blob_id}.bin"
        path.write_bytes(b"a blob of the filesystem backend")
        os.utime(path, (old, old))
    uploads = InMemoryUploadRepository()
    settings = Settings.from_env({"BASE_URL": "https://send.example"})
    raw = {
        "authToken": b64url(os.urandom(32)),
        "ownerToken": b64url(os.urandom(32)),
        "salt": b64url(os.urandom(32)),
        "maxDownloads": "1",
        "expireSec": "86400",
        "contentLength": "32",
    }
    await uploads.insert(
        Upload.completed(owned, parse_upload_params(raw, settings), 32, time.time_ns() // 10**6)
    )
    now_ms = time.time_ns() // 1_000_000
    assert await store.stale_items(now_ms) == []
    cleanup = Cleanup(uploads, InMemoryUploadSessionStore(), store, SystemClock())
    assert await cleanup.sweep_orphans(now_ms) == 0
    assert (tmp_path / "uploads" / f"{owned}.bin").exists()
    assert (tmp_path / "uploads" / f"{unowned}.bin").exists()


async def test_the_bucket_listing_keeps_only_stale_blob_keys(
    s3: tuple[S3BlobStore, Bucket],
) -> None:
    """Foreign keys and recent blobs are dropped page by page, not gathered in a list."""
    store, bucket = s3
    old_blob = new_id()
    await store.write(old_blob, metered(b"blob", []))
    for n in range(5):
        bucket.put(f"other-app/{n}.dat", b"not ours")
    listing = store._stale_blobs(time.time_ns() // 1_000_000 + 60_000)
    assert inspect.isasyncgen(listing)
    assert [blob_id async for blob_id in listing] == [old_blob]
    assert [b async for b in store._stale_blobs(time.time_ns() // 1_000_000 - 60_000)] == []
    assert sorted(bucket.objects()) == sorted(
        [f"{old_blob}.bin"] + [f"other-app/{n}.dat" for n in range(5)]
    )
