"""Note benchmark: requests/s with p50/p99 for note creation and note view.

Starts ``python -m skysend_http.cli serve`` in a child process on a fresh data folder (rate
limit effectively off) and drives it with ``httpx.AsyncClient`` over a pool of
``--concurrency`` connections (default 50), each scenario a fixed number of requests:

* ``POST /api/note`` with a ``--note-bytes`` ciphertext (default 1 KiB),
* ``POST /api/note/<id>/view`` of one note with unlimited views.

Usage: ``python bench/notes_bench.py [--requests 5000] [--concurrency 50] [--workers N]``.
The load generator is one Python process; on a small machine it competes with the server
for CPU, so the numbers are a floor. Prints one line per scenario; nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import ServerProcess  # noqa: E402

WARMUP = 200


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def note_body(note_bytes: int, auth: bytes) -> bytes:
    return json.dumps(
        {
            "encryptedContent": base64.b64encode(os.urandom(note_bytes)).decode(),
            "nonce": base64.b64encode(os.urandom(12)).decode(),
            "salt": b64u(os.urandom(32)),
            "ownerToken": b64u(os.urandom(32)),
            "authToken": b64u(auth),
            "contentType": "text",
            "maxViews": 0,
            "expireSec": 86400,
        }
    ).encode()


async def drive(
    client: httpx.AsyncClient,
    send: Callable[[httpx.AsyncClient], object],
    total: int,
    concurrency: int,
) -> tuple[list[float], int, float]:
    """Send ``total`` requests from ``concurrency`` loops; latencies (s), failures, wall."""
    latencies: list[float] = []
    failures = 0
    remaining = total

    async def loop() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            response = await send(client)  # type: ignore[misc]
            latencies.append(time.perf_counter() - start)
            if not 200 <= response.status_code < 300:
                failures += 1

    began = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return latencies, failures, time.perf_counter() - began


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def report(label: str, latencies: list[float], failures: int, wall: float, cpu: float) -> None:
    """One line; ``client CPU`` near 100 % means the load generator, not the server, is
    the limit."""
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    print(
        f"{label:<30} {len(ordered):>6} req {len(ordered) / wall:>7.0f} req/s  "
        f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  failures {failures}  "
        f"client CPU {cpu / wall:4.0%}"
    )


async def measure(
    label: str,
    client: httpx.AsyncClient,
    send: Callable[[httpx.AsyncClient], object],
    total: int,
    concurrency: int,
) -> None:
    await drive(client, send, WARMUP, concurrency)
    before = cpu_seconds()
    latencies, failures, wall = await drive(client, send, total, concurrency)
    report(label, latencies, failures, wall, cpu_seconds() - before)


async def run(url: str, requests: int, concurrency: int, note_bytes: int) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    auth = os.urandom(32)
    body = note_body(note_bytes, auth)
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        def create(c: httpx.AsyncClient) -> object:
            return c.post("/api/note", content=body, headers=headers)

        await measure(f"create note ({note_bytes} B)", client, create, requests, concurrency)

        created = await client.post("/api/note", content=body, headers=headers)
        created.raise_for_status()
        view_path = f"/api/note/{created.json()['id']}/view"
        view_body = json.dumps({"authToken": b64u(auth)}).encode()

        def view(c: httpx.AsyncClient) -> object:
            return c.post(view_path, content=view_body, headers=headers)

        await measure("view note (unlimited views)", client, view, requests, concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="per scenario")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--note-bytes", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="skysend-notes-bench-") as tmp:
        env = {"RATE_LIMIT_MAX": str(10**12), "CLEANUP_INTERVAL": "3600"}
        with ServerProcess(Path(tmp) / "data", env, workers=args.workers) as server:
            print(
                f"skysend serve --workers {args.workers}, {os.cpu_count()} CPUs, "
                f"{args.concurrency} connections, Python {sys.version.split()[0]}"
            )
            asyncio.run(run(server.url, args.requests, args.concurrency, args.note_bytes))


if __name__ == "__main__":
    main()
