"""The server with ``STORAGE_BACKEND=s3`` against a real S3-compatible server on loopback
(storage-and-lifecycle.md §3.2, http-api.md §2.11, config.md §10).

Uploads of every transport land in the bucket as ``<id>.bin``; downloads answer a presigned
GET that returns the exact bytes, counted like a streamed download; deletion, cleanup and
the orphan sweep remove objects; a bucket that cannot be used stops start-up.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from aiobotocore.session import get_session
from tests.support.files_api import (
    MIB,
    Credentials,
    Stored,
    chunked_upload,
    finalize,
    init_chunked,
    pieces,
    pieces_digest,
    query,
    send_chunk,
    upload,
    upload_headers,
    write_db,
)
from tests.support.s3 import Bucket, S3Server
from tests.support.servers import RssSampler, ServerProcess, base_env, free_port
from websockets.asyncio.client import connect

from skysend_adapters.clock import ManualClock
from skysend_adapters.s3 import client_options
from skysend_core.config import Settings
from skysend_core.lifecycle import Cleanup
from skysend_core.uploads_model import SESSION_TTL_MS
from skysend_http.bootstrap import build
from skysend_http.headers import content_security_policy

#: Small parts, so that a few MiB already make a multipart upload.
S3_OPTIONS = {"S3_PART_SIZE": "5MB", "S3_CONCURRENCY": "2", "S3_PRESIGNED_EXPIRY": "120"}


@pytest.fixture
def bucket(s3_server: S3Server) -> Bucket:
    return s3_server.new_bucket()


@pytest.fixture
def url(serve_app: Callable[..., str], s3_server: S3Server, bucket: Bucket) -> str:
    return serve_app(**s3_server.env(bucket.name, **S3_OPTIONS))


@pytest.fixture
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=60) as http:
        yield http


def fetch(client: httpx.Client, stored: Stored) -> httpx.Response:
    return client.get(f"/api/download/{stored.id}", headers=stored.auth)


def fetch_presigned(answer: httpx.Response) -> bytes:
    """Follow the download answer as a browser would: the URL alone, no SkySend headers."""
    response = httpx.get(answer.json()["url"], timeout=60)
    assert response.status_code == 200, response.text
    return response.content


def local_blobs(tmp_path: Path) -> list[str]:
    """Files the S3 backend left in any uploads folder of the test's servers (none
    should remain: parts are staged there only until finalize)."""
    return sorted(
        str(p.relative_to(tmp_path))
        for p in tmp_path.glob("*/uploads/**/*")
        if p.name != ".partial"
    )


# -- uploads and downloads ---------------------------------------------------------------


def test_single_upload_is_one_object_and_downloads_by_presigned_url(
    client: httpx.Client, bucket: Bucket, s3_server: S3Server, tmp_path: Path
) -> None:
    stored = upload(client, size=12 * MIB + 5, file_count=3)  # three parts
    assert bucket.objects() == [f"{stored.id}.bin"]
    assert bucket.uploads() == []
    assert bucket.read(f"{stored.id}.bin") == stored.data
    assert local_blobs(tmp_path) == []

    answer = fetch(client, stored)
    assert answer.status_code == 200
    assert "application/json" in answer.headers["content-type"]
    assert answer.headers["cache-control"] == "no-store"
    assert f"connect-src 'self' {s3_server.endpoint}/;" in answer.headers["content-security-policy"]
    body = answer.json()
    assert set(body) == {"url", "size", "fileCount"}
    assert (body["size"], body["fileCount"]) == (len(stored.data), 3)
    assert body["url"].startswith(f"{s3_server.endpoint}/{bucket.name}/{stored.id}.bin?")
    assert "X-Amz-Expires=120" in body["url"]
    assert fetch_presigned(answer) == stored.data


def test_small_upload_round_trip(client: httpx.Client, bucket: Bucket) -> None:
    stored = upload(client, size=1000)
    assert bucket.objects() == [f"{stored.id}.bin"]
    assert fetch_presigned(fetch(client, stored)) == stored.data


def test_downloads_are_counted_then_410(client: httpx.Client, url: str, tmp_path: Path) -> None:
    stored = upload(client, size=2000, max_downloads=2)
    for _ in range(2):
        answer = fetch(client, stored)
        assert answer.status_code == 200
        assert fetch_presigned(answer) == stored.data
    third = fetch(client, stored)
    assert (third.status_code, third.json()) == (410, {"error": "Download limit reached"})
    assert client.get(f"/api/info/{stored.id}").status_code == 410


def test_concurrent_downloads_never_exceed_the_limit(client: httpx.Client, url: str) -> None:
    stored = upload(client, size=2000, max_downloads=3)

    def attempt(_: int) -> int:
        with httpx.Client(base_url=url, timeout=60) as own:
            return fetch(own, stored).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))
    assert statuses == [200] * 3 + [410] * 5


def test_a_missing_object_is_500_and_not_counted(
    client: httpx.Client, bucket: Bucket, serve_app: Callable[..., str]
) -> None:
    stored = upload(client, size=2000, max_downloads=1)
    bucket.client.delete_object(Bucket=bucket.name, Key=f"{stored.id}.bin")
    answer = fetch(client, stored)
    assert (answer.status_code, answer.json()) == (500, {"error": "File not found on disk"})
    bucket.put(f"{stored.id}.bin", stored.data)
    assert fetch_presigned(fetch(client, stored)) == stored.data  # the one download is left


def test_chunked_upload_with_parallel_chunks(
    client: httpx.Client, url: str, bucket: Bucket, tmp_path: Path
) -> None:
    data = os.urandom(13 * MIB + 7)
    chunk = 3 * MIB  # chunk and part boundaries differ
    upload_id, creds = init_chunked(client, len(data))
    starts = list(range(0, len(data), chunk))

    def send(index: int) -> int:
        with httpx.Client(base_url=url, timeout=60) as own:
            start = starts[index]
            return send_chunk(own, upload_id, index, data[start : start + chunk]).status_code

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(send, reversed(range(len(starts))))) == [200] * len(starts)
    assert bucket.objects() == []  # nothing reaches the bucket before finalize
    response = finalize(client, upload_id, creds)
    assert response.status_code == 200, response.text
    assert bucket.objects() == [f"{upload_id}.bin"]
    assert bucket.uploads() == []
    assert local_blobs(tmp_path) == []
    assert fetch_presigned(fetch(client, Stored(upload_id, creds, data))) == data


def test_websocket_upload_reports_s3_and_lands_in_the_bucket(
    url: str, bucket: Bucket, tmp_path: Path
) -> None:
    data = os.urandom(6 * MIB + 3)
    creds = Credentials()
    init = {
        "type": "init",
        "headers": {
            "authToken": creds.auth,
            "ownerToken": creds.owner,
            "salt": creds.salt,
            "maxDownloads": 1,
            "expireSec": 3600,
            "fileCount": 1,
            "contentLength": len(data),
            "hasPassword": False,
        },
    }

    async def send() -> tuple[str, list[dict[str, object]]]:
        ws_url = url.replace("http://", "ws://", 1) + "/api/upload/ws"
        async with connect(ws_url, compression=None, proxy=None, ping_interval=None) as ws:
            await ws.send(json.dumps(init))
            ready = json.loads(await ws.recv())
            storage = json.loads(await ws.recv())
            for offset in range(0, len(data), 512 * 1024):
                await ws.send(data[offset : offset + 512 * 1024])
            await ws.send(json.dumps({"type": "finalize"}))
            rest = [json.loads(message) async for message in ws]
            return ready["id"], [storage, *rest]

    upload_id, messages = asyncio.run(send())
    assert messages[0] == {"type": "storage", "backend": "s3"}
    assert messages[-1]["type"] == "done"
    assert bucket.objects() == [f"{upload_id}.bin"]
    assert local_blobs(tmp_path) == []
    with httpx.Client(base_url=url) as client:
        assert fetch_presigned(fetch(client, Stored(upload_id, creds, data))) == data


def test_owner_delete_removes_the_object(client: httpx.Client, bucket: Bucket) -> None:
    stored = upload(client, size=3000)
    kept = upload(client, size=3000)
    response = client.delete(f"/api/upload/{stored.id}", headers=stored.owner)
    assert response.status_code == 200
    assert bucket.objects() == [f"{kept.id}.bin"]
    assert fetch(client, stored).status_code == 404


# -- start-up, cleanup and the orphan sweep -----------------------------------------------


def settings_for(s3_server: S3Server, bucket: str, data_dir: Path, **extra: str) -> Settings:
    env = base_env(data_dir, free_port(), s3_server.env(bucket, **S3_OPTIONS, **extra))
    return Settings.from_env(env)


def test_start_up_cleanup_removes_expired_and_exhausted_objects(
    client: httpx.Client, bucket: Bucket, s3_server: S3Server, tmp_path: Path
) -> None:
    expired = upload(client, size=1000)
    exhausted = upload(client, size=1000, max_downloads=1)
    kept = upload(client, size=1000)
    assert fetch(client, exhausted).status_code == 200
    (data_dir,) = tmp_path.glob("data-*")
    write_db(data_dir, "UPDATE uploads SET expires_at = 1 WHERE id = ?", (expired.id,))

    async def restart() -> None:  # a second server on the same data runs the start-up job
        services = build(settings_for(s3_server, bucket.name, data_dir))
        await services.start(periodic=False)
        await services.stop()

    asyncio.run(restart())
    assert bucket.objects() == [f"{kept.id}.bin"]
    assert query(data_dir, "SELECT id FROM uploads") == [(kept.id,)]


def test_orphan_sweep_removes_objects_uploads_and_parts_without_a_row(
    bucket: Bucket, s3_server: S3Server, tmp_path: Path
) -> None:
    settings = settings_for(s3_server, bucket.name, tmp_path / "data")
    orphan, abandoned, staged = (str(uuid.uuid4()) for _ in range(3))
    bucket.put(f"{orphan}.bin", b"no row")
    bucket.put("someone-elses.txt", b"not ours")
    started = bucket.client.create_multipart_upload(Bucket=bucket.name, Key=f"{abandoned}.bin")
    bucket.client.upload_part(
        Bucket=bucket.name,
        Key=f"{abandoned}.bin",
        UploadId=started["UploadId"],
        PartNumber=1,
        Body=b"x" * 100,
    )

    async def sweep() -> tuple[int, int, str]:
        services = build(settings)
        async with services.storage() as wiring:
            files = wiring.files
            await files.blobs.write_part(staged, _once(b"abandoned chunk"), 0)
            live = await files.init_chunked(_params(files.settings))
            await files.append_chunk(live, "0", _once(b"x" * 10))
            early = Cleanup(files.uploads, files.sessions, files.blobs, files.clock)
            not_yet = await early.sweep_orphans(files.clock.now_ms())
            later = ManualClock(files.clock.now_ms() + SESSION_TTL_MS + 60_000)
            # The live session's parts are older than the TTL too, but it is touched first.
            await files.sessions.touch(live, 10, later.now_ms())
            cleanup = Cleanup(files.uploads, files.sessions, files.blobs, later)
            removed = await cleanup.sweep_orphans(later.now_ms())
            assert await files.sessions.get(live) is not None
            return not_yet, removed, live

    not_yet, removed, live = asyncio.run(sweep())
    assert not_yet == 0  # everything is younger than the session TTL
    assert removed == 3
    assert bucket.objects() == ["someone-elses.txt"]
    assert bucket.uploads() == []
    partial = tmp_path / "data" / "uploads" / ".partial"
    assert sorted(p.name for p in partial.iterdir()) == [live]


async def _once(data: bytes):  # type: ignore[no-untyped-def]
    yield data


def _params(settings: Settings):  # type: ignore[no-untyped-def]
    from skysend_core.upload_params import parse_upload_params

    creds = Credentials()
    raw = {
        "authToken": creds.auth,
        "ownerToken": creds.owner,
        "salt": creds.salt,
        "maxDownloads": "1",
        "expireSec": "3600",
        "contentLength": "10",
    }
    return parse_upload_params(raw, settings)


def test_a_missing_bucket_stops_start_up(s3_server: S3Server, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        **base_env(tmp_path / "data", port, s3_server.env("no-such-bucket", **S3_OPTIONS)),
    }
    result = subprocess.run(
        [sys.executable, "-m", "skysend_http.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "Start-up failed: S3 bucket 'no-such-bucket' is not usable" in result.stderr
    assert "HeadBucket" in result.stderr


def test_an_unreachable_endpoint_stops_start_up(s3_server: S3Server, tmp_path: Path) -> None:
    async def start() -> None:
        settings = Settings.from_env(
            {
                **base_env(tmp_path / "data", free_port()),
                **s3_server.env("any", **S3_OPTIONS),
                "S3_ENDPOINT": f"http://127.0.0.1:{free_port()}",
            }
        )
        await build(settings).start(periodic=False)

    from skysend_core.errors import StorageError

    with pytest.raises(StorageError, match="S3 bucket 'any' is not usable"):
        asyncio.run(start())


# -- memory stays bounded -------------------------------------------------------------------

LARGE = 256 * MIB
#: Parts in flight and the one being filled are 15 MiB with these settings; the rest is
#: the request body's back-pressure window and the interpreter's own churn.
RSS_BUDGET = 64 * MIB


@pytest.mark.slow
def test_large_uploads_keep_server_memory_bounded(
    s3_server: S3Server, bucket: Bucket, tmp_path: Path
) -> None:
    overrides = s3_server.env(bucket.name, S3_PART_SIZE="5MB", S3_CONCURRENCY="2")
    with (
        ServerProcess(tmp_path / "data", overrides) as server,
        httpx.Client(base_url=server.url, timeout=300) as client,
    ):
        upload(client, size=12 * MIB)  # every code path loaded before the baseline
        chunked_upload(client, os.urandom(12 * MIB), 4 * MIB)

        creds = Credentials()
        headers = upload_headers(LARGE, creds) | {"Content-Length": str(LARGE)}
        with RssSampler(server) as single:
            response = client.post("/api/upload", headers=headers, content=pieces(LARGE))
        assert response.status_code == 200, response.text
        single_id = response.json()["id"]

        chunked_id, chunked_creds = init_chunked(client, LARGE)
        with RssSampler(server) as chunked:
            for index in range(LARGE // (32 * MIB)):
                body = pieces(32 * MIB, seed=str(index).encode())
                assert send_chunk(client, chunked_id, index, b"".join(body)).status_code == 200
            assert finalize(client, chunked_id, chunked_creds).status_code == 200

    for sampler in (single, chunked):
        assert sampler.samples > 10
        assert sampler.growth < RSS_BUDGET, f"RSS grew by {sampler.growth / MIB:.1f} MiB"
    head = bucket.client.head_object(Bucket=bucket.name, Key=f"{single_id}.bin")
    assert head["ContentLength"] == LARGE
    assert head["ETag"].endswith(f'-{-(-LARGE // (5 * MIB))}"')  # a multipart upload
    body = bucket.client.get_object(Bucket=bucket.name, Key=f"{single_id}.bin")["Body"]
    digest = hashlib.sha256()
    for piece in body.iter_chunks(MIB):
        digest.update(piece)
    assert digest.hexdigest() == pieces_digest(LARGE)
    assert (
        bucket.client.head_object(Bucket=bucket.name, Key=f"{chunked_id}.bin")["ContentLength"]
        == LARGE
    )


def _allowed_by(source: str, url: str) -> bool:
    """Whether a ``connect-src`` source expression (scheme://host[:port][/path]) allows
    ``url``; only the forms the server writes are understood."""
    scheme, rest = source.split("://", 1)
    host, _, path = rest.partition("/")
    target = httpx.URL(url)
    if target.scheme != scheme:
        return False
    netloc = target.netloc.decode()
    matched = netloc.endswith(host[1:]) if host.startswith("*.") else netloc == host
    return matched and target.path.startswith("/" + path)


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-1"])
@pytest.mark.parametrize("path_style", ["false", "true"])
@pytest.mark.parametrize("bucket_name", ["skysend-files", "files.skysend.example"])
async def test_presigned_links_on_aws_point_where_the_csp_allows_browsers_to_fetch(
    region: str, path_style: str, bucket_name: str
) -> None:
    """Without S3_ENDPOINT the links use the region's own hosts, which ``connect-src``
    lists; botocore's default global host ``<bucket>.s3.amazonaws.com`` is not allowed."""
    env = {
        "BASE_URL": "https://send.example",
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": bucket_name,
        "S3_REGION": region,
        "S3_ACCESS_KEY": "k",
        "S3_SECRET_KEY": "s",
        "S3_FORCE_PATH_STYLE": path_style,
    }
    settings = Settings.from_env(env)
    policy = content_security_policy(settings)
    connect = next(d for d in policy.split("; ") if d.startswith("connect-src "))
    sources = [s for s in connect.split()[1:] if s != "'self'"]
    options = client_options(
        region=region,
        endpoint=settings.s3_endpoint,
        force_path_style=settings.s3_force_path_style,
        concurrency=2,
    )
    session = get_session()
    async with session.create_client(
        "s3", aws_access_key_id="k", aws_secret_access_key="s", **options
    ) as client:
        link = await client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket_name, "Key": f"{uuid.uuid4()}.bin"}
        )
    assert any(_allowed_by(source, link) for source in sources), (link, sources)
