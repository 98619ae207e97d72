"""Contract of ``NoteRepository``: every implementation passes the same tests."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest

from skysend_core.errors import StorageError
from skysend_core.notes_model import Note, NoteSummary, is_purgeable
from skysend_core.ports import NoteRepository

NOW_S = 1_800_000_000


def make_note(**changes: object) -> Note:
    note = Note(
        id=str(uuid.uuid4()),
        owner_token=secrets.token_bytes(32),
        auth_token=secrets.token_bytes(32),
        salt=secrets.token_bytes(32),
        encrypted_content=secrets.token_bytes(200),
        nonce=secrets.token_bytes(12),
        content_type="text",
        has_password=False,
        password_salt=None,
        password_algo=None,
        max_views=0,
        expires_at=NOW_S + 3600,
        created_at=NOW_S,
    )
    return attrs.evolve(note, **changes)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite"])
async def repo(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[NoteRepository]:
    if request.param == "memory":
        from skysend_adapters.memory import InMemoryNoteRepository

        yield InMemoryNoteRepository()
        return
    from skysend_adapters.sqlite import SqliteDatabase, SqliteNoteRepository

    async with await SqliteDatabase.open(tmp_path / "db" / "skysend.db") as db:
        yield SqliteNoteRepository(db)


async def test_insert_then_get_round_trips_every_field(repo: NoteRepository) -> None:
    plain = make_note()
    protected = make_note(
        content_type="sshkey",
        has_password=True,
        password_salt=secrets.token_bytes(16),
        password_algo="argon2id-v2",
        max_views=5,
        view_count=2,
    )
    for note in (plain, protected):
        await repo.insert(note)
        assert await repo.get(note.id) == note


async def test_get_unknown_id_is_none(repo: NoteRepository) -> None:
    assert await repo.get(str(uuid.uuid4())) is None


async def test_duplicate_id_is_a_storage_error(repo: NoteRepository) -> None:
    note = make_note()
    await repo.insert(note)
    with pytest.raises(StorageError):
        await repo.insert(make_note(id=note.id))
    assert await repo.get(note.id) == note


async def test_claim_view_counts_without_limit(repo: NoteRepository) -> None:
    note = make_note(max_views=0)
    await repo.insert(note)
    assert [await repo.claim_view(note.id) for _ in range(5)] == [1, 2, 3, 4, 5]
    stored = await repo.get(note.id)
    assert stored is not None
    assert stored.view_count == 5
    assert stored.encrypted_content == note.encrypted_content


async def test_claim_view_stops_at_the_limit(repo: NoteRepository) -> None:
    note = make_note(max_views=3)
    await repo.insert(note)
    assert [await repo.claim_view(note.id) for _ in range(5)] == [1, 2, 3, None, None]
    stored = await repo.get(note.id)
    assert stored is not None
    assert stored.view_count == 3


async def test_claim_view_of_unknown_note_is_none(repo: NoteRepository) -> None:
    assert await repo.claim_view(str(uuid.uuid4())) is None


async def test_last_view_erases_the_ciphertext_but_keeps_the_row(repo: NoteRepository) -> None:
    note = make_note(max_views=2)
    await repo.insert(note)
    assert await repo.claim_view(note.id) == 1
    after_first = await repo.get(note.id)
    assert after_first is not None
    assert after_first.encrypted_content == note.encrypted_content
    assert await repo.claim_view(note.id) == 2
    burned = await repo.get(note.id)
    assert burned is not None
    assert burned.encrypted_content == b""
    assert attrs.evolve(burned, encrypted_content=note.encrypted_content) == attrs.evolve(
        note, view_count=2
    )


async def test_concurrent_claims_never_exceed_the_limit(repo: NoteRepository) -> None:
    note = make_note(max_views=4)
    await repo.insert(note)
    results = await asyncio.gather(*(repo.claim_view(note.id) for _ in range(20)))
    assert sorted(r for r in results if r is not None) == [1, 2, 3, 4]
    assert results.count(None) == 16


async def test_delete_removes_the_row_once(repo: NoteRepository) -> None:
    note = make_note()
    await repo.insert(note)
    assert await repo.delete(note.id) is True
    assert await repo.get(note.id) is None
    assert await repo.delete(note.id) is False
    assert await repo.claim_view(note.id) is None


async def test_delete_expired_removes_expired_and_exhausted_notes(repo: NoteRepository) -> None:
    now_ms = NOW_S * 1000
    expired = make_note(expires_at=NOW_S)  # now >= expires_at: expired
    expiring_later = make_note(expires_at=NOW_S + 1)
    exhausted = make_note(max_views=2, view_count=2)
    unlimited = make_note(max_views=0, view_count=99)
    views_left = make_note(max_views=2, view_count=1)
    for note in (expired, expiring_later, exhausted, unlimited, views_left):
        await repo.insert(note)
    assert await repo.delete_expired(now_ms) == 2
    assert await repo.get(expired.id) is None
    assert await repo.get(exhausted.id) is None
    for kept in (expiring_later, unlimited, views_left):
        assert await repo.get(kept.id) == kept
    assert await repo.delete_expired(now_ms) == 0
    assert await repo.delete_expired(now_ms + 1000) == 1
    assert await repo.get(expiring_later.id) is None


async def test_sqlite_burn_leaves_no_ciphertext_in_database_files(tmp_path: Path) -> None:
    """Burn after reading at the storage level: main file and write-ahead log."""
    from skysend_adapters.sqlite import SqliteDatabase, SqliteNoteRepository

    path = tmp_path / "db" / "skysend.db"
    async with await SqliteDatabase.open(path) as db:
        repo = SqliteNoteRepository(db)
        note = make_note(max_views=1, encrypted_content=secrets.token_bytes(4096))
        neighbour = make_note()
        await repo.insert(note)
        await repo.insert(neighbour)
        assert await repo.claim_view(note.id) == 1
        assert_absent(note.encrypted_content, path)
        assert await repo.get(neighbour.id) == neighbour


def assert_absent(secret: bytes, db_path: Path) -> None:
    """No 32-byte window of ``secret`` occurs in the database or its write-ahead log."""
    for file in (db_path, db_path.with_name(db_path.name + "-wal")):
        if not file.exists():
            continue
        raw = file.read_bytes()
        for start in range(0, len(secret) - 32, 32):
            assert secret[start : start + 32] not in raw, f"ciphertext found in {file.name}"


async def test_newest_first_of_an_empty_repository(repo: NoteRepository) -> None:
    assert await repo.newest_first() == []


async def test_newest_first_orders_by_creation_then_insertion(repo: NoteRepository) -> None:
    old = make_note(created_at=NOW_S - 60)
    same_second_a = make_note()
    same_second_b = make_note()
    new = make_note(created_at=NOW_S + 1)
    for note in (same_second_a, old, new, same_second_b):
        await repo.insert(note)
    listed = [summary.id for summary in await repo.newest_first()]
    assert listed == [new.id, same_second_b.id, same_second_a.id, old.id]


async def test_newest_first_summarises_every_row_with_current_counts(
    repo: NoteRepository,
) -> None:
    limited = make_note(max_views=2)
    protected = make_note(
        content_type="password",
        has_password=True,
        password_salt=secrets.token_bytes(16),
        password_algo="argon2id-v2",
    )
    expired = make_note(expires_at=NOW_S - 1)
    for note in (limited, protected, expired):
        await repo.insert(note)
    assert await repo.claim_view(limited.id) == 1
    assert await repo.claim_view(limited.id) == 2  # burned: the row stays until cleanup
    summaries = {summary.id: summary for summary in await repo.newest_first()}
    assert summaries == {
        limited.id: NoteSummary.of(attrs.evolve(limited, view_count=2)),
        protected.id: NoteSummary.of(protected),
        expired.id: NoteSummary.of(expired),
    }


async def test_newest_first_forgets_deleted_rows(repo: NoteRepository) -> None:
    kept, deleted = make_note(), make_note()
    await repo.insert(kept)
    await repo.insert(deleted)
    assert await repo.delete(deleted.id)
    assert [summary.id for summary in await repo.newest_first()] == [kept.id]


@pytest.mark.parametrize("offset_ms", [-1, 0, 1])
@pytest.mark.parametrize(("max_views", "view_count"), [(0, 5), (2, 1), (2, 2), (1, 3)])
async def test_delete_expired_removes_exactly_the_purgeable_notes(
    repo: NoteRepository, offset_ms: int, max_views: int, view_count: int
) -> None:
    note = make_note(max_views=max_views, view_count=view_count)
    await repo.insert(note)
    now = note.expires_at * 1000 + offset_ms
    assert await repo.delete_expired(now) == int(is_purgeable(note, now))
    assert (await repo.get(note.id) is None) is is_purgeable(note, now)
