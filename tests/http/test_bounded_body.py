"""``BoundedBody``, the request body with back-pressure, on its own (the streaming tests
cover it end to end through hypercorn)."""

from __future__ import annotations

import asyncio

import pytest
from werkzeug.exceptions import RequestEntityTooLarge

from skysend_http.streaming import HIGH_WATER, BoundedBody

PIECE = b"x" * (HIGH_WATER // 4)


async def test_pieces_come_out_in_order_then_the_stream_ends() -> None:
    body = BoundedBody(None, None)
    for n in range(3):
        body.append(bytes([n]) * 10)
    body.append(b"")  # ignored
    body.set_complete()
    assert [piece async for piece in body] == [bytes([n]) * 10 for n in range(3)]


async def test_the_reader_waits_for_data() -> None:
    body = BoundedBody(None, None)
    reading = asyncio.ensure_future(body.__anext__())
    await asyncio.sleep(0.01)
    assert not reading.done()
    body.append(b"late")
    assert await asyncio.wait_for(reading, 1) == b"late"
    body.set_complete()
    with pytest.raises(StopAsyncIteration):
        await body.__anext__()


async def test_room_closes_at_the_high_water_mark_and_reopens_when_read() -> None:
    body = BoundedBody(None, None)
    for _ in range(3):
        body.append(PIECE)
    await asyncio.wait_for(body.wait_for_room(), 1)  # below the mark
    body.append(PIECE)
    waiting = asyncio.ensure_future(body.wait_for_room())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    assert await body.__anext__() == PIECE
    await asyncio.wait_for(waiting, 1)


async def test_awaiting_gives_the_whole_body_every_time() -> None:
    body = BoundedBody(None, None)
    body.append(b"ab")
    body.append(b"cd")
    body.set_complete()
    assert await body == b"abcd"
    assert await body == b"abcd"


async def test_a_body_over_its_maximum_raises_to_the_reader() -> None:
    body = BoundedBody(None, 5)
    body.append(b"123")
    body.append(b"456")
    with pytest.raises(RequestEntityTooLarge):
        await body.__anext__()
    with pytest.raises(RequestEntityTooLarge):
        await body


async def test_an_answer_before_the_body_is_read_does_not_stall_the_connection() -> None:
    """hypercorn hands a request body to the app through a queue of 10 messages and, when
    the response is complete, puts ``http.disconnect`` into that same queue before it closes
    the connection. A handler that answered without reading the body left the receiver
    waiting for room, so the queue stayed full, the final ``send`` never returned, and the
    connection hung with the client still sending."""
    from skysend_http.app import SkySendQuart

    app = SkySendQuart(__name__)

    @app.post("/refuse")
    async def refuse() -> tuple[str, int]:
        await asyncio.sleep(0.2)  # meanwhile the client fills every buffer
        return "no", 400

    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue(10)  # hypercorn's default size

    async def client_keeps_sending() -> None:
        while True:  # one message per socket read, as the server's reader does
            await queue.put({"type": "http.request", "body": b"x" * 1_048_576, "more_body": True})
            await asyncio.sleep(0)

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            await queue.put({"type": "http.disconnect"})  # as hypercorn does

    scope = {
        "type": "http",
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
        "method": "POST",
        "scheme": "http",
        "path": "/refuse",
        "raw_path": b"/refuse",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"x"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 4000),
        "server": ("127.0.0.1", 80),
        "extensions": {},
        "state": {},
    }
    sender = asyncio.ensure_future(client_keeps_sending())
    try:
        await asyncio.wait_for(app(scope, queue.get, send), 10)  # type: ignore[arg-type]
    finally:
        sender.cancel()
    assert sent[0]["status"] == 400
