"""Upload entities and the pure rules about them (storage-and-lifecycle.md §2, §4, §5).

Rules take ``now_ms`` explicitly; nothing here reads a clock or touches storage.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence

import attrs

#: An unfinished upload idle for longer than this is expired (and its data removed).
SESSION_TTL_MS = 60 * 60 * 1000
#: Bytes of stored chunks above the lowest missing index that a session may hold.
OUT_OF_ORDER_LIMIT = 50 * 1024 * 1024

_ID = re.compile(r"[a-f0-9-]{36}")


@attrs.frozen
class UploadParams:
    """Validated parameters of a new upload; tokens already reduced to digests."""

    auth_token: bytes
    owner_token: bytes
    salt: bytes
    max_downloads: int
    expire_sec: int
    file_count: int
    content_length: int
    has_password: bool
    password_salt: bytes | None
    password_algo: str | None


def is_valid_id(value: str) -> bool:
    """Ids that fail this can never exist; check before building any storage key."""
    return _ID.fullmatch(value) is not None


@attrs.frozen
class Upload:
    """A completed upload (one row of ``uploads``). Timestamps are Unix seconds."""

    id: str
    owner_token: bytes
    auth_token: bytes
    salt: bytes
    size: int
    file_count: int
    has_password: bool
    password_salt: bytes | None
    password_algo: str | None
    max_downloads: int
    expires_at: int
    created_at: int
    download_count: int = 0
    encrypted_meta: bytes | None = None
    nonce: bytes | None = None

    @classmethod
    def completed(cls, upload_id: str, params: UploadParams, size: int, now_ms: int) -> Upload:
        """The row inserted when an upload is complete; expiry counts from now."""
        return cls(
            id=upload_id,
            owner_token=params.owner_token,
            auth_token=params.auth_token,
            salt=params.salt,
            size=size,
            file_count=params.file_count,
            has_password=params.has_password,
            password_salt=params.password_salt,
            password_algo=params.password_algo,
            max_downloads=params.max_downloads,
            expires_at=(now_ms + params.expire_sec * 1000) // 1000,
            created_at=now_ms // 1000,
        )


def blob_name(upload_id: str) -> str:
    """The name of an upload's blob in storage (the ``storage_path`` column)."""
    return f"{upload_id}.bin"


@attrs.frozen
class UploadSummary:
    """What an operator sees of an upload: no tokens, salts, metadata or nonce.
    Timestamps are Unix seconds."""

    id: str
    size: int
    file_count: int
    has_password: bool
    password_algo: str | None
    max_downloads: int
    download_count: int
    expires_at: int
    created_at: int
    storage_path: str

    @classmethod
    def of(cls, upload: Upload) -> UploadSummary:
        return cls(
            id=upload.id,
            size=upload.size,
            file_count=upload.file_count,
            has_password=upload.has_password,
            password_algo=upload.password_algo,
            max_downloads=upload.max_downloads,
            download_count=upload.download_count,
            expires_at=upload.expires_at,
            created_at=upload.created_at,
            storage_path=blob_name(upload.id),
        )


def is_expired(upload: Upload | UploadSummary, now_ms: int) -> bool:
    return now_ms >= upload.expires_at * 1000


def is_exhausted(upload: Upload | UploadSummary) -> bool:
    return upload.download_count >= upload.max_downloads


def is_purgeable(upload: Upload | UploadSummary, now_ms: int) -> bool:
    """What the cleanup job removes: expired or out of downloads. Everything else is
    active."""
    return is_expired(upload, now_ms) or is_exhausted(upload)


class SessionState(enum.StrEnum):
    OPEN = "open"  # chunked HTTP, accepting chunks
    RECEIVING = "receiving"  # WebSocket, streaming
    FINALIZING = "finalizing"


@attrs.frozen
class UploadSession:
    """An unfinished upload. Timestamps are Unix milliseconds."""

    id: str
    transport: str  # "http" or "ws"
    state: SessionState
    params: UploadParams
    created_at: int
    last_activity_at: int
    bytes_received: int = 0
    first_chunk_at: int | None = None

    @classmethod
    def start(
        cls, session_id: str, transport: str, params: UploadParams, now_ms: int
    ) -> UploadSession:
        state = SessionState.OPEN if transport == "http" else SessionState.RECEIVING
        return cls(session_id, transport, state, params, now_ms, now_ms)


def is_session_live(session: UploadSession, now_ms: int) -> bool:
    return now_ms - session.last_activity_at <= SESSION_TTL_MS


class ChunkOutcome(enum.Enum):
    ACCEPTED = "accepted"
    NOT_FOUND = "not_found"  # no live open session
    DUPLICATE = "duplicate"
    OVERFLOW = "overflow"  # aborts the session
    OUT_OF_ORDER = "out_of_order"  # refused, may be retried later


@attrs.frozen
class ChunkDecision:
    outcome: ChunkOutcome
    bytes_received: int = 0
    first_chunk_at: int | None = None


def decide_chunk(
    session: UploadSession | None,
    stored: Sequence[tuple[int, int]],
    index: int,
    size: int,
    now_ms: int,
) -> ChunkDecision:
    """Whether chunk ``index`` of ``size`` bytes may be committed to ``session``.

    ``stored`` holds the ``(index, size)`` of the chunks committed so far. Adapters call
    this inside the transaction that then records an accepted chunk.
    """
    if (
        session is None
        or session.state != SessionState.OPEN
        or not is_session_live(session, now_ms)
    ):
        return ChunkDecision(ChunkOutcome.NOT_FOUND)
    indices = {i for i, _ in stored}
    if index in indices:
        return ChunkDecision(ChunkOutcome.DUPLICATE, session.bytes_received)
    if session.bytes_received + size > session.params.content_length:
        return ChunkDecision(ChunkOutcome.OVERFLOW, session.bytes_received)
    lowest_missing = next(i for i in range(len(indices) + 1) if i not in indices)
    if index > lowest_missing:
        buffered = sum(s for i, s in stored if i > lowest_missing)
        if buffered + size > OUT_OF_ORDER_LIMIT:
            return ChunkDecision(ChunkOutcome.OUT_OF_ORDER, session.bytes_received)
    first = session.first_chunk_at if session.first_chunk_at is not None else now_ms
    return ChunkDecision(ChunkOutcome.ACCEPTED, session.bytes_received + size, first)


def speed_limit_delay(bytes_received: int, first_chunk_at: int, limit: int, now_ms: int) -> float:
    """Seconds to hold a chunk response so the session averages at most ``limit`` B/s."""
    if limit <= 0:
        return 0.0
    return max(0.0, bytes_received / limit - (now_ms - first_chunk_at) / 1000)


def parts_complete(chunks: Sequence[tuple[int, int, str]], content_length: int) -> bool:
    """Finalize needs chunk indices exactly ``0 … n-1`` adding up to the declared size."""
    return [c[0] for c in chunks] == list(range(len(chunks))) and sum(
        c[1] for c in chunks
    ) == content_length
