"""In-memory implementations of the core ports.

For core tests and for embedding the core without storage. Each method completes without
awaiting anything between its check and its update, so on one event loop every operation
is as atomic as its SQLite counterpart. Nothing is shared between processes.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from typing import TypeVar

import attrs

from skysend_adapters.clock import SystemClock
from skysend_core.errors import NotFound, StorageError
from skysend_core.limits_model import (
    LockoutEntry,
    QuotaKey,
    QuotaUsage,
    RateWindow,
    count_request,
    current_usage,
    record_failure,
)
from skysend_core.notes_model import Note, NoteSummary, burns_on, is_exhausted, is_purgeable
from skysend_core.ports import BlobLink, Clock, PartRef, StaleItem
from skysend_core.uploads_model import (
    SESSION_TTL_MS,
    ChunkDecision,
    ChunkOutcome,
    SessionState,
    Upload,
    UploadSession,
    UploadSummary,
    blob_name,
    decide_chunk,
    is_session_live,
    is_valid_id,
)
from skysend_core.uploads_model import is_purgeable as is_upload_purgeable

_READ_SIZE = 1 << 20
_Row = TypeVar("_Row", Upload, Note)


class InMemoryUploadRepository:
    """Completed uploads in a dict."""

    def __init__(self) -> None:
        self._rows: dict[str, Upload] = {}

    async def insert(self, upload: Upload) -> None:
        if upload.id in self._rows:
            raise StorageError(f"duplicate upload id {upload.id}")
        self._rows[upload.id] = upload

    async def get(self, upload_id: str) -> Upload | None:
        return self._rows.get(upload_id)

    async def claim_download(self, upload_id: str) -> bool:
        row = self._rows.get(upload_id)
        if row is None or row.download_count >= row.max_downloads:
            return False
        self._rows[upload_id] = attrs.evolve(row, download_count=row.download_count + 1)
        return True

    async def set_metadata_once(self, upload_id: str, encrypted_meta: bytes, nonce: bytes) -> bool:
        row = self._rows.get(upload_id)
        if row is None or row.encrypted_meta is not None:
            return False
        self._rows[upload_id] = attrs.evolve(row, encrypted_meta=encrypted_meta, nonce=nonce)
        return True

    async def delete(self, upload_id: str) -> bool:
        return self._rows.pop(upload_id, None) is not None

    async def expired_ids(self, now_ms: int) -> list[str]:
        return [row.id for row in self._rows.values() if is_upload_purgeable(row, now_ms)]

    async def newest_first(self) -> list[UploadSummary]:
        return [UploadSummary.of(row) for row in _newest_first(self._rows.values())]


class InMemoryUploadSessionStore:
    """Unfinished uploads and their chunk records in dicts."""

    def __init__(self) -> None:
        self._sessions: dict[str, UploadSession] = {}
        self._chunks: dict[str, dict[int, tuple[int, str]]] = {}

    async def create(self, session: UploadSession) -> None:
        if session.id in self._sessions:
            raise StorageError(f"duplicate session id {session.id}")
        self._sessions[session.id] = session
        self._chunks[session.id] = {}

    async def get(self, session_id: str) -> UploadSession | None:
        return self._sessions.get(session_id)

    async def commit_chunk(
        self, session_id: str, index: int, size: int, part_key: str, now_ms: int
    ) -> ChunkDecision:
        session = self._sessions.get(session_id)
        chunks = self._chunks.get(session_id, {})
        stored = [(i, s) for i, (s, _) in chunks.items()]
        decision = decide_chunk(session, stored, index, size, now_ms)
        if session is None or decision.outcome is not ChunkOutcome.ACCEPTED:
            return decision
        chunks[index] = (size, part_key)
        self._sessions[session_id] = attrs.evolve(
            session,
            bytes_received=decision.bytes_received,
            last_activity_at=now_ms,
            first_chunk_at=decision.first_chunk_at,
        )
        return decision

    async def begin_finalize(self, session_id: str, now_ms: int) -> UploadSession | None:
        session = self._sessions.get(session_id)
        if (
            session is None
            or session.state is SessionState.FINALIZING
            or not is_session_live(session, now_ms)
        ):
            return None
        self._sessions[session_id] = attrs.evolve(
            session, state=SessionState.FINALIZING, last_activity_at=now_ms
        )
        return session

    async def chunks(self, session_id: str) -> list[tuple[int, int, str]]:
        chunks = self._chunks.get(session_id, {})
        return [(i, size, key) for i, (size, key) in sorted(chunks.items())]

    async def delete(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        self._chunks.pop(session_id, None)

    async def expired_ids(self, now_ms: int) -> list[str]:
        cutoff = now_ms - SESSION_TTL_MS
        return [s.id for s in self._sessions.values() if s.last_activity_at < cutoff]

    async def touch(self, session_id: str, bytes_received: int, now_ms: int) -> None:
        session = self._sessions.get(session_id)
        if session is None:
            return
        first = session.first_chunk_at if session.first_chunk_at is not None else now_ms
        self._sessions[session_id] = attrs.evolve(
            session, bytes_received=bytes_received, last_activity_at=now_ms, first_chunk_at=first
        )


class InMemoryBlobReader:
    """A snapshot of a blob: deleting the blob does not affect an open reader."""

    def __init__(self, data: bytes) -> None:
        self.size = len(data)
        self._data = data

    async def chunks(self) -> AsyncIterator[bytes]:
        view = memoryview(self._data)
        for start in range(0, self.size, _READ_SIZE):
            yield bytes(view[start : start + _READ_SIZE])

    async def aclose(self) -> None:
        self._data = b""


class InMemoryBlobStore:
    """Blobs and session parts as bytes. ``clock`` dates items for :meth:`stale_items`.

    With ``links_at`` (a URL prefix), downloads are handed out as links to
    ``<links_at><id>.bin``, as object storage hands out presigned URLs."""

    def __init__(self, clock: Clock | None = None, links_at: str | None = None) -> None:
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._links_at = links_at
        self._blobs: dict[str, tuple[bytes, int]] = {}
        self._parts: dict[str, dict[str, bytes]] = {}
        self._session_touched: dict[str, int] = {}

    async def write(self, blob_id: str, chunks: AsyncIterable[bytes]) -> int:
        if not is_valid_id(blob_id):
            raise NotFound("invalid blob id")
        data = await _collect(chunks)
        self._blobs[blob_id] = (data, self._clock.now_ms())
        return len(data)

    async def open(self, blob_id: str) -> InMemoryBlobReader | None:
        entry = self._blobs.get(blob_id)
        return InMemoryBlobReader(entry[0]) if entry is not None else None

    async def locate(self, blob_id: str) -> InMemoryBlobReader | BlobLink | None:
        entry = self._blobs.get(blob_id)
        if entry is None or self._links_at is None:
            return await self.open(blob_id)
        return BlobLink(self._links_at + blob_name(blob_id), len(entry[0]))

    async def delete(self, blob_id: str) -> None:
        self._blobs.pop(blob_id, None)

    async def write_part(
        self, session_id: str, chunks: AsyncIterable[bytes], index: int | None = None
    ) -> PartRef:
        if not is_valid_id(session_id):
            raise NotFound("invalid session id")
        data = await _collect(chunks)
        key = uuid.uuid4().hex
        self._parts.setdefault(session_id, {})[key] = data
        self._session_touched[session_id] = self._clock.now_ms()
        return PartRef(key, len(data))

    async def assemble(self, session_id: str, part_keys: Sequence[str], blob_id: str) -> int:
        if not is_valid_id(session_id) or not is_valid_id(blob_id):
            raise NotFound("invalid id")
        parts = self._parts.get(session_id, {})
        missing = [key for key in part_keys if key not in parts]
        if missing:
            raise StorageError(f"{len(missing)} part(s) missing")
        data = b"".join(parts[key] for key in part_keys)
        self._blobs[blob_id] = (data, self._clock.now_ms())
        return len(data)

    async def discard_parts(self, session_id: str, part_keys: Sequence[str] | None = None) -> None:
        if part_keys is None:
            self._parts.pop(session_id, None)
            self._session_touched.pop(session_id, None)
            return
        parts = self._parts.get(session_id, {})
        for key in part_keys:
            parts.pop(key, None)

    async def stale_items(self, cutoff_ms: int) -> list[StaleItem]:
        blobs = [StaleItem("blob", i) for i, (_, at) in self._blobs.items() if at < cutoff_ms]
        sessions = [
            StaleItem("session", i) for i, at in self._session_touched.items() if at < cutoff_ms
        ]
        return blobs + sessions


def _newest_first(rows: Iterable[_Row]) -> list[_Row]:
    """By ``created_at`` descending; equal times: the later insert (dicts keep insertion
    order) first."""
    ordered = sorted(enumerate(rows), key=lambda pair: (pair[1].created_at, pair[0]))
    return [row for _, row in reversed(ordered)]


async def _collect(chunks: AsyncIterable[bytes]) -> bytes:
    """Read the whole stream; an exception from it leaves nothing behind."""
    return b"".join([chunk async for chunk in chunks])


class InMemoryNoteRepository:
    """Notes in a dict. The last permitted view erases the ciphertext (burn after
    reading); the row stays, so the note answers 410 until cleanup."""

    def __init__(self) -> None:
        self._rows: dict[str, Note] = {}

    async def insert(self, note: Note) -> None:
        if note.id in self._rows:
            raise StorageError(f"duplicate note id {note.id}")
        self._rows[note.id] = note

    async def get(self, note_id: str) -> Note | None:
        return self._rows.get(note_id)

    async def claim_view(self, note_id: str) -> int | None:
        row = self._rows.get(note_id)
        if row is None or is_exhausted(row):
            return None
        count = row.view_count + 1
        content = b"" if burns_on(row.max_views, count) else row.encrypted_content
        self._rows[note_id] = attrs.evolve(row, view_count=count, encrypted_content=content)
        return count

    async def delete(self, note_id: str) -> bool:
        return self._rows.pop(note_id, None) is not None

    async def delete_expired(self, now_ms: int) -> int:
        doomed = [row.id for row in self._rows.values() if is_purgeable(row, now_ms)]
        for note_id in doomed:
            del self._rows[note_id]
        return len(doomed)

    async def newest_first(self) -> list[NoteSummary]:
        return [NoteSummary.of(row) for row in _newest_first(self._rows.values())]


class InMemoryRateLimitStore:
    """Request windows in a dict."""

    def __init__(self) -> None:
        self._windows: dict[str, RateWindow] = {}

    async def hit(self, key: str, now_ms: int, window_ms: int) -> RateWindow:
        window = self._windows[key] = count_request(self._windows.get(key), now_ms, window_ms)
        return window

    async def purge(self, now_ms: int) -> int:
        ended = [key for key, w in self._windows.items() if now_ms >= w.window_end]
        for key in ended:
            del self._windows[key]
        return len(ended)

    async def forget_all(self) -> None:
        self._windows.clear()


class InMemoryQuotaStore:
    """Quota usage and the quota key in dicts."""

    def __init__(self) -> None:
        self._usage: dict[str, QuotaUsage] = {}
        self._key: QuotaKey | None = None

    async def current_key(self, candidate: QuotaKey, now_ms: int) -> QuotaKey:
        if self._key is None or self._key.is_due(now_ms):
            self._key = candidate
            self._usage.clear()
        return self._key

    async def usage(self, hashed_ip: str, now_ms: int, window_ms: int) -> QuotaUsage:
        entry = current_usage(self._usage.get(hashed_ip), now_ms, window_ms)
        self._usage[hashed_ip] = entry
        return entry

    async def add(self, hashed_ip: str, size: int, now_ms: int, window_ms: int) -> QuotaUsage:
        entry = current_usage(self._usage.get(hashed_ip), now_ms, window_ms)
        entry = self._usage[hashed_ip] = attrs.evolve(entry, bytes_used=entry.bytes_used + size)
        return entry

    async def purge(self, now_ms: int) -> int:
        ended = [ip for ip, entry in self._usage.items() if entry.reset_at < now_ms]
        for ip in ended:
            del self._usage[ip]
        return len(ended)


class InMemoryLockoutStore:
    """Lockout entries in a dict."""

    def __init__(self) -> None:
        self._entries: dict[str, LockoutEntry] = {}

    async def locked_until(self, key: str, now_ms: int) -> int | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.lock_ended(now_ms):
            del self._entries[key]
            return None
        return entry.locked_until if entry.is_locked(now_ms) else None

    async def record_failure(
        self, key: str, now_ms: int, max_attempts: int, lockout_ms: int
    ) -> LockoutEntry:
        entry = record_failure(self._entries.get(key), now_ms, max_attempts, lockout_ms)
        self._entries[key] = entry
        return entry

    async def reset(self, key: str) -> None:
        self._entries.pop(key, None)

    async def purge(self, now_ms: int) -> int:
        ended = [key for key, entry in self._entries.items() if entry.lock_ended(now_ms)]
        for key in ended:
            del self._entries[key]
        return len(ended)

    async def forget_all(self) -> None:
        self._entries.clear()


class InMemoryClientKeyStore:
    """The client key in an attribute."""

    def __init__(self) -> None:
        self._key: bytes | None = None

    async def client_key(self, candidate: bytes) -> bytes:
        if self._key is None:
            self._key = candidate
        return self._key

    async def forget_client_key(self) -> None:
        self._key = None
