"""The static web app from ``WEB_DIR`` (http-api.md §3), over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.raw_http import read_response
from tests.support.servers import ServerProcess, base_env, free_port, running_app

from skysend_core.config import ConfigError
from skysend_http.web import content_type, file_segments, is_page

TITLE = "<script>&\"'"
ESCAPED_TITLE = "&lt;script&gt;&amp;&quot;&#x27;"
INDEX = "<!doctype html><title>__CUSTOM_TITLE__</title><h1>__CUSTOM_TITLE__</h1>\n"
PAGE = INDEX.replace("__CUSTOM_TITLE__", ESCAPED_TITLE).encode()
SECRET = b"TOP-SECRET outside WEB_DIR"
CSP_START = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval';"
IMMUTABLE = "public, max-age=31536000, immutable"
JS = "text/javascript; charset=utf-8"
BIG = 32 * 1024 * 1024

FILES = {
    "assets/app.123.js": (b"console.log('app');\n", JS),
    "download-sw.js": (b"self.addEventListener('fetch', () => {});\n", JS),
    "logo.svg": (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
    "robots.txt": (b"User-agent: *\nDisallow:\n", "text/plain; charset=utf-8"),
    "manifest.webmanifest": (b'{"name":"SkySend"}', "application/manifest+json"),
    ".well-known/security.txt": (
        b"Contact: mailto:security@example.com\n",
        "text/plain; charset=utf-8",
    ),
}


def build_web_dir(base: Path) -> Path:
    """A built web app in ``base/web``, with things beside and inside it that must not be
    served: a secret outside, dotfiles, symlinks leading out, a directory."""
    web = base / "web"
    for name, (content, _) in FILES.items():
        (web / name).parent.mkdir(parents=True, exist_ok=True)
        (web / name).write_bytes(content)
    (web / "index.html").write_text(INDEX)
    (web / "assets" / "big.bin").write_bytes(os.urandom(1024) * (BIG // 1024))
    (base / "secret.txt").write_bytes(SECRET)
    (base / "outside").mkdir()
    (base / "outside" / "secret.txt").write_bytes(SECRET)
    (web / ".env").write_bytes(SECRET)
    (web / ".git").mkdir()
    (web / ".git" / "config.txt").write_bytes(SECRET)
    (web / ".well-known" / ".hidden.txt").write_bytes(SECRET)
    (web / "escape.txt").symlink_to(base / "secret.txt")
    (web / "assets" / "escape.js").symlink_to(base / "secret.txt")
    (web / "linked").symlink_to(base / "outside")
    (web / "alias.txt").symlink_to(web / "robots.txt")  # inside: allowed
    (web / "folder.d").mkdir()
    (web / "folder.d" / "inner.txt").write_bytes(b"inner")
    return web


@pytest.fixture(scope="module")
def web_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_web_dir(tmp_path_factory.mktemp("webapp"))


@pytest.fixture(scope="module")
def web_server(web_dir: Path) -> Iterator[str]:
    overrides = {"WEB_DIR": str(web_dir), "CUSTOM_TITLE": TITLE}
    with running_app(web_dir.parent / "data", overrides) as url:
        yield url


@pytest.fixture
def client(web_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web_server, timeout=30) as http:
        yield http


def raw_get(url: str, target: str) -> httpx.Response:
    """A request with ``target`` sent as written (httpx would normalise dot segments)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        return read_response(sock)


def assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"].startswith(CSP_START)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "x-powered-by" not in response.headers


