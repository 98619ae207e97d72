"""Contract of ``UploadRepository``: every implementation passes the same tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest

from skysend_adapters.memory import InMemoryUploadRepository
from skysend_adapters.sqlite import SqliteDatabase, SqliteUploadRepository
from skysend_core.errors import StorageError
from skysend_core.ports import UploadRepository
from skysend_core.uploads_model import (
    Upload,
    UploadSummary,
    is_exhausted,
    is_expired,
    is_purgeable,
)
from tests.adapters.factories import make_upload, new_id


@pytest.fixture(params=["memory", "sqlite"])
async def repo(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UploadRepository]:
    if request.param == "memory":
        yield InMemoryUploadRepository()
        return
    async with await SqliteDatabase.open(tmp_path / "db" / "skysend.db") as db:
        yield SqliteUploadRepository(db)


@pytest.mark.parametrize(
    "upload",
    [
        make_upload(),
        make_upload(with_password=True, with_meta=True, download_count=2),
    ],
    ids=["plain", "every-field"],
)
async def test_insert_get_round_trip(repo: UploadRepository, upload: Upload) -> None:
    await repo.insert(upload)
    assert await repo.get(upload.id) == upload


async def test_get_missing_is_none(repo: UploadRepository) -> None:
    assert await repo.get(new_id()) is None


async def test_duplicate_insert_is_a_storage_error(repo: UploadRepository) -> None:
    upload = make_upload()
    await repo.insert(upload)
    with pytest.raises(StorageError):
        await repo.insert(upload)


async def test_claim_download_counts_up_to_the_limit(repo: UploadRepository) -> None:
    upload = make_upload(max_downloads=3)
    await repo.insert(upload)
    assert [await repo.claim_download(upload.id) for _ in range(5)] == [True] * 3 + [False] * 2
    stored = await repo.get(upload.id)
    assert stored is not None
    assert stored.download_count == 3


async def test_claim_download_missing_row(repo: UploadRepository) -> None:
    assert await repo.claim_download(new_id()) is False


async def test_concurrent_claims_never_exceed_the_limit(repo: UploadRepository) -> None:
    upload = make_upload(max_downloads=7)
    await repo.insert(upload)
    results = await asyncio.gather(*(repo.claim_download(upload.id) for _ in range(20)))
    assert results.count(True) == 7
    stored = await repo.get(upload.id)
    assert stored is not None
    assert stored.download_count == 7


async def test_set_metadata_once(repo: UploadRepository) -> None:
    upload = make_upload()
    await repo.insert(upload)
    assert await repo.set_metadata_once(upload.id, b"meta-1", b"n" * 12) is True
    assert await repo.set_metadata_once(upload.id, b"meta-2", b"m" * 12) is False
    stored = await repo.get(upload.id)
    assert stored == attrs.evolve(upload, encrypted_meta=b"meta-1", nonce=b"n" * 12)


async def test_set_metadata_once_missing_row(repo: UploadRepository) -> None:
    assert await repo.set_metadata_once(new_id(), b"meta", b"nonce") is False


async def test_concurrent_set_metadata_exactly_one_wins(repo: UploadRepository) -> None:
    upload = make_upload()
    await repo.insert(upload)
    metas = [f"meta-{i}".encode() for i in range(10)]
    results = await asyncio.gather(
        *(repo.set_metadata_once(upload.id, meta, b"nonce") for meta in metas)
    )
    assert results.count(True) == 1
    stored = await repo.get(upload.id)
    assert stored is not None
    assert stored.encrypted_meta == metas[results.index(True)]


async def test_delete(repo: UploadRepository) -> None:
    upload = make_upload()
    await repo.insert(upload)
    assert await repo.delete(upload.id) is True
    assert await repo.get(upload.id) is None
    assert await repo.delete(upload.id) is False
    assert await repo.claim_download(upload.id) is False


async def test_expired_ids_boundary_is_inclusive(repo: UploadRepository) -> None:
    upload = make_upload(expires_at=1_800_000_000)
    await repo.insert(upload)
    assert await repo.expired_ids(1_800_000_000_000 - 1) == []
    assert await repo.expired_ids(1_800_000_000_000) == [upload.id]
    assert await repo.expired_ids(1_800_000_000_000 + 1) == [upload.id]


async def test_expired_ids_includes_exhausted(repo: UploadRepository) -> None:
    exhausted = make_upload(max_downloads=2, download_count=2)
    fresh = make_upload(max_downloads=2, download_count=1)
    await repo.insert(exhausted)
    await repo.insert(fresh)
    assert await repo.expired_ids(0) == [exhausted.id]
    assert await repo.claim_download(fresh.id)
    assert sorted(await repo.expired_ids(0)) == sorted([exhausted.id, fresh.id])


@pytest.mark.parametrize("offset_ms", [-1001, -1000, -999, -1, 0, 1, 999, 1000])
async def test_expired_ids_agrees_with_the_core_rules(
    repo: UploadRepository, offset_ms: int
) -> None:
    upload = make_upload(expires_at=1_800_000_000)
    await repo.insert(upload)
    now = upload.expires_at * 1000 + offset_ms
    expected = is_expired(upload, now) or is_exhausted(upload)
    assert (upload.id in await repo.expired_ids(now)) is expected


async def test_newest_first_of_an_empty_repository(repo: UploadRepository) -> None:
    assert await repo.newest_first() == []


async def test_newest_first_orders_by_creation_then_insertion(repo: UploadRepository) -> None:
    old = attrs.evolve(make_upload(), created_at=1_700_000_000)
    same_second_a = make_upload()
    same_second_b = make_upload()
    new = attrs.evolve(make_upload(), created_at=same_second_a.created_at + 1)
    for upload in (same_second_a, old, new, same_second_b):
        await repo.insert(upload)
    listed = [summary.id for summary in await repo.newest_first()]
    assert listed == [new.id, same_second_b.id, same_second_a.id, old.id]


async def test_newest_first_summarises_every_row_without_secrets(repo: UploadRepository) -> None:
    plain = make_upload()
    protected = make_upload(with_password=True, with_meta=True)
    exhausted = make_upload(max_downloads=2, download_count=2)
    expired = make_upload(expires_at=1_000)
    for upload in (plain, protected, exhausted, expired):
        await repo.insert(upload)
    assert await repo.claim_download(plain.id)
    summaries = {summary.id: summary for summary in await repo.newest_first()}
    assert summaries == {
        plain.id: UploadSummary.of(attrs.evolve(plain, download_count=1)),
        protected.id: UploadSummary.of(protected),
        exhausted.id: UploadSummary.of(exhausted),
        expired.id: UploadSummary.of(expired),
    }
    assert summaries[plain.id].storage_path == f"{plain.id}.bin"
    assert summaries[protected.id].password_algo == "argon2id-v2"


async def test_newest_first_forgets_deleted_rows(repo: UploadRepository) -> None:
    kept, deleted = make_upload(), make_upload()
    await repo.insert(kept)
    await repo.insert(deleted)
    assert await repo.delete(deleted.id)
    assert [summary.id for summary in await repo.newest_first()] == [kept.id]


@pytest.mark.parametrize("offset_ms", [-1, 0, 1])
@pytest.mark.parametrize(("max_downloads", "download_count"), [(2, 1), (2, 2), (1, 3)])
async def test_expired_ids_are_the_purgeable_rows(
    repo: UploadRepository, offset_ms: int, max_downloads: int, download_count: int
) -> None:
    upload = make_upload(
        expires_at=1_800_000_000, max_downloads=max_downloads, download_count=download_count
    )
    await repo.insert(upload)
    now = upload.expires_at * 1000 + offset_ms
    assert (upload.id in await repo.expired_ids(now)) is is_purgeable(upload, now)
