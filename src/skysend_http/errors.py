"""The one table mapping the core's error tree onto HTTP (http-api.md §1.2)."""

from __future__ import annotations

import json
from typing import Any

from quart import Response

from skysend_core import errors as core

STATUS: list[tuple[type[core.SkySendError], int]] = [
    (core.InvalidRequest, 400),
    (core.InvalidToken, 401),
    (core.ServiceDisabled, 403),
    (core.NotFound, 404),
    (core.Conflict, 409),
    (core.Gone, 410),
    (core.TooLarge, 413),
    (core.Locked, 429),
    (core.QuotaExceeded, 429),
    (core.RateLimited, 429),
    (core.StorageError, 500),
    (core.Unavailable, 503),
]


def json_bytes(body: Any) -> bytes:
    """The wire form of every JSON answer: compact, as the reference sends it."""
    return json.dumps(body, separators=(",", ":")).encode()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json_bytes(body),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def error_response(message: str, status: int, **extra: Any) -> Response:
    return json_response({"error": message, **extra}, status)


def response_for(error: core.SkySendError) -> Response:
    status = next((code for kind, code in STATUS if isinstance(error, kind)), 500)
    if isinstance(error, core.BlobMissing):
        return error_response(error.message, 500)
    if status == 500:
        return error_response("Internal server error", 500)
    extra: dict[str, Any] = {}
    if isinstance(error, core.InvalidRequest) and error.details:
        extra["details"] = error.details
    if isinstance(error, core.QuotaExceeded):
        extra["retryAfter"] = error.retry_after
    response = error_response(error.message, status, **extra)
    if isinstance(error, core.Locked):
        response.headers["Retry-After"] = str(error.retry_after)
    return response