# -- rule 2: index.html for / and for paths without an extension -----------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/file/0b0a7a5e-1f5c-4d7e-9a55-3b7e2c1d9f00",
        "/note/0b0a7a5e-1f5c-4d7e-9a55-3b7e2c1d9f00",
        "/d/0b0a7a5e-1f5c-4d7e-9a55-3b7e2c1d9f00",
        "/my-uploads",
        "/my-uploads/",
        "/unknown/page",
        "/__skysend_download__/0b0a7a5e-1f5c-4d7e-9a55-3b7e2c1d9f00",
        "/assets",
        "/.well-known/",
        "/robots.txt/",
        "/trailing.",
        "/apifoo",
        "/index.html",
    ],
)
def test_pages_answer_the_rendered_index(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.content == PAGE
    assert response.headers["content-type"] == "text/html; charset=UTF-8"
    assert response.headers.get_list("cache-control") == ["no-store"]
    assert response.headers["content-length"] == str(len(PAGE))
    assert_security_headers(response)


def test_the_title_is_escaped_at_every_placeholder(client: httpx.Client) -> None:
    body = client.get("/").text
    assert body.count(ESCAPED_TITLE) == 2
    assert "__CUSTOM_TITLE__" not in body
    assert "<script>" not in body


def test_index_is_rendered_once_at_start_up(tmp_path: Path, serve_app: Callable[..., str]) -> None:
    web = build_web_dir(tmp_path)
    url = serve_app(WEB_DIR=str(web), CUSTOM_TITLE="Files")
    (web / "index.html").write_text("changed after start-up")
    assert httpx.get(url + "/").text == INDEX.replace("__CUSTOM_TITLE__", "Files")


# -- rule 1: assets ---------------------------------------------------------------------


def test_an_asset_is_cached_for_a_year(client: httpx.Client) -> None:
    response = client.get("/assets/app.123.js")
    assert response.status_code == 200
    assert response.content == FILES["assets/app.123.js"][0]
    assert response.headers["content-type"] == JS
    assert response.headers.get_list("cache-control") == [IMMUTABLE]
    assert_security_headers(response)


@pytest.mark.parametrize(
    "path", ["/assets/missing.js", "/assets/nested/page", "/assets/", "/assets/escape.js"]
)
def test_a_missing_asset_is_404_no_store(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers.get_list("cache-control") == ["no-store"]
    assert SECRET not in response.content
    assert_security_headers(response)


def test_a_large_asset_is_streamed_byte_identical(client: httpx.Client, web_dir: Path) -> None:
    expected = hashlib.sha256((web_dir / "assets" / "big.bin").read_bytes()).hexdigest()
    digest, received = hashlib.sha256(), 0
    with client.stream("GET", "/assets/big.bin") as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(BIG)
        assert response.headers["content-type"] == "application/octet-stream"
        for piece in response.iter_raw():
            digest.update(piece)
            received += len(piece)
    assert (received, digest.hexdigest()) == (BIG, expected)


# -- rules 3 and 4: the service worker and other files ----------------------------------


def test_the_service_worker_is_javascript_and_never_cached(client: httpx.Client) -> None:
    response = client.get("/download-sw.js")
    assert response.status_code == 200
    assert response.content == FILES["download-sw.js"][0]
    assert response.headers["content-type"] == JS
    assert response.headers.get_list("cache-control") == ["no-store"]
    assert_security_headers(response)


@pytest.mark.parametrize(
    "name", ["logo.svg", "robots.txt", "manifest.webmanifest", ".well-known/security.txt"]
)
def test_root_files_have_the_type_of_their_extension(client: httpx.Client, name: str) -> None:
    content, kind = FILES[name]
    response = client.get(f"/{name}")
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == kind
    assert "cache-control" not in response.headers
    assert_security_headers(response)


def test_a_symlink_inside_the_folder_is_served(client: httpx.Client) -> None:
    response = client.get("/alias.txt")
    assert (response.status_code, response.content) == (200, FILES["robots.txt"][0])


@pytest.mark.parametrize(
    "path",
    [
        "/missing.png",
        "/favicon.ico",
        "/file/abc.def",
        "/folder.d",
        "/.well-known",
        "/escape.txt",
        "/linked/secret.txt",
        "/.env",
        "/.git/config.txt",
        "/.well-known/.hidden.txt",
        "/assets/.hidden.js",
    ],
)
def test_missing_or_refused_files_are_404(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found"}
    assert response.headers.get_list("cache-control") == ["no-store"]
    assert SECRET not in response.content
    assert_security_headers(response)


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/.well-known/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/robots.txt%00.png",
        "/robots.txt%00",
        "/./robots.txt",
        "/..%5csecret.txt",
    ],
)
def test_traversal_attempts_are_404(web_server: str, target: str) -> None:
    response = raw_get(web_server, target)
    assert response.status_code == 404
    assert SECRET not in response.content
    assert response.headers["cache-control"] == "no-store"


def test_leading_slashes_name_the_same_file(web_server: str) -> None:
    """The pipeline collapses leading slashes the way the router does (``//robots.txt``
    is ``/robots.txt``, for the web app as for ``/api``)."""
    assert raw_get(web_server, "//robots.txt").content == raw_get(web_server, "/robots.txt").content
    assert raw_get(web_server, "//robots.txt").status_code == 200


def test_an_absolute_path_is_404(web_server: str, web_dir: Path) -> None:
    secret = web_dir.parent / "secret.txt"
    for target in (f"/{secret}", f"/assets/{secret}", "/%2F" + str(secret).lstrip("/")):
        response = raw_get(web_server, target)
        assert response.status_code == 404, target
        assert SECRET not in response.content


# -- HEAD and other methods -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "length", "cache"),
    [
        ("/", len(PAGE), "no-store"),
        ("/my-uploads", len(PAGE), "no-store"),
        ("/assets/app.123.js", len(FILES["assets/app.123.js"][0]), IMMUTABLE),
        ("/assets/big.bin", BIG, IMMUTABLE),
        ("/download-sw.js", len(FILES["download-sw.js"][0]), "no-store"),
    ],
)
def test_head_is_get_without_a_body(
    client: httpx.Client, path: str, length: int, cache: str
) -> None:
    response = client.head(path)
    assert response.status_code == 200
    assert response.headers["content-length"] == str(length)
    assert response.headers["cache-control"] == cache
    assert response.content == b""
    assert_security_headers(response)


