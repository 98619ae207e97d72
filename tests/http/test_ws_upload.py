"""WebSocket upload transport (websocket-upload.md) against a live hypercorn.

Most tests use the real app (SQLite file, uploads folder) served in a thread. Tests that
must control the blob store's speed (back-pressure, 1009, keepalive, session touches) use
the same app over in-memory adapters with a throttled blob store built through the core
facade; multi-worker, crash and memory tests run ``skysend serve`` as a child process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import os
import secrets
import signal
import sqlite3
import sys
import textwrap
import threading
import time
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.memory import memory_limits
from tests.support.servers import (
    RssSampler,
    ServerProcess,
    base_env,
    free_port,
    serving,
    wait_healthy,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from skysend_adapters.clock import ManualClock
from skysend_adapters.filesystem import FilesystemBlobStore
from skysend_adapters.memory import (
    InMemoryBlobStore,
    InMemoryNoteRepository,
    InMemoryQuotaStore,
    InMemoryUploadRepository,
    InMemoryUploadSessionStore,
)
from skysend_adapters.sqlite import SqliteDatabase, SqliteUploadRepository, SqliteUploadSessionStore
from skysend_core.config import Settings
from skysend_core.crypto.ece import decrypt_payload, encrypt_payload
from skysend_core.errors import StorageError
from skysend_core.lifecycle import Cleanup
from skysend_core.limits_model import QuotaUsage
from skysend_core.notes import Notes
from skysend_core.ports import PartRef
from skysend_core.uploads import Files
from skysend_core.uploads_model import Upload, UploadSession
from skysend_http import ws_upload
from skysend_http.app import create_app
from skysend_http.bootstrap import Services, Wiring
from skysend_http.system import public_config
from skysend_http.ws_flow import BufferExceeded, ReceiveFlow

KIB, MIB = 1024, 1024 * 1024
FRAME = 256 * KIB
HOUR_MS = 3_600_000
FINALIZE = '{"type": "finalize"}'
SIZE_MISMATCH = "Body size does not match declared content length"


# -- helpers ------------------------------------------------------------------------


def b64url(size: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(size)).rstrip(b"=").decode()


def init_message(content_length: int, **overrides: Any) -> tuple[dict[str, Any], str]:
    """An ``init`` message as the web app sends it (numbers and booleans), and its auth token."""
    headers: dict[str, Any] = {
        "authToken": b64url(32),
        "ownerToken": b64url(32),
        "salt": b64url(32),
        "maxDownloads": 1,
        "expireSec": 3600,
        "fileCount": 1,
        "contentLength": content_length,
        "hasPassword": False,
    }
    headers.update(overrides)
    return {"type": "init", "headers": headers}, headers["authToken"]


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://", 1) + "/api/upload/ws"


@contextlib.asynccontextmanager
async def open_ws(base: str, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    options: dict[str, Any] = {
        "compression": None,
        "proxy": None,
        "ping_interval": None,
    }
    options.update(kwargs)
    async with connect(ws_url(base), **options) as ws:
        yield ws


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.recv(), 30)
    assert isinstance(message, str)
    decoded: dict[str, Any] = json.loads(message)
    return decoded


async def start(ws: ClientConnection, message: dict[str, Any]) -> str:
    """Send ``init``; expect ``ready`` then ``storage``; return the upload id."""
    await ws.send(json.dumps(message))
    ready = await receive(ws)
    assert ready["type"] == "ready", ready
    assert await receive(ws) == {"type": "storage", "backend": "filesystem"}
    upload_id: str = ready["id"]
    return upload_id


async def send_payload(ws: ClientConnection, payload: bytes, frame: int = FRAME) -> None:
    view = memoryview(payload)
    for offset in range(0, len(payload), frame):
        await ws.send(view[offset : offset + frame])


async def finish(ws: ClientConnection) -> tuple[str, list[dict[str, Any]]]:
    """Send ``finalize``; return the id of ``done`` and the messages before it."""
    await ws.send(json.dumps({"type": "finalize"}))
    seen: list[dict[str, Any]] = []
    while (message := await receive(ws))["type"] != "done":
        assert message["type"] != "error", message
        seen.append(message)
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1000, "done")
    upload_id: str = message["id"]
    return upload_id, seen


async def upload(
    base: str, payload: bytes, frame: int = FRAME, **overrides: Any
) -> tuple[str, str]:
    """A whole WebSocket upload; returns ``(id, auth token)``."""
    message, auth = init_message(len(payload), **overrides)
    async with open_ws(base) as ws:
        upload_id = await start(ws, message)
        await send_payload(ws, payload, frame)
        done_id, _ = await finish(ws)
    assert done_id == upload_id
    return upload_id, auth


async def refusal(ws: ClientConnection) -> tuple[str, int, str]:
    """Read until the server closes; return the error message, close code and reason."""
    errors: list[str] = []
    while True:
        try:
            message = await receive(ws)
        except ConnectionClosed as closed:
            received = closed.rcvd
            break
        if message["type"] == "error":
            errors.append(message["message"])
    assert len(errors) == 1, errors
    assert received is not None, "the server did not send a close frame"
    return errors[0], received.code, received.reason


async def get(url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as client:
        return await client.get(url, **kwargs)


async def download(base: str, upload_id: str, auth: str) -> bytes:
    response = await get(f"{base}/api/download/{upload_id}", headers={"X-Auth-Token": auth})
    assert response.status_code == 200, response.text
    return response.content


async def info(base: str, upload_id: str) -> dict[str, Any]:
    response = await get(f"{base}/api/info/{upload_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class Storage:
    """What a data directory holds (read directly, as an operator would)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.uploads_dir = data_dir / "uploads"

    def execute(self, sql: str) -> Any:
        with contextlib.closing(sqlite3.connect(self.data_dir / "db" / "skysend.db")) as conn:
            result = conn.execute(sql).fetchall()
            conn.commit()
        return result

    def _count(self, table: str) -> int:
        ((count,),) = self.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        return int(count)

    def uploads(self) -> int:
        return self._count("uploads")

    def sessions(self) -> int:
        return self._count("upload_sessions")

    def partial_files(self) -> list[Path]:
        # os.walk skips directories removed while it runs (the server deletes them).
        found = os.walk(self.uploads_dir / ".partial")
        return [Path(top, name) for top, _, names in found for name in names]

    def blobs(self) -> list[Path]:
        return list(self.uploads_dir.glob("*.bin"))

    def empty(self) -> bool:
        state = (self.uploads(), self.sessions(), self.partial_files(), self.blobs())
        return state == (0, 0, [], [])


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def live(serve_app: Callable[..., str], data_dir: Path) -> tuple[str, Storage]:
    """The real app with default settings, and a view of its data directory."""
    return serve_app(DATA_DIR=str(data_dir)), Storage(data_dir)


