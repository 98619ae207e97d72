"""Operator use cases (clients.md Part 3, the admin CLI): look at and tidy up the stored
uploads and notes without any credential.

One method per command. "Active" and "would be cleaned up" are the same rules the server
applies (``is_purgeable`` of :mod:`~skysend_core.uploads_model` and
:mod:`~skysend_core.notes_model`); the clean-up itself is the cleanup job's own steps.
"""

from __future__ import annotations

import re

import attrs

from skysend_core import notes_model, uploads_model
from skysend_core.errors import InvalidRequest, NotFound
from skysend_core.lifecycle import Cleanup, CleanupReport
from skysend_core.notes_model import NoteSummary
from skysend_core.ports import Clock, NoteRepository, UploadRepository
from skysend_core.uploads_model import UploadSummary

INVALID_ID = "Invalid ID format. Expected a UUID."
_UUID = re.compile(r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}")


@attrs.frozen
class Inventory:
    """Uploads and notes, newest first, as selected at ``now_ms``."""

    now_ms: int
    uploads: tuple[UploadSummary, ...]
    notes: tuple[NoteSummary, ...]

    @property
    def upload_bytes(self) -> int:
        return sum(upload.size for upload in self.uploads)


@attrs.frozen
class UploadTotals:
    total: int
    active: int
    size: int
    active_size: int
    downloads: int

    @property
    def expired(self) -> int:
        """Everything not active: expired or out of downloads."""
        return self.total - self.active


@attrs.frozen
class NoteTotals:
    total: int
    active: int
    views: int

    @property
    def expired(self) -> int:
        """Everything not active: expired or out of views."""
        return self.total - self.active


@attrs.frozen
class Stats:
    uploads: UploadTotals
    notes: NoteTotals


@attrs.define
class Admin:
    """The admin CLI's operations over the same ports as the server."""

    uploads: UploadRepository
    notes: NoteRepository
    cleanup: Cleanup
    clock: Clock

    async def inventory(self, *, everything: bool = False) -> Inventory:
        """Active uploads and notes, or ``everything`` stored."""
        now = self.clock.now_ms()
        uploads, notes = await self._all()
        if not everything:
            uploads, notes = _active(uploads, notes, now)
        return Inventory(now, tuple(uploads), tuple(notes))

    async def stats(self) -> Stats:
        now = self.clock.now_ms()
        uploads, notes = await self._all()
        active_uploads, active_notes = _active(uploads, notes, now)
        return Stats(
            UploadTotals(
                total=len(uploads),
                active=len(active_uploads),
                size=sum(u.size for u in uploads),
                active_size=sum(u.size for u in active_uploads),
                downloads=sum(u.download_count for u in uploads),
            ),
            NoteTotals(
                total=len(notes),
                active=len(active_notes),
                views=sum(n.view_count for n in notes),
            ),
        )

    async def delete(self, item_id: str) -> UploadSummary | NoteSummary:
        """Delete the upload (row, then blob) or else the note with this id; what it was.

        Raises ``InvalidRequest`` for an id that is not a UUID, ``NotFound`` if neither
        exists."""
        if _UUID.fullmatch(item_id) is None:
            raise InvalidRequest(INVALID_ID)
        upload = await self.uploads.get(item_id)
        if upload is not None and await self.cleanup.remove_upload(item_id):
            return UploadSummary.of(upload)
        note = await self.notes.get(item_id)
        if note is not None and await self.notes.delete(item_id):
            return NoteSummary.of(note)
        raise NotFound(f"Upload or note {item_id} not found.")

    async def cleanup_preview(self) -> Inventory:
        """What :meth:`clean_up` would remove now (nothing is changed)."""
        now = self.clock.now_ms()
        uploads, notes = await self._all()
        return Inventory(
            now,
            tuple(u for u in uploads if uploads_model.is_purgeable(u, now)),
            tuple(n for n in notes if notes_model.is_purgeable(n, now)),
        )

    async def clean_up(self) -> CleanupReport:
        """The cleanup job's steps 1-4 (storage-and-lifecycle.md §6.2)."""
        return await self.cleanup.remove_expired()

    async def _all(self) -> tuple[list[UploadSummary], list[NoteSummary]]:
        return await self.uploads.newest_first(), await self.notes.newest_first()


def _active(
    uploads: list[UploadSummary], notes: list[NoteSummary], now_ms: int
) -> tuple[list[UploadSummary], list[NoteSummary]]:
    """What is still available at ``now_ms``: anything the cleanup job would not remove."""
    return (
        [u for u in uploads if not uploads_model.is_purgeable(u, now_ms)],
        [n for n in notes if not notes_model.is_purgeable(n, now_ms)],
    )