def test_head_of_a_missing_file_is_404(client: httpx.Client) -> None:
    response = client.head("/missing.png")
    assert (response.status_code, response.content) == (404, b"")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/"),
        ("POST", "/my-uploads"),
        ("PUT", "/robots.txt"),
        ("DELETE", "/assets/app.123.js"),
        ("PATCH", "/download-sw.js"),
    ],
)
def test_other_methods_are_404(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found"}
    assert response.content not in (PAGE, *(content for content, _ in FILES.values()))
    assert_security_headers(response)


def test_a_preflight_on_a_page_is_the_cors_answer(client: httpx.Client) -> None:
    response = client.options("/my-uploads", headers={"Origin": "https://a.example"})
    assert (response.status_code, response.content) == (204, b"")


# -- /api and /auth are not the web app -------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/unknown", "/api/unknown.js", "/api", "/api/assets/app.123.js", "/auth/x"]
)
def test_api_and_auth_paths_are_untouched(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}


def test_the_api_still_answers(client: httpx.Client) -> None:
    response = client.get("/api/config")
    assert response.status_code == 200
    assert response.json()["customTitle"] == TITLE
    assert response.headers.get_list("cache-control") == ["no-store"]


# -- WEB_DIR unset or invalid -----------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/file/x", "/robots.txt", "/assets/app.123.js"])
def test_without_web_dir_every_other_path_is_404(server: str, path: str) -> None:
    response = httpx.get(server + path)
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found"}


@pytest.mark.parametrize("layout", ["missing", "empty", "file"])
def test_an_invalid_web_dir_is_a_config_error(
    tmp_path: Path, serve_app: Callable[..., str], layout: str
) -> None:
    web = tmp_path / "web"
    if layout == "empty":
        web.mkdir()
        (web / "index.htm").write_text("not the name")
    elif layout == "file":
        web.write_text("index.html")
    with pytest.raises(ConfigError) as info:
        serve_app(WEB_DIR=str(web))
    assert info.value.messages == (
        f'WEB_DIR must be a directory containing index.html (got "{web}")',
    )


def test_skysend_serve_refuses_an_invalid_web_dir(tmp_path: Path) -> None:
    env = {**os.environ, **base_env(tmp_path, free_port()), "WEB_DIR": str(tmp_path / "none")}
    result = subprocess.run(
        [sys.executable, "-m", "skysend_http.cli", "serve"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Configuration error: WEB_DIR must be a directory" in result.stderr.decode()
    assert not (tmp_path / "db").exists()


def test_skysend_serve_serves_the_web_app(tmp_path: Path) -> None:
    web = build_web_dir(tmp_path)
    with ServerProcess(tmp_path / "data", {"WEB_DIR": str(web)}) as server:
        response = httpx.get(server.url + "/my-uploads")
        assert response.content == INDEX.replace("__CUSTOM_TITLE__", "SkySend").encode()
        assert httpx.get(server.url + "/logo.svg").content == FILES["logo.svg"][0]


# -- the rules as functions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "page"),
    [
        ("/", True),
        ("/a/b", True),
        ("/a.", True),
        ("/a/", True),
        ("/a.b/c", True),
        ("/a.b", False),
        ("/.env", False),
        ("/..", False),
        ("/a/b.c", False),
    ],
)
def test_is_page(path: str, page: bool) -> None:
    assert is_page(path) is page


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.js", JS),
        ("a.MJS", JS),
        ("a.css", "text/css; charset=utf-8"),
        ("a.webmanifest", "application/manifest+json"),
        ("a.svg", "image/svg+xml"),
        ("a.wasm", "application/wasm"),
        ("a.png", "image/png"),
        ("a.unknown-extension", "application/octet-stream"),
    ],
)
def test_content_type(name: str, kind: str) -> None:
    assert content_type(name) == kind


def test_content_type_does_not_follow_the_host_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "mimetypes.guess_type", lambda *args, **kwargs: ("application/x-wrong", None)
    )
    assert content_type("a.js") == JS
    assert content_type("a.svg") == "image/svg+xml"
    assert content_type("a.webmanifest") == "application/manifest+json"


def test_file_segments() -> None:
    assert file_segments("/.well-known/security.txt") == (".well-known", "security.txt")
    assert file_segments("/assets/a/b.js") == ("assets", "a", "b.js")
    for refused in ("/a/.well-known/x.txt", "/a/../b.js", "/a//b.js", "/a\x00.js", "/.x/a.js"):
        assert file_segments(refused) is None, refused


class SlowFile(io.BytesIO):
    """A file whose reads take a while in their thread and note whether the file was
    closed under them."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reading = threading.Event()
        self.read_done = threading.Event()
        self.closed_during_read = False

    def read(self, size: int | None = -1) -> bytes:
        self.reading.set()
        try:
            time.sleep(0.3)
            self.closed_during_read = self.closed_during_read or self.closed
            return super().read(size)
        finally:
            self.read_done.set()


async def test_a_cancelled_send_closes_the_file_only_after_its_read() -> None:
    from skysend_http.web import StaticFile, _stream

    slow = SlowFile(b"x" * 100)

    async def receive() -> Any:
        await asyncio.sleep(3600)

    async def send(message: Any) -> None:
        pass

    async def serve() -> None:
        with slow:
            await _stream(StaticFile(slow, 100), [], None, receive, send)

    task = asyncio.create_task(serve())
    await asyncio.to_thread(slow.reading.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(slow.read_done.wait, 5)
    assert slow.closed
    assert not slow.closed_during_read