# -- round trips ----------------------------------------------------------------------


FILE_KEY = bytes(range(32))


@pytest.mark.parametrize(
    "plaintext_size",
    [0, 1, 65536, 10 * 65536 + 123],
    ids=["no-records", "one-byte", "one-full-record", "many-records"],
)
async def test_encrypted_stream_round_trips(live: tuple[str, Storage], plaintext_size: int) -> None:
    base, storage = live
    plaintext = os.urandom(plaintext_size)
    stream = encrypt_payload(FILE_KEY, plaintext)
    upload_id, auth = await upload(base, stream, frame=100_000)
    stored = await download(base, upload_id, auth)
    assert stored == stream
    assert decrypt_payload(FILE_KEY, stored, expected_size=plaintext_size) == plaintext
    assert storage.sessions() == 0
    assert storage.partial_files() == []


async def test_64_mib_round_trip_and_row(live: tuple[str, Storage]) -> None:
    base, _ = live
    payload = os.urandom(64 * MIB)
    before = time.time()
    upload_id, auth = await upload(base, payload, maxDownloads=2, expireSec=86400, fileCount=3)
    row = await info(base, upload_id)
    assert (row["size"], row["fileCount"], row["maxDownloads"], row["downloadCount"]) == (
        64 * MIB, 3, 2, 0,
    )  # fmt: skip
    # Expiry counts from finalize (storage-and-lifecycle.md §4).
    expires = datetime.fromisoformat(row["expiresAt"].replace("Z", "+00:00")).timestamp()
    assert before + 86400 - 1 <= expires <= time.time() + 86400
    stored = await download(base, upload_id, auth)
    assert hashlib.sha256(stored).digest() == hashlib.sha256(payload).digest()


async def test_values_as_strings_numbers_booleans_and_nulls(live: tuple[str, Storage]) -> None:
    base, _ = live
    payload = os.urandom(1000)
    password_salt = b64url(16)
    message, auth = init_message(
        len(payload),
        maxDownloads="3",
        expireSec=3600.0,
        fileCount=None,
        contentLength=str(len(payload)),
        hasPassword=True,
        passwordSalt=password_salt,
        passwordAlgo="argon2id-v2",
        somethingNew={"ignored": True},
    )
    async with open_ws(base) as ws:
        upload_id = await start(ws, message)
        await send_payload(ws, payload)
        await finish(ws)
    row = await info(base, upload_id)
    assert row["hasPassword"] is True
    assert row["passwordSalt"] == password_salt
    assert (row["maxDownloads"], row["fileCount"]) == (3, 1)
    assert await download(base, upload_id, auth) == payload


async def test_array_and_object_values_take_their_string_form(live: tuple[str, Storage]) -> None:
    base, _ = live
    payload = os.urandom(1000)
    salt = b64url(32)
    # String([3]) is "3", String([salt]) the salt itself, String({}) "[object Object]"
    # (not "true", so no password), String([]) "" (an empty algorithm counts as absent).
    message, auth = init_message(
        len(payload),
        salt=[salt],
        maxDownloads=[3],
        contentLength=[[len(payload)]],
        hasPassword={},
        passwordAlgo=[],
    )
    async with open_ws(base) as ws:
        upload_id = await start(ws, message)
        await send_payload(ws, payload)
        await finish(ws)
    row = await info(base, upload_id)
    assert (row["maxDownloads"], row["hasPassword"]) == (3, False)
    assert await download(base, upload_id, auth) == payload


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([1, [2, 3]], "1,2,3"),
        ([None, 1], ",1"),
        ([[], 1], ",1"),
        ([True, 1.5, 2.0], "true,1.5,2"),
        ({"a": 1}, "[object Object]"),
        ([{}], "[object Object]"),
        ([], ""),
    ],
)
def test_init_values_are_converted_like_javascript_string(value: Any, expected: str) -> None:
    raw = ws_upload.init_headers(json.dumps({"type": "init", "headers": {"salt": value}}))
    assert raw["salt"] == expected
    assert raw["authToken"] is None


async def test_empty_binary_frames_are_harmless(live: tuple[str, Storage]) -> None:
    base, _ = live
    message, auth = init_message(3)
    async with open_ws(base) as ws:
        upload_id = await start(ws, message)
        for piece in (b"", b"a", b"", b"bc", b""):
            await ws.send(piece)
        await finish(ws)
    assert await download(base, upload_id, auth) == b"abc"


async def test_config_reports_the_transport(serve_app: Callable[..., str]) -> None:
    on = serve_app()
    off = serve_app(FILE_UPLOAD_WS="false")
    assert (await get(f"{on}/api/config")).json()["fileUploadWs"] is True
    assert (await get(f"{off}/api/config")).json()["fileUploadWs"] is False


# -- the upgrade request ------------------------------------------------------------


async def upgrade_refused(base: str) -> tuple[int, Any, str | None]:
    with pytest.raises(InvalidStatus) as refused:
        async with open_ws(base):
            pass
    response = refused.value.response
    body = json.loads(bytes(response.body or b""))
    return response.status_code, body, response.headers.get("Cache-Control")


async def test_upgrade_answers_404_when_the_transport_is_off(serve_app: Callable[..., str]) -> None:
    base = serve_app(FILE_UPLOAD_WS="false")
    assert await upgrade_refused(base) == (404, {"error": "Not found"}, "no-store")


