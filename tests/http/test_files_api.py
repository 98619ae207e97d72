"""The file API over real HTTP (http-api.md §1.13-1.15, §2.4-2.13; storage §4-§6).

Every check-order table row is exercised against a real hypercorn serving the real app on
a real SQLite file and uploads folder. Where a row needs a state that takes an hour to
reach (an idle session) or a finalize caught half-way, the test changes the live database
the way another process or the passing of time would, then asks over HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from tests.support.files_api import (
    MIB,
    Credentials,
    Stored,
    b64url,
    chunked_upload,
    download,
    finalize,
    init_chunked,
    payload,
    query,
    send_chunk,
    stored_files,
    token,
    upload,
    upload_headers,
    uploads_dir,
    without,
    write_db,
)
from tests.support.servers import running_app

from skysend_adapters.clock import ManualClock
from skysend_adapters.filesystem import FilesystemBlobStore
from skysend_adapters.sqlite import SqliteDatabase, SqliteUploadRepository, SqliteUploadSessionStore
from skysend_core.lifecycle import Cleanup, CleanupReport

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z")
MISSING_ID = "00000000-0000-4000-8000-000000000000"
FILE_MAX_SIZE = 2 * 1024**3  # the default
SESSION_GONE = {"error": "Upload session not found or expired"}
NOT_FOUND = {"error": "Upload not found"}
OWNER_401 = {"error": "Invalid or missing owner token"}
AUTH_401 = {"error": "Invalid or missing auth token"}
SIZE_MISMATCH = {"error": "Body size does not match declared content length"}
EXPIRED = {"error": "Upload has expired"}
LIMIT = {"error": "Download limit reached"}


@attrs.frozen
class Live:
    url: str
    data_dir: Path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One server for the tests that need only default settings."""
    data_dir = tmp_path_factory.mktemp("files-api")
    with running_app(data_dir) as url:
        yield Live(url, data_dir)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Live]]:
    """Start a dedicated server with environment overrides."""
    with ExitStack() as stack:
        counter = iter(range(100))

        def start_server(**overrides: str) -> Live:
            data_dir = tmp_path / f"server-{next(counter)}"
            return Live(stack.enter_context(running_app(data_dir, overrides)), data_dir)

        yield start_server


@pytest.fixture
def client(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=60) as http:
        yield http


def connect(server: Live) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=60)


def expect(response: httpx.Response, status: int, body: dict[str, Any]) -> None:
    """Exact status, exact JSON body, JSON content type."""
    assert (response.status_code, response.json()) == (status, body), response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"


def expect_details(response: httpx.Response, message: str, keys: set[str]) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "details"}
    assert body["error"] == message
    assert set(body["details"]) == keys
    for messages in body["details"].values():
        assert isinstance(messages, list)
        assert messages
        assert all(isinstance(text, str) for text in messages)


def info(client: httpx.Client, upload_id: str) -> dict[str, Any]:
    response = client.get(f"/api/info/{upload_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def post_meta(
    client: httpx.Client, stored: Stored, body: object = None, *, content: bytes | None = None
) -> httpx.Response:
    if content is None:
        return client.post(f"/api/meta/{stored.id}", headers=stored.owner, json=body)
    headers = stored.owner | {"Content-Type": "application/json"}
    return client.post(f"/api/meta/{stored.id}", headers=headers, content=content)


def valid_meta() -> dict[str, str]:
    return {
        "encryptedMeta": base64.b64encode(payload(64)).decode(),
        "nonce": base64.b64encode(payload(12)).decode(),
    }


def with_password(client: httpx.Client, **options: Any) -> Stored:
    return upload(client, password_salt=b64url(payload(16)), **options)


# -- §1.15 upload parameters, on both creation endpoints --------------------------------

CREATION = ["/api/upload", "/api/upload/init"]


def create(
    client: httpx.Client, path: str, headers: dict[str, str], size: int = 100
) -> httpx.Response:
    """POST a creation request; the single upload gets a body of ``size`` bytes."""
    content = payload(size) if path == "/api/upload" else None
    return client.post(path, headers=headers, content=content)


@pytest.mark.parametrize("path", CREATION)
@pytest.mark.parametrize(
    ("change", "keys"),
    [
        ({"drop": "X-Auth-Token"}, {"authToken"}),
        ({"drop": "X-Owner-Token"}, {"ownerToken"}),
        ({"drop": "X-Salt"}, {"salt"}),
        ({"drop": "X-Max-Downloads"}, {"maxDownloads"}),
        ({"drop": "X-Expire-Sec"}, {"expireSec"}),
        ({"X-Auth-Token": ""}, {"authToken"}),
        ({"X-Auth-Token": "abc+def"}, {"authToken"}),
        ({"X-Auth-Token": "abcd="}, {"authToken"}),
        ({"X-Owner-Token": "abc/def"}, {"ownerToken"}),
        ({"X-Owner-Token": "abc.def"}, {"ownerToken"}),
        ({"X-Salt": "AAAAAAAAAAAAAAAAAAAAAA=="}, {"salt"}),
        ({"X-Max-Downloads": "0"}, {"maxDownloads"}),
        ({"X-Max-Downloads": "-1"}, {"maxDownloads"}),
        ({"X-Max-Downloads": "many"}, {"maxDownloads"}),
        ({"X-Expire-Sec": "x3600"}, {"expireSec"}),
        ({"X-Expire-Sec": "0"}, {"expireSec"}),
        ({"X-File-Count": "0"}, {"fileCount"}),
        ({"X-File-Count": "none"}, {"fileCount"}),
        ({"X-Content-Length": "-5"}, {"contentLength"}),
        ({"X-Content-Length": "big"}, {"contentLength"}),
        (
            {"X-Has-Password": "true", "X-Password-Salt": "a+b", "X-Password-Algo": "argon2id-v2"},
            {"passwordSalt"},
        ),
        (
            {
                "X-Has-Password": "true",
                "X-Password-Salt": b64url(bytes(16)),
                "X-Password-Algo": "argon2id",
            },
            {"passwordAlgo"},
        ),
        # Present but malformed optional values are structural errors even without a password.
        ({"X-Password-Algo": "pbkdf2"}, {"passwordAlgo"}),
        ({"X-Password-Salt": "not base64!"}, {"passwordSalt"}),
        (
            {
                "drop": "X-Auth-Token",
                "X-Salt": "bad salt",
                "X-Max-Downloads": "0",
                "X-File-Count": "-2",
            },
            {"authToken", "salt", "maxDownloads", "fileCount"},
        ),
    ],
)
def test_structural_header_errors_name_the_websocket_keys(
    client: httpx.Client, path: str, change: dict[str, str], keys: set[str]
) -> None:
    headers = upload_headers(100)
    for name, value in change.items():
        if name == "drop":
            headers.pop(value)
        else:
            headers[name] = value
    expect_details(create(client, path, headers), "Invalid request headers", keys)


def test_init_without_any_declared_length_names_content_length(client: httpx.Client) -> None:
    headers = without(upload_headers(100), "X-Content-Length")
    expect_details(
        client.post("/api/upload/init", headers=headers),
        "Invalid request headers",
        {"contentLength"},
    )


