"""Token and base64 rules of the wire contract (http-api.md §1.13).

Tokens are kept at rest only as SHA-256 digests of their decoded bytes and compared in
constant time, so a leaked database holds no usable credential.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from skysend_core.crypto.encoding import b64_decode_any, b64_encode, b64url_decode, b64url_encode
from skysend_core.errors import InvalidRequest

# Compared against when a presented token cannot be decoded, so that both paths do the
# same constant-time work.
_DUMMY_DIGEST = hashlib.sha256(b"").digest()

#: base64url without padding (tokens, salts) and standard padded base64 (ciphertext in
#: responses): the encoders of the E2EE scheme, one implementation for both sides.
encode_b64url = b64url_encode
encode_b64 = b64_encode


def decode_b64url(value: str) -> bytes | None:
    """Strict base64url: trailing ``=`` stripped, alphabet ``A-Za-z0-9-_`` only.

    Returns ``None`` for a malformed value (bad character, or length ≡ 1 mod 4).
    """
    try:
        return b64url_decode(value)
    except ValueError:
        return None


def decode_lenient_b64(value: str) -> bytes | None:
    """Either base64 alphabet, padding optional. ``None`` if malformed or empty."""
    try:
        return b64_decode_any(value) or None
    except ValueError:
        return None


def digest_token(token: bytes) -> bytes:
    """The form in which a token is stored."""
    return hashlib.sha256(token).digest()


def token_matches(presented: str | None, stored_digest: bytes) -> bool:
    """Constant-time check of a presented base64url token against a stored digest."""
    decoded = decode_b64url(presented) if presented else None
    if decoded is None:
        hmac.compare_digest(_DUMMY_DIGEST, stored_digest)
        return False
    return hmac.compare_digest(digest_token(decoded), stored_digest)


def json_object(body: bytes) -> dict[str, object]:
    """Decode a JSON request body; valid JSON that is not an object reads as ``{}``
    (its fields are then simply missing)."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("Invalid JSON body") from None
    return value if isinstance(value, dict) else {}


def auth_token_from_body(body: bytes) -> str:
    """The ``{"authToken": …}`` body of the password and note-view endpoints."""
    token = json_object(body).get("authToken")
    if not isinstance(token, str) or not token:
        raise InvalidRequest("Missing authToken in body")
    return token
