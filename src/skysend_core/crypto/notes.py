"""Note content encryption (crypto.md §8).

``encryptedContent = AES-256-GCM(metaKey, nonce, UTF-8 content)``, single shot, with the
note's own ``metaKey`` (HKDF info ``skysend-metadata``). The plaintext layouts of the
structured content types live in :mod:`skysend_core.crypto.note_formats`.
"""

from __future__ import annotations

import secrets

import attrs

from skysend_core.crypto.aead import NONCE_LENGTH, BytesLike, seal, unseal
from skysend_core.crypto.encoding import b64_encode, b64url_encode


@attrs.frozen
class EncryptedNote:
    """Ciphertext (with tag) and nonce, with both wire encodings at hand."""

    ciphertext: bytes
    nonce: bytes

    @property
    def encrypted_content_b64(self) -> str:
        """Standard base64 with padding (web app; accepted by every server)."""
        return b64_encode(self.ciphertext)

    @property
    def nonce_b64(self) -> str:
        return b64_encode(self.nonce)

    @property
    def encrypted_content_b64u(self) -> str:
        """base64url without padding (reference CLI)."""
        return b64url_encode(self.ciphertext)

    @property
    def nonce_b64u(self) -> str:
        return b64url_encode(self.nonce)


def note_plaintext_length(content: str) -> int:
    """UTF-8 length of the content, the value compared with ``noteMaxSize``."""
    return len(content.encode("utf-8"))


def encrypt_note(
    meta_key: BytesLike, content: str, *, nonce: BytesLike | None = None
) -> EncryptedNote:
    """Encrypt note content with a fresh 12-byte nonce (``nonce`` only to reproduce vectors).

    Content that is not encodable as UTF-8 (lone surrogates) raises :class:`ValueError`.
    """
    iv = secrets.token_bytes(NONCE_LENGTH) if nonce is None else bytes(nonce)
    return EncryptedNote(ciphertext=seal(meta_key, iv, content.encode("utf-8")), nonce=iv)


def decrypt_note(meta_key: BytesLike, ciphertext: BytesLike, nonce: BytesLike) -> str:
    """Decrypt note content; every failure is an :class:`~.aead.IntegrityError`.

    Invalid UTF-8 is replaced with U+FFFD, as the web app's ``TextDecoder`` does.
    """
    return unseal(meta_key, nonce, ciphertext).decode("utf-8", errors="replace")