def test_chunked_single_upload_without_declared_length_names_content_length(
    client: httpx.Client, live: Live
) -> None:
    """Chunked transfer encoding carries no Content-Length; without X-Content-Length the
    declared size is missing (§2.4)."""
    headers = without(upload_headers(100), "X-Content-Length")
    response = client.post("/api/upload", headers=headers, content=iter([payload(100)]))
    assert "content-length" not in response.request.headers
    expect_details(response, "Invalid request headers", {"contentLength"})


def test_content_length_is_the_declared_length_when_x_content_length_is_absent(
    client: httpx.Client,
) -> None:
    data = payload(777)
    headers = without(upload_headers(777), "X-Content-Length")
    response = client.post("/api/upload", headers=headers, content=data)
    assert response.status_code == 200, response.text
    assert info(client, response.json()["id"])["size"] == 777


@pytest.mark.parametrize("path", CREATION)
@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"X-Salt": "AAAAA"}, 400, "Invalid salt encoding"),
        ({"X-Salt": b64url(bytes(8))}, 400, "Salt must be 16 or 32 bytes"),
        ({"X-Salt": b64url(bytes(24))}, 400, "Salt must be 16 or 32 bytes"),
        ({"X-Salt": b64url(bytes(33))}, 400, "Salt must be 16 or 32 bytes"),
        (
            {"X-Content-Length": str(FILE_MAX_SIZE + 1)},
            413,
            "File size exceeds maximum allowed size",
        ),
        ({"X-File-Count": "33"}, 400, "Maximum 32 files per upload"),
        ({"X-Expire-Sec": "301"}, 400, "Invalid expiry time. Must be one of the allowed options."),
        (
            {"X-Max-Downloads": "6"},
            400,
            "Invalid download limit. Must be one of the allowed options.",
        ),
        (
            {"X-Has-Password": "true", "X-Password-Algo": "argon2id-v2"},
            400,
            "Password-protected uploads require X-Password-Salt and X-Password-Algo",
        ),
        (
            {"X-Has-Password": "true", "X-Password-Salt": b64url(bytes(16))},
            400,
            "Password-protected uploads require X-Password-Salt and X-Password-Algo",
        ),
        (
            {"X-Has-Password": "true", "X-Password-Salt": "", "X-Password-Algo": ""},
            400,
            "Password-protected uploads require X-Password-Salt and X-Password-Algo",
        ),
        (
            {
                "X-Has-Password": "true",
                "X-Password-Salt": "AAAAA",
                "X-Password-Algo": "argon2id-v2",
            },
            400,
            "Invalid password salt encoding",
        ),
        (
            {
                "X-Has-Password": "true",
                "X-Password-Salt": b64url(bytes(32)),
                "X-Password-Algo": "argon2id-v2",
            },
            400,
            "Password salt must be exactly 16 bytes",
        ),
    ],
)
def test_value_checks(
    client: httpx.Client, path: str, change: dict[str, str], status: int, message: str
) -> None:
    expect(create(client, path, upload_headers(100) | change), status, {"error": message})


def _breakers() -> list[tuple[Callable[[dict[str, str]], None], int, dict[str, Any]]]:
    """One way to fail each step of §1.15, in the order of the table."""

    def setter(**values: str) -> Callable[[dict[str, str]], None]:
        return lambda headers: headers.update({k.replace("_", "-"): v for k, v in values.items()})

    def drop_salt(headers: dict[str, str]) -> None:
        headers.update({"X-Has-Password": "true", "X-Password-Algo": "argon2id-v2"})
        headers.pop("X-Password-Salt", None)

    def drop_auth(headers: dict[str, str]) -> None:
        headers.pop("X-Auth-Token")

    password = {"X_Has_Password": "true", "X_Password_Algo": "argon2id-v2"}
    return [
        (drop_auth, 400, {"error": "Invalid request headers", "details": ["authToken"]}),
        (setter(X_Salt="AAAAA"), 400, {"error": "Invalid salt encoding"}),
        (setter(X_Salt=b64url(bytes(8))), 400, {"error": "Salt must be 16 or 32 bytes"}),
        (
            setter(X_Content_Length=str(FILE_MAX_SIZE + 1)),
            413,
            {"error": "File size exceeds maximum allowed size"},
        ),
        (setter(X_File_Count="33"), 400, {"error": "Maximum 32 files per upload"}),
        (
            setter(X_Expire_Sec="301"),
            400,
            {"error": "Invalid expiry time. Must be one of the allowed options."},
        ),
        (
            setter(X_Max_Downloads="6"),
            400,
            {"error": "Invalid download limit. Must be one of the allowed options."},
        ),
        (
            drop_salt,
            400,
            {"error": "Password-protected uploads require X-Password-Salt and X-Password-Algo"},
        ),
        (
            setter(X_Password_Salt="AAAAA", **password),
            400,
            {"error": "Invalid password salt encoding"},
        ),
        (
            setter(X_Password_Salt=b64url(bytes(32)), **password),
            400,
            {"error": "Password salt must be exactly 16 bytes"},
        ),
        (lambda headers: None, 400, {"error": "Password is required by server policy"}),
    ]


@pytest.mark.parametrize("path", CREATION)
def test_validation_order_first_failing_step_answers(start: Callable[..., Live], path: str) -> None:
    """For each step k, break steps k…11 at once: step k's response comes back."""
    server = start(FORCE_FILE_PASSWORD="true")
    breakers = _breakers()
    with connect(server) as client:
        for step in range(len(breakers)):
            headers = upload_headers(100)
            for breaker, _, _ in reversed(breakers[step:]):
                breaker(headers)
            _, status, body = breakers[step]
            response = create(client, path, headers)
            if "details" in body:
                expect_details(response, body["error"], set(body["details"]))
            else:
                expect(response, status, body)


def test_forced_password_accepts_password_uploads(start: Callable[..., Live]) -> None:
    with connect(start(FORCE_FILE_PASSWORD="true")) as client:
        expect(
            create(client, "/api/upload/init", upload_headers(100)),
            400,
            {"error": "Password is required by server policy"},
        )
        stored = with_password(client)
        assert info(client, stored.id)["hasPassword"] is True


@pytest.mark.parametrize("salt_size", [16, 32])
def test_salt_of_16_and_32_bytes_is_accepted_and_returned(
    client: httpx.Client, salt_size: int
) -> None:
    creds = Credentials(salt=b64url(payload(salt_size)))
    stored = upload(client, creds=creds)
    assert info(client, stored.id)["salt"] == creds.salt
    upload_id, _ = init_chunked(client, 10, creds=creds)
    assert upload_id


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("X-Max-Downloads", "3abc", "maxDownloads", 3),
        ("X-Max-Downloads", "+2", "maxDownloads", 2),
        ("X-Expire-Sec", "3600.9", None, None),
        ("X-File-Count", "4 files", "fileCount", 4),
        ("X-Has-Password", "TRUE", "hasPassword", False),
        ("X-Has-Password", "1", "hasPassword", False),
    ],
)
def test_header_values_are_read_like_the_reference(
    client: httpx.Client, name: str, value: str, field: str | None, expected: object
) -> None:
    """Integers like ``parseInt`` (leading integer wins); only ``true`` means true."""
    options: dict[str, Any] = {name.replace("-", "_"): value}
    stored = upload(client, **options)
    body = info(client, stored.id)
    if field is not None:
        assert body[field] == expected
    else:
        assert datetime.fromisoformat(body["expiresAt"]) - datetime.fromisoformat(
            body["createdAt"]
        ) == datetime.fromtimestamp(3600, UTC) - datetime.fromtimestamp(0, UTC)


