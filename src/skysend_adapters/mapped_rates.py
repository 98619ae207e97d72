"""Rate-limit windows in a memory-mapped file shared by every worker process of one server
(http-api.md §1.9, storage-and-lifecycle.md §2.5: "the database or another shared store").

The rate limiter counts every ``/api`` request, so its store sits on the hot path of the
whole server. A database write per request (a thread hop, a write lock, a transaction)
cost about a third of the throughput of a small endpoint; this store counts in a few
microseconds, on the caller's thread, with no I/O beyond the page cache.

Layout: a 4 KiB header (magic, version, geometry), then ``BUCKETS`` buckets of ``SLOTS``
slots. A slot is ``key digest (16 bytes) | window end (int64 ms) | count (uint32) | pad``.
A key lives in the bucket its digest names; the digest is a BLAKE2b of the key, so the file
holds neither addresses nor the keys the core hands in. A slot whose window has ended is
free for any key, so nothing needs deleting for the table to stay usable. When every slot
of a bucket holds a live window (more than ``SLOTS`` live clients hashing to one bucket,
about 260,000 live clients in all), the window that ends first is forgotten: that client
starts a new window early. The state needs not survive a restart (and is wiped at the start
of each server lifetime); a damaged or foreign file is reinitialised.

Every read-modify-write holds an exclusive ``flock`` on the file (shared by processes) and a
``threading.Lock`` (an ``flock`` does not exclude threads sharing one open file).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import mmap
import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from skysend_core.errors import StorageError
from skysend_core.limits_model import RateWindow, count_request

MAGIC = b"SKYSEND-RATES\x00\x00\x01"  # 16 bytes, the last byte is the format version
HEADER_SIZE = 4096
BUCKETS = 32_768
SLOTS = 8
_SLOT = struct.Struct("<16sqI4x")
_BUCKET = struct.Struct("<" + "16sqI4x" * SLOTS)
_HEADER = struct.Struct("<16sII")
_EMPTY_KEY = bytes(16)
_COUNT_MAX = 2**32 - 1
#: Buckets handled per lock hold while sweeping the whole table.
_SWEEP_BUCKETS = 128


def file_size(buckets: int = BUCKETS) -> int:
    return HEADER_SIZE + buckets * _BUCKET.size


class MappedRateLimitStore:
    """``RateLimitStore`` on a memory-mapped file; open one per process with :meth:`open`."""

    def __init__(self, fd: int, buffer: mmap.mmap, buckets: int) -> None:
        self._fd = fd
        self._map = buffer
        self._buckets = buckets
        self._thread_lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, buckets: int = BUCKETS) -> MappedRateLimitStore:
        """Open (creating or reinitialising as needed) the table at ``path``."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise StorageError(f"cannot open the rate-limit table {path}: {error}") from error
        try:
            size = file_size(buckets)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                header = _HEADER.pack(MAGIC, buckets, SLOTS)
                if os.fstat(fd).st_size != size or os.pread(fd, _HEADER.size, 0) != header:
                    os.ftruncate(fd, 0)  # a damaged, foreign or resized table starts empty
                    os.ftruncate(fd, size)
                    os.pwrite(fd, header, 0)
                # Reserve every block now: writing through the map into a hole of a sparse
                # file on a full disk kills the process (SIGBUS); here it is a clear error.
                os.posix_fallocate(fd, 0, size)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            buffer = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as error:
            os.close(fd)
            raise StorageError(f"cannot map the rate-limit table {path}: {error}") from error
        return cls(fd, buffer, buckets)

    def close(self) -> None:
        with self._thread_lock:
            if self._fd < 0:
                return
            self._map.close()
            os.close(self._fd)
            self._fd = -1

    @contextmanager
    def _locked(self) -> Iterator[mmap.mmap]:
        with self._thread_lock:
            if self._fd < 0:
                raise StorageError("the rate-limit table is closed")
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield self._map
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    # -- RateLimitStore -------------------------------------------------------------------

    async def hit(self, key: str, now_ms: int, window_ms: int) -> RateWindow:
        """A few microseconds with no I/O wait, so it runs on the caller's thread."""
        digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
        bucket = int.from_bytes(digest[:8], "little") % self._buckets
        offset = HEADER_SIZE + bucket * _BUCKET.size
        with self._locked() as table:
            fields = _BUCKET.unpack_from(table, offset)
            slot, current = _choose_slot(fields, digest, now_ms)
            window = count_request(current, now_ms, window_ms)
            stored = min(window.count, _COUNT_MAX)
            _SLOT.pack_into(table, offset + slot * _SLOT.size, digest, window.window_end, stored)
        return window

    async def purge(self, now_ms: int) -> int:
        """Clear slots whose window has ended (their digests need not linger). A sweep of
        the whole table runs in a thread, holding the locks for one stretch at a time."""
        return await asyncio.to_thread(self._purge, now_ms)

    def _purge(self, now_ms: int) -> int:
        cleared = 0
        empty = bytes(_SLOT.size)
        for start, end in self._stretches():
            with self._locked():
                # Through the file, not the map: a sweep must not fault every page of the
                # table into each worker's memory (both see the same page cache).
                stretch = os.pread(self._fd, end - start, start)
                if stretch.count(0) == len(stretch):
                    continue
                for index, (key, window_end, _count) in enumerate(_SLOT.iter_unpack(stretch)):
                    if key != _EMPTY_KEY and window_end <= now_ms:
                        os.pwrite(self._fd, empty, start + index * _SLOT.size)
                        cleared += 1
        return cleared

    async def forget_all(self) -> None:
        await asyncio.to_thread(self._forget_all)

    def _forget_all(self) -> None:
        for start, end in self._stretches():
            with self._locked():
                os.pwrite(self._fd, bytes(end - start), start)

    def _stretches(self) -> Iterator[tuple[int, int]]:
        """The bucket area in pieces of ``_SWEEP_BUCKETS`` buckets (byte ranges)."""
        for first in range(0, self._buckets, _SWEEP_BUCKETS):
            last = min(first + _SWEEP_BUCKETS, self._buckets)
            yield HEADER_SIZE + first * _BUCKET.size, HEADER_SIZE + last * _BUCKET.size


def _choose_slot(
    fields: tuple[Any, ...], digest: bytes, now_ms: int
) -> tuple[int, RateWindow | None]:
    """The slot for ``digest`` in one bucket's unpacked fields and its current window:
    its own slot, else an empty or ended one, else the one whose window ends first."""
    free = -1
    oldest, oldest_end = 0, None
    for slot in range(SLOTS):
        key, end, count = fields[3 * slot : 3 * slot + 3]
        if key == digest:
            return slot, RateWindow(count, end)
        if free < 0 and (key == _EMPTY_KEY or now_ms >= end):
            free = slot
        if oldest_end is None or end < oldest_end:
            oldest, oldest_end = slot, end
    return (free if free >= 0 else oldest), None
