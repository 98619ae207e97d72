"""``skysend ls`` and ``skysend config`` (local files only), and the progress renderer."""

from __future__ import annotations

import importlib.metadata
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from skysend_http.client import ProgressEvent
from skysend_http.client_cli.output import Output, format_duration
from tests.cli.conftest import Result
from tests.client.live import Live, random_file

A = "https://a.example"
B = "https://b.example"


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def upload_entry(item_id: str, server: str, age: timedelta, expire: int, **extra: Any) -> Any:
    return {
        "id": item_id, "server": server, "url": f"{server}/file/{item_id}#x",
        "ownerToken": "t", "fileNames": ["a.txt", "b.txt"], "totalSize": 1572864,
        "hasPassword": False, "createdAt": iso(-age), "expireSec": expire, **extra,
    }  # fmt: skip


def note_entry(item_id: str, server: str, age: timedelta, expire: int) -> Any:
    return {
        "id": item_id, "server": server, "url": f"{server}/note/{item_id}#x",
        "ownerToken": "t", "contentType": "password", "hasPassword": True,
        "createdAt": iso(-age), "expireSec": expire,
    }  # fmt: skip


def write_history(config_home: Path, uploads: list[Any], notes: list[Any]) -> None:
    config_home.mkdir(parents=True, exist_ok=True)
    (config_home / "history.json").write_text(json.dumps({"uploads": uploads, "notes": notes}))


def test_ls_cleans_expired_entries_and_lists_newest_first(
    cli: Callable[..., Result], config_home: Path
) -> None:
    write_history(
        config_home,
        [
            upload_entry("u1", A, timedelta(minutes=5, seconds=30), 3600, hasPassword=True),
            upload_entry("u2", A, timedelta(days=2), 86400),
            upload_entry("u3", B, timedelta(hours=3), 604800),
        ],
        [note_entry("n1", A, timedelta(hours=2, seconds=30), 86400)],
    )

    result = cli("ls", "-s", A)

    assert result.code == 0
    assert result.out == ""
    assert result.err.splitlines() == [
        "Cleaned 1 upload(s) (expired)",
        f"Server: {A}",
        "1 file(s), 1 note(s)",
        "[File]  a.txt, b.txt  1.50 MB [pw]  5m ago  expires: 54m",
        "[Note]  password [pw]  2h ago  expires: 21h",
    ]
    stored = json.loads((config_home / "history.json").read_text())
    assert [e["id"] for e in stored["uploads"]] == ["u1", "u3"]

    everything = cli("ls", "--all", "--json")
    data = json.loads(everything.out)
    assert [e["id"] for e in data["uploads"]] == ["u1", "u3"]
    assert [e["id"] for e in data["notes"]] == ["n1"]
    assert everything.out == json.dumps(data, indent=2, ensure_ascii=False) + "\n"  # pretty


def test_ls_with_nothing_to_show(cli: Callable[..., Result]) -> None:
    result = cli("ls", "-s", A)
    assert result.err.splitlines() == [
        "No uploads or notes in history.",
        f"  Server: {A}",
        "  Use --all to show entries for all servers.",
    ]


def test_ls_after_real_uploads(cli: Callable[..., Result], live: Live, tmp_path: Path) -> None:
    file = random_file(tmp_path / "x.bin", 2048)
    assert cli("upload", str(file), "-s", live.url, "-p", "pw").code == 0
    assert cli("note", "hi", "-s", live.url).code == 0
    result = cli("ls", "-s", live.url)
    lines = result.err.splitlines()
    assert lines[:2] == [f"Server: {live.url}", "1 file(s), 1 note(s)"]
    assert lines[2] == "[Note]  text  just now  expires: 23h"
    assert lines[3] == "[File]  x.bin  2.00 KB [pw]  just now  expires: 23h"


