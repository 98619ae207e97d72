"""The request pipeline in front of the endpoints (``skysend_http.gateway``): connection
reuse after bodies left unread, over real sockets, and a failing rate limiter."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from tests.support.memory import memory_limits
from tests.support.raw_http import read_response
from tests.support.servers import base_env, running_app

from skysend_adapters.clock import ManualClock
from skysend_core.config import Settings
from skysend_core.errors import StorageError
from skysend_core.limits import Limits
from skysend_core.limits_model import RateWindow
from skysend_http import gateway
from skysend_http.gateway import Gateway


def post(path: str, body: bytes, declared: int | None = None) -> bytes:
    length = len(body) if declared is None else declared
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode() + body


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running_app(tmp_path_factory.mktemp("gateway")) as base:
        yield base


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def test_a_fully_read_body_keeps_the_connection(url: str) -> None:
    with connect(url) as sock:
        for _ in range(2):  # the second request travels on the same connection
            sock.sendall(post("/api/note/" + "0" * 36 + "/view", b'{"authToken":"x"}'))
            response = read_response(sock)
            assert (response.status_code, response.content) == (404, b'{"error":"Note not found"}')
            assert "connection" not in response.headers


def test_a_body_still_arriving_is_read_before_the_answer(url: str) -> None:
    """The 404 of an unknown path is ready at once; the client is still sending its body.
    The answer waits for the body, so the client reads it and keeps the connection."""
    body = b"x" * 300_000
    with connect(url) as sock:
        sock.sendall(post("/api/nowhere", body[:65_536], declared=len(body)))
        time.sleep(0.3)
        sock.sendall(body[65_536:])
        response = read_response(sock)
        assert (response.status_code, response.content) == (404, b'{"error":"Not found"}')
        assert "connection" not in response.headers
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock).status_code == 200


def test_the_pipeline_s_own_refusals_also_wait_for_the_body(tmp_path: Path) -> None:
    body = b"x" * 300_000
    # The start-up health probe is the first counted request.
    with running_app(tmp_path, {"RATE_LIMIT_MAX": "2"}) as base, connect(base) as sock:
        for expected in (404, 429):
            sock.sendall(post("/api/nowhere", body[:65_536], declared=len(body)))
            time.sleep(0.3)
            sock.sendall(body[65_536:])
            response = read_response(sock)
            assert response.status_code == expected
            assert "connection" not in response.headers


def test_an_answer_before_the_body_arrives_closes_the_connection(url: str) -> None:
    with connect(url) as sock:
        # A refusal that never reads the body, and a body that never comes: after the
        # linger the answer goes out with Connection: close.
        sock.sendall(post("/api/nowhere", b"", declared=10_000_000))
        response = read_response(sock)
        assert (response.status_code, response.content) == (404, b'{"error":"Not found"}')
        assert response.headers["connection"] == "close"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-ratelimit-limit"]
        assert sock.recv(1) == b""  # the server closed it


class BrokenRates:
    async def hit(self, key: str, now_ms: int, window_ms: int) -> RateWindow:
        raise StorageError("rate table unreadable")

    async def purge(self, now_ms: int) -> int:
        return 0

    async def forget_all(self) -> None:
        return None


async def test_a_failing_rate_limiter_answers_500_without_calling_the_endpoint(
    tmp_path: Path,
) -> None:
    settings = Settings.from_env(base_env(tmp_path, 8080))
    limits = memory_limits(settings, ManualClock(1_750_000_000_000), BrokenRates())
    await limits.start()
    reached: list[Any] = []

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope)

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": "/api/health",
        "headers": [(b"host", b"x")],
        "client": ("192.0.2.1", 4000),
    }
    await Gateway(endpoint, settings, lambda: limits)(scope, receive, send)
    assert reached == []
    start, body = sent
    headers = dict(start["headers"])
    assert start["status"] == 500
    assert body["body"] == b'{"error":"Internal server error"}'
    assert headers[b"cache-control"] == b"no-store"
    assert headers[b"x-frame-options"] == b"DENY"


def leaving_client() -> Any:
    """An ASGI receive: part of a declared body, then the client goes away."""
    messages = [
        {"type": "http.request", "body": b"x" * 100, "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Any:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # nothing more ever arrives
        raise AssertionError("unreachable")

    return receive


def upload_scope(method: str) -> dict[str, Any]:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": "/api/upload",
        "headers": [(b"host", b"x"), (b"content-length", b"1000000")],
        "client": ("192.0.2.1", 4000),
    }


@pytest.fixture
def patient_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    """The linger made longer than any test, so only the client's leaving can end it."""
    monkeypatch.setattr(gateway, "LINGER_S", 3600.0)


@pytest.mark.usefixtures("patient_gateway")
async def test_an_early_answer_stops_waiting_when_the_client_leaves(tmp_path: Path) -> None:
    settings = Settings.from_env(base_env(tmp_path, 8080))
    limits = await started_limits(settings)

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        # As Quart does: answer at once while another task keeps receiving.
        drain = asyncio.ensure_future(drain_until_disconnect(receive))
        await send({"type": "http.response.start", "status": 413, "headers": []})
        await send({"type": "http.response.body", "body": b"{}", "more_body": False})
        await drain

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    run = Gateway(endpoint, settings, lambda: limits)(upload_scope("POST"), leaving_client(), send)
    await asyncio.wait_for(run, 10)
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]


@pytest.mark.usefixtures("patient_gateway")
async def test_the_pipeline_s_own_answer_stops_draining_when_the_client_leaves(
    tmp_path: Path,
) -> None:
    settings = Settings.from_env(base_env(tmp_path, 8080))
    limits = await started_limits(settings)

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("a preflight never reaches the endpoints")

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    run = Gateway(endpoint, settings, lambda: limits)(
        upload_scope("OPTIONS"), leaving_client(), send
    )
    await asyncio.wait_for(run, 10)
    assert sent[0]["status"] == 204
    assert sent[1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def drain_until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def started_limits(settings: Settings) -> Limits:
    limits = memory_limits(settings, ManualClock(1_750_000_000_000))
    await limits.start()
    return limits
