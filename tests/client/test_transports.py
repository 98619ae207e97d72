"""Upload transports against a live server: when the WebSocket may fall back to HTTP, and
how many HTTP chunks go up at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from skysend_core.crypto import RECORD_SIZE
from skysend_http.client import AsyncClient, ProgressEvent, WebSocketUploadError
from skysend_http.client.uploads import chunk_records_for
from tests.client.live import Live, random_file, same_content

MIB = 1024 * 1024
SIZE = 17 * MIB + 5


class CuttingProxy:
    """A TCP relay in front of the server that cuts the WebSocket upload's connection once
    the client has sent ``cut_after`` bytes beyond its upgrade request (other connections
    are relayed in full). ``cut_after=0`` cuts it as the ``init`` message arrives."""

    def __init__(self, target: str, cut_after: int) -> None:
        parts = urlsplit(target)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.cut_after = cut_after
        self.cuts = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.connections: list[asyncio.StreamWriter] = []
        self.url = ""

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[CuttingProxy]:
        server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            yield self
        finally:
            server.close()
            for connection in self.connections:  # idle keep-alive connections end here
                connection.transport.abort()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        upstream_reader, upstream = await asyncio.open_connection(self.host, self.port)
        self.connections += [writer, upstream]
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            upstream.write(head)
            limit = self.cut_after if head.startswith(b"GET /api/upload/ws ") else None
            relays = [
                asyncio.create_task(self._relay(reader, upstream, limit)),
                asyncio.create_task(self._relay(upstream_reader, writer, None)),
            ]
            _, pending = await asyncio.wait(relays, return_when=asyncio.FIRST_COMPLETED)
            for relay in pending:
                relay.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for stream in (writer, upstream):
                stream.transport.abort()

    async def _relay(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, limit: int | None
    ) -> None:
        passed = 0
        while data := await source.read(65536):
            if limit is not None and passed + len(data) > limit:
                self.cuts += 1
                return  # the caller aborts both connections: a connection lost mid-stream
            passed += len(data)
            sink.write(data)
            await sink.drain()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return random_file(tmp_path / "source.bin", SIZE)


async def test_a_websocket_lost_before_any_payload_falls_back_to_http(
    live: Live, source: Path, tmp_path: Path
) -> None:
    events: list[ProgressEvent] = []
    async with (
        CuttingProxy(live.url, cut_after=0).running() as proxy,
        AsyncClient(proxy.url) as client,
    ):
        result = await client.upload(source, progress=events.append)
        downloaded = await client.download(result.url, tmp_path / "out")
    assert proxy.cuts == 1
    assert result.transport == "chunked"
    assert result.fallback_reason is not None
    assert [e.phase for e in events].count("fallback") == 1
    assert same_content(downloaded.path, source)


async def test_a_websocket_lost_mid_stream_is_an_error_not_a_second_upload(
    live: Live, source: Path
) -> None:
    events: list[ProgressEvent] = []
    async with (
        CuttingProxy(live.url, cut_after=2 * MIB).running() as proxy,
        AsyncClient(proxy.url) as client,
    ):
        with pytest.raises(WebSocketUploadError) as failed:
            await client.upload(source, progress=events.append)
    assert proxy.cuts == 1
    assert failed.value.payload_sent is True
    assert "fallback" not in [e.phase for e in events]
    sent = [e.done for e in events if e.phase == "uploading"]
    assert sent.count(0) == 1  # one attempt: the upload did not start over
    assert sent == sorted(sent)


class ChunkCounter(httpx.AsyncBaseTransport):
    """Passes every request to the network and records how many chunk requests were in
    flight at once, and how many the server refused as out of order."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.in_flight = 0
        self.most_in_flight = 0
        self.chunks = 0
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/chunk"):
            return await self.inner.handle_async_request(request)
        self.chunks += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            response = await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1
        self.refused += response.status_code == 429
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("concurrency", [3, 8])
async def test_as_many_chunks_in_flight_as_the_server_allows(
    start_live: Callable[..., Live], tmp_path: Path, concurrency: int
) -> None:
    live = start_live(FILE_UPLOAD_CONCURRENT_CHUNKS=str(concurrency))
    source = random_file(tmp_path / "big.bin", 40 * MIB + 5)
    counter = ChunkCounter()
    async with AsyncClient(live.url, transport=counter) as client:
        result = await client.upload(source, transport="chunked")
        downloaded = await client.download(result.url, tmp_path / "out")
    assert counter.most_in_flight == concurrency
    assert counter.refused == 0
    assert counter.chunks == -(-(40 * MIB + 5) // (chunk_records_for(concurrency) * RECORD_SIZE))
    assert same_content(downloaded.path, source)
