"""Contract of ``BlobStore``: every implementation passes the same tests.

Filesystem-only checks (directory contents, inodes, mtimes) follow the shared suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import os
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from skysend_adapters import filesystem
from skysend_adapters.filesystem import FilesystemBlobStore
from skysend_adapters.memory import InMemoryBlobStore
from skysend_core.errors import NotFound, StorageError
from skysend_core.ports import BlobReader, BlobStore, StaleItem
from tests.adapters.factories import MIB, new_id, s3_store
from tests.support.s3 import Bucket, S3Server

BAD_IDS = [
    "../../etc/passwd",
    "../../etc/passwd-00000000000000000000",  # 36 characters, still a traversal
    "/etc/passwd",
    "",
    ".",
    "..",
    ".partial",
    "0123456789ABCDEF0123456789ABCDEF0123",  # uppercase
    "00000000-0000-4000-8000-000000000000/..",
    "00000000-0000-4000-8000-00000000000\x00",
    "00000000-0000-4000-8000-000000000000.bin",
]


@attrs.frozen
class Harness:
    store: BlobStore
    root: Path | None  # the uploads directory, for implementations that have one
    bucket: Bucket | None = None  # the bucket, for object storage

    def leftovers(self) -> list[str]:
        """Every file and directory under the root except the empty partial area, every
        object and every unfinished multipart upload in the bucket."""
        found: list[str] = []
        if self.root is not None:
            found = sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*"))
        if self.bucket is not None:
            found += [f"s3:{key}" for key in self.bucket.objects()]
            found += [f"s3-upload:{key}" for key in self.bucket.uploads()]
        return [name for name in found if name != ".partial"]


@pytest.fixture(params=["memory", "filesystem", "s3"])
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    root = tmp_path / "a" / "b" / "uploads"
    if request.param == "memory":
        yield Harness(InMemoryBlobStore(), None)
    elif request.param == "filesystem":
        yield Harness(FilesystemBlobStore(root), root)
    else:
        s3_server: S3Server = request.getfixturevalue("s3_server")
        async with s3_store(s3_server, root) as (store, bucket):
            yield Harness(store, root, bucket)


@pytest.fixture
def store(harness: Harness) -> BlobStore:
    return harness.store


class Boom(Exception):
    pass


async def stream(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        await asyncio.sleep(0)
        yield piece


async def failing(pieces: Iterable[bytes], error: BaseException) -> AsyncIterator[bytes]:
    async for piece in stream(pieces):
        yield piece
    raise error


def split(data: bytes, sizes: Iterable[int]) -> Iterator[bytes]:
    position = 0
    for size in itertools.cycle(sizes):
        if position >= len(data):
            return
        yield data[position : position + size]
        position += size


async def read_all(reader: BlobReader) -> bytes:
    try:
        return b"".join([chunk async for chunk in reader.chunks()])
    finally:
        await reader.aclose()


async def read_blob(store: BlobStore, blob_id: str) -> bytes | None:
    reader = await store.open(blob_id)
    return None if reader is None else await read_all(reader)


PAYLOAD = os.urandom(3 * MIB + 12_345)
ODD_SIZES = [1, 7, 65_535, MIB + 3, 333_333, 4096, 2 * MIB - 1]


# -- whole blobs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pieces",
    [
        [],
        [b"x"],
        list(split(PAYLOAD, ODD_SIZES)),
        [PAYLOAD],
        [b"", PAYLOAD[:10], b"", PAYLOAD[10:]],
    ],
    ids=["empty", "one-byte", "odd-sizes", "one-piece", "with-empty-pieces"],
)
async def test_write_read_round_trip(store: BlobStore, pieces: list[bytes]) -> None:
    blob_id = new_id()
    data = b"".join(pieces)
    assert await store.write(blob_id, stream(pieces)) == len(data)
    reader = await store.open(blob_id)
    assert reader is not None
    assert reader.size == len(data)
    assert await read_all(reader) == data


async def test_overwrite_replaces_the_blob(store: BlobStore) -> None:
    blob_id = new_id()
    await store.write(blob_id, stream([b"first"]))
    await store.write(blob_id, stream([b"second"]))
    assert await read_blob(store, blob_id) == b"second"


async def test_open_missing_is_none(store: BlobStore) -> None:
    assert await store.open(new_id()) is None


async def test_delete_and_delete_missing(store: BlobStore) -> None:
    blob_id = new_id()
    await store.write(blob_id, stream([b"data"]))
    await store.delete(blob_id)
    assert await store.open(blob_id) is None
    await store.delete(blob_id)  # missing is not an error


@pytest.mark.parametrize(
    "error", [Boom("mid-stream"), ConnectionResetError("peer went away")], ids=repr
)
async def test_source_exception_leaves_nothing(harness: Harness, error: Exception) -> None:
    blob_id = new_id()
    with pytest.raises(type(error)) as caught:
        await harness.store.write(blob_id, failing(split(PAYLOAD, [MIB // 2 + 1]), error))
    assert caught.value is error  # unchanged, even an OSError from the source
    assert await harness.store.open(blob_id) is None
    assert harness.leftovers() == []


async def test_cancelled_write_leaves_nothing(harness: Harness) -> None:
    blob_id = new_id()
    started = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield b"x" * (3 * MIB)
        started.set()
        await asyncio.Event().wait()
        yield b"never"

    task = asyncio.create_task(harness.store.write(blob_id, stalls()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await harness.store.open(blob_id) is None
    assert harness.leftovers() == []


@pytest.mark.parametrize("bad_id", BAD_IDS)
async def test_invalid_ids_never_reach_storage(harness: Harness, bad_id: str) -> None:
    store = harness.store
    consumed = False

    async def source() -> AsyncIterator[bytes]:
        nonlocal consumed
        consumed = True
        yield b"payload"

    with pytest.raises(NotFound):
        await store.write(bad_id, source())
    with pytest.raises(NotFound):
        await store.write_part(bad_id, source())
    with pytest.raises(NotFound):
        await store.assemble(bad_id, [], new_id())
    with pytest.raises(NotFound):
        await store.assemble(new_id(), [], bad_id)
    assert consumed is False
    assert await store.open(bad_id) is None
    await store.delete(bad_id)
    await store.discard_parts(bad_id)
    await store.discard_parts(bad_id, ["0" * 32])
    assert harness.leftovers() == []


async def test_reader_survives_delete(store: BlobStore) -> None:
    blob_id = new_id()
    await store.write(blob_id, stream([PAYLOAD]))
    untouched = await store.open(blob_id)
    partly_read = await store.open(blob_id)
    assert untouched is not None
    assert partly_read is not None
    pieces = partly_read.chunks()
    first = await anext(pieces)
    await store.delete(blob_id)
    assert await store.open(blob_id) is None
    assert await read_all(untouched) == PAYLOAD
    rest = [chunk async for chunk in pieces]
    await partly_read.aclose()
    assert first + b"".join(rest) == PAYLOAD


async def test_reader_closed_early(store: BlobStore) -> None:
    blob_id = new_id()
    await store.write(blob_id, stream([PAYLOAD]))
    reader = await store.open(blob_id)
    assert reader is not None
    pieces = reader.chunks()
    assert await anext(pieces)
    await pieces.aclose()  # type: ignore[attr-defined]
    await reader.aclose()
    await reader.aclose()  # idempotent


async def test_concurrent_writes_and_reads(store: BlobStore) -> None:
    blobs = {new_id(): os.urandom(MIB + i) for i in range(6)}
    await asyncio.gather(*(store.write(i, stream(split(d, [70_000]))) for i, d in blobs.items()))
    read = await asyncio.gather(*(read_blob(store, i) for i in blobs))
    assert read == list(blobs.values())


# -- parts ------------------------------------------------------------------------------


async def test_parts_assemble_in_the_given_order(store: BlobStore) -> None:
    session_id = new_id()
    datas = [os.urandom(n) for n in (MIB + 1, 17, 2 * MIB)]
    refs = [await store.write_part(session_id, stream(split(d, ODD_SIZES))) for d in datas]
    assert [r.size for r in refs] == [len(d) for d in datas]
    assert len({r.key for r in refs}) == 3
    blob_id = new_id()
    order = [2, 0, 1]
    size = await store.assemble(session_id, [refs[i].key for i in order], blob_id)
    expected = b"".join(datas[i] for i in order)
    assert size == len(expected)
    assert await read_blob(store, blob_id) == expected


async def test_single_part_assembles(store: BlobStore) -> None:
    session_id = new_id()
    ref = await store.write_part(session_id, stream([PAYLOAD]))
    assert await store.assemble(session_id, [ref.key], session_id) == len(PAYLOAD)
    assert await read_blob(store, session_id) == PAYLOAD


async def test_assemble_with_a_missing_part_fails(store: BlobStore) -> None:
    session_id = new_id()
    ref = await store.write_part(session_id, stream([b"data"]))
    blob_id = new_id()
    for keys in ([ref.key, "0" * 32], ["0" * 32], [ref.key, "../" + ref.key]):
        with pytest.raises(StorageError):
            await store.assemble(session_id, keys, blob_id)
    assert await store.open(blob_id) is None


async def test_discard_parts(store: BlobStore) -> None:
    session_id = new_id()
    a = await store.write_part(session_id, stream([b"aaa"]))
    b = await store.write_part(session_id, stream([b"bbb"]))
    await store.discard_parts(session_id, [a.key, "0" * 32])
    with pytest.raises(StorageError):
        await store.assemble(session_id, [a.key], new_id())
    blob_id = new_id()
    await store.assemble(session_id, [b.key], blob_id)
    c = await store.write_part(session_id, stream([b"ccc"]))
    await store.discard_parts(session_id)
    with pytest.raises(StorageError):
        await store.assemble(session_id, [c.key], new_id())
    await store.discard_parts(session_id)  # idempotent
    await store.discard_parts(new_id())
    assert await read_blob(store, blob_id) == b"bbb"


async def test_failed_part_leaves_nothing(harness: Harness) -> None:
    session_id = new_id()
    kept = await harness.store.write_part(session_id, stream([b"kept"]))
    with pytest.raises(Boom):
        await harness.store.write_part(session_id, failing([b"x" * (2 * MIB)], Boom()))
    if harness.root is not None:
        assert harness.leftovers() == [
            f".partial/{session_id}",
            f".partial/{session_id}/{kept.key}",
        ]
    await harness.store.discard_parts(session_id)
    assert harness.leftovers() == []


# -- parts that know their index (chunks) ---------------------------------------------------


async def test_indexed_parts_in_order_assemble(store: BlobStore) -> None:
    session_id = new_id()
    datas = [os.urandom(n) for n in (MIB + 1, 17, 2 * MIB, 5)]
    refs = [
        await store.write_part(session_id, stream(split(d, ODD_SIZES)), index=i)
        for i, d in enumerate(datas)
    ]
    assert [r.size for r in refs] == [len(d) for d in datas]
    assert len({r.key for r in refs}) == 4
    assert await store.assemble(session_id, [r.key for r in refs], session_id) == MIB + 2 * MIB + 23
    assert await read_blob(store, session_id) == b"".join(datas)


async def test_indexed_parts_out_of_order_assemble_in_index_order(store: BlobStore) -> None:
    session_id = new_id()
    datas = [os.urandom(1000 + n) for n in range(5)]
    keys: dict[int, str] = {}
    for index in (0, 2, 1, 4, 3):
        keys[index] = (await store.write_part(session_id, stream([datas[index]]), index)).key
    await store.assemble(session_id, [keys[i] for i in range(5)], session_id)
    assert await read_blob(store, session_id) == b"".join(datas)


@pytest.mark.parametrize("later_parts", [0, 2])
async def test_an_indexed_part_never_committed_changes_nothing(
    store: BlobStore, later_parts: int
) -> None:
    """Chunk 1 is written, then refused by the session store (a duplicate that lost, a
    crash before the commit) and sent again; later chunks follow. Only committed keys
    make the blob."""
    session_id = new_id()
    first = await store.write_part(session_id, stream([b"first-"]), 0)
    refused = await store.write_part(session_id, stream([b"REFUSED-REFUSED-"]), 1)
    await store.discard_parts(session_id, [refused.key])
    again = await store.write_part(session_id, stream([b"second-"]), 1)
    later = [
        await store.write_part(session_id, stream([f"later{i}-".encode()]), 2 + i)
        for i in range(later_parts)
    ]
    keys = [first.key, again.key, *(ref.key for ref in later)]
    await store.assemble(session_id, keys, session_id)
    expected = b"first-second-" + b"".join(f"later{i}-".encode() for i in range(later_parts))
    assert await read_blob(store, session_id) == expected


async def test_an_indexed_part_that_failed_changes_nothing(store: BlobStore) -> None:
    session_id = new_id()
    first = await store.write_part(session_id, stream([b"first-"]), 0)
    with pytest.raises(Boom):
        await store.write_part(session_id, failing([b"x" * (2 * MIB)], Boom()), 1)
    second = await store.write_part(session_id, stream([b"second"]), 1)
    await store.assemble(session_id, [first.key, second.key], session_id)
    assert await read_blob(store, session_id) == b"first-second"


async def test_two_parts_with_one_index_at_once(store: BlobStore) -> None:
    """A chunk sent twice at the same moment: both writes succeed under different keys,
    and the one the session store keeps makes the blob."""
    session_id = new_id()
    release = asyncio.Event()

    async def held(data: bytes) -> AsyncIterator[bytes]:
        yield data[:10]
        await release.wait()
        yield data[10:]

    one, two = os.urandom(3 * MIB), os.urandom(3 * MIB)
    writes = [
        asyncio.ensure_future(store.write_part(session_id, held(data), 0)) for data in (one, two)
    ]
    await asyncio.sleep(0.05)
    release.set()
    first, second = await asyncio.gather(*writes)
    assert first.key != second.key
    await store.discard_parts(session_id, [first.key])
    tail = await store.write_part(session_id, stream([b"tail"]), 1)
    await store.assemble(session_id, [second.key, tail.key], session_id)
    assert await read_blob(store, session_id) == two + b"tail"


async def test_stale_items(store: BlobStore) -> None:
    blob_id, session_id = new_id(), new_id()
    await store.write(blob_id, stream([b"blob"]))
    await store.write_part(session_id, stream([b"part"]))
    now_ms = time.time_ns() // 1_000_000
    assert await store.stale_items(now_ms - 60_000) == []
    stale = await store.stale_items(now_ms + 60_000)
    assert sorted(stale, key=lambda i: i.kind) == [
        StaleItem("blob", blob_id),
        StaleItem("session", session_id),
    ]
    await store.delete(blob_id)
    await store.discard_parts(session_id)
    assert await store.stale_items(now_ms + 60_000) == []


# -- filesystem specifics ---------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
def fs(root: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(root)


async def test_directories_are_created(fs: FilesystemBlobStore, root: Path) -> None:
    assert (root / ".partial").is_dir()


async def test_layout(fs: FilesystemBlobStore, root: Path) -> None:
    blob_id, session_id = new_id(), new_id()
    await fs.write(blob_id, stream([b"blob"]))
    ref = await fs.write_part(session_id, stream([b"part"]))
    assert (root / f"{blob_id}.bin").read_bytes() == b"blob"
    assert (root / ".partial" / session_id / ref.key).read_bytes() == b"part"


async def test_single_part_is_moved_not_copied(fs: FilesystemBlobStore, root: Path) -> None:
    session_id = new_id()
    ref = await fs.write_part(session_id, stream([PAYLOAD]))
    inode = (root / ".partial" / session_id / ref.key).stat().st_ino
    await fs.assemble(session_id, [ref.key], session_id)
    assert (root / f"{session_id}.bin").stat().st_ino == inode


async def test_assemble_without_copy_file_range(
    fs: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "copy_file_range", raising=False)
    session_id = new_id()
    refs = [await fs.write_part(session_id, stream([d])) for d in (b"ab", b"cd", b"ef")]
    await fs.assemble(session_id, [r.key for r in reversed(refs)], session_id)
    assert await read_blob(fs, session_id) == b"efcdab"


async def test_assemble_ranges_of_the_growing_file_without_copy_file_range(
    fs: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rebuild after a chunk that was never committed copies ranges of .growing."""
    monkeypatch.delattr(os, "copy_file_range", raising=False)
    session_id = new_id()
    first = await fs.write_part(session_id, stream([b"first-"]), 0)
    refused = await fs.write_part(session_id, stream([b"REFUSED-"]), 1)
    await fs.discard_parts(session_id, [refused.key])
    again = await fs.write_part(session_id, stream([b"second-"]), 1)
    tail = os.urandom(3 * MIB)
    later = await fs.write_part(session_id, stream([tail]), 2)
    await fs.assemble(session_id, [first.key, again.key, later.key], session_id)
    assert await read_blob(fs, session_id) == b"first-second-" + tail


