"""Response headers set in one place: security headers, caching, CORS (http-api.md §1.4–1.6)."""

from __future__ import annotations

from urllib.parse import urlsplit

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


class HeaderPolicy:
    """Applies every cross-cutting response header; built once per app."""

    def __init__(self, settings: Settings) -> None:
        self._security = security_headers(settings)
        self._origins = frozenset([settings.base_url.rstrip("/"), *settings.cors_origins])

    def allowed_origin(self, origin: str | None) -> bool:
        return bool(origin) and origin in self._origins

    def apply(self, response: Response, path: str, origin: str | None) -> Response:
        headers = response.headers
        for name, value in self._security.items():
            headers[name] = value
        headers.pop("X-Powered-By", None)
        if path.startswith("/api/") or path == "/api":
            headers["Cache-Control"] = "no-store"
        # The CORS layer is in front of every path, like the preflight (§1.6).
        self._cors(response, path, origin)
        return response

    def _cors(self, response: Response, path: str, origin: str | None) -> None:
        headers = response.headers
        if self.allowed_origin(origin):
            headers["Access-Control-Allow-Origin"] = origin or ""
            _add_vary(headers, "Origin")
        elif path == "/api/health":
            headers["Access-Control-Allow-Origin"] = "*"
        headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS

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
