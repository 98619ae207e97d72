"""The memory-mapped rate-limit table beyond the shared contract: one counter across
processes, bucket saturation, damaged files, and what the file holds."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from skysend_adapters.mapped_rates import HEADER_SIZE, SLOTS, MappedRateLimitStore, file_size
from skysend_core.errors import StorageError
from tests.adapters.factories import NOW_MS

WINDOW = 60_000


def hit(store: MappedRateLimitStore, key: str, now_ms: int = NOW_MS) -> int:
    return asyncio.run(store.hit(key, now_ms, WINDOW)).count


def hit_many(path: str, start: multiprocessing.synchronize.Event, times: int) -> list[int]:
    """One worker process: open the table itself, wait for the others, count."""
    store = MappedRateLimitStore.open(Path(path))
    start.wait()
    try:
        return [hit(store, "shared") for _ in range(times)]
    finally:
        store.close()


def test_processes_share_one_counter(tmp_path: Path) -> None:
    path = tmp_path / "rate-limits"
    MappedRateLimitStore.open(path).close()
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(3) as pool:
        start = manager.Event()
        pending = [pool.apply_async(hit_many, (str(path), start, 300)) for _ in range(3)]
        start.set()
        counts = [count for result in pending for count in result.get(timeout=60)]
    assert sorted(counts) == list(range(1, 901))


def test_the_table_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "rate-limits"
    first = MappedRateLimitStore.open(path)
    hit(first, "k")
    second = MappedRateLimitStore.open(path)
    assert hit(second, "k") == 2
    assert hit(first, "k") == 3
    first.close()
    second.close()


def test_a_full_bucket_forgets_the_window_that_ends_first(tmp_path: Path) -> None:
    store = MappedRateLimitStore.open(tmp_path / "rate-limits", buckets=1)
    for n in range(SLOTS):
        for _ in range(3):
            hit(store, f"live-{n}", NOW_MS + n)
    assert hit(store, "newcomer", NOW_MS + 100) == 1
    # live-0 had the earliest end: it starts over; every other client keeps its count.
    assert hit(store, "live-0", NOW_MS + 100) == 1
    assert [hit(store, f"live-{n}", NOW_MS + 100) for n in range(2, SLOTS)] == [4] * (SLOTS - 2)
    store.close()


def test_an_ended_window_frees_its_slot_for_another_client(tmp_path: Path) -> None:
    store = MappedRateLimitStore.open(tmp_path / "rate-limits", buckets=1)
    for n in range(SLOTS):
        hit(store, f"old-{n}")
    later = NOW_MS + WINDOW
    assert hit(store, "new", later) == 1
    # The other slots still hold their (ended) windows: each starts over when hit.
    assert hit(store, "old-7", later) == 1
    assert hit(store, "new", later) == 2
    store.close()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"\xff" * 64 + data[64:], id="foreign-header"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: b"", id="empty"),
    ],
)
def test_a_damaged_file_starts_empty(tmp_path: Path, damage: Callable[[bytes], bytes]) -> None:
    path = tmp_path / "rate-limits"
    store = MappedRateLimitStore.open(path)
    hit(store, "k")
    store.close()
    path.write_bytes(damage(path.read_bytes()))
    store = MappedRateLimitStore.open(path)
    assert path.stat().st_size == file_size()
    assert hit(store, "k") == 1
    store.close()


def test_a_table_of_another_geometry_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "rate-limits"
    small = MappedRateLimitStore.open(path, buckets=4)
    hit(small, "k")
    small.close()
    store = MappedRateLimitStore.open(path)
    assert path.stat().st_size == file_size()
    assert hit(store, "k") == 1
    store.close()


def test_the_file_is_private_and_holds_digests_only(tmp_path: Path) -> None:
    path = tmp_path / "db" / "rate-limits"
    store = MappedRateLimitStore.open(path)
    key = "client-key-0123456789abcdef"
    hit(store, key)
    store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    assert key.encode() not in data
    assert data[HEADER_SIZE:].count(0) < len(data) - HEADER_SIZE  # something was stored


def test_purge_and_forget_all_clear_the_digests(tmp_path: Path) -> None:
    path = tmp_path / "rate-limits"
    store = MappedRateLimitStore.open(path)
    for n in range(50):
        hit(store, f"k{n}", NOW_MS + n)
    assert asyncio.run(store.purge(NOW_MS + WINDOW + 9)) == 10
    assert hit(store, "k10", NOW_MS + WINDOW + 9) == 2
    asyncio.run(store.forget_all())
    assert path.read_bytes()[HEADER_SIZE:].count(0) == file_size() - HEADER_SIZE
    assert hit(store, "k10", NOW_MS + WINDOW + 9) == 1
    store.close()


def test_a_closed_table_refuses_hits(tmp_path: Path) -> None:
    store = MappedRateLimitStore.open(tmp_path / "rate-limits")
    store.close()
    store.close()  # idempotent
    with pytest.raises(StorageError, match="closed"):
        hit(store, "k")


def test_an_unopenable_path_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(StorageError, match="rate-limit table"):
        MappedRateLimitStore.open(blocker / "rate-limits")
    assert os.listdir(tmp_path) == ["file"]


def mapped_rss_kib(path: Path) -> int:
    """Resident size of this process's mapping of ``path`` (Linux ``smaps``)."""
    resident, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
            inside = fields[-1] == str(path)
        elif inside and fields[0] == "Rss:":
            resident += int(fields[1])
    return resident


def test_sweeps_do_not_fault_the_table_into_memory(tmp_path: Path) -> None:
    """Every worker sweeps at start-up; reading the 8 MiB table through the map would add
    it to each worker's resident memory."""
    path = tmp_path / "rate-limits"
    store = MappedRateLimitStore.open(path)
    hit(store, "k")
    asyncio.run(store.forget_all())
    hit(store, "k")
    asyncio.run(store.purge(NOW_MS + 2 * WINDOW))
    assert mapped_rss_kib(path) < 256
    store.close()


def test_the_table_owns_its_disk_blocks(tmp_path: Path) -> None:
    """A sparse table would need blocks when a page is first written through the map, and
    a full disk would then kill the worker; the blocks are reserved at open instead."""
    path = tmp_path / "rate-limits"
    MappedRateLimitStore.open(path).close()
    assert path.stat().st_blocks * 512 >= file_size()
