"""Streaming over real sockets against ``skysend serve`` in a child process.

Large transfers must not grow the server's memory with the payload, and a body that does
not match its declared length must leave nothing behind (http-api.md §2.4, §1.14;
storage-and-lifecycle.md §3.1).
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.files_api import (
    MIB,
    Credentials,
    pieces,
    query,
    stored_files,
    temp_files,
    upload,
    upload_headers,
)
from tests.support.servers import RssSampler, ServerProcess

GIB = 1024 * MIB
RSS_BUDGET = 64 * MIB
SIZE_MISMATCH = {"error": "Body size does not match declared content length"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("streaming")) as process:
        yield process


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as http:
        yield http


def hashed(source: Iterator[bytes], digest: hashlib._Hash) -> Iterator[bytes]:
    for piece in source:
        digest.update(piece)
        yield piece


def warm_up(client: httpx.Client) -> None:
    """Load every code path once so that the baseline is not measured cold."""
    stored = upload(client, size=4 * MIB)
    response = client.get(f"/api/download/{stored.id}", headers=stored.auth)
    assert response.content == stored.data


def rows(server: ServerProcess) -> list[tuple[object, ...]]:
    return query(server.data_dir, "SELECT id FROM uploads ORDER BY id")


# -- memory stays flat -----------------------------------------------------------------


@pytest.mark.slow
def test_one_gib_upload_and_download_keep_server_memory_flat(
    server: ServerProcess, client: httpx.Client
) -> None:
    warm_up(client)
    creds = Credentials()
    sent = hashlib.sha256()
    headers = upload_headers(GIB, creds) | {"Content-Length": str(GIB)}
    with RssSampler(server) as upload_rss:
        response = client.post("/api/upload", headers=headers, content=hashed(pieces(GIB), sent))
    assert response.status_code == 200, response.text
    upload_id = response.json()["id"]
    assert (server.data_dir / "uploads" / f"{upload_id}.bin").stat().st_size == GIB
    assert upload_rss.samples > 10
    assert upload_rss.growth < RSS_BUDGET, f"upload grew RSS by {upload_rss.growth / MIB:.1f} MiB"

    received = hashlib.sha256()
    size = 0
    with RssSampler(server) as download_rss:
        auth = {"X-Auth-Token": creds.auth}
        with client.stream("GET", f"/api/download/{upload_id}", headers=auth) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-length"] == str(GIB)
            for piece in stream.iter_raw(MIB):
                received.update(piece)
                size += len(piece)
    assert size == GIB
    assert received.hexdigest() == sent.hexdigest()
    assert download_rss.samples > 10
    assert download_rss.growth < RSS_BUDGET, (
        f"download grew RSS by {download_rss.growth / MIB:.1f} MiB"
    )
    deleted = client.delete(f"/api/upload/{upload_id}", headers={"X-Owner-Token": creds.owner})
    assert deleted.status_code == 200


# -- bodies that do not match their declared length ------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def assert_nothing_stored(
    server: ServerProcess, files_before: list[str], rows_before: object
) -> None:
    """No new blob, no temporary file, no row: the attempt left no trace."""
    assert wait_until(lambda: not temp_files(server.data_dir)), temp_files(server.data_dir)
    assert stored_files(server.data_dir) == files_before
    assert rows(server) == rows_before


def refused_or_cut(send: Callable[[], httpx.Response]) -> None:
    """A body refused while it is still being sent: the client either reads the 400 or
    finds the connection closed under its upload, depending on timing."""
    try:
        response = send()
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        return
    assert (response.status_code, response.json()) == (400, SIZE_MISMATCH)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_longer_than_declared_is_refused_while_streaming(
    server: ServerProcess, client: httpx.Client, chunked: bool
) -> None:
    declared, actual = 4 * MIB, 64 * MIB
    files_before, rows_before = stored_files(server.data_dir), rows(server)
    headers = upload_headers(declared)
    if not chunked:
        headers["Content-Length"] = str(actual)
    started = time.monotonic()
    refused_or_cut(lambda: client.post("/api/upload", headers=headers, content=pieces(actual)))
    assert time.monotonic() - started < 30
    assert_nothing_stored(server, files_before, rows_before)


def test_small_body_longer_than_declared_gets_the_400(
    server: ServerProcess, client: httpx.Client
) -> None:
    files_before, rows_before = stored_files(server.data_dir), rows(server)
    response = client.post("/api/upload", headers=upload_headers(1000), content=b"x" * 1001)
    assert (response.status_code, response.json()) == (400, SIZE_MISMATCH)
    assert_nothing_stored(server, files_before, rows_before)


def test_chunked_body_shorter_than_declared_is_refused(
    server: ServerProcess, client: httpx.Client
) -> None:
    files_before, rows_before = stored_files(server.data_dir), rows(server)
    headers = upload_headers(16 * MIB)
    response = client.post("/api/upload", headers=headers, content=pieces(9 * MIB))
    assert "content-length" not in response.request.headers
    assert (response.status_code, response.json()) == (400, SIZE_MISMATCH)
    assert_nothing_stored(server, files_before, rows_before)


def request_head(server: ServerProcess, headers: dict[str, str]) -> bytes:
    lines = ["POST /api/upload HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def upload_then_hang_up(
    server: ServerProcess, headers: dict[str, str], body: Iterator[bytes]
) -> None:
    """Send the head and part of the body on a raw socket, wait until the server is
    writing it to disk, then close the connection as a client that went away would."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_head(server, headers))
        for piece in body:
            sock.sendall(piece)
        assert wait_until(lambda: bool(temp_files(server.data_dir))), "the upload never started"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_client_hanging_up_mid_body_leaves_nothing(server: ServerProcess, chunked: bool) -> None:
    declared = 32 * MIB
    files_before, rows_before = stored_files(server.data_dir), rows(server)
    headers = upload_headers(declared)
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
        body: Iterator[bytes] = (b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces(3 * MIB))
    else:
        headers["Content-Length"] = str(declared)
        body = pieces(3 * MIB)
    upload_then_hang_up(server, headers, body)
    assert_nothing_stored(server, files_before, rows_before)
    # The server is unharmed.
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/api/health").status_code == 200


def test_single_upload_of_exactly_the_declared_length_streams_in(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    """The counterpart of the refusals: chunked transfer with X-Content-Length works."""
    sent = hashlib.sha256()
    creds = Credentials()
    body = hashed(pieces(24 * MIB + 5), sent)
    response = client.post("/api/upload", headers=upload_headers(24 * MIB + 5, creds), content=body)
    assert response.status_code == 200, response.text
    fetched = client.get(
        f"/api/download/{response.json()['id']}", headers={"X-Auth-Token": creds.auth}
    )
    assert hashlib.sha256(fetched.content).hexdigest() == sent.hexdigest()
