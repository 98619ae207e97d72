"""WebSocket upload transport, ``/api/upload/ws`` (websocket-upload.md).

The payload arrives as binary frames on one connection and is written, in order, by one
``Files.write_stream`` call running as a task; finalize completes it exactly like an HTTP
chunked upload. Memory stays bounded (§6): every received byte is counted by the
connection's :class:`~skysend_http.ws_flow.ReceiveFlow` from the moment it is read until
the blob store has taken it, and reading pauses while too much is held.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Final

from quart import Blueprint, Response, current_app
from quart.globals import websocket_ctx
from quart.wrappers import Websocket

from skysend_core.config import Settings
from skysend_core.errors import InvalidRequest, QuotaExceeded, SkySendError, StorageError, TooLarge
from skysend_core.ports import PartRef
from skysend_core.upload_params import UploadParams, parse_upload_params
from skysend_core.uploads import Files
from skysend_core.uploads_model import Upload
from skysend_http.errors import error_response
from skysend_http.limits import check_upload_quota, record_upload
from skysend_http.ws_flow import BufferExceeded, ClientGone, FlowWebsocket, ReceiveFlow

log = logging.getLogger(__name__)

KEEPALIVE_INTERVAL_S: Final = 5.0
#: How often a receiving session is touched; the session TTL is one hour.
TOUCH_INTERVAL_S: Final = 30.0
#: How long an aborted write may take to wind down before it is cancelled.
ABORT_GRACE_S: Final = 5.0
#: How long the server waits for the client to answer its close frame before it drops
#: the connection.
CLOSE_TIMEOUT_S: Final = 5.0

NORMAL, PROTOCOL_ERROR, UNSUPPORTED, POLICY, TOO_BIG, INTERNAL = 1000, 1002, 1003, 1008, 1009, 1011
INIT_KEYS: Final = (
    "authToken", "ownerToken", "salt", "maxDownloads", "expireSec", "fileCount",
    "contentLength", "hasPassword", "passwordSalt", "passwordAlgo",
)  # fmt: skip
#: §5 names no message for a failure nobody foresaw; it gets the 1011 message of the
#: state it happened in.
UNFORESEEN: Final = {
    "awaiting-init": "Storage init failed",
    "receiving": "Failed to read binary frame",
    "finalizing": "Finalize failed",
}


class WriterFailed(Exception):
    """The blob store stopped taking data while frames were still arriving."""


class WriteAborted(Exception):
    """Raised into the blob store's write to make it discard the part."""


class PartSink:
    """Feeds frames, in order, to one ``Files.write_stream`` call running as a task."""

    def __init__(self, files: Files, session_id: str, flow: ReceiveFlow) -> None:
        self._flow = flow
        self._pending: deque[bytes] = deque()
        self._arrived = asyncio.Event()
        self._closing = False
        self._aborting = False
        self._task = asyncio.create_task(files.write_stream(session_id, self._pieces()))
        self._task.add_done_callback(self._stopped)

    def feed(self, frame: bytes) -> None:
        self._pending.append(frame)
        self._arrived.set()

    async def finish(self) -> PartRef:
        """Write what is left and return the part."""
        self._closing = True
        self._arrived.set()
        return await self._task

    async def abort(self) -> None:
        """End the write with an error from the source, the way the port expects to be
        stopped (it then removes its temporary data itself); cancel it only if the store
        does not come back for more data in time."""
        self._closing = self._aborting = True
        self._arrived.set()
        await asyncio.wait({self._task}, timeout=ABORT_GRACE_S)
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    def _stopped(self, task: asyncio.Task[PartRef]) -> None:
        if not self._closing and not task.cancelled():
            self._flow.end(WriterFailed())

    async def _pieces(self) -> AsyncIterator[bytes]:
        pending, taken = self._pending, 0
        try:
            while True:
                while not pending or self._aborting:
                    if self._aborting:
                        raise WriteAborted
                    if self._closing:
                        return
                    self._arrived.clear()
                    await self._arrived.wait()
                piece = pending.popleft()
                taken = len(piece)
                yield piece
                # The store asks for more only once it has taken the piece in; its own
                # write buffer (filesystem: about 2 MiB) is not counted here.
                self._flow.release(taken)
                taken = 0
        finally:
            self._flow.release(taken)


