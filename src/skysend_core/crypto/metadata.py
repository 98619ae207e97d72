"""Encrypted payload metadata (crypto.md §7).

The plaintext schemas are :func:`attrs.frozen` classes, :class:`SingleFileMetadata` and
:class:`ArchiveMetadata`; their JSON form is produced here because its exact bytes are part
of the contract (compact ``JSON.stringify`` output, keys in the documented order, UTF-8)::

    {"type":"single","name":"document.pdf","size":1048576,"mimeType":"application/pdf"}
    {"type":"archive","files":[{"name":"b.txt","size":12}],"totalSize":12}

``encryptedMeta = AES-256-GCM(metaKey, iv, UTF-8 JSON)``; both values travel as standard
base64 with padding. Decryption validates the schema, drops unknown fields and raises
:class:`~skysend_core.crypto.aead.IntegrityError` for any failure, cryptographic or not.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from typing import Any, TypeAlias

import attrs

from skysend_core.crypto.aead import (
    NONCE_LENGTH,
    BytesLike,
    raise_integrity_error,
    seal,
    unseal,
)
from skysend_core.crypto.encoding import b64_encode

DEFAULT_MIME_TYPE = "application/octet-stream"


def _non_empty(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must be a non-empty string")


def _size(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{attribute.name} must be an integer >= 0")


@attrs.frozen
class SingleFileMetadata:
    """``fileCount = 1``: the payload is the file itself; ``size`` is its plaintext length."""

    name: str = attrs.field(validator=_non_empty)
    size: int = attrs.field(validator=_size)
    mime_type: str = attrs.field(
        default=DEFAULT_MIME_TYPE, validator=attrs.validators.instance_of(str)
    )


@attrs.frozen
class ArchiveEntry:
    """One file inside an archive upload: its name (may contain ``/``) and original size."""

    name: str = attrs.field(validator=_non_empty)
    size: int = attrs.field(validator=_size)


def _entries(files: Iterable[ArchiveEntry]) -> tuple[ArchiveEntry, ...]:
    entries = tuple(files)
    if not all(isinstance(entry, ArchiveEntry) for entry in entries):
        raise TypeError("files must be ArchiveEntry values")
    return entries


@attrs.frozen
class ArchiveMetadata:
    """``fileCount > 1``: the payload is a ZIP; ``total_size`` sums the original sizes."""

    files: tuple[ArchiveEntry, ...] = attrs.field(converter=_entries)
    total_size: int = attrs.field(validator=_size)

    @classmethod
    def of(cls, files: Iterable[ArchiveEntry]) -> ArchiveMetadata:
        """Metadata for ``files`` with ``total_size`` computed as their sum."""
        entries = tuple(files)
        return cls(files=entries, total_size=sum(entry.size for entry in entries))


Metadata: TypeAlias = SingleFileMetadata | ArchiveMetadata


@attrs.frozen
class EncryptedMetadata:
    """Ciphertext (with tag) and IV; ``*_b64`` give the ``encryptedMeta`` / ``nonce`` fields."""

    ciphertext: bytes
    iv: bytes

    @property
    def encrypted_meta_b64(self) -> str:
        return b64_encode(self.ciphertext)

    @property
    def nonce_b64(self) -> str:
        return b64_encode(self.iv)


def metadata_to_json(metadata: Metadata) -> bytes:
    """The exact UTF-8 JSON bytes the reference clients encrypt."""
    document: dict[str, Any]
    if isinstance(metadata, SingleFileMetadata):
        document = {
            "type": "single",
            "name": metadata.name,
            "size": metadata.size,
            "mimeType": metadata.mime_type,
        }
    else:
        document = {
            "type": "archive",
            "files": [{"name": entry.name, "size": entry.size} for entry in metadata.files],
            "totalSize": metadata.total_size,
        }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def metadata_from_json(data: BytesLike) -> Metadata:
    """Parse and validate decrypted metadata; :class:`ValueError` on any violation."""
    text = bytes(data).decode("utf-8", errors="replace")  # as the web app's TextDecoder
    try:
        document = json.loads(text, parse_constant=_reject)
    except RecursionError:
        raise ValueError("metadata nested too deeply") from None
    if not isinstance(document, dict):
        raise ValueError("metadata must be a JSON object")
    kind = document.get("type")
    if kind == "single":
        mime_type = document.get("mimeType")
        if not isinstance(mime_type, str):
            raise ValueError("mimeType must be a string")
        return SingleFileMetadata(
            name=_json_name(document.get("name")),
            size=_json_size(document.get("size")),
            mime_type=mime_type,
        )
    if kind == "archive":
        files = document.get("files")
        if not isinstance(files, list) or not all(isinstance(item, dict) for item in files):
            raise ValueError("files must be an array of objects")
        entries = tuple(
            ArchiveEntry(name=_json_name(item.get("name")), size=_json_size(item.get("size")))
            for item in files
        )
        return ArchiveMetadata(files=entries, total_size=_json_size(document.get("totalSize")))
    raise ValueError("unknown metadata type")


def encrypt_metadata(
    meta_key: BytesLike, metadata: Metadata, *, iv: BytesLike | None = None
) -> EncryptedMetadata:
    """Encrypt under ``metaKey`` with a fresh 12-byte IV (``iv`` only to reproduce vectors)."""
    nonce = secrets.token_bytes(NONCE_LENGTH) if iv is None else bytes(iv)
    return EncryptedMetadata(ciphertext=seal(meta_key, nonce, metadata_to_json(metadata)), iv=nonce)


def decrypt_metadata(meta_key: BytesLike, ciphertext: BytesLike, iv: BytesLike) -> Metadata:
    """Decrypt and validate; every failure is an :class:`IntegrityError`."""
    plaintext = unseal(meta_key, iv, ciphertext)
    try:
        return metadata_from_json(plaintext)
    except (ValueError, TypeError):
        raise_integrity_error()


def safe_file_name(name: str, fallback: str) -> str:
    """Final path component of a received name, or ``fallback`` if nothing usable is left.

    Metadata names are chosen by whoever uploaded the item; never use them as a path.
    """
    candidate = name.replace("\\", "/").rsplit("/", 1)[-1].replace("\x00", "")
    return fallback if candidate in ("", ".", "..") else candidate


def _json_name(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("name must be a non-empty string")
    return value


def _json_size(value: object) -> int:
    # JSON numbers are doubles in the reference; integral floats (e.g. 1e3) are sizes too.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("size must be a number >= 0")
    return value


def _reject(constant: str) -> None:
    raise ValueError(f"{constant} is not valid JSON")
