"""``skysend upload | download | delete`` against a live server."""

from __future__ import annotations

import json
import os
import re
import select
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from skysend_core.crypto import (
    ENCRYPTED_RECORD_SIZE,
    NONCE_LENGTH,
    b64url_encode,
    derive_owner_token,
    parse_share_url,
)
from skysend_http.client import Client
from tests.cli.conftest import Result
from tests.client.live import Live, listing, random_file, same_content

MIB = 1024 * 1024


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return random_file(tmp_path / "report.pdf", 3 * MIB + 333)


def upload_json(cli: Callable[..., Result], *args: str) -> dict[str, object]:
    result = cli("upload", *args, "--json")
    assert result.code == 0, result.err
    data: dict[str, object] = result.json()
    return data


@pytest.mark.parametrize("transport", [[], ["--no-ws"], ["--transport", "single"]])
def test_upload_then_download_round_trip(
    cli: Callable[..., Result],
    live: Live,
    source: Path,
    tmp_path: Path,
    config_home: Path,
    transport: list[str],
) -> None:
    up = upload_json(cli, str(source), "--server", live.url, *transport)
    assert set(up) == {
        "id", "url", "ownerToken", "size", "encryptedSize", "fileCount", "expires",
        "maxDownloads", "hasPassword", "expiresAt",
    }  # fmt: skip
    assert (up["size"], up["fileCount"], up["expires"], up["maxDownloads"]) == (
        source.stat().st_size, 1, 86400, 1,
    )  # fmt: skip
    assert up["hasPassword"] is False
    out = tmp_path / "out"
    out.mkdir()

    down = cli("download", str(up["url"]), "-o", str(out), "--json")

    assert down.code == 0, down.err
    assert down.json() == {
        "id": up["id"],
        "file": str(out / "report.pdf"),
        "size": source.stat().st_size,
        "name": "report.pdf",
        "fileCount": 1,
    }
    assert same_content(out / "report.pdf", source)
    history = json.loads((config_home / "history.json").read_text())
    entry = history["uploads"][0]
    assert entry["id"] == up["id"]
    assert entry["ownerToken"] == up["ownerToken"]
    assert entry["ownerSecret"]
    assert entry["fileNames"] == ["report.pdf"]
    assert stat.S_IMODE((config_home / "history.json").stat().st_mode) == 0o600


def test_human_output_goes_to_stderr(
    cli: Callable[..., Result], live: Live, source: Path, tmp_path: Path
) -> None:
    up = cli("upload", str(source), "-s", live.url, "-e", "1h", "-d", "3")
    assert up.code == 0, up.err
    assert up.out == ""
    lines = up.err.splitlines()
    assert lines[:2] == ["Preparing encryption...", "Upload complete."]
    assert lines[2] == ""
    assert lines[3].startswith(f"Share URL: {live.url}/file/")
    assert lines[4].startswith(
        "Files: 1 | Size: 3.00 MB | Expires: 1 hours | Downloads: 3 | Avg speed: "
    )
    url = lines[3].removeprefix("Share URL: ")

    target = tmp_path / "new" / "dir" / "copy.pdf"
    down = cli("download", url, "-o", str(target))
    assert down.code == 0, down.err
    assert down.out == ""
    assert down.err.splitlines()[:4] == [
        "Fetching file info...",
        "Deriving keys...",
        f"Downloading to: {target}",
        "Download complete.",
    ]
    assert down.err.splitlines()[4].startswith(f"Saved: {target} (3.00 MB) | Avg speed: ")
    assert same_content(target, source)


def test_several_files_with_a_password(
    cli: Callable[..., Result], live: Live, source: Path, tmp_path: Path
) -> None:
    other = random_file(tmp_path / "b.txt", 1234)
    up = cli("upload", str(source), str(other), "-s", live.url, "-p", "s3cret")
    assert up.code == 0, up.err
    assert up.err.splitlines()[:4] == [
        "Packing files...",
        "Packing complete.",
        "Preparing encryption...",
        "Upload complete.",
    ]
    assert "Files: 2 |" in up.err
    assert "Password protected: yes" in up.err
    url = next(line for line in up.err.splitlines() if line.startswith("Share URL: "))[11:]
    out = tmp_path / "out"
    out.mkdir()

    down = cli("download", url, "-o", str(out), "-p", "s3cret")

    assert down.code == 0, down.err
    assert "Archive contains 2 files" in down.err
    assert listing(out) == ["archive.zip"]


def test_wrong_password_exits_3_and_consumes_nothing(
    cli: Callable[..., Result], live: Live, source: Path, tmp_path: Path
) -> None:
    up = upload_json(cli, str(source), "-s", live.url, "-p", "right")
    out = tmp_path / "out"
    out.mkdir()

    wrong = cli("download", str(up["url"]), "-o", str(out), "-p", "wrong")

    assert wrong.code == 3
    assert wrong.err.splitlines()[-1] == "Error: Invalid password (HTTP 401)"
    assert listing(out) == []
    with Client(live.url) as client:
        assert client.info(str(up["id"])).download_count == 0
    right = cli("download", str(up["url"]), "-o", str(out), "-p", "right")
    assert right.code == 0, right.err