def test_password_fields_are_ignored_without_has_password(client: httpx.Client, live: Live) -> None:
    stored = upload(client, X_Password_Salt=b64url(bytes(16)), X_Password_Algo="argon2id-v2")
    body = info(client, stored.id)
    assert body["hasPassword"] is False
    assert "passwordSalt" not in body
    assert "passwordAlgo" not in body
    sql = "SELECT password_salt, password_algo FROM uploads WHERE id = ?"
    assert query(live.data_dir, sql, (stored.id,)) == [(None, None)]


# -- §2.4 POST /api/upload ------------------------------------------------------------


def test_single_upload_success_body(client: httpx.Client, live: Live) -> None:
    data = payload(4096)
    response = client.post("/api/upload", content=data, headers=upload_headers(len(data)))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "url"}
    assert UUID4.fullmatch(body["id"])
    assert body["url"] == f"{live.url}/file/{body['id']}"
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert (uploads_dir(live.data_dir) / f"{body['id']}.bin").read_bytes() == data


def _rows(live: Live) -> int:
    count = query(live.data_dir, "SELECT COUNT(*) FROM uploads")[0][0]
    assert isinstance(count, int)
    return count


def _bins(live: Live) -> list[str]:
    return [name for name in stored_files(live.data_dir) if name.endswith(".bin") or ".tmp" in name]


def test_single_upload_without_body_is_refused(client: httpx.Client, live: Live) -> None:
    rows, bins = _rows(live), _bins(live)
    response = client.post("/api/upload", headers=upload_headers(100))
    expect(response, 400, {"error": "Missing request body"})
    assert (_rows(live), _bins(live)) == (rows, bins)


@pytest.mark.parametrize(("declared", "sent"), [(100, 101), (100, 5000), (100, 99), (5000, 1)])
def test_single_upload_body_size_must_match_declared_length(
    client: httpx.Client, live: Live, declared: int, sent: int
) -> None:
    rows, bins = _rows(live), _bins(live)
    response = client.post("/api/upload", content=payload(sent), headers=upload_headers(declared))
    expect(response, 400, SIZE_MISMATCH)
    assert (_rows(live), _bins(live)) == (rows, bins)


