"""AES-256-GCM single-shot sealing and the one error every decryption failure raises.

Every ciphertext in the scheme is AES-256-GCM with a 12-byte nonce, a 16-byte tag appended
to the ciphertext and no associated data (crypto.md §1).
"""

from __future__ import annotations

from typing import NoReturn, TypeAlias

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

BytesLike: TypeAlias = bytes | bytearray | memoryview
"""Anything the buffer protocol can read as bytes."""

KEY_LENGTH = 32
NONCE_LENGTH = 12
TAG_LENGTH = 16

_MESSAGE = "decryption failed: wrong key, or data corrupted, tampered with or truncated"


class IntegrityError(Exception):
    """A ciphertext could not be decrypted or failed an integrity check.

    Raised for a wrong key, tampered or corrupted data, a truncated or over-long stream,
    a malformed header or record, and for plaintext that does not have the documented
    shape. The message never says which, so the error cannot act as an oracle.
    """

    def __init__(self) -> None:
        super().__init__(_MESSAGE)


def raise_integrity_error() -> NoReturn:
    """Raise :class:`IntegrityError` without chaining the underlying cause."""
    raise IntegrityError from None


def check_length(name: str, value: BytesLike, *lengths: int) -> None:
    """Reject key material of the wrong length (a programming error, not tampering)."""
    if len(value) not in lengths:
        expected = " or ".join(str(n) for n in lengths)
        raise ValueError(f"{name} must be {expected} bytes, got {len(value)}")


def seal(key: BytesLike, nonce: BytesLike, plaintext: BytesLike) -> bytes:
    """Encrypt one message: ``ciphertext || tag``."""
    check_length("key", key, KEY_LENGTH)
    check_length("nonce", nonce, NONCE_LENGTH)
    return AESGCM(key).encrypt(nonce, plaintext, None)


def unseal(key: BytesLike, nonce: BytesLike, sealed: BytesLike) -> bytes:
    """Decrypt one ``ciphertext || tag`` message; any failure is an :class:`IntegrityError`."""
    check_length("key", key, KEY_LENGTH)
    if len(nonce) != NONCE_LENGTH or len(sealed) < TAG_LENGTH:
        raise_integrity_error()
    try:
        return AESGCM(key).decrypt(nonce, sealed, None)
    except InvalidTag:
        raise_integrity_error()
