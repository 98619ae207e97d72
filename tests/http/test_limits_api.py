"""Per-client protections over real HTTP (http-api.md §1.3, §1.8-1.11, §2.2): the rate
limiter, client identity behind proxies, the upload quota and the password lockout, on a
real hypercorn with a real SQLite file, and shared by the workers of ``skysend serve``.

The health probe that waits for a server to start is itself counted for 127.0.0.1, so
tests that need an untouched window trust a proxy and speak as another address.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from tests.support.files_api import (
    b64url,
    download,
    finalize,
    init_chunked,
    query,
    send_chunk,
    token,
    upload,
    upload_headers,
)
from tests.support.servers import ServerProcess, running_app
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

TOO_MANY = {"error": "Too many requests"}
LOCKED = {"error": "Too many failed attempts. Try again later."}
QUOTA_TOO_SMALL = {"error": "File size exceeds remaining quota."}
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
PROXY = {"TRUST_PROXY": "true"}


def as_client(ip: str) -> dict[str, str]:
    """Headers a trusted proxy adds for a client at ``ip``."""
    return {"X-Forwarded-For": ip}


def expect(response: httpx.Response, status: int, body: dict[str, Any]) -> None:
    assert (response.status_code, response.json()) == (status, body), response.text


def remaining(response: httpx.Response) -> int:
    return int(response.headers["X-RateLimit-Remaining"])


@pytest.fixture
def connect(serve_app: Callable[..., str]) -> Iterator[Callable[..., httpx.Client]]:
    """Start a server with environment overrides; an HTTP client for it."""
    clients: list[httpx.Client] = []

    def start(**env: str) -> httpx.Client:
        client = httpx.Client(base_url=serve_app(**env), timeout=30)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()


# -- rate limit (§1.9) ---------------------------------------------------------------------


def test_the_61st_request_in_a_window_is_refused(connect: Callable[..., httpx.Client]) -> None:
    client = connect(RATE_LIMIT_MAX="60", **PROXY)  # the default, which the fixture raises
    me = as_client("203.0.113.61")
    before = int(time.time() * 1000)
    answers = [client.get("/api/health", headers=me) for _ in range(61)]
    after = int(time.time() * 1000)
    assert [r.status_code for r in answers[:60]] == [200] * 60
    assert [remaining(r) for r in answers] == [*range(59, -1, -1), 0]
    resets = {r.headers["X-RateLimit-Reset"] for r in answers}
    assert len(resets) == 1  # one fixed window, in epoch milliseconds
    assert before + 60_000 <= int(resets.pop()) <= after + 60_000
    refused = answers[60]
    expect(refused, 429, TOO_MANY)
    assert refused.headers["X-RateLimit-Limit"] == "60"
    assert "retry-after" not in refused.headers
    assert refused.headers["Cache-Control"] == "no-store"
    assert "X-RateLimit-Remaining" in refused.headers["Access-Control-Expose-Headers"]
    # Refused requests count too; another client is unaffected.
    expect(client.get("/api/config", headers=me), 429, TOO_MANY)
    assert client.get("/api/health", headers=as_client("203.0.113.62")).status_code == 200


def test_every_counted_answer_carries_the_headers(connect: Callable[..., httpx.Client]) -> None:
    client = connect(RATE_LIMIT_MAX="100", **PROXY)
    me = as_client("198.51.100.1")
    answers = [
        client.get("/api/config", headers=me),
        client.get("/api/nope", headers=me),  # 404
        client.post("/api/password/x", content=b"{", headers=me),  # 400
        client.post("/api/upload", headers=me),  # 400
        client.head(f"/api/download/{'0' * 36}", headers=me),  # 405
        client.get("/api/quota", headers=me),
        client.get("/auth/login", headers=me),  # /auth shares the counters
    ]
    assert [r.status_code for r in answers[:6]] == [200, 404, 400, 400, 405, 200]
    assert [remaining(r) for r in answers] == list(range(99, 92, -1))
    for response in answers:
        assert response.headers["X-RateLimit-Limit"] == "100"
    page = client.get("/", headers=me)
    assert not any(name in page.headers for name in RATE_HEADERS)


def test_chunk_uploads_are_not_counted(connect: Callable[..., httpx.Client]) -> None:
    client = connect(RATE_LIMIT_MAX="4", **PROXY)
    client.headers.update(as_client("198.51.100.2"))
    upload_id, creds = init_chunked(client, 10 * 100)
    for index in range(10):
        chunk = send_chunk(client, upload_id, index, os.urandom(100))
        assert chunk.status_code == 200, chunk.text
        assert not any(name in chunk.headers for name in RATE_HEADERS)
    done = finalize(client, upload_id, creds)
    assert (done.status_code, remaining(done)) == (200, 2)


def test_preflights_are_not_counted(connect: Callable[..., httpx.Client]) -> None:
    client = connect(RATE_LIMIT_MAX="3", **PROXY)
    me = as_client("198.51.100.3")
    for path in ("/api/health", "/api/upload", "/api/note", "/auth/login"):
        for _ in range(5):
            preflight = client.options(path, headers=me)
            assert preflight.status_code == 204
            assert "x-ratelimit-remaining" not in preflight.headers
    assert remaining(client.get("/api/health", headers=me)) == 2


def test_a_disabled_service_is_rate_limited_first(connect: Callable[..., httpx.Client]) -> None:
    client = connect(RATE_LIMIT_MAX="2", ENABLED_SERVICES="note", **PROXY)
    me = as_client("198.51.100.4")
    for expected in (1, 0):
        off = client.get(f"/api/info/{'0' * 36}", headers=me)
        expect(off, 403, {"error": "File service is disabled"})
        assert remaining(off) == expected
    expect(client.get(f"/api/info/{'0' * 36}", headers=me), 429, TOO_MANY)
    expect(client.get("/api/quota", headers=me), 429, TOO_MANY)


def test_the_socket_address_is_the_client_without_a_proxy(
    connect: Callable[..., httpx.Client],
) -> None:
    client = connect(RATE_LIMIT_MAX="10")
    left = remaining(client.get("/api/health"))  # the start-up probe counted already
    for ip in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):  # forwarding headers are ignored
        headers = {"X-Forwarded-For": ip, "X-Real-IP": ip}
        left -= 1
        assert remaining(client.get("/api/health", headers=headers)) == left


def test_a_trusted_proxy_names_the_client(connect: Callable[..., httpx.Client]) -> None:
    client = connect(RATE_LIMIT_MAX="10", **PROXY)

    def left(forwarded: str | None = None, real: str | None = None) -> int:
        headers = {"X-Forwarded-For": forwarded, "X-Real-IP": real}
        sent = {name: value for name, value in headers.items() if value is not None}
        return remaining(client.get("/api/health", headers=sent))

    # The rightmost X-Forwarded-For entry (appended by the proxy) names the client.
    assert left("9.9.9.9, 192.0.2.1") == 9
    assert left("8.8.8.8 ,  192.0.2.1") == 8
    assert left("192.0.2.1, 192.0.2.2") == 9
    # Without X-Forwarded-For, X-Real-IP does.
    assert left(real="192.0.2.1") == 7
    assert left(real="192.0.2.3") == 9
    assert left("192.0.2.3", real="192.0.2.1") == 8


def test_no_address_is_stored_in_clear(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"FILE_UPLOAD_QUOTA_BYTES": "10000", "PASSWORD_MAX_ATTEMPTS": "5", **PROXY}
    with running_app(data_dir, env) as url, httpx.Client(base_url=url) as client:
        client.headers.update(as_client("192.0.2.77"))
        stored = upload(client, password_salt=b64url(os.urandom(16)))
        client.post(f"/api/password/{stored.id}", json={"authToken": token()})
        keys = [
            row[0]
            for table, column in (("password_lockouts", "key"), ("quota_usage", "hashed_ip"))
            for row in query(data_dir, f"SELECT {column} FROM {table}")  # noqa: S608
        ]
    assert len(keys) == 2
    assert f"file:{stored.id}:" in str(keys[0])
    rate_table = (data_dir / "db" / "rate-limits").read_bytes()
    for address in ("192.0.2.77", "127.0.0.1"):
        assert all(address not in str(key) for key in keys)
        assert address.encode() not in rate_table
        assert address.encode("utf-16-le") not in rate_table


# -- upload quota (§1.10, §2.2) ------------------------------------------------------------


QUOTA = {"FILE_UPLOAD_QUOTA_BYTES": "1000", "FILE_UPLOAD_QUOTA_WINDOW": "3600", **PROXY}


def quota(client: httpx.Client, **headers: str) -> dict[str, Any]:
    response = client.get("/api/quota", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_quota_endpoint_when_quotas_are_off(connect: Callable[..., httpx.Client]) -> None:
    assert quota(connect()) == {
        "enabled": False,
        "limit": 0,
        "used": 0,
        "remaining": 0,
        "resetsAt": None,
        "window": 0,
    }


def test_quota_endpoint_reports_and_starts_the_window(
    connect: Callable[..., httpx.Client],
) -> None:
    client = connect(**QUOTA)
    before = time.time()
    first = quota(client)
    assert {k: v for k, v in first.items() if k != "resetsAt"} == {
        "enabled": True,
        "limit": 1000,
        "used": 0,
        "remaining": 1000,
        "window": 3600,
    }
    resets = datetime.strptime(first["resetsAt"], "%Y-%m-%dT%H:%M:%S.%fZ")
    resets = resets.replace(tzinfo=UTC).timestamp()
    assert before + 3600 - 2 <= resets <= time.time() + 3600 + 1
    upload(client, size=300)
    assert quota(client) | {"resetsAt": None} == first | {
        "used": 300,
        "remaining": 700,
        "resetsAt": None,
    }
    assert quota(client)["resetsAt"] == first["resetsAt"]


def test_quota_endpoint_belongs_to_the_file_service(connect: Callable[..., httpx.Client]) -> None:
    client = connect(ENABLED_SERVICES="note", **QUOTA)
    expect(client.get("/api/quota"), 403, {"error": "File service is disabled"})


def test_quota_refuses_what_does_not_fit_then_everything(
    connect: Callable[..., httpx.Client],
) -> None:
    client = connect(**QUOTA)
    client.headers.update(as_client("192.0.2.10"))
    upload(client, size=600)
    too_big = client.post("/api/upload/init", headers=upload_headers(401))
    expect(too_big, 413, QUOTA_TOO_SMALL)
    data = os.urandom(400)
    upload_id, creds = init_chunked(client, len(data))
    assert send_chunk(client, upload_id, 0, data).status_code == 200
    assert finalize(client, upload_id, creds).status_code == 200
    assert quota(client)["used"] == 1000
    exhausted = client.post("/api/upload", content=b"x", headers=upload_headers(1))
    assert exhausted.status_code == 429, exhausted.text
    body = exhausted.json()
    assert set(body) == {"error", "retryAfter"}
    assert body["error"] == "Upload quota exceeded"
    assert 3590 <= body["retryAfter"] <= 3600
    assert "retry-after" not in exhausted.headers
    again = client.post("/api/upload/init", headers=upload_headers(1))
    assert (again.status_code, again.json()["error"]) == (429, "Upload quota exceeded")
    # Another client has its own quota.
    assert quota(client, **as_client("192.0.2.11"))["remaining"] == 1000


def test_quota_is_checked_before_the_upload_headers(connect: Callable[..., httpx.Client]) -> None:
    client = connect(**QUOTA)
    too_big = client.post("/api/upload/init", headers={"X-Content-Length": "1001abc"})
    expect(too_big, 413, QUOTA_TOO_SMALL)
    unknown = client.post("/api/upload/init", headers={"X-Content-Length": "abc"})
    assert unknown.json()["error"] == "Invalid request headers"  # size 0: not refused
    upload(client, size=1000)
    for path in ("/api/upload", "/api/upload/init"):
        assert client.post(path).json()["error"] == "Upload quota exceeded"


def test_quota_counts_completed_uploads_only(connect: Callable[..., httpx.Client]) -> None:
    client = connect(**QUOTA)
    pending, creds = init_chunked(client, 600)
    assert send_chunk(client, pending, 0, os.urandom(600)).status_code == 200
    assert quota(client)["used"] == 0  # init and chunks record nothing
    short = client.post("/api/upload", content=os.urandom(10), headers=upload_headers(20))
    assert short.status_code == 400
    assert quota(client)["used"] == 0  # a failed upload records nothing
    upload(client, size=1000)  # fits: the pending session is not counted yet
    # The quota is checked at creation only: the earlier session still completes.
    assert finalize(client, pending, creds).status_code == 200
    assert quota(client)["used"] == 1600


def test_quota_usage_is_kept_across_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_app(data_dir, QUOTA) as url, httpx.Client(base_url=url) as client:
        upload(client, size=1000)
    with running_app(data_dir, QUOTA) as url, httpx.Client(base_url=url) as client:
        assert quota(client)["used"] == 1000


async def ws_upload(base: str, size: int, ip: str) -> dict[str, Any]:
    """A WebSocket upload as a client behind the trusted proxy; the last message."""
    url = base.replace("http://", "ws://", 1) + "/api/upload/ws"
    init: dict[str, Any] = {"type": "init"}
    init["headers"] = {
        "authToken": token(),
        "ownerToken": token(),
        "salt": b64url(os.urandom(32)),
        "maxDownloads": 1,
        "expireSec": 3600,
        "contentLength": size,
    }
    async with ws_connect(url, additional_headers=as_client(ip), proxy=None) as ws:
        await ws.send(json.dumps(init))
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if message["type"] == "storage":
                await ws.send(os.urandom(size))
                await ws.send('{"type": "finalize"}')
            elif message["type"] in ("done", "error"):
                if message["type"] == "error":
                    with pytest.raises(ConnectionClosed) as closed:
                        await ws.recv()
                    assert closed.value.rcvd is not None
                    assert closed.value.rcvd.code == 1008
                return message


async def test_websocket_uploads_are_checked_at_init_and_recorded(
    serve_app: Callable[..., str],
) -> None:
    base = serve_app(RATE_LIMIT_MAX="50", **QUOTA)
    ip = "192.0.2.40"
    async with httpx.AsyncClient(base_url=base, headers=as_client(ip)) as client:
        before = remaining(await client.get("/api/health"))
        assert (await ws_upload(base, 600, ip))["type"] == "done"
        assert (await client.get("/api/quota")).json()["used"] == 600
        refused = await ws_upload(base, 401, ip)
        assert refused == {"type": "error", "message": "File size exceeds remaining quota."}
        assert (await ws_upload(base, 400, ip))["type"] == "done"
        refused = await ws_upload(base, 1, ip)
        assert refused == {"type": "error", "message": "Upload quota exceeded"}
        status = (await client.get("/api/quota")).json()
        assert (status["used"], status["remaining"]) == (1000, 0)
        # The upgrade requests were not rate-limited: only the three HTTP requests counted.
        assert remaining(await client.get("/api/health")) == before - 3
    assert (await ws_upload(base, 1000, "192.0.2.41"))["type"] == "done"


# -- password lockout (§1.11) --------------------------------------------------------------


LOCKOUT = {"PASSWORD_MAX_ATTEMPTS": "3", "PASSWORD_LOCKOUT_MS": "60000", **PROXY}


def check(client: httpx.Client, upload_id: str, auth: str, **headers: str) -> httpx.Response:
    return client.post(f"/api/password/{upload_id}", json={"authToken": auth}, headers=headers)


WRONG = {"error": "Invalid password"}


def test_the_attempt_after_the_last_allowed_failure_is_locked(
    connect: Callable[..., httpx.Client],
) -> None:
    client = connect(**LOCKOUT)
    stored = upload(client, password_salt=b64url(os.urandom(16)))
    for _ in range(3):  # the third failure still answers 401
        expect(check(client, stored.id, token()), 401, WRONG)
    locked = check(client, stored.id, stored.creds.auth)  # even the right token
    expect(locked, 429, LOCKED)
    assert locked.headers["Retry-After"] in ("59", "60")
    assert "x-ratelimit-remaining" in locked.headers
    # Another upload, and another client on this one, are not locked.
    other = upload(client, password_salt=b64url(os.urandom(16)))
    expect(check(client, other.id, other.creds.auth), 200, {"ok": True})
    elsewhere = as_client("192.0.2.20")
    expect(check(client, stored.id, stored.creds.auth, **elsewhere), 200, {"ok": True})


def test_the_lock_comes_after_the_body_size_check(connect: Callable[..., httpx.Client]) -> None:
    client = connect(**LOCKOUT)
    stored = upload(client, password_salt=b64url(os.urandom(16)))
    for _ in range(3):
        check(client, stored.id, token())
    large = client.post(f"/api/password/{stored.id}", content=b"x" * (16 * 1024 + 1))
    expect(large, 413, {"error": "Request body too large"})
    not_json = client.post(f"/api/password/{stored.id}", content=b"{")
    expect(not_json, 429, LOCKED)


def test_a_success_resets_the_count(connect: Callable[..., httpx.Client]) -> None:
    client = connect(**LOCKOUT)
    stored = upload(client, password_salt=b64url(os.urandom(16)))
    for _ in range(3):
        expect(check(client, stored.id, token()), 401, WRONG)
        expect(check(client, stored.id, token()), 401, WRONG)
        expect(check(client, stored.id, stored.creds.auth), 200, {"ok": True})


def test_400_404_410_and_413_do_not_count(connect: Callable[..., httpx.Client]) -> None:
    client = connect(PASSWORD_MAX_ATTEMPTS="2", **PROXY)
    salt = b64url(os.urandom(16))

    def one_failure(upload_id: str) -> None:
        expect(check(client, upload_id, token()), 401, WRONG)

    # 400 and 413 on a live upload; then the right token still passes.
    stored = upload(client, password_salt=salt)
    one_failure(stored.id)
    for body in (b"{", b"{}", b"x" * 20_000):
        assert client.post(f"/api/password/{stored.id}", content=body).status_code in (400, 413)
    expect(check(client, stored.id, stored.creds.auth), 200, {"ok": True})
    # 410 once the download limit is reached, then 404 once deleted: never a 429.
    spent = upload(client, password_salt=salt, max_downloads=1)
    one_failure(spent.id)
    assert download(client, spent).status_code == 200
    for _ in range(3):
        expect(check(client, spent.id, token()), 410, {"error": "Download limit reached"})
    deleted = upload(client, password_salt=salt)
    one_failure(deleted.id)
    assert client.delete(f"/api/upload/{deleted.id}", headers=deleted.owner).status_code == 200
    for _ in range(3):
        expect(check(client, deleted.id, token()), 404, {"error": "Upload not found"})


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def create_note(client: httpx.Client, auth: str, *, max_views: int = 0) -> str:
    response = client.post(
        "/api/note",
        json={
            "encryptedContent": b64(os.urandom(64)),
            "nonce": b64(os.urandom(12)),
            "salt": b64url(os.urandom(32)),
            "ownerToken": token(),
            "authToken": auth,
            "contentType": "text",
            "maxViews": max_views,
            "expireSec": 3600,
            "hasPassword": True,
            "passwordSalt": b64url(os.urandom(16)),
            "passwordAlgo": "argon2id-v2",
        },
    )
    assert response.status_code == 201, response.text
    note_id: str = response.json()["id"]
    return note_id


def test_note_view_and_password_share_one_counter(connect: Callable[..., httpx.Client]) -> None:
    client = connect(**LOCKOUT)
    auth = token()
    note_id = create_note(client, auth, max_views=1)
    view, password = f"/api/note/{note_id}/view", f"/api/note/{note_id}/password"
    expect(client.post(view, json={"authToken": token()}), 401, {"error": "Invalid auth token"})
    expect(client.post(password, json={"authToken": token()}), 401, WRONG)
    expect(client.post(view, json={"authToken": token()}), 401, {"error": "Invalid auth token"})
    for path in (password, view):
        locked = client.post(path, json={"authToken": auth})
        expect(locked, 429, LOCKED)
        assert int(locked.headers["Retry-After"]) in (59, 60)
    # A refused view consumed nothing: the burn-after-reading note is still unread.
    assert client.get(f"/api/note/{note_id}").json()["viewCount"] == 0
    other = create_note(client, auth)
    expect(client.post(f"/api/note/{other}/password", json={"authToken": auth}), 200, {"ok": True})


def test_a_note_view_410_does_not_count(
    connect: Callable[..., httpx.Client],
) -> None:
    client = connect(PASSWORD_MAX_ATTEMPTS="2", **PROXY)
    auth = token()
    note_id = create_note(client, auth, max_views=1)
    view = f"/api/note/{note_id}/view"
    expect(client.post(view, json={"authToken": token()}), 401, {"error": "Invalid auth token"})
    assert client.post(view, json={"authToken": auth}).status_code == 200
    for _ in range(3):
        expect(client.post(view, json={"authToken": token()}), 410, {"error": "View limit reached"})


# -- several workers and restarts (``skysend serve``) --------------------------------------


def serve_process(data_dir: Path, workers: int, **env: str) -> ServerProcess:
    return ServerProcess(data_dir, {**PROXY, **env}, workers=workers)


def worker_by_client_port(server: ServerProcess) -> dict[int, int]:
    """For each established connection to the server: client port -> worker process id."""
    workers: dict[int, int] = {}
    for pid in server.pids():
        for conn in psutil.Process(pid).net_connections(kind="tcp"):
            if conn.status == psutil.CONN_ESTABLISHED and conn.laddr.port == server.port:
                workers[conn.raddr.port] = pid
    return workers


def one_client_per_worker(server: ServerProcess, clients: list[httpx.Client]) -> list[httpx.Client]:
    """Open keep-alive connections one by one until two are served by different workers
    (which worker accepts a connection is up to the kernel)."""
    by_worker: dict[int, httpx.Client] = {}
    for _ in range(60):
        known = set(worker_by_client_port(server))
        client = httpx.Client(base_url=server.url, timeout=30, headers=as_client("192.0.2.31"))
        clients.append(client)
        client.get("/api/config", headers=as_client("192.0.2.99"))
        new = {
            port: pid for port, pid in worker_by_client_port(server).items() if port not in known
        }
        assert len(new) == 1, new
        by_worker.setdefault(next(iter(new.values())), client)
        if len(by_worker) == 2:
            return list(by_worker.values())
    raise AssertionError("every connection went to the same worker")


def test_two_workers_share_rate_limits_and_lockouts(tmp_path: Path) -> None:
    env = {"RATE_LIMIT_MAX": "40", "PASSWORD_MAX_ATTEMPTS": "2"}
    clients: list[httpx.Client] = []
    with serve_process(tmp_path / "data", 2, **env) as server:
        try:
            a, b = one_client_per_worker(server, clients)
            # Alternate between the workers: one counter whichever answers.
            me = as_client("192.0.2.30")
            answers = [(a, b)[i % 2].get("/api/health", headers=me) for i in range(42)]
            assert [remaining(r) for r in answers] == [*range(39, -1, -1), 0, 0]
            assert [r.status_code for r in answers[40:]] == [429, 429]
            # Failed password attempts on different workers add up as well.
            stored = upload(a, password_salt=b64url(os.urandom(16)))
            expect(check(a, stored.id, token()), 401, WRONG)
            expect(check(b, stored.id, token()), 401, WRONG)
            expect(check(a, stored.id, stored.creds.auth), 429, LOCKED)
            expect(check(b, stored.id, stored.creds.auth), 429, LOCKED)
        finally:
            for client in clients:
                client.close()


def test_a_restart_forgets_lockouts(tmp_path: Path) -> None:
    env = {"PASSWORD_MAX_ATTEMPTS": "1", "PASSWORD_LOCKOUT_MS": "600000"}
    data_dir = tmp_path / "data"
    with serve_process(data_dir, 1, **env) as server, httpx.Client(base_url=server.url) as client:
        stored = upload(client, password_salt=b64url(os.urandom(16)))
        expect(check(client, stored.id, token()), 401, WRONG)
        expect(check(client, stored.id, stored.creds.auth), 429, LOCKED)
        key_before = query(data_dir, "SELECT value FROM server_state")
    with serve_process(data_dir, 1, **env) as server, httpx.Client(base_url=server.url) as client:
        expect(check(client, stored.id, stored.creds.auth), 200, {"ok": True})
        assert query(data_dir, "SELECT value FROM server_state") not in ([], key_before)
    assert len(key_before) == 1


def test_the_limits_are_documented() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    page = (docs / "api" / "limits.md").read_text()
    assert "### GET /api/quota" in page
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert f"`{header}`" in page
    assert "(limits.md)" in (docs / "api" / "README.md").read_text()
    assert "not enforced yet" not in (docs / "configuration.md").read_text()
