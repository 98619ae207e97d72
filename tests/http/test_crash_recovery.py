"""A crash in the middle of uploads (SIGKILL of the whole server) loses nothing that was
acknowledged and leaves nothing half-written (storage-and-lifecycle.md §3.1, §4, §6)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import httpx
import pytest
from tests.support.files_api import (
    MIB,
    Credentials,
    Stored,
    chunked_upload,
    db_path,
    download,
    finalize,
    init_chunked,
    payload,
    query,
    send_chunk,
    stored_files,
    temp_files,
    upload,
    upload_headers,
    uploads_dir,
)
from tests.support.servers import ServerProcess

from skysend_adapters.clock import ManualClock
from skysend_adapters.filesystem import FilesystemBlobStore
from skysend_adapters.sqlite import SqliteDatabase, SqliteUploadRepository, SqliteUploadSessionStore
from skysend_core.lifecycle import Cleanup, CleanupReport

DAY = 86400
CHUNK = 512 * 1024
CHUNKS = 4


@attrs.define
class Pending:
    """A chunked upload interrupted by the crash."""

    id: str
    creds: Credentials
    data: bytes
    committed: list[int]

    def chunk(self, index: int) -> bytes:
        return self.data[index * CHUNK : (index + 1) * CHUNK]


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def trickle(total: int, stop: threading.Event) -> Iterator[bytes]:
    """A body that arrives slowly and never completes before the crash."""
    sent = 0
    while sent < total and not stop.is_set():
        yield b"t" * 64 * 1024
        sent += 64 * 1024
        time.sleep(0.01)


def dribble(data: bytes, stop: threading.Event) -> Iterator[bytes]:
    """The real bytes of a chunk, so slowly that the crash comes first."""
    for start in range(0, len(data), 8 * 1024):
        if stop.is_set():
            return
        yield data[start : start + 8 * 1024]
        time.sleep(0.05)


def in_flight(send: Callable[[httpx.Client], object], url: str) -> threading.Thread:
    def run() -> None:
        # The server dies under the request: whatever the client reports is expected.
        with httpx.Client(base_url=url, timeout=30) as client, contextlib.suppress(Exception):
            send(client)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def assert_rows_point_to_whole_blobs(data_dir: Path) -> list[str]:
    """Every row's blob exists with exactly the row's size; returns the ids."""
    rows = query(data_dir, "SELECT id, storage_path, size FROM uploads")
    for upload_id, storage_path, size in rows:
        assert storage_path == f"{upload_id}.bin"
        blob = uploads_dir(data_dir) / str(storage_path)
        assert blob.is_file(), upload_id
        assert blob.stat().st_size == size, upload_id
    return [str(row[0]) for row in rows]


def partial_writes(data_dir: Path, pending: list[Pending]) -> int:
    """Writes cut short: temporary files, and chunks appended in place past what their
    session has committed."""
    cut = len(temp_files(data_dir))
    for session in pending:
        growing = uploads_dir(data_dir) / ".partial" / session.id / ".growing"
        with contextlib.suppress(FileNotFoundError):
            cut += growing.stat().st_size > len(session.committed) * CHUNK
    return cut


async def cleanup_at(data_dir: Path, now_ms: int) -> CleanupReport:
    async with await SqliteDatabase.open(db_path(data_dir)) as database:
        return await Cleanup(
            SqliteUploadRepository(database),
            SqliteUploadSessionStore(database),
            FilesystemBlobStore(uploads_dir(data_dir)),
            ManualClock(now_ms),
        ).run()


def populate(client: httpx.Client) -> tuple[list[Stored], list[Pending]]:
    finished = [
        upload(client, size=MIB, expire_sec=DAY, max_downloads=2),
        upload(client, size=3 * MIB + 7, expire_sec=DAY, max_downloads=2),
        upload(client, size=10, expire_sec=DAY, max_downloads=2),
        chunked_upload(
            client, payload(CHUNKS * CHUNK - 99), CHUNK, expire_sec=DAY, max_downloads=2
        ),
        chunked_upload(client, payload(2 * CHUNK), CHUNK, expire_sec=DAY, max_downloads=2),
    ]
    pending = []
    for committed in ([0], [0, 1], [2], [0, 1, 2], []):
        data = payload(CHUNKS * CHUNK)
        upload_id, creds = init_chunked(client, len(data), expire_sec=DAY, max_downloads=2)
        session = Pending(upload_id, creds, data, committed)
        for index in committed:
            assert send_chunk(client, upload_id, index, session.chunk(index)).status_code == 200
        pending.append(session)
    return finished, pending


@pytest.mark.slow
def test_sigkill_during_uploads_then_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    stop = threading.Event()
    threads: list[threading.Thread] = []
    server = ServerProcess(data_dir).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            finished, pending = populate(client)
        # Five single-request uploads streaming slowly...
        declared = 64 * MIB
        for _ in range(5):
            headers = upload_headers(declared, expire_sec=DAY) | {"Content-Length": str(declared)}

            def send(client: httpx.Client, headers: dict[str, str] = headers) -> object:
                return client.post("/api/upload", headers=headers, content=trickle(declared, stop))

            threads.append(in_flight(send, server.url))
        # ...and a chunk of two chunked sessions on its way.
        for session in pending[:2]:
            index = max(session.committed) + 1

            def send_slow_chunk(
                client: httpx.Client, session: Pending = session, index: int = index
            ) -> object:
                return client.post(
                    f"/api/upload/{session.id}/chunk",
                    params={"index": index},
                    content=dribble(session.chunk(index), stop),
                )

            threads.append(in_flight(send_slow_chunk, server.url))
        wait_until(lambda: partial_writes(data_dir, pending) >= 7)
    finally:
        server.kill()
        stop.set()
        for thread in threads:
            thread.join(30)
    assert partial_writes(data_dir, pending), "the crash should leave partial writes behind"

    with (
        ServerProcess(data_dir) as restarted,
        httpx.Client(base_url=restarted.url, timeout=30) as client,
    ):
        # Nothing half-written is visible, and every acknowledged upload is whole.
        ids = assert_rows_point_to_whole_blobs(data_dir)
        assert sorted(ids) == sorted(stored.id for stored in finished)
        for stored in finished:
            response = download(client, stored)
            assert response.status_code == 200
            assert response.content == stored.data
        # Unfinished chunked uploads carry on where they stopped.
        for session in pending:
            for index in range(CHUNKS):
                if index not in session.committed:
                    response = send_chunk(client, session.id, index, session.chunk(index))
                    # 409 only if the chunk in flight had reached the server whole.
                    assert response.status_code in (200, 409), response.text
            assert finalize(client, session.id, session.creds).status_code == 200
            fetched = download(client, Stored(session.id, session.creds, session.data))
            assert fetched.content == session.data
        assert_rows_point_to_whole_blobs(data_dir)

        # Once the crash debris is older than the session TTL, cleanup removes all of it.
        later = int(time.time() * 1000) + 2 * 60 * 60 * 1000
        asyncio.run(cleanup_at(data_dir, later))
        ids = assert_rows_point_to_whole_blobs(data_dir)
        assert len(ids) == len(finished) + len(pending)
        assert stored_files(data_dir) == sorted(f"{upload_id}.bin" for upload_id in ids)
        assert query(data_dir, "SELECT COUNT(*) FROM upload_sessions") == [(0,)]
        assert list((uploads_dir(data_dir) / ".partial").iterdir()) == []
        for stored in finished:
            assert download(client, stored).content == stored.data
