"""Password protection of the share-URL secret (crypto.md §4).

``passwordKey = Argon2id(password, passwordSalt)`` and the share URL carries
``secret XOR passwordKey``. A wrong password is not detected here: it only yields a
different secret, hence a different auth token that the server rejects.

Argon2id with these parameters takes a noticeable fraction of a second and 64 MiB of
memory; callers on an event loop should run :func:`derive_password_key` in a thread.
"""

from __future__ import annotations

import secrets

from argon2.low_level import Type, hash_secret_raw

from skysend_core.crypto.aead import BytesLike, check_length

PASSWORD_ALGORITHM = "argon2id-v2"
"""The only accepted ``passwordAlgo`` identifier."""

PASSWORD_SALT_LENGTH = 16
PASSWORD_KEY_LENGTH = 32
ARGON2_MEMORY_KIB = 65536
ARGON2_ITERATIONS = 3
ARGON2_PARALLELISM = 1
ARGON2_VERSION = 0x13


def generate_password_salt() -> bytes:
    """16 fresh random bytes, one per password-protected upload or note."""
    return secrets.token_bytes(PASSWORD_SALT_LENGTH)


def is_supported_password_algorithm(algorithm: str) -> bool:
    """Whether ``passwordAlgo`` names the one scheme this implementation speaks."""
    return algorithm == PASSWORD_ALGORITHM


def derive_password_key(password: str, password_salt: BytesLike) -> bytes:
    """Argon2id over the UTF-8 bytes of ``password`` (no normalisation), 32 bytes."""
    if not password:
        raise ValueError("password must not be empty")
    check_length("password salt", password_salt, PASSWORD_SALT_LENGTH)
    return hash_secret_raw(
        secret=password.encode("utf-8"),
        salt=bytes(password_salt),
        time_cost=ARGON2_ITERATIONS,
        memory_cost=ARGON2_MEMORY_KIB,
        parallelism=ARGON2_PARALLELISM,
        hash_len=PASSWORD_KEY_LENGTH,
        type=Type.ID,
        version=ARGON2_VERSION,
    )


def protect_secret(secret: BytesLike, password_key: BytesLike) -> bytes:
    """``secret XOR passwordKey``: the effective secret placed in the share URL."""
    return _xor(secret, password_key)


def unprotect_secret(protected_secret: BytesLike, password_key: BytesLike) -> bytes:
    """Recover the raw secret from the share-URL secret and the password key."""
    return _xor(protected_secret, password_key)


def _xor(left: BytesLike, right: BytesLike) -> bytes:
    check_length("secret", left, PASSWORD_KEY_LENGTH)
    check_length("password key", right, PASSWORD_KEY_LENGTH)
    mixed = int.from_bytes(left, "big") ^ int.from_bytes(right, "big")
    return mixed.to_bytes(PASSWORD_KEY_LENGTH, "big")
