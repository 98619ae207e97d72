"""The operator use cases (``skysend_core.admin.Admin``) on the in-memory adapters."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator

import attrs
import pytest

from skysend_adapters.clock import ManualClock
from skysend_adapters.memory import (
    InMemoryBlobStore,
    InMemoryNoteRepository,
    InMemoryUploadRepository,
    InMemoryUploadSessionStore,
)
from skysend_core.admin import INVALID_ID, Admin
from skysend_core.errors import InvalidRequest, NotFound
from skysend_core.lifecycle import Cleanup
from skysend_core.notes_model import Note, NoteSummary
from skysend_core.uploads_model import Upload, UploadSummary

NOW_S = 1_800_000_000


class RowFirstBlobStore(InMemoryBlobStore):
    """Refuses to delete a blob whose upload row still exists (storage-and-lifecycle.md
    §6.1: the row goes first)."""

    uploads: InMemoryUploadRepository

    async def delete(self, blob_id: str) -> None:
        assert await self.uploads.get(blob_id) is None, "blob deleted before its row"
        await super().delete(blob_id)


@attrs.define
class World:
    admin: Admin
    clock: ManualClock
    uploads: InMemoryUploadRepository
    notes: InMemoryNoteRepository
    sessions: InMemoryUploadSessionStore
    blobs: RowFirstBlobStore

    async def upload(self, **changes: object) -> Upload:
        upload = Upload(
            id=str(uuid.uuid4()),
            owner_token=hashlib.sha256(b"owner").digest(),
            auth_token=hashlib.sha256(b"auth").digest(),
            salt=secrets.token_bytes(32),
            size=1000,
            file_count=1,
            has_password=False,
            password_salt=None,
            password_algo=None,
            max_downloads=3,
            expires_at=NOW_S + 3600,
            created_at=NOW_S - 10,
        )
        upload = attrs.evolve(upload, **changes)  # type: ignore[arg-type]
        await self.uploads.insert(upload)
        await self.blobs.write(upload.id, _stream(b"x" * upload.size))
        return upload

    async def note(self, **changes: object) -> Note:
        note = Note(
            id=str(uuid.uuid4()),
            owner_token=secrets.token_bytes(32),
            auth_token=secrets.token_bytes(32),
            salt=secrets.token_bytes(32),
            encrypted_content=secrets.token_bytes(64),
            nonce=secrets.token_bytes(12),
            content_type="text",
            has_password=False,
            password_salt=None,
            password_algo=None,
            max_views=0,
            expires_at=NOW_S + 3600,
            created_at=NOW_S - 10,
        )
        note = attrs.evolve(note, **changes)  # type: ignore[arg-type]
        await self.notes.insert(note)
        return note


async def _stream(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
def w() -> World:
    clock = ManualClock(NOW_S * 1000)
    uploads, notes = InMemoryUploadRepository(), InMemoryNoteRepository()
    sessions, blobs = InMemoryUploadSessionStore(), RowFirstBlobStore(clock)
    blobs.uploads = uploads
    cleanup = Cleanup(uploads, sessions, blobs, clock, notes=notes)
    return World(Admin(uploads, notes, cleanup, clock), clock, uploads, notes, sessions, blobs)


async def test_an_empty_store(w: World) -> None:
    inventory = await w.admin.inventory(everything=True)
    assert (inventory.uploads, inventory.notes) == ((), ())
    stats = await w.admin.stats()
    assert (stats.uploads.total, stats.uploads.size, stats.notes.total) == (0, 0, 0)
    preview = await w.admin.cleanup_preview()
    assert (preview.uploads, preview.notes) == ((), ())


async def test_inventory_lists_active_items_newest_first(w: World) -> None:
    older = await w.upload(created_at=NOW_S - 100)
    newer = await w.upload(created_at=NOW_S - 1)
    await w.upload(expires_at=NOW_S)  # expires exactly now: not active
    await w.upload(max_downloads=2, download_count=2)
    last_second = await w.upload(expires_at=NOW_S + 1)
    unlimited = await w.note(max_views=0, view_count=50)
    views_left = await w.note(max_views=2, view_count=1, created_at=NOW_S - 5)
    await w.note(max_views=2, view_count=2)
    await w.note(expires_at=NOW_S - 1)

    inventory = await w.admin.inventory()

    assert inventory.now_ms == NOW_S * 1000
    assert [u.id for u in inventory.uploads] == [newer.id, last_second.id, older.id]
    assert [n.id for n in inventory.notes] == [views_left.id, unlimited.id]
    assert inventory.uploads[0] == UploadSummary.of(newer)
    assert inventory.notes[0] == NoteSummary.of(views_left)


async def test_inventory_of_everything_includes_expired_and_exhausted(w: World) -> None:
    expired = await w.upload(expires_at=NOW_S - 1)
    exhausted = await w.upload(max_downloads=1, download_count=1)
    burned = await w.note(max_views=1, view_count=1)
    inventory = await w.admin.inventory(everything=True)
    assert {u.id for u in inventory.uploads} == {expired.id, exhausted.id}
    assert [n.id for n in inventory.notes] == [burned.id]
    assert inventory.upload_bytes == 2000


async def test_stats_count_active_and_the_rest(w: World) -> None:
    await w.upload(size=100, download_count=1)
    await w.upload(size=20, max_downloads=2, download_count=2)
    await w.upload(size=3, expires_at=NOW_S)
    await w.note(view_count=4)
    await w.note(max_views=1, view_count=1)

    stats = await w.admin.stats()

    assert attrs.asdict(stats.uploads) == {
        "total": 3,
        "active": 1,
        "size": 123,
        "active_size": 100,
        "downloads": 3,
    }
    assert stats.uploads.expired == 2
    assert attrs.asdict(stats.notes) == {"total": 2, "active": 1, "views": 5}
    assert stats.notes.expired == 1


async def test_time_moves_items_from_active_to_expired(w: World) -> None:
    await w.upload(expires_at=NOW_S + 60)
    assert (await w.admin.stats()).uploads.active == 1
    w.clock.advance(60_000)
    assert (await w.admin.stats()).uploads.active == 0
    assert len((await w.admin.cleanup_preview()).uploads) == 1


async def test_delete_an_upload_removes_row_then_blob(w: World) -> None:
    upload = await w.upload(size=1234, file_count=3)
    kept = await w.upload()
    deleted = await w.admin.delete(upload.id)
    assert deleted == UploadSummary.of(upload)
    assert await w.uploads.get(upload.id) is None
    assert await w.blobs.open(upload.id) is None
    assert await w.uploads.get(kept.id) is not None
    assert await w.blobs.open(kept.id) is not None


async def test_delete_a_note(w: World) -> None:
    note = await w.note(content_type="sshkey")
    deleted = await w.admin.delete(note.id)
    assert deleted == NoteSummary.of(note)
    assert await w.notes.get(note.id) is None


async def test_delete_works_on_expired_items(w: World) -> None:
    upload = await w.upload(expires_at=NOW_S - 100)
    note = await w.note(max_views=1, view_count=1)
    assert isinstance(await w.admin.delete(upload.id), UploadSummary)
    assert isinstance(await w.admin.delete(note.id), NoteSummary)


async def test_delete_of_an_unknown_id(w: World) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(NotFound) as raised:
        await w.admin.delete(missing)
    assert raised.value.message == f"Upload or note {missing} not found."


@pytest.mark.parametrize(
    "item_id",
    [
        "",
        "not-a-uuid",
        "../../etc/passwd",
        str(uuid.uuid4()).upper(),
        str(uuid.uuid4()).replace("-", ""),
        str(uuid.uuid4()) + "0",
        "-" * 36,
    ],
)
async def test_delete_refuses_what_is_not_a_uuid(w: World, item_id: str) -> None:
    await w.upload()
    with pytest.raises(InvalidRequest) as raised:
        await w.admin.delete(item_id)
    assert raised.value.message == INVALID_ID
    assert len(await w.uploads.newest_first()) == 1


async def test_cleanup_preview_changes_nothing(w: World) -> None:
    expired = await w.upload(expires_at=NOW_S, size=10)
    exhausted = await w.upload(max_downloads=1, download_count=1, size=5)
    await w.upload()
    burned = await w.note(max_views=1, view_count=1)
    await w.note(max_views=0, view_count=9)

    preview = await w.admin.cleanup_preview()

    assert {u.id for u in preview.uploads} == {expired.id, exhausted.id}
    assert [n.id for n in preview.notes] == [burned.id]
    assert preview.upload_bytes == 15
    assert len((await w.admin.inventory(everything=True)).uploads) == 3
    assert await w.blobs.open(expired.id) is not None


async def test_clean_up_removes_exactly_the_preview(w: World) -> None:
    await w.upload(expires_at=NOW_S, size=10)
    await w.upload(max_downloads=1, download_count=1, size=5)
    kept_upload = await w.upload()
    await w.note(max_views=1, view_count=1)
    await w.note(expires_at=NOW_S - 1)
    kept_note = await w.note(max_views=0, view_count=9)
    preview = await w.admin.cleanup_preview()

    report = await w.admin.clean_up()

    assert (report.uploads, report.notes, report.upload_bytes) == (2, 2, 15)
    for upload in preview.uploads:
        assert await w.blobs.open(upload.id) is None
    remaining = await w.admin.inventory(everything=True)
    assert [u.id for u in remaining.uploads] == [kept_upload.id]
    assert [n.id for n in remaining.notes] == [kept_note.id]
    assert await w.blobs.open(kept_upload.id) is not None
    assert await w.admin.cleanup_preview() == attrs.evolve(preview, uploads=(), notes=())


async def test_clean_up_also_runs_the_session_and_orphan_steps(w: World) -> None:
    orphan = str(uuid.uuid4())
    await w.blobs.write(orphan, _stream(b"lost"))
    w.clock.advance(2 * 60 * 60 * 1000)
    report = await w.admin.clean_up()
    assert (report.uploads, report.notes, report.orphans) == (0, 0, 1)
    assert await w.blobs.open(orphan) is None
