"""Servers and share URLs as the client meets them, and opening an item's keys."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from skysend_core.crypto import (
    ItemKeys,
    ShareKind,
    ShareUrl,
    is_supported_password_algorithm,
    parse_share_url,
)
from skysend_http.client.errors import (
    WRONG_LINK,
    AuthError,
    InvalidLinkError,
    InvalidResponseError,
    PasswordRequiredError,
)
from skysend_http.client.models import PasswordSource


def normalize_server(url: str) -> str:
    """An ``http(s)://`` server URL without trailing slashes; :class:`ValueError` otherwise."""
    server = url.strip().rstrip("/")
    scheme, _, rest = server.partition("://")
    if scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
        raise ValueError(f"Invalid URL: {url}")
    return server


def share_of(share_url: str | ShareUrl, kind: ShareKind) -> ShareUrl:
    share = share_url if isinstance(share_url, ShareUrl) else parse_share_url(share_url)
    if share.kind != kind:
        raise ValueError(f"This URL is a {share.kind}, not a {kind}")
    return share


async def open_keys(
    share: ShareUrl,
    salt: bytes,
    has_password: bool,
    algorithm: str | None,
    password_salt: bytes | None,
    password: PasswordSource | None,
) -> ItemKeys:
    """The item's keys from its link secret (and password: Argon2id runs in a thread)."""
    if not has_password:
        return ItemKeys.from_share(share.secret, salt)
    if algorithm is None or not is_supported_password_algorithm(algorithm):
        raise InvalidResponseError(f"Unsupported password algorithm: {algorithm}")
    if callable(password):
        password = await asyncio.to_thread(password)
    if not password:
        raise PasswordRequiredError("This item is password protected: a password is required")
    return await asyncio.to_thread(
        ItemKeys.from_share, share.secret, salt, password=password, password_salt=password_salt
    )


@contextlib.contextmanager
def key_refusal_is_a_wrong_link() -> Iterator[None]:
    """A 401 for the auth token derived from the link (note view, download) means the
    link's key is wrong: :class:`InvalidLinkError`, reported like a failed decryption."""
    try:
        yield
    except AuthError as exc:
        raise InvalidLinkError(exc.status, WRONG_LINK, body=exc.body) from None
