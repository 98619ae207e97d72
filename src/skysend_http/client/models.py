"""What the client returns: server answers parsed into values, and transfer results.

Parsers read only the documented fields and ignore unknown ones (clients.md Part 2, item 4);
a missing or mistyped required field raises :class:`InvalidResponseError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias, TypeVar

import attrs

from skysend_core.crypto import Metadata, b64_decode_any, b64url_decode
from skysend_http.client.errors import InvalidResponseError

UploadTransport: TypeAlias = Literal["ws", "chunked", "single"]
TransportChoice: TypeAlias = Literal["auto", "ws", "chunked", "single"]
OwnerScheme: TypeAlias = Literal["independent", "link"]
Phase: TypeAlias = Literal["packing", "encrypting", "uploading", "fallback", "downloading"]

_T = TypeVar("_T")


@attrs.frozen
class ProgressEvent:
    """One progress report. ``detail`` carries the reason of a ``fallback`` event."""

    phase: Phase
    done: int
    total: int
    detail: str | None = None


ProgressCallback: TypeAlias = Callable[[ProgressEvent], None]
PasswordSource: TypeAlias = str | Callable[[], str]
"""A password, or a callable asked for it only when the item turns out to be protected."""


def _field(doc: Mapping[str, Any], key: str, kind: type[_T] | tuple[type, ...]) -> _T:
    value = doc.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise InvalidResponseError(f"server response: {key!r} missing or of the wrong type")
    return value  # type: ignore[return-value]


def _optional(doc: Mapping[str, Any], key: str, kind: type[_T], default: _T) -> _T:
    value = doc.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise InvalidResponseError(f"server response: {key!r} has the wrong type")
    return value


def _ints(doc: Mapping[str, Any], key: str) -> tuple[int, ...]:
    values = _field(doc, key, list)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise InvalidResponseError(f"server response: {key!r} must be a list of integers")
    return tuple(values)


def _bytes_b64u(doc: Mapping[str, Any], key: str) -> bytes:
    try:
        return b64url_decode(_field(doc, key, str))
    except ValueError:
        raise InvalidResponseError(f"server response: {key!r} is not base64url") from None


def _json_object(data: object) -> Mapping[str, Any]:
    if not isinstance(data, dict):
        raise InvalidResponseError("server response is not a JSON object")
    return data


@attrs.frozen
class ServerConfig:
    """``GET /api/config``: limits and options the server accepts."""

    enabled_services: tuple[str, ...]
    file_max_size: int
    file_max_files_per_upload: int
    file_expire_options: tuple[int, ...]
    file_default_expire: int
    file_download_options: tuple[int, ...]
    file_default_download: int
    file_upload_concurrent_chunks: int
    file_upload_speed_limit: int
    file_upload_ws: bool
    file_upload_quota_bytes: int
    note_max_size: int
    note_expire_options: tuple[int, ...]
    note_default_expire: int
    note_view_options: tuple[int, ...]
    note_default_views: int
    force_file_password: bool
    force_note_password: bool
    oidc_protect_files: bool
    oidc_protect_notes: bool
    custom_title: str
    raw: Mapping[str, Any] = attrs.field(repr=False, eq=False)

    @classmethod
    def from_json(cls, data: object) -> ServerConfig:
        doc = _json_object(data)
        services = _field(doc, "enabledServices", list)
        return cls(
            enabled_services=tuple(s for s in services if isinstance(s, str)),
            file_max_size=_field(doc, "fileMaxSize", int),
            file_max_files_per_upload=_field(doc, "fileMaxFilesPerUpload", int),
            file_expire_options=_ints(doc, "fileExpireOptions"),
            file_default_expire=_field(doc, "fileDefaultExpire", int),
            file_download_options=_ints(doc, "fileDownloadOptions"),
            file_default_download=_field(doc, "fileDefaultDownload", int),
            file_upload_concurrent_chunks=max(1, _field(doc, "fileUploadConcurrentChunks", int)),
            file_upload_speed_limit=_optional(doc, "fileUploadSpeedLimit", int, 0),
            file_upload_ws=_optional(doc, "fileUploadWs", bool, False),
            file_upload_quota_bytes=_optional(doc, "fileUploadQuotaBytes", int, 0),
            note_max_size=_field(doc, "noteMaxSize", int),
            note_expire_options=_ints(doc, "noteExpireOptions"),
            note_default_expire=_field(doc, "noteDefaultExpire", int),
            note_view_options=_ints(doc, "noteViewOptions"),
            note_default_views=_field(doc, "noteDefaultViews", int),
            force_file_password=_optional(doc, "forceFilePassword", bool, False),
            force_note_password=_optional(doc, "forceNotePassword", bool, False),
            oidc_protect_files=_optional(doc, "oidcProtectFiles", bool, False),
            oidc_protect_notes=_optional(doc, "oidcProtectNotes", bool, False),
            custom_title=_optional(doc, "customTitle", str, "SkySend"),
            raw=dict(doc),
        )


@attrs.frozen
class Health:
    status: str
    version: str
    timestamp: str

    @classmethod
    def from_json(cls, data: object) -> Health:
        doc = _json_object(data)
        return cls(
            status=_field(doc, "status", str),
            version=_optional(doc, "version", str, ""),
            timestamp=_optional(doc, "timestamp", str, ""),
        )


@attrs.frozen
class Quota:
    """``GET /api/quota`` for the calling IP; every number is 0 when no quota is set."""

    enabled: bool
    limit: int
    used: int
    remaining: int
    resets_at: str | None
    window: int

    @classmethod
    def from_json(cls, data: object) -> Quota:
        doc = _json_object(data)
        resets_at = doc.get("resetsAt")
        return cls(
            enabled=_field(doc, "enabled", bool),
            limit=_optional(doc, "limit", int, 0),
            used=_optional(doc, "used", int, 0),
            remaining=_optional(doc, "remaining", int, 0),
            resets_at=resets_at if isinstance(resets_at, str) else None,
            window=_optional(doc, "window", int, 0),
        )


@attrs.frozen
class UploadInfo:
    """``GET /api/info/:id``: public facts of an upload; ``size`` is the encrypted size."""

    id: str
    size: int
    file_count: int
    has_password: bool
    password_algo: str | None
    password_salt: bytes | None
    salt: bytes
    encrypted_meta: bytes | None = attrs.field(repr=False)
    meta_nonce: bytes | None = attrs.field(repr=False)
    download_count: int
    max_downloads: int
    expires_at: str
    created_at: str

    @classmethod
    def from_json(cls, data: object) -> UploadInfo:
        doc = _json_object(data)
        has_password = _field(doc, "hasPassword", bool)
        meta, nonce = doc.get("encryptedMeta"), doc.get("nonce")
        try:
            encrypted_meta = b64_decode_any(meta) if isinstance(meta, str) and meta else None
            meta_nonce = b64_decode_any(nonce) if isinstance(nonce, str) and nonce else None
        except ValueError:
            raise InvalidResponseError("server response: metadata is not base64") from None
        return cls(
            id=_field(doc, "id", str),
            size=_field(doc, "size", int),
            file_count=_optional(doc, "fileCount", int, 1),
            has_password=has_password,
            password_algo=_optional(doc, "passwordAlgo", str, "") or None,
            password_salt=_bytes_b64u(doc, "passwordSalt") if has_password else None,
            salt=_bytes_b64u(doc, "salt"),
            encrypted_meta=encrypted_meta,
            meta_nonce=meta_nonce,
            download_count=_field(doc, "downloadCount", int),
            max_downloads=_field(doc, "maxDownloads", int),
            expires_at=_optional(doc, "expiresAt", str, ""),
            created_at=_optional(doc, "createdAt", str, ""),
        )


@attrs.frozen
class NoteInfo:
    """``GET /api/note/:id``: public facts of a note (never its content)."""

    id: str
    content_type: str
    has_password: bool
    password_algo: str | None
    password_salt: bytes | None
    salt: bytes
    max_views: int
    view_count: int
    expires_at: str
    created_at: str

    @classmethod
    def from_json(cls, data: object) -> NoteInfo:
        doc = _json_object(data)
        has_password = _field(doc, "hasPassword", bool)
        return cls(
            id=_field(doc, "id", str),
            content_type=_field(doc, "contentType", str),
            has_password=has_password,
            password_algo=_optional(doc, "passwordAlgo", str, "") or None,
            password_salt=_bytes_b64u(doc, "passwordSalt") if has_password else None,
            salt=_bytes_b64u(doc, "salt"),
            max_views=_field(doc, "maxViews", int),
            view_count=_field(doc, "viewCount", int),
            expires_at=_optional(doc, "expiresAt", str, ""),
            created_at=_optional(doc, "createdAt", str, ""),
        )


@attrs.frozen
class UploadResult:
    """A finished upload.

    ``owner_token`` (base64url) deletes the upload. With the default ``independent`` owner
    scheme it is derived from ``owner_secret``, which exists only here and in the caller's
    records: the share URL alone cannot delete the upload (docs/user/library.md).
    """

    id: str
    url: str
    owner_token: str = attrs.field(repr=False)
    owner_secret: str | None = attrs.field(repr=False)
    owner_scheme: OwnerScheme
    size: int
    encrypted_size: int
    file_count: int
    file_names: tuple[str, ...]
    total_size: int
    expire_sec: int
    max_downloads: int
    has_password: bool
    transport: UploadTransport
    created_at: datetime
    expires_at: datetime
    fallback_reason: str | None = None


@attrs.frozen
class NoteResult:
    """A created note; ``owner_token`` / ``owner_secret`` as in :class:`UploadResult`."""

    id: str
    url: str
    owner_token: str = attrs.field(repr=False)
    owner_secret: str | None = attrs.field(repr=False)
    owner_scheme: OwnerScheme
    content_type: str
    expire_sec: int
    max_views: int
    has_password: bool
    created_at: datetime
    expires_at: str


@attrs.frozen
class NoteView:
    """A decrypted note; viewing consumed one view (``view_count`` is after it)."""

    id: str
    content_type: str
    content: str = attrs.field(repr=False)
    view_count: int
    max_views: int


@attrs.frozen
class DownloadResult:
    """A download saved to ``path``; ``size`` is the plaintext length written."""

    id: str
    path: Path
    name: str
    size: int
    file_count: int
    metadata: Metadata | None