async def test_upgrade_answers_403_when_the_file_service_is_off(
    serve_app: Callable[..., str],
) -> None:
    disabled = {"error": "File service is disabled"}
    for ws_flag in ("true", "false"):
        base = serve_app(ENABLED_SERVICES="note", FILE_UPLOAD_WS=ws_flag)
        assert await upgrade_refused(base) == (403, disabled, "no-store")


async def test_unknown_websocket_paths_answer_404(live: tuple[str, Storage]) -> None:
    base, _ = live
    with pytest.raises(InvalidStatus) as refused:
        async with connect(base.replace("http", "ws", 1) + "/api/upload/wss", proxy=None):
            pass
    assert refused.value.response.status_code == 404


async def test_plain_get_without_upgrade_answers_404(live: tuple[str, Storage]) -> None:
    base, _ = live
    response = await get(f"{base}/api/upload/ws")
    assert (response.status_code, response.json()) == (404, {"error": "Not found"})


async def test_upgrade_is_not_rate_limited(serve_app: Callable[..., str]) -> None:
    base = serve_app(RATE_LIMIT_MAX="1")
    for _ in range(4):
        await upload(base, b"x" * 10)


# -- origin check ---------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["base", "cors", "absent", "empty"])
async def test_allowed_origins(serve_app: Callable[..., str], origin: str) -> None:
    base = serve_app(CORS_ORIGINS="https://app.example,https://other.example")
    headers = {
        "base": {"Origin": base},
        "cors": {"Origin": "https://other.example"},
        "absent": {},
        "empty": {"Origin": ""},
    }[origin]
    message, _ = init_message(1)
    async with open_ws(base, additional_headers=headers) as ws:
        await start(ws, message)


async def test_foreign_origin_is_refused_after_the_upgrade(live: tuple[str, Storage]) -> None:
    base, storage = live
    message, _ = init_message(10)
    async with open_ws(base, origin="https://evil.example") as ws:
        with contextlib.suppress(ConnectionClosed):  # ignored: the session is closed
            await ws.send(json.dumps(message))
        assert await refusal(ws) == ("Origin not allowed", 1008, "Origin not allowed")
    assert storage.sessions() == 0


# -- init errors ----------------------------------------------------------------------


async def refused_init(base: str, *messages: str | bytes) -> tuple[str, int, str]:
    async with open_ws(base) as ws:
        with contextlib.suppress(ConnectionClosed):  # later messages may meet the close
            for message in messages:
                await ws.send(message)
        return await refusal(ws)


@pytest.mark.parametrize(
    ("first", "expected", "code"),
    [
        (b"\x00binary", "Expected init message", 1003),
        ("{not json", "Invalid JSON in init message", 1003),
        ('{"type": "init", "headers": NaN}', "Invalid JSON in init message", 1003),
        ('{"type": "finalize"}', "First message must be of type 'init'", 1003),
        ('{"type": "init"}', "First message must be of type 'init'", 1003),
        ('{"type": "init", "headers": null}', "First message must be of type 'init'", 1003),
        # ``headers`` is missing as the reference's ``!msg.headers`` sees it ...
        ('{"type": "init", "headers": false}', "First message must be of type 'init'", 1003),
        ('{"type": "init", "headers": 0}', "First message must be of type 'init'", 1003),
        ('{"type": "init", "headers": 0.0}', "First message must be of type 'init'", 1003),
        ('{"type": "init", "headers": ""}', "First message must be of type 'init'", 1003),
        ('["init"]', "First message must be of type 'init'", 1003),
        # ... while any other value lacks every key.
        ('{"type": "init", "headers": "x"}', "Invalid upload headers", 1008),
        ('{"type": "init", "headers": true}', "Invalid upload headers", 1008),
        ('{"type": "init", "headers": []}', "Invalid upload headers", 1008),
        ('{"type": "init", "headers": {}}', "Invalid upload headers", 1008),
    ],
)
async def test_first_message_errors(
    live: tuple[str, Storage], first: str | bytes, expected: str, code: int
) -> None:
    base, storage = live
    valid, _ = init_message(10)
    # The valid init right behind the bad one arrives after the close and is ignored.
    assert await refused_init(base, first, json.dumps(valid)) == (expected, code, expected)
    assert storage.sessions() == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"authToken": None},
        {"ownerToken": ""},
        {"salt": "not base64!"},
        {"maxDownloads": 0},
        {"expireSec": "soon"},
        {"contentLength": -5},
        {"contentLength": None},
        {"fileCount": 0},
        {"hasPassword": True, "passwordSalt": b64url(16), "passwordAlgo": "pbkdf2"},
        {"salt": ["a", "b"]},
        {"maxDownloads": {"n": 1}},
    ],
)
async def test_structural_header_errors(
    live: tuple[str, Storage], overrides: dict[str, Any]
) -> None:
    base, storage = live
    message, _ = init_message(10, **overrides)
    expected = "Invalid upload headers"
    assert await refused_init(base, json.dumps(message)) == (expected, 1008, expected)
    assert storage.sessions() == 0


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"salt": "A"}, "Invalid salt encoding"),
        ({"salt": b64url(8)}, "Salt must be 16 or 32 bytes"),
        ({"contentLength": 3 * 1024**3}, "File size exceeds maximum allowed size"),
        ({"fileCount": 33}, "Maximum 32 files per upload"),
        ({"expireSec": 60}, "Invalid expiry time. Must be one of the allowed options."),
        ({"maxDownloads": 7}, "Invalid download limit. Must be one of the allowed options."),
        (
            {"hasPassword": "true", "passwordSalt": None},
            "Password-protected uploads require X-Password-Salt and X-Password-Algo",
        ),
        (
            {"hasPassword": True, "passwordSalt": "A", "passwordAlgo": "argon2id-v2"},
            "Invalid password salt encoding",
        ),
        (
            {"hasPassword": True, "passwordSalt": b64url(8), "passwordAlgo": "argon2id-v2"},
            "Password salt must be exactly 16 bytes",
        ),
    ],
)
async def test_value_errors(
    live: tuple[str, Storage], overrides: dict[str, Any], expected: str
) -> None:
    base, storage = live
    message, _ = init_message(10, **overrides)
    assert await refused_init(base, json.dumps(message)) == (expected, 1008, expected)
    assert storage.sessions() == 0


