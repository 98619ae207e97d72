"""``skysend note`` and ``skysend note:view`` against a live server."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from skysend_core.crypto import b64url_encode, parse_share_url
from skysend_http.client import Client, IntegrityError
from tests.cli.conftest import Result
from tests.client.live import Live

SSH_TEXT = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG me@host\n\n"
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n-----END OPENSSH PRIVATE KEY-----\n\n"
    "Passphrase: open sesame"
)


def create(cli: Callable[..., Result], *args: str) -> dict[str, object]:
    result = cli("note", *args, "--json")
    assert result.code == 0, result.err
    data: dict[str, object] = result.json()
    return data


def view(cli: Callable[..., Result], url: object, *args: str) -> dict[str, object]:
    result = cli("note:view", str(url), *args, "--json")
    assert result.code == 0, result.err
    data: dict[str, object] = result.json()
    return data


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("text", "héllo\nworld", "héllo\nworld"),
        ("markdown", "# T\n\n* a", "# T\n\n* a"),
        ("sshkey", SSH_TEXT, SSH_TEXT),
        ("password", "hunter2", '[{"label":"","value":"hunter2"}]'),
        ("password", "one\n\ntwo", '[{"label":"","value":"one"},{"label":"","value":"two"}]'),
        ("code", "x = 1", '[{"title":"","language":"auto","code":"x = 1"}]'),
        (
            "code",
            '[{"title":"t","language":"go","code":"c"}]',
            '[{"title":"t","language":"go","code":"c"}]',
        ),
    ],
)
def test_every_note_type(
    cli: Callable[..., Result], live: Live, kind: str, text: str, expected: str
) -> None:
    note = create(cli, text, "-t", kind, "-s", live.url)
    assert set(note) == {"id", "url", "ownerToken", "type", "expires", "maxViews", "hasPassword"}
    assert (note["type"], note["expires"], note["maxViews"]) == (kind, 86400, 0)

    shown = view(cli, note["url"])

    assert shown == {
        "id": note["id"],
        "type": kind,
        "content": expected,
        "viewCount": 1,
        "maxViews": 0,
    }


def test_human_output_and_plain_view(cli: Callable[..., Result], live: Live) -> None:
    created = cli("note", "two", "words", "-s", live.url, "-v", "2", "-e", "1h")
    assert created.code == 0, created.err
    assert created.out == ""
    lines = created.err.splitlines()
    assert lines[0] == "Encrypting note..."
    assert lines[3] == "Type: text | Expires: 1 hours | Views: 2"
    url = lines[2].removeprefix("Share URL: ")

    shown = cli("note:view", url)
    assert (shown.code, shown.out) == (0, "two words")


def test_content_from_a_file_and_from_stdin(
    cli: Callable[..., Result], live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "main.py"
    script.write_text("print('hi')\n")
    from_file = create(cli, "-f", str(script), "-t", "code", "--language", "python", "-s", live.url)
    blocks = json.loads(str(view(cli, from_file["url"])["content"]))
    assert blocks == [{"title": "main.py", "language": "python", "code": "print('hi')\n"}]

    monkeypatch.setattr("sys.stdin", io.StringIO("piped ü\n"))
    from_stdin = create(cli, "-s", live.url)
    assert view(cli, from_stdin["url"])["content"] == "piped ü\n"


def test_burn_after_reading(cli: Callable[..., Result], live: Live) -> None:
    note = create(cli, "once", "-v", "1", "-e", "5m", "-s", live.url)
    assert note["maxViews"] == 1
    assert note["expires"] == 300
    assert view(cli, note["url"])["content"] == "once"
    again = cli("note:view", str(note["url"]))
    assert again.code == 2
    assert again.err == "Error: View limit reached (HTTP 410)\n"


def test_password_note(cli: Callable[..., Result], live: Live) -> None:
    note = create(cli, "classified", "-p", "pw", "-s", live.url)
    assert note["hasPassword"] is True
    share = parse_share_url(str(note["url"]))

    wrong = cli("note:view", str(note["url"]), "-p", "nope")

    assert wrong.code == 3
    assert wrong.err == "Error: Invalid password (HTTP 401)\n"
    with Client(live.url) as client:
        assert client.note_info(share.item_id).view_count == 0
    assert view(cli, note["url"], "-p", "pw")["content"] == "classified"


def forged(url: object) -> str:
    """The same share URL with another (valid-looking) key."""
    return str(url).split("#")[0] + "#" + b64url_encode(os.urandom(32))


def test_a_wrong_link_exits_3(cli: Callable[..., Result], live: Live) -> None:
    note = create(cli, "for the right link only", "-s", live.url)
    share = parse_share_url(str(note["url"]))

    wrong = cli("note:view", forged(note["url"]))
    as_json = cli("note:view", forged(note["url"]), "--json")

    assert wrong.code == as_json.code == 3
    assert wrong.out == as_json.out == ""
    assert wrong.err == (
        "Error: Wrong link: the server refused its key (was the whole URL copied?) (HTTP 401)\n"
    )
    assert as_json.err_json() == {
        "error": "Wrong link: the server refused its key (was the whole URL copied?)",
        "status": 401,
    }
    with Client(live.url) as client:
        assert client.note_info(share.item_id).view_count == 0
    assert view(cli, note["url"])["content"] == "for the right link only"


def test_a_wrong_link_to_a_password_note_reads_as_a_wrong_password(
    cli: Callable[..., Result], live: Live
) -> None:
    note = create(cli, "classified", "-p", "pw", "-s", live.url)
    wrong = cli("note:view", forged(note["url"]), "-p", "pw")
    assert (wrong.code, wrong.err) == (3, "Error: Invalid password (HTTP 401)\n")


@pytest.mark.parametrize("column", ["encrypted_content", "nonce"])
def test_a_note_tampered_with_on_the_server_exits_3(
    cli: Callable[..., Result], live: Live, column: str
) -> None:
    note = create(cli, "stored in the database", "-s", live.url)
    with contextlib.closing(sqlite3.connect(live.data_dir / "db" / "skysend.db")) as db, db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM notes WHERE id = ?", (note["id"],)).fetchone()
        stored = {key: bytes(row[key]) for key in ("encrypted_content", "nonce")}
        stored[column] = bytes([stored[column][0] ^ 0x01]) + bytes(stored[column][1:])
        update = "UPDATE notes SET encrypted_content = ?, nonce = ? WHERE id = ?"
        db.execute(update, (stored["encrypted_content"], stored["nonce"], note["id"]))

    plain = cli("note:view", str(note["url"]))
    as_json = cli("note:view", str(note["url"]), "--json")

    assert plain.code == as_json.code == 3
    assert plain.out == as_json.out == ""
    assert plain.err == f"Error: {IntegrityError()}\n"
    assert as_json.err_json() == {"error": str(IntegrityError())}


def test_no_password_on_a_non_interactive_terminal(cli: Callable[..., Result], live: Live) -> None:
    note = create(cli, "classified", "-p", "pw", "-s", live.url)
    result = cli("note:view", str(note["url"]))
    assert result.code == 1
    assert result.err.startswith("Error: Password is required for this note")


def test_note_view_aliases(cli: Callable[..., Result], live: Live) -> None:
    note = create(cli, "alias", "-s", live.url)
    spaced = cli("note", "view", str(note["url"]), "--json")
    assert spaced.code == 0, spaced.err
    assert spaced.json()["content"] == "alias"
    dashed = cli("note-view", str(note["url"]), "--json")
    assert dashed.json()["viewCount"] == 2


def test_note_view_only_with_a_share_url(cli: Callable[..., Result], live: Live) -> None:
    for words in (["view", "later"], ["view", "https://example.com/about"]):
        note = create(cli, *words, "-s", live.url, "-t", "markdown")
        assert note["type"] == "markdown"
        assert view(cli, note["url"])["content"] == " ".join(words)


def test_note_view_refuses_creation_options(cli: Callable[..., Result], live: Live) -> None:
    note = create(cli, "keep", "-s", live.url)
    share = parse_share_url(str(note["url"]))
    for extra in (
        ["-t", "code"],
        ["-e", "1h"],
        ["-v", "0"],
        ["-s", live.url],
        ["--language", "go"],
    ):
        result = cli("note", "view", str(note["url"]), *extra)
        assert result.code == 1, extra
        assert result.err.startswith("Error: 'note view <url>' views a note; "), result.err
        assert "only apply when creating one" in result.err
    with Client(live.url) as client:
        assert client.note_info(share.item_id).view_count == 0
    assert view(cli, note["url"])["content"] == "keep"


def test_note_errors(
    cli: Callable[..., Result], start_live: Callable[..., Live], tmp_path: Path
) -> None:
    live = start_live(NOTE_MAX_SIZE="1KB")
    too_large = cli("note", "x" * 1025, "-s", live.url)
    assert (too_large.code, too_large.err) == (
        1,
        "Error: Note too large (1025 bytes). Max: 1.00 KB\n",
    )
    bad_type = cli("note", "x", "-t", "poem", "-s", live.url)
    assert bad_type.code == 1
    assert bad_type.err.startswith("Error: Invalid content type: poem. Options: text, markdown")
    bad_views = cli("note", "x", "-v", "4", "-s", live.url)
    assert bad_views.code == 1
    assert "Invalid view count" in bad_views.err
    file = tmp_path / "f"
    file.write_bytes(b"1")
    up = cli("upload", str(file), "-s", live.url, "--json")
    file_url = up.json()["url"]
    wrong_kind = cli("note:view", file_url)
    assert wrong_kind.code == 1
    assert wrong_kind.err == (
        "Error: This URL is a file, not a note. Use 'skysend download' instead.\n"
    )


def test_delete_a_note_from_history(cli: Callable[..., Result], live: Live) -> None:
    note = create(cli, "temp", "-s", live.url)
    deleted = cli("delete", str(note["url"]), "--json")
    assert deleted.json() == {"deleted": True, "id": note["id"], "type": "note"}
    gone = cli("note:view", str(note["url"]))
    assert (gone.code, gone.err) == (2, "Error: Note not found (HTTP 404)\n")
