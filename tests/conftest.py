from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.s3 import S3Server, running_s3
from tests.support.servers import running_app


@pytest.fixture
def serve_app(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start the real app over real HTTP with environment overrides; returns its URL."""
    with ExitStack() as stack:
        counter = iter(range(1000))

        def start(**overrides: str) -> str:
            data_dir = tmp_path / f"data-{next(counter)}"
            return stack.enter_context(running_app(data_dir, overrides))

        yield start


@pytest.fixture
def server(serve_app: Callable[..., str]) -> str:
    """The app with default settings; the base URL."""
    return serve_app()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-compatible server (moto) on loopback, shared by the session's tests;
    each test makes its own bucket."""
    with running_s3(tmp_path_factory.mktemp("moto")) as running:
        yield running