@pytest.mark.parametrize("bad_id", BAD_IDS)
async def test_invalid_ids_build_no_path(
    fs: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch, bad_id: str
) -> None:
    async def forbidden(*args: object) -> None:
        raise AssertionError("the filesystem was touched for an invalid id")

    monkeypatch.setattr(filesystem, "_io", forbidden)
    with pytest.raises(NotFound):
        await fs.write(bad_id, stream([b"x"]))
    with pytest.raises(NotFound):
        await fs.write_part(bad_id, stream([b"x"]))
    assert await fs.open(bad_id) is None
    await fs.delete(bad_id)
    await fs.discard_parts(bad_id)


async def test_traversal_cannot_delete_outside(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b" / "uploads"
    fs = FilesystemBlobStore(root)
    victim = tmp_path / "a" / "etc" / "passwd.bin"
    victim.parent.mkdir(parents=True)
    victim.write_bytes(b"root:x:0:0")
    await fs.delete("../../etc/passwd")
    await fs.discard_parts("../../etc")
    assert await fs.open("../../etc/passwd") is None
    assert victim.read_bytes() == b"root:x:0:0"


def age(path: Path, seconds: int) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


async def test_stale_items_by_mtime(fs: FilesystemBlobStore, root: Path) -> None:
    old_blob, new_blob, old_session, busy_session = new_id(), new_id(), new_id(), new_id()
    for blob_id in (old_blob, new_blob):
        await fs.write(blob_id, stream([b"x"]))
    for session_id in (old_session, busy_session):
        await fs.write_part(session_id, stream([b"x"]))
    age(root / f"{old_blob}.bin", 7200)
    old_area = root / ".partial" / old_session
    age(next(old_area.iterdir()), 7200)
    age(old_area, 7200)
    age(root / ".partial" / busy_session, 7200)  # but its part is recent
    now_ms = time.time_ns() // 1_000_000
    assert sorted(await fs.stale_items(now_ms - 3_600_000), key=lambda i: i.kind) == [
        StaleItem("blob", old_blob),
        StaleItem("session", old_session),
    ]


async def test_stale_items_ignores_foreign_names(fs: FilesystemBlobStore, root: Path) -> None:
    foreign = [
        root / "README.txt",
        root / "notes.bin",
        root / "0123456789ABCDEF0123456789ABCDEF0123.bin",
        root / ".tmp-not-ours",
        root / ".partial" / "not-an-id" / "file",
        root / ".partial" / f"{new_id()}.bin",
    ]
    for path in foreign:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"keep me")
        age(path, 7200)
    (root / f"{new_id()}.bin").mkdir()  # a directory is never a blob
    now_ms = time.time_ns() // 1_000_000
    assert await fs.stale_items(now_ms) == []
    assert all(path.read_bytes() == b"keep me" for path in foreign)


