"""The WebSocket upload transport (websocket-upload.md §3, §4, §7).

One connection; ``init`` → ``ready`` → 256 KiB binary frames → ``finalize`` → ``done``.
Back-pressure: ``send`` waits while more than 8 MiB are queued in the socket, until less
than 2 MiB remain (the web app's water marks). The server does not enforce its speed limit
on this transport, so :func:`upload_ws` throttles itself to ``fileUploadSpeedLimit``.
Every failure (refused upgrade, ``error`` message, close, timeout) raises
:class:`WebSocketUploadError`, whose ``payload_sent`` tells the caller whether falling back
to HTTP is still allowed (clients.md §1.6: only before any payload was sent).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from skysend_http.client._http import ProgressCounter
from skysend_http.client.errors import WebSocketUploadError
from skysend_http.client.payload import EncryptedFile
from skysend_http.client.uploads import UploadParams, bearer

FRAME_SIZE = 256 * 1024
WS_HIGH_WATER = 8 * 1024 * 1024
WS_LOW_WATER = 2 * 1024 * 1024
WS_OPEN_TIMEOUT = 10.0
WS_READY_TIMEOUT = 10.0


def ws_url(server: str) -> str:
    scheme, _, rest = server.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/api/upload/ws"


def done_timeout(content_length: int) -> float:
    """How long to wait for ``done`` after ``finalize``: max(5 min, 2 s per MiB)."""
    return max(300.0, 2.0 * content_length / (1024 * 1024))


async def upload_ws(
    server: str,
    params: UploadParams,
    payload: EncryptedFile,
    *,
    counter: ProgressCounter | None = None,
    session_token: str | None = None,
    speed_limit: int = 0,
    user_agent: str | None = None,
) -> str:
    """Upload over ``/api/upload/ws``; any failure raises :class:`WebSocketUploadError`."""
    extra: dict[str, Any] = {"user_agent_header": user_agent} if user_agent else {}
    try:
        websocket = await connect(
            ws_url(server),
            compression=None,  # encrypted data does not compress
            open_timeout=WS_OPEN_TIMEOUT,
            ping_interval=20,
            ping_timeout=60,
            max_size=1024 * 1024,
            write_limit=(WS_HIGH_WATER, WS_LOW_WATER),
            additional_headers=bearer(session_token),
            **extra,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise WebSocketUploadError(f"WebSocket upgrade refused (HTTP {status})") from exc
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise WebSocketUploadError(f"WebSocket connection failed: {exc}") from exc
    state = _Progress()
    async with websocket:
        try:
            return await _ws_session(websocket, params, payload, counter, speed_limit, state)
        except WebSocketUploadError as exc:  # an `error` message, or a `ready` without id
            exc.payload_sent = state.payload_sent
            raise
        except ConnectionClosed as exc:
            close = exc.rcvd
            reason = close.reason if close is not None and close.reason else "connection closed"
            code = close.code if close is not None else None
            raise WebSocketUploadError(
                reason, close_code=code, payload_sent=state.payload_sent
            ) from exc
        except TimeoutError as exc:
            raise WebSocketUploadError(
                "WebSocket upload timed out", payload_sent=state.payload_sent
            ) from exc


class _Progress:
    """How far a WebSocket upload got: once a binary frame went out (even partly), the
    encrypted stream is spent and the upload can no longer fall back to HTTP."""

    payload_sent = False


async def _ws_session(
    websocket: ClientConnection,
    params: UploadParams,
    payload: EncryptedFile,
    counter: ProgressCounter | None,
    speed_limit: int,
    state: _Progress,
) -> str:
    await websocket.send(json.dumps({"type": "init", "headers": params.ws_headers()}))
    ready = await asyncio.wait_for(_next_message(websocket, "ready"), WS_READY_TIMEOUT)
    upload_id = ready.get("id")
    if not isinstance(upload_id, str) or not upload_id:
        raise WebSocketUploadError("server sent 'ready' without an id")
    state.payload_sent = True  # from here on, a failure may leave frames on the wire
    await _send_frames(websocket, payload, counter, speed_limit)
    await websocket.send(json.dumps({"type": "finalize"}))
    await asyncio.wait_for(_next_message(websocket, "done"), done_timeout(params.content_length))
    return upload_id


async def _next_message(websocket: ClientConnection, wanted: str) -> Mapping[str, Any]:
    """The next control message of type ``wanted``; ``storage``, ``keepalive`` and unknown
    types are skipped, ``error`` raises."""
    while True:
        raw = await websocket.recv()
        if isinstance(raw, bytes):
            continue
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(message, dict):
            continue
        kind = message.get("type")
        if kind == "error":
            text = message.get("message")
            raise WebSocketUploadError(text if isinstance(text, str) else "upload failed")
        if kind == wanted:
            return message


async def _send_frames(
    websocket: ClientConnection,
    payload: EncryptedFile,
    counter: ProgressCounter | None,
    speed_limit: int,
) -> None:
    started = time.monotonic()
    sent = 0
    pending = bytearray()
    pieces = payload.stream()
    try:
        for piece in pieces:
            if pending:
                pending += piece
                data = memoryview(pending)
            else:
                data = memoryview(piece)
            offset = 0
            while len(data) - offset >= FRAME_SIZE:
                await websocket.send(data[offset : offset + FRAME_SIZE])
                offset += FRAME_SIZE
                sent += FRAME_SIZE
                if counter is not None:
                    counter.add(FRAME_SIZE)
                if speed_limit > 0:
                    await _throttle(started, sent, speed_limit)
            pending = bytearray(data[offset:])
        if pending:
            await websocket.send(bytes(pending))
            if counter is not None:
                counter.add(len(pending))
    finally:
        pieces.close()


async def _throttle(started: float, sent: int, speed_limit: int) -> None:
    ahead = sent / speed_limit - (time.monotonic() - started)
    if ahead > 0:
        await asyncio.sleep(ahead)