class Refusal(Exception):
    """A protocol failure: the message sent to the client and the close code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _json(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _js_string(value: Any) -> str:
    """A JSON value as JavaScript's ``String()`` gives it (§3.1)."""
    if value is None:  # only inside an array: String([null]) is ""
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, list):
        return ",".join(_js_string(item) for item in value)
    return "[object Object]"


def _js_falsy(value: Any) -> bool:
    """JavaScript's ``!value`` for a JSON value (``{}`` and ``[]`` are true there)."""
    if isinstance(value, bool | int | float):
        return not value
    return value is None or value == ""


def init_headers(message: str | bytes) -> dict[str, str | None]:
    """The raw upload parameters of the first message (§3.1), or a refusal.

    ``headers`` counts as missing the way the reference checks it (``!msg.headers``), so
    ``null``, ``false``, ``0`` and ``""`` are refused like an absent key. Anything else
    that is not an object has none of the keys and fails validation. Each non-null value
    becomes its ``String()`` form, arrays and objects included (``[3]`` → ``"3"``).
    """
    if not isinstance(message, str):
        raise Refusal("Expected init message", UNSUPPORTED)
    try:
        data = _json(message)
    except ValueError:
        raise Refusal("Invalid JSON in init message", UNSUPPORTED) from None
    if not isinstance(data, dict) or data.get("type") != "init" or _js_falsy(data.get("headers")):
        raise Refusal("First message must be of type 'init'", UNSUPPORTED)
    headers = data["headers"] if isinstance(data["headers"], dict) else {}
    try:
        return {
            key: None if headers.get(key) is None else _js_string(headers[key]) for key in INIT_KEYS
        }
    except RecursionError:  # arrays nested deeper than Python's stack
        raise Refusal("Invalid upload headers", POLICY) from None


def validate(raw: dict[str, str | None], settings: Settings) -> UploadParams:
    try:
        return parse_upload_params(raw, settings)
    except InvalidRequest as error:
        message = "Invalid upload headers" if error.details else error.message
        raise Refusal(message, POLICY) from None
    except SkySendError as error:
        raise Refusal(error.message, POLICY) from None


def close_reason(message: str) -> str:
    """The close reason for an error message: cut to 120 characters (§5), and further, at
    a character boundary, should its UTF-8 form not fit the 123 bytes a close frame has."""
    reason = message[:120]
    while len(reason.encode()) > 123:
        reason = reason[:-1]
    return reason


def unforeseen_failure(state: str) -> Refusal:
    """The refusal for an exception nobody foresaw, in ``state`` (§2)."""
    return Refusal(UNFORESEEN[state], INTERNAL)


def control_type(message: str) -> Any:
    try:
        data = _json(message)
    except ValueError:
        raise Refusal("Invalid JSON after init", UNSUPPORTED) from None
    return data.get("type") if isinstance(data, dict) else None


