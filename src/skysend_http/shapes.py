"""Response shapes: how core entities are written on the wire (spec README "Encodings")."""

from __future__ import annotations

import time
from typing import Any

from skysend_core.tokens import encode_b64, encode_b64url
from skysend_core.uploads_model import Upload


def iso_ms(ms: int) -> str:
    """ISO-8601 UTC with exactly three fractional digits and ``Z`` (as JavaScript's
    ``toISOString``). Written out field by field: this runs on most responses, and
    ``datetime.strftime`` costs several times more."""
    seconds, millis = divmod(ms, 1000)
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{millis:03d}Z"
    )


def iso_seconds(seconds: int) -> str:
    return iso_ms(seconds * 1000)


def upload_info(upload: Upload) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": upload.id,
        "size": upload.size,
        "fileCount": upload.file_count,
        "hasPassword": upload.has_password,
    }
    if upload.has_password:
        body["passwordAlgo"] = upload.password_algo
        body["passwordSalt"] = encode_b64url(upload.password_salt or b"")
    body.update(
        salt=encode_b64url(upload.salt),
        encryptedMeta=encode_b64(upload.encrypted_meta) if upload.encrypted_meta else None,
        nonce=encode_b64(upload.nonce) if upload.nonce is not None else None,
        downloadCount=upload.download_count,
        maxDownloads=upload.max_downloads,
        expiresAt=iso_seconds(upload.expires_at),
        createdAt=iso_seconds(upload.created_at),
    )
    return body