def raw_exchange(server: Live, head: str) -> tuple[int, dict[str, Any]]:
    """Send only a request head (no body) and read the response that comes anyway."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode("ascii"))
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            received += data
    status_line, _, rest = received.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(body)


def request_head(path: str, headers: dict[str, str]) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: localhost"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n"


def test_content_length_above_the_declared_length_is_refused_unread(live: Live) -> None:
    """§1.14: a Content-Length already over the limit is refused without reading."""
    headers = upload_headers(1000) | {"Content-Length": str(10 * MIB)}
    status, body = raw_exchange(live, request_head("/api/upload", headers))
    assert (status, body) == (400, SIZE_MISMATCH)


def test_chunk_content_length_above_the_room_left_is_refused_unread(
    client: httpx.Client, live: Live
) -> None:
    upload_id, creds = init_chunked(client, 1000)
    expect(send_chunk(client, upload_id, 0, payload(600)), 200, {"bytesWritten": 600})
    path = f"/api/upload/{upload_id}/chunk?index=1"
    status, body = raw_exchange(live, request_head(path, {"Content-Length": "401"}))
    assert (status, body) == (413, {"error": "Total bytes exceed declared content length"})
    expect(finalize(client, upload_id, creds), 404, SESSION_GONE)


def test_single_upload_storage_failure_is_a_plain_500(start: Callable[..., Live]) -> None:
    server = start()
    folder = uploads_dir(server.data_dir)
    folder.rename(server.data_dir / "moved-away")
    folder.write_bytes(b"not a folder")
    with connect(server) as client:
        response = client.post("/api/upload", content=payload(10), headers=upload_headers(10))
        expect(response, 500, {"error": "Internal server error"})
    assert query(server.data_dir, "SELECT COUNT(*) FROM uploads") == [(0,)]


# -- §2.5-2.7 chunked uploads ---------------------------------------------------------


def test_init_answers_201_with_only_the_id(client: httpx.Client, live: Live) -> None:
    response = client.post("/api/upload/init", headers=upload_headers(10))
    assert response.status_code == 201
    assert set(response.json()) == {"id"}
    upload_id = response.json()["id"]
    assert UUID4.fullmatch(upload_id)
    state = query(live.data_dir, "SELECT state FROM upload_sessions WHERE id = ?", (upload_id,))
    assert state == [("open",)]


def test_chunks_out_of_order_then_finalize(client: httpx.Client, live: Live) -> None:
    data = payload(3000)
    upload_id, creds = init_chunked(client, len(data), file_count=3, max_downloads=2)
    parts = [data[:1000], data[1000:1700], data[1700:]]
    expect(send_chunk(client, upload_id, 2, parts[2]), 200, {"bytesWritten": 1300})
    expect(send_chunk(client, upload_id, 0, parts[0]), 200, {"bytesWritten": 2300})
    expect(send_chunk(client, upload_id, 1, parts[1]), 200, {"bytesWritten": 3000})
    response = finalize(client, upload_id, creds)
    expect(response, 200, {"id": upload_id, "url": f"{live.url}/file/{upload_id}"})
    fetched = download(client, Stored(upload_id, creds, data))
    assert fetched.status_code == 200
    assert fetched.content == data
    assert fetched.headers["x-file-count"] == "3"
    assert query(
        live.data_dir, "SELECT COUNT(*) FROM upload_sessions WHERE id = ?", (upload_id,)
    ) == [(0,)]
    assert not (uploads_dir(live.data_dir) / ".partial" / upload_id).exists()


def test_pending_upload_is_invisible_everywhere_but_chunk_and_finalize(
    client: httpx.Client,
) -> None:
    upload_id, creds = init_chunked(client, 10)
    pending = Stored(upload_id, creds, b"")
    expect(client.get(f"/api/info/{upload_id}"), 404, NOT_FOUND)
    expect(client.get(f"/api/exists/{upload_id}"), 404, {"exists": False})
    expect(download(client, pending), 404, NOT_FOUND)
    expect(post_meta(client, pending, valid_meta()), 404, NOT_FOUND)
    expect(
        client.post(f"/api/password/{upload_id}", json={"authToken": creds.auth}), 404, NOT_FOUND
    )
    expect(client.delete(f"/api/upload/{upload_id}", headers=pending.owner), 404, NOT_FOUND)


def test_chunk_to_unknown_session_is_404(client: httpx.Client) -> None:
    expect(send_chunk(client, MISSING_ID, 0, b"x"), 404, SESSION_GONE)
    expect(send_chunk(client, MISSING_ID.upper().replace("0", "A"), 0, b"x"), 404, SESSION_GONE)
    expect(send_chunk(client, "not-an-id", 0, b"x"), 404, SESSION_GONE)
    # 404 comes before the index check.
    expect(client.post(f"/api/upload/{MISSING_ID}/chunk", content=b"x"), 404, SESSION_GONE)


def test_chunk_to_an_upload_that_is_already_finalized_is_404(client: httpx.Client) -> None:
    stored = chunked_upload(client, payload(10), 10)
    expect(send_chunk(client, stored.id, 1, b"x"), 404, SESSION_GONE)
    expect(finalize(client, stored.id, stored.creds), 404, SESSION_GONE)


@pytest.mark.parametrize("index", [None, "", "-1", "x", "abc3", "-3", " "])
def test_chunk_index_must_be_a_non_negative_integer(
    client: httpx.Client, index: str | None
) -> None:
    upload_id, _ = init_chunked(client, 10)
    params = {} if index is None else {"index": index}
    response = client.post(f"/api/upload/{upload_id}/chunk", params=params, content=b"x")
    expect(response, 400, {"error": "Missing or invalid chunk index"})


@pytest.mark.parametrize(
    ("raw", "index"), [("3abc", 3), ("1.9", 1), ("+2", 2), (" 0", 0), ("00", 0)]
)
def test_chunk_index_is_parsed_like_parse_int(client: httpx.Client, raw: str, index: int) -> None:
    upload_id, _ = init_chunked(client, 100)
    expect(send_chunk(client, upload_id, raw, b"abc"), 200, {"bytesWritten": 3})
    expect(send_chunk(client, upload_id, index, b"abc"), 409, {"error": "Chunk already received"})


def test_repeated_chunk_index_is_409_and_discarded(client: httpx.Client, live: Live) -> None:
    data = payload(20)
    upload_id, creds = init_chunked(client, 20)
    expect(send_chunk(client, upload_id, 0, data[:10]), 200, {"bytesWritten": 10})
    expect(send_chunk(client, upload_id, 0, payload(10)), 409, {"error": "Chunk already received"})
    # The duplicate check comes before the empty-body check.
    expect(send_chunk(client, upload_id, 0, b""), 409, {"error": "Chunk already received"})
    expect(send_chunk(client, upload_id, 1, data[10:]), 200, {"bytesWritten": 20})
    expect(
        finalize(client, upload_id, creds),
        200,
        {"id": upload_id, "url": f"{live.url}/file/{upload_id}"},
    )
    assert download(client, Stored(upload_id, creds, data)).content == data


def test_empty_chunk_is_400_and_changes_nothing(client: httpx.Client) -> None:
    upload_id, _ = init_chunked(client, 10)
    expect(send_chunk(client, upload_id, 0, b""), 400, {"error": "Missing chunk body"})
    expect(send_chunk(client, upload_id, 0, payload(10)), 200, {"bytesWritten": 10})


@pytest.mark.parametrize("sizes", [[101], [60, 41], [100, 1]])
def test_overflow_is_413_and_aborts_the_session(
    client: httpx.Client, live: Live, sizes: list[int]
) -> None:
    upload_id, creds = init_chunked(client, 100)
    *accepted, last = sizes
    total = 0
    for index, size in enumerate(accepted):
        total += size
        expect(send_chunk(client, upload_id, index, payload(size)), 200, {"bytesWritten": total})
    response = send_chunk(client, upload_id, len(accepted), payload(last))
    expect(response, 413, {"error": "Total bytes exceed declared content length"})
    expect(send_chunk(client, upload_id, 5, b"x"), 404, SESSION_GONE)
    expect(finalize(client, upload_id, creds), 404, SESSION_GONE)
    assert query(
        live.data_dir, "SELECT COUNT(*) FROM upload_chunks WHERE session_id = ?", (upload_id,)
    ) == [(0,)]
    assert not (uploads_dir(live.data_dir) / ".partial" / upload_id).exists()


def test_out_of_order_buffer_limit_is_429_and_retryable(client: httpx.Client) -> None:
    """Chunks above the lowest missing index may hold at most 50 MiB (§2.6 row 7)."""
    sizes = [5 * MIB, 30 * MIB, 20 * MIB + 1]
    data = payload(sum(sizes))
    parts = [data[: sizes[0]], data[sizes[0] : sizes[0] + sizes[1]], data[sizes[0] + sizes[1] :]]
    upload_id, creds = init_chunked(client, len(data))
    expect(send_chunk(client, upload_id, 1, parts[1]), 200, {"bytesWritten": sizes[1]})
    response = send_chunk(client, upload_id, 2, parts[2])
    expect(response, 429, {"error": "Too many out-of-order chunks buffered"})
    expect(send_chunk(client, upload_id, 0, parts[0]), 200, {"bytesWritten": sizes[0] + sizes[1]})
    expect(send_chunk(client, upload_id, 2, parts[2]), 200, {"bytesWritten": len(data)})
    assert finalize(client, upload_id, creds).status_code == 200
    assert download(client, Stored(upload_id, creds, data)).content == data


def test_chunk_storage_failure_is_500_and_aborts(client: httpx.Client, live: Live) -> None:
    upload_id, creds = init_chunked(client, 10)
    area = uploads_dir(live.data_dir) / ".partial" / upload_id
    area.parent.mkdir(parents=True, exist_ok=True)
    area.write_bytes(b"in the way")  # the session's part area cannot be created
    try:
        expect(send_chunk(client, upload_id, 0, b"x"), 500, {"error": "Internal server error"})
    finally:
        area.unlink()
    expect(send_chunk(client, upload_id, 0, b"x"), 404, SESSION_GONE)
    expect(finalize(client, upload_id, creds), 404, SESSION_GONE)


def test_idle_session_is_404_for_chunk_and_finalize(client: httpx.Client, live: Live) -> None:
    upload_id, creds = init_chunked(client, 10)
    expect(send_chunk(client, upload_id, 0, b"12345"), 200, {"bytesWritten": 5})
    idle = int(time.time() * 1000) - 60 * 60 * 1000 - 1000
    write_db(
        live.data_dir,
        "UPDATE upload_sessions SET last_activity_at = ? WHERE id = ?",
        (idle, upload_id),
    )
    expect(send_chunk(client, upload_id, 1, b"12345"), 404, SESSION_GONE)
    expect(finalize(client, upload_id, creds), 404, SESSION_GONE)


def test_activity_keeps_a_session_alive(client: httpx.Client, live: Live) -> None:
    """The TTL counts from the last accepted chunk, not from init."""
    data = payload(10)
    upload_id, creds = init_chunked(client, 10)
    almost = int(time.time() * 1000) - 60 * 60 * 1000 + 30_000
    write_db(
        live.data_dir,
        "UPDATE upload_sessions SET created_at = ?, last_activity_at = ? WHERE id = ?",
        (almost - 5 * 60 * 60 * 1000, almost, upload_id),
    )
    expect(send_chunk(client, upload_id, 0, data), 200, {"bytesWritten": 10})
    assert finalize(client, upload_id, creds).status_code == 200


def test_speed_limit_holds_chunk_responses(start: Callable[..., Live]) -> None:
    """With FILE_UPLOAD_SPEED_LIMIT the session averages at most that rate (§2.6)."""
    server = start(FILE_UPLOAD_SPEED_LIMIT="1MB")
    data = payload(MIB // 2)
    with connect(server) as client:
        upload_id, creds = init_chunked(client, len(data))
        began = time.monotonic()
        for index in range(2):
            part = data[index * MIB // 4 : (index + 1) * MIB // 4]
            assert send_chunk(client, upload_id, index, part).status_code == 200
        elapsed = time.monotonic() - began
        assert 0.45 <= elapsed < 30
        assert finalize(client, upload_id, creds).status_code == 200


def test_finalize_check_order(client: httpx.Client, live: Live) -> None:
    data = payload(10)
    # Row 3 comes before the token check.
    expect(client.post(f"/api/upload/{MISSING_ID}/finalize"), 404, SESSION_GONE)
    upload_id, creds = init_chunked(client, 10)
    expect(send_chunk(client, upload_id, 0, data), 200, {"bytesWritten": 10})
    for headers in (
        {},
        {"X-Owner-Token": ""},
        {"X-Owner-Token": token()},
        {"X-Owner-Token": "!!"},
        {"X-Owner-Token": creds.auth},
        {"X-Owner-Token": creds.owner[:-1]},
    ):
        response = client.post(f"/api/upload/{upload_id}/finalize", headers=headers)
        expect(response, 401, OWNER_401)
    # Unchanged by the refusals: the owner finalizes.
    expect(
        finalize(client, upload_id, creds),
        200,
        {"id": upload_id, "url": f"{live.url}/file/{upload_id}"},
    )


def test_finalize_while_another_finalize_runs_is_409(client: httpx.Client, live: Live) -> None:
    upload_id, creds = init_chunked(client, 10)
    expect(send_chunk(client, upload_id, 0, payload(10)), 200, {"bytesWritten": 10})
    # Another worker has moved the session to ``finalizing`` and is assembling it.
    write_db(
        live.data_dir, "UPDATE upload_sessions SET state = 'finalizing' WHERE id = ?", (upload_id,)
    )
    expect(finalize(client, upload_id, creds), 409, {"error": "Finalize already in progress"})
    # The token is checked first (row 4 before row 5).
    expect(finalize(client, upload_id, Credentials()), 401, OWNER_401)
    # A finalizing session takes no more chunks.
    expect(send_chunk(client, upload_id, 1, b"x"), 404, SESSION_GONE)


def test_concurrent_finalize_lets_exactly_one_through(live: Live) -> None:
    data = payload(8 * MIB)
    with connect(live) as client:
        upload_id, creds = init_chunked(client, len(data))
        for index in range(8):
            chunk = data[index * MIB : (index + 1) * MIB]
            assert send_chunk(client, upload_id, index, chunk).status_code == 200

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live.url, timeout=60) as http:
            calls = [
                http.post(
                    f"/api/upload/{upload_id}/finalize", headers={"X-Owner-Token": creds.owner}
                )
                for _ in range(6)
            ]
            return list(await asyncio.gather(*calls))

    responses = asyncio.run(race())
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    for response in responses:
        if response.status_code == 409:
            expect(response, 409, {"error": "Finalize already in progress"})
        elif response.status_code == 404:
            expect(response, 404, SESSION_GONE)
        else:
            assert response.status_code == 200
    with connect(live) as client:
        assert download(client, Stored(upload_id, creds, data)).content == data


@pytest.mark.parametrize(
    ("total", "chunks"),
    [
        (30, [(0, 10), (2, 10)]),  # a gap
        (30, [(1, 10), (2, 10)]),  # no chunk 0
        (30, [(0, 10), (1, 10)]),  # contiguous but short
        (30, []),  # nothing at all
    ],
)
def test_finalize_of_an_incomplete_upload_is_400_and_aborts(
    client: httpx.Client, live: Live, total: int, chunks: list[tuple[int, int]]
) -> None:
    upload_id, creds = init_chunked(client, total)
    for index, size in chunks:
        assert send_chunk(client, upload_id, index, payload(size)).status_code == 200
    expect(finalize(client, upload_id, creds), 400, SIZE_MISMATCH)
    expect(finalize(client, upload_id, creds), 404, SESSION_GONE)
    expect(send_chunk(client, upload_id, 3, b"x"), 404, SESSION_GONE)
    assert not (uploads_dir(live.data_dir) / ".partial" / upload_id).exists()
    assert not (uploads_dir(live.data_dir) / f"{upload_id}.bin").exists()
    expect(client.get(f"/api/info/{upload_id}"), 404, NOT_FOUND)


def test_finalize_storage_failure_is_500_and_aborts(client: httpx.Client, live: Live) -> None:
    upload_id, creds = init_chunked(client, 10)
    assert send_chunk(client, upload_id, 0, payload(10)).status_code == 200
    blocker = uploads_dir(live.data_dir) / f"{upload_id}.bin"
    blocker.mkdir()  # the blob cannot be moved into place
    try:
        expect(finalize(client, upload_id, creds), 500, {"error": "Internal server error"})
    finally:
        blocker.rmdir()
    expect(finalize(client, upload_id, creds), 404, SESSION_GONE)
    expect(client.get(f"/api/info/{upload_id}"), 404, NOT_FOUND)
    assert not (uploads_dir(live.data_dir) / ".partial" / upload_id).exists()


def test_expiry_counts_from_finalize(client: httpx.Client, live: Live) -> None:
    upload_id, creds = init_chunked(client, 10, expire_sec=300)
    assert send_chunk(client, upload_id, 0, payload(10)).status_code == 200
    earlier = int(time.time() * 1000) - 10 * 60 * 1000
    write_db(
        live.data_dir,
        "UPDATE upload_sessions SET created_at = ? WHERE id = ?",
        (earlier, upload_id),
    )
    assert finalize(client, upload_id, creds).status_code == 200
    body = info(client, upload_id)
    created = datetime.fromisoformat(body["createdAt"]).timestamp()
    assert abs(created - time.time()) < 5
    assert datetime.fromisoformat(body["expiresAt"]).timestamp() - created == 300


# -- §2.8 info and §2.9 exists ----------------------------------------------------------

INFO_KEYS = {
    "id",
    "size",
    "fileCount",
    "hasPassword",
    "salt",
    "encryptedMeta",
    "nonce",
    "downloadCount",
    "maxDownloads",
    "expiresAt",
    "createdAt",
}


def test_info_without_password_omits_the_password_fields(client: httpx.Client) -> None:
    before = time.time()
    stored = upload(client, size=1234, max_downloads=5, expire_sec=86400)
    body = info(client, stored.id)
    assert set(body) == INFO_KEYS
    assert body == body | {
        "id": stored.id,
        "size": 1234,
        "fileCount": 1,
        "hasPassword": False,
        "salt": stored.creds.salt,
        "encryptedMeta": None,
        "nonce": None,
        "downloadCount": 0,
        "maxDownloads": 5,
    }
    assert ISO_MS.fullmatch(body["createdAt"])
    assert ISO_MS.fullmatch(body["expiresAt"])
    created = datetime.fromisoformat(body["createdAt"]).timestamp()
    assert before - 1 <= created <= time.time()
    assert datetime.fromisoformat(body["expiresAt"]).timestamp() == created + 86400


def test_info_with_password_and_metadata(client: httpx.Client) -> None:
    password_salt = b64url(payload(16))
    stored = upload(client, password_salt=password_salt, file_count=7, max_downloads=3)
    # Bytes whose base64 uses '+' and '/' and needs padding; sent URL-safe without padding.
    meta, nonce = b"\xfb\xff\xbf" * 21 + b"\x01", b"\xfa" * 12
    expect(
        post_meta(client, stored, {"encryptedMeta": b64url(meta), "nonce": b64url(nonce)}),
        200,
        {"ok": True},
    )
    body = info(client, stored.id)
    assert set(body) == INFO_KEYS | {"passwordAlgo", "passwordSalt"}
    assert body["hasPassword"] is True
    assert body["passwordAlgo"] == "argon2id-v2"
    assert body["passwordSalt"] == password_salt
    assert body["fileCount"] == 7
    assert body["maxDownloads"] == 3
    assert body["encryptedMeta"] == base64.b64encode(meta).decode()
    assert body["encryptedMeta"].endswith("=")
    assert body["nonce"] == base64.b64encode(nonce).decode()
    assert "+" in body["encryptedMeta"]
    assert "/" in body["encryptedMeta"]


def test_info_and_exists_never_count(client: httpx.Client) -> None:
    stored = upload(client, max_downloads=1)
    for _ in range(3):
        assert client.get(f"/api/info/{stored.id}").status_code == 200
        expect(client.get(f"/api/exists/{stored.id}"), 200, {"exists": True})
        assert client.head(f"/api/info/{stored.id}").status_code == 200
    assert info(client, stored.id)["downloadCount"] == 0
    assert download(client, stored).status_code == 200


@pytest.mark.parametrize(
    "upload_id",
    [MISSING_ID, MISSING_ID.replace("0", "A"), "not-a-uuid", "..%2E%2E..%2E%2E", "x" * 36],
)
def test_unknown_or_invalid_ids_are_404(client: httpx.Client, upload_id: str) -> None:
    expect(client.get(f"/api/info/{upload_id}"), 404, NOT_FOUND)
    expect(client.get(f"/api/exists/{upload_id}"), 404, {"exists": False})
    expect(
        client.get(f"/api/download/{upload_id}", headers={"X-Auth-Token": token()}), 404, NOT_FOUND
    )


def test_exhausted_upload_is_410_limit(client: httpx.Client) -> None:
    stored = upload(client, max_downloads=2)
    assert download(client, stored).status_code == 200
    assert info(client, stored.id)["downloadCount"] == 1
    assert download(client, stored).status_code == 200
    expect(client.get(f"/api/info/{stored.id}"), 410, LIMIT)
    expect(
        client.get(f"/api/exists/{stored.id}"), 410, {"exists": False, "reason": "limit_reached"}
    )
    expect(download(client, stored), 410, LIMIT)


# -- §2.10 metadata -------------------------------------------------------------------


def test_metadata_is_set_once(client: httpx.Client) -> None:
    stored = upload(client)
    meta = valid_meta()
    expect(post_meta(client, stored, meta), 200, {"ok": True})
    expect(post_meta(client, stored, valid_meta()), 409, {"error": "Metadata already set"})
    body = info(client, stored.id)
    assert (body["encryptedMeta"], body["nonce"]) == (meta["encryptedMeta"], meta["nonce"])


def test_metadata_check_order(client: httpx.Client) -> None:
    stored = upload(client)
    wrong = Stored(stored.id, Credentials(), b"")
    path = f"/api/meta/{stored.id}"
    # 2: missing owner token, even for an id that does not exist.
    expect(client.post(f"/api/meta/{MISSING_ID}", json=valid_meta()), 401, OWNER_401)
    expect(client.post(path, json=valid_meta()), 401, OWNER_401)
    expect(client.post(path, json=valid_meta(), headers={"X-Owner-Token": ""}), 401, OWNER_401)
    # 3: no row.
    missing = Stored(MISSING_ID, stored.creds, b"")
    expect(post_meta(client, missing, valid_meta()), 404, NOT_FOUND)
    # 4: wrong or malformed token, before the size check.
    expect(post_meta(client, wrong, valid_meta()), 401, OWNER_401)
    malformed = Stored(stored.id, Credentials(owner="A" * 5), b"")
    expect(post_meta(client, malformed, valid_meta()), 401, OWNER_401)
    expect(post_meta(client, wrong, content=b"x" * 300_000), 401, OWNER_401)
    # 7: not JSON.
    expect(post_meta(client, stored, content=b"{not json"), 400, {"error": "Invalid JSON body"})
    # 8: field shapes.
    cases: list[tuple[object, set[str]]] = [
        ({"nonce": "AAAA"}, {"encryptedMeta"}),
        ({"encryptedMeta": "AAAA"}, {"nonce"}),
        ({}, {"encryptedMeta", "nonce"}),
        ([], {"encryptedMeta", "nonce"}),
        ({"encryptedMeta": 5, "nonce": "AAAA"}, {"encryptedMeta"}),
        ({"encryptedMeta": "", "nonce": "AAAA"}, {"encryptedMeta"}),
        ({"encryptedMeta": "A" * 100_004, "nonce": "AAAA"}, {"encryptedMeta"}),
        ({"encryptedMeta": "AAAA", "nonce": "A" * 104}, {"nonce"}),
        ({"encryptedMeta": "AAAA", "nonce": None}, {"nonce"}),
        # 8 before 9: a shape error wins over an encoding error.
        ({"encryptedMeta": "!!!!", "nonce": ""}, {"nonce"}),
    ]
    for body, keys in cases:
        expect_details(post_meta(client, stored, body), "Invalid request body", keys)
    # 9 and 10: encodings (9 first).
    bad_meta = {"error": "Invalid encryptedMeta encoding"}
    bad_nonce = {"error": "Invalid nonce encoding"}
    for encrypted_meta, nonce, expected in [
        ("!!!!", "AAAA", bad_meta),
        ("AAAA", "a b=", bad_nonce),
        ("====", "AAAA", bad_meta),
        ("AAAA", "=", bad_nonce),
        ("AAAAA", "AAAA", bad_meta),
        ("AA==AA==", "AAAA", bad_meta),
        ("!!!!", "!!!!", bad_meta),
    ]:
        response = post_meta(client, stored, {"encryptedMeta": encrypted_meta, "nonce": nonce})
        expect(response, 400, expected)
    # Nothing was stored by any of the refusals.
    assert info(client, stored.id)["encryptedMeta"] is None
    # Limits are inclusive: 100000 and 100 characters are accepted; any nonce length is.
    body = {"encryptedMeta": "A" * 100_000, "nonce": "AAAA"}
    expect(post_meta(client, stored, body), 200, {"ok": True})
    # 5 before 6, 6 before 7.
    expect(
        post_meta(client, stored, content=b"x" * (256 * 1024 + 1)),
        413,
        {"error": "Request body too large"},
    )
    expect(post_meta(client, stored, content=b"{not json"), 409, {"error": "Metadata already set"})


def test_metadata_body_limit_is_256_kib(client: httpx.Client) -> None:
    stored = upload(client)
    too_large = {"error": "Request body too large"}
    expect(post_meta(client, stored, content=b" " * (256 * 1024 + 1)), 413, too_large)
    # Streamed without Content-Length, the body is counted while it is read.
    response = client.post(
        f"/api/meta/{stored.id}",
        headers=stored.owner | {"Content-Type": "application/json"},
        content=iter([b" " * 200_000, b" " * 62_145]),
    )
    expect(response, 413, too_large)
    # Exactly 256 KiB is within the limit (and then fails on its content).
    padded = b'{"encryptedMeta":"AAAA","nonce":"AAAA"}'
    exact = padded + b" " * (256 * 1024 - len(padded))
    expect(post_meta(client, stored, content=exact), 200, {"ok": True})


@pytest.mark.parametrize(
    ("encrypted_meta", "nonce", "stored_meta"),
    [
        ("+/+/", "AAAAAAAAAAAAAAAA", b"\xfb\xff\xbf"),  # standard, unpadded
        ("-_-_", "AAAAAAAAAAAAAAAA", b"\xfb\xff\xbf"),  # URL-safe
        ("AQ==", "AAAAAAAAAAAAAAAA", b"\x01"),  # padded
        ("AQ", "AA", b"\x01"),  # unpadded, 1-byte nonce
    ],
)
def test_metadata_base64_is_lenient(
    client: httpx.Client, live: Live, encrypted_meta: str, nonce: str, stored_meta: bytes
) -> None:
    stored = upload(client)
    body = {"encryptedMeta": encrypted_meta, "nonce": nonce}
    expect(post_meta(client, stored, body), 200, {"ok": True})
    row = query(live.data_dir, "SELECT encrypted_meta FROM uploads WHERE id = ?", (stored.id,))
    assert row == [(stored_meta,)]


# -- §2.11 download -------------------------------------------------------------------


def test_download_success_headers_and_body(client: httpx.Client) -> None:
    stored = upload(client, size=3 * MIB + 17, file_count=4, max_downloads=2)
    response = download(client, stored)
    assert response.status_code == 200
    assert response.content == stored.data
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == str(len(stored.data))
    assert response.headers["x-file-count"] == "4"
    assert response.headers["cache-control"] == "no-store"
    assert "accept-ranges" not in response.headers
    assert info(client, stored.id)["downloadCount"] == 1


def test_download_check_order(client: httpx.Client, live: Live) -> None:
    stored = upload(client, max_downloads=1)
    path = f"/api/download/{stored.id}"
    # 2: missing token comes before the 404.
    expect(client.get(f"/api/download/{MISSING_ID}"), 401, AUTH_401)
    expect(client.get(path), 401, AUTH_401)
    expect(client.get(path, headers={"X-Auth-Token": ""}), 401, AUTH_401)
    # 3: no row.
    expect(client.get(f"/api/download/{MISSING_ID}", headers=stored.auth), 404, NOT_FOUND)
    # 4: malformed or wrong token.
    for bad in ["AAAAA", "a+b/c", token(), stored.creds.owner, stored.creds.auth[:-2]]:
        expect(client.get(path, headers={"X-Auth-Token": bad}), 401, AUTH_401)
    assert info(client, stored.id)["downloadCount"] == 0
    # Trailing padding is stripped before decoding (§1.13): the same token.
    padded = client.get(path, headers={"X-Auth-Token": stored.creds.auth + "="})
    assert padded.status_code == 200
    assert padded.content == stored.data
    # 6: exhausted, after the token check.
    expect(download(client, stored), 410, LIMIT)
    expect(client.get(path, headers={"X-Auth-Token": token()}), 401, AUTH_401)


@pytest.mark.parametrize("malformed", ["A", "AAAAA", "abcdefghi"])
def test_tokens_that_cannot_be_decoded_never_match(client: httpx.Client, malformed: str) -> None:
    """Such tokens pass the character check at upload (§1.15: tokens are not
    length-checked) but, being malformed base64url, can never equal anything (§1.13)."""
    creds = Credentials(auth=malformed, owner=malformed)
    stored = upload(client, creds=creds)
    for presented in ["=", "==", malformed, malformed + "=", "AAAA"]:
        headers = {"X-Auth-Token": presented}
        expect(client.get(f"/api/download/{stored.id}", headers=headers), 401, AUTH_401)
        owner = {"X-Owner-Token": presented}
        expect(client.delete(f"/api/upload/{stored.id}", headers=owner), 401, OWNER_401)
    assert info(client, stored.id)["downloadCount"] == 0


def test_download_of_a_missing_blob_is_500_and_not_counted(
    client: httpx.Client, live: Live
) -> None:
    stored = upload(client, max_downloads=1)
    (uploads_dir(live.data_dir) / f"{stored.id}.bin").unlink()
    response = download(client, stored)
    expect(response, 500, {"error": "File not found on disk"})
    assert response.headers["cache-control"] == "no-store"
    assert info(client, stored.id)["downloadCount"] == 0


# -- §2.12 password -------------------------------------------------------------------


def check_password(client: httpx.Client, upload_id: str, body: object) -> httpx.Response:
    return client.post(f"/api/password/{upload_id}", json=body)


def test_password_check_order(client: httpx.Client) -> None:
    stored = with_password(client, max_downloads=1)
    path = f"/api/password/{stored.id}"
    too_large = {"error": "Request body too large"}
    # 2: size first, even for an unknown id.
    expect(client.post(f"/api/password/{MISSING_ID}", content=b"x" * 16385), 413, too_large)
    expect(client.post(path, content=iter([b" " * 16_000, b" " * 385])), 413, too_large)
    # 4: not JSON.
    expect(client.post(path, content=b"authToken="), 400, {"error": "Invalid JSON body"})
    # 5: authToken missing, empty or not a string.
    for body in [{}, {"authToken": ""}, {"authToken": 5}, {"authToken": None}, [stored.creds.auth]]:
        expect(check_password(client, stored.id, body), 400, {"error": "Missing authToken in body"})
    # 6: no row.
    expect(check_password(client, MISSING_ID, {"authToken": token()}), 404, NOT_FOUND)
    # 7: no password.
    plain = upload(client)
    expect(
        check_password(client, plain.id, {"authToken": plain.creds.auth}),
        400,
        {"error": "Upload is not password protected"},
    )
    # 10: wrong or malformed token.
    for bad in [token(), "AAAAA", "not base64!", stored.creds.owner]:
        expect(
            check_password(client, stored.id, {"authToken": bad}),
            401,
            {"error": "Invalid password"},
        )
    # 11: match; nothing is counted.
    for _ in range(2):
        expect(
            check_password(client, stored.id, {"authToken": stored.creds.auth}), 200, {"ok": True}
        )
    assert info(client, stored.id)["downloadCount"] == 0
    # 16 KiB exactly is allowed.
    exact = b'{"authToken":"' + stored.creds.auth.encode() + b'"}'
    exact += b" " * (16384 - len(exact))
    expect(client.post(path, content=exact), 200, {"ok": True})
    # 9: exhausted, before the token check.
    assert download(client, stored).status_code == 200
    expect(check_password(client, stored.id, {"authToken": token()}), 410, LIMIT)
    expect(check_password(client, stored.id, {"authToken": stored.creds.auth}), 410, LIMIT)


# -- §2.13 delete ---------------------------------------------------------------------


def test_delete_check_order_and_afterwards_404_everywhere(client: httpx.Client, live: Live) -> None:
    stored = with_password(client)
    path = f"/api/upload/{stored.id}"
    expect(client.delete(f"/api/upload/{MISSING_ID}"), 401, OWNER_401)
    expect(client.delete(path), 401, OWNER_401)
    expect(client.delete(f"/api/upload/{MISSING_ID}", headers=stored.owner), 404, NOT_FOUND)
    for bad in [token(), "AAAAA", stored.creds.auth, "a b"]:
        expect(client.delete(path, headers={"X-Owner-Token": bad}), 401, OWNER_401)
    assert info(client, stored.id)["id"] == stored.id
    expect(client.delete(path, headers=stored.owner), 200, {"ok": True})
    assert not (uploads_dir(live.data_dir) / f"{stored.id}.bin").exists()
    expect(client.get(f"/api/info/{stored.id}"), 404, NOT_FOUND)
    expect(client.get(f"/api/exists/{stored.id}"), 404, {"exists": False})
    expect(download(client, stored), 404, NOT_FOUND)
    expect(post_meta(client, stored, valid_meta()), 404, NOT_FOUND)
    expect(check_password(client, stored.id, {"authToken": stored.creds.auth}), 404, NOT_FOUND)
    expect(client.delete(path, headers=stored.owner), 404, NOT_FOUND)


def test_delete_of_an_exhausted_upload_and_of_a_missing_blob(
    client: httpx.Client, live: Live
) -> None:
    stored = upload(client, max_downloads=1)
    assert download(client, stored).status_code == 200
    expect(client.delete(f"/api/upload/{stored.id}", headers=stored.owner), 200, {"ok": True})
    lost = upload(client)
    (uploads_dir(live.data_dir) / f"{lost.id}.bin").unlink()
    expect(client.delete(f"/api/upload/{lost.id}", headers=lost.owner), 200, {"ok": True})
    expect(client.get(f"/api/info/{lost.id}"), 404, NOT_FOUND)


# -- expiry (storage §5, §6) ----------------------------------------------------------


async def _cleanup_at(data_dir: Path, now_ms: int) -> CleanupReport:
    """Run the core cleanup job against a server's storage with a clock of our choosing."""
    async with await SqliteDatabase.open(data_dir / "db" / "skysend.db") as database:
        cleanup = Cleanup(
            SqliteUploadRepository(database),
            SqliteUploadSessionStore(database),
            FilesystemBlobStore(uploads_dir(data_dir)),
            ManualClock(now_ms),
        )
        return await cleanup.run()