async def test_password_required_by_policy(serve_app: Callable[..., str]) -> None:
    base = serve_app(FORCE_FILE_PASSWORD="true")
    message, _ = init_message(10)
    expected = "Password is required by server policy"
    assert await refused_init(base, json.dumps(message)) == (expected, 1008, expected)


# -- errors while receiving -----------------------------------------------------------


async def refused_upload(
    base: str, content_length: int, *messages: str | bytes
) -> tuple[str, int, str]:
    init, _ = init_message(content_length)
    async with open_ws(base) as ws:
        await start(ws, init)
        with contextlib.suppress(ConnectionClosed):  # later messages may meet the close
            for message in messages:
                await ws.send(message)
        return await refusal(ws)


def aborted(storage: Storage) -> Callable[[], bool]:
    return lambda: storage.empty()


@pytest.mark.parametrize(
    ("content_length", "messages", "expected", "code"),
    [
        (100, [b"x" * 101], "Received more bytes than declared content length", 1008),
        (100, [b"x" * 60, b"x" * 41], "Received more bytes than declared content length", 1008),
        (100, [b"x" * 10, "{oops"], "Invalid JSON after init", 1003),
        (100, [b"x" * 10, '{"type": "init"}'], "Unexpected control message", 1003),
        (100, ['{"type": "pause"}'], "Unexpected control message", 1003),
        (100, ['"finalize"'], "Unexpected control message", 1003),
        (100, [b"x" * 50, FINALIZE], SIZE_MISMATCH, 1008),
        (100, [FINALIZE], SIZE_MISMATCH, 1008),
        (
            100,
            [b"x" * 100, FINALIZE, FINALIZE],
            "Finalize already in progress",
            1002,
        ),
        (100, [b"x" * 100, FINALIZE, b"late"], "Binary frame after finalize", 1002),
        (100, [b"x" * 100, FINALIZE, "{oops"], "Invalid JSON after init", 1003),
    ],
)
async def test_errors_after_init(
    live: tuple[str, Storage],
    content_length: int,
    messages: list[str | bytes],
    expected: str,
    code: int,
) -> None:
    base, storage = live
    assert await refused_upload(base, content_length, *messages) == (expected, code, expected)
    # The upload is aborted: no row, no session, no partial data, no blob.
    await eventually(aborted(storage))


@pytest.fixture(params=["thread", "serve"])
def any_server(
    request: pytest.FixtureRequest, serve_app: Callable[..., str], tmp_path: Path
) -> Iterator[Callable[..., tuple[str, Storage]]]:
    """Start the real app in a thread of this process or as ``skysend serve``; both get
    the same hypercorn configuration."""
    counter = itertools.count()
    with contextlib.ExitStack() as stack:

        def launch(**overrides: str) -> tuple[str, Storage]:
            data_dir = tmp_path / f"server-{next(counter)}"
            if request.param == "serve":
                url = stack.enter_context(ServerProcess(data_dir, overrides)).url
            else:
                url = serve_app(DATA_DIR=str(data_dir), **overrides)
            return url, Storage(data_dir)

        yield launch


TOO_BIG = "Receive buffer exceeded"


async def refused_message(base: str, *messages: str | bytes | list[bytes]) -> tuple[str, int, str]:
    """Like :func:`refused_upload` (``contentLength`` 64 MiB); a list is sent as one
    fragmented message. The client waits as long as it takes for the server to end the
    connection, so a server that leaves it half-closed fails the test."""
    init, _ = init_message(64 * MIB)
    async with open_ws(base, close_timeout=None) as ws:
        await start(ws, init)
        with contextlib.suppress(ConnectionClosed):
            for message in messages:
                await ws.send(message)
        return await refusal(ws)


@pytest.mark.parametrize(
    ("buffer", "messages"),
    [
        ({}, [b"x" * (16 * MIB + 1)]),
        ({}, [b"x" * MIB, b"x" * (16 * MIB + 1)]),
        ({"FILE_UPLOAD_WS_MAX_BUFFER": "1MB"}, [b"x" * (MIB + 1)]),
        ({"FILE_UPLOAD_WS_MAX_BUFFER": "1MB"}, [[b"x" * (256 * KIB)] * 4 + [b"x"]]),
        ({"FILE_UPLOAD_WS_MAX_BUFFER": "1MB"}, [b"x" * 10, "x" * (MIB + 1)]),
    ],
    ids=["default-limit", "after-data", "1mb-limit", "fragmented", "text"],
)
async def test_message_over_the_buffer_limit_closes_1009(
    any_server: Callable[..., tuple[str, Storage]],
    buffer: dict[str, str],
    messages: list[str | bytes | list[bytes]],
) -> None:
    base, storage = any_server(**buffer)
    assert await refused_message(base, *messages) == (TOO_BIG, 1009, TOO_BIG)
    await eventually(aborted(storage))


@pytest.mark.parametrize("frame", [MIB, 8 * MIB, 16 * MIB], ids=["1mib", "8mib", "16mib"])
async def test_large_frames_round_trip(live: tuple[str, Storage], frame: int) -> None:
    base, storage = live
    payload = os.urandom(2 * frame + 12345)
    upload_id, auth = await upload(base, payload, frame=frame)
    assert await download(base, upload_id, auth) == payload
    assert (storage.sessions(), storage.partial_files()) == (0, [])


async def test_a_larger_buffer_allows_larger_messages(
    any_server: Callable[..., tuple[str, Storage]],
) -> None:
    base, _ = any_server(FILE_UPLOAD_WS_MAX_BUFFER="32MB")
    payload = os.urandom(32 * MIB)
    upload_id, auth = await upload(base, payload, frame=32 * MIB)
    assert await download(base, upload_id, auth) == payload


async def test_database_insert_failing_at_finalize(live: tuple[str, Storage]) -> None:
    base, storage = live
    storage.execute(
        "CREATE TRIGGER refuse_uploads BEFORE INSERT ON uploads "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    )
    expected = "Finalize failed"
    assert await refused_upload(base, 100, b"x" * 100, FINALIZE) == (expected, 1011, expected)
    await eventually(aborted(storage))