@pytest.mark.parametrize("damage", ["tamper", "truncate-at-record", "truncate"])
def test_damaged_download_exits_3_without_output(
    cli: Callable[..., Result], live: Live, source: Path, tmp_path: Path, damage: str
) -> None:
    up = upload_json(cli, str(source), "-s", live.url)
    blob = live.blob(str(up["id"]))
    with blob.open("r+b") as file:
        if damage == "tamper":
            file.seek(MIB)
            byte = file.read(1)
            file.seek(MIB)
            file.write(bytes([byte[0] ^ 0x80]))
        elif damage == "truncate-at-record":
            file.truncate(NONCE_LENGTH + 8 * ENCRYPTED_RECORD_SIZE)
        else:
            file.truncate(blob.stat().st_size - 1000)
    out = tmp_path / "out"
    out.mkdir()

    result = cli("download", str(up["url"]), "-o", str(out), "--json")

    assert result.code == 3
    assert result.out == ""
    assert "decryption failed" in result.err_json()["error"]
    assert listing(out) == []


@pytest.mark.parametrize("failure", ["tamper", "truncate", "wrong-password"])
def test_a_failed_download_leaves_no_folders_it_created(
    cli: Callable[..., Result], live: Live, source: Path, tmp_path: Path, failure: str
) -> None:
    up = upload_json(cli, str(source), "-s", live.url, "-p", "pw")
    blob = live.blob(str(up["id"]))
    with blob.open("r+b") as file:
        if failure == "tamper":
            file.seek(MIB)
            byte = file.read(1)
            file.seek(MIB)
            file.write(bytes([byte[0] ^ 0x01]))
        elif failure == "truncate":
            file.truncate(blob.stat().st_size - 1000)
    existing = tmp_path / "existing"
    existing.mkdir()
    password = "wrong" if failure == "wrong-password" else "pw"

    result = cli("download", str(up["url"]), "-o", str(existing / "new" / "deep" / "x.bin"),
                 "-p", password)  # fmt: skip

    assert result.code == 3, result.err
    assert listing(existing) == []  # "new" and "new/deep" were removed, "existing" kept


def test_delete_uses_the_owner_token_from_history(
    cli: Callable[..., Result], live: Live, source: Path
) -> None:
    up = upload_json(cli, str(source), "-s", live.url)
    url = str(up["url"])
    share = parse_share_url(url)
    with Client(live.url) as client:
        salt = client.info(share.item_id).salt
    from_link = b64url_encode(derive_owner_token(share.secret, salt))

    refused = cli("delete", url, from_link)
    assert refused.code == 2
    assert refused.err == "Error: Invalid or missing owner token (HTTP 401)\n"

    deleted = cli("delete", url)
    assert (deleted.code, deleted.err) == (0, f"Deleted file: {up['id']}\n")
    gone = cli("download", url, "--json")
    assert gone.code == 2
    assert gone.err_json() == {"error": "Upload not found", "status": 404}


def test_delete_with_an_explicit_token_and_without_history(
    cli: Callable[..., Result], live: Live, source: Path, config_home: Path
) -> None:
    up = upload_json(cli, str(source), "-s", live.url)
    (config_home / "history.json").unlink()

    missing = cli("delete", str(up["url"]))
    assert missing.code == 1
    assert "No owner token" in missing.err

    deleted = cli("delete", str(up["url"]), str(up["ownerToken"]), "--json")
    assert deleted.code == 0
    assert deleted.json() == {"deleted": True, "id": up["id"], "type": "file"}


def test_usage_errors_exit_1(cli: Callable[..., Result], live: Live, tmp_path: Path) -> None:
    file = random_file(tmp_path / "f.bin", 10)
    cases = {
        ("upload", str(tmp_path / "nope"), "-s", live.url): "Error: File not found: ",
        ("upload", str(tmp_path), "-s", live.url): "Error: Not a file: ",
        ("upload", str(file), "-s", live.url, "-e", "5x"): "Error: Invalid duration: 5x",
        ("upload", str(file), "-s", live.url, "-e", "2m"): (
            "Error: Invalid expiry. Options: 300s, 3600s, 86400s, 604800s"
        ),
        ("upload", str(file), "-s", live.url, "-d", "7"): "Error: Invalid download count.",
        ("upload", str(file)): "Error: No server configured. Use --server <url>",
        ("download", f"{live.url}/nothing/x#abc"): "Error: share URL path",
        ("upload",): "the following arguments are required",
    }
    for args, message in cases.items():
        result = cli(*args)
        assert result.code == 1, (args, result.err)
        assert message in result.err, (args, result.err)


