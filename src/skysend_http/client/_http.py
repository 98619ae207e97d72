"""httpx plumbing shared by every endpoint: one request helper, one error translation."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from skysend_http.client.errors import (
    InvalidResponseError,
    ServerError,
    TransportError,
    error_from_response,
)
from skysend_http.client.models import Phase, ProgressCallback, ProgressEvent

LONG_TIMEOUT = httpx.Timeout(30.0, read=600.0)
"""For requests whose answer waits on the server's storage (chunk commit, finalize)."""


def api_url(server: str, *parts: str) -> str:
    """``<server>/api/<parts…>`` with every dynamic part URL-encoded."""
    return f"{server}/api/" + "/".join(quote(part, safe="") for part in parts)


@contextlib.contextmanager
def translate_transport_errors() -> Iterator[None]:
    """httpx's network failures become :class:`TransportError`."""
    try:
        yield
    except httpx.TransportError as exc:
        raise TransportError(f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc)) from exc


async def raise_for_status(response: httpx.Response) -> None:
    """Any 2xx is success (clients.md Part 2, item 4); anything else a :class:`ServerError`."""
    if 200 <= response.status_code < 300:
        return
    content = await response.aread()
    raise error_from_response(response.status_code, content, response.headers)


async def request(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send a request, read the whole answer and raise on a non-2xx status."""
    with translate_transport_errors():
        response = await http.request(method, url, **kwargs)
    await raise_for_status(response)
    return response


async def request_json(
    http: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> Mapping[str, Any]:
    response = await request(http, method, url, **kwargs)
    try:
        data = response.json()
    except ValueError:
        raise InvalidResponseError("server answered with something that is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidResponseError("server answered with JSON that is not an object")
    return data


def json_id(data: Mapping[str, Any]) -> str:
    upload_id = data.get("id")
    if not isinstance(upload_id, str) or not upload_id:
        raise InvalidResponseError("server response has no id")
    return upload_id


def is_server_error(exc: BaseException) -> bool:
    return isinstance(exc, ServerError)


class ProgressCounter:
    """Counts bytes of one phase and reports them; safe to ``add`` negative amounts."""

    def __init__(self, callback: ProgressCallback | None, phase: Phase, total: int) -> None:
        self._callback = callback
        self.phase: Phase = phase
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self._emit()

    def add(self, amount: int) -> None:
        self.done += amount
        self._emit()

    def _emit(self) -> None:
        if self._callback is not None:
            self._callback(ProgressEvent(self.phase, self.done, self.total))


async def counted(
    pieces: Iterator[bytes], on_bytes: Callable[[int], None] | None
) -> AsyncIterator[bytes]:
    """Feed a blocking generator of pieces to httpx, counting what was handed over."""
    for piece in pieces:
        yield piece
        if on_bytes is not None:
            on_bytes(len(piece))
