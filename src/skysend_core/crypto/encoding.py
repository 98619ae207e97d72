"""Base64 encodings used on the wire (crypto.md §1, spec README "Encodings").

* base64url (RFC 4648 §5) without padding for secrets, salts and tokens. The decoder strips
  trailing ``=`` and rejects anything outside the alphabet (``+``, ``/``, whitespace, …) and
  lengths that cannot come from an encoder (``len % 4 == 1``).
* Standard base64 (RFC 4648 §4) with padding for ``encryptedMeta`` / ``nonce`` and note
  ciphertext.

Decoders raise :class:`ValueError` on malformed input.
"""

from __future__ import annotations

import base64
import binascii
import re

from skysend_core.crypto.aead import BytesLike

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_B64STD = re.compile(r"[A-Za-z0-9+/]*")
_B64ANY = re.compile(r"[A-Za-z0-9+/_-]*")


def b64url_encode(data: BytesLike) -> str:
    """base64url without ``=`` padding (32 bytes → 43 characters)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url, padding optional; reject ``+``, ``/``, whitespace and bad lengths."""
    return _decode(text, _B64URL, "base64url")


def b64_encode(data: BytesLike) -> str:
    """Standard base64 with ``=`` padding."""
    return base64.b64encode(data).decode("ascii")


def b64_decode(text: str) -> bytes:
    """Decode standard base64, padding optional; reject ``-``, ``_`` and whitespace."""
    return _decode(text, _B64STD, "base64")


def b64_decode_any(text: str) -> bytes:
    """Decode either alphabet, padding optional, as servers must for note ciphertext."""
    return _decode(text, _B64ANY, "base64")


def _decode(text: str, alphabet: re.Pattern[str], kind: str) -> bytes:
    stripped = text.rstrip("=")
    if not alphabet.fullmatch(stripped) or len(stripped) % 4 == 1:
        raise ValueError(f"invalid {kind} string")
    normalized = stripped.replace("-", "+").replace("_", "/") + "=" * (-len(stripped) % 4)
    try:
        return base64.b64decode(normalized, validate=True)
    except binascii.Error:  # pragma: no cover - excluded by the checks above
        raise ValueError(f"invalid {kind} string") from None
