"""A real server for client tests, with its data folder at hand (to tamper with blobs)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import attrs
import pytest

from tests.support.servers import running_app


@attrs.frozen
class Live:
    url: str
    data_dir: Path

    def blob(self, upload_id: str) -> Path:
        return self.data_dir / "uploads" / f"{upload_id}.bin"


def live_factory(tmp_path: Path) -> Iterator[Callable[..., Live]]:
    with ExitStack() as stack:
        counter = iter(range(1000))

        def start(**overrides: str) -> Live:
            data_dir = tmp_path / f"server-{next(counter)}"
            url = stack.enter_context(running_app(data_dir, overrides))
            return Live(url, data_dir)

        yield start


def random_file(path: Path, size: int) -> Path:
    """``size`` random bytes written in 1 MiB pieces."""
    with path.open("wb") as file:
        left = size
        while left:
            piece = min(left, 1024 * 1024)
            file.write(os.urandom(piece))
            left -= piece
    return path


def read(path: Path) -> bytes:
    return path.read_bytes()


def same_content(left: Path, right: Path) -> bool:
    """Compare two files piece by piece (they may be large)."""
    with left.open("rb") as a, right.open("rb") as b:
        while True:
            piece = a.read(1024 * 1024)
            if piece != b.read(1024 * 1024):
                return False
            if not piece:
                return True


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def leftovers(directory: Path) -> list[str]:
    """Hidden partial files a download might have left behind."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


@pytest.fixture
def start_live(tmp_path: Path) -> Iterator[Callable[..., Live]]:
    yield from live_factory(tmp_path)


@pytest.fixture
def live(start_live: Callable[..., Live]) -> Live:
    return start_live()