def test_close_reason_is_the_message_cut_to_120_characters() -> None:
    assert ws_upload.close_reason("Finalize failed") == "Finalize failed"
    assert ws_upload.close_reason("x" * 130) == "x" * 120
    # A close frame has room for 123 bytes of reason: longer UTF-8 is cut at a character.
    assert ws_upload.close_reason("é" * 130) == "é" * 61
    assert ws_upload.close_reason("a" + "€" * 50) == "a" + "€" * 40


async def test_quota_is_checked_at_init(serve_app: Callable[..., str], data_dir: Path) -> None:
    base = serve_app(DATA_DIR=str(data_dir), FILE_UPLOAD_QUOTA_BYTES="1000")
    await upload(base, b"x" * 600)
    message, _ = init_message(401)
    expected = "File size exceeds remaining quota."
    assert await refused_init(base, json.dumps(message)) == (expected, 1008, expected)
    await upload(base, b"x" * 400)
    message, _ = init_message(1)
    expected = "Upload quota exceeded"
    assert await refused_init(base, json.dumps(message)) == (expected, 1008, expected)
    storage = Storage(data_dir)
    assert (storage.uploads(), storage.sessions(), storage.partial_files()) == (2, 0, [])


async def test_quota_counts_for_the_forwarded_address_of_the_upgrade(
    serve_app: Callable[..., str],
) -> None:
    base = serve_app(TRUST_PROXY="true", FILE_UPLOAD_QUOTA_BYTES="1000")
    client = "203.0.113.7"
    forwarded = {"X-Forwarded-For": f"198.51.100.1, {client}"}  # the proxy appends the last
    message, _ = init_message(600)
    async with open_ws(base, additional_headers=forwarded) as ws:
        await start(ws, message)
        await ws.send(b"x" * 600)
        await finish(ws)

    async def used(address: str) -> int:
        response = await get(f"{base}/api/quota", headers={"X-Forwarded-For": address})
        value: int = response.json()["used"]
        return value

    assert await used(client) == 600
    assert await used("198.51.100.1") == 0
    assert await used("127.0.0.1") == 0
    # The check at init is made for the same address.
    message, _ = init_message(401)
    async with open_ws(base, additional_headers=forwarded) as ws:
        await ws.send(json.dumps(message))
        expected = "File size exceeds remaining quota."
        assert await refusal(ws) == (expected, 1008, expected)
    async with open_ws(base, additional_headers={"X-Forwarded-For": "192.0.2.9"}) as ws:
        await start(ws, message)


# -- connection loss ------------------------------------------------------------------


