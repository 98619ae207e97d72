"""Upload parameters and the HTTP upload transports (http-api.md §1.15, §2.4–2.7).

Each transport takes the validated parameters and an :class:`EncryptedFile` and returns the
new upload id; metadata is stored afterwards by the caller. The WebSocket transport, which
sends the same bytes, is in :mod:`.ws_upload`.

* :func:`upload_chunked` — ``init``, parallel ``chunk`` requests, ``finalize``. Chunks are
  encrypted independently from the file (see :mod:`.payload`), so each request streams its
  body, and a chunk refused as "too many out-of-order chunks" is simply sent again. As many
  chunks are in flight as the server's ``fileUploadConcurrentChunks`` says; their size is
  chosen so that this many fit below the server's out-of-order limit.
* :func:`upload_single` — one streamed ``POST /api/upload``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
import httpx

from skysend_core.crypto import ENCRYPTED_RECORD_SIZE, NONCE_LENGTH, PASSWORD_ALGORITHM
from skysend_http.client._http import (
    LONG_TIMEOUT,
    ProgressCounter,
    api_url,
    counted,
    json_id,
    request,
    request_json,
)
from skysend_http.client.errors import RateLimitedError
from skysend_http.client.payload import CHUNK_RECORDS, MIN_CHUNK_RECORDS, EncryptedFile

OUT_OF_ORDER_LIMIT = 50 * 1024 * 1024
"""The server refuses chunks beyond this many bytes above the lowest missing index."""
OUT_OF_ORDER_RETRIES = 40
OUT_OF_ORDER_DELAY = 0.25


@attrs.frozen
class UploadParams:
    """The parameters of http-api.md §1.15 (tokens and salts already base64url)."""

    auth_token: str = attrs.field(repr=False)
    owner_token: str = attrs.field(repr=False)
    salt: str
    max_downloads: int
    expire_sec: int
    file_count: int
    content_length: int
    password_salt: str | None = None

    def ws_headers(self) -> dict[str, Any]:
        """The ``init`` message's ``headers``: numbers and booleans as the web app sends them."""
        headers: dict[str, Any] = {
            "authToken": self.auth_token,
            "ownerToken": self.owner_token,
            "salt": self.salt,
            "maxDownloads": self.max_downloads,
            "expireSec": self.expire_sec,
            "fileCount": self.file_count,
            "contentLength": self.content_length,
            "hasPassword": self.password_salt is not None,
        }
        if self.password_salt is not None:
            headers["passwordSalt"] = self.password_salt
            headers["passwordAlgo"] = PASSWORD_ALGORITHM
        return headers

    def http_headers(self) -> dict[str, str]:
        headers = {
            "X-Auth-Token": self.auth_token,
            "X-Owner-Token": self.owner_token,
            "X-Salt": self.salt,
            "X-Max-Downloads": str(self.max_downloads),
            "X-Expire-Sec": str(self.expire_sec),
            "X-File-Count": str(self.file_count),
            "X-Content-Length": str(self.content_length),
            "X-Has-Password": "true" if self.password_salt is not None else "false",
        }
        if self.password_salt is not None:
            headers["X-Password-Salt"] = self.password_salt
            headers["X-Password-Algo"] = PASSWORD_ALGORITHM
        return headers


def bearer(session_token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token}"} if session_token else {}


# --- single request -------------------------------------------------------------------


async def upload_single(
    http: httpx.AsyncClient,
    server: str,
    params: UploadParams,
    payload: EncryptedFile,
    counter: ProgressCounter | None = None,
    session_token: str | None = None,
) -> str:
    headers = {
        **params.http_headers(),
        **bearer(session_token),
        "Content-Type": "application/octet-stream",
        "Content-Length": str(payload.encrypted_size),
    }
    pieces = payload.stream()
    try:
        data = await request_json(
            http,
            "POST",
            api_url(server, "upload"),
            content=counted(pieces, counter.add if counter is not None else None),
            headers=headers,
            timeout=LONG_TIMEOUT,
        )
    finally:
        pieces.close()
    return json_id(data)


# --- HTTP chunked -----------------------------------------------------------------------


