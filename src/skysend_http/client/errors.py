"""The client's exceptions: one tree, plus the crypto layer's :class:`IntegrityError`.

::

    SkySendClientError
    ├── ServerError(status, message)     any non-2xx answer; ``message`` is the server's text
    │   ├── BadRequestError              400
    │   ├── AuthError                    401
    │   │   ├── WrongPasswordError       401 from a password check
    │   │   └── InvalidLinkError         401 for the link's own key: a wrong or damaged link
    │   ├── ForbiddenError               403 (service disabled)
    │   ├── NotFoundError                404
    │   ├── ConflictError                409
    │   ├── GoneError                    410 (expired or download / view limit reached)
    │   ├── TooLargeError                413
    │   └── RateLimitedError             429 (``retry_after`` seconds when known)
    ├── TransportError                   the server could not be reached or the connection broke
    ├── InvalidResponseError             a 2xx answer without the documented fields
    ├── WebSocketUploadError             the WebSocket upload failed and could not fall back to HTTP
    │                                    (``transport="ws"``, or payload had been sent already)
    └── PasswordRequiredError            the item is password protected and no password was given

    IntegrityError   (from skysend_core.crypto, re-exported) every decryption or integrity
                     failure: tampered, corrupted or truncated data. Deliberately not part of
                     the tree above, so that ``except SkySendClientError`` never hides it.

Usage errors by the caller (a value that is not one of the server's options, a missing
file, a malformed share URL) raise :class:`ValueError` / :class:`OSError` as usual.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from skysend_core.crypto import IntegrityError

__all__ = [
    "AuthError",
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "GoneError",
    "IntegrityError",
    "InvalidLinkError",
    "InvalidResponseError",
    "NotFoundError",
    "PasswordRequiredError",
    "RateLimitedError",
    "ServerError",
    "SkySendClientError",
    "TooLargeError",
    "TransportError",
    "WebSocketUploadError",
    "WrongPasswordError",
    "error_from_response",
]


class SkySendClientError(Exception):
    """Base of every error the client raises on purpose (except :class:`IntegrityError`)."""


class ServerError(SkySendClientError):
    """The server answered with a non-2xx status; ``message`` is its ``error`` text."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status
        self.message = message
        self.details = dict(details) if details else None
        self.body = dict(body) if body else {}


class BadRequestError(ServerError):
    pass


class AuthError(ServerError):
    pass


class WrongPasswordError(AuthError):
    """The password (hence the derived auth token) was rejected."""


class InvalidLinkError(AuthError):
    """The server refused the auth token derived from the link's key (a view of a note, a
    download without metadata): the link is wrong or incomplete. Password-protected items
    report a wrong link as :class:`WrongPasswordError`, since the two cannot be told apart."""


WRONG_LINK = "Wrong link: the server refused its key (was the whole URL copied?)"


class ForbiddenError(ServerError):
    pass


class NotFoundError(ServerError):
    pass


class ConflictError(ServerError):
    pass


class GoneError(ServerError):
    """Expired, or its download / view limit is reached."""


class TooLargeError(ServerError):
    pass


class RateLimitedError(ServerError):
    """Too many requests, failed password attempts, or the upload quota is used up."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        retry_after: int | None = None,
        details: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(status, message, details=details, body=body)
        self.retry_after = retry_after


class TransportError(SkySendClientError):
    """Network failure: connection refused or reset, timeout, incomplete response."""


class InvalidResponseError(SkySendClientError):
    """A 2xx answer lacked a documented field or had the wrong type (not a SkySend server?)."""


class WebSocketUploadError(SkySendClientError):
    """The WebSocket transport failed; ``close_code`` is the server's close code, if any.

    ``payload_sent`` says whether payload frames had been sent when it failed: only a
    failure before that (handshake, ``init``) lets ``transport="auto"`` fall back to HTTP.
    """

    def __init__(
        self, message: str, *, close_code: int | None = None, payload_sent: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.close_code = close_code
        self.payload_sent = payload_sent


class PasswordRequiredError(SkySendClientError):
    """The item is password protected and no password (or an empty one) was supplied."""


_BY_STATUS: dict[int, type[ServerError]] = {
    400: BadRequestError,
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    413: TooLargeError,
}


def _parse_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def error_from_response(
    status: int, content: bytes, headers: Mapping[str, str] | None = None
) -> ServerError:
    """Turn an error answer into the matching :class:`ServerError` subclass.

    The message is the JSON ``error`` field (http-api.md §1.2); a body that is not such JSON
    (a proxy's HTML page, say) gives a generic ``HTTP <status>`` message.
    """
    body: dict[str, Any] = {}
    try:
        parsed = json.loads(content) if content else None
    except (ValueError, UnicodeDecodeError):
        parsed = None
    if isinstance(parsed, dict):
        body = parsed
    error = body.get("error")
    message = error if isinstance(error, str) and error else f"HTTP {status}"
    details = body.get("details") if isinstance(body.get("details"), dict) else None
    if status == 429:
        retry_after = _parse_int((headers or {}).get("retry-after"))
        if retry_after is None:
            retry_after = _parse_int(body.get("retryAfter"))
        return RateLimitedError(
            status, message, retry_after=retry_after, details=details, body=body
        )
    kind = _BY_STATUS.get(status, ServerError)
    return kind(status, message, details=details, body=body)
