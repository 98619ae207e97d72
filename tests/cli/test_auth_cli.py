"""``skysend auth`` and uploads to a server that requires login (oidc.md §9)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.cli.conftest import Result
from tests.client.live import Live, random_file
from tests.support.oidc_provider import running_provider

SESSION_SECRET = "s" * 40
OIDC = {
    "OIDC_ISSUER": "https://issuer.example",
    "OIDC_CLIENT_ID": "skysend",
    "OIDC_CLIENT_SECRET": "secret",
    "OIDC_SESSION_SECRET": SESSION_SECRET,
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def session_jwt(exp_in: int = 3600, name: str = "Ada", email: str = "ada@example.org") -> str:
    """A session token as the server issues it (HS256 over OIDC_SESSION_SECRET)."""
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256"}).encode())
    claims = {"sub": "u1", "name": name, "email": email, "iat": now, "exp": now + exp_in}
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(SESSION_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{_b64(signature.digest())}"


class FakeBrowser:
    """Plays the browser: the provider login succeeded, the server redirects to the CLI."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.opened: list[str] = []

    def __call__(self, url: str, *args: object, **kwargs: object) -> bool:
        self.opened.append(url)
        callback = parse_qs(urlsplit(url).query)["cli_callback"][0]
        httpx.get(callback, params={"token": self.token})
        return True


def store_token(config_home: Path, server: str, token: str) -> None:
    config_home.mkdir(parents=True, exist_ok=True)
    (config_home / "tokens.json").write_text(json.dumps({server: token}))


def test_status_and_logout(cli: Callable[..., Result], config_home: Path) -> None:
    server = "https://send.example.com"
    assert cli("auth", "status", "-s", server).err == f"Not logged in to {server}.\n"

    store_token(config_home, server, session_jwt())
    lines = cli("auth", "status", "-s", server).err.splitlines()
    assert lines[0] == f"Server:  {server}"
    assert lines[1] == "User:    Ada ada@example.org"
    assert lines[2].startswith("Expires: ")
    assert lines[3] == "Status:  active"

    store_token(config_home, server, session_jwt(exp_in=10))  # inside the 30 s margin
    lines = cli("auth", "status", "-s", server).err.splitlines()
    assert lines[2].endswith(" (expired)")
    assert lines[3] == "Status:  expired - run 'skysend auth login' to refresh"

    store_token(config_home, server, "not-a-jwt")
    assert cli("auth", "status", "-s", server).err == (
        "Stored token is malformed. Run 'skysend auth login' to re-authenticate.\n"
    )

    assert cli("auth", "logout", "-s", server).err == f"Logged out from {server}.\n"
    assert json.loads((config_home / "tokens.json").read_text()) == {}


def test_login_stores_the_token(
    cli: Callable[..., Result], config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = session_jwt()
    browser = FakeBrowser(token)
    monkeypatch.setattr("webbrowser.open", browser)
    server = "https://send.example.com"

    result = cli("auth", "login", "-s", server)

    assert result.code == 0, result.err
    lines = result.err.splitlines()
    assert lines[0] == f"Logging in to {server}..."
    assert lines[1] == f"Open this URL to log in: {browser.opened[0]}"
    assert lines[2] == "Waiting for authentication..."
    assert lines[3] == "Logged in as: Ada ada@example.org"
    assert lines[4].startswith("Session expires: ")
    tokens_file = config_home / "tokens.json"
    assert json.loads(tokens_file.read_text()) == {server: token}
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600


def test_upload_to_a_protected_server_logs_in_once(
    cli: Callable[..., Result],
    start_live: Callable[..., Live],
    tmp_path: Path,
    config_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    live = start_live(**OIDC)
    browser = FakeBrowser(session_jwt())
    monkeypatch.setattr("webbrowser.open", browser)
    file = random_file(tmp_path / "f.bin", 1000)

    first = cli("upload", str(file), "-s", live.url)
    second = cli("note", "hello", "-s", live.url)

    assert first.code == 0, first.err
    assert first.err.startswith("Server requires authentication...\n")
    assert "Waiting for authentication..." in first.err
    assert second.code == 0, second.err
    assert "Waiting for authentication..." not in second.err  # the stored token was used
    assert len(browser.opened) == 1
    assert json.loads((config_home / "tokens.json").read_text()) == {live.url: browser.token}


def test_login_through_a_real_provider(
    cli: Callable[..., Result],
    start_live: Callable[..., Live],
    tmp_path: Path,
    config_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``skysend auth login`` end to end: the server, a real OIDC provider on loopback and
    the CLI's local callback, with a browser that follows every redirect."""
    opened: list[str] = []

    def browser(url: str, *args: object, **kwargs: object) -> bool:
        opened.append(url)
        with httpx.Client(follow_redirects=True, timeout=10) as agent:
            assert "Login successful" in agent.get(url).text
        return True

    with running_provider() as provider:
        live = start_live(**provider.env(OIDC_SESSION_SECRET=SESSION_SECRET))
        monkeypatch.setattr("webbrowser.open", browser)
        login = cli("auth", "login", "-s", live.url)
        assert login.code == 0, login.err
        assert "Logged in as: Ada Lovelace ada@example.org" in login.err.splitlines()
        file = random_file(tmp_path / "f.bin", 5000)
        upload = cli("upload", str(file), "-s", live.url, "--json")
        assert upload.code == 0, upload.err
        assert "Waiting for authentication..." not in upload.err
    assert len(opened) == 1
    (token,) = json.loads((config_home / "tokens.json").read_text()).values()
    assert cli("auth", "status", "-s", live.url).err.splitlines()[1] == (
        "User:    Ada Lovelace ada@example.org"
    )
    assert token.count(".") == 2
