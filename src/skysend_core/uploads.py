"""File-sharing use cases: one facade, one method per documented operation.

Embedding the core in another framework means building :class:`Files` with adapters and
calling these methods; the HTTP layer does nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator

import attrs

from skysend_core.config import Settings, parse_js_int
from skysend_core.errors import (
    BlobMissing,
    Conflict,
    Gone,
    InvalidRequest,
    InvalidToken,
    NotFound,
    RateLimited,
    SkySendError,
    StorageError,
    TooLarge,
)
from skysend_core.ports import (
    BlobLink,
    BlobReader,
    BlobStore,
    Clock,
    PartRef,
    UploadRepository,
    UploadSessionStore,
)
from skysend_core.tokens import auth_token_from_body, decode_lenient_b64, json_object, token_matches
from skysend_core.upload_params import UploadParams
from skysend_core.uploads_model import (
    ChunkOutcome,
    SessionState,
    Upload,
    UploadSession,
    is_exhausted,
    is_expired,
    is_session_live,
    is_valid_id,
    parts_complete,
    speed_limit_delay,
)

SIZE_MISMATCH = "Body size does not match declared content length"
SESSION_NOT_FOUND = "Upload session not found or expired"
UPLOAD_NOT_FOUND = "Upload not found"
OWNER_TOKEN = "Invalid or missing owner token"
AUTH_TOKEN = "Invalid or missing auth token"

log = logging.getLogger(__name__)

#: How often a session being assembled is touched, so that a long assembly (a large blob
#: sent to object storage) is never taken for an idle session and swept (one-hour TTL).
ASSEMBLY_TOUCH_S = 30.0


@attrs.frozen
class ChunkAccepted:
    bytes_written: int
    delay_s: float  # how long to hold the response (FILE_UPLOAD_SPEED_LIMIT)


@attrs.frozen
class Download:
    """A counted download: the blob's reader to stream, or a link the client fetches."""

    upload: Upload
    source: BlobReader | BlobLink


