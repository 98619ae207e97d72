"""Blob storage in an S3-compatible bucket (storage-and-lifecycle.md §3.2), on aiobotocore.

Layout::

    bucket  <id>.bin                    completed blob
    bucket  .skysend-connectivity-test  written and removed by the start-up check
    local   UPLOADS_DIR/.partial/<id>/  parts of unfinished uploads (a FilesystemBlobStore),
                                        and ``.joined``: a finalized upload's parts joined,
                                        while it is sent

Whole blobs (single-request uploads) stream straight into the bucket. Parts of chunked
and WebSocket uploads are staged on the shared local disk, as the filesystem backend keeps
them, and sent at finalize: S3 parts must be ≥ 5 MiB and cut in byte order, while chunks
arrive in parallel, in any order, to any worker process. Nothing reaches the bucket before
finalize, so no upload id or ETag has to be kept with the session.

Every object is written as one ``PutObject`` when it fits in one part, otherwise as a
multipart upload of ``part_size`` parts with at most ``concurrency`` in flight: memory stays
within ``part_size × (concurrency + 1)`` however large the blob. An object becomes visible
only when its upload completes, so no half-written blob ever appears under ``<id>.bin``; a
failed or cancelled write aborts its multipart upload, and one left by a crash is aborted by
the orphan sweep once its last part is older than the cutoff.

Downloads are not streamed by the server: :meth:`S3BlobStore.locate` answers a presigned
GET. Library errors become ``StorageError`` in :func:`_translated`; exceptions of the
caller's source stream propagate unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterator, Sequence
from datetime import datetime
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from skysend_adapters.filesystem import FilesystemBlobStore
from skysend_core.errors import NotFound, StorageError
from skysend_core.ports import BlobLink, PartRef, StaleItem
from skysend_core.uploads_model import blob_name, is_valid_id

READ_SIZE = 1 << 20
CONNECTIVITY_KEY = ".skysend-connectivity-test"
_BLOB_KEY = re.compile(r"(.{36})\.bin")
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    """The one place where the storage library's exceptions become ``StorageError``."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        detail = f"{error.get('Code', '?')} {error.get('Message', '')}".strip()
        raise StorageError(f"object storage error ({action}): {detail}") from exc
    except (TimeoutError, BotoCoreError, aiohttp.ClientError) as exc:
        raise StorageError(f"object storage error ({action}): {exc}") from exc


def _is_missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _blob_id(key: str) -> str | None:
    found = _BLOB_KEY.fullmatch(key)
    return found[1] if found is not None and is_valid_id(found[1]) else None


def client_options(
    *, region: str, endpoint: str | None, force_path_style: bool, concurrency: int
) -> dict[str, Any]:
    """The client's region, endpoint and configuration (keyword arguments of
    ``create_client``), kept apart so they can be checked without a connection.

    Without an endpoint the client talks to AWS on the region's own hosts,
    ``<bucket>.s3.<region>.amazonaws.com`` (or ``s3.<region>.amazonaws.com/<bucket>`` for
    path style and bucket names that are no valid host label): presigned links then point
    where the Content-Security-Policy's ``connect-src`` allows browsers to fetch
    (http-api.md §1.5). botocore would otherwise presign against the global host
    ``<bucket>.s3.amazonaws.com``, which browsers would refuse to download from.

    Over https request bodies are not hashed for the signature (see below); over a plain
    http endpoint (a MinIO on loopback) botocore signs them, on the event loop.
    """
    s3: dict[str, Any] = {"addressing_style": "path" if force_path_style else "auto"}
    if endpoint is None or endpoint.lower().startswith("https://"):
        # Bodies are sent as UNSIGNED-PAYLOAD: TLS protects their integrity, and signing
        # them means hashing every byte with SHA-256 on the event loop before it is sent
        # (some 30 ms per 25 MiB part). Over plain http the payload is still signed.
        s3["payload_signing_enabled"] = False
    if endpoint is None:
        s3["us_east_1_regional_endpoint"] = "regional"
        if not force_path_style:
            s3["addressing_style"] = "virtual"
    config = AioConfig(
        signature_version="s3v4",
        s3=s3,
        # Some S3-compatible providers reject the optional checksums (§3.2).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=max(10, 2 * concurrency),
    )
    return {"region_name": region, "endpoint_url": endpoint, "config": config}