def test_config_commands(cli: Callable[..., Result], config_home: Path) -> None:
    shown = cli("config")
    assert shown.err.splitlines()[:3] == [
        f"Config file: {config_home / 'config.json'}",
        "Server: (not set)",
        "Servers: 0",
    ]
    bad = cli("config", "set-server", "not a url")
    assert (bad.code, bad.err) == (1, "Error: Invalid URL: not a url\n")

    assert cli("config", "set-server", "https://send.example.com///").err == (
        "Server set to: https://send.example.com\n"
    )
    assert json.loads((config_home / "config.json").read_text()) == {
        "server": "https://send.example.com"
    }
    shown = cli("config")
    assert "  Default (https://send.example.com) - WebSocket: on" in shown.err
    # After the legacy migration set-server still takes effect (the reference's quirk fixed).
    cli("config", "set-server", "https://other.example")
    config = json.loads((config_home / "config.json").read_text())
    assert config["defaultServer"] == config["server"] == "https://other.example"

    assert cli("config", "set", "views", "1").code == 0
    assert cli("config", "set", "colour", "red").code == 1
    assert "Default views: 1" in cli("config").err
    assert cli("config", "unset", "views").code == 0

    assert cli("config", "reset").err == "Configuration reset.\n"
    assert not (config_home / "config.json").exists()


def test_every_config_action_prints_one_json_object(
    cli: Callable[..., Result], config_home: Path
) -> None:
    path = str(config_home / "config.json")
    server = {"server": "https://send.example.com"}
    steps = [
        (("config", "set-server", "https://send.example.com/"), server),
        (("config", "set", "views", "1"), {**server, "defaults": {"views": 1}}),
        (("config", "unset", "views"), {**server, "defaults": {}}),
        (("config",), {  # showing the list migrates the legacy field, as the reference does
            **server, "defaults": {}, "defaultServer": "https://send.example.com",
            "servers": [{"name": "Default", "url": "https://send.example.com"}],
        }),
        (("config", "reset"), {}),
    ]  # fmt: skip
    for args, expected in steps:
        result = cli(*args, "--json")
        assert (result.code, result.err) == (0, ""), args
        assert result.json() == {**expected, "configFile": path}, args


def test_websocket_can_be_switched_off_per_server(
    cli: Callable[..., Result], live: Live, config_home: Path, tmp_path: Path
) -> None:
    config_home.mkdir(parents=True)
    (config_home / "config.json").write_text(
        json.dumps({"servers": [{"name": "x", "url": live.url, "websocket": False}]})
    )
    assert "WebSocket: off" in cli("config").err
    file = random_file(tmp_path / "x.bin", 100)
    assert cli("upload", str(file), "-s", live.url).code == 0


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_format() -> None:
    stderr = FakeTty()
    output = Output(json_mode=False, stdout=io.StringIO(), stderr=stderr)
    progress = output.progress()
    mib = 1024 * 1024
    progress(ProgressEvent("uploading", 0, 4 * mib))
    progress(ProgressEvent("uploading", 4 * mib, 4 * mib))
    progress.finish()
    text = stderr.getvalue()
    last = text.split("\r\x1b[K")[-1]
    assert last.startswith("Uploading " + "█" * 30 + " 100.0% 4.00 MB/4.00 MB ")
    assert "/s ETA 0s" in last
    assert text.endswith("\n")


def test_no_progress_bar_when_not_a_tty_or_json() -> None:
    for json_mode, stream in ((False, io.StringIO()), (True, FakeTty())):
        output = Output(json_mode=json_mode, stdout=io.StringIO(), stderr=stream)
        progress = output.progress()
        progress(ProgressEvent("downloading", 1, 2))
        progress(ProgressEvent("downloading", 2, 2))
        progress.finish()
        assert stream.getvalue() == ""


def test_durations() -> None:
    assert [format_duration(s) for s in (0, 59.4, 61, 3599, 3600, 7320)] == [
        "0s", "59s", "1m 01s", "59m 59s", "1h 00m", "2h 02m",
    ]  # fmt: skip


def test_version(cli: Callable[..., Result]) -> None:
    expected = importlib.metadata.version("skysend")
    for flag in ("--version", "-V"):
        result = cli(flag)
        assert (result.code, result.out, result.err) == (0, f"{expected}\n", "")
