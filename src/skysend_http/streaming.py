"""Request-body streaming with back-pressure.

Quart's stock ``Body`` appends every received ASGI message to an unbounded buffer, so a
client faster than the disk would make memory grow with the upload. Here the receiving
side waits while more than :data:`HIGH_WATER` bytes are buffered; hypercorn then stops
reading the socket, and TCP slows the sender down. Memory stays flat in the file size.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Generator
from typing import Any

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
from quart.asgi import ASGIHTTPConnection
from quart.typing import ResponseTypes
from quart.utils import encode_headers
from quart.wrappers import Request
from quart.wrappers.request import Body
from quart.wrappers.response import DataBody
from werkzeug.exceptions import RequestEntityTooLarge

from skysend_core.errors import TooLarge

HIGH_WATER = 4 * 1024 * 1024


class BoundedBody(Body):
    """A request body whose producer pauses while the consumer is behind.

    Received pieces are queued as they are and handed out one by one: the stock body
    copies every piece into one growing buffer and copies that buffer again on each read,
    which cost about a sixth of the server's CPU on large uploads.
    """

    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self._pieces: deque[bytes] = deque()
        self._buffered = 0
        self._room = asyncio.Event()
        self._room.set()
        self._abandoned = False

    def abandon(self) -> None:
        """The response is complete: nobody will read the rest. Drop what is buffered,
        discard what still arrives, and never make the receiver wait again, so that the
        server's queue of incoming messages keeps draining until the connection ends."""
        self._abandoned = True
        self.clear()

    def append(self, data: bytes) -> None:
        if not data or self._must_raise is not None or self._abandoned:
            return
        self._pieces.append(bytes(data))
        self._buffered += len(data)
        self._has_data.set()
        if self._max_content_length is not None and self._buffered > self._max_content_length:
            self._must_raise = RequestEntityTooLarge()
            self.set_complete()
        elif self._buffered >= HIGH_WATER:
            self._room.clear()

    async def __anext__(self) -> bytes:
        if self._must_raise is not None:
            raise self._must_raise
        while not self._pieces:
            if self._complete.is_set():
                raise StopAsyncIteration
            await self._has_data.wait()
            if self._must_raise is not None:
                raise self._must_raise
        data = self._pieces.popleft()
        self._buffered -= len(data)
        if not self._pieces:
            self._has_data.clear()
        if self._buffered < HIGH_WATER:
            self._room.set()
        return data

    def __await__(self) -> Generator[Any, None, Any]:
        if self._must_raise is not None:
            raise self._must_raise
        yield from self._complete.wait().__await__()
        if self._must_raise is not None:
            raise self._must_raise
        whole = b"".join(self._pieces)
        self._pieces = deque([whole]) if whole else deque()
        return whole

    def clear(self) -> None:
        self._pieces.clear()
        self._buffered = 0
        self._room.set()

    async def wait_for_room(self) -> None:
        await self._room.wait()


class StreamingRequest(Request):
    body_class = BoundedBody


class StreamingHTTPConnection(ASGIHTTPConnection):
    async def handle_request(self, request: Request, send: ASGISendCallable) -> None:
        """Abandon the request body when the response is complete.

        hypercorn puts ``http.disconnect`` into the app's bounded receive queue after the
        last response message, before it closes the connection. If the handler answered
        without reading the whole body, the receiver would still be waiting for room and
        the queue would stay full: that final send, and so the connection, would hang.
        """
        body = request.body

        async def send_then_release(message: Any) -> None:
            ends = message["type"] == "http.response.body" and not message.get("more_body")
            if ends and isinstance(body, BoundedBody):
                body.abandon()
            await send(message)

        await super().handle_request(request, send_then_release)

    async def _send_response(self, send: ASGISendCallable, response: ResponseTypes) -> None:
        """A body held in memory (every JSON answer) leaves as one message that also ends
        the response; the stock path adds an empty closing message. Streams are unchanged."""
        body = getattr(response, "response", None)
        if not isinstance(body, DataBody):
            await super()._send_response(send, response)
            return
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": encode_headers(response.headers),
            }
        )
        data = body.data[body.begin : body.end]
        await send({"type": "http.response.body", "body": data, "more_body": False})

    async def handle_messages(self, request: Request, receive: ASGIReceiveCallable) -> None:
        body = request.body
        while True:
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body.set_complete()
                elif isinstance(body, BoundedBody):
                    await body.wait_for_room()
            elif message["type"] == "http.disconnect":
                return


async def read_limited(
    request: Request, limit: int, message: str = "Request body too large"
) -> bytes:
    """Read a small body whole, refusing it (413) as soon as it passes ``limit`` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise TooLarge(message)
    data = bytearray()
    async for chunk in request.body:
        data += chunk
        if len(data) > limit:
            raise TooLarge(message)
    return bytes(data)


async def body_stream(request: Request) -> AsyncIterator[bytes]:
    """The request body as a stream of non-empty pieces."""
    async for chunk in request.body:
        if chunk:
            yield chunk
