"""Blob storage on a local filesystem (storage-and-lifecycle.md §3.1).

Layout under ``uploads_dir``::

    <id>.bin                    completed blob
    .tmp-<hex>                  a whole-blob write in progress (renamed into place)
    .partial/<id>/<hex>         one part of an unfinished upload
    .partial/<id>/.tmp-<hex>    a part being written
    .partial/<id>/.growing      chunks that arrived in order, appended where they belong
    .partial/<id>/.growing-next the next chunk index and the length it is appended at
    .partial/<id>/.growing-map  parts moved into ``.growing``: key, offset, length
    .partial/<id>/.joined       the parts joined for another store (S3) to send

A chunk that continues the ones before it (by index) is appended to ``.growing``, which
becomes the blob at assembly without being copied. Its key says where it lies (``g`` +
offset + length, in hex). A chunk that arrives ahead of its turn is written as a part
named after its index; when its turn comes (the chunk before it has been appended), it is
copied into ``.growing`` and recorded in ``.growing-map`` by a thread of the store's own,
after the request has returned, so chunks sent in parallel reach the blob during the
upload, not at finalize, and no request waits for the copy. The ``.growing-next`` record is
advanced before the session commits a chunk: a chunk whose commit then fails (a lost
race, a crash) leaves bytes in ``.growing`` that no committed key points to, and assembly
builds the blob from what the committed keys name instead of taking the file as it is.
Appends, these moves and assembly take turns on a lock of ``.growing-next``.

Every id is checked with ``is_valid_id`` and every part key against its own pattern before
a path is built, so no request can name a path outside the layout. Blocking calls run in
worker threads, one hop per ≥ 1 MiB write or read; while one write runs, the next buffer is
gathered from the source, and while the consumer handles one read, the next is prefetched.
``OSError`` becomes ``StorageError`` in :func:`_io`; exceptions of the caller's source
stream propagate unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import io
import logging
import os
import re
import struct
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import attrs

from skysend_core.errors import NotFound, StorageError
from skysend_core.ports import PartRef, StaleItem
from skysend_core.uploads_model import is_valid_id

WRITE_SIZE = 1 << 20
READ_SIZE = 1 << 20
_PART_KEY = re.compile(r"[0-9a-f]{32}")
_GROWN_KEY = re.compile(r"g([0-9a-f]{16})([0-9a-f]{16})")
_GROWING = ".growing"
_JOINED = ".joined"
_NEXT = ".growing-next"
_NEXT_FORMAT = struct.Struct("<QQ")  # next index, length of the chunks appended so far
_MAP = ".growing-map"
_MAP_FORMAT = struct.Struct("<32sQQ")  # part key, offset, length
_TMP = re.compile(r"\.tmp-[0-9a-f]{32}")
_PARTIAL = ".partial"
_BLOB_SUFFIX = ".bin"
_FADVISE = hasattr(os, "posix_fadvise")
#: Parts are written behind only past this offset (see ``_write_behind``).
PART_WRITE_BEHIND_FROM = 32 << 20
_NEVER = 1 << 62  # an offset no write reaches: nothing is written behind

T = TypeVar("T")
log = logging.getLogger(__name__)


async def _io(fn: Callable[..., T], *args: object) -> T:
    """Run a blocking filesystem call in a thread; the one place OSError is translated."""
    try:
        return await asyncio.to_thread(fn, *args)
    except OSError as exc:
        raise StorageError(f"filesystem error: {exc}") from exc


async def _settle(task: asyncio.Task[T]) -> T:
    """Wait for a thread-backed task without cancelling it if the waiter is cancelled.

    A cancelled ``to_thread`` keeps running in its thread; closing its file meanwhile
    would race with it, so callers always wait for completion.
    """
    await asyncio.wait({task})
    return task.result()


async def _drain_quietly(task: asyncio.Future[Any] | None) -> None:
    if task is None:
        return
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved: the caller is already propagating another error


class FilesystemBlobReader:
    """An open blob. The file descriptor was opened first, so deleting the blob meanwhile
    does not disturb the reader; close it with :meth:`aclose`."""

    def __init__(self, file: io.FileIO, size: int) -> None:
        self.size = size
        self._file = file
        self._pending: asyncio.Task[bytes] | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        remaining = self.size
        while remaining > 0:
            task = self._pending if self._pending is not None else self._read_ahead()
            self._pending = None
            data = await _settle(task)
            if not data:
                return
            remaining -= len(data)
            if remaining > 0:
                self._pending = self._read_ahead()
            yield data

    def _read_ahead(self) -> asyncio.Task[bytes]:
        return asyncio.ensure_future(_io(self._file.read, READ_SIZE))

    async def aclose(self) -> None:
        """Close the file even when cancelled: closing a read-only descriptor is one quick
        system call, so it is done inline rather than in a thread that might never run."""
        pending, self._pending = self._pending, None
        try:
            await _drain_quietly(pending)
        finally:
            if pending is None or pending.done():
                self._file.close()
            else:  # cancelled while a read still runs in its thread: close after it
                pending.add_done_callback(lambda _: self._file.close())


class FilesystemBlobStore:
    """Blobs as ``<uploads_dir>/<id>.bin``; parts under ``<uploads_dir>/.partial/<id>/``.

    The directories are created here (at startup) and again on demand for session areas.
    """

    def __init__(self, uploads_dir: str | os.PathLike[str]) -> None:
        self._root = Path(uploads_dir)
        self._partial = self._root / _PARTIAL
        try:
            self._partial.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {self._partial}: {exc}") from exc
        # Early parts are moved into place on a thread of their own, after the request
        # that wrote them has returned, in the order they were asked for.
        self._mover = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parts")
        self._moves: dict[str, asyncio.Future[None]] = {}

    # -- paths (only ever built from validated names) -------------------------------

    def _blob_path(self, blob_id: str) -> Path | None:
        return self._root / f"{blob_id}{_BLOB_SUFFIX}" if is_valid_id(blob_id) else None

    def _session_dir(self, session_id: str) -> Path | None:
        return self._partial / session_id if is_valid_id(session_id) else None

    # -- whole blobs ----------------------------------------------------------------

    async def write(self, blob_id: str, chunks: AsyncIterable[bytes]) -> int:
        final = self._blob_path(blob_id)
        if final is None:
            raise NotFound("invalid blob id")
        return await _write_atomically(self._root, final, chunks)

    async def open(self, blob_id: str) -> FilesystemBlobReader | None:
        path = self._blob_path(blob_id)
        if path is None:
            return None
        opened = await _io(_open_for_reading, path)
        return FilesystemBlobReader(*opened) if opened is not None else None

    async def locate(self, blob_id: str) -> FilesystemBlobReader | None:
        """Blobs on disk are streamed by the server."""
        return await self.open(blob_id)

    async def delete(self, blob_id: str) -> None:
        path = self._blob_path(blob_id)
        if path is not None:
            await _io(_unlink, path)

    # -- parts of unfinished uploads ------------------------------------------------

    async def write_part(
        self, session_id: str, chunks: AsyncIterable[bytes], index: int | None = None
    ) -> PartRef:
        directory = self._session_dir(session_id)
        if directory is None:
            raise NotFound("invalid session id")
        await _io(directory.mkdir, 0o777, True, True)
        if index is not None:
            appending = await _begin_appending(directory, index)
            if appending is not None:
                ref, next_waiting = await _append(appending, chunks)
                if next_waiting:  # only then: a move would compete for the lock
                    self._move_early_parts(session_id, directory)
                return ref
        # A part that knows its index is named after it, so its turn can be found.
        key = uuid.uuid4().hex if index is None else f"{index:016x}{uuid.uuid4().hex[:16]}"
        # Parts are written and closed but not flushed: the assembled blob is flushed
        # once at finalize, so each byte reaches the disk once, not twice. A part lost
        # to a power failure shows up as a size mismatch when the blob is assembled.
        size = await _write_atomically(directory, directory / key, chunks, durable=False)
        if index is not None:
            self._move_early_parts(session_id, directory)
        return PartRef(key, size)

    def _move_early_parts(self, session_id: str, directory: Path) -> None:
        """Ask for the parts whose turn has come to be moved into ``.growing``, without
        waiting: a request that waited would hold back its own commit while the chunks
        after it pile up towards the out-of-order limit (429)."""
        loop = asyncio.get_running_loop()
        self._moves[session_id] = loop.run_in_executor(self._mover, _absorb_if_free, directory)

    async def _moved(self, session_id: str) -> None:
        """Wait until the moves asked for in this process for a session have run."""
        pending = self._moves.pop(session_id, None)
        if pending is not None:
            await asyncio.wait({pending})

    async def assemble(self, session_id: str, part_keys: Sequence[str], blob_id: str) -> int:
        directory = self._session_dir(session_id)
        final = self._blob_path(blob_id)
        if directory is None or final is None:
            raise NotFound("invalid id")
        if not all(_PART_KEY.fullmatch(key) or _GROWN_KEY.fullmatch(key) for key in part_keys):
            raise StorageError("invalid part key")
        await self._moved(session_id)
        return await _io(_assemble, directory, list(part_keys), self._root, final)

    async def join_parts(self, session_id: str, part_keys: Sequence[str]) -> FilesystemBlobReader:
        """Join the parts as :meth:`assemble` does, but into the session's own area
        (``.partial/<id>/.joined``), open the result and unlink it: for a store that sends
        the joined bytes elsewhere. The open reader keeps the bytes until it is closed; a
        crash while joining leaves the file in the area, removed with it by
        :meth:`discard_parts`. It never lies where a blob of this store would."""
        directory = self._session_dir(session_id)
        if directory is None:
            raise NotFound("invalid id")
        if not all(_PART_KEY.fullmatch(key) or _GROWN_KEY.fullmatch(key) for key in part_keys):
            raise StorageError("invalid part key")
        await self._moved(session_id)
        joined = directory / _JOINED
        await _io(_assemble, directory, list(part_keys), directory, joined)
        opened = await _io(_open_detached, joined)
        if opened is None:
            raise StorageError("the joined parts vanished before they were read")
        return FilesystemBlobReader(*opened)

    async def discard_parts(self, session_id: str, part_keys: Sequence[str] | None = None) -> None:
        directory = self._session_dir(session_id)
        if directory is None:
            return
        if part_keys is None:
            await self._moved(session_id)
            await _io(_remove_dir, directory)
            return
        paths = [directory / key for key in part_keys if _PART_KEY.fullmatch(key)]
        await _io(_unlink_all, paths)

    async def stale_items(self, cutoff_ms: int) -> list[StaleItem]:
        """Blobs and session areas untouched since ``cutoff_ms``.

        Temporary files of writes abandoned by a crash (untouched since the cutoff, so no
        live write owns them) have no id to report; they are removed during the scan.
        """
        return await _io(self._scan, cutoff_ms * 1_000_000)

    def _scan(self, cutoff_ns: int) -> list[StaleItem]:
        stale: list[StaleItem] = []
        for entry in _entries(self._root):
            name = entry.name
            blob_id = name[: -len(_BLOB_SUFFIX)] if name.endswith(_BLOB_SUFFIX) else None
            if blob_id is not None and is_valid_id(blob_id) and _is_file(entry):
                if _mtime_ns(entry) < cutoff_ns:
                    stale.append(StaleItem("blob", blob_id))
            elif _TMP.fullmatch(name) and _is_file(entry) and _mtime_ns(entry) < cutoff_ns:
                _unlink(Path(entry.path))
        for entry in _entries(self._partial):
            if (
                is_valid_id(entry.name)
                and entry.is_dir(follow_symlinks=False)
                and _area_mtime_ns(entry) < cutoff_ns
            ):
                stale.append(StaleItem("session", entry.name))
        return stale


# -- streaming writes ---------------------------------------------------------------


async def _write_atomically(
    directory: Path, final: Path, chunks: AsyncIterable[bytes], *, durable: bool = True
) -> int:
    """Stream into a temporary file in ``directory``, fsync (if ``durable``), rename onto
    ``final``.

    On any exception (from the source, the disk, or cancellation) the temporary file is
    removed and the exception propagates; ``final`` is never touched.
    """
    temp = directory / f".tmp-{uuid.uuid4().hex}"
    creating = asyncio.ensure_future(_io(_create, temp))
    try:
        file = await asyncio.shield(creating)
    except asyncio.CancelledError:
        # The thread still creates the file: remove it as soon as it exists.
        creating.add_done_callback(lambda done: _discard_created(done, temp))
        raise
    committing: asyncio.Task[None] | None = None
    try:
        size = await _pump(file, chunks, 0 if durable else PART_WRITE_BEHIND_FROM)
        committing = asyncio.ensure_future(_io(_commit, file, temp, final, directory, durable))
        await _settle(committing)
    except BaseException:
        await _drain_quietly(committing)
        # Inline, not in a thread: closing and unlinking are quick, and a second
        # cancellation must not leave the file behind.
        with contextlib.suppress(OSError):
            _discard(file, temp)
        raise
    return size


def _discard_created(creating: asyncio.Future[io.FileIO], temp: Path) -> None:
    if not creating.cancelled() and creating.exception() is None:
        with contextlib.suppress(OSError):
            _discard(creating.result(), temp)


async def _pump(file: io.FileIO, chunks: AsyncIterable[bytes], write_behind_from: int) -> int:
    """Copy the stream into ``file`` in writes of at least ``WRITE_SIZE`` bytes.

    One write runs in a thread while the next buffer is gathered from the source.
    """
    total = 0
    pending: list[bytes] = []
    buffered = 0
    writing: asyncio.Task[None] | None = None
    try:
        async for chunk in chunks:
            pending.append(chunk)
            buffered += len(chunk)
            if buffered >= WRITE_SIZE:
                if writing is not None:
                    await _settle(writing)
                writing = asyncio.ensure_future(
                    _io(_write_all, file, b"".join(pending), write_behind_from)
                )
                total += buffered
                pending, buffered = [], 0
        if writing is not None:
            await _settle(writing)
        if pending:
            await _io(_write_all, file, b"".join(pending), write_behind_from)
            total += buffered
    except BaseException:
        await _drain_quietly(writing)
        raise
    return total


# -- blocking helpers (run in threads) ------------------------------------------------


def _create(path: Path) -> io.FileIO:
    return io.FileIO(path, "xb")


def _write_all(file: io.FileIO, data: bytes, write_behind_from: int) -> None:
    start = file.tell()
    view = memoryview(data)
    while view:
        written = file.write(view)
        view = view[written:]
    if start >= write_behind_from:
        _write_behind(file, start, len(data))


def _write_behind(file: io.FileIO, start: int, length: int) -> None:
    """Start writing a just-written range of a file that will be flushed to the disk.

    Linux keeps a large upload's pages dirty until the final ``fsync`` (background
    writeback starts only at a tenth of memory), which then waits for the whole file.
    ``POSIX_FADV_DONTNEED`` starts writeback of the range at once without waiting, so the
    disk works while the rest arrives and the final flush has little left (measured:
    single 1 GiB uploads ~600 → ~850 MiB/s). It is advice: where it is missing or
    refused, nothing changes. Parts of chunked uploads (~10 MiB each) are not written
    behind: they are copied at assembly, so that would double the disk traffic and evict
    the pages the copy is about to read. A part past ``PART_WRITE_BEHIND_FROM`` is
    written behind from there on: so large, it is almost always a whole stream (a
    WebSocket upload) that becomes the blob as it is.
    """
    if _FADVISE:
        with contextlib.suppress(OSError):
            os.posix_fadvise(file.fileno(), start, length, os.POSIX_FADV_DONTNEED)


def _commit(file: io.FileIO, temp: Path, final: Path, directory: Path, durable: bool) -> None:
    if durable:
        os.fsync(file.fileno())
    file.close()
    os.replace(temp, final)
    if durable:
        _fsync_dir(directory)


def _discard(file: io.FileIO, temp: Path) -> None:
    file.close()
    temp.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some filesystems cannot fsync a directory; the rename itself has happened.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _open_for_reading(path: Path) -> tuple[io.FileIO, int] | None:
    try:
        file = io.FileIO(path, "rb")
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(file.fileno()).st_size
    except BaseException:
        file.close()
        raise
    return file, size


def _open_detached(path: Path) -> tuple[io.FileIO, int] | None:
    """Open a file for reading and unlink it: its bytes live until the reader closes."""
    opened = _open_for_reading(path)
    if opened is not None:
        try:
            path.unlink()
        except BaseException:
            opened[0].close()
            raise
    return opened


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _unlink_all(paths: Sequence[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _remove_dir(directory: Path) -> None:
    """Remove a session area (only files live there); missing is fine, and a file added
    concurrently leaves the directory for the orphan sweep instead of failing."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    _unlink_all([Path(entry.path) for entry in entries])
    try:
        directory.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOTEMPTY:
            raise


