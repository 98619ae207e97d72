"""Upload transports against a live server: when the WebSocket may fall back to HTTP, and
how many HTTP chunks go up at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from skysend_http.client import AsyncClient, ProgressEvent, WebSocketUploadError
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
