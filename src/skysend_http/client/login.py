"""Obtaining an OIDC session token with the browser (oidc.md §9, ``cli_callback`` flow).

1. Listen on ``127.0.0.1`` at a free port.
2. Open ``<server>/auth/login?cli_callback=<http://127.0.0.1:<port>/callback>``.
3. After the provider login the server redirects the browser to
   ``/callback?token=<session jwt>``; the first request is answered with a small page and
   ends the wait.

The token is then sent as ``Authorization: Bearer`` on guarded creation requests. Its
payload (``name``, ``email``, ``exp``) is readable with :func:`jwt_claims`, without
verification: the server verifies it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import webbrowser
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from skysend_http.client.errors import SkySendClientError

LOGIN_TIMEOUT_S = 300.0
_PAGE = (
    "<!doctype html><meta charset=utf-8><title>SkySend</title>"
    "<body style='font-family:sans-serif'><h1>{title}</h1><p>{text}</p></body>"
)


class LoginError(SkySendClientError):
    """The browser login did not produce a session token."""


def login_url(server: str, callback: str) -> str:
    return f"{server.rstrip('/')}/auth/login?cli_callback={quote(callback, safe='')}"


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, decoded without verification; ``{}`` if it is malformed."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


async def browser_login(
    server: str,
    *,
    open_browser: Callable[[str], object] | None = None,
    on_url: Callable[[str], None] | None = None,
    timeout: float = LOGIN_TIMEOUT_S,
) -> str:
    """Run the ``cli_callback`` flow and return the session token.

    ``open_browser(url)`` defaults to :func:`webbrowser.open`; ``on_url(url)`` is told the
    URL too, for users whose browser does not open by itself.
    """
    received: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 10)
            token = _token_from_request_line(request_line)
            ok = token is not None
            body = _PAGE.format(
                title="Login successful" if ok else "Login failed",
                text="You can close this window and return to the terminal."
                if ok
                else "No token was received. Please try again.",
            ).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                b"Content-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
            if not received.done():
                received.set_result(token)
        except (OSError, TimeoutError, ValueError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        port = listener.sockets[0].getsockname()[1]
        url = login_url(server, f"http://127.0.0.1:{port}/callback")
        if on_url is not None:
            on_url(url)
        await asyncio.to_thread(open_browser or webbrowser.open, url)
        try:
            token = await asyncio.wait_for(received, timeout)
        except TimeoutError:
            raise LoginError("Timed out waiting for the browser login") from None
    finally:
        listener.close()
        await listener.wait_closed()
    if not token:
        raise LoginError("OIDC callback received no token")
    return token


def _token_from_request_line(line: bytes) -> str | None:
    parts = line.decode("latin-1").split()
    if len(parts) < 2:
        return None
    query = parse_qs(urlsplit(parts[1]).query)
    tokens = query.get("token")
    return tokens[0] if tokens and tokens[0] else None