def test_expired_uploads_answer_410_until_cleanup_removes_them(start: Callable[..., Live]) -> None:
    server = start(FILE_EXPIRE_OPTIONS_SEC="1,3600", FILE_DEFAULT_EXPIRE_SEC="3600")
    with connect(server) as client:
        plain = upload(client, expire_sec=1, max_downloads=2)
        protected = with_password(client, expire_sec=1)
        exhausted = upload(client, expire_sec=1, max_downloads=1)
        keeper = upload(client, expire_sec=3600)
        assert download(client, exhausted).status_code == 200
        # Creation may straddle a second boundary: wait for the latest expiry.
        ids = (plain.id, protected.id, exhausted.id)
        sql = "SELECT MAX(expires_at) FROM uploads WHERE id IN (?, ?, ?)"
        expires = query(server.data_dir, sql, ids)[0][0]
        assert isinstance(expires, int)
        assert expires - time.time() <= 2.0
        time.sleep(max(0.0, expires - time.time()) + 0.05)

        expect(client.get(f"/api/info/{plain.id}"), 410, EXPIRED)
        expect(client.get(f"/api/exists/{plain.id}"), 410, {"exists": False, "reason": "expired"})
        # Expired is reported before exhausted.
        expect(client.get(f"/api/info/{exhausted.id}"), 410, EXPIRED)
        expect(
            client.get(f"/api/exists/{exhausted.id}"), 410, {"exists": False, "reason": "expired"}
        )
        # Download: the token is checked before expiry.
        expect(
            client.get(f"/api/download/{plain.id}", headers={"X-Auth-Token": token()}),
            401,
            AUTH_401,
        )
        expect(download(client, plain), 410, EXPIRED)
        # Password: the no-password 400 comes before expiry, expiry before the token.
        expect(
            check_password(client, plain.id, {"authToken": plain.creds.auth}),
            400,
            {"error": "Upload is not password protected"},
        )
        upload_expired = {"error": "Upload expired"}
        expect(check_password(client, protected.id, {"authToken": token()}), 410, upload_expired)
        expect(
            check_password(client, protected.id, {"authToken": protected.creds.auth}),
            410,
            upload_expired,
        )
        # Metadata may still be written and the owner may still delete.
        expect(post_meta(client, plain, valid_meta()), 200, {"ok": True})
        expect(
            client.delete(f"/api/upload/{protected.id}", headers=protected.owner), 200, {"ok": True}
        )
        sql = "SELECT download_count FROM uploads WHERE id = ?"
        assert query(server.data_dir, sql, (plain.id,)) == [(0,)]

        report = asyncio.run(_cleanup_at(server.data_dir, int(time.time() * 1000)))
        assert report.uploads == 2
        for gone in (plain, exhausted):
            expect(client.get(f"/api/info/{gone.id}"), 404, NOT_FOUND)
            expect(client.get(f"/api/exists/{gone.id}"), 404, {"exists": False})
            expect(download(client, gone), 404, NOT_FOUND)
            assert not (uploads_dir(server.data_dir) / f"{gone.id}.bin").exists()
        assert download(client, keeper).content == keeper.data


def test_cleanup_removes_idle_sessions_and_their_parts(client: httpx.Client, live: Live) -> None:
    upload_id, creds = init_chunked(client, 10)
    assert send_chunk(client, upload_id, 0, b"12345").status_code == 200
    area = uploads_dir(live.data_dir) / ".partial" / upload_id
    assert area.is_dir()
    later = int(time.time() * 1000) + 60 * 60 * 1000 + 1000
    report = asyncio.run(_cleanup_at(live.data_dir, later))
    assert report.sessions >= 1
    assert not area.exists()
    assert query(
        live.data_dir, "SELECT COUNT(*) FROM upload_chunks WHERE session_id = ?", (upload_id,)
    ) == [(0,)]
    expect(send_chunk(client, upload_id, 1, b"12345"), 404, SESSION_GONE)
    expect(finalize(client, upload_id, creds), 404, SESSION_GONE)
