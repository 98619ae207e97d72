"""The cleanup job (storage-and-lifecycle.md §6): expired items, idle sessions, orphans,
and ended per-client entries (rate windows, locks, quota usage; quota-key rotation).

Every step is idempotent, so running it in several worker processes at once is harmless.
"""

from __future__ import annotations

import logging
from typing import Protocol

import attrs

from skysend_core.errors import StorageError
from skysend_core.limits import Limits
from skysend_core.ports import BlobStore, Clock, UploadRepository, UploadSessionStore
from skysend_core.uploads_model import SESSION_TTL_MS, is_session_live

log = logging.getLogger(__name__)


class ExpiringRepository(Protocol):
    """Anything whose expired rows can be purged in one step (e.g. notes)."""

    async def delete_expired(self, now_ms: int) -> int: ...


@attrs.frozen
class CleanupReport:
    uploads: int
    notes: int
    sessions: int
    orphans: int
    #: Total size of the removed uploads.
    upload_bytes: int = 0


@attrs.define
class Cleanup:
    uploads: UploadRepository
    sessions: UploadSessionStore
    blobs: BlobStore
    clock: Clock
    notes: ExpiringRepository | None = None
    limits: Limits | None = None

    async def run(self) -> CleanupReport:
        """One run of the job: :meth:`remove_expired`, then ended per-client entries."""
        report = await self.remove_expired()
        if self.limits is not None:
            await self.limits.purge()
        if report.uploads + report.notes:
            log.info("Removed %d expired record(s)", report.uploads + report.notes)
        return report

    async def remove_expired(self) -> CleanupReport:
        """Steps 1-4 of the job (what ``skysend-cli cleanup`` runs): expired and exhausted
        uploads and notes, idle sessions with their data, orphans."""
        now = self.clock.now_ms()
        removed_uploads = removed_bytes = 0
        for upload_id in await self.uploads.expired_ids(now):
            upload = await self.uploads.get(upload_id)
            if await self.remove_upload(upload_id):
                removed_uploads += 1
                removed_bytes += upload.size if upload is not None else 0
        removed_notes = await self.notes.delete_expired(now) if self.notes else 0
        expired_sessions = await self.sessions.expired_ids(now)
        for session_id in expired_sessions:
            await self.sessions.delete(session_id)
            await self.blobs.discard_parts(session_id)
        orphans = await self.sweep_orphans(now)
        return CleanupReport(
            removed_uploads, removed_notes, len(expired_sessions), orphans, removed_bytes
        )

    async def remove_upload(self, upload_id: str) -> bool:
        """Delete the row, then the blob (storage-and-lifecycle.md §6.1: never a row without
        its blob). False if there was no row; the blob goes in any case."""
        removed = await self.uploads.delete(upload_id)
        await self._delete_blob(upload_id)
        return removed

    async def sweep_orphans(self, now_ms: int) -> int:
        """Remove blobs and session areas with no row, no live session, and old enough."""
        removed = 0
        for item in await self.blobs.stale_items(now_ms - SESSION_TTL_MS):
            session = await self.sessions.get(item.id)
            if session is not None and is_session_live(session, now_ms):
                continue
            if item.kind == "blob":
                if await self.uploads.get(item.id) is not None:
                    continue
                await self._delete_blob(item.id)
            else:
                if session is not None:
                    await self.sessions.delete(item.id)
                await self.blobs.discard_parts(item.id)
            removed += 1
        return removed

    async def _delete_blob(self, blob_id: str) -> None:
        try:
            await self.blobs.delete(blob_id)
        except StorageError:
            log.warning("could not remove a blob; the next sweep retries")
