"""Key material, HKDF key derivation and the auth / owner tokens (crypto.md §2, §3, §4).

``fileKey``, ``metaKey`` and ``authKey`` (hence the auth token) always come from the *raw*
secret; the owner token comes from the *effective* secret, the value in the share URL
(the protected secret when a password is set). :class:`ItemKeys` bundles both flows.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from skysend_core.crypto.aead import KEY_LENGTH, BytesLike, check_length
from skysend_core.crypto.encoding import b64url_encode
from skysend_core.crypto.password import (
    derive_password_key,
    generate_password_salt,
    protect_secret,
    unprotect_secret,
)

SECRET_LENGTH = 32
SALT_LENGTH = 32
LEGACY_SALT_LENGTH = 16
TOKEN_LENGTH = 32

INFO_FILE_KEY = b"skysend-file-encryption"
INFO_META_KEY = b"skysend-metadata"
INFO_AUTH_KEY = b"skysend-authentication"
INFO_OWNER_TOKEN = b"skysend-owner-token"
AUTH_TOKEN_MESSAGE = b"skysend-auth-token"


def generate_secret() -> bytes:
    """32 fresh random bytes: the root of every key of one item."""
    return secrets.token_bytes(SECRET_LENGTH)


def generate_salt() -> bytes:
    """32 fresh random bytes (current clients never produce the legacy 16-byte length)."""
    return secrets.token_bytes(SALT_LENGTH)


def _hkdf(ikm: BytesLike, salt: BytesLike, info: bytes) -> bytes:
    check_length("secret", ikm, SECRET_LENGTH)
    check_length("salt", salt, SALT_LENGTH, LEGACY_SALT_LENGTH)
    kdf = HKDF(algorithm=hashes.SHA256(), length=KEY_LENGTH, salt=bytes(salt), info=info)
    return kdf.derive(bytes(ikm))


def derive_file_key(secret: BytesLike, salt: BytesLike) -> bytes:
    """AES-256-GCM key of the payload stream."""
    return _hkdf(secret, salt, INFO_FILE_KEY)


def derive_meta_key(secret: BytesLike, salt: BytesLike) -> bytes:
    """AES-256-GCM key of the metadata and of note content."""
    return _hkdf(secret, salt, INFO_META_KEY)


def derive_auth_key(secret: BytesLike, salt: BytesLike) -> bytes:
    """HMAC-SHA256 key of the auth token."""
    return _hkdf(secret, salt, INFO_AUTH_KEY)


def compute_auth_token(auth_key: BytesLike) -> bytes:
    """``HMAC-SHA256(authKey, "skysend-auth-token")``, 32 bytes."""
    check_length("auth key", auth_key, KEY_LENGTH)
    return hmac.new(bytes(auth_key), AUTH_TOKEN_MESSAGE, hashlib.sha256).digest()


def derive_owner_token(effective_secret: BytesLike, salt: BytesLike) -> bytes:
    """HKDF over the *effective* secret (the share-URL value), 32 bytes."""
    return _hkdf(effective_secret, salt, INFO_OWNER_TOKEN)


@attrs.frozen
class ItemKeys:
    """Every key and token of one upload or note.

    Build with :meth:`generate` when creating an item and :meth:`from_share` when opening
    one from its share URL. Secrets, keys and tokens are kept out of ``repr``.
    """

    salt: bytes
    password_salt: bytes | None
    secret: bytes = attrs.field(repr=False)
    effective_secret: bytes = attrs.field(repr=False)
    file_key: bytes = attrs.field(repr=False)
    meta_key: bytes = attrs.field(repr=False)
    auth_key: bytes = attrs.field(repr=False)
    auth_token: bytes = attrs.field(repr=False)
    owner_token: bytes = attrs.field(repr=False)

    @classmethod
    def derive(
        cls,
        secret: BytesLike,
        salt: BytesLike,
        *,
        effective_secret: BytesLike | None = None,
        password_salt: BytesLike | None = None,
    ) -> ItemKeys:
        """Derive from the raw secret; ``effective_secret`` defaults to the secret itself."""
        effective = bytes(secret if effective_secret is None else effective_secret)
        auth_key = derive_auth_key(secret, salt)
        return cls(
            salt=bytes(salt),
            password_salt=None if password_salt is None else bytes(password_salt),
            secret=bytes(secret),
            effective_secret=effective,
            file_key=derive_file_key(secret, salt),
            meta_key=derive_meta_key(secret, salt),
            auth_key=auth_key,
            auth_token=compute_auth_token(auth_key),
            owner_token=derive_owner_token(effective, salt),
        )

    @classmethod
    def generate(cls, password: str | None = None) -> ItemKeys:
        """Fresh secret and salt (and password salt) for a new item (§4, steps 1 to 4)."""
        secret, salt = generate_secret(), generate_salt()
        if password is None:
            return cls.derive(secret, salt)
        password_salt = generate_password_salt()
        protected = protect_secret(secret, derive_password_key(password, password_salt))
        return cls.derive(secret, salt, effective_secret=protected, password_salt=password_salt)

    @classmethod
    def from_share(
        cls,
        effective_secret: BytesLike,
        salt: BytesLike,
        *,
        password: str | None = None,
        password_salt: BytesLike | None = None,
    ) -> ItemKeys:
        """Keys of an existing item from its share-URL secret (and password, if protected).

        A wrong password is not detected here; it yields an auth token the server rejects.
        """
        if password is None:
            return cls.derive(effective_secret, salt)
        if password_salt is None:
            raise ValueError("a password needs the item's password salt")
        secret = unprotect_secret(effective_secret, derive_password_key(password, password_salt))
        return cls.derive(
            secret, salt, effective_secret=effective_secret, password_salt=password_salt
        )

    @property
    def has_password(self) -> bool:
        return self.password_salt is not None

    @property
    def fragment(self) -> str:
        """The share-URL fragment: base64url of the effective secret (43 characters)."""
        return b64url_encode(self.effective_secret)

    @property
    def salt_b64u(self) -> str:
        return b64url_encode(self.salt)

    @property
    def password_salt_b64u(self) -> str | None:
        return None if self.password_salt is None else b64url_encode(self.password_salt)

    @property
    def auth_token_b64u(self) -> str:
        return b64url_encode(self.auth_token)

    @property
    def owner_token_b64u(self) -> str:
        return b64url_encode(self.owner_token)
