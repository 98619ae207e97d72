"""Per-client protections over HTTP (http-api.md §1.8-1.11, §2.2): the rate limiter of the
request pipeline, the quota check and record around upload creation, the lockout guard of
the token checks, and ``GET /api/quota``.

Everything here reads the client address of the current request or WebSocket upgrade;
the core hashes it before it is stored. Addresses are never logged.
"""

from __future__ import annotations

import logging
import re
from contextlib import AbstractAsyncContextManager

from quart import Blueprint, Response, current_app, g, has_websocket_context, request, websocket

from skysend_core.errors import StorageError
from skysend_core.limits import Limits
from skysend_core.limits_model import TOO_MANY_REQUESTS, RateDecision, client_ip
from skysend_http.errors import error_response, json_response
from skysend_http.shapes import iso_ms

log = logging.getLogger(__name__)

blueprint = Blueprint("limits", __name__, url_prefix="/api")

#: Paths under ``/api`` that are not rate-limited (§1.3 layer 2).
_UNCOUNTED = re.compile(r"/api/upload/[^/]+/chunk|/api/upload/ws")


def _limits() -> Limits:
    limits: Limits = current_app.extensions["skysend"].limits
    return limits


def is_counted(path: str) -> bool:
    """Whether the rate limiter counts a (non-preflight) request to ``path`` (§1.9)."""
    in_scope = path.startswith(("/api/", "/auth/")) or path in ("/api", "/auth")
    return in_scope and _UNCOUNTED.fullmatch(path) is None


def request_ip() -> str:
    """The client address (§1.8) of the current request or WebSocket upgrade."""
    current = websocket if has_websocket_context() else request
    peer = current.scope.get("client")
    headers = current.headers
    # Several X-Forwarded-For lines read as one list, as proxies and Node join them.
    forwarded = ", ".join(headers.getlist("X-Forwarded-For")) or None
    return client_ip(
        peer[0] if peer else None,
        forwarded,
        headers.get("X-Real-IP"),
        current_app.extensions["skysend"].settings.trust_proxy,
    )


# -- rate limit (pipeline layer 2) ---------------------------------------------------------


async def count_request(path: str) -> Response | None:
    """Count the request if it is in scope; the 429 answer when it is over the limit."""
    if not is_counted(path):
        return None
    decision = await _limits().hit(request_ip())
    g.rate_limit = decision
    return None if decision.allowed else error_response(TOO_MANY_REQUESTS, 429)


def add_rate_limit_headers(response: Response) -> None:
    """``X-RateLimit-*`` on every response to a counted request, errors included."""
    decision: RateDecision | None = g.get("rate_limit")
    if decision is None:
        return
    response.headers["X-RateLimit-Limit"] = str(decision.limit)
    response.headers["X-RateLimit-Remaining"] = str(decision.remaining)
    response.headers["X-RateLimit-Reset"] = str(decision.reset_ms)


# -- upload quota --------------------------------------------------------------------------


async def check_upload_quota(declared: int) -> None:
    """At upload creation: raise ``QuotaExceeded`` (429) or ``TooLarge`` (413) for the
    client, given the declared encrypted size (``upload_params.declared_length``)."""
    await _limits().check_quota(request_ip(), declared)


async def record_upload(size: int) -> None:
    """After an upload is stored and its row inserted: count ``size`` bytes for the client
    that completed it. The upload has succeeded either way, so a storage failure here is
    logged, not answered."""
    try:
        await _limits().record_upload(request_ip(), size)
    except StorageError:
        log.exception("could not record quota usage of a completed upload")


@blueprint.get("/quota")
async def quota() -> Response:
    status = await _limits().quota_status(request_ip())
    return json_response(
        {
            "enabled": status.enabled,
            "limit": status.limit,
            "used": status.used,
            "remaining": status.remaining,
            "resetsAt": iso_ms(status.reset_at) if status.reset_at is not None else None,
            "window": status.window_s,
        }
    )


# -- password lockout ----------------------------------------------------------------------


def password_attempt(resource: str) -> AbstractAsyncContextManager[None]:
    """Guard one token check of ``resource`` (``file:<id>``, ``note:<id>``) for the client:
    429 while locked out, a 401 inside counts as a failure, success clears the count."""
    return _limits().password_attempt(resource, request_ip())
