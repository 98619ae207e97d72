"""Receive-side flow control for WebSocket connections (websocket-upload.md §6).

Quart's stock ``ASGIWebsocketConnection`` moves every received message into an unbounded
queue, so a client faster than the disk would make memory grow with the upload. Here every
received byte is counted until the handler releases it; while more than 75 % of the limit
is held the connection stops asking the ASGI server for messages. Hypercorn's own queue
towards the app is bounded, so it then stops reading the socket and TCP slows the sender.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from typing import Any, Final

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, WebsocketScope
from quart import Quart
from quart.asgi import ASGIWebsocketConnection
from quart.wrappers import Websocket
from wsproto.extensions import PerMessageDeflate

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets built without its C extension
    apply_mask = None  # type: ignore[assignment]

#: Largest WebSocket message hypercorn accepts (websocket-upload.md §1: at least 1 MiB).
MAX_MESSAGE_SIZE: Final = 16 * 1024 * 1024
#: The receive limit when the app carries no settings (FILE_UPLOAD_WS_MAX_BUFFER default).
DEFAULT_MAX_BUFFER: Final = 16 * 1024 * 1024
#: Bytes hypercorn asks the socket for at a time (its own default is 64 KiB).
READ_SIZE: Final = 256 * 1024

log = logging.getLogger(__name__)


class ClientGone(Exception):
    """The client closed the connection, or it broke."""


class ReceiveFlow:
    """Received messages waiting for the handler, with a count of every byte held.

    Bytes stay counted until :meth:`release` (binary data: once the blob store took it;
    text: as soon as the handler gets it). Above 75 % of ``limit`` the receive loop waits
    in :meth:`wait_for_room` until the count drops below 50 %. A message that pushes the
    count past ``limit`` anyway sets :attr:`overrun`.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.overrun = False
        self._high, self._low = limit * 3 // 4, limit // 2
        self._messages: deque[str | bytes] = deque()
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._end: Exception | None = None

    def push(self, message: str | bytes) -> None:
        self._messages.append(message)
        self.held += len(message)
        if self.held > self.limit:
            self.overrun = True
        if self.held > self._high:
            self._room.clear()
        self._arrived.set()

    def release(self, size: int) -> None:
        self.held -= size
        if self.held < self._low:
            self._room.set()

    def end(self, reason: Exception) -> None:
        """Make every later :meth:`get` raise ``reason`` (the first reason wins)."""
        if self._end is None:
            self._end = reason
        self._arrived.set()

    @property
    def disconnected(self) -> bool:
        return isinstance(self._end, ClientGone)

    async def get(self) -> str | bytes:
        while True:
            if self._end is not None:
                raise self._end
            if self._messages:
                message = self._messages.popleft()
                if isinstance(message, str):
                    self.release(len(message))
                return message
            self._arrived.clear()
            await self._arrived.wait()

    async def wait_for_room(self) -> None:
        await self._room.wait()


class FlowWebsocket(Websocket):
    """Quart's websocket with access to its connection's :class:`ReceiveFlow`."""

    flow: ReceiveFlow | None = None


class FlowControlledWebsocketConnection(ASGIWebsocketConnection):
    """Stops reading from the ASGI server while too many received bytes are held.

    Hypercorn's own queue towards the app is bounded, so once this loop waits hypercorn
    stops reading the socket. A disconnect does not cancel the handler (as the stock
    connection does): ``websocket.receive()`` raises :class:`ClientGone` instead, so the
    handler can clean up in order.
    """

    def __init__(self, app: Quart, scope: WebsocketScope) -> None:
        super().__init__(app, scope)
        services = app.extensions.get("skysend")
        limit = services.settings.file_upload_ws_max_buffer if services else DEFAULT_MAX_BUFFER
        self.flow = ReceiveFlow(limit)

    def _create_websocket_from_scope(self, send: ASGISendCallable) -> Websocket:
        created = super()._create_websocket_from_scope(send)
        created._receive = self.flow.get
        if isinstance(created, FlowWebsocket):
            created.flow = self.flow
        return created

    async def handle_messages(self, receive: ASGIReceiveCallable) -> None:
        flow = self.flow
        while True:
            await flow.wait_for_room()
            event = await receive()
            if event["type"] == "websocket.receive":
                data = event.get("bytes")
                flow.push(data if data is not None else event.get("text") or "")
            elif event["type"] == "websocket.disconnect":
                flow.end(ClientGone())
                await asyncio.Event().wait()  # cancelled once the handler has returned


class FastUnmasker:
    """Drop-in for wsproto's ``XorMaskerSimple`` using websockets' C ``apply_mask``.

    wsproto unmasks every client frame with eight slice copies in Python, about a second
    of CPU per GiB received; this does the same XOR in one C pass. Like the original it
    keeps its place in the 4-byte key across calls.
    """

    def __init__(self, masking_key: bytes | bytearray) -> None:
        self._key = bytes(masking_key)

    def process(self, data: bytes | bytearray) -> bytes:
        if not data:
            return b""
        unmasked = apply_mask(data, self._key)
        shift = len(data) % 4
        self._key = self._key[shift:] + self._key[:shift]
        return unmasked


class DeclinedDeflate(PerMessageDeflate):
    """permessage-deflate that is never agreed to: encrypted payloads do not compress, so
    compressing them only costs the client (a browser: its upload speed) and the server
    CPU. The reference server's WebSocket library does not negotiate it either."""

    def accept(self, offer: str) -> None:
        return None


def _same_as(original: Any, replacement: Any) -> bool:
    key, data = os.urandom(4), os.urandom(1031)
    expected, actual = original(key), replacement(key)
    pieces = (data[:5], data[5:6], data[6:518], data[518:])
    return all(bytes(expected.process(p)) == actual.process(p) for p in pieces)


def speed_up_receiving() -> None:
    """Tune the receive path of this process's hypercorn for large uploads (idempotent).

    * Unmask client frames with :class:`FastUnmasker` instead of wsproto's pure-Python loop.
    * Let hypercorn read :data:`READ_SIZE` bytes per socket read instead of 64 KiB, so
      the h11/wsproto layers run a quarter as often per byte (HTTP bodies benefit too).
    * Decline permessage-deflate (:class:`DeclinedDeflate`), which hypercorn accepts
      whenever a client offers it, as browsers do.

    All three replace library internals, so each is checked first and skipped, with a warning,
    if the library no longer looks as expected.
    """
    import hypercorn.asyncio.tcp_server as tcp_server
    import hypercorn.protocol.ws_stream as ws_stream
    import wsproto.frame_protocol as frame_protocol

    original = getattr(frame_protocol, "XorMaskerSimple", None)
    if original is not FastUnmasker:
        if apply_mask is not None and original is not None and _same_as(original, FastUnmasker):
            frame_protocol.XorMaskerSimple = FastUnmasker  # type: ignore[misc,assignment]
        else:
            log.warning("keeping wsproto's own frame unmasking (library changed or no C code)")
    current = getattr(tcp_server, "MAX_RECV", None)
    if isinstance(current, int):
        tcp_server.MAX_RECV = max(current, READ_SIZE)
    else:
        log.warning("hypercorn changed; keeping its socket read size")
    if getattr(ws_stream, "PerMessageDeflate", None) in (PerMessageDeflate, DeclinedDeflate):
        ws_stream.PerMessageDeflate = DeclinedDeflate  # type: ignore[attr-defined]
    else:
        log.warning("hypercorn changed; permessage-deflate stays available")
