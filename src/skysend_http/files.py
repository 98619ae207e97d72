"""File endpoints (http-api.md §2.4–2.13): parse, call :class:`Files`, serialize."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from quart import Blueprint, Response, current_app, request

from skysend_core.errors import Gone, NotFound
from skysend_core.ports import BlobLink, BlobReader
from skysend_core.upload_params import (
    HEADER_NAMES,
    UploadParams,
    declared_length,
    parse_upload_params,
)
from skysend_core.uploads import Files
from skysend_http.errors import json_response
from skysend_http.limits import check_upload_quota, password_attempt, record_upload
from skysend_http.shapes import upload_info
from skysend_http.streaming import body_stream, read_limited

blueprint = Blueprint("files", __name__, url_prefix="/api")

META_BODY_LIMIT = 256 * 1024
PASSWORD_BODY_LIMIT = 16 * 1024


def _files() -> Files:
    files: Files = current_app.extensions["skysend"].files
    return files


def _share_url(upload_id: str) -> str:
    return f"{_files().settings.base_url}/file/{upload_id}"


def _raw_upload_params() -> dict[str, str | None]:
    """The upload parameters of the request's headers, under their WebSocket key names."""
    raw = {key: request.headers.get(header) for key, header in HEADER_NAMES.items()}
    raw["contentLength"] = request.headers.get("X-Content-Length") or request.headers.get(
        "Content-Length"
    )
    return raw


async def _checked_upload_params() -> UploadParams:
    """Quota first (on the declared length alone), then the header rules (§2.4, §2.5)."""
    raw = _raw_upload_params()
    await check_upload_quota(declared_length(raw))
    return parse_upload_params(raw, _files().settings)


@blueprint.post("/upload")
async def upload() -> Response:
    params = await _checked_upload_params()
    created = await _files().upload(params, body_stream(request), request.content_length)
    await record_upload(created.size)
    return json_response({"id": created.id, "url": _share_url(created.id)})


@blueprint.post("/upload/init")
async def init_chunked() -> Response:
    session_id = await _files().init_chunked(await _checked_upload_params())
    return json_response({"id": session_id}, 201)


@blueprint.post("/upload/<upload_id>/chunk")
async def append_chunk(upload_id: str) -> Response:
    accepted = await _files().append_chunk(
        upload_id, request.args.get("index"), body_stream(request), request.content_length
    )
    if accepted.delay_s > 0:
        await asyncio.sleep(accepted.delay_s)
    return json_response({"bytesWritten": accepted.bytes_written})


@blueprint.post("/upload/<upload_id>/finalize")
async def finalize(upload_id: str) -> Response:
    created = await _files().finalize(upload_id, request.headers.get("X-Owner-Token"))
    await record_upload(created.size)
    return json_response({"id": created.id, "url": _share_url(created.id)})


@blueprint.post("/meta/<upload_id>")
async def set_metadata(upload_id: str) -> Response:
    owner_token = request.headers.get("X-Owner-Token")
    await _files().authorize_owner(upload_id, owner_token)
    body = await read_limited(request, META_BODY_LIMIT)
    await _files().set_metadata(upload_id, owner_token, body)
    return json_response({"ok": True})


@blueprint.get("/info/<upload_id>")
async def info(upload_id: str) -> Response:
    return json_response(upload_info(await _files().info(upload_id)))


@blueprint.get("/exists/<upload_id>")
async def exists(upload_id: str) -> Response:
    try:
        await _files().info(upload_id)
    except NotFound:
        return json_response({"exists": False}, 404)
    except Gone as gone:
        reason = "expired" if gone.reason == "expired" else "limit_reached"
        return json_response({"exists": False, "reason": reason}, 410)
    return json_response({"exists": True})


class BlobBody:
    """A download body that always closes its blob reader.

    Quart closes a response body with ``aclose()`` even when the body was never iterated
    (the client went away first), where a generator's ``finally`` would never run. The
    close is shielded: a cancellation arriving while the reader closes (the client
    disconnecting, shutdown) must not leave the file open.
    """

    def __init__(self, reader: BlobReader) -> None:
        self._reader = reader
        self._chunks: AsyncIterator[bytes] | None = None
        self._closed = False

    def __aiter__(self) -> BlobBody:
        return self

    async def __anext__(self) -> bytes:
        if self._chunks is None:
            self._chunks = self._reader.chunks()
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.shield(self._close())

    async def _close(self) -> None:
        chunks = self._chunks
        try:
            if chunks is not None and hasattr(chunks, "aclose"):
                await chunks.aclose()
        finally:
            await self._reader.aclose()


@blueprint.get("/download/<upload_id>")
async def download(upload_id: str) -> Response:
    found = await _files().open_download(upload_id, request.headers.get("X-Auth-Token"))
    if isinstance(found.source, BlobLink):  # object storage: the client fetches it itself
        return json_response(
            {
                "url": found.source.url,
                "size": found.upload.size,
                "fileCount": found.upload.file_count,
            }
        )
    response = Response(
        BlobBody(found.source),
        status=200,
        content_type="application/octet-stream",
    )
    response.headers["Content-Length"] = str(found.source.size)
    response.headers["X-File-Count"] = str(found.upload.file_count)
    response.timeout = None
    return response


@blueprint.post("/password/<upload_id>")
async def check_password(upload_id: str) -> Response:
    body = await read_limited(request, PASSWORD_BODY_LIMIT)
    async with password_attempt(f"file:{upload_id}"):
        await _files().check_password(upload_id, body)
    return json_response({"ok": True})


@blueprint.delete("/upload/<upload_id>")
async def delete(upload_id: str) -> Response:
    await _files().delete(upload_id, request.headers.get("X-Owner-Token"))
    return json_response({"ok": True})