async def upload_chunked(
    http: httpx.AsyncClient,
    server: str,
    params: UploadParams,
    payload: EncryptedFile,
    *,
    concurrency: int,
    counter: ProgressCounter | None = None,
    session_token: str | None = None,
) -> str:
    init = await request_json(
        http,
        "POST",
        api_url(server, "upload", "init"),
        headers={**params.http_headers(), **bearer(session_token)},
    )
    upload_id = json_id(init)
    payload = payload.with_chunk_records(chunk_records_for(concurrency))
    await _send_chunks(http, server, upload_id, payload, concurrency, counter)
    await request(
        http,
        "POST",
        api_url(server, "upload", upload_id, "finalize"),
        headers={"X-Owner-Token": params.owner_token},
        timeout=LONG_TIMEOUT,
    )
    return upload_id


def chunk_records_for(concurrency: int) -> int:
    """Records per chunk for ``concurrency`` chunks in flight: the largest power of two up
    to :data:`CHUNK_RECORDS` (16 MiB) with which the ``concurrency - 1`` chunks that may wait
    above a missing one stay within the server's out-of-order limit (50 MiB), so that the
    server's ``fileUploadConcurrentChunks`` is honoured without chunks refused as out of
    order: 16 MiB chunks for up to 4 in flight, 8 MiB up to 7, 4 MiB up to 13, 2 MiB up to
    the configurable maximum of 20. Never below 1 MiB (:data:`MIN_CHUNK_RECORDS`)."""
    records = CHUNK_RECORDS
    while (
        records > MIN_CHUNK_RECORDS
        and (concurrency - 1) * (records * ENCRYPTED_RECORD_SIZE + NONCE_LENGTH)
        > OUT_OF_ORDER_LIMIT
    ):
        records //= 2
    return records


def chunk_window(concurrency: int, chunk_size: int) -> int:
    """Chunks allowed in flight from the lowest unfinished one on.

    Only chunks ``lowest … lowest + window - 1`` may be sent, so at most ``window - 1`` of
    them sit above the lowest missing index on the server, below its out-of-order limit.
    With chunks sized by :func:`chunk_records_for` this is ``concurrency`` for every value a
    server may configure (1–20); only a larger one is held to what the limit allows.
    """
    return max(1, min(concurrency, 1 + OUT_OF_ORDER_LIMIT // max(1, chunk_size)))


async def _send_chunks(
    http: httpx.AsyncClient,
    server: str,
    upload_id: str,
    payload: EncryptedFile,
    concurrency: int,
    counter: ProgressCounter | None,
) -> None:
    window = chunk_window(concurrency, payload.chunk_size(0))
    finished: set[int] = set()
    lowest = 0
    in_flight: set[asyncio.Task[int]] = set()
    try:
        for index in range(payload.chunk_count):
            while index >= lowest + window:
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                finished.update(task.result() for task in done)
                while lowest in finished:
                    lowest += 1
            chunk = _send_chunk(http, server, upload_id, payload, index, counter)
            in_flight.add(asyncio.create_task(chunk))
        for pending in asyncio.as_completed(in_flight):
            await pending
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)


async def _send_chunk(
    http: httpx.AsyncClient,
    server: str,
    upload_id: str,
    payload: EncryptedFile,
    index: int,
    counter: ProgressCounter | None,
) -> int:
    url = api_url(server, "upload", upload_id, "chunk")
    headers = {"Content-Length": str(payload.chunk_size(index))}
    for attempt in range(OUT_OF_ORDER_RETRIES + 1):
        pieces = payload.chunk(index)
        sent = 0

        def count(amount: int) -> None:
            nonlocal sent
            sent += amount
            if counter is not None:
                counter.add(amount)

        try:
            await request(
                http,
                "POST",
                url,
                params={"index": str(index)},
                content=counted(pieces, count),
                headers=headers,
                timeout=LONG_TIMEOUT,
            )
            return index
        except RateLimitedError:
            # "Too many out-of-order chunks buffered": the chunk was discarded; send it later.
            if counter is not None:
                counter.add(-sent)
            if attempt == OUT_OF_ORDER_RETRIES:
                raise
            await asyncio.sleep(OUT_OF_ORDER_DELAY * min(attempt + 1, 8))
        finally:
            pieces.close()
    raise AssertionError("unreachable")  # pragma: no cover
