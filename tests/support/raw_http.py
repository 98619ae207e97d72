"""HTTP/1.1 over a plain socket, for cases a client library hides: bodies never sent in
full, connection reuse and closing."""

from __future__ import annotations

import socket

import httpx


def read_response(sock: socket.socket) -> httpx.Response:
    """Read one response (with ``Content-Length``) from ``sock``, leaving the connection
    open for the next one."""
    received = b""
    while b"\r\n\r\n" not in received:
        data = sock.recv(65536)
        assert data, "connection closed before a response"
        received += data
    raw_head, rest = received.split(b"\r\n\r\n", 1)
    status_line, *lines = raw_head.decode("latin-1").split("\r\n")
    headers = httpx.Headers([_field(line) for line in lines])
    length = int(headers["Content-Length"])
    while len(rest) < length:
        data = sock.recv(65536)
        assert data, "connection closed in the middle of the response"
        rest += data
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=rest[:length])


def _field(line: str) -> tuple[str, str]:
    name, _, value = line.partition(": ")
    return name, value