class StreamUpload:
    """One connection's upload: ``awaiting-init → receiving → finalizing → closed`` (§2)."""

    def __init__(self, files: Files, flow: ReceiveFlow, ws: Websocket) -> None:
        self.files = files
        self.flow = flow
        self.ws = ws
        self.received = 0
        self.state = "awaiting-init"
        self._session_id: str | None = None
        self._sink: PartSink | None = None
        self._interrupted = False  # a protocol error or disconnect during finalizing
        self._owner_token = ""
        self._unconfirmed: Upload | None = None  # stored, but ``done`` not yet sent

    async def run(self, origin_allowed: bool) -> None:
        try:
            if not origin_allowed:
                raise Refusal("Origin not allowed", POLICY)
            raw = init_headers(await self._next())
            params = validate(raw, self.files.settings)
            self._owner_token = raw["ownerToken"] or ""
            try:  # after validation, unlike HTTP (websocket-upload.md §5.1)
                await check_upload_quota(params.content_length)
            except (QuotaExceeded, TooLarge) as error:
                raise Refusal(error.message, POLICY) from None
            session_id, sink = await self._start(params)
            self.state = "receiving"
            await self._receive(session_id, sink, params.content_length)
            self.state = "finalizing"
            self._unconfirmed = await self._finalize(session_id, sink)
            await self._confirm(self._unconfirmed)
        except Refusal as refusal:
            await self._refuse(refusal)
        except ClientGone:
            await self._abort()
        except asyncio.CancelledError:  # server shutdown
            await asyncio.shield(self._abort())
            raise
        except Exception:
            log.exception("WebSocket upload failed")
            await self._refuse(unforeseen_failure(self.state))

    async def _next(self) -> str | bytes:
        try:
            return await self.flow.get()
        except BufferExceeded:
            raise Refusal("Receive buffer exceeded", TOO_BIG) from None

    async def _start(self, params: UploadParams) -> tuple[str, PartSink]:
        try:
            session_id = self._session_id = await self.files.start_stream(params)
        except Exception:
            log.exception("could not create a WebSocket upload session")
            raise Refusal("Storage init failed", INTERNAL) from None
        sink = self._sink = PartSink(self.files, session_id, self.flow)
        await self._send({"type": "ready", "id": session_id})
        await self._send({"type": "storage", "backend": self.files.settings.storage_backend})
        return session_id, sink

    async def _receive(self, session_id: str, sink: PartSink, content_length: int) -> None:
        ticker = asyncio.create_task(self._touch_periodically(session_id))
        try:
            while True:
                try:
                    message = await self._next()
                except WriterFailed:
                    raise Refusal("Finalize failed", INTERNAL) from None
                if isinstance(message, bytes):
                    if self.received + len(message) > content_length:
                        raise Refusal("Received more bytes than declared content length", POLICY)
                    self.received += len(message)
                    sink.feed(message)
                elif control_type(message) == "finalize":
                    return
                else:
                    raise Refusal("Unexpected control message", UNSUPPORTED)
        finally:
            ticker.cancel()

    async def _touch_periodically(self, session_id: str) -> None:
        """Keep the session live for the cleanup job while the connection receives."""
        while True:
            await asyncio.sleep(TOUCH_INTERVAL_S)
            try:
                await self.files.record_progress(session_id, self.received)
            except Exception:
                log.exception("could not touch a WebSocket upload session")

    async def _finalize(self, session_id: str, sink: PartSink) -> Upload:
        completion = asyncio.create_task(self._complete(session_id, sink))
        watcher = asyncio.create_task(self._watch())
        keepalive = asyncio.create_task(self._keepalive())
        try:
            await asyncio.wait({completion, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if not watcher.done():
                return await completion
            # A message broke the protocol (or the client left) while storage was being
            # completed: let the completion end, then undo it.
            self._interrupted = True
            with contextlib.suppress(Exception):
                upload = await completion
                await self._withdraw(upload.id)
            error = watcher.exception()
            raise error if error is not None else AssertionError("the watcher ends by raising")
        finally:
            for task in (completion, watcher, keepalive):
                task.cancel()

    async def _complete(self, session_id: str, sink: PartSink) -> Upload:
        try:
            part = await sink.finish()
            if self._interrupted:
                raise Refusal("Finalize failed", INTERNAL)
            return await self.files.finish_stream(session_id, part.key, part.size)
        except InvalidRequest as error:
            raise Refusal(error.message, POLICY) from None
        except StorageError:
            log.exception("could not complete a WebSocket upload")
            raise Refusal("Finalize failed", INTERNAL) from None
        except SkySendError as error:
            raise Refusal(error.message, INTERNAL) from None

    async def _watch(self) -> None:
        """While finalizing, every message is a protocol error (§5)."""
        message = await self._next()
        if isinstance(message, bytes):
            raise Refusal("Binary frame after finalize", PROTOCOL_ERROR)
        if control_type(message) == "finalize":
            raise Refusal("Finalize already in progress", PROTOCOL_ERROR)
        raise Refusal("Unexpected control message", UNSUPPORTED)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_INTERVAL_S)
            await self._send({"type": "keepalive"})

    async def _abort(self) -> None:
        """Stop writing and drop the session with its partial data, or delete the upload
        if it was completed but ``done`` did not go out (§5.4). Idempotent."""
        if self._sink is not None:
            await self._sink.abort()
        if self._session_id is not None:
            try:
                await self.files.abort(self._session_id)
            except Exception:
                log.exception("could not abort a WebSocket upload; the orphan sweep will")
        if self._unconfirmed is not None:
            await self._withdraw(self._unconfirmed.id)
            self._unconfirmed = None

    async def _confirm(self, upload: Upload) -> None:
        """Steps 6–7 of §5.3, once the client is known to be there. If ``done`` cannot go
        out because it has left, :class:`ClientGone` makes the caller abort the upload."""
        if self.flow.disconnected:
            raise ClientGone
        await record_upload(upload.size)
        try:
            await self._send({"type": "done", "id": upload.id})
        except OSError:  # how an ASGI server may say that the client has gone
            self.flow.client_gone()
        if self.flow.disconnected:  # hypercorn drops what is sent after that
            raise ClientGone
        self._unconfirmed = None
        await self._close(NORMAL, "done")

    async def _withdraw(self, upload_id: str) -> None:
        """Delete a completed upload that its client never saw confirmed."""
        try:
            await self.files.delete(upload_id, self._owner_token)
        except Exception:
            log.exception("could not delete a WebSocket upload its client never saw done")

    async def _refuse(self, refusal: Refusal) -> None:
        """Abort the upload, then send the error message and close (§5)."""
        self.flow.drop()  # nothing more is read; the socket is drained, not paused
        await self._abort()
        if not self.flow.disconnected:
            await self._send({"type": "error", "message": refusal.message})
            await self._close(refusal.code, close_reason(refusal.message))

    async def _send(self, message: dict[str, str]) -> None:
        await self.ws.send(json.dumps(message, separators=(",", ":")))

    async def _close(self, code: int, reason: str) -> None:
        """Send the close frame and give the client a moment to answer it: the server
        then ends the connection cleanly, with nothing of the client's left unread."""
        self.flow.drop()
        await self.ws.close(code, reason)
        await self.flow.wait_gone(CLOSE_TIMEOUT_S)


blueprint = Blueprint("ws_upload", __name__, url_prefix="/api")


def _files() -> Files:
    files: Files = current_app.extensions["skysend"].files
    return files


def origin_allowed(settings: Settings, origin: str | None) -> bool:
    """No (or an empty) ``Origin`` is a non-browser client; otherwise an exact match (§1)."""
    return not origin or origin in (settings.base_url.rstrip("/"), *settings.cors_origins)


@blueprint.before_websocket
async def available() -> Response | None:
    if not _files().settings.file_upload_ws:
        return error_response("Not found", 404)
    return None


@blueprint.websocket("/upload/ws")
async def upload_ws() -> None:
    ws = websocket_ctx.websocket
    if not isinstance(ws, FlowWebsocket) or ws.flow is None:
        raise RuntimeError("the app must use FlowControlledWebsocketConnection and FlowWebsocket")
    files = _files()
    await ws.accept()
    upload = StreamUpload(files, ws.flow, ws)
    await upload.run(origin_allowed(files.settings, ws.headers.get("Origin")))
