"""Ports: what the core needs from the outside world, named by role.

Adapters in ``skysend_adapters`` implement these protocols (memory, SQLite, filesystem,
S3; later PostgreSQL) and must pass the same contract test suites. Methods say intent:
races are solved where the data lives (``claim_download``, ``set_metadata_once``,
``commit_chunk``, ``begin_finalize`` are each one atomic step).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

import attrs

from skysend_core.limits_model import LockoutEntry, QuotaKey, QuotaUsage, RateWindow
from skysend_core.notes_model import Note, NoteSummary
from skysend_core.uploads_model import ChunkDecision, Upload, UploadSession, UploadSummary


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...


class UploadRepository(Protocol):
    """Completed uploads (the ``uploads`` table)."""

    async def insert(self, upload: Upload) -> None: ...

    async def get(self, upload_id: str) -> Upload | None: ...

    async def claim_download(self, upload_id: str) -> bool:
        """Atomically count one download if still below the limit; False otherwise."""
        ...

    async def set_metadata_once(self, upload_id: str, encrypted_meta: bytes, nonce: bytes) -> bool:
        """Store metadata only if none is set yet; False if set already or row gone."""
        ...

    async def delete(self, upload_id: str) -> bool:
        """Remove the row; False if there was none."""
        ...

    async def expired_ids(self, now_ms: int) -> list[str]:
        """Ids of uploads that are expired or exhausted at ``now_ms``."""
        ...

    async def newest_first(self) -> list[UploadSummary]:
        """Every upload, summarised for an operator, by ``created_at`` descending (equal
        times: the later insert first)."""
        ...


class UploadSessionStore(Protocol):
    """Unfinished uploads (chunked HTTP and WebSocket), shared by every worker process."""

    async def create(self, session: UploadSession) -> None: ...

    async def get(self, session_id: str) -> UploadSession | None: ...

    async def commit_chunk(
        self, session_id: str, index: int, size: int, part_key: str, now_ms: int
    ) -> ChunkDecision:
        """In one transaction: decide with ``uploads_model.decide_chunk`` and, if accepted,
        record the chunk, add its size and touch the session."""
        ...

    async def begin_finalize(self, session_id: str, now_ms: int) -> UploadSession | None:
        """Atomically move a live ``open``/``receiving`` session to ``finalizing``.

        The transition counts as activity (``last_activity_at = now_ms``), so cleanup never
        removes a session while its blob is being assembled.

        Returns the session as it was before the transition, or ``None`` if it does not
        exist, is expired, or is already finalizing (inspect with ``get``)."""
        ...

    async def chunks(self, session_id: str) -> list[tuple[int, int, str]]:
        """Committed chunks as ``(index, size, part_key)`` ordered by index."""
        ...

    async def delete(self, session_id: str) -> None:
        """Remove the session and its chunk records (idempotent)."""
        ...

    async def expired_ids(self, now_ms: int) -> list[str]:
        """Sessions idle for longer than the TTL at ``now_ms``."""
        ...

    async def touch(self, session_id: str, bytes_received: int, now_ms: int) -> None:
        """Record streaming progress of a WebSocket session (keeps it alive)."""
        ...


@attrs.frozen
class PartRef:
    """A durably written part of an unfinished upload."""

    key: str
    size: int


@attrs.frozen
class StaleItem:
    """Something in storage not touched since before the cutoff (orphan candidate)."""

    kind: str  # "blob" or "session"
    id: str


@attrs.frozen
class BlobLink:
    """A blob the client fetches from storage itself: a time-limited URL (object
    storage's presigned GET), so the payload never passes through the server."""

    url: str
    size: int


class BlobReader(Protocol):
    """An opened blob: it stays readable even if it is deleted meanwhile."""

    size: int

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class BlobStore(Protocol):
    """Encrypted payloads, and the parts of unfinished ones.

    Writes are atomic: a crash or an exception from the source iterator never leaves a
    partial blob under a real id. Ids are validated before any storage key is built.
    """

    async def write(self, blob_id: str, chunks: AsyncIterable[bytes]) -> int:
        """Store a whole blob from a stream; returns its size."""
        ...

    async def open(self, blob_id: str) -> BlobReader | None:
        """Open a blob for streaming, or ``None`` if it does not exist."""
        ...

    async def locate(self, blob_id: str) -> BlobReader | BlobLink | None:
        """How a downloader gets the blob: an opened reader the server streams, a link the
        client fetches itself (stores that hand out links), or ``None`` if it is missing."""
        ...

    async def delete(self, blob_id: str) -> None:
        """Remove a blob; a missing blob is not an error."""
        ...

    async def write_part(
        self, session_id: str, chunks: AsyncIterable[bytes], index: int | None = None
    ) -> PartRef:
        """Store one part of a session under a fresh unique key.

        ``index`` is the part's position in the blob when known (a chunk's index): a store
        may then place a part that continues the ones before it where it belongs, so that
        assembly need not copy it. Whatever it does, ``assemble`` with the committed keys
        gives the parts in order, and a key that is never committed (the session store
        refused it) changes nothing."""
        ...

    async def assemble(self, session_id: str, part_keys: Sequence[str], blob_id: str) -> int:
        """Concatenate parts, in the given order, atomically into blob ``blob_id``."""
        ...

    async def discard_parts(self, session_id: str, part_keys: Sequence[str] | None = None) -> None:
        """Remove the given parts, or every part of the session when ``None``."""
        ...

    async def stale_items(self, cutoff_ms: int) -> list[StaleItem]:
        """Blobs and session areas last modified before ``cutoff_ms``."""
        ...


class NoteRepository(Protocol):
    """Notes (the ``notes`` table). Notes have no blob: the ciphertext lives in the row."""

    async def insert(self, note: Note) -> None: ...

    async def get(self, note_id: str) -> Note | None: ...

    async def claim_view(self, note_id: str) -> int | None:
        """Atomically count one view while ``max_views = 0 or view_count < max_views``.

        Returns the new ``view_count``, or ``None`` if no view was left (or no row). The
        view that exhausts a limited note also erases its ciphertext in the same step
        (burn after reading); the row stays, so the note answers 410 until cleanup.
        """
        ...

    async def delete(self, note_id: str) -> bool:
        """Remove the row; False if there was none."""
        ...

    async def delete_expired(self, now_ms: int) -> int:
        """Remove notes that are expired or out of views at ``now_ms``; returns how many."""
        ...

    async def newest_first(self) -> list[NoteSummary]:
        """Every note, summarised for an operator (never its ciphertext), by ``created_at``
        descending (equal times: the later insert first)."""
        ...


class RateLimitStore(Protocol):
    """Fixed-window request counters (http-api.md §1.9), shared by every worker process."""

    async def hit(self, key: str, now_ms: int, window_ms: int) -> RateWindow:
        """Atomically count one request in ``key``'s window, starting a new window when
        there is none or it has ended (``limits_model.count_request``); the window after."""
        ...

    async def purge(self, now_ms: int) -> int:
        """Remove windows that have ended at ``now_ms``; returns how many."""
        ...

    async def forget_all(self) -> None:
        """Remove every window (a new server lifetime hashes clients differently)."""
        ...


class QuotaStore(Protocol):
    """Upload-quota usage per hashed client address and the key of those hashes
    (the ``quota_usage`` and ``quota_state`` tables, http-api.md §1.10)."""

    async def current_key(self, candidate: QuotaKey, now_ms: int) -> QuotaKey:
        """The stored key, unless there is none or it is due at ``now_ms``: then, in one
        step, ``candidate`` is stored and all usage is deleted, and it is returned."""
        ...

    async def usage(self, hashed_ip: str, now_ms: int, window_ms: int) -> QuotaUsage:
        """Get or create the entry (``limits_model.current_usage``) and return it."""
        ...

    async def add(self, hashed_ip: str, size: int, now_ms: int, window_ms: int) -> QuotaUsage:
        """Get or create the entry and add ``size`` bytes to it, atomically."""
        ...

    async def purge(self, now_ms: int) -> int:
        """Remove entries with ``reset_at < now_ms``; returns how many."""
        ...


class LockoutStore(Protocol):
    """Failed password attempts per resource and hashed client (http-api.md §1.11),
    shared by every worker process."""

    async def locked_until(self, key: str, now_ms: int) -> int | None:
        """The end of ``key``'s lock if it is locked at ``now_ms``. A lock that has ended
        is removed together with its count, so counting restarts."""
        ...

    async def record_failure(
        self, key: str, now_ms: int, max_attempts: int, lockout_ms: int
    ) -> LockoutEntry:
        """Atomically count one failure (``limits_model.record_failure``); the entry after."""
        ...

    async def reset(self, key: str) -> None:
        """Remove the entry (the right token was presented)."""
        ...

    async def purge(self, now_ms: int) -> int:
        """Remove entries whose lock has ended at ``now_ms``; returns how many."""
        ...

    async def forget_all(self) -> None:
        """Remove every entry (a new server lifetime hashes clients differently)."""
        ...


class ClientKeyStore(Protocol):
    """The secret that hashes client addresses for rate limits and lockouts: one per
    server lifetime, the same in every worker process, never logged."""

    async def client_key(self, candidate: bytes) -> bytes:
        """The stored key; if there is none, ``candidate`` is stored and returned."""
        ...

    async def forget_client_key(self) -> None:
        """Remove the key; the next :meth:`client_key` stores a new one."""
        ...


@attrs.frozen
class ProviderMetadata:
    """What the server uses of an OIDC provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str | None = None


class IdentityProvider(Protocol):
    """The OIDC provider (oidc.md §2, §4): discovery and the authorization-code exchange.

    Discovery failures raise :class:`~skysend_core.errors.Unavailable`; a failed code
    exchange raises :class:`~skysend_core.errors.InvalidRequest`."""

    async def metadata(self) -> ProviderMetadata:
        """The discovery document, fetched once and cached; concurrent callers share one
        fetch and a failure is not cached. Raises ``Unavailable``."""
        ...

    def cached_metadata(self) -> ProviderMetadata | None:
        """The discovery document if it was fetched already (never fetches)."""
        ...

    async def exchange_code(
        self, code: str, redirect_uri: str, code_verifier: str, nonce: str
    ) -> Mapping[str, Any] | None:
        """Redeem ``code`` at the token endpoint and return the verified ID-token claims
        (signature, issuer, audience, expiry, ``nonce``), or ``None`` when the answer has no
        ID token. Any failure raises ``InvalidRequest("Token exchange failed")``."""
        ...

    async def aclose(self) -> None: ...


class TokenSigner(Protocol):
    """Signs and verifies the server's own JWTs (HS256 with ``OIDC_SESSION_SECRET``)."""

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS with header ``{"alg":"HS256"}``."""
        ...

    def verify(self, token: str) -> Mapping[str, Any] | None:
        """The claims if ``token`` is an HS256 JWS signed with the key; ``None`` otherwise.
        Claims (``exp`` included) are checked by the caller."""
        ...