async def test_stale_scan_removes_abandoned_temporary_files(
    fs: FilesystemBlobStore, root: Path
) -> None:
    abandoned = root / (".tmp-" + "a" * 32)
    in_progress = root / (".tmp-" + "b" * 32)
    for path in (abandoned, in_progress):
        path.write_bytes(b"half a blob")
    age(abandoned, 7200)
    now_ms = time.time_ns() // 1_000_000
    assert await fs.stale_items(now_ms - 3_600_000) == []
    assert not abandoned.exists()
    assert in_progress.exists()


async def test_os_errors_become_storage_errors(fs: FilesystemBlobStore, root: Path) -> None:
    session_id = new_id()
    (root / ".partial" / session_id).write_bytes(b"a file where a directory should be")
    with pytest.raises(StorageError):
        await fs.write_part(session_id, stream([b"x"]))


async def test_writes_are_buffered(
    fs: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    original = filesystem._write_all

    def recording(file: object, data: bytes, durable: bool) -> None:
        sizes.append(len(data))
        original(file, data, durable)  # type: ignore[arg-type]

    monkeypatch.setattr(filesystem, "_write_all", recording)
    data = os.urandom(5 * MIB + 100)
    await fs.write(new_id(), stream(split(data, [64 * 1024])))
    assert sum(sizes) == len(data)
    assert all(size >= filesystem.WRITE_SIZE for size in sizes[:-1])
    assert len(sizes) <= 6


async def test_flushed_writes_start_writeback_as_they_go(
    fs: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blobs (and assembled blobs) are written behind range by range; parts, which are
    copied at assembly and never flushed themselves, are not."""
    ranges: list[tuple[int, int]] = []
    original = filesystem._write_behind

    def recording(file: io.FileIO, start: int, length: int) -> None:
        ranges.append((start, length))
        original(file, start, length)

    monkeypatch.setattr(filesystem, "_write_behind", recording)
    data = os.urandom(3 * MIB + 100)
    await fs.write(new_id(), stream(split(data, [64 * 1024])))
    assert len(ranges) >= 3
    assert ranges == [(start, length) for start, length in contiguous(ranges)]
    assert sum(length for _, length in ranges) == len(data)

    ranges.clear()
    session_id = new_id()
    first = await fs.write_part(session_id, stream([data[: 2 * MIB]]))
    second = await fs.write_part(session_id, stream([data[2 * MIB :]]))
    assert ranges == []
    await fs.assemble(session_id, [first.key, second.key], session_id)
    assert ranges == [(0, 2 * MIB), (2 * MIB, len(data) - 2 * MIB)]


async def test_a_part_as_large_as_a_whole_stream_is_written_behind_past_the_threshold(
    fs: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ranges: list[tuple[int, int]] = []
    monkeypatch.setattr(filesystem, "PART_WRITE_BEHIND_FROM", 2 * MIB)
    monkeypatch.setattr(filesystem, "_write_behind", lambda _, *span: ranges.append(span))
    data = os.urandom(5 * MIB)
    await fs.write_part(new_id(), stream(split(data, [64 * 1024])))
    assert ranges
    assert ranges[0][0] >= 2 * MIB
    assert ranges[0][0] + sum(length for _, length in ranges) == len(data)


def contiguous(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ranges laid end to end from offset 0, with the given lengths."""
    out, offset = [], 0
    for _, length in ranges:
        out.append((offset, length))
        offset += length
    return out


async def test_filesystem_reader_closes_even_when_aclose_is_cancelled(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    blob_id = new_id()

    async def body() -> AsyncIterator[bytes]:
        yield b"x" * (3 << 20)

    await store.write(blob_id, body())
    for _ in range(20):
        reader = await store.open(blob_id)
        assert reader is not None
        chunks = reader.chunks()
        await chunks.__anext__()  # a read-ahead is now pending in a thread
        closing = asyncio.ensure_future(reader.aclose())
        await asyncio.sleep(0)
        closing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await closing
        await chunks.aclose()
        await asyncio.sleep(0.05)
        assert reader._file.closed


async def test_filesystem_write_cancelled_at_any_point_leaves_no_file(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 65536
            await asyncio.sleep(0)

    for ticks in range(12):
        task = asyncio.ensure_future(store.write(new_id(), endless()))
        for _ in range(ticks):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await asyncio.sleep(0.2)  # let any thread still creating a file finish
    leftovers = [name for name in os.listdir(tmp_path) if name != ".partial"]
    assert leftovers == []


async def test_chunks_in_order_become_the_blob_without_a_copy(
    fs: FilesystemBlobStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = new_id()
    datas = [os.urandom(MIB + n) for n in range(3)]
    refs = [await fs.write_part(session_id, stream([d]), i) for i, d in enumerate(datas)]
    area = root / ".partial" / session_id
    assert sorted(p.name for p in area.iterdir()) == [".growing", ".growing-next"]
    inode = (area / ".growing").stat().st_ino

    def no_copy(*args: object) -> int:
        raise AssertionError("copied")

    monkeypatch.setattr(filesystem, "_copy", no_copy)
    await fs.assemble(session_id, [r.key for r in refs], session_id)
    blob = root / f"{session_id}.bin"
    assert blob.stat().st_ino == inode
    assert blob.read_bytes() == b"".join(datas)


async def test_chunks_ahead_of_their_turn_move_in_when_it_comes(
    fs: FilesystemBlobStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As with chunks sent in parallel: 2 and 3 arrive before 1. They wait as parts; once
    1 is appended they move into the growing blob, so finalize copies nothing."""
    session_id = new_id()
    area = root / ".partial" / session_id
    first = await fs.write_part(session_id, stream([b"0" * 100]), 0)
    third = await fs.write_part(session_id, stream([b"2" * 100]), 2)
    fourth = await fs.write_part(session_id, stream([b"3" * 100]), 3)
    assert {third.key, fourth.key} <= {p.name for p in area.iterdir()}
    second = await fs.write_part(session_id, stream([b"1" * 100]), 1)
    await fs._moved(session_id)  # moves run after the request, on a thread of their own
    assert sorted(p.name for p in area.iterdir()) == [".growing", ".growing-map", ".growing-next"]
    inode = (area / ".growing").stat().st_ino

    def no_copy(*args: object) -> int:
        raise AssertionError("copied")

    monkeypatch.setattr(filesystem, "_copy", no_copy)
    await fs.assemble(session_id, [first.key, second.key, third.key, fourth.key], session_id)
    blob = root / f"{session_id}.bin"
    assert blob.stat().st_ino == inode
    assert blob.read_bytes() == b"0" * 100 + b"1" * 100 + b"2" * 100 + b"3" * 100


async def test_a_chunk_sent_twice_ahead_of_its_turn_stays_a_part(
    fs: FilesystemBlobStore, root: Path
) -> None:
    """Two parts for one index: which one counts is the session store's call, so
    neither moves; assembly copies the committed one."""
    session_id = new_id()
    first = await fs.write_part(session_id, stream([b"0" * 100]), 0)
    kept = await fs.write_part(session_id, stream([b"A" * 100]), 2)
    lost = await fs.write_part(session_id, stream([b"B" * 100]), 2)
    second = await fs.write_part(session_id, stream([b"1" * 100]), 1)
    area = root / ".partial" / session_id
    assert {kept.key, lost.key} <= {p.name for p in area.iterdir()}
    await fs.discard_parts(session_id, [lost.key])
    await fs.assemble(session_id, [first.key, second.key, kept.key], session_id)
    assert (root / f"{session_id}.bin").read_bytes() == b"0" * 100 + b"1" * 100 + b"A" * 100


async def test_a_moved_chunk_that_was_never_committed_changes_nothing(
    fs: FilesystemBlobStore, root: Path
) -> None:
    """Chunk 2 moves into the growing blob, then the session store refuses it; it is
    sent again (now a part, its turn has passed) and 3 is appended after the refused
    bytes. The blob is built from the committed keys."""
    session_id = new_id()
    first = await fs.write_part(session_id, stream([b"0" * 100]), 0)
    refused = await fs.write_part(session_id, stream([b"X" * 100]), 2)
    second = await fs.write_part(session_id, stream([b"1" * 100]), 1)  # moves 2 in
    await fs.discard_parts(session_id, [refused.key])
    third = await fs.write_part(session_id, stream([b"2" * 100]), 2)
    fourth = await fs.write_part(session_id, stream([b"3" * 100]), 3)
    keys = [first.key, second.key, third.key, fourth.key]
    await fs.assemble(session_id, keys, session_id)
    expected = b"0" * 100 + b"1" * 100 + b"2" * 100 + b"3" * 100
    assert (root / f"{session_id}.bin").read_bytes() == expected


async def test_assembly_waits_for_an_append_still_running(
    fs: FilesystemBlobStore, root: Path
) -> None:
    """Chunk 1 sent twice: one copy committed as a part, the other still appending when
    the upload is finalized. The blob must not take the straggler's bytes."""
    session_id = new_id()
    first = await fs.write_part(session_id, stream([b"0" * 100]), 0)
    release = asyncio.Event()

    async def straggler() -> AsyncIterator[bytes]:
        yield b"S" * (2 * MIB)
        await release.wait()
        yield b"S" * (2 * MIB)

    appending = asyncio.ensure_future(fs.write_part(session_id, straggler(), 1))
    await asyncio.sleep(0.05)
    committed = await fs.write_part(session_id, stream([b"1" * 100]), 1)  # a part of its own
    assembling = asyncio.ensure_future(
        fs.assemble(session_id, [first.key, committed.key], session_id)
    )
    await asyncio.sleep(0.2)
    assert not assembling.done()  # waiting for the append to end
    release.set()
    await appending
    assert await assembling == 200
    assert (root / f"{session_id}.bin").read_bytes() == b"0" * 100 + b"1" * 100


async def test_a_failed_move_leaves_the_part_in_place(
    fs: FilesystemBlobStore,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session_id = new_id()
    first = await fs.write_part(session_id, stream([b"0" * 100]), 0)
    third = await fs.write_part(session_id, stream([b"2" * 100]), 2)
    original = filesystem._copy

    def full_disk(*args: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(filesystem, "_copy", full_disk)
    second = await fs.write_part(session_id, stream([b"1" * 100]), 1)  # appended; 2 stays
    await fs._moved(session_id)
    assert "No space left on device" in caplog.text
    assert third.key in {p.name for p in (root / ".partial" / session_id).iterdir()}
    monkeypatch.setattr(filesystem, "_copy", original)
    await fs.assemble(session_id, [first.key, second.key, third.key], session_id)
    assert (root / f"{session_id}.bin").read_bytes() == b"0" * 100 + b"1" * 100 + b"2" * 100


async def test_moving_chunks_in_looks_once(
    fs: FilesystemBlobStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks that arrive while earlier ones are being moved in wait for the next move:
    looking again and again would hold the session's lock for as long as chunks keep
    coming, and chunks in order could not be appended meanwhile."""
    session_id = new_id()
    area = root / ".partial" / session_id
    await fs.write_part(session_id, stream([b"0" * 100]), 0)
    await fs.write_part(session_id, stream([b"2" * 100]), 2)
    original = filesystem._copy
    late = f"{3:016x}{'a' * 16}"

    def arriving(*args: Any) -> int:
        (area / late).write_bytes(b"3" * 100)  # chunk 3 lands during the move of 2
        return original(*args)

    monkeypatch.setattr(filesystem, "_copy", arriving)
    await fs.write_part(session_id, stream([b"1" * 100]), 1)
    await fs._moved(session_id)
    names = {p.name for p in area.iterdir()}
    assert late in names  # not moved by this call
    assert not any(name.startswith(f"{2:016x}") for name in names)  # 2 was


async def test_appended_chunks_missing_from_the_disk_fail_assembly(
    fs: FilesystemBlobStore, root: Path
) -> None:
    """``.growing`` shorter than its committed chunks (lost in a power failure): a
    storage error, not a blob with a hole."""
    session_id = new_id()
    refs = [await fs.write_part(session_id, stream([b"x" * 100]), i) for i in range(2)]
    os.truncate(root / ".partial" / session_id / ".growing", 150)
    with pytest.raises(StorageError, match="appended chunks are missing"):
        await fs.assemble(session_id, [r.key for r in refs], session_id)
    assert not (root / f"{session_id}.bin").exists()


async def test_a_damaged_append_record_stops_appending_but_loses_nothing(
    fs: FilesystemBlobStore, root: Path
) -> None:
    session_id = new_id()
    first = await fs.write_part(session_id, stream([b"0" * 100]), 0)
    (root / ".partial" / session_id / ".growing-next").write_bytes(b"garbage")
    second = await fs.write_part(session_id, stream([b"1" * 100]), 1)  # a part of its own
    assert not second.key.startswith("g")
    await fs.assemble(session_id, [first.key, second.key], session_id)
    assert (root / f"{session_id}.bin").read_bytes() == b"0" * 100 + b"1" * 100
