"""The static web app (http-api.md §3): a built SkySend web app served from ``WEB_DIR``.

:class:`WebApp` holds the folder and ``index.html`` rendered once with ``CUSTOM_TITLE``;
:class:`WebAppServer` is ASGI middleware answering ``GET`` and ``HEAD`` outside ``/api`` and
``/auth`` by the spec's rules, in order:

1. ``/assets/<path>``: the file from ``assets/``, cached for a year (``immutable``) when
   found, ``no-store`` otherwise;
2. ``/`` and every path whose last segment has no extension: the rendered ``index.html``
   (the web app routes client-side), ``no-store``;
3. ``/download-sw.js``: the service worker, ``no-store``;
4. anything else: the file from the folder, its type from its extension.

A path names a file only when each of its segments is a plain name: no empty, ``.`` or
``..`` segment, no NUL or backslash, and no segment starting with ``.`` except a leading
``.well-known`` (so ``.well-known/security.txt`` is served, ``.git/…`` or ``.env`` never
are). The named file is then resolved, symlinks included, and must still lie inside the
folder and be a regular file: nothing outside it is opened and no directory is listed.
Files are streamed in 1 MiB reads off the event loop. Other methods pass to the app, which
answers 404 as for any unknown path. The gateway in front adds the security headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import mimetypes
import os
import stat
from typing import Any, BinaryIO

import attrs
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable

from skysend_core.config import ConfigError, Settings
from skysend_http.errors import json_bytes
from skysend_http.gateway import ASGIApp
from skysend_http.headers import RawHeaders

PLACEHOLDER = b"__CUSTOM_TITLE__"
SERVICE_WORKER = "/download-sw.js"
ASSETS_PREFIX = "/assets/"
IMMUTABLE = b"public, max-age=31536000, immutable"
NO_STORE = b"no-store"
PAGE_TYPE = b"text/html; charset=UTF-8"
#: Bytes per read of a streamed file (one thread hop each).
CHUNK = 1024 * 1024

#: Types that must not depend on the host's MIME database: browsers refuse modules and
#: service workers of another type, and manifests and SVG icons need theirs.
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".wasm": "application/wasm",
    ".woff2": "font/woff2",
}
_NOT_FOUND = json_bytes({"error": "Not Found"})


def content_type(name: str) -> str:
    """The ``Content-Type`` of a file served under ``name``, from its extension."""
    extension = os.path.splitext(name)[1].lower()
    if extension in _TYPES:
        return _TYPES[extension]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is None:
        return "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def is_outside_app(path: str) -> bool:
    """Whether ``path`` belongs to the web app rather than to ``/api`` or ``/auth``."""
    return not any(path == prefix or path.startswith(prefix + "/") for prefix in ("/api", "/auth"))


def is_page(path: str) -> bool:
    """Rule 2: ``/`` or a last segment with no extension (no ``.`` followed by a character)."""
    last = path.rsplit("/", 1)[-1]
    return "." not in last[:-1]


def file_segments(path: str) -> tuple[str, ...] | None:
    """The segments of ``path`` if it may name a file of the web app, else ``None``."""
    segments = tuple(path.split("/")[1:])
    for position, segment in enumerate(segments):
        if segment in ("", ".", "..") or "\x00" in segment or "\\" in segment:
            return None
        if segment.startswith(".") and (position, segment) != (0, ".well-known"):
            return None
    return segments


@attrs.frozen
class StaticFile:
    """An opened regular file of the web app and its size."""

    file: BinaryIO
    size: int


@attrs.frozen
class WebApp:
    """A built web app: its folder (symlinks resolved) and the rendered ``index.html``."""

    root: str
    page: bytes

    @classmethod
    def load(cls, web_dir: str, title: str) -> WebApp:
        """Check the folder and render ``index.html``; a problem is a :class:`ConfigError`."""
        root = os.path.realpath(web_dir)
        index = os.path.join(root, "index.html")
        if not os.path.isdir(root) or not os.path.isfile(index):
            raise ConfigError(
                f'WEB_DIR must be a directory containing index.html (got "{web_dir}")'
            )
        try:
            with open(index, "rb") as page:
                raw = page.read()
        except OSError as error:
            raise ConfigError(f"WEB_DIR: cannot read {index}: {error.strerror}") from error
        return cls(root, raw.replace(PLACEHOLDER, html.escape(title).encode()))

    @classmethod
    def from_settings(cls, settings: Settings) -> WebApp | None:
        """The web app of ``WEB_DIR``, or ``None`` when it is not set."""
        if settings.web_dir is None:
            return None
        return cls.load(settings.web_dir, settings.custom_title)

    def open(self, segments: tuple[str, ...]) -> StaticFile | None:
        """The regular file at ``segments`` (checked by :func:`file_segments`) if it
        resolves to a place inside the folder; blocking, so run in a thread."""
        resolved = os.path.realpath(os.path.join(self.root, *segments))
        if not resolved.startswith(self.root + os.sep):
            return None
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            descriptor = os.open(resolved, flags)
        except OSError:
            return None
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):  # a directory is never listed
            os.close(descriptor)
            return None
        return StaticFile(os.fdopen(descriptor, "rb", buffering=0), info.st_size)


class WebAppServer:
    """ASGI middleware serving :class:`WebApp` for ``GET``/``HEAD`` outside the API."""

    def __init__(self, app: ASGIApp, web: WebApp) -> None:
        self._app = app
        self._web = web

    async def __call__(
        self, scope: Any, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not is_outside_app(path)
        ):
            await self._app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if path.startswith(ASSETS_PREFIX):
            await self._file(file_segments(path), IMMUTABLE, head, receive, send)
        elif is_page(path) or path == "/index.html":
            await _respond(send, 200, [(b"content-type", PAGE_TYPE)], NO_STORE, self._web.page)
        elif path == SERVICE_WORKER:
            await self._file(file_segments(path), NO_STORE, head, receive, send)
        else:
            await self._file(file_segments(path), None, head, receive, send)

    async def _file(
        self,
        segments: tuple[str, ...] | None,
        cache: bytes | None,
        head: bool,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
    ) -> None:
        found = None if segments is None else await asyncio.to_thread(self._web.open, segments)
        if found is None:
            headers = [(b"content-type", b"application/json")]
            await _respond(send, 404, headers, NO_STORE, _NOT_FOUND)
            return
        assert segments is not None
        with found.file:
            headers = [(b"content-type", content_type(segments[-1]).encode())]
            if head:
                await _respond(send, 200, headers, cache, b"", length=found.size)
            else:
                await _stream(found, headers, cache, receive, send)


def _start(status: int, headers: RawHeaders, cache: bytes | None, length: int) -> Any:
    headers = [*headers, (b"content-length", b"%d" % length)]
    if cache is not None:
        headers.append((b"cache-control", cache))
    return {"type": "http.response.start", "status": status, "headers": headers}


async def _respond(
    send: ASGISendCallable,
    status: int,
    headers: RawHeaders,
    cache: bytes | None,
    body: bytes,
    *,
    length: int | None = None,
) -> None:
    await send(_start(status, headers, cache, len(body) if length is None else length))
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _stream(
    found: StaticFile,
    headers: RawHeaders,
    cache: bytes | None,
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
) -> None:
    """Send the file in :data:`CHUNK` reads; stop reading once the client has gone."""
    gone = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    watcher = asyncio.create_task(watch())
    reading: asyncio.Future[bytes] | None = None
    try:
        await send(_start(200, headers, cache, found.size))
        remaining = found.size
        while remaining > 0 and not gone.is_set():
            reading = asyncio.ensure_future(
                asyncio.to_thread(found.file.read, min(CHUNK, remaining))
            )
            chunk = await asyncio.shield(reading)
            if not chunk:
                break  # the file shrank while being sent; the client sees a short body
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        if reading is not None and not reading.done():
            # Cancelled in the middle of a read: it goes on in its thread, and the file
            # is closed after this returns, so wait for the read first.
            await asyncio.wait({reading})
