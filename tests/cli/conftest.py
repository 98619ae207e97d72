from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from skysend_http.cli import main
from tests.client.live import live, start_live

__all__ = ["Result", "cli", "config_home", "live", "start_live"]


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout as exactly one compact JSON object (clients.md §1.4)."""
        return _one_compact_object(self.out)

    def err_json(self) -> Any:
        return _one_compact_object(self.err)


def _one_compact_object(text: str) -> Any:
    data = json.loads(text)
    assert isinstance(data, dict)
    assert text == json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n", text
    return data


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user config folder (XDG_CONFIG_HOME) and a clean environment."""
    home = tmp_path / "config-home"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("SKYSEND_SERVER", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home / "skysend"


@pytest.fixture
def cli(config_home: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run ``skysend <args>`` in-process; returns exit code, stdout and stderr."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
