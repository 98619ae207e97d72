"""Server error answers become the documented exception tree."""

from __future__ import annotations

import pytest

from skysend_http.client import (
    AuthError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    GoneError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    SkySendClientError,
    TooLargeError,
)
from skysend_http.client.errors import error_from_response


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BadRequestError),
        (401, AuthError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, ConflictError),
        (410, GoneError),
        (413, TooLargeError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
    ],
)
def test_status_picks_the_class(status: int, kind: type[ServerError]) -> None:
    error = error_from_response(status, b'{"error":"Upload not found"}')
    assert type(error) is kind
    assert isinstance(error, SkySendClientError)
    assert (error.status, error.message) == (status, "Upload not found")
    assert str(error) == f"Upload not found (HTTP {status})"


def test_details_are_kept() -> None:
    body = b'{"error":"Invalid request headers","details":{"salt":["Invalid base64url"]}}'
    error = error_from_response(400, body)
    assert error.details == {"salt": ["Invalid base64url"]}


def test_retry_after_from_header_or_body() -> None:
    locked = error_from_response(
        429, b'{"error":"Too many failed attempts. Try again later."}', {"retry-after": "900"}
    )
    quota = error_from_response(429, b'{"error":"Upload quota exceeded","retryAfter":3600}')
    assert isinstance(locked, RateLimitedError)
    assert isinstance(quota, RateLimitedError)
    assert (locked.retry_after, quota.retry_after) == (900, 3600)


def test_a_body_that_is_not_error_json_gives_a_generic_message() -> None:
    assert error_from_response(502, b"<html>Bad gateway</html>").message == "HTTP 502"
    assert error_from_response(500, b"").message == "HTTP 500"
    assert error_from_response(500, b'["x"]').message == "HTTP 500"
