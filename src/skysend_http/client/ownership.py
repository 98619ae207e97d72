"""Owner tokens: who may delete an upload or note (and set an upload's metadata).

The reference clients derive the owner token from the *share-URL secret*
(``HKDF(effectiveSecret, salt, "skysend-owner-token")``, crypto.md §3), so anyone holding
the link can compute it and delete or alter the item.

This client's default, the ``independent`` scheme, draws a fresh random 32-byte **owner
secret** per item and derives the token from it with the same HKDF and info string::

    ownerSecret = 32 random bytes              # kept by the uploader only
    ownerToken  = HKDF-SHA256(ikm = ownerSecret, salt = salt,
                              info = "skysend-owner-token", length = 32)

The server is unchanged: it stores (a digest of) whatever owner token it receives. The
share URL reveals nothing about the owner secret, so a link holder can download but not
delete. The price: deleting needs the owner token (or secret), i.e. the uploader's local
history entry (the CLI's ``history.json``) or a copy of the token. ``link`` reproduces the
reference behaviour.
"""

from __future__ import annotations

import secrets

from skysend_core.crypto import SECRET_LENGTH, ItemKeys, b64url_decode, b64url_encode
from skysend_core.crypto import derive_owner_token as _derive
from skysend_http.client.models import OwnerScheme


def owner_credentials(keys: ItemKeys, scheme: OwnerScheme) -> tuple[str | None, str]:
    """``(owner secret, owner token)`` in base64url; the secret is ``None`` for ``link``."""
    if scheme == "link":
        return None, keys.owner_token_b64u
    if scheme != "independent":
        raise ValueError(f"Unknown owner scheme: {scheme}")
    owner_secret = secrets.token_bytes(SECRET_LENGTH)
    return b64url_encode(owner_secret), owner_token_from_secret(owner_secret, keys.salt)


def owner_token_from_secret(owner_secret: bytes | str, salt: bytes) -> str:
    """Re-derive the owner token from a stored owner secret and the item's salt."""
    raw = b64url_decode(owner_secret) if isinstance(owner_secret, str) else owner_secret
    return b64url_encode(_derive(raw, salt))