class S3BlobReader:
    """A ``GetObject`` response being read; its connection is released by :meth:`aclose`.

    The object's bytes were requested before a later delete, so they stay readable."""

    def __init__(self, body: Any, size: int) -> None:
        self.size = size
        self._body = body

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            with _translated("GetObject"):
                data: bytes = await self._body.read(READ_SIZE)
            if not data:
                return
            yield data

    async def aclose(self) -> None:
        self._body.close()


class S3BlobStore:
    """Blobs as ``<id>.bin`` objects in ``bucket``; parts staged in ``staging``.

    Build it with :meth:`connect` (which owns the client) or around a client of your own.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        staging: FilesystemBlobStore,
        *,
        part_size: int,
        concurrency: int,
        presigned_expiry: int,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._staging = staging
        self._part_size = part_size
        self._concurrency = concurrency
        self._presigned_expiry = presigned_expiry
        self._exit: contextlib.AsyncExitStack | None = None

    @classmethod
    async def connect(
        cls,
        *,
        bucket: str,
        region: str,
        endpoint: str | None,
        access_key: str,
        secret_key: str,
        force_path_style: bool,
        staging: FilesystemBlobStore,
        part_size: int,
        concurrency: int,
        presigned_expiry: int,
    ) -> S3BlobStore:
        """Create the client on the running event loop; close it with :meth:`aclose`."""
        stack = contextlib.AsyncExitStack()
        client = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                **client_options(
                    region=region,
                    endpoint=endpoint,
                    force_path_style=force_path_style,
                    concurrency=concurrency,
                ),
            )
        )
        store = cls(
            client,
            bucket,
            staging,
            part_size=part_size,
            concurrency=concurrency,
            presigned_expiry=presigned_expiry,
        )
        store._exit = stack
        return store

    async def aclose(self) -> None:
        exit_stack, self._exit = self._exit, None
        if exit_stack is not None:
            await exit_stack.aclose()

    async def verify(self) -> None:
        """The start-up check (§3.2): HeadBucket, then write and remove a small object."""
        client, bucket = self._client, self._bucket
        try:
            with _translated("HeadBucket"):
                await client.head_bucket(Bucket=bucket)
            with _translated("PutObject"):
                await client.put_object(Bucket=bucket, Key=CONNECTIVITY_KEY, Body=b"ok")
            with _translated("DeleteObject"):
                await client.delete_object(Bucket=bucket, Key=CONNECTIVITY_KEY)
        except StorageError as exc:
            raise StorageError(f"S3 bucket {bucket!r} is not usable: {exc.message}") from exc

    # -- whole blobs ----------------------------------------------------------------

    async def write(self, blob_id: str, chunks: AsyncIterable[bytes]) -> int:
        if not is_valid_id(blob_id):
            raise NotFound("invalid blob id")
        return await self._upload(blob_name(blob_id), chunks)

    async def open(self, blob_id: str) -> S3BlobReader | None:
        if not is_valid_id(blob_id):
            return None
        with _translated("GetObject"):
            try:
                answer = await self._client.get_object(Bucket=self._bucket, Key=blob_name(blob_id))
            except ClientError as exc:
                if _is_missing(exc):
                    return None
                raise
        return S3BlobReader(answer["Body"], int(answer["ContentLength"]))

    async def locate(self, blob_id: str) -> BlobLink | None:
        """A presigned GET valid for ``presigned_expiry`` seconds; HeadObject first, so a
        missing object is told apart before a download is counted."""
        if not is_valid_id(blob_id):
            return None
        key = blob_name(blob_id)
        with _translated("HeadObject"):
            try:
                head = await self._client.head_object(Bucket=self._bucket, Key=key)
            except ClientError as exc:
                if _is_missing(exc):
                    return None
                raise
            url: str = await self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self._bucket, "Key": key},
                ExpiresIn=self._presigned_expiry,
            )
        return BlobLink(url, int(head["ContentLength"]))

    async def delete(self, blob_id: str) -> None:
        if is_valid_id(blob_id):
            with _translated("DeleteObject"):
                await self._client.delete_object(Bucket=self._bucket, Key=blob_name(blob_id))

    # -- parts of unfinished uploads ------------------------------------------------

    async def write_part(
        self, session_id: str, chunks: AsyncIterable[bytes], index: int | None = None
    ) -> PartRef:
        return await self._staging.write_part(session_id, chunks, index)

    async def assemble(self, session_id: str, part_keys: Sequence[str], blob_id: str) -> int:
        """Join the staged parts on disk, in the session's area (in place when they
        arrived in order), and send the result as one object. The joined file is
        unlinked as soon as it is open: its space is freed when the reader closes."""
        if not is_valid_id(session_id) or not is_valid_id(blob_id):
            raise NotFound("invalid id")
        reader = await self._staging.join_parts(session_id, part_keys)
        try:
            return await self._upload(blob_name(blob_id), reader.chunks())
        finally:
            await reader.aclose()

    async def discard_parts(self, session_id: str, part_keys: Sequence[str] | None = None) -> None:
        await self._staging.discard_parts(session_id, part_keys)
        if part_keys is None and is_valid_id(session_id):
            # What a crash may have left of an assembly: a multipart upload.
            try:
                await self._abort_uploads(blob_name(session_id))
            except StorageError as exc:
                # Best effort: the session's own writes abort their multipart uploads,
                # and one a crash left behind is found again by the orphan sweep.
                log.warning("could not abort leftover multipart uploads: %s", exc.message)

    async def stale_items(self, cutoff_ms: int) -> list[StaleItem]:
        """Objects ``<id>.bin`` older than the cutoff are blobs. Session areas on disk
        (staged parts, a joined file) and multipart uploads whose last part is older than
        the cutoff are a session's leftovers, removed by :meth:`discard_parts`.

        Files ``UPLOADS_DIR/<id>.bin`` are the filesystem backend's blobs (kept after a
        switch of backend): they are neither reported nor touched."""
        found = {
            item for item in await self._staging.stale_items(cutoff_ms) if item.kind == "session"
        }
        async for stale_id in self._stale_blobs(cutoff_ms):
            found.add(StaleItem("blob", stale_id))
        for key, upload_id, initiated in await self._uploads():
            blob_id = _blob_id(key)
            if blob_id is None or _ms(initiated) >= cutoff_ms:
                continue
            if await self._last_part_ms(key, upload_id, _ms(initiated)) < cutoff_ms:
                found.add(StaleItem("session", blob_id))
        return sorted(found, key=lambda item: (item.kind, item.id))

    # -- sending ----------------------------------------------------------------------

    async def _upload(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Send a stream as object ``key``: one PutObject if it fits in one part, else a
        multipart upload. Nothing is visible under ``key`` until it is complete."""
        parts = _cut(chunks, self._part_size)
        try:
            head: list[bytes] = []
            async for part in parts:
                head.append(part)
                if len(head) == 2:
                    break
            if len(head) == 2:
                del part
                return await self._multipart(key, head, parts)
            body = head.pop() if head else b""
            with _translated("PutObject"):
                await self._client.put_object(Bucket=self._bucket, Key=key, Body=io.BytesIO(body))
            return len(body)
        finally:
            await parts.aclose()

    async def _multipart(self, key: str, head: list[bytes], rest: AsyncIterator[bytes]) -> int:
        """Parts are handed over, not kept: ``head`` is emptied as they are sent, so only
        the parts in flight and the one being filled are held."""
        with _translated("CreateMultipartUpload"):
            created = await self._client.create_multipart_upload(Bucket=self._bucket, Key=key)
        upload_id: str = created["UploadId"]
        etags: dict[int, str] = {}
        sending: set[asyncio.Task[None]] = set()
        total = 0

        async def send(number: int, body: bytes) -> None:
            with _translated("UploadPart"):
                answer = await self._client.upload_part(
                    Bucket=self._bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=io.BytesIO(body),
                )
            etags[number] = answer["ETag"]

        async def bodies() -> AsyncIterator[bytes]:
            while head:
                yield head.pop(0)
            async for part in rest:
                yield part

        try:
            number = 0
            async for body in bodies():
                while len(sending) >= self._concurrency:  # a slot first, then read on
                    done, sending = await asyncio.wait(sending, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()
                number += 1
                total += len(body)
                sending.add(asyncio.ensure_future(send(number, body)))
                del body
            while sending:
                done, sending = await asyncio.wait(sending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            listed = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
            with _translated("CompleteMultipartUpload"):
                await self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": listed},
                )
        except BaseException:
            for task in sending:
                task.cancel()
            if sending:
                await asyncio.wait(sending)
            # The abort runs to its end even if this waiter is cancelled again.
            aborting = asyncio.ensure_future(self._abort(key, upload_id))
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(aborting)
            raise
        return total

    async def _abort(self, key: str, upload_id: str) -> None:
        with _translated("AbortMultipartUpload"):
            try:
                await self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=key, UploadId=upload_id
                )
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code")) != "NoSuchUpload":
                    raise

    async def _abort_uploads(self, key: str) -> None:
        for found_key, upload_id, _ in await self._uploads(prefix=key):
            if found_key == key:
                await self._abort(key, upload_id)

    # -- listing ------------------------------------------------------------------------

    async def _stale_blobs(self, cutoff_ms: int) -> AsyncIterator[str]:
        """Ids of ``<id>.bin`` objects older than the cutoff, page by page: other keys
        of the bucket (another application's) are skipped, never collected."""
        with _translated("ListObjectsV2"):
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket)
            async for page in pages:
                for item in page.get("Contents", []):
                    blob_id = _blob_id(item["Key"])
                    if blob_id is not None and _ms(item["LastModified"]) < cutoff_ms:
                        yield blob_id

    async def _uploads(self, prefix: str = "") -> list[tuple[str, str, datetime]]:
        found: list[tuple[str, str, datetime]] = []
        with _translated("ListMultipartUploads"):
            pages = self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self._bucket, Prefix=prefix
            )
            async for page in pages:
                found += [
                    (item["Key"], item["UploadId"], item["Initiated"])
                    for item in page.get("Uploads", [])
                ]
        return found

    async def _last_part_ms(self, key: str, upload_id: str, initiated_ms: int) -> int:
        """When a multipart upload last received a part: an upload still being written
        is live however long ago it began."""
        latest = initiated_ms
        with _translated("ListParts"):
            pages = self._client.get_paginator("list_parts").paginate(
                Bucket=self._bucket, Key=key, UploadId=upload_id
            )
            async for page in pages:
                for part in page.get("Parts", []):
                    latest = max(latest, _ms(part["LastModified"]))
        return latest


async def _cut(chunks: AsyncIterable[bytes], size: int) -> AsyncGenerator[bytes, None]:
    """The stream in parts of exactly ``size`` bytes (the last one shorter, none empty).

    Pieces are joined once per part; the part is then sent from an ``io.BytesIO``, which
    shares a ``bytes`` object's buffer instead of copying it."""
    pending: list[bytes] = []
    filled = 0
    async for chunk in chunks:
        while chunk:
            room = size - filled
            piece, chunk = chunk[:room], chunk[room:]
            pending.append(piece)
            filled += len(piece)
            if filled == size:
                part = b"".join(pending)
                pending, filled = [], 0
                yield part
    if filled:
        yield b"".join(pending)
