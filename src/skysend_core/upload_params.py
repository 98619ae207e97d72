"""Validation of the parameters that start an upload (http-api.md §1.15).

Shared by ``POST /api/upload``, ``POST /api/upload/init`` and the WebSocket ``init``
message. Input is a mapping from the WebSocket key names to raw strings (absent or empty
values as ``None``); the HTTP layer maps its headers onto these keys.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping

from skysend_core.config import Settings, parse_js_int
from skysend_core.errors import InvalidRequest, TooLarge
from skysend_core.tokens import decode_b64url, digest_token
from skysend_core.uploads_model import UploadParams

__all__ = [
    "HEADER_NAMES",
    "PASSWORD_ALGO",
    "UploadParams",
    "declared_length",
    "parse_upload_params",
]

PASSWORD_ALGO = "argon2id-v2"
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")

#: HTTP header carrying each parameter (the WebSocket key is the mapping key).
HEADER_NAMES: Mapping[str, str] = {
    "authToken": "X-Auth-Token",
    "ownerToken": "X-Owner-Token",
    "salt": "X-Salt",
    "maxDownloads": "X-Max-Downloads",
    "expireSec": "X-Expire-Sec",
    "fileCount": "X-File-Count",
    "hasPassword": "X-Has-Password",
    "passwordSalt": "X-Password-Salt",
    "passwordAlgo": "X-Password-Algo",
}


def declared_length(raw: Mapping[str, str | None]) -> int:
    """The size used by the quota check: a leading integer, else 0 (§1.10)."""
    value = raw.get("contentLength")
    parsed = parse_js_int(value) if value else None
    return parsed if parsed is not None else 0


def parse_upload_params(raw: Mapping[str, str | None], settings: Settings) -> UploadParams:
    """Apply the checks of §1.15 in order; raise the first failing one."""
    values = {k: (v if v else None) for k, v in raw.items()}
    has_password = values.get("hasPassword") == "true"
    errors: dict[str, list[str]] = {}

    for key in ("authToken", "ownerToken", "salt"):
        value = values.get(key)
        if value is None:
            errors[key] = ["Required"]
        elif not _TOKEN.fullmatch(value):
            errors[key] = ["Invalid base64url"]
    numbers: dict[str, int] = {}
    for key, required in (
        ("maxDownloads", True),
        ("expireSec", True),
        ("fileCount", False),
        ("contentLength", True),
    ):
        value = values.get(key)
        if value is None:
            if required:
                errors[key] = ["Required"]
            continue
        number = parse_js_int(value)
        if number is None or number <= 0:
            errors[key] = ["Must be a positive integer"]
        else:
            numbers[key] = number
    # Present values are checked structurally even without a password (step 1 of §1.15
    # names "passwordAlgo present but not argon2id-v2" unconditionally); only their use
    # and storage depend on hasPassword.
    salt_value = values.get("passwordSalt")
    if salt_value is not None and not _TOKEN.fullmatch(salt_value):
        errors["passwordSalt"] = ["Invalid base64url"]
    algo = values.get("passwordAlgo")
    if algo is not None and algo != PASSWORD_ALGO:
        errors["passwordAlgo"] = [f"Must be {PASSWORD_ALGO}"]
    if errors:
        raise InvalidRequest("Invalid request headers", errors)
    return _check_values(values, numbers, has_password, settings)


def _check_values(
    values: Mapping[str, str | None],
    numbers: Mapping[str, int],
    has_password: bool,
    settings: Settings,
) -> UploadParams:
    salt = decode_b64url(values["salt"] or "")
    if salt is None:
        raise InvalidRequest("Invalid salt encoding")
    if len(salt) not in (16, 32):
        raise InvalidRequest("Salt must be 16 or 32 bytes")
    content_length = numbers["contentLength"]
    if content_length > settings.file_max_size:
        raise TooLarge("File size exceeds maximum allowed size")
    file_count = numbers.get("fileCount", 1)
    if file_count > settings.file_max_files_per_upload:
        raise InvalidRequest(f"Maximum {settings.file_max_files_per_upload} files per upload")
    if numbers["expireSec"] not in settings.file_expire_options_sec:
        raise InvalidRequest("Invalid expiry time. Must be one of the allowed options.")
    if numbers["maxDownloads"] not in settings.file_download_options:
        raise InvalidRequest("Invalid download limit. Must be one of the allowed options.")
    password_salt = _password_salt(values, has_password)
    if settings.force_file_password and not has_password:
        raise InvalidRequest("Password is required by server policy")
    return UploadParams(
        auth_token=_stored_token(values["authToken"] or ""),
        owner_token=_stored_token(values["ownerToken"] or ""),
        salt=salt,
        max_downloads=numbers["maxDownloads"],
        expire_sec=numbers["expireSec"],
        file_count=file_count,
        content_length=content_length,
        has_password=has_password,
        password_salt=password_salt,
        password_algo=PASSWORD_ALGO if has_password else None,
    )


def _password_salt(values: Mapping[str, str | None], has_password: bool) -> bytes | None:
    if not has_password:
        return None
    raw_salt, algo = values.get("passwordSalt"), values.get("passwordAlgo")
    if raw_salt is None or algo is None:
        raise InvalidRequest(
            "Password-protected uploads require X-Password-Salt and X-Password-Algo"
        )
    salt = decode_b64url(raw_salt)
    if salt is None:
        raise InvalidRequest("Invalid password salt encoding")
    if len(salt) != 16:
        raise InvalidRequest("Password salt must be exactly 16 bytes")
    return salt


def _stored_token(value: str) -> bytes:
    """The digest kept for a token that passed the character check.

    A value of length ≡ 1 (mod 4) passes that check but is malformed base64url, so it
    can never match anything (§1.13). It is stored as the digest of fresh random bytes:
    storing the digest of empty bytes instead would let a presented ``=`` match it.
    """
    decoded = decode_b64url(value)
    return digest_token(decoded if decoded is not None else secrets.token_bytes(32))