def test_a_note_url_is_not_downloadable(cli: Callable[..., Result], live: Live) -> None:
    note = cli("note", "hello", "-s", live.url, "--json")
    result = cli("download", note.json()["url"])
    assert result.code == 1
    assert result.err == (
        "Error: This URL is a note, not a file. Use 'skysend note:view' instead.\n"
    )


def test_unreachable_server_exits_2(cli: Callable[..., Result], source: Path) -> None:
    from tests.support.servers import free_port

    result = cli("upload", str(source), "-s", f"http://127.0.0.1:{free_port()}", "--json")
    assert result.code == 2
    assert set(result.err_json()) == {"error"}


def test_server_resolution_order(
    cli: Callable[..., Result],
    start_live: Callable[..., Live],
    source: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configured, from_env, from_flag = start_live(), start_live(), start_live()
    assert cli("config", "set-server", configured.url + "/").code == 0
    assert str(upload_json(cli, str(source))["url"]).startswith(configured.url + "/file/")
    monkeypatch.setenv("SKYSEND_SERVER", from_env.url + "/")
    assert str(upload_json(cli, str(source))["url"]).startswith(from_env.url + "/file/")
    up = upload_json(cli, str(source), "-s", from_flag.url)
    assert str(up["url"]).startswith(from_flag.url + "/file/")


def test_config_defaults_apply_to_uploads(
    cli: Callable[..., Result], live: Live, source: Path
) -> None:
    assert cli("config", "set", "expires", "1h").code == 0
    assert cli("config", "set", "downloads", "5").code == 0
    up = upload_json(cli, str(source), "-s", live.url)
    assert (up["expires"], up["maxDownloads"]) == (3600, 5)
    up = upload_json(cli, str(source), "-s", live.url, "-e", "5m", "-d", "2")
    assert (up["expires"], up["maxDownloads"]) == (300, 2)


def installed_script() -> Path:
    """The ``skysend`` console script installed next to this interpreter."""
    script = Path(sys.executable).with_name("skysend")
    if not script.is_file():
        pytest.skip("the skysend console script is not installed next to the interpreter")
    return script


def test_the_installed_entry_point(live: Live, source: Path, tmp_path: Path) -> None:
    skysend = str(installed_script())
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "SKYSEND_SERVER": live.url}
    up = subprocess.run(
        [skysend, "upload", str(source), "--json"],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    url = json.loads(up.stdout)["url"]
    down = subprocess.run(
        [skysend, "download", url, "-o", str(tmp_path / "x")],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert down.returncode == 0, down.stderr
    assert same_content(tmp_path / "x", source)
    again = subprocess.run(
        [skysend, "download", url],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert again.returncode == 2
    assert again.stderr.endswith("Error: Download limit reached (HTTP 410)\n")


SIZE = r"\d+(?:\.\d+)? (?:B|KB|MB|GB|TB)"
PROGRESS_LINE = re.compile(
    rf"\r\x1b\[K(?P<label>Uploading|Downloading) (?P<bar>[█░]{{30}}) "
    rf"(?P<percent>\d{{1,3}}\.\d)% (?P<done>{SIZE})/(?P<total>{SIZE}) {SIZE}/s "
    rf"ETA (?:\d+s|\d+m \d\ds|\d+h \d\dm)"
)


def run_on_a_terminal(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run ``skysend`` with its stderr on a pseudo-terminal; returns (status, stderr text)."""
    controller, terminal = os.openpty()
    try:
        process = subprocess.Popen(
            [str(installed_script()), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=terminal, env=env,
        )  # fmt: skip
    finally:
        os.close(terminal)
    received = bytearray()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if not ready:
                continue
            try:
                piece = os.read(controller, 65536)
            except OSError:  # EIO: the child closed the terminal (it exited)
                break
            if not piece:
                break
            received += piece
    finally:
        os.close(controller)
    return process.wait(30), received.decode("utf-8", errors="replace")


def test_progress_bars_on_a_terminal(live: Live, source: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "SKYSEND_SERVER": live.url}

    code, up = run_on_a_terminal("upload", str(source), "--no-ws", env=env)
    assert code == 0, up
    url = re.search(r"Share URL: (\S+)", up)
    assert url is not None, up
    code, down = run_on_a_terminal("download", url.group(1), "-o", str(tmp_path / "x"), env=env)
    assert code == 0, down

    for label, text in (("Uploading", up), ("Downloading", down)):
        lines = [m for m in PROGRESS_LINE.finditer(text) if m["label"] == label]
        assert lines, text
        last = lines[-1]
        assert (last["bar"], last["percent"]) == ("█" * 30, "100.0"), text
        assert last["done"] == last["total"] == "3.00 MB"
        assert text.count("\x1b[K") == len(PROGRESS_LINE.findall(text))  # every redraw matches
    assert same_content(tmp_path / "x", source)
