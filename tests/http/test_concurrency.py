"""Races that must be settled where the data lives (storage-and-lifecycle.md §5.3,
http-api.md §2.10): parallel requests over real sockets, in one process and across
worker processes."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator

import httpx
import pytest
from tests.support.files_api import MIB, Stored, upload
from tests.support.servers import ServerProcess

LIMIT = {"error": "Download limit reached"}


async def download_all(url: str, stored: Stored, count: int) -> list[tuple[int, bytes]]:
    """``count`` simultaneous downloads, each on its own connection."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        start = asyncio.Event()

        async def one() -> tuple[int, bytes]:
            await start.wait()
            response = await client.get(f"/api/download/{stored.id}", headers=stored.auth)
            return response.status_code, response.content

        tasks = [asyncio.ensure_future(one()) for _ in range(count)]
        await asyncio.sleep(0.05)
        start.set()
        return list(await asyncio.gather(*tasks))


def check_exactly_three(results: list[tuple[int, bytes]], stored: Stored) -> None:
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 3 + [410] * 17, statuses
    digest = hashlib.sha256(stored.data).hexdigest()
    for status, body in results:
        if status == 200:
            assert len(body) == len(stored.data)
            assert hashlib.sha256(body).hexdigest() == digest
        else:
            assert httpx.Response(410, content=body).json() == LIMIT


def test_twenty_parallel_downloads_of_a_three_download_upload(server: str) -> None:
    with httpx.Client(base_url=server, timeout=60) as client:
        stored = upload(client, size=2 * MIB + 3, max_downloads=3)
        results = asyncio.run(download_all(server, stored, 20))
        check_exactly_three(results, stored)
        info = client.get(f"/api/info/{stored.id}")
        assert (info.status_code, info.json()) == (410, LIMIT)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("two-workers"), workers=2) as process:
        yield process


def test_twenty_parallel_downloads_across_two_workers(two_workers: ServerProcess) -> None:
    for _ in range(3):
        with httpx.Client(base_url=two_workers.url, timeout=60) as client:
            stored = upload(client, size=2 * MIB + 3, max_downloads=3)
        check_exactly_three(asyncio.run(download_all(two_workers.url, stored, 20)), stored)


async def post_meta_concurrently(url: str, stored: Stored, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        bodies = [
            {"encryptedMeta": f"AAAA{i:04d}", "nonce": "AAAAAAAAAAAAAAAA"} for i in range(count)
        ]
        calls = [
            client.post(f"/api/meta/{stored.id}", headers=stored.owner, json=body)
            for body in bodies
        ]
        return list(await asyncio.gather(*calls))


@pytest.mark.parametrize("count", [2, 8])
def test_concurrent_metadata_writes_exactly_one_wins(server: str, count: int) -> None:
    with httpx.Client(base_url=server, timeout=60) as client:
        for _ in range(5):
            stored = upload(client)
            responses = asyncio.run(post_meta_concurrently(server, stored, count))
            outcomes = sorted((r.status_code, r.text) for r in responses)
            assert outcomes == [(200, '{"ok":true}')] + [
                (409, '{"error":"Metadata already set"}')
            ] * (count - 1)
            meta = client.get(f"/api/info/{stored.id}").json()["encryptedMeta"]
            assert meta is not None


def test_concurrent_metadata_writes_across_two_workers(two_workers: ServerProcess) -> None:
    with httpx.Client(base_url=two_workers.url, timeout=60) as client:
        for _ in range(5):
            stored = upload(client)
            responses = asyncio.run(post_meta_concurrently(two_workers.url, stored, 6))
            assert sorted(r.status_code for r in responses) == [200] + [409] * 5


def test_parallel_chunks_of_one_session(server: str) -> None:
    """Clients send up to FILE_UPLOAD_CONCURRENT_CHUNKS chunks at once, in any order."""
    data = bytes(range(256)) * (12 * MIB // 256)
    size = len(data) // 12
    with httpx.Client(base_url=server, timeout=60) as client:
        init = client.post(
            "/api/upload/init",
            headers={
                "X-Auth-Token": "a" * 43,
                "X-Owner-Token": "o" * 43,
                "X-Salt": "s" * 43,
                "X-Max-Downloads": "1",
                "X-Expire-Sec": "300",
                "X-Content-Length": str(len(data)),
            },
        )
        upload_id = init.json()["id"]

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server, timeout=60) as http:
            calls = [
                http.post(
                    f"/api/upload/{upload_id}/chunk",
                    params={"index": index},
                    content=data[index * size : (index + 1) * size],
                )
                for index in reversed(range(12))
            ]
            # A duplicate racing its original: exactly one of the pair is committed.
            calls.append(
                http.post(
                    f"/api/upload/{upload_id}/chunk", params={"index": 5}, content=b"x" * size
                )
            )
            return list(await asyncio.gather(*calls))

    responses = asyncio.run(send_all())
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 12 + [409], statuses
    assert max(r.json().get("bytesWritten", 0) for r in responses) == len(data)
    with httpx.Client(base_url=server, timeout=60) as client:
        done = client.post(f"/api/upload/{upload_id}/finalize", headers={"X-Owner-Token": "o" * 43})
        assert done.status_code == 200
        fetched = client.get(f"/api/download/{upload_id}", headers={"X-Auth-Token": "a" * 43})
        body = fetched.content
        # Either the original chunk 5 or its racing duplicate was kept, never a mix.
        chunk5 = body[5 * size : 6 * size]
        assert chunk5 in (data[5 * size : 6 * size], b"x" * size)
        assert body[: 5 * size] + body[6 * size :] == data[: 5 * size] + data[6 * size :]