CLIENT = textwrap.dedent(
    """
    import asyncio, json, os, sys
    from websockets.asyncio.client import connect

    async def main(url, init):
        async with connect(url, compression=None, proxy=None, ping_interval=None) as ws:
            await ws.send(init)
            await ws.recv(); await ws.recv()
            for _ in range(8):
                await ws.send(os.urandom(256 * 1024))
            print("sent", flush=True)
            await asyncio.sleep(3600)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def run_cleanup_at(data_dir: Path, now_ms: int) -> None:
    """The cleanup job of the data directory, run with a clock set to ``now_ms``."""
    database = await SqliteDatabase.open(data_dir / "db" / "skysend.db")
    try:
        blobs = FilesystemBlobStore(data_dir / "uploads")
        uploads, sessions = SqliteUploadRepository(database), SqliteUploadSessionStore(database)
        await Cleanup(uploads, sessions, blobs, ManualClock(now_ms)).run()
    finally:
        await database.close()


async def test_killed_client_leaves_nothing(live: tuple[str, Storage], data_dir: Path) -> None:
    base, storage = live
    message, _ = init_message(64 * MIB)
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT, ws_url(base), json.dumps(message), stdout=PIPE
    )
    try:
        assert client.stdout is not None
        assert (await client.stdout.readline()).strip() == b"sent"
        await eventually(lambda: storage.sessions() == 1 and bool(storage.partial_files()))
        client.send_signal(signal.SIGKILL)
    finally:
        with contextlib.suppress(ProcessLookupError):
            client.kill()
        await client.wait()
    await eventually(aborted(storage))
    await run_cleanup_at(data_dir, int(time.time() * 1000) + 2 * HOUR_MS)
    assert storage.empty()


@pytest.mark.slow
async def test_server_crash_leaves_data_for_the_sweep(tmp_path: Path) -> None:
    data_dir = tmp_path / "crash"
    storage = Storage(data_dir)
    server = ServerProcess(data_dir).start()
    try:
        message, _ = init_message(64 * MIB)
        async with open_ws(server.url) as ws:
            await start(ws, message)
            await send_payload(ws, os.urandom(4 * MIB))
            await eventually(lambda: sum(p.stat().st_size for p in storage.partial_files()) >= MIB)
            server.kill()
    finally:
        server.stop()
    assert (storage.uploads(), storage.sessions()) == (0, 1)
    assert storage.partial_files()
    # Within the session TTL the data of a possibly live connection stays ...
    await run_cleanup_at(data_dir, int(time.time() * 1000))
    assert storage.sessions() == 1
    # ... and once the TTL has passed, the cleanup removes the session and its data.
    await run_cleanup_at(data_dir, int(time.time() * 1000) + 2 * HOUR_MS)
    assert storage.empty()


# -- multiple workers -----------------------------------------------------------------


async def test_several_uploads_with_two_workers(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "workers", workers=2) as server:
        payloads = [os.urandom(size) for size in (1, 300 * KIB, 3 * MIB, 5 * MIB + 7, 2 * MIB, 777)]
        results = await asyncio.gather(*(upload(server.url, payload) for payload in payloads))
        for payload, (upload_id, auth) in zip(payloads, results, strict=True):
            assert await download(server.url, upload_id, auth) == payload


# -- memory ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("frame_size", [FRAME, 8 * MIB, 16 * MIB], ids=["256kib", "8mib", "16mib"])
async def test_one_gib_keeps_server_memory_flat(tmp_path: Path, frame_size: int) -> None:
    """Whatever the frame size, a connection holds no more than the receive buffer
    (16 MiB) plus the blob store's write buffer (about 2 MiB)."""
    with ServerProcess(tmp_path / "rss") as server:
        await upload(server.url, os.urandom(8 * MIB))  # warm up allocator and caches
        with RssSampler(server) as rss:
            frame = os.urandom(frame_size)
            total = 1024 * MIB
            message, _ = init_message(total)
            async with open_ws(server.url) as ws:
                await start(ws, message)
                for _ in range(total // frame_size):
                    await ws.send(frame)
                await finish(ws)
        assert rss.growth < 32 * MIB, f"RSS grew by {rss.growth / MIB:.1f} MiB"


# -- a throttled blob store (in-process app over memory adapters) ----------------------


class ThrottledBlobStore:
    """The in-memory store whose part writes wait while ``gate`` is closed and whose
    ``assemble`` takes ``assemble_delay`` seconds; ``broken`` makes either fail."""

    def __init__(self, inner: InMemoryBlobStore) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.gate.set()
        self.assemble_delay = 0.0
        self.broken: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def write_part(
        self, session_id: str, chunks: AsyncIterable[bytes], index: int | None = None
    ) -> PartRef:
        return await self.inner.write_part(session_id, self._throttled(chunks), index)

    async def _throttled(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            if "write" in self.broken:
                raise StorageError("disk on fire")
            while not self.gate.is_set():  # noqa: ASYNC110 (opened from the test's thread)
                await asyncio.sleep(0.005)
            yield chunk

    async def assemble(self, session_id: str, part_keys: Any, blob_id: str) -> int:
        await asyncio.sleep(self.assemble_delay)
        if "assemble" in self.broken:
            raise StorageError("disk on fire")
        size: int = await self.inner.assemble(session_id, part_keys, blob_id)
        return size


class BreakableSessionStore(InMemoryUploadSessionStore):
    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    async def create(self, session: UploadSession) -> None:
        if self.broken:
            raise StorageError("database on fire")
        await super().create(session)


class BreakableUploadRepository(InMemoryUploadRepository):
    """Its ``insert`` fails with an error no adapter should raise while ``broken``."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    async def insert(self, upload: Upload) -> None:
        if self.broken:
            raise RuntimeError("a bug in the repository")
        await super().insert(upload)


class GatedQuotaStore(InMemoryQuotaStore):
    """Quota usage whose recording waits while ``gate`` is closed (``recording`` is set
    once it waits); ``broken`` makes reading the usage fail."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.recording = threading.Event()
        self.broken = False

    async def usage(self, hashed_ip: str, now_ms: int, window_ms: int) -> QuotaUsage:
        if self.broken:
            raise StorageError("database on fire")
        return await super().usage(hashed_ip, now_ms, window_ms)

    async def add(self, hashed_ip: str, size: int, now_ms: int, window_ms: int) -> QuotaUsage:
        self.recording.set()
        while not self.gate.is_set():  # noqa: ASYNC110 (opened from the test's thread)
            await asyncio.sleep(0.005)
        return await super().add(hashed_ip, size, now_ms, window_ms)


class InProcess:
    def __init__(self, settings: Settings, clock: ManualClock) -> None:
        self.clock = clock
        self.blobs = ThrottledBlobStore(InMemoryBlobStore(clock))
        self.sessions = BreakableSessionStore()
        self.uploads = BreakableUploadRepository()
        self.quotas = GatedQuotaStore()
        files = Files(settings, self.uploads, self.sessions, self.blobs, clock)  # type: ignore[arg-type]
        self.cleanup = Cleanup(self.uploads, self.sessions, self.blobs, clock)  # type: ignore[arg-type]

        limits = memory_limits(settings, clock, quotas=self.quotas)

        async def open_storage() -> Wiring:
            notes = Notes(settings, InMemoryNoteRepository(), clock)
            return Wiring(files=files, notes=notes, cleanup=self.cleanup, limits=limits)

        self.services = Services(settings, clock, public_config(settings), open_storage)
        self.url = ""


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[Callable[..., InProcess]]:
    """Serve the app over memory adapters and a throttled blob store, in a thread."""
    with contextlib.ExitStack() as stack:

        def launch(**overrides: str) -> InProcess:
            port = free_port()
            settings = Settings.from_env(base_env(tmp_path / f"mem-{port}", port, overrides))
            server = InProcess(settings, ManualClock(int(time.time() * 1000)))
            server.url = stack.enter_context(serving(create_app(server.services), port, settings))
            stack.callback(server.blobs.gate.set)  # these run first: let stalled calls end
            stack.callback(server.quotas.gate.set)
            wait_healthy(server.url)
            return server

        yield launch


async def test_frames_within_the_limit_wait_for_a_stalled_store(
    in_process: Callable[..., InProcess],
) -> None:
    server = in_process(FILE_UPLOAD_WS_MAX_BUFFER="1MB")
    server.blobs.gate.clear()
    payload = os.urandom(3 * 600 * KIB)  # two of these frames are more than 1 MiB
    message, auth = init_message(len(payload))
    async with open_ws(server.url) as ws:
        upload_id = await start(ws, message)
        await send_payload(ws, payload, 600 * KIB)  # fits into the socket buffers
        await ws.send(FINALIZE)
        # Give the server time to read all it will; it pauses instead of failing.
        await asyncio.sleep(0.3)
        server.blobs.gate.set()
        done = await receive(ws)
    assert done == {"type": "done", "id": upload_id}
    assert await download(server.url, upload_id, auth) == payload


async def test_back_pressure_pauses_the_sender_instead_of_buffering(
    in_process: Callable[..., InProcess],
) -> None:
    server = in_process(FILE_UPLOAD_WS_MAX_BUFFER="1MB")
    server.blobs.gate.clear()
    total = 64 * MIB
    payload = os.urandom(total)
    message, auth = init_message(total)
    sent = 0
    async with open_ws(server.url) as ws:
        upload_id = await start(ws, message)

        async def sender() -> None:
            nonlocal sent
            for offset in range(0, total, FRAME):
                await ws.send(payload[offset : offset + FRAME])
                sent += FRAME

        sending = asyncio.create_task(sender())
        await asyncio.sleep(1.5)
        # The server holds at most ~1 MiB; the rest sits in socket buffers, and then the
        # sender is blocked by TCP.
        assert not sending.done()
        stalled_at = sent
        assert stalled_at < 40 * MIB
        await asyncio.sleep(0.5)
        assert sent == stalled_at
        server.blobs.gate.set()
        await asyncio.wait_for(sending, 60)
        assert await finish(ws)
    assert await download(server.url, upload_id, auth) == payload


async def test_keepalive_while_finalizing(
    in_process: Callable[..., InProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_upload, "KEEPALIVE_INTERVAL_S", 0.1)
    server = in_process()
    server.blobs.assemble_delay = 0.55
    message, auth = init_message(10)
    async with open_ws(server.url) as ws:
        upload_id = await start(ws, message)
        await ws.send(b"0123456789")
        _, seen = await finish(ws)
    assert len(seen) >= 3
    assert all(item == {"type": "keepalive"} for item in seen)
    assert await download(server.url, upload_id, auth) == b"0123456789"


async def test_no_keepalive_when_finalizing_is_quick(live: tuple[str, Storage]) -> None:
    base, _ = live
    message, _ = init_message(10)
    async with open_ws(base) as ws:
        await start(ws, message)
        await ws.send(b"0123456789")
        _, seen = await finish(ws)
    assert seen == []


async def test_receiving_session_is_touched_and_survives_the_ttl(
    in_process: Callable[..., InProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_upload, "TOUCH_INTERVAL_S", 0.05)
    server = in_process()
    server.blobs.gate.clear()
    payload = os.urandom(3 * FRAME)
    message, auth = init_message(len(payload))
    async with open_ws(server.url) as ws:
        upload_id = await start(ws, message)
        await send_payload(ws, payload[: 2 * FRAME])
        later = server.clock.advance(2 * HOUR_MS)

        async def touched() -> bool:
            session = await server.sessions.get(upload_id)
            return session is not None and session.last_activity_at == later

        deadline = time.monotonic() + 10
        while not await touched():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        session = await server.sessions.get(upload_id)
        assert session is not None
        assert session.bytes_received == 2 * FRAME
        report = await server.cleanup.run()
        assert report.sessions == 0
        server.blobs.gate.set()
        await send_payload(ws, payload[2 * FRAME :])
        await finish(ws)
    assert await download(server.url, upload_id, auth) == payload


async def test_disconnect_while_finalizing_leaves_no_upload(
    in_process: Callable[..., InProcess],
) -> None:
    server = in_process()
    server.blobs.assemble_delay = 0.3
    message, _ = init_message(10)
    async with open_ws(server.url) as ws:
        upload_id = await start(ws, message)
        await ws.send(b"0123456789")
        await ws.send(json.dumps({"type": "finalize"}))
        await asyncio.sleep(0.1)
    # The client left before ``done``: the completed upload is removed again.
    await asyncio.sleep(0.6)
    await eventually(lambda: not server.uploads._rows and not server.sessions._sessions)
    assert await server.blobs.inner.open(upload_id) is None


async def test_client_gone_before_done_leaves_no_upload(
    in_process: Callable[..., InProcess],
) -> None:
    server = in_process(FILE_UPLOAD_QUOTA_BYTES="1GB")
    server.quotas.gate.clear()
    message, _ = init_message(10)
    async with open_ws(server.url) as ws:
        upload_id = await start(ws, message)
        await ws.send(b"0123456789")
        await ws.send(FINALIZE)
        await eventually(server.quotas.recording.is_set)
        # Stored, row inserted, quota being recorded: ``done`` has not gone out yet.
        assert upload_id in server.uploads._rows
    # The client has closed (the server answered its close frame); now ``done`` is due.
    server.quotas.gate.set()
    await eventually(lambda: not server.uploads._rows)
    assert await server.blobs.inner.open(upload_id) is None
    assert not server.sessions._sessions


async def test_session_that_cannot_be_created(in_process: Callable[..., InProcess]) -> None:
    server = in_process()
    server.sessions.broken = True
    message, _ = init_message(10)
    expected = "Storage init failed"
    assert await refused_init(server.url, json.dumps(message)) == (expected, 1011, expected)


async def test_quota_store_failing_at_init(in_process: Callable[..., InProcess]) -> None:
    server = in_process(FILE_UPLOAD_QUOTA_BYTES="1GB")
    server.quotas.broken = True
    message, _ = init_message(10)
    expected = "Storage init failed"
    assert await refused_init(server.url, json.dumps(message)) == (expected, 1011, expected)
    assert not server.sessions._sessions


async def test_unforeseen_error_at_finalize(in_process: Callable[..., InProcess]) -> None:
    server = in_process()
    server.uploads.broken = True
    expected = "Finalize failed"
    assert await refused_upload(server.url, 10, b"x" * 10, FINALIZE) == (expected, 1011, expected)
    await eventually(lambda: not server.sessions._sessions)
    assert not server.uploads._rows
    assert not server.blobs.inner._blobs
    assert not server.blobs.inner._parts


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("awaiting-init", "Storage init failed"),
        ("receiving", "Failed to read binary frame"),
        ("finalizing", "Finalize failed"),
    ],
)
def test_unforeseen_failures_get_the_1011_message_of_their_state(state: str, expected: str) -> None:
    refusal = ws_upload.unforeseen_failure(state)
    assert (refusal.message, refusal.code) == (expected, 1011)


@pytest.mark.parametrize("where", ["write", "assemble"])
async def test_storage_failure_while_receiving_or_finalizing(
    in_process: Callable[..., InProcess], where: str
) -> None:
    server = in_process()
    server.blobs.broken.add(where)
    messages: list[str | bytes] = [b"x" * 100] + ([FINALIZE] if where == "assemble" else [])
    expected = "Finalize failed"
    assert await refused_upload(server.url, 100, *messages) == (expected, 1011, expected)
    await eventually(lambda: not server.sessions._sessions and not server.uploads._rows)
    assert not server.blobs.inner._parts
    assert not server.blobs.inner._blobs


# -- the receive flow ------------------------------------------------------------------


async def blocked(waiting: Any) -> bool:
    """Whether the awaitable is still waiting once everything else has had its turn."""
    task = asyncio.ensure_future(waiting)
    for _ in range(5):
        await asyncio.sleep(0)
    if task.done():
        return False
    task.cancel()
    return True


async def test_flow_counts_binary_pieces_as_read_and_hands_them_on() -> None:
    flow = ReceiveFlow(1000)
    flow.add(b"a" * 300, False)  # a piece of a message is handed on at once
    flow.add(b"b" * 200, True)
    assert flow.held == 500
    assert [await flow.get(), await flow.get()] == [b"a" * 300, b"b" * 200]
    assert flow.held == 500  # until the blob store took them
    flow.release(500)
    assert flow.held == 0


async def test_flow_pauses_the_reader_above_75_and_resumes_below_50_percent() -> None:
    flow = ReceiveFlow(1000)
    flow.add(b"x" * 750, True)
    assert not await blocked(flow.wait_for_room())
    flow.add(b"x" * 100, True)
    reader = asyncio.ensure_future(flow.wait_for_room())
    assert await blocked(asyncio.shield(reader))
    flow.release(300)  # 550 held: still paused
    assert await blocked(asyncio.shield(reader))
    flow.release(100)  # 450 held
    await reader


async def test_flow_assembles_text_and_never_pauses_on_it_alone() -> None:
    flow = ReceiveFlow(1000)
    flow.add("x" * 800, False)
    assert flow.held == 800
    # Only more reading can finish the message, so the reader must go on.
    assert not await blocked(flow.wait_for_room())
    flow.add("é" * 50, True)  # counted in UTF-8 bytes
    assert flow.held == 900
    assert await flow.get() == "x" * 800 + "é" * 50
    assert flow.held == 0  # text is released once handed out


async def test_flow_pauses_on_text_while_binary_data_is_held() -> None:
    flow = ReceiveFlow(1000)
    flow.add(b"x" * 500, True)
    flow.add("x" * 300, False)
    reader = asyncio.ensure_future(flow.wait_for_room())
    assert await blocked(asyncio.shield(reader))
    flow.release(500)  # all that is left is the unfinished text
    await reader


@pytest.mark.parametrize(
    ("taken", "last"),
    [
        ((b"x" * 600, False), (b"x" * 401, True)),  # a message over the limit
        ((b"x" * 600, True), (b"x" * 401, True)),  # everything held over the limit
        ((b"x" * 600, True), ("x" * 401, True)),
        (None, ("x" * 1001, True)),
    ],
    ids=["message", "held", "held-text", "text"],
)
async def test_flow_over_the_limit_ends_with_buffer_exceeded(
    taken: tuple[bytes, bool] | None, last: tuple[bytes | str, bool]
) -> None:
    flow = ReceiveFlow(1000)
    if taken is not None:
        flow.add(*taken)
        assert await flow.get() == taken[0]  # not yet released by the blob store
    flow.add(*last)
    with pytest.raises(BufferExceeded):
        await flow.get()
    held = 600 if taken is not None else 0
    assert flow.held == held  # the rest was dropped ...
    flow.add(b"y" * 5000, True)  # ... and whatever still arrives is dropped too
    assert flow.held == held
    assert not await blocked(flow.wait_for_room())


async def test_flow_message_size_counts_pieces_already_released() -> None:
    flow = ReceiveFlow(1000)
    flow.add(b"x" * 900, False)
    flow.release(len(await flow.get()))
    flow.add(b"x" * 100, True)  # exactly the limit: allowed
    flow.release(len(await flow.get()))
    flow.add(b"x" * 900, False)
    flow.release(len(await flow.get()))
    flow.add(b"x" * 101, False)
    with pytest.raises(BufferExceeded):
        await flow.get()


async def test_dropping_the_flow_frees_a_paused_reader() -> None:
    flow = ReceiveFlow(1000)
    flow.add(b"x" * 900, True)
    reader = asyncio.ensure_future(flow.wait_for_room())
    assert await blocked(asyncio.shield(reader))
    flow.drop()
    await reader
    assert flow.held == 0


def test_hypercorn_stream_is_replaced() -> None:
    import hypercorn.protocol.h2
    import hypercorn.protocol.h11

    from skysend_http.ws_flow import FlowWSStream, speed_up_receiving

    speed_up_receiving()
    assert hypercorn.protocol.h11.WSStream is FlowWSStream  # type: ignore[attr-defined]
    assert hypercorn.protocol.h2.WSStream is FlowWSStream  # type: ignore[attr-defined]


# -- receive-path tuning --------------------------------------------------------------


def test_fast_unmasking_matches_wsproto() -> None:
    import wsproto.frame_protocol

    from skysend_http.ws_flow import FastUnmasker, speed_up_receiving

    key = os.urandom(4)
    data = os.urandom(300_001)
    cuts = [0, 1, 2, 3, 7, 65_536, 65_539, 200_000, 300_001]
    pieces = [data[a:b] for a, b in itertools.pairwise(cuts)]
    fast = FastUnmasker(key)
    unmasked = b"".join(fast.process(piece) for piece in pieces)
    expected = bytes(a ^ key[i % 4] for i, a in enumerate(data))
    assert unmasked == expected
    assert fast.process(b"") == b""
    speed_up_receiving()
    speed_up_receiving()  # idempotent
    assert wsproto.frame_protocol.XorMaskerSimple is FastUnmasker


async def test_permessage_deflate_is_declined(live: tuple[str, Storage]) -> None:
    base, _ = live
    payload = os.urandom(FRAME + 5)
    message, auth = init_message(len(payload))
    async with open_ws(base, compression="deflate") as ws:  # offered, as browsers do
        assert ws.protocol.extensions == []
        upload_id = await start(ws, message)
        await send_payload(ws, payload)
        await finish(ws)
    assert await download(base, upload_id, auth) == payload
