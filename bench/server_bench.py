"""Server benchmark: throughput, requests/s and peak RSS of ``skysend serve``.

Starts the server in a child process on a fresh data folder and measures

* single-request upload of 1 GiB (curl), download of 1 GiB (curl),
* chunked upload with 10 MiB chunks, sequential and 3 in parallel (curl),
* requests/s with p50/p99 for ``GET /api/health``, ``GET /api/info/<id>``, ``POST /api/note``
  and ``POST /api/note/<id>/view`` (unlimited views) under 50
  concurrent connections (wrk; ``apt-get install wrk``).

Usage: ``python bench/server_bench.py [--size-mib 1024] [--workers N] [--duration 10]``.
Prints one line per measurement; nothing here is a test.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import RssSampler, ServerProcess  # noqa: E402

MIB = 1024 * 1024
CHUNK = 10 * MIB


def token() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def upload_headers(size: int, auth: str, max_downloads: int = 100) -> dict[str, str]:
    return {
        "X-Auth-Token": auth,
        "X-Owner-Token": token(),
        "X-Salt": token(),
        "X-Max-Downloads": str(max_downloads),
        "X-Expire-Sec": "86400",
        "X-Content-Length": str(size),
    }


@contextmanager
def measured(label: str, server: ServerProcess, size: int | None = None) -> Iterator[None]:
    with RssSampler(server) as rss:
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
    rate = f"{size / MIB / elapsed:8.1f} MiB/s" if size else ""
    print(f"{label:<38} {elapsed:7.2f} s {rate}  peak RSS {rss.peak / MIB:6.1f} MiB", flush=True)


def make_payload(path: Path, size: int) -> None:
    with path.open("wb") as out:
        piece = os.urandom(16 * MIB)
        written = 0
        while written < size:
            n = min(len(piece), size - written)
            out.write(piece[:n])
            written += n


def curl(*args: str) -> str:
    result = subprocess.run(
        ["curl", "-sS", "--fail-with-body", *args], capture_output=True, text=True, check=True
    )
    return result.stdout


def single_upload(url: str, payload: Path, size: int, auth: str) -> str:
    headers = [h for k, v in upload_headers(size, auth).items() for h in ("-H", f"{k}: {v}")]
    out = curl("-X", "POST", "-T", str(payload), "-H", "Expect:", *headers, f"{url}/api/upload")
    match = re.search(r'"id":"([a-f0-9-]{36})"', out)
    if not match:
        raise RuntimeError(out)
    return match.group(1)


def split_payload(payload: Path, size: int) -> list[Path]:
    """Cut the payload into 10 MiB chunk files once, so curl can send each as a body."""
    parts = []
    with payload.open("rb") as source:
        for index in range((size + CHUNK - 1) // CHUNK):
            part = payload.with_name(f"chunk-{index:05d}")
            part.write_bytes(source.read(CHUNK))
            parts.append(part)
    return parts


def chunked_upload(url: str, parts: list[Path], size: int, parallel: int) -> None:
    """Init, then every chunk from one curl process (keep-alive; ``parallel`` transfers in
    flight), then finalize."""
    headers = upload_headers(size, token())
    args = [h for k, v in headers.items() for h in ("-H", f"{k}: {v}")]
    out = curl("-X", "POST", *args, f"{url}/api/upload/init")
    upload_id = re.search(r'"id":"([a-f0-9-]{36})"', out)
    if not upload_id:
        raise RuntimeError(out)
    base = f"{url}/api/upload/{upload_id.group(1)}"
    transfers: list[str] = []
    for index, part in enumerate(parts):
        if transfers:
            transfers.append("--next")
        # -T streams the file as the body (POST, Content-Length), as for the single
        # upload; --data-binary would first read each chunk into curl's memory.
        transfers += ["-o", os.devnull, "-H", "Expect:", "-X", "POST", "-T", str(part)]
        transfers.append(f"{base}/chunk?index={index}")
    mode = ["--parallel", "--parallel-max", str(parallel)] if parallel > 1 else []
    curl(*mode, *transfers)
    curl("-X", "POST", "-H", f"X-Owner-Token: {headers['X-Owner-Token']}", f"{base}/finalize")


NOTE_AUTH = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def note_body() -> str:
    return json.dumps(
        {
            "encryptedContent": base64.b64encode(os.urandom(1024)).decode(),
            "nonce": base64.b64encode(os.urandom(12)).decode(),
            "salt": token(),
            "ownerToken": token(),
            "authToken": NOTE_AUTH,
            "contentType": "text",
            "maxViews": 0,
            "expireSec": 86400,
        }
    )


def post_script(directory: Path, name: str, body: str) -> Path:
    """A wrk Lua script that POSTs ``body`` as JSON."""
    script = directory / f"{name}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    return script


def wrk(
    label: str, server: ServerProcess, url: str, duration: int, script: Path | None = None
) -> None:
    if not shutil.which("wrk"):
        print(f"{label:<38} skipped: wrk is not installed (apt-get install wrk)")
        return
    with RssSampler(server) as rss:
        out = subprocess.run(
            ["wrk", "-t2", "-c50", f"-d{duration}s", "--latency"]
            + (["-s", str(script)] if script else [])
            + [url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"\s50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"\s99%\s+([\d.]+\w+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rate = float(rps.group(1)) if rps else 0.0
    print(
        f"{label:<38} {rate:8.0f} req/s  p50 {p50.group(1) if p50 else '?'}"
        f"  p99 {p99.group(1) if p99 else '?'}  peak RSS {rss.peak / MIB:6.1f} MiB"
        + (f"  non-2xx {non2xx.group(1)}" if non2xx else ""),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=None, help="default: serve's default")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    args = parser.parse_args()
    size = args.size_mib * MIB
    with tempfile.TemporaryDirectory(prefix="skysend-bench-") as tmp:
        tmp_path = Path(tmp)
        payload = tmp_path / "payload.bin"
        make_payload(payload, size)
        overrides = {"RATE_LIMIT_MAX": "1000000000", "FILE_MAX_SIZE": "4GB"}
        from skysend_http.serve import default_workers

        workers = args.workers or default_workers()
        server = ServerProcess(tmp_path / "data", overrides, workers=workers)
        with server:
            print(
                f"server: skysend serve --workers {workers}; CPUs: {os.cpu_count()}; "
                f"payload {args.size_mib} MiB; idle RSS {server.rss_bytes() / MIB:.1f} MiB"
            )
            auth = token()
            with measured("single-request upload (curl)", server, size):
                upload_id = single_upload(server.url, payload, size, auth)
            with measured("download (curl)", server, size):
                curl(
                    "-o",
                    os.devnull,
                    "-H",
                    f"X-Auth-Token: {auth}",
                    f"{server.url}/api/download/{upload_id}",
                )
            parts = split_payload(payload, size)
            with measured("chunked upload, sequential (curl)", server, size):
                chunked_upload(server.url, parts, size, 1)
            with measured("chunked upload, 3 in parallel (curl)", server, size):
                chunked_upload(server.url, parts, size, 3)
            wrk(
                "GET /api/health (50 connections)",
                server,
                f"{server.url}/api/health",
                args.duration,
            )
            wrk(
                "GET /api/info/<id> (50 connections)",
                server,
                f"{server.url}/api/info/{upload_id}",
                args.duration,
            )
            created = httpx.post(
                f"{server.url}/api/note",
                content=note_body(),
                headers={"Content-Type": "application/json"},
            )
            note_id = created.json()["id"]
            wrk(
                "POST /api/note (50 connections)",
                server,
                f"{server.url}/api/note",
                args.duration,
                post_script(tmp_path, "create", note_body()),
            )
            wrk(
                "POST /api/note/<id>/view (50 connections)",
                server,
                f"{server.url}/api/note/{note_id}/view",
                args.duration,
                post_script(tmp_path, "view", json.dumps({"authToken": NOTE_AUTH})),
            )


if __name__ == "__main__":
    main()
