"""Receive-side flow control for WebSocket connections (websocket-upload.md §6).

Stock hypercorn assembles every received message in memory (up to
``websocket_max_message_size``) and queues up to ``max_app_queue_size`` of them for the
app; Quart's ``ASGIWebsocketConnection`` then moves them into an unbounded queue. None of
that is counted, and a message over hypercorn's limit is answered with a bare 1009 that
the app never hears of. Here hypercorn's WebSocket stream is replaced by
:class:`FlowWSStream`, which hands every piece of a message, as it is read, to the
connection's :class:`ReceiveFlow`: each byte is counted from the moment it is read until
the handler releases it, the read loop waits while too much is held (so hypercorn stops
reading the socket and TCP slows the sender), and a message over the limit reaches the
handler as :class:`BufferExceeded`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import re
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final

from hypercorn.config import Config
from hypercorn.protocol.events import Event, StreamClosed
from hypercorn.protocol.ws_stream import WSStream
from hypercorn.typing import (
    AppWrapper,
    ASGIReceiveCallable,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
    TaskGroup,
    WebsocketScope,
    WorkerContext,
)
from quart import Quart
from quart.asgi import ASGIWebsocketConnection
from quart.wrappers import Websocket
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Message, Ping
from wsproto.extensions import PerMessageDeflate

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets built without its C extension
    apply_mask = None  # type: ignore[assignment]

#: The receive limit when the app carries no settings (FILE_UPLOAD_WS_MAX_BUFFER default).
DEFAULT_MAX_BUFFER: Final = 16 * 1024 * 1024
#: Bytes hypercorn asks the socket for at a time (its own default is 64 KiB).
READ_SIZE: Final = 256 * 1024
#: The ASGI scope extension through which :class:`FlowWSStream` hands over its flow.
FLOW_EXTENSION: Final = "skysend.receive_flow"

log = logging.getLogger(__name__)


class ClientGone(Exception):
    """The client closed the connection, or it broke."""


class BufferExceeded(Exception):
    """A message, or everything the connection holds, went over the receive limit."""


def _size(data: str | bytes) -> int:
    return len(data.encode()) if isinstance(data, str) else len(data)


class ReceiveFlow:
    """What one connection has received and its handler not yet released (§6).

    The reader adds what it reads with :meth:`add`: binary messages are handed on in the
    pieces they arrive in (the blob store does not care where a frame ended), text
    messages once complete. Every byte counts in :attr:`held` from the moment it is read
    until :meth:`release` (binary: once the blob store took it; text: when the handler
    gets it). Above 75 % of :attr:`limit` the reader waits in :meth:`wait_for_room` until
    the count drops below 50 %, or until all that is held is an unfinished text message,
    which only more reading can finish. A message longer than the limit, or a count above
    it, ends the flow with :class:`BufferExceeded`.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._items: deque[str | bytes] = deque()
        self._text: list[str] = []
        self._text_held = 0  # an unfinished text message
        self._message_size = 0  # the message being read, so far
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._gone = asyncio.Event()
        self._end: Exception | None = None
        self._dropping = False

    def add(self, data: str | bytes, finished: bool) -> None:
        """A piece of the message being read; ``finished`` on its last piece."""
        if self._dropping:
            return
        size = _size(data)
        self._message_size += size
        if self._message_size > self.limit or self.held + size > self.limit:
            self.end(BufferExceeded())
            self.drop()
            return
        self.held += size
        if finished:
            self._message_size = 0
        if isinstance(data, str):
            self._text.append(data)
            self._text_held += size
            if not finished:
                return
            data = "".join(self._text)
            self._text, self._text_held = [], 0
        self._items.append(data)
        self._arrived.set()

    def release(self, size: int) -> None:
        self.held -= size
        if self.held < self.limit // 2 or self.held <= self._text_held:
            self._room.set()

    async def wait_for_room(self) -> None:
        """Return once the reader may read on (at once unless more than 75 % is held)."""
        if self._dropping or self.held <= self.limit * 3 // 4 or self.held <= self._text_held:
            return
        self._room.clear()
        await self._room.wait()

    def drop(self) -> None:
        """Forget what the handler has not taken, and everything read from now on."""
        self._dropping = True
        while self._items:
            self.held -= _size(self._items.popleft())
        self.held -= self._text_held
        self._text, self._text_held = [], 0
        self._room.set()

    def end(self, reason: Exception) -> None:
        """Make every later :meth:`get` raise ``reason`` (the first reason wins)."""
        if self._end is None:
            self._end = reason
        self._arrived.set()

    def client_gone(self) -> None:
        self._gone.set()
        self.end(ClientGone())

    @property
    def disconnected(self) -> bool:
        return self._gone.is_set()

    async def wait_gone(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the connection to end."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._gone.wait(), timeout)

    async def get(self) -> str | bytes:
        while True:
            if self._end is not None:
                raise self._end
            if self._items:
                item = self._items.popleft()
                if isinstance(item, str):
                    self.release(_size(item))
                return item
            self._arrived.clear()
            await self._arrived.wait()


class FlowWebsocket(Websocket):
    """Quart's websocket with access to its connection's :class:`ReceiveFlow`."""

    flow: ReceiveFlow | None = None


class FlowControlledWebsocketConnection(ASGIWebsocketConnection):
    """Quart's websocket connection reading from the connection's :class:`ReceiveFlow`.

    The flow comes from :class:`FlowWSStream` through the scope; the app sets its limit
    (``FILE_UPLOAD_WS_MAX_BUFFER``) before the handshake, so before any data. Under a
    hypercorn whose stream could not be replaced, this class fills a flow of its own from
    ASGI messages and stops asking hypercorn for more while too much is held (hypercorn's
    queue towards the app is bounded, so it then stops reading the socket). A disconnect
    does not cancel the handler (as the stock connection does):
    ``websocket.receive()`` raises :class:`ClientGone` instead, so the handler can clean up
    in order.
    """

    def __init__(self, app: Quart, scope: WebsocketScope) -> None:
        super().__init__(app, scope)
        services = app.extensions.get("skysend")
        limit = services.settings.file_upload_ws_max_buffer if services else DEFAULT_MAX_BUFFER
        handed = (scope.get("extensions") or {}).get(FLOW_EXTENSION)
        self.fed_by_server = handed is not None
        self.flow: ReceiveFlow = handed["flow"] if handed is not None else ReceiveFlow(limit)
        self.flow.limit = limit

    def _create_websocket_from_scope(self, send: ASGISendCallable) -> Websocket:
        created = super()._create_websocket_from_scope(send)
        created._receive = self.flow.get
        if isinstance(created, FlowWebsocket):
            created.flow = self.flow
        return created

    async def handle_messages(self, receive: ASGIReceiveCallable) -> None:
        flow = self.flow
        while True:
            if not self.fed_by_server:
                await flow.wait_for_room()
            event = await receive()
            if event["type"] == "websocket.receive":  # only from hypercorn's own stream
                data = event.get("bytes")
                flow.add(data if data is not None else event.get("text") or "", True)
            elif event["type"] == "websocket.disconnect":
                flow.client_gone()
                await asyncio.Event().wait()  # cancelled once the handler has returned


class _WithFlow:
    """The ASGI app, started with the connection's flow in its scope."""

    def __init__(self, app: AppWrapper, flow: ReceiveFlow) -> None:
        self._app = app
        self._flow = flow

    async def __call__(
        self,
        scope: Scope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        sync_spawn: Callable[..., Any],
        call_soon: Callable[..., Any],
    ) -> None:
        if scope["type"] == "websocket":
            extensions = scope.get("extensions") or {}
            scope["extensions"] = {**extensions, FLOW_EXTENSION: {"flow": self._flow}}
        await self._app(scope, receive, send, sync_spawn, call_soon)


class FlowWSStream(WSStream):
    """hypercorn's WebSocket stream, handing what it reads to a :class:`ReceiveFlow`.

    Instead of assembling messages and queueing them for the app, :meth:`_handle_events`
    adds each piece to the flow as wsproto yields it and then waits for room, which holds
    up hypercorn's read loop for this connection. Pings and closing are handled as
    hypercorn does. The flow starts with ``websocket_max_message_size`` as its limit; the
    app sets its own.
    """

    def __init__(
        self,
        app: AppWrapper,
        config: Config,
        context: WorkerContext,
        task_group: TaskGroup,
        ssl: bool,
        client: tuple[str, int] | None,
        server: tuple[str, int] | None,
        send: Callable[[Event], Awaitable[None]],
        stream_id: int,
    ) -> None:
        self.flow = ReceiveFlow(config.websocket_max_message_size)
        super().__init__(
            _WithFlow(app, self.flow),
            config,
            context,
            task_group,
            ssl,
            client,
            server,
            send,
            stream_id,
        )

    async def handle(self, event: Event) -> None:
        if isinstance(event, StreamClosed):
            self.flow.client_gone()
        await super().handle(event)

    async def app_send(self, message: ASGISendEvent | None) -> None:
        if message is None:  # the app has finished; the reader must not wait for it
            self.flow.drop()
        await super().app_send(message)

    async def _handle_events(self) -> None:
        for event in self.connection.events():
            if isinstance(event, Message):
                self.flow.add(event.data, event.message_finished)
                await self.flow.wait_for_room()
            elif isinstance(event, Ping):
                await self._send_wsproto_event(event.response())
            elif isinstance(event, CloseConnection):
                if self.connection.state == ConnectionState.REMOTE_CLOSING:
                    await self._send_wsproto_event(event.response())
                await self.send(StreamClosed(stream_id=self.stream_id))


_STREAM_PARAMETERS: Final = (
    "self", "app", "config", "context", "task_group", "ssl", "client", "server", "send",
    "stream_id",
)  # fmt: skip
_HANDLED_EVENTS: Final = {"Message", "Ping", "CloseConnection"}


def _stream_as_expected() -> bool:
    """Whether hypercorn's WebSocket stream is still the one :class:`FlowWSStream` was
    written against: the same constructor, the hooks it overrides, and an event loop
    that handles exactly the events :meth:`FlowWSStream._handle_events` handles."""
    try:
        parameters = tuple(inspect.signature(WSStream.__init__).parameters)
        source = inspect.getsource(WSStream._handle_events)
    except (OSError, TypeError, ValueError):
        return False
    handled = set(re.findall(r"isinstance\(event, (\w+)\)", source))
    hooks = ("handle", "app_send", "_send_wsproto_event", "_handle_events")
    return (
        parameters == _STREAM_PARAMETERS
        and handled == _HANDLED_EVENTS
        and all(callable(getattr(WSStream, hook, None)) for hook in hooks)
    )


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
    * Count and bound what each WebSocket connection holds from the moment it is read
      (:class:`FlowWSStream` in place of hypercorn's stream for HTTP/1.1 and HTTP/2).

    All four replace library internals, so each is checked first and skipped, with a
    warning, if the library no longer looks as expected.
    """
    import hypercorn.asyncio.tcp_server as tcp_server
    import hypercorn.protocol.h2 as h2_protocol
    import hypercorn.protocol.h11 as h11_protocol
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
    protocols = (h11_protocol, h2_protocol)
    if _stream_as_expected() and all(
        getattr(module, "WSStream", None) in (WSStream, FlowWSStream) for module in protocols
    ):
        for module in protocols:
            module.WSStream = FlowWSStream  # type: ignore[attr-defined]
    else:
        log.warning(
            "hypercorn changed; WebSocket messages are assembled and queued by hypercorn, "
            "outside FILE_UPLOAD_WS_MAX_BUFFER"
        )
