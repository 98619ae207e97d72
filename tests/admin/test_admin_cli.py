"""``skysend-cli`` (clients.md Part 3) on a real SQLite file and a real uploads folder.

The data is made by the real server over HTTP; "time passing" is simulated by moving an
expiry into the past in the database, as another process could.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from skysend_http.admin_cli import main
from tests.support import files_api
from tests.support.files_api import Stored, query, stored_files, write_db
from tests.support.servers import running_app

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z")
CREATED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


@attrs.frozen
class Result:
    code: int
    out: str
    err: str


@attrs.define
class Site:
    """A running server on a data folder, and the admin CLI pointed at the same folder."""

    data_dir: Path
    client: httpx.Client
    capsys: pytest.CaptureFixture[str]

    @property
    def env(self) -> dict[str, str]:
        return {"BASE_URL": "https://send.example.com", "DATA_DIR": str(self.data_dir)}

    def cli(self, *argv: str, **env: str) -> Result:
        self.capsys.readouterr()
        code = main(list(argv), {**self.env, **env})
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def upload(self, size: int = 1000, **options: Any) -> Stored:
        return files_api.upload(self.client, size=size, **options)

    def note(self, **fields: Any) -> tuple[str, str]:
        """A note created over HTTP; its id and auth token."""
        auth = _b64u(secrets.token_bytes(32))
        body = {
            "encryptedContent": base64.b64encode(secrets.token_bytes(100)).decode(),
            "nonce": base64.b64encode(secrets.token_bytes(12)).decode(),
            "salt": _b64u(secrets.token_bytes(32)),
            "ownerToken": _b64u(secrets.token_bytes(32)),
            "authToken": auth,
            "contentType": "text",
            "maxViews": 0,
            "expireSec": 3600,
            **fields,
        }
        response = self.client.post("/api/note", json=body)
        assert response.status_code == 201, response.text
        return response.json()["id"], auth

    def view(self, note_id: str, auth: str) -> None:
        response = self.client.post(f"/api/note/{note_id}/view", json={"authToken": auth})
        assert response.status_code == 200, response.text

    def download(self, stored: Stored) -> None:
        assert files_api.download(self.client, stored).status_code == 200

    def expire(self, table: str, item_id: str) -> None:
        """Let the item's time run out."""
        sql = f"UPDATE {table} SET expires_at = expires_at - 7200 WHERE id = ?"  # noqa: S608
        write_db(self.data_dir, sql, (item_id,))

    def rows(self, table: str) -> set[str]:
        return {str(row[0]) for row in query(self.data_dir, f"SELECT id FROM {table}")}  # noqa: S608

    def blobs(self) -> set[str]:
        return {name for name in stored_files(self.data_dir) if name.endswith(".bin")}


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Site]:
    data_dir = tmp_path / "data"
    with running_app(data_dir) as url, httpx.Client(base_url=url) as client:
        yield Site(data_dir, client, capsys)


# -- list ------------------------------------------------------------------------------


def test_list_shows_active_uploads_and_notes_as_tables(site: Site) -> None:
    first = site.upload(1000, file_count=3, max_downloads=2)
    second = site.upload(2 * 1024 * 1024 + 300_000, max_downloads=5)
    site.download(second)
    unlimited, _ = site.note(contentType="code")
    limited, auth = site.note(maxViews=3)
    site.view(limited, auth)

    result = site.cli("list")

    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    uploads_at, notes_at = lines.index("Uploads"), lines.index("Notes")
    assert re.split(r"\s{2,}", lines[uploads_at + 1]) == [
        "ID",
        "Size",
        "Files",
        "DLs",
        "Expires",
        "Created",
    ]
    assert set(lines[uploads_at + 2]) == {"-", " "}
    rows = [re.split(r"\s{2,}", line) for line in lines[uploads_at + 3 : uploads_at + 5]]
    # Newest first: the second upload was made last.
    assert [row[:5] for row in rows] == [
        [second.id, "2.3 MB", "1", "1/5", "59m"],
        [first.id, "1000 B", "3", "0/2", "59m"],
    ]
    assert all(CREATED.fullmatch(row[5]) for row in rows)
    assert lines[uploads_at + 5] == "2 upload(s)"
    assert re.split(r"\s{2,}", lines[notes_at + 1]) == ["ID", "Type", "Views", "Expires", "Created"]
    notes = [re.split(r"\s{2,}", line) for line in lines[notes_at + 3 : notes_at + 5]]
    assert [row[:4] for row in notes] == [
        [limited, "text", "1/3", "59m"],
        [unlimited, "code", "0 / ∞", "59m"],
    ]
    assert lines[notes_at + 5] == "2 note(s)"
    assert uploads_at < notes_at


