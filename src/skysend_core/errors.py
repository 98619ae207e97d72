"""The one error tree of SkySend's core.

::

    SkySendError
    ├── NotFound            the item (upload, note, session) does not exist
    ├── Gone                it exists but is expired or exhausted (``reason``)
    ├── InvalidToken        a credential is missing, malformed or wrong
    ├── InvalidRequest      a value breaks a rule (``details`` maps field -> messages)
    ├── Conflict            the operation collides with the item's state
    ├── TooLarge            a size limit was passed (declared or while streaming)
    ├── Locked              too many failed attempts (``retry_after`` seconds)
    ├── QuotaExceeded       the caller's upload quota is used up (``retry_after`` seconds)
    ├── RateLimited         too many requests
    ├── ServiceDisabled     the file or note service is switched off
    ├── Unavailable         a service the server depends on (the OIDC provider) is unreachable
    └── StorageError        the blob store or repository failed (an operator problem)

Every error carries the user-facing ``message`` of the documented contract. The core knows
no status codes; the HTTP layer maps this tree in one table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal


class SkySendError(Exception):
    """Base of every error the core raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(SkySendError):
    pass


class Gone(SkySendError):
    def __init__(self, message: str, reason: Literal["expired", "exhausted"]) -> None:
        super().__init__(message)
        self.reason = reason


class InvalidToken(SkySendError):
    pass


class InvalidRequest(SkySendError):
    def __init__(self, message: str, details: Mapping[str, Sequence[str]] | None = None) -> None:
        super().__init__(message)
        self.details = {k: list(v) for k, v in details.items()} if details else None


class Conflict(SkySendError):
    pass


class TooLarge(SkySendError):
    pass


class Locked(SkySendError):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QuotaExceeded(SkySendError):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(SkySendError):
    pass


class ServiceDisabled(SkySendError):
    pass


class Unavailable(SkySendError):
    pass


class StorageError(SkySendError):
    """A port failed. The message is for logs; clients see a generic 500."""


class BlobMissing(StorageError):
    """A row exists but its blob does not (served as the documented 500)."""
