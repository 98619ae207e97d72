"""WebSocket upload benchmark: throughput and peak RSS of ``skysend serve``.

Starts ``python -m skysend_http.cli serve`` in a child process on a fresh data folder and
uploads ``--size-mib`` (default 1024) over ``/api/upload/ws`` in ``--frame-kib`` (default
256) binary frames, the way the web app does, then checks the stored size. Reports MiB/s
from ``init`` to ``done`` and the peak RSS of the server's process tree (psutil, every
20 ms) next to its RSS before the upload.

Usage: ``python bench/ws_bench.py [--size-mib 1024] [--frame-kib 256] [--runs 3]
[--workers 1] [--max-buffer 16MB]``. The client runs in this process: on a small machine
it competes with the server for CPU, so the numbers are a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import RssSampler, ServerProcess  # noqa: E402

MIB = 1024 * 1024


def token(size: int = 32) -> str:
    return base64.urlsafe_b64encode(os.urandom(size)).rstrip(b"=").decode()


async def ws_upload(url: str, size: int, frame_size: int) -> tuple[str, str, float]:
    """Upload ``size`` bytes; return the id, the owner token and the seconds it took."""
    owner = token()
    headers = {
        "authToken": token(),
        "ownerToken": owner,
        "salt": token(),
        "maxDownloads": 1,
        "expireSec": 3600,
        "fileCount": 1,
        "contentLength": size,
        "hasPassword": False,
    }
    frame = os.urandom(frame_size)
    ws_address = url.replace("http://", "ws://", 1) + "/api/upload/ws"
    async with connect(ws_address, compression=None, proxy=None, ping_interval=None) as ws:
        started = time.perf_counter()
        await ws.send(json.dumps({"type": "init", "headers": headers}))
        ready = json.loads(await ws.recv())
        if ready.get("type") != "ready":
            raise RuntimeError(ready)
        full, rest = divmod(size, frame_size)
        for _ in range(full):
            await ws.send(frame)
        if rest:
            await ws.send(frame[:rest])
        await ws.send(json.dumps({"type": "finalize"}))
        while (message := json.loads(await ws.recv()))["type"] != "done":
            if message["type"] == "error":
                raise RuntimeError(message)
        elapsed = time.perf_counter() - started
    return message["id"], owner, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--frame-kib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-buffer", default="16MB", help="FILE_UPLOAD_WS_MAX_BUFFER")
    args = parser.parse_args()
    size, frame = args.size_mib * MIB, args.frame_kib * 1024
    overrides = {"FILE_MAX_SIZE": "8GB", "FILE_UPLOAD_WS_MAX_BUFFER": args.max_buffer}
    with (
        tempfile.TemporaryDirectory(prefix="skysend-ws-bench-") as tmp,
        ServerProcess(Path(tmp) / "data", overrides, workers=args.workers) as server,
    ):
        print(
            f"WebSocket upload of {args.size_mib} MiB in {args.frame_kib} KiB frames, "
            f"{args.workers} worker(s), FILE_UPLOAD_WS_MAX_BUFFER={args.max_buffer}",
            flush=True,
        )
        for run in range(1, args.runs + 1):
            idle = server.rss_bytes()
            with RssSampler(server) as rss:
                upload_id, owner, elapsed = asyncio.run(ws_upload(server.url, size, frame))
            info = httpx.get(f"{server.url}/api/info/{upload_id}").json()
            if info["size"] != size:
                raise RuntimeError(f"stored {info['size']} bytes, expected {size}")
            httpx.delete(  # keep the disk free for the next run
                f"{server.url}/api/upload/{upload_id}", headers={"X-Owner-Token": owner}
            )
            print(
                f"run {run}: {elapsed:6.2f} s  {size / MIB / elapsed:7.1f} MiB/s  "
                f"RSS before {idle / MIB:6.1f} MiB  peak {rss.peak / MIB:6.1f} MiB  "
                f"(+{(rss.peak - idle) / MIB:.1f} MiB)",
                flush=True,
            )


if __name__ == "__main__":
    main()
