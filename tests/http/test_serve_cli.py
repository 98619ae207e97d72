"""``skysend serve``: configuration errors, start-up warnings, signals, several workers."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from tests.support.files_api import Credentials, payload, upload_headers
from tests.support.servers import ServerProcess, base_env, free_port, wait_healthy

SERVE = [sys.executable, "-m", "skysend_http.cli", "serve"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "not-a-port"),
        ("FILE_MAX_SIZE", "lots"),
        ("FILE_UPLOAD_CONCURRENT_CHUNKS", "50"),
        ("DEFAULT_THEME", "pink"),
        ("BASE_URL", "not a url"),
    ],
)
def test_invalid_variable_exits_1_naming_it(tmp_path: Path, name: str, value: str) -> None:
    env = {**os.environ, **base_env(tmp_path, free_port()), name: value}
    result = subprocess.run(SERVE, env=env, capture_output=True, timeout=60, check=False)
    assert result.returncode == 1
    assert name in result.stderr.decode()
    assert not (tmp_path / "db").exists()  # nothing was prepared


@contextlib.contextmanager
def serve(
    env: dict[str, str], port: int, log: Path, *args: str
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*SERVE, *args],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process=process)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_without_base_url_it_starts_warns_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, **base_env(tmp_path, port)}
    del env["BASE_URL"]
    log = tmp_path / "server.log"
    with serve(env, port, log, "--workers", "1") as process:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            created = client.post("/api/upload", content=b"abc", headers=upload_headers(3))
        assert created.json()["url"] == f"http://localhost:{port}/file/{created.json()['id']}"
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    output = log.read_text()
    assert "BASE_URL" in output
    assert "WARNING" in output
    assert "Traceback" not in output
    # The key that hashed client addresses does not outlive the server.
    with contextlib.closing(sqlite3.connect(tmp_path / "db" / "skysend.db")) as db:
        assert db.execute("SELECT count(*) FROM server_state").fetchone() == (0,)


def worker_pids(server: ServerProcess) -> list[int]:
    """The processes that accept connections (the supervisor only holds the socket)."""
    assert server.process is not None
    supervisor = psutil.Process(server.process.pid)
    workers = []
    for child in supervisor.children(recursive=True):
        listening = [
            conn
            for conn in child.net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == server.port
        ]
        if listening:
            workers.append(child.pid)
    return sorted(workers)


def owner(server: ServerProcess, client_port: int) -> int | None:
    for pid in server.pids():
        with contextlib.suppress(psutil.NoSuchProcess):
            for conn in psutil.Process(pid).net_connections(kind="tcp"):
                if conn.raddr and conn.raddr.port == client_port and conn.laddr.port == server.port:
                    return pid
    return None


@contextlib.contextmanager
def connection_to(server: ServerProcess, worker: int) -> Iterator[http.client.HTTPConnection]:
    """A fresh connection accepted by ``worker``: the other workers are paused
    (SIGSTOP) while it is accepted, so no other process can take it."""
    others = [pid for pid in worker_pids(server) if pid != worker]
    for pid in others:
        os.kill(pid, signal.SIGSTOP)
    try:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        client_port = sock.getsockname()[1]
        deadline = time.monotonic() + 10
        while owner(server, client_port) is None:
            assert time.monotonic() < deadline, "connection never accepted"
            time.sleep(0.01)
        assert owner(server, client_port) == worker
    finally:
        for pid in others:
            os.kill(pid, signal.SIGCONT)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.sock = sock
    try:
        yield connection
    finally:
        connection.close()


def call(
    server: ServerProcess,
    worker: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    with connection_to(server, worker) as connection:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("cli-workers"), workers=2) as server:
        yield server


def test_two_workers_serve(two_workers: ServerProcess) -> None:
    workers = worker_pids(two_workers)
    assert len(workers) == 2
    for worker in workers:
        status, body = call(two_workers, worker, "GET", "/api/health")
        assert status == 200
        assert json.loads(body)["status"] == "ok"


def test_no_server_banner(two_workers: ServerProcess) -> None:
    response = httpx.get(f"{two_workers.url}/api/health")
    assert response.status_code == 200
    assert "server" not in response.headers
    assert "date" in response.headers


def test_chunked_upload_spread_over_both_workers(two_workers: ServerProcess) -> None:
    """Init, every chunk, finalize and the download each land on a chosen worker,
    alternating, on fresh connections: nothing may live in one process's memory."""
    first, second = worker_pids(two_workers)
    data = payload(6 * 100_000 + 1)
    creds = Credentials()
    status, body = call(
        two_workers,
        first,
        "POST",
        "/api/upload/init",
        b"",
        upload_headers(len(data), creds, file_count=2, max_downloads=2),
    )
    assert status == 201
    upload_id = json.loads(body)["id"]
    pieces = [data[i : i + 100_000] for i in range(0, len(data), 100_000)]
    order = [3, 0, 6, 1, 5, 2, 4]
    for step, index in enumerate(order):
        worker = second if step % 2 == 0 else first
        status, body = call(
            two_workers,
            worker,
            "POST",
            f"/api/upload/{upload_id}/chunk?index={index}",
            pieces[index],
        )
        assert status == 200, body
    # A duplicate is recognised by the other worker too.
    status, body = call(
        two_workers, first, "POST", f"/api/upload/{upload_id}/chunk?index=3", pieces[3]
    )
    assert (status, json.loads(body)) == (409, {"error": "Chunk already received"})
    status, body = call(
        two_workers,
        second,
        "POST",
        f"/api/upload/{upload_id}/finalize",
        b"",
        {"X-Owner-Token": creds.owner},
    )
    assert status == 200, body
    status, body = call(
        two_workers, first, "GET", f"/api/download/{upload_id}", None, {"X-Auth-Token": creds.auth}
    )
    assert status == 200
    assert body == data
    status, body = call(two_workers, second, "GET", f"/api/info/{upload_id}")
    assert json.loads(body)["downloadCount"] == 1


def test_sigterm_stops_both_workers_with_exit_0(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", workers=2).start()
    workers = worker_pids(server)
    assert len(workers) == 2
    assert server.stop() == 0
    for pid in workers:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert "Traceback" not in server.log.read_text()