def _move_into_place(part: Path, final: Path) -> int:
    with io.FileIO(part, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        os.fsync(file.fileno())
    os.replace(part, final)
    _fsync_dir(final.parent)
    return size


#: Where a part's bytes are: a file of its own (``None``), or a range of ``.growing``.
_Source = tuple[Path, tuple[int, int] | None]


def _assemble(directory: Path, keys: list[str], root: Path, final: Path) -> int:
    """Build the blob from the committed ``keys``, holding the session's lock: an append
    still running (a chunk sent twice, the copy that lost) would otherwise go on writing
    into the blob, and a part being moved into ``.growing`` would vanish under the copy."""
    with _session_lock(directory):
        moved = _read_map(directory)
        sources = [_source(directory, key, moved) for key in keys]
        grown = _grown_prefix(sources)
        if grown and all(span is None for _, span in sources[grown:]):
            return _complete_growing(directory / _GROWING, sources, grown, final)
        if len(sources) == 1 and sources[0][1] is None:
            return _move_into_place(sources[0][0], final)
        # Otherwise the blob is built anew. With appended chunks, that happens only when
        # one of them was never committed (a lost race, a crash) and later ones were
        # appended after it: cutting .growing there would destroy them.
        return _concatenate(sources, root, final)


@contextlib.contextmanager
def _session_lock(directory: Path) -> Iterator[int]:
    lock_fd = _lock_session(directory, wait=True)
    assert lock_fd is not None
    try:
        yield lock_fd
    finally:
        _unlock(lock_fd)


def _lock_session(directory: Path, *, wait: bool) -> int | None:
    """Lock the session's ``.growing-next`` (creating it); its descriptor, or ``None``
    if another holds it and ``wait`` is false. Release with :func:`_unlock`."""
    lock_fd = os.open(directory / _NEXT, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock_fd)
        return None
    except BaseException:
        os.close(lock_fd)
        raise
    return lock_fd


def _read_next(lock_fd: int) -> tuple[int, int] | None:
    """The next chunk index and the length of ``.growing`` up to it; ``None`` for a
    damaged record (nothing more is then appended or moved: parts are copied at the end)."""
    record = os.pread(lock_fd, _NEXT_FORMAT.size + 1, 0)
    if not record:
        return 0, 0
    if len(record) != _NEXT_FORMAT.size:
        return None
    expected, length = _NEXT_FORMAT.unpack(record)
    return expected, length


def _waiting_parts(directory: Path) -> dict[int, list[str]]:
    """Parts written ahead of their turn, by index (their names begin with it)."""
    waiting: dict[int, list[str]] = {}
    for entry in _entries(directory):
        if _PART_KEY.fullmatch(entry.name):
            waiting.setdefault(int(entry.name[:16], 16), []).append(entry.name)
    return waiting


def _read_map(directory: Path) -> dict[str, tuple[int, int]]:
    try:
        raw = (directory / _MAP).read_bytes()
    except FileNotFoundError:
        return {}
    whole = len(raw) - len(raw) % _MAP_FORMAT.size
    return {
        key.decode("ascii"): (offset, length)
        for key, offset, length in _MAP_FORMAT.iter_unpack(raw[:whole])
    }


def _source(directory: Path, key: str, moved: dict[str, tuple[int, int]]) -> _Source:
    if key in moved:
        return directory / _GROWING, moved[key]
    if _PART_KEY.fullmatch(key):
        return directory / key, None
    grown = _GROWN_KEY.fullmatch(key)
    if grown is None:
        raise StorageError("invalid part key")
    return directory / _GROWING, (int(grown[1], 16), int(grown[2], 16))


def _grown_prefix(sources: Sequence[_Source]) -> int:
    """How many leading parts lie in ``.growing`` end to end from its start."""
    count = end = 0
    for _, span in sources:
        if span is None or span[0] != end:
            break
        count, end = count + 1, end + span[1]
    return count


def _concatenate(sources: Sequence[_Source], directory: Path, final: Path) -> int:
    temp = directory / f".tmp-{uuid.uuid4().hex}"
    try:
        with io.FileIO(temp, "xb") as out:
            total = _copy_all(sources, out, 0)
            os.fsync(out.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    return total


def _complete_growing(growing: Path, sources: Sequence[_Source], grown: int, final: Path) -> int:
    """Cut ``.growing`` after its first ``grown`` parts (dropping any bytes of a chunk
    that was never committed), append the other parts, flush, and move it into place."""
    valid = sum(span[1] for _, span in sources[:grown] if span is not None)
    rest = sources[grown:]
    with io.FileIO(growing, "r+b") as out:
        if os.fstat(out.fileno()).st_size < valid:
            raise StorageError("appended chunks are missing")
        out.truncate(valid)
        out.seek(valid)
        total = _copy_all(rest, out, valid)
        os.fsync(out.fileno())
    os.replace(growing, final)
    _fsync_dir(final.parent)
    return total


def _copy_all(sources: Sequence[_Source], out: io.FileIO, start: int) -> int:
    """Append every source to ``out`` (positioned at ``start``), writing behind as it
    goes; returns the end offset."""
    total = start
    for path, span in sources:
        with io.FileIO(path, "rb") as source:
            offset, length = span if span is not None else (0, None)
            copied = _copy(source, out, offset, length)
        _write_behind(out, total, copied)
        total += copied
    return total


def _copy(source: io.FileIO, target: io.FileIO, offset: int = 0, length: int | None = None) -> int:
    """Append ``length`` bytes of ``source`` from ``offset`` (default: all of it) to
    ``target``: in-kernel where possible, else buffered."""
    size = os.fstat(source.fileno()).st_size
    wanted = size - offset if length is None else length
    if offset + wanted > size:
        raise StorageError("a part is shorter than its record")
    copied = 0
    if hasattr(os, "copy_file_range"):
        try:
            while copied < wanted:
                step = os.copy_file_range(
                    source.fileno(), target.fileno(), wanted - copied, offset + copied
                )
                if step == 0:
                    break
                copied += step
        except OSError as exc:
            unsupported = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP)
            if copied or exc.errno not in unsupported:
                raise
        else:
            return copied
    source.seek(offset)
    remaining = wanted
    while remaining > 0:
        data = source.read(min(WRITE_SIZE, remaining))
        if not data:
            break
        _write_all(target, data, _NEVER)
        remaining -= len(data)
    return wanted - remaining


# -- chunks appended in order ---------------------------------------------------------


@attrs.define
class _Appending:
    """An append to ``.growing`` in progress: its lock is held until it ends."""

    directory: Path
    index: int
    start: int
    file: io.FileIO
    lock_fd: int


async def _begin_appending(directory: Path, index: int) -> _Appending | None:
    starting = asyncio.ensure_future(_io(_start_appending, directory, index))
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        # The thread may still take the lock: release it as soon as it has.
        starting.add_done_callback(_abandon_started)
        raise


def _abandon_started(starting: asyncio.Future[_Appending | None]) -> None:
    if not starting.cancelled() and starting.exception() is None:
        appending = starting.result()
        if appending is not None:
            _abandon(appending)


def _abandon(appending: _Appending) -> None:
    """Close and unlock; what was written stays as an unfinished tail, cut off by the
    next append or at assembly."""
    with contextlib.suppress(OSError):
        appending.file.close()
    _unlock(appending.lock_fd)


def _start_appending(directory: Path, index: int) -> _Appending | None:
    """Take the session's append lock and check that chunk ``index`` is the next one;
    ``None`` (write a separate part) if it is not, or if another append is running."""
    lock_fd = _lock_session(directory, wait=False)
    if lock_fd is None:
        return None
    try:
        found = _read_next(lock_fd)
        if found is None or found[0] != index:
            _unlock(lock_fd)
            return None
        file = io.FileIO(directory / _GROWING, "a+b")
    except BaseException:
        _unlock(lock_fd)
        raise
    appending = _Appending(directory, index, found[1], file, lock_fd)
    try:
        file.truncate(appending.start)  # bytes of an append that never finished
        file.seek(appending.start)
    except BaseException:
        _abandon(appending)
        raise
    return appending


async def _append(appending: _Appending, chunks: AsyncIterable[bytes]) -> tuple[PartRef, bool]:
    """Append, then say whether the next chunk is already waiting as a part."""
    try:
        size = await _pump(appending.file, chunks, 0)
    except BaseException:
        _abandon(appending)  # inline: the lock must go even if cancelled again
        raise
    # The thread closes, records and unlocks even if this waiter is cancelled meanwhile.
    waiting = await _settle(asyncio.ensure_future(_io(_finish_appending, appending, size)))
    return PartRef(f"g{appending.start:016x}{size:016x}", size), waiting


def _finish_appending(appending: _Appending, size: int) -> bool:
    try:
        appending.file.close()
        record = _NEXT_FORMAT.pack(appending.index + 1, appending.start + size)
        os.pwrite(appending.lock_fd, record, 0)
        return appending.index + 1 in _waiting_parts(appending.directory)
    finally:
        _unlock(appending.lock_fd)


def _absorb_if_free(directory: Path) -> None:
    """If nobody holds the session's lock, move the parts whose turn has come into
    ``.growing``. Otherwise the holder asks again when it is done. Never raises: it runs
    unobserved, and a move is only an optimisation."""
    try:
        lock_fd = _lock_session(directory, wait=False)
    except OSError:
        return  # the session is gone
    if lock_fd is None:
        return
    try:
        _absorb(directory, lock_fd)
    except Exception:
        log.exception("moving chunks of %s into place early failed", directory.name)
    finally:
        _unlock(lock_fd)


def _absorb(directory: Path, lock_fd: int) -> None:
    """Move the part of the next index into ``.growing`` while there is exactly one
    (several would be a chunk sent twice, which the session store settles). The record
    advances before the move is mapped, and the part goes last, so a crash at any point
    leaves either the part or its mapped copy. Only an optimisation: a failure is logged
    and the parts stay where they are."""
    record = _read_next(lock_fd)
    if record is None:
        return
    expected, length = record
    # One look at the area: parts that arrive meanwhile are moved by the move their own
    # request asks for. Going on looking would hold the session's lock for as long as
    # chunks keep coming, and a chunk in order could not be appended meanwhile.
    waiting = _waiting_parts(directory)
    try:
        while True:
            found = waiting.get(expected, [])
            if len(found) != 1:
                return
            part = directory / found[0]
            growing = os.open(directory / _GROWING, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            with io.FileIO(growing, "r+b") as out, io.FileIO(part, "rb") as source:
                out.truncate(length)
                out.seek(length)
                size = _copy(source, out)
                _write_behind(out, length, size)
            os.pwrite(lock_fd, _NEXT_FORMAT.pack(expected + 1, length + size), 0)
            moved = _MAP_FORMAT.pack(found[0].encode("ascii"), length, size)
            mapping = os.open(directory / _MAP, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(mapping, moved)
            finally:
                os.close(mapping)
            part.unlink()
            expected, length = expected + 1, length + size
    except (OSError, StorageError) as exc:
        log.warning("moving a chunk of %s into place early failed: %s", directory.name, exc)


def _unlock(lock_fd: int) -> None:
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
    finally:
        os.close(lock_fd)


def _entries(directory: str | Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except FileNotFoundError:
        return []


def _is_file(entry: os.DirEntry[str]) -> bool:
    return entry.is_file(follow_symlinks=False)


def _mtime_ns(entry: os.DirEntry[str]) -> int:
    """Modification time; entries deleted concurrently count as brand new."""
    try:
        return entry.stat(follow_symlinks=False).st_mtime_ns
    except FileNotFoundError:
        return 1 << 62


def _area_mtime_ns(entry: os.DirEntry[str]) -> int:
    """A session area is as recent as its newest file (a part being streamed counts)."""
    return max([_mtime_ns(entry), *(_mtime_ns(file) for file in _entries(entry.path))])
