"""Per-client protections inside the endpoints (http-api.md §1.8-1.11, §2.2): the quota
check and record around upload creation, the lockout guard of the token checks, and
``GET /api/quota``. (The rate limiter runs in front of them, in :mod:`skysend_http.gateway`.)

Everything here reads the client address of the current request or WebSocket upgrade;
the core hashes it before it is stored. Addresses are never logged.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager

from quart import Blueprint, Response, current_app, has_websocket_context, request, websocket

from skysend_core.errors import StorageError
from skysend_core.limits import Limits
from skysend_http.errors import json_response
from skysend_http.gateway import scope_ip
from skysend_http.shapes import iso_ms

log = logging.getLogger(__name__)

blueprint = Blueprint("limits", __name__, url_prefix="/api")


def _limits() -> Limits:
    limits: Limits = current_app.extensions["skysend"].limits
    return limits


def request_ip() -> str:
    """The client address (§1.8) of the current request or WebSocket upgrade."""
    current = websocket if has_websocket_context() else request
    return scope_ip(current.scope, current_app.extensions["skysend"].settings)


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
