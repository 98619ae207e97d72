"""1 GiB through the client with flat memory: every upload transport and the download.

Each operation runs in its own child process (the library's blocking ``Client``), so the
measured RSS is the client's alone: the peak of psutil samples every 20 ms and of the
child's own high-water mark, ``VmHWM``. (Not ``ru_maxrss``: Linux carries the parent's
high-water mark over ``vfork`` + ``exec``, and this parent serves the uploads.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.client.live import Live
from tests.support.servers import RssSampler

GIB = 1024**3
MIB = 1024**2
LIMIT = 100 * MIB

CHILD = """
import json, sys
from skysend_http.client import Client

def high_water_mark():
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
    except OSError:
        return 0  # no /proc: the psutil samples alone
    return int(line.split()[1]) * 1024

url, operation, path = sys.argv[1:4]
with Client(url) as client:
    if operation == "download":
        result = client.download(sys.argv[4], path)
        output = {"size": result.size}
    else:
        result = client.upload(path, transport=operation, max_downloads=2)
        output = {"url": result.url, "transport": result.transport}
output["maxrss"] = high_water_mark()
print(json.dumps(output))
"""


def run_measured(*args: str) -> tuple[dict[str, object], int]:
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    with RssSampler(process.pid) as rss:
        out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err.decode()
    data: dict[str, object] = json.loads(out)
    return data, max(rss.peak, int(str(data["maxrss"])))


@pytest.mark.slow
def test_one_gib_keeps_client_memory_flat(start_live: Callable[..., Live], tmp_path: Path) -> None:
    live = start_live(FILE_MAX_SIZE="2GB")
    source = tmp_path / "big.bin"
    with source.open("wb") as file:  # sparse: reading it costs no disk, encrypting it all
        file.truncate(GIB)
    peaks: dict[str, int] = {}
    url = ""
    for transport in ("ws", "chunked", "single"):
        result, peaks[transport] = run_measured(live.url, transport, str(source))
        assert result["transport"] == transport
        url = str(result["url"])
    target = tmp_path / "out.bin"
    result, peaks["download"] = run_measured(live.url, "download", str(target), url)
    assert result["size"] == GIB
    assert target.stat().st_size == GIB
    report = {name: f"{peak / MIB:.1f} MiB" for name, peak in peaks.items()}
    print("client peak RSS:", report)
    assert all(peak < LIMIT for peak in peaks.values()), report
