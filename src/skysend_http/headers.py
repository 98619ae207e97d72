"""Response headers set in one place: security headers, caching, CORS (http-api.md §1.4–1.6)."""

from __future__ import annotations

from urllib.parse import urlsplit

from werkzeug.http import parse_cookie

from skysend_core.config import Settings

EXPOSE_HEADERS = "X-RateLimit-Limit,X-RateLimit-Remaining,X-RateLimit-Reset,X-File-Count"
ALLOW_METHODS = "GET,POST,DELETE,OPTIONS"
ALLOW_HEADERS = (
    "Content-Type,Content-Length,X-Content-Length,X-Auth-Token,X-Owner-Token,X-Salt,"
    "X-Max-Downloads,X-Expire-Sec,X-File-Count,X-Has-Password,X-Password-Salt,"
    "X-Password-Algo,Authorization"
)
HEALTH_ALLOW_METHODS = "GET,HEAD,PUT,POST,DELETE,PATCH"


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


RawHeaders = list[tuple[bytes, bytes]]


def has_vary(headers: RawHeaders, name: bytes) -> bool:
    """Whether ``Vary`` already lists ``name`` (§1.6: values are appended, not repeated)."""
    return any(
        key.lower() == b"vary" and name in {token.strip().lower() for token in value.split(b",")}
        for key, value in headers
    )


class HeaderPolicy:
    """The response headers every answer gets (http-api.md §1.4-1.6), on raw ASGI header
    lists: security headers, ``no-store`` under /api, CORS.

    Working on the raw list costs a few list operations per response; setting the same
    headers one by one through the framework's header object took about a sixth of the CPU
    time of a small request.
    """

    def __init__(self, settings: Settings) -> None:
        self._origins = frozenset([settings.base_url.rstrip("/"), *settings.cors_origins])
        self._security = [
            (name.lower().encode(), value.encode())
            for name, value in security_headers(settings).items()
        ]
        cors = {b"access-control-allow-origin", b"access-control-expose-headers"}
        self._replaced = {name for name, _ in self._security} | {b"x-powered-by"} | cors
        self._api_replaced = self._replaced | {b"cache-control"}
        self._expose = (b"access-control-expose-headers", EXPOSE_HEADERS.encode())
        self._added = [*self._security, self._expose]
        self._api_added = [*self._added, (b"cache-control", b"no-store")]

    def allowed_origin(self, origin: str | None) -> bool:
        return bool(origin) and origin in self._origins

    def finish(self, headers: RawHeaders, path: str, origin: str | None) -> RawHeaders:
        """``headers`` (a handler's) with the policy applied; values it set are replaced."""
        api = path == "/api" or path.startswith("/api/")
        replaced = self._api_replaced if api else self._replaced
        result = [h for h in headers if bytes(h[0]).lower() not in replaced]
        result += self._api_added if api else self._added
        if origin and self.allowed_origin(origin):
            result.append((b"access-control-allow-origin", origin.encode("latin-1")))
            if not has_vary(result, b"origin"):
                result.append((b"vary", b"Origin"))
        elif path == "/api/health":
            result.append((b"access-control-allow-origin", b"*"))
        return result

    def preflight(self, path: str, request_headers: str | None) -> RawHeaders:
        """The headers of a preflight answer (204, no entity) before :meth:`finish`."""
        if path == "/api/health":
            headers = [(b"access-control-allow-methods", HEALTH_ALLOW_METHODS.encode())]
            if request_headers:
                headers.append((b"access-control-allow-headers", request_headers.encode("latin-1")))
        else:
            headers = [
                (b"access-control-allow-methods", ALLOW_METHODS.encode()),
                (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
            ]
        headers.append((b"vary", b"Access-Control-Request-Headers"))
        return headers


def cookie_value(header: str | None, name: str) -> str | None:
    """One cookie from a ``Cookie`` header (``None`` if absent)."""
    if not header:
        return None
    value: str | None = parse_cookie(header).get(name)
    return value
