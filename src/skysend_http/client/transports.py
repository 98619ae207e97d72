"""Choosing the upload transport, with the WebSocket → HTTP fallback (clients.md §1.6).

``auto`` uses the WebSocket when the server reports ``fileUploadWs: true`` (and it is not
switched off). If the handshake or the ``init`` step fails, before any payload was sent, it
uploads over HTTP chunks instead, re-reading and re-encrypting the file under a fresh base
nonce; the HTTP attempt then reports a definitive refusal (quota, validation) with its
status code. A failure after payload frames went out is final (clients.md §1.6): starting
over would send the whole file a second time, and the web app treats it as fatal too
(websocket-upload.md §7.3).
"""

from __future__ import annotations

import attrs
import httpx

from skysend_http.client import ws_upload
from skysend_http.client._http import ProgressCounter
from skysend_http.client.errors import WebSocketUploadError
from skysend_http.client.models import (
    ProgressCallback,
    ProgressEvent,
    ServerConfig,
    TransportChoice,
    UploadTransport,
)
from skysend_http.client.payload import EncryptedFile
from skysend_http.client.uploads import UploadParams, upload_chunked, upload_single


@attrs.frozen
class Connection:
    """How to reach the server: the HTTP client and what the WebSocket needs besides."""

    http: httpx.AsyncClient
    server: str
    session_token: str | None = attrs.field(repr=False)
    websocket: bool
    user_agent: str


async def send_payload(
    connection: Connection,
    config: ServerConfig,
    params: UploadParams,
    payload: EncryptedFile,
    transport: TransportChoice,
    progress: ProgressCallback | None,
) -> tuple[str, UploadTransport, str | None]:
    """Upload; returns ``(id, transport used, reason the WebSocket was given up or None)``."""
    total = params.content_length
    use_ws = transport == "ws" or (
        transport == "auto" and config.file_upload_ws and connection.websocket
    )
    reason: str | None = None
    if use_ws:
        try:
            upload_id = await ws_upload.upload_ws(
                connection.server,
                params,
                payload,
                counter=ProgressCounter(progress, "uploading", total),
                session_token=connection.session_token,
                speed_limit=config.file_upload_speed_limit,
                user_agent=connection.user_agent,
            )
            return upload_id, "ws", None
        except WebSocketUploadError as exc:
            if transport == "ws" or exc.payload_sent:
                raise
            reason = exc.message
            if progress is not None:
                progress(ProgressEvent("fallback", 0, 0, reason))
        payload = payload.with_fresh_nonce()
    counter = ProgressCounter(progress, "uploading", total)
    http, server, token = connection.http, connection.server, connection.session_token
    if transport == "single":
        return await upload_single(http, server, params, payload, counter, token), "single", None
    upload_id = await upload_chunked(
        http,
        server,
        params,
        payload,
        concurrency=config.file_upload_concurrent_chunks,
        counter=counter,
        session_token=token,
    )
    return upload_id, "chunked", reason