async def limited(
    chunks: AsyncIterable[bytes], limit: int, error: SkySendError
) -> AsyncIterator[bytes]:
    """Pass bytes through, raising ``error`` as soon as more than ``limit`` have passed."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise error
        yield chunk


async def exactly(chunks: AsyncIterable[bytes], expected: int) -> AsyncIterator[bytes]:
    """Pass exactly ``expected`` bytes through; more or fewer end the stream with an error,
    so the store discards the write and a short blob never appears under its id."""
    total = 0
    async for chunk in limited(chunks, expected, InvalidRequest(SIZE_MISMATCH)):
        total += len(chunk)
        yield chunk
    if total != expected:
        raise InvalidRequest("Missing request body" if total == 0 else SIZE_MISMATCH)


async def _release(source: BlobReader | BlobLink) -> None:
    if not isinstance(source, BlobLink):
        await source.aclose()


@attrs.define
class Files:
    """The file service. Holds its ports; every method is one documented operation."""

    settings: Settings
    uploads: UploadRepository
    sessions: UploadSessionStore
    blobs: BlobStore
    clock: Clock

    # -- creation -------------------------------------------------------------------

    async def upload(
        self, params: UploadParams, body: AsyncIterable[bytes], announced: int | None = None
    ) -> Upload:
        """Single-request upload: stream the body into a new blob, then insert the row.

        ``announced`` is the body length the transport announced (HTTP Content-Length),
        if any: one above the declared size is refused before a byte is read (§1.14).
        """
        expected = params.content_length
        if announced is not None and announced > expected:
            raise InvalidRequest(SIZE_MISMATCH)
        upload_id = str(uuid.uuid4())
        size = await self.blobs.write(upload_id, exactly(body, expected))
        return await self._insert_row(upload_id, params, size)

    async def init_chunked(self, params: UploadParams) -> str:
        """Persist a new chunked-upload session and return its id."""
        session = UploadSession.start(str(uuid.uuid4()), "http", params, self.clock.now_ms())
        await self.sessions.create(session)
        return session.id

    async def append_chunk(
        self,
        session_id: str,
        index: str | None,
        body: AsyncIterable[bytes],
        announced: int | None = None,
    ) -> ChunkAccepted:
        """Store chunk ``index`` durably, then commit it atomically to the session.

        ``announced`` (the transport's Content-Length, if any) above the room left
        aborts the session before a byte is read, as an overflow would (§1.14).
        """
        session = await self._live_session(session_id, SessionState.OPEN)
        position = parse_js_int(index) if index else None
        if position is None or position < 0:
            raise InvalidRequest("Missing or invalid chunk index")
        if any(i == position for i, _, _ in await self.sessions.chunks(session_id)):
            raise Conflict("Chunk already received")
        room = session.params.content_length - session.bytes_received
        overflow = TooLarge("Total bytes exceed declared content length")
        if announced is not None and announced > room:
            await self._abort_quietly(session_id)
            raise overflow
        try:
            part = await self.blobs.write_part(
                session_id, limited(body, room, overflow), index=position
            )
        except (TooLarge, StorageError):
            await self._abort_quietly(session_id)
            raise
        if part.size == 0:
            await self.blobs.discard_parts(session_id, [part.key])
            raise InvalidRequest("Missing chunk body")
        now = self.clock.now_ms()
        decision = await self.sessions.commit_chunk(session_id, position, part.size, part.key, now)
        if decision.outcome is not ChunkOutcome.ACCEPTED:
            await self.blobs.discard_parts(session_id, [part.key])
        match decision.outcome:
            case ChunkOutcome.NOT_FOUND:
                raise NotFound(SESSION_NOT_FOUND)
            case ChunkOutcome.DUPLICATE:
                raise Conflict("Chunk already received")
            case ChunkOutcome.OVERFLOW:
                await self._abort_quietly(session_id)
                raise overflow
            case ChunkOutcome.OUT_OF_ORDER:
                raise RateLimited("Too many out-of-order chunks buffered")
        first = decision.first_chunk_at if decision.first_chunk_at is not None else now
        delay = speed_limit_delay(
            decision.bytes_received, first, self.settings.file_upload_speed_limit, now
        )
        return ChunkAccepted(decision.bytes_received, delay)

    async def finalize(self, session_id: str, owner_token: str | None) -> Upload:
        """Assemble a complete chunked upload into its blob and insert the row."""
        session = await self.sessions.get(session_id) if is_valid_id(session_id) else None
        if (
            session is None
            or session.transport != "http"
            or not is_session_live(session, self.clock.now_ms())
        ):
            raise NotFound(SESSION_NOT_FOUND)
        if not token_matches(owner_token, session.params.owner_token):
            raise InvalidToken(OWNER_TOKEN)
        if await self.sessions.begin_finalize(session_id, self.clock.now_ms()) is None:
            if (
                current := await self.sessions.get(session_id)
            ) and current.state == SessionState.FINALIZING:
                raise Conflict("Finalize already in progress")
            raise NotFound(SESSION_NOT_FOUND)
        chunks = await self.sessions.chunks(session_id)
        if not parts_complete(chunks, session.params.content_length):
            await self._abort_quietly(session_id)
            raise InvalidRequest(SIZE_MISMATCH)
        return await self._complete(session, [key for _, _, key in chunks])

    async def start_stream(self, params: UploadParams) -> str:
        """Open a WebSocket upload session; its bytes arrive through :meth:`finish_stream`."""
        session = UploadSession.start(str(uuid.uuid4()), "ws", params, self.clock.now_ms())
        await self.sessions.create(session)
        return session.id

    async def write_stream(self, session_id: str, data: AsyncIterator[bytes]) -> PartRef:
        """Write the whole payload of a streaming session, in order, as one part; the part
        is completed by :meth:`finish_stream`. Ending ``data`` with an exception makes the
        store discard what it wrote."""
        return await self.blobs.write_part(session_id, data)

    async def finish_stream(self, session_id: str, part_key: str, size: int) -> Upload:
        """Complete a WebSocket upload whose bytes were written as one part."""
        session = await self.sessions.begin_finalize(session_id, self.clock.now_ms())
        if session is None:
            raise NotFound(SESSION_NOT_FOUND)
        if size != session.params.content_length:
            await self._abort_quietly(session_id)
            raise InvalidRequest(SIZE_MISMATCH)
        return await self._complete(session, [part_key])

    async def record_progress(self, session_id: str, bytes_received: int) -> None:
        """Keep a streaming (WebSocket) session alive and note how much has arrived."""
        await self.sessions.touch(session_id, bytes_received, self.clock.now_ms())

    async def abort(self, session_id: str) -> None:
        """Drop a session and all its partial data (idempotent)."""
        await self.sessions.delete(session_id)
        await self.blobs.discard_parts(session_id)

    async def _complete(self, session: UploadSession, part_keys: list[str]) -> Upload:
        try:
            size = await self._assemble_alive(session, part_keys)
            if size != session.params.content_length:
                raise StorageError("assembled blob does not have the declared size")
        except StorageError:
            await self._abort_quietly(session.id)
            await self.blobs.delete(session.id)
            raise
        try:
            upload = await self._insert_row(session.id, session.params, size)
        finally:
            await self._abort_quietly(session.id)
        return upload

    async def _assemble_alive(self, session: UploadSession, part_keys: list[str]) -> int:
        """Assemble the blob, touching the session every :data:`ASSEMBLY_TOUCH_S`."""
        assembling = asyncio.ensure_future(self.blobs.assemble(session.id, part_keys, session.id))
        try:
            while not assembling.done():
                await asyncio.wait({assembling}, timeout=ASSEMBLY_TOUCH_S)
                if not assembling.done():
                    await self.sessions.touch(
                        session.id, session.bytes_received, self.clock.now_ms()
                    )
            return assembling.result()
        finally:
            if not assembling.done():
                assembling.cancel()
                await asyncio.wait({assembling})

    async def _abort_quietly(self, session_id: str) -> None:
        """:meth:`abort` where its failure must not change the answer: after the row is
        committed, or while another error is being raised. The session is gone first; data
        that could not be removed is left to the orphan sweep (storage-and-lifecycle.md §6)."""
        try:
            await self.abort(session_id)
        except StorageError:
            log.warning("partial data of a session could not be removed; the orphan sweep will")

    async def _insert_row(self, upload_id: str, params: UploadParams, size: int) -> Upload:
        upload = Upload.completed(upload_id, params, size, self.clock.now_ms())
        try:
            await self.uploads.insert(upload)
        except BaseException:
            await self.blobs.delete(upload_id)
            raise
        return upload

    async def _live_session(self, session_id: str, state: SessionState) -> UploadSession:
        session = await self.sessions.get(session_id) if is_valid_id(session_id) else None
        if (
            session is None
            or session.state != state
            or not is_session_live(session, self.clock.now_ms())
        ):
            raise NotFound(SESSION_NOT_FOUND)
        return session

    # -- reading --------------------------------------------------------------------

    async def find(self, upload_id: str) -> Upload:
        """The row, or ``NotFound``. Ids are validated before any storage access."""
        upload = await self.uploads.get(upload_id) if is_valid_id(upload_id) else None
        if upload is None:
            raise NotFound(UPLOAD_NOT_FOUND)
        return upload

    def ensure_available(self, upload: Upload, expired_message: str = "Upload has expired") -> None:
        if is_expired(upload, self.clock.now_ms()):
            raise Gone(expired_message, "expired")
        if is_exhausted(upload):
            raise Gone("Download limit reached", "exhausted")

    async def info(self, upload_id: str) -> Upload:
        upload = await self.find(upload_id)
        self.ensure_available(upload)
        return upload

    async def open_download(self, upload_id: str, auth_token: str | None) -> Download:
        """Check the auth token and availability, find the blob, count the download.

        The blob is located (opened, or linked by stores whose clients fetch it
        themselves) before the count, so a missing blob never uses up a download."""
        if not auth_token:
            raise InvalidToken(AUTH_TOKEN)
        upload = await self.find(upload_id)
        if not token_matches(auth_token, upload.auth_token):
            raise InvalidToken(AUTH_TOKEN)
        self.ensure_available(upload)
        source = await self.blobs.locate(upload_id)
        if source is None:
            raise BlobMissing("File not found on disk")
        try:
            claimed = await self.uploads.claim_download(upload_id)
        except BaseException:
            await _release(source)
            raise
        if not claimed:
            await _release(source)
            raise Gone("Download limit reached", "exhausted")
        return Download(upload, source)

    async def check_password(self, upload_id: str, body: bytes) -> None:
        """Verify the auth token derived from a password; changes nothing."""
        token = auth_token_from_body(body)
        upload = await self.find(upload_id)
        if not upload.has_password:
            raise InvalidRequest("Upload is not password protected")
        self.ensure_available(upload, "Upload expired")
        if not token_matches(token, upload.auth_token):
            raise InvalidToken("Invalid password")

    # -- owner operations -----------------------------------------------------------

    async def authorize_owner(self, upload_id: str, owner_token: str | None) -> Upload:
        if not owner_token:
            raise InvalidToken(OWNER_TOKEN)
        upload = await self.find(upload_id)
        if not token_matches(owner_token, upload.owner_token):
            raise InvalidToken(OWNER_TOKEN)
        return upload

    async def set_metadata(self, upload_id: str, owner_token: str | None, body: bytes) -> None:
        """Store encrypted metadata once (``POST /api/meta/:id`` after its size check)."""
        upload = await self.authorize_owner(upload_id, owner_token)
        if upload.encrypted_meta is not None:
            raise Conflict("Metadata already set")
        fields = json_object(body)
        meta, nonce = fields.get("encryptedMeta"), fields.get("nonce")
        details: dict[str, list[str]] = {}
        if not isinstance(meta, str) or not 1 <= len(meta) <= 100_000:
            details["encryptedMeta"] = ["Must be a string of 1 to 100000 characters"]
        if not isinstance(nonce, str) or not 1 <= len(nonce) <= 100:
            details["nonce"] = ["Must be a string of 1 to 100 characters"]
        if details or not isinstance(meta, str) or not isinstance(nonce, str):
            raise InvalidRequest("Invalid request body", details)
        meta_bytes = decode_lenient_b64(meta)
        if meta_bytes is None:
            raise InvalidRequest("Invalid encryptedMeta encoding")
        nonce_bytes = decode_lenient_b64(nonce)
        if nonce_bytes is None:
            raise InvalidRequest("Invalid nonce encoding")
        if not await self.uploads.set_metadata_once(upload_id, meta_bytes, nonce_bytes):
            if await self.uploads.get(upload_id) is None:
                raise NotFound(UPLOAD_NOT_FOUND)
            raise Conflict("Metadata already set")

    async def delete(self, upload_id: str, owner_token: str | None) -> None:
        """Row first, then blob (best effort: the orphan sweep removes leftovers)."""
        await self.authorize_owner(upload_id, owner_token)
        if not await self.uploads.delete(upload_id):
            raise NotFound(UPLOAD_NOT_FOUND)
        try:
            await self.blobs.delete(upload_id)
        except StorageError:
            log.warning("blob of a deleted upload could not be removed; the orphan sweep will")
