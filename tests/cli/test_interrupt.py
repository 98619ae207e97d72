"""Ctrl-C stops a transfer cleanly: exit status 130, temporary files removed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.client.live import Live, random_file


def test_ctrl_c_during_an_upload(start_live: Callable[..., Live], tmp_path: Path) -> None:
    live = start_live(FILE_UPLOAD_SPEED_LIMIT="1MB")  # the client throttles itself to 1 MB/s
    files = [random_file(tmp_path / name, 4 * 1024 * 1024) for name in ("a.bin", "b.bin")]
    temp = tmp_path / "tmp"
    temp.mkdir()
    config = tmp_path / "config"
    env = {**os.environ, "TMPDIR": str(temp), "XDG_CONFIG_HOME": str(config)}
    process = subprocess.Popen(
        [sys.executable, "-m", "skysend_http.cli", "upload", *map(str, files), "-s", live.url,
         "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    time.sleep(2.5)  # packed, and uploading
    assert process.poll() is None
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 130
    assert out == b""
    assert json.loads(err) == {"error": "Interrupted"}
    assert list(temp.iterdir()) == []  # the temporary archive is gone
    assert not (config / "skysend" / "history.json").exists()
