"""Real servers for end-to-end tests: hypercorn on 127.0.0.1, a random port, a real
SQLite file and a real uploads folder.

* :func:`running_app` serves the app in a background thread of the test process (fast;
  used by most HTTP tests).
* :class:`ServerProcess` runs ``skysend serve`` as a child process (used where the server
  must be measured, killed or run with several workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from skysend_core.config import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env(
    data_dir: Path, port: int, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    env = {
        "BASE_URL": f"http://127.0.0.1:{port}",
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "DATA_DIR": str(data_dir),
        "RATE_LIMIT_MAX": "1000000",
        # The periodic sweep deletes exhausted rows (410 becomes 404). Tests that rely on
        # it set their own interval; the rest must not race it.
        "CLEANUP_INTERVAL": "86400",
    }
    env.update(overrides or {})
    return env


@contextlib.contextmanager
def running_app(data_dir: Path, overrides: Mapping[str, str] | None = None) -> Iterator[str]:
    """Serve the real app with hypercorn in a thread; yields the base URL."""
    from skysend_http.app import create_app
    from skysend_http.bootstrap import build

    port = free_port()
    settings = Settings.from_env(base_env(data_dir, port, overrides))
    with serving(create_app(build(settings)), port, settings) as url:
        wait_healthy(url)
        yield url


@contextlib.contextmanager
def serving(app: Any, port: int | None = None, settings: Settings | None = None) -> Iterator[str]:
    """Serve an ASGI app with hypercorn on 127.0.0.1 in a thread; yields the base URL.

    With ``settings``, hypercorn is configured as ``skysend serve`` configures it."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from skysend_http.serve import hypercorn_config

    port = port or free_port()
    config = hypercorn_config(settings) if settings is not None else Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    listening = threading.Event()

    async def main() -> None:
        await serve(app, config, shutdown_trigger=stop.wait)

    def run() -> None:
        loop.call_soon(listening.set)
        loop.run_until_complete(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    listening.wait(5)
    url = f"http://127.0.0.1:{port}"
    _wait_listening(port)
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        loop.close()


def _wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.02)
    raise RuntimeError("server is not listening")


def wait_healthy(
    url: str, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not become healthy")


class ServerProcess:
    """``skysend serve`` in a child process (its own process group)."""

    def __init__(
        self, data_dir: Path, overrides: Mapping[str, str] | None = None, workers: int = 1
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **base_env(data_dir, self.port, overrides)}
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir / f"server-{self.port}.log"

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "skysend_http.cli", "serve", "--workers", str(self.workers)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_healthy(self.url, process=self.process)
        return self

    def pids(self) -> list[int]:
        """The server's processes (the hypercorn parent and its workers)."""
        import psutil

        assert self.process is not None
        parent = psutil.Process(self.process.pid)
        return [parent.pid, *(child.pid for child in parent.children(recursive=True))]

    def rss_bytes(self) -> int:
        import psutil

        total = 0
        for pid in self.pids():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += psutil.Process(pid).memory_info().rss
        return total

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.stop() == -9:
            pass


class RssSampler:
    """Samples a resident set size in a thread until the block ends; ``baseline`` (at
    start), ``peak`` and ``growth`` afterwards. ``source`` is a :class:`ServerProcess`
    (all its processes) or a process id."""

    def __init__(self, source: ServerProcess | int, interval: float = 0.02) -> None:
        self._measure = source.rss_bytes if isinstance(source, ServerProcess) else _rss_of(source)
        self._interval = interval
        self._stop = threading.Event()
        self.baseline = self._sample()
        self.peak = self.baseline
        self.samples = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        import psutil

        try:
            return self._measure()
        except psutil.Error:  # the process is gone (or not yet there)
            return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self.samples += 1
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def _rss_of(pid: int) -> Callable[[], int]:
    import psutil

    process = psutil.Process(pid)
    return lambda: int(process.memory_info().rss)
