"""Response headers set in one place: security headers, caching, CORS (http-api.md §1.4–1.6)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope
from quart import Response
from werkzeug.datastructures import Headers

from skysend_core.config import Settings

EXPOSE_HEADERS = "X-RateLimit-Limit,X-RateLimit-Remaining,X-RateLimit-Reset,X-File-Count"
ALLOW_METHODS = "GET,POST,DELETE,OPTIONS"
ALLOW_HEADERS = (
    "Content-Type,Content-Length,X-Content-Length,X-Auth-Token,X-Owner-Token,X-Salt,"
    "X-Max-Downloads,X-Expire-Sec,X-File-Count,X-Has-Password,X-Password-Salt,"
    "X-Password-Algo,Authorization"
)
HEALTH_ALLOW_METHODS = "GET,HEAD,PUT,POST,DELETE,PATCH"

ASGIApp = Callable[[Any, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]


def _add_vary(headers: Headers, name: str) -> None:
    """Append ``name`` to ``Vary`` unless it is already listed (§1.6 "appended")."""
    listed = {
        token.strip().lower() for value in headers.get_all("Vary") for token in value.split(",")
    }
    if name.lower() not in listed:
        headers.add("Vary", name)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    img = ["'self'", "data:"]
    if settings.custom_logo and settings.custom_logo.startswith(("http://", "https://")):
        img.append(_origin(settings.custom_logo))
    connect = ["'self'"]
    if settings.storage_backend == "s3":
        if settings.s3_endpoint:
            connect.append(settings.s3_endpoint.rstrip("/") + "/")
        else:
            region = settings.s3_region
            connect += [
                f"https://s3.{region}.amazonaws.com",
                f"https://*.s3.{region}.amazonaws.com",
            ]
    form = ["'self'"]
    if settings.oidc_enabled and settings.oidc_issuer:
        form.append(_origin(settings.oidc_issuer))
    directives = [
        ("default-src", ["'self'"]),
        ("script-src", ["'self'", "'wasm-unsafe-eval'"]),
        ("style-src", ["'self'", "'unsafe-inline'"]),
        ("img-src", img),
        ("connect-src", connect),
        ("worker-src", ["'self'", "blob:"]),
        ("child-src", ["'self'", "blob:"]),
        ("frame-src", ["'self'"]),
        ("object-src", ["'none'"]),
        ("base-uri", ["'self'"]),
        ("form-action", form),
        ("frame-ancestors", ["'none'"]),
    ]
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives)


def security_headers(settings: Settings) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(settings),
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Origin-Agent-Cluster": "?1",
        "Referrer-Policy": "no-referrer",
        "Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload",
        "X-Content-Type-Options": "nosniff",
        "X-DNS-Prefetch-Control": "off",
        "X-Download-Options": "noopen",
        "X-Frame-Options": "DENY",
        "X-Permitted-Cross-Domain-Policies": "none",
        "X-XSS-Protection": "0",
    }


class SecurityHeaders:
    """ASGI middleware: the security headers on every response, ``no-store`` under /api.

    Working on the raw ASGI header list costs a few list operations per response; setting
    the same 14 headers one by one through the framework's header object took about a
    sixth of the CPU time of a small request. Every response passes here, including error
    pages and refused WebSocket upgrades, and values a handler set are replaced.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self._app = app
        self._security = [
            (name.lower().encode(), value.encode())
            for name, value in security_headers(settings).items()
        ]
        self._replaced = {name for name, _ in self._security} | {b"x-powered-by"}
        self._api_replaced = self._replaced | {b"cache-control"}
        self._api_added = [*self._security, (b"cache-control", b"no-store")]

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        path: str = scope["path"]
        api = path == "/api" or path.startswith("/api/")
        replaced = self._api_replaced if api else self._replaced
        added = self._api_added if api else self._security

        async def send_with_headers(message: Any) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                kept = [
                    h for h in message.get("headers", ()) if bytes(h[0]).lower() not in replaced
                ]
                message = {**message, "headers": kept + added}
            await send(message)

        await self._app(scope, receive, send_with_headers)


class HeaderPolicy:
    """The CORS headers (http-api.md §1.6); the CORS layer is in front of every path."""

    def __init__(self, settings: Settings) -> None:
        self._origins = frozenset([settings.base_url.rstrip("/"), *settings.cors_origins])

    def allowed_origin(self, origin: str | None) -> bool:
        return bool(origin) and origin in self._origins

    def apply(self, response: Response, path: str, origin: str | None) -> Response:
        headers = response.headers
        if self.allowed_origin(origin):
            headers["Access-Control-Allow-Origin"] = origin or ""
            _add_vary(headers, "Origin")
        elif path == "/api/health":
            headers["Access-Control-Allow-Origin"] = "*"
        headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        return response

    def preflight(self, path: str, origin: str | None, request_headers: str | None) -> Response:
        response = Response(b"", status=204)
        # A preflight answer has no entity: no Content-Type, no Content-Length (§1.6).
        response.headers.pop("Content-Type", None)
        response.headers.pop("Content-Length", None)
        headers = response.headers
        if path == "/api/health":
            headers["Access-Control-Allow-Origin"] = "*"
            headers["Access-Control-Allow-Methods"] = HEALTH_ALLOW_METHODS
            if request_headers:
                headers["Access-Control-Allow-Headers"] = request_headers
            _add_vary(headers, "Access-Control-Request-Headers")
            return response
        if self.allowed_origin(origin):
            headers["Access-Control-Allow-Origin"] = origin or ""
            _add_vary(headers, "Origin")
        headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        _add_vary(headers, "Access-Control-Request-Headers")
        return response
