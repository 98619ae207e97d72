"""``skysend info <url>`` against a live server: it shows, and consumes nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from skysend_core.crypto import b64url_encode, encrypted_size
from tests.cli.conftest import Result
from tests.client.live import Live, random_file

MIB = 1024 * 1024


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return random_file(tmp_path / "report.pdf", 3 * MIB + 333)


def created(cli: Callable[..., Result], *args: str) -> dict[str, object]:
    result = cli(*args, "--json")
    assert result.code == 0, result.err
    data: dict[str, object] = result.json()
    return data


def without_key(url: object) -> str:
    return str(url).split("#")[0]


def test_file_info_shows_names_and_consumes_no_download(
    cli: Callable[..., Result], live: Live, source: Path, tmp_path: Path
) -> None:
    up = created(cli, "upload", str(source), "-s", live.url, "-d", "1")
    size = source.stat().st_size

    info = cli("info", str(up["url"]), "--json")

    assert info.code == 0, info.err
    data = info.json()
    assert data == {
        "type": "file",
        "id": up["id"],
        "size": size,
        "encryptedSize": encrypted_size(size),
        "fileCount": 1,
        "downloadCount": 0,
        "maxDownloads": 1,
        "hasPassword": False,
        "expiresAt": data["expiresAt"],
        "createdAt": data["createdAt"],
        "files": [{"name": "report.pdf", "size": size}],
    }
    assert str(data["expiresAt"]) > str(data["createdAt"])
    human = cli("info", str(up["url"]))
    assert (human.code, human.out) == (0, "")
    lines = human.err.splitlines()
    assert lines[:4] == [
        f"File: {up['id']}",
        "Name: report.pdf",
        "Size: 3.00 MB | Files: 1",
        "Downloads: 0 of 1",
    ]
    assert lines[4] == f"Expires: {data['expiresAt']} (in 23h)"
    assert lines[5:] == [f"Created: {data['createdAt']}", "Password protected: no"]
    # The only download allowed is still there.
    assert cli("download", str(up["url"]), "-o", str(tmp_path / "copy.pdf")).code == 0


def test_archive_info_lists_the_files(
    cli: Callable[..., Result], live: Live, source: Path, tmp_path: Path
) -> None:
    other = random_file(tmp_path / "notes.txt", 1234)
    up = created(cli, "upload", str(source), str(other), "-s", live.url)
    data = cli("info", str(up["url"]), "--json").json()
    assert data["fileCount"] == 2
    assert data["size"] == up["size"]  # the ZIP's size
    assert data["files"] == [
        {"name": "report.pdf", "size": source.stat().st_size},
        {"name": "notes.txt", "size": 1234},
    ]
    lines = cli("info", str(up["url"])).err.splitlines()
    assert lines[1:4] == ["Archive of 2 files:", "  report.pdf (3.00 MB)", "  notes.txt (1.21 KB)"]


def test_password_protected_file_shows_names_only_with_the_password(
    cli: Callable[..., Result], live: Live, source: Path
) -> None:
    up = created(cli, "upload", str(source), "-s", live.url, "-p", "pw")

    locked = cli("info", str(up["url"]), "--json")
    assert locked.code == 0, locked.err
    assert locked.json()["hasPassword"] is True
    assert locked.json()["files"] is None
    human = cli("info", str(up["url"]))
    assert "Names: (password protected: give -p to show them)" in human.err.splitlines()
    assert "Password protected: yes" in human.err.splitlines()

    opened = cli("info", str(up["url"]), "-p", "pw", "--json")
    assert opened.json()["files"] == [{"name": "report.pdf", "size": source.stat().st_size}]

    wrong = cli("info", str(up["url"]), "-p", "nope")
    assert (wrong.code, wrong.err) == (3, "Error: Invalid password (HTTP 401)\n")
    after = cli("info", str(up["url"]), "--json").json()
    assert after["downloadCount"] == 0


def test_a_link_without_its_key_shows_the_server_facts(
    cli: Callable[..., Result], live: Live, source: Path
) -> None:
    up = created(cli, "upload", str(source), "-s", live.url)
    data = cli("info", without_key(up["url"]), "--json").json()
    assert (data["id"], data["files"], data["size"]) == (up["id"], None, source.stat().st_size)
    human = cli("info", without_key(up["url"]))
    assert "Names: (the link carries no key)" in human.err.splitlines()


def test_a_file_link_with_a_wrong_key_exits_3(
    cli: Callable[..., Result], live: Live, source: Path
) -> None:
    up = created(cli, "upload", str(source), "-s", live.url)
    forged = without_key(up["url"]) + "#" + b64url_encode(os.urandom(32))
    result = cli("info", forged)
    assert result.code == 3
    assert result.err.startswith("Error: decryption failed")


def test_note_info_consumes_no_view(cli: Callable[..., Result], live: Live) -> None:
    note = created(cli, "note", "# once", "-t", "markdown", "-v", "1", "-s", live.url)

    info = cli("info", str(note["url"]), "--json")

    assert info.code == 0, info.err
    data = info.json()
    assert data == {
        "type": "note",
        "id": note["id"],
        "contentType": "markdown",
        "viewCount": 0,
        "maxViews": 1,
        "hasPassword": False,
        "expiresAt": data["expiresAt"],
        "createdAt": data["createdAt"],
    }
    lines = cli("info", without_key(note["url"])).err.splitlines()
    assert lines[:3] == [f"Note: {note['id']}", "Type: markdown", "Views: 0 of 1"]
    assert lines[-1] == "Password protected: no"
    # The single view is still there.
    assert cli("note:view", str(note["url"])).out == "# once"


def test_password_note_info(cli: Callable[..., Result], live: Live) -> None:
    note = created(cli, "note", "secret", "-p", "pw", "-s", live.url)
    data = cli("info", str(note["url"]), "--json").json()
    assert (data["hasPassword"], data["viewCount"], data["maxViews"]) == (True, 0, 0)
    assert "Views: 0 of unlimited" in cli("info", str(note["url"])).err.splitlines()
    with_password = cli("info", str(note["url"]), "-p", "pw")
    assert with_password.code == 1
    assert with_password.err == (
        "Error: -p/--password applies to file links only (a note shows no content)\n"
    )


def test_missing_and_used_up_items_exit_2(
    cli: Callable[..., Result], live: Live, source: Path, tmp_path: Path
) -> None:
    unknown = "0f8fad5b-d9cb-469f-a165-70867728950e"
    for kind, message in (("file", "Upload not found"), ("note", "Note not found")):
        missing = cli("info", f"{live.url}/{kind}/{unknown}", "--json")
        assert missing.code == 2
        assert missing.err_json() == {"error": message, "status": 404}

    up = created(cli, "upload", str(source), "-s", live.url, "-d", "1")
    assert cli("download", str(up["url"]), "-o", str(tmp_path / "once.pdf")).code == 0
    used = cli("info", str(up["url"]))
    assert (used.code, used.err) == (2, "Error: Download limit reached (HTTP 410)\n")

    note = created(cli, "note", "gone", "-v", "1", "-s", live.url)
    assert cli("note:view", str(note["url"])).code == 0
    burned = cli("info", str(note["url"]))
    assert (burned.code, burned.err) == (2, "Error: View limit reached (HTTP 410)\n")


def test_info_needs_a_share_url(cli: Callable[..., Result], live: Live) -> None:
    result = cli("info", f"{live.url}/about")
    assert result.code == 1
    assert result.err == "Error: share URL path must be /file/<id> or /note/<id>\n"
