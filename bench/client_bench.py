"""Client benchmark: encrypt+upload and download+decrypt throughput and client peak RSS.

Starts ``python -m skysend_http.cli serve`` in a child process (fresh data folder,
``RATE_LIMIT_MAX`` large), writes a random source file of ``--size-mib`` (default 1024),
then for each transport (``ws``, ``chunked``, ``single``) runs the client library in a
separate child process — so its memory is measured alone — to upload the file and then
to download and decrypt it, checking the result's SHA-256. Reports MiB/s of plaintext
(wall time of the upload or download call, key derivation excluded) and the client's peak
RSS (the larger of psutil sampling every 20 ms and the child's own high-water mark,
``VmHWM``; ``ru_maxrss`` would include this parent's, which Linux carries over ``exec``).

Targets: upload ≥ 140 MiB/s, download ≥ 175 MiB/s, client RSS < 100 MiB.

Usage: ``python bench/client_bench.py [--size-mib 1024] [--transports ws,chunked,single]
[--runs 1]``. Client and server share the machine, so on few cores the numbers are a lower
bound for either side.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import RssSampler, ServerProcess  # noqa: E402

MIB = 1024 * 1024


def write_source(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as file:
        left = size
        while left:
            piece = os.urandom(min(left, 4 * MIB))
            digest.update(piece)
            file.write(piece)
            left -= len(piece)
    return digest.hexdigest()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while piece := file.read(4 * MIB):
            digest.update(piece)
    return digest.hexdigest()


# --- the measured child ---------------------------------------------------------------


def high_water_mark() -> int:
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
    except OSError:
        return 0  # no /proc: the psutil samples alone
    return int(line.split()[1]) * 1024


def child(args: argparse.Namespace) -> None:
    """Run one upload or download with the library and print a JSON line."""
    from skysend_http.client import Client, ProgressEvent

    started: list[float] = []

    def progress(event: ProgressEvent) -> None:
        if event.phase in ("uploading", "downloading") and not started:
            started.append(time.perf_counter())

    with Client(args.url) as client:
        if args.child == "upload":
            result = client.upload(args.file, transport=args.transport, progress=progress)
            output: dict[str, Any] = {"url": result.url, "transport": result.transport}
        else:
            prepared = client.prepare_download(args.share)
            started.append(time.perf_counter())
            saved = client.save(prepared, args.file)
            output = {"path": str(saved.path)}
    output["seconds"] = time.perf_counter() - started[0]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    output["maxrss"] = high_water_mark()
    output["cpu"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(output), flush=True)


# --- the parent -------------------------------------------------------------------------


def run_child(*argv: str) -> tuple[dict[str, Any], int]:
    """Run a child, sampling its RSS; returns its JSON line and the peak RSS seen."""
    command = [sys.executable, __file__, *argv]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    with RssSampler(process.pid) as rss:
        out, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"child {argv[:2]} failed with {process.returncode}")
    data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return data, max(rss.peak, int(data["maxrss"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--transports", default="ws,chunked,single")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--child", choices=("upload", "download"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--share", help=argparse.SUPPRESS)
    parser.add_argument("--transport", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    size = args.size_mib * MIB
    with tempfile.TemporaryDirectory(prefix="skysend-client-bench-") as temp:
        work = Path(temp)
        source = work / "source.bin"
        expected = write_source(source, size)
        overrides = {"RATE_LIMIT_MAX": "100000000", "FILE_MAX_SIZE": f"{args.size_mib + 64}MB"}
        with ServerProcess(work / "data", overrides) as server:
            print(f"server {server.url}, payload {args.size_mib} MiB, cpus {os.cpu_count()}")
            for transport in args.transports.split(","):
                for run in range(args.runs):
                    up, up_rss = run_child(
                        "--child", "upload", "--url", server.url, "--file", str(source),
                        "--transport", transport,
                    )  # fmt: skip
                    target = work / f"download-{transport}-{run}.bin"
                    down, down_rss = run_child(
                        "--child", "download", "--url", server.url, "--share", up["url"],
                        "--file", str(target),
                    )  # fmt: skip
                    if sha256(target) != expected:
                        raise RuntimeError("downloaded bytes differ from the source")
                    target.unlink()
                    print(
                        f"{transport:8} upload {size / MIB / up['seconds']:7.1f} MiB/s "
                        f"(rss {up_rss / MIB:5.1f} MiB, cpu {up['cpu']:4.1f} s)   download "
                        f"{size / MIB / down['seconds']:7.1f} MiB/s "
                        f"(rss {down_rss / MIB:5.1f} MiB, cpu {down['cpu']:4.1f} s)"
                    )


if __name__ == "__main__":
    main()