def test_columns_are_padded_to_the_widest_cell(site: Site) -> None:
    site.upload(5)
    site.upload(150 * 1024 * 1024 // 100)
    lines = site.cli("list").out.splitlines()
    header, dashes, *rows = lines[1:5]
    assert len(rows) == 2
    size_column = header.index("Size")
    assert {row[size_column - 2 : size_column] for row in rows} == {"  "}
    assert dashes.split("  ")[0] == "-" * 36
    assert len(dashes.split("  ")[1]) == len("1.5 MB")


def test_list_leaves_out_exhausted_and_expired_items_unless_all(site: Site) -> None:
    active = site.upload()
    downloaded = site.upload(max_downloads=1)
    site.download(downloaded)
    expired = site.upload()
    site.expire("uploads", expired.id)
    active_note, _ = site.note()
    burned, auth = site.note(maxViews=1)
    site.view(burned, auth)
    expired_note, _ = site.note()
    site.expire("notes", expired_note)

    shown = site.cli("list").out
    assert active.id in shown
    assert active_note in shown
    for hidden in (downloaded.id, expired.id, burned, expired_note):
        assert hidden not in shown
    assert "1 upload(s)" in shown
    assert "1 note(s)" in shown

    everything = site.cli("list", "--all").out
    for item in (active.id, downloaded.id, expired.id, active_note, burned, expired_note):
        assert item in everything
    assert "3 upload(s)" in everything
    assert "3 note(s)" in everything
    assert re.search(rf"{expired.id}  .*  expired  ", everything)
    assert re.search(rf"{burned}  text  1/1  ", everything)


def test_a_section_without_rows_is_left_out(site: Site) -> None:
    site.note()
    lines = site.cli("list").out.splitlines()
    assert "Uploads" not in lines
    assert lines[0] == "Notes"
    assert lines[-1] == "1 note(s)"


def test_list_with_nothing_to_show(site: Site) -> None:
    assert site.cli("list").out == "No active uploads or notes. Use --all to include expired.\n"
    assert site.cli("list", "-a").out == "No uploads or notes found.\n"
    expired = site.upload()
    site.expire("uploads", expired.id)
    assert site.cli("list").out == "No active uploads or notes. Use --all to include expired.\n"
    assert expired.id in site.cli("list", "--all").out


def test_list_json_shapes_without_any_secret(site: Site) -> None:
    password_salt = _b64u(secrets.token_bytes(16))
    stored = site.upload(1234, file_count=2, max_downloads=3, password_salt=password_salt)
    site.download(stored)
    note_id, auth = site.note(contentType="markdown", maxViews=0)

    result = site.cli("list", "--json")

    assert result.code == 0
    assert result.out.startswith('{\n  "uploads": [\n')  # pretty-printed
    data = json.loads(result.out)
    [upload], [note] = data["uploads"], data["notes"]
    assert upload == {
        "id": stored.id,
        "size": 1234,
        "fileCount": 2,
        "hasPassword": True,
        "passwordAlgo": "argon2id-v2",
        "maxDownloads": 3,
        "downloadCount": 1,
        "expiresAt": upload["expiresAt"],
        "createdAt": upload["createdAt"],
        "storagePath": f"{stored.id}.bin",
        "type": "upload",
    }
    assert note == {
        "id": note_id,
        "contentType": "markdown",
        "hasPassword": False,
        "passwordAlgo": None,
        "maxViews": 0,
        "viewCount": 0,
        "expiresAt": note["expiresAt"],
        "createdAt": note["createdAt"],
        "type": "note",
    }
    for item in (upload, note):
        assert ISO.fullmatch(item["expiresAt"])
        assert ISO.fullmatch(item["createdAt"])
        assert item["createdAt"] < item["expiresAt"]
    for secret in (stored.creds.auth, stored.creds.owner, stored.creds.salt, password_salt, auth):
        assert secret not in result.out


def test_list_json_all_and_empty(site: Site) -> None:
    assert json.loads(site.cli("list", "--json").out) == {"uploads": [], "notes": []}
    expired = site.upload()
    site.expire("uploads", expired.id)
    assert json.loads(site.cli("list", "--json").out) == {"uploads": [], "notes": []}
    listed = json.loads(site.cli("list", "--all", "--json").out)
    assert [u["id"] for u in listed["uploads"]] == [expired.id]


# -- delete ----------------------------------------------------------------------------


def test_delete_an_upload_removes_row_and_blob(site: Site) -> None:
    doomed = site.upload(2048, file_count=4)
    kept = site.upload()
    assert site.blobs() == {f"{doomed.id}.bin", f"{kept.id}.bin"}

    result = site.cli("delete", doomed.id)

    assert result == Result(0, f"Deleted upload {doomed.id} (2.0 KB, 4 file(s))\n", "")
    assert site.rows("uploads") == {kept.id}
    assert site.blobs() == {f"{kept.id}.bin"}
    assert files_api.download(site.client, doomed).status_code == 404
    site.download(kept)


def test_delete_a_note(site: Site) -> None:
    note_id, _ = site.note(contentType="sshkey")
    kept, _ = site.note()
    result = site.cli("delete", note_id)
    assert result == Result(0, f"Deleted note {note_id} (sshkey)\n", "")
    assert site.rows("notes") == {kept}
    assert site.client.get(f"/api/note/{note_id}").status_code == 404


def test_delete_an_exhausted_upload(site: Site) -> None:
    stored = site.upload(max_downloads=1)
    site.download(stored)
    assert site.cli("delete", stored.id).code == 0
    assert site.rows("uploads") == set()
    assert site.blobs() == set()


def test_delete_of_an_unknown_id(site: Site) -> None:
    site.upload()
    missing = "0b8e1c44-5f0e-4d3a-9c1e-2f6a7b8c9d0e"
    result = site.cli("delete", missing)
    assert result == Result(1, "", f"Upload or note {missing} not found.\n")
    assert len(site.rows("uploads")) == 1


@pytest.mark.parametrize(
    "item_id",
    [
        "abc",
        "0B8E1C44-5F0E-4D3A-9C1E-2F6A7B8C9D0E",
        "0b8e1c445f0e4d3a9c1e2f6a7b8c9d0e",
        "../0b8e1c44-5f0e-4d3a-9c1e-2f6a7b8c9d0",
        "0b8e1c44-5f0e-4d3a-9c1e-2f6a7b8c9d0e.bin",
    ],
)
def test_delete_refuses_an_id_that_is_not_a_uuid(site: Site, item_id: str) -> None:
    stored = site.upload()
    result = site.cli("delete", item_id)
    assert result == Result(1, "", "Invalid ID format. Expected a UUID.\n")
    assert site.rows("uploads") == {stored.id}


def test_delete_without_an_id_is_a_usage_error(site: Site) -> None:
    result = site.cli("delete")
    assert result.code == 1
    assert "usage: skysend-cli" in result.err


# -- stats -----------------------------------------------------------------------------


def make_mixed_store(site: Site) -> dict[str, Any]:
    """Two active uploads, one exhausted, one expired; two active notes, one burned, one
    expired."""
    active = [site.upload(1024, max_downloads=3), site.upload(2048, max_downloads=3)]
    site.download(active[0])
    exhausted = site.upload(4096, max_downloads=1)
    site.download(exhausted)
    expired = site.upload(512)
    site.expire("uploads", expired.id)
    notes = [site.note()[0]]
    viewed, auth = site.note()
    site.view(viewed, auth)
    site.view(viewed, auth)
    burned, burned_auth = site.note(maxViews=1)
    site.view(burned, burned_auth)
    expired_note, _ = site.note()
    site.expire("notes", expired_note)
    return {
        "active": active,
        "exhausted": exhausted,
        "expired": expired,
        "notes": [*notes, viewed],
        "burned": burned,
        "expired_note": expired_note,
    }


def test_stats_text(site: Site) -> None:
    make_mixed_store(site)
    result = site.cli("stats")
    assert result.code == 0
    assert result.out == (
        "Storage Overview\n"
        "================\n"
        "Total uploads:    4 (7.5 KB)\n"
        "Active uploads:   2 (3.0 KB)\n"
        "Expired uploads:  2\n"
        "Total downloads:  2\n"
        "\n"
        "Total notes:      4\n"
        "Active notes:     2\n"
        "Expired notes:    2\n"
        "Total views:      3\n"
    )


def test_stats_json(site: Site) -> None:
    make_mixed_store(site)
    assert json.loads(site.cli("stats", "--json").out) == {
        "uploads": {
            "total": 4,
            "active": 2,
            "expired": 2,
            "size": 7680,
            "activeSize": 3072,
            "downloads": 2,
        },
        "notes": {"total": 4, "active": 2, "expired": 2, "views": 3},
    }


# -- cleanup ---------------------------------------------------------------------------


def test_cleanup_dry_run_lists_the_selection_and_changes_nothing(site: Site) -> None:
    store = make_mixed_store(site)
    rows_before = (site.rows("uploads"), site.rows("notes"))
    files_before = stored_files(site.data_dir)

    result = site.cli("cleanup", "--dry-run")

    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "Would remove 2 upload(s) (4.5 KB):"
    assert sorted(lines[1:3]) == sorted(
        [
            f"  {store['exhausted'].id} (4.0 KB, 1 file(s))",
            f"  {store['expired'].id} (512 B, 1 file(s))",
        ]
    )
    assert lines[3] == "Would remove 2 note(s):"
    assert sorted(lines[4:]) == sorted(
        [f"  {store['burned']} (text)", f"  {store['expired_note']} (text)"]
    )
    assert (site.rows("uploads"), site.rows("notes")) == rows_before
    assert stored_files(site.data_dir) == files_before
    assert site.cli("cleanup", "-n").out == result.out


def test_cleanup_removes_exactly_the_selection_and_its_blobs(site: Site) -> None:
    store = make_mixed_store(site)

    result = site.cli("cleanup")

    assert result == Result(0, "Cleaned up 4 item(s) (4.5 KB from uploads)\n", "")
    assert site.rows("uploads") == {stored.id for stored in store["active"]}
    assert site.blobs() == {f"{stored.id}.bin" for stored in store["active"]}
    assert site.rows("notes") == set(store["notes"])
    for stored in store["active"]:
        site.download(stored)
    assert site.cli("cleanup").out == "Nothing to clean up.\n"
    assert site.cli("cleanup", "--dry-run").out == "Nothing to clean up.\n"


def test_cleanup_with_nothing_selected(site: Site) -> None:
    stored = site.upload()
    note_id, _ = site.note()
    assert site.cli("cleanup", "-n") == Result(0, "Nothing to clean up.\n", "")
    assert site.cli("cleanup") == Result(0, "Nothing to clean up.\n", "")
    assert site.rows("uploads") == {stored.id}
    assert site.rows("notes") == {note_id}


def test_cleanup_of_only_notes_omits_the_upload_part(site: Site) -> None:
    burned, auth = site.note(maxViews=1)
    site.view(burned, auth)
    assert site.cli("cleanup", "-n").out == f"Would remove 1 note(s):\n  {burned} (text)\n"
    assert site.cli("cleanup").out == "Cleaned up 1 item(s) (0 B from uploads)\n"


# -- config ----------------------------------------------------------------------------

SECRETS = {
    "S3_SECRET_KEY": "s3-secret-value-0123",
    "OIDC_CLIENT_SECRET": "client-secret-value-4567",
    "OIDC_SESSION_SECRET": "session-secret-value-" + "x" * 20,
}


def test_config_json_is_every_variable_with_secrets_masked(tmp_path: Path) -> None:
    env = {
        "BASE_URL": "https://send.example.com/",
        "DATA_DIR": str(tmp_path / "data"),
        "OIDC_ISSUER": "https://id.example.com",
        "OIDC_CLIENT_ID": "skysend",
        "FILE_UPLOAD_QUOTA_BYTES": "1GB",
        **SECRETS,
    }
    out, code = _run_main(["config", "--json"], env)
    assert code == 0
    config = json.loads(out)
    for name in SECRETS:
        assert config[name] == "***"
    for value in SECRETS.values():
        assert value not in out
    assert config["OIDC_ENABLED"] is True
    assert config["UPLOADS_DIR"] == str(tmp_path / "data" / "uploads")
    assert config["BASE_URL"] == "https://send.example.com"
    assert config["FILE_UPLOAD_QUOTA_BYTES"] == 1024**3
    assert config["FILE_EXPIRE_OPTIONS_SEC"] == [300, 3600, 86400, 604800]
    assert config["OIDC_REDIRECT_URI"] == "https://send.example.com/auth/callback"
    assert config["STORAGE_BACKEND"] == "filesystem"
    assert "WARNINGS" not in config
    assert not (tmp_path / "data").exists()  # config opens no storage


def test_config_json_shows_unset_secrets_as_null(tmp_path: Path) -> None:
    env = {"BASE_URL": "https://send.example.com", "UPLOADS_DIR": str(tmp_path / "blobs")}
    config = json.loads(_run_main(["config", "--json"], env)[0])
    assert {name: config[name] for name in SECRETS} == dict.fromkeys(SECRETS)
    assert config["OIDC_ENABLED"] is False
    assert config["UPLOADS_DIR"] == str(tmp_path / "blobs")
    assert config["PORT"] == 3000
    assert config["CUSTOM_COLOR"] is None


def test_config_text(tmp_path: Path) -> None:
    env = {
        "BASE_URL": "https://send.example.com",
        "DATA_DIR": str(tmp_path / "data"),
        "PORT": "8080",
        "CUSTOM_TITLE": "Drop",
        "FILE_UPLOAD_QUOTA_BYTES": "1.5GB",
        "FILE_UPLOAD_QUOTA_WINDOW": "3600",
        "NOTE_VIEW_OPTIONS": "0,1,5",
        "NOTE_DEFAULT_VIEWS": "1",
        "ENABLED_SERVICES": "note,file",
        "OIDC_ISSUER": "https://id.example.com",
        "OIDC_CLIENT_ID": "skysend",
        **SECRETS,
    }
    out, code = _run_main(["config"], env)
    assert code == 0
    sections = [block.splitlines() for block in out.strip().split("\n\n")]
    assert [block[:2] for block in sections] == [
        ["Server Configuration", "=" * 20],
        ["File Settings", "=" * 13],
        ["Note Settings", "=" * 13],
        ["General", "=" * 7],
    ]
    fields = {
        title: dict(re.split(r":\s+", line, maxsplit=1) for line in block[2:])
        for title, block in ((block[0], block) for block in sections)
    }
    assert fields["Server Configuration"] == {
        "Title": "Drop",
        "Base URL": "https://send.example.com",
        "Listen": "0.0.0.0:8080",
        "Data directory": str(tmp_path / "data"),
        "Enabled services": "note, file",
    }
    assert fields["File Settings"] == {
        "Max file size": "2.0 GB",
        "Max files per upload": "32",
        "Expire options": "5m, 1h, 1d, 7d",
        "Default expiry": "1d",
        "Download options": "1, 2, 3, 4, 5, 10, 20, 50, 100",
        "Default downloads": "1",
        "Upload quota": "1.5 GB / 1h",
    }
    assert fields["Note Settings"] == {
        "Max note size": "1.0 MB",
        "Expire options": "5m, 1h, 1d, 7d",
        "Default expiry": "1d",
        "View options": "∞, 1, 5",
        "Default views": "1",
    }
    assert fields["General"] == {
        "Cleanup interval": "60s",
        "Rate limit": "60 req / 60000ms",
    }
    for value in SECRETS.values():
        assert value not in out


def test_config_text_without_a_quota(tmp_path: Path) -> None:
    out, _ = _run_main(["config"], {"BASE_URL": "https://send.example.com"})
    assert re.search(r"^Upload quota:\s+disabled$", out, re.MULTILINE)
    assert re.search(r"^Default views:\s+∞$", out, re.MULTILINE)


def _run_main(argv: list[str], env: dict[str, str]) -> tuple[str, int]:
    """``main`` with its stdout captured into a string (for tests without a site)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(argv, env)
    return buffer.getvalue(), code


# -- configuration errors --------------------------------------------------------------


@pytest.mark.parametrize("command", [["list"], ["stats"], ["cleanup"], ["config", "--json"]])
def test_invalid_configuration_stops_before_storage_is_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    data_dir = tmp_path / "data"
    env = {
        "BASE_URL": "https://send.example.com",
        "DATA_DIR": str(data_dir),
        "FILE_DEFAULT_EXPIRE_SEC": "7200",
    }
    assert main(command, env) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "Configuration error: FILE_DEFAULT_EXPIRE_SEC (7200) must be one of "
        "FILE_EXPIRE_OPTIONS_SEC (300, 3600, 86400, 604800)\n"
    )
    assert not data_dir.exists()


def test_base_url_is_required(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats"], {"DATA_DIR": str(tmp_path / "data")}) == 1
    assert capsys.readouterr().err == (
        "Configuration error: BASE_URL is required (e.g. https://send.example.com)\n"
    )


def test_every_problem_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"BASE_URL": "https://send.example.com", "PORT": "0", "DEFAULT_THEME": "blue"}
    assert main(["list"], env) == 1
    err = capsys.readouterr().err
    assert err.startswith("Configuration error: ")
    assert "PORT" in err
    assert "DEFAULT_THEME" in err


def test_usage_errors_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"BASE_URL": "https://send.example.com"}
    assert main([], env) == 1
    assert main(["bogus"], env) == 1
    assert main(["list", "--bogus"], env) == 1
    assert "usage: skysend-cli" in capsys.readouterr().err


def test_storage_that_cannot_be_opened_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = {"BASE_URL": "https://send.example.com", "DATA_DIR": str(blocker)}
    assert main(["stats"], env) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("Error: ")


# -- with and without the server -------------------------------------------------------


def test_works_after_the_server_has_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    with running_app(data_dir) as url, httpx.Client(base_url=url) as client:
        site = Site(data_dir, client, capsys)
        kept = site.upload()
        gone = site.upload(max_downloads=1)
        site.download(gone)
    stopped = site  # its client is closed: only the admin CLI and the files are used
    assert stopped.cli("stats", "--json").code == 0
    assert stopped.cli("cleanup") == Result(0, "Cleaned up 1 item(s) (1000 B from uploads)\n", "")
    assert stopped.cli("delete", kept.id).code == 0
    assert stopped.blobs() == set()
    assert stopped.rows("uploads") == set()


def test_the_installed_console_script_beside_a_running_server(site: Site) -> None:
    stored = site.upload(max_downloads=1)
    site.download(stored)
    script = Path(sys.executable).parent / "skysend-cli"
    assert script.exists(), "reinstall the package: pip install -e ."
    env = {**os.environ, **site.env}
    listed = subprocess.run(
        [str(script), "list", "--all", "--json"], env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    assert [u["id"] for u in json.loads(listed.stdout)["uploads"]] == [stored.id]
    cleaned = subprocess.run(
        [sys.executable, "-m", "skysend_http.admin_cli", "cleanup"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert (cleaned.returncode, cleaned.stdout) == (
        0,
        "Cleaned up 1 item(s) (1000 B from uploads)\n",
    )
    refused = subprocess.run(
        [str(script), "delete", "nope"], env=env, capture_output=True, text=True
    )
    assert (refused.returncode, refused.stderr) == (1, "Invalid ID format. Expected a UUID.\n")
    # The server goes on serving from the same storage.
    assert site.upload().id in site.cli("list").out
