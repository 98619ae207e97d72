"""Note entities and the pure rules about them (http-api.md §2.14, storage-and-lifecycle.md
§2.2, §5).

Rules take ``now_ms`` explicitly; nothing here reads a clock or touches storage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from skysend_core.config import Settings
from skysend_core.errors import InvalidRequest, TooLarge
from skysend_core.tokens import decode_b64url, decode_lenient_b64, digest_token, json_object
from skysend_core.upload_params import PASSWORD_ALGO

CONTENT_TYPES = ("text", "password", "code", "markdown", "sshkey")
NONCE_LENGTH = 12
#: AES-GCM tag plus slack: the ciphertext may exceed the plaintext limit by this much.
CIPHERTEXT_OVERHEAD = 256
_TOKEN = re.compile(r"[A-Za-z0-9_-]+={0,2}")


@attrs.frozen
class NoteParams:
    """A validated note-creation request; tokens already reduced to digests."""

    encrypted_content: bytes
    nonce: bytes
    salt: bytes
    owner_token: bytes
    auth_token: bytes
    content_type: str
    max_views: int
    expire_sec: int
    has_password: bool
    password_salt: bytes | None
    password_algo: str | None


@attrs.frozen
class Note:
    """One row of ``notes``. Timestamps are Unix seconds; ``max_views = 0`` is unlimited.

    ``encrypted_content`` is empty once the view that exhausted the note has been served
    (burn after reading): the row stays so that the note answers 410 until cleanup.
    """

    id: str
    owner_token: bytes
    auth_token: bytes
    salt: bytes
    encrypted_content: bytes
    nonce: bytes
    content_type: str
    has_password: bool
    password_salt: bytes | None
    password_algo: str | None
    max_views: int
    expires_at: int
    created_at: int
    view_count: int = 0

    @classmethod
    def created(cls, note_id: str, params: NoteParams, now_ms: int) -> Note:
        """The row inserted for a new note; expiry counts from now (floored to seconds)."""
        return cls(
            id=note_id,
            owner_token=params.owner_token,
            auth_token=params.auth_token,
            salt=params.salt,
            encrypted_content=params.encrypted_content,
            nonce=params.nonce,
            content_type=params.content_type,
            has_password=params.has_password,
            password_salt=params.password_salt,
            password_algo=params.password_algo,
            max_views=params.max_views,
            expires_at=expiry_ms(params, now_ms) // 1000,
            created_at=now_ms // 1000,
        )


@attrs.frozen
class NoteSummary:
    """What an operator sees of a note: no tokens, salts, ciphertext or nonce.
    Timestamps are Unix seconds."""

    id: str
    content_type: str
    has_password: bool
    password_algo: str | None
    max_views: int
    view_count: int
    expires_at: int
    created_at: int

    @classmethod
    def of(cls, note: Note) -> NoteSummary:
        return cls(
            id=note.id,
            content_type=note.content_type,
            has_password=note.has_password,
            password_algo=note.password_algo,
            max_views=note.max_views,
            view_count=note.view_count,
            expires_at=note.expires_at,
            created_at=note.created_at,
        )


def expiry_ms(params: NoteParams, now_ms: int) -> int:
    """Exact expiry of a note created at ``now_ms`` (the create response carries it)."""
    return now_ms + params.expire_sec * 1000


def is_expired(note: Note | NoteSummary, now_ms: int) -> bool:
    return now_ms >= note.expires_at * 1000


def is_exhausted(note: Note | NoteSummary) -> bool:
    return note.max_views > 0 and note.view_count >= note.max_views


def is_purgeable(note: Note | NoteSummary, now_ms: int) -> bool:
    """What the cleanup job removes: expired or out of views. Everything else is active."""
    return is_expired(note, now_ms) or is_exhausted(note)


def burns_on(max_views: int, view_count: int) -> bool:
    """Whether the view that brought the counter to ``view_count`` was the last one."""
    return max_views > 0 and view_count >= max_views


def create_body_limit(note_max_size: int) -> int:
    """Largest accepted ``POST /api/note`` body (http-api.md §1.14): room for the
    base64-encoded maximum ciphertext plus 16 KiB of JSON, never less than 2 MiB."""
    encoded = -(-(note_max_size + CIPHERTEXT_OVERHEAD) * 4 // 3)
    return max(2 * 1024 * 1024, encoded + 16 * 1024)


# -- creation request -----------------------------------------------------------------


def parse_note_request(body: bytes, settings: Settings) -> NoteParams:
    """Apply the checks of http-api.md §2.14 (rows 5-18) in order; raise the first failing
    one."""
    return _check_values(_structural(json_object(body)), settings)


@attrs.frozen
class _Fields:
    """The request after the structural checks (row 6): present, typed, in range."""

    encrypted_content: str
    nonce: str
    salt: str
    owner_token: bytes
    auth_token: bytes
    content_type: str
    max_views: int
    expire_sec: int
    has_password: bool
    password_salt: str | None
    password_algo: str | None


def _as_int(value: object) -> int | None:
    # JSON has one number type; 5 and 5.0 are the same value to JavaScript clients.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _token(value: object) -> bytes | None:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        return None
    return decode_b64url(value)


def _optional_string(value: object) -> str | None:
    """An optional string field: absent or empty reads as missing."""
    return value if isinstance(value, str) and value else None


def _structural(fields: Mapping[str, object]) -> _Fields:
    errors: dict[str, list[str]] = {}
    strings: dict[str, str] = {}
    for key in ("encryptedContent", "nonce", "salt"):
        value = fields.get(key)
        if isinstance(value, str) and value:
            strings[key] = value
        else:
            errors[key] = ["Required non-empty string"]
    owner, auth = _token(fields.get("ownerToken")), _token(fields.get("authToken"))
    if owner is None:
        errors["ownerToken"] = ["Required base64url string"]
    if auth is None:
        errors["authToken"] = ["Required base64url string"]
    content_type = fields.get("contentType")
    if not isinstance(content_type, str) or content_type not in CONTENT_TYPES:
        errors["contentType"] = [f"Must be one of: {', '.join(CONTENT_TYPES)}"]
    max_views, expire_sec = _as_int(fields.get("maxViews")), _as_int(fields.get("expireSec"))
    if max_views is None or max_views < 0:
        errors["maxViews"] = ["Must be an integer >= 0"]
    if expire_sec is None or expire_sec <= 0:
        errors["expireSec"] = ["Must be an integer > 0"]
    has_password = fields.get("hasPassword", False)
    salt, algo = fields.get("passwordSalt"), fields.get("passwordAlgo")
    if not isinstance(has_password, bool):
        errors["hasPassword"] = ["Must be a boolean"]
    elif has_password:
        # Without a password both fields are ignored, whatever they hold.
        if salt is not None and not isinstance(salt, str):
            errors["passwordSalt"] = ["Must be a string"]
        if algo is not None and algo not in ("", PASSWORD_ALGO):
            errors["passwordAlgo"] = [f"Must be {PASSWORD_ALGO}"]
    # The None/type tests only narrow types: any of them true means ``errors`` is set.
    if (
        errors
        or owner is None
        or auth is None
        or not isinstance(content_type, str)
        or max_views is None
        or expire_sec is None
    ):
        raise InvalidRequest("Invalid request", errors)
    return _Fields(
        encrypted_content=strings["encryptedContent"],
        nonce=strings["nonce"],
        salt=strings["salt"],
        owner_token=owner,
        auth_token=auth,
        content_type=content_type,
        max_views=max_views,
        expire_sec=expire_sec,
        has_password=has_password is True,
        password_salt=_optional_string(salt),
        password_algo=_optional_string(algo),
    )


def _check_values(fields: _Fields, settings: Settings) -> NoteParams:
    content = decode_lenient_b64(fields.encrypted_content)
    if content is None:
        raise InvalidRequest("Invalid encryptedContent encoding")
    if len(content) > settings.note_max_size + CIPHERTEXT_OVERHEAD:
        raise TooLarge("Note content exceeds maximum size")
    salt = decode_b64url(fields.salt)
    if salt is None:
        raise InvalidRequest("Invalid salt encoding")
    if len(salt) not in (16, 32):
        raise InvalidRequest("Salt must be 16 or 32 bytes")
    nonce = decode_lenient_b64(fields.nonce)
    if nonce is None:
        raise InvalidRequest("Invalid nonce encoding")
    if len(nonce) != NONCE_LENGTH:
        raise InvalidRequest("Nonce must be exactly 12 bytes")
    if fields.expire_sec not in settings.note_expire_options_sec:
        raise InvalidRequest("Invalid expiry time. Must be one of the allowed options.")
    if fields.max_views not in settings.note_view_options:
        raise InvalidRequest("Invalid view limit. Must be one of the allowed options.")
    password_salt = _password_salt(fields)
    if settings.force_note_password and not fields.has_password:
        raise InvalidRequest("Password is required by server policy")
    return NoteParams(
        encrypted_content=content,
        nonce=nonce,
        salt=salt,
        owner_token=digest_token(fields.owner_token),
        auth_token=digest_token(fields.auth_token),
        content_type=fields.content_type,
        max_views=fields.max_views,
        expire_sec=fields.expire_sec,
        has_password=fields.has_password,
        password_salt=password_salt,
        password_algo=PASSWORD_ALGO if fields.has_password else None,
    )


def _password_salt(fields: _Fields) -> bytes | None:
    if not fields.has_password:
        return None
    if fields.password_salt is None or fields.password_algo is None:
        raise InvalidRequest("Password-protected notes require passwordSalt and passwordAlgo")
    salt = decode_b64url(fields.password_salt)
    if salt is None:
        raise InvalidRequest("Invalid password salt encoding")
    if len(salt) != 16:
        raise InvalidRequest("Password salt must be exactly 16 bytes")
    return salt
