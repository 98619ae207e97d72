"""One SQLite database file, one connection, one thread.

Every blocking call runs on a dedicated thread that owns the connection, so the event loop
never waits on SQLite and calls of one process are serialised without locks. Writes run
under ``BEGIN IMMEDIATE``: the write lock is taken before anything is read, so a
read-check-write sequence is atomic, and other processes sharing the file (hypercorn
workers) queue instead of failing with a stale snapshot.

Writers of several processes queue on an ``flock`` of ``<database>-wlock`` before they ask
SQLite for its write lock. SQLite's own busy handler polls with sleeps of up to 100 ms, so
under contention a write that would have waited 50 µs could wait a tenth of a second; the
kernel wakes a waiter on ``flock`` the moment the lock is free. ``busy_timeout`` still
guards against writers that do not take the ``flock`` (an operator's ``sqlite3`` shell).

Point operations (one row by key: a read, an insert, a guarded update) may be marked
``quick``. They run on the event loop itself, on a second connection that never waits: it
takes the writers' ``flock`` without blocking and has no busy timeout, and when anything is
held by someone else the operation goes to the database thread as usual. The thread hop
cost more than such a statement (about a sixth of the CPU of a note creation).

No write checkpoints. A checkpoint syncs files, and while the disk is busy (large uploads
being flushed) a sync can take most of a second: run inside a write, it held every other
writer of every worker for that long. After every ``CHECKPOINT_EVERY`` writes a
checkpoint runs in the background on a connection of its own, beside the writers. A
checkpoint racing writers never catches up with them, so the log could not start over:
when it reports a log longer than ``WAL_RESET_BYTES``, the next write checkpoints once
more while it holds the writers' lock.

Quick writes made during one turn of the event loop are committed together, at the end of
that turn, in one transaction with a savepoint each: each stays atomic and fails alone,
while the group shares one commit (under load, about a tenth of a note creation's CPU).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

import attrs
from sqlite_utils import Database

from skysend_adapters.sqlite.migrations import MIGRATIONS
from skysend_core.errors import StorageError

T = TypeVar("T")
log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
#: Writes between two background checkpoints.
CHECKPOINT_EVERY = 256
#: A longer log is checkpointed by the next write, under the writers' lock.
WAL_RESET_BYTES = 32 << 20
_WAL_FRAME_HEADER = 24
#: SQLite's primary result codes for "someone else holds a lock".
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})

# Order matters: busy_timeout first, so that switching to WAL waits for other processes.
_PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    # Deleted rows (burned notes, tokens) are overwritten, not left in free pages.
    "PRAGMA secure_delete = ON",
)


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that holds the write lock from its first statement.

    ``sqlite_utils.Database.atomic`` opens a deferred ``BEGIN``; nested ``atomic`` blocks
    inside this one become savepoints, so migrations can run under it.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _call(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` on the connection, driver errors becoming core errors (``_on_loop``
    does the same, telling a held lock apart)."""
    try:
        return fn(conn)
    except sqlite3.Error as exc:
        raise StorageError(f"database error: {exc}") from exc


class _Busy(Exception):
    """A quick operation found a lock held: run it on the database thread instead."""


@contextlib.contextmanager
def _writer_lock(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _is_busy(exc: sqlite3.Error) -> bool:
    """Whether SQLite refused because someone else holds a lock."""
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF in _BUSY_CODES


def _on_loop(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """``fn`` on the event loop's connection; ``_Busy`` when a lock is held (nothing was
    changed then: a refused statement or transaction has no effect)."""
    try:
        return fn(conn)
    except sqlite3.Error as exc:
        if _is_busy(exc):
            raise _Busy from exc
        raise StorageError(f"database error: {exc}") from exc


@attrs.frozen
class _QueuedWrite(Generic[T]):
    fn: Callable[[sqlite3.Connection], T]
    transaction: bool
    future: asyncio.Future[T]


_Outcome = tuple[Any, BaseException | None]


def _outcome(work: Callable[[], Any]) -> _Outcome:
    """A result or the error for one queued write (``work`` translates driver errors)."""
    try:
        return work(), None
    except Exception as exc:  # _Busy, StorageError, or the caller's own error
        return None, exc


def _each_in_savepoint(conn: sqlite3.Connection, group: list[_QueuedWrite[Any]]) -> list[_Outcome]:
    """One ``BEGIN IMMEDIATE`` … ``COMMIT`` around the group; each write in a savepoint,
    rolled back alone if it fails. A failed commit fails them all (nothing was written)."""
    outcomes: list[_Outcome] = []
    with immediate(conn):
        for write in group:
            conn.execute("SAVEPOINT queued")
            outcome = _outcome(partial(_call, conn, write.fn))
            if outcome[1] is not None:
                conn.execute("ROLLBACK TO queued")
            conn.execute("RELEASE queued")
            outcomes.append(outcome)
    return outcomes


def _settle_all(group: list[_QueuedWrite[Any]], error: BaseException) -> None:
    for write in group:
        if not write.future.done():
            write.future.set_exception(error)


def _checkpoint_apart(path: Path) -> int:
    """A passive checkpoint on a connection of its own (it takes no writer's lock);
    returns the length of the log it found, in bytes."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        _busy, frames, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    return int(frames) * (int(page_size) + _WAL_FRAME_HEADER)


def _checkpoint_quietly(conn: sqlite3.Connection) -> None:
    """Checkpoint after a committed write: a failure must not fail that write."""
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").close()
    except sqlite3.Error as exc:
        log.warning("checkpoint failed: %s", exc)


def _in_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    with immediate(conn):
        return fn(conn)


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply pending migrations once, even when several processes open the file at once.

    The check under the write lock is repeated by ``apply``, so a process that lost the
    race finds nothing left to do.
    """
    db = Database(conn, execute_plugins=False, recursive_triggers=False)
    if not MIGRATIONS.pending(db):
        return
    with immediate(conn):
        MIGRATIONS.apply(db)


def _execute_patiently(conn: sqlite3.Connection, sql: str) -> None:
    """Run a statement, retrying while the file is locked. Switching a new file to WAL
    answers ``SQLITE_BUSY`` at once, without the busy timeout, when several processes open
    it at the same moment (workers starting on an empty data folder)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute(sql).close()
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _connect(path: Path, *, waiting: bool = True) -> sqlite3.Connection:
    """The database thread's connection (migrating the file), or, with ``waiting=False``,
    the event loop's (no busy timeout). Neither checkpoints on its own."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create {path.parent}: {exc}") from exc
    # Transactions are explicit. The event loop's connection is opened on the database
    # thread and used only by the loop's thread from then on.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=waiting)
    try:
        conn.row_factory = sqlite3.Row
        for pragma in _PRAGMAS:
            _execute_patiently(conn, pragma)
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        if waiting:
            _migrate(conn)
        else:
            conn.execute("PRAGMA busy_timeout = 0")
    except sqlite3.Error as exc:
        conn.close()
        raise StorageError(f"cannot open database {path}: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteDatabase:
    """An open database. Build with ``await SqliteDatabase.open(path)``; ``await close()``."""

    def __init__(
        self,
        path: Path,
        executor: ThreadPoolExecutor,
        conn: sqlite3.Connection,
        lock_fd: int,
        loop_conn: sqlite3.Connection | None = None,
    ) -> None:
        self.path = path
        self._executor = executor
        self._loop_conn = loop_conn
        self._writes = 0  # since the last background checkpoint began
        self._checkpointing: asyncio.Future[None] | None = None
        self._reset_due = False
        self._group: list[_QueuedWrite[Any]] = []
        self._conn = conn
        self._lock_fd = lock_fd
        self._closed = False

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> SqliteDatabase:
        """Open (creating directories and file), configure, and apply pending migrations."""
        db_path = Path(path)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        try:
            conn = await asyncio.get_running_loop().run_in_executor(executor, _connect, db_path)
        except BaseException:
            executor.shutdown(wait=True)
            raise
        try:
            lock_fd = os.open(f"{db_path}-wlock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
            executor.shutdown(wait=True)
            raise StorageError(f"cannot open the writer lock of {db_path}: {exc}") from exc
        try:
            # Opened on the thread (opening may wait for other processes), then used only by
            # the event loop's thread.
            loop_conn = await asyncio.get_running_loop().run_in_executor(
                executor, partial(_connect, db_path, waiting=False)
            )
        except BaseException:
            os.close(lock_fd)
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
            executor.shutdown(wait=True)
            raise
        return cls(db_path, executor, conn, lock_fd, loop_conn)

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, quick: bool = False) -> T:
        """Run ``fn(connection)`` (reads, or self-managed writes) on the database thread,
        or, when ``quick`` (a point read) and nothing is locked, right here."""
        if self._closed:
            raise StorageError("database is closed")
        if quick and self._loop_conn is not None:
            with contextlib.suppress(_Busy):
                return _on_loop(self._loop_conn, fn)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _call, self._conn, fn)

    async def write(
        self,
        fn: Callable[[sqlite3.Connection], T],
        *,
        transaction: bool = True,
        quick: bool = False,
    ) -> T:
        """Run ``fn(connection)`` holding the writers' lock: inside one ``BEGIN IMMEDIATE``
        transaction, or, with ``transaction=False``, as the single autocommit statement it
        runs: one statement is atomic on its own, and skipping BEGIN/COMMIT saves two
        round trips into SQLite per write. ``quick`` (a point write of a few rows) runs
        it on the event loop, in one commit with the other quick writes of this turn of
        the loop, when the lock is free."""
        if self._closed:
            raise StorageError("database is closed")
        self._count_write()
        if quick and self._loop_conn is not None and not self._reset_due:
            with contextlib.suppress(_Busy):
                return await self._write_in_group(fn, transaction)
        # The log has grown too long: checkpoint while holding the writers' lock, so that
        # no write lands in between and the log can start over.
        reset, self._reset_due = self._reset_due, False
        lock_fd = self._lock_fd

        def locked(conn: sqlite3.Connection) -> T:
            with _writer_lock(lock_fd):
                try:
                    return _in_transaction(conn, fn) if transaction else fn(conn)
                finally:
                    if reset:
                        _checkpoint_quietly(conn)

        return await self.run(locked)

    def _count_write(self) -> None:
        self._writes += 1
        if self._writes >= CHECKPOINT_EVERY and (
            self._checkpointing is None or self._checkpointing.done()
        ):
            self._writes = 0
            self._checkpointing = asyncio.ensure_future(self._checkpoint_beside_writers())

    async def _checkpoint_beside_writers(self) -> None:
        try:
            log_bytes = await asyncio.to_thread(_checkpoint_apart, self.path)
        except (OSError, sqlite3.Error) as exc:
            log.warning("background checkpoint of %s failed: %s", self.path, exc)
            self._reset_due = True  # the next write tries, under the lock
            return
        if log_bytes > WAL_RESET_BYTES:
            self._reset_due = True

    async def _write_in_group(self, fn: Callable[[sqlite3.Connection], T], transaction: bool) -> T:
        """Queue a quick write for the end of this turn of the loop; ``_Busy`` if a lock
        was held then."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._group.append(_QueuedWrite(fn, transaction, future))
        if len(self._group) == 1:
            asyncio.get_running_loop().call_soon(self._commit_group)
        return await future

    def _commit_group(self) -> None:
        group, self._group = self._group, []
        conn = self._loop_conn
        if not group:
            return
        if conn is None or self._closed:
            _settle_all(group, StorageError("database is closed"))
            return
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _settle_all(group, _Busy())
            return
        try:
            if len(group) == 1:  # alone: as it is, with no transaction around it
                only = group[0]
                work = (lambda c: _in_transaction(c, only.fn)) if only.transaction else only.fn
                outcomes = [_outcome(lambda: _on_loop(conn, work))]
            else:
                outcomes = _on_loop(conn, lambda c: _each_in_savepoint(c, group))
        except BaseException as exc:  # nothing was committed
            _settle_all(group, exc)
            return
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        for write, (result, error) in zip(group, outcomes, strict=True):
            if write.future.cancelled():
                continue  # its caller left; the write stands, as it would have alone
            if error is None:
                write.future.set_result(result)
            else:
                write.future.set_exception(error)

    async def close(self) -> None:
        """Close the connection on its thread and stop the thread (idempotent). Writes
        queued in this turn of the loop are committed first."""
        if self._closed:
            return
        self._commit_group()
        self._closed = True
        if self._checkpointing is not None:
            await asyncio.wait({self._checkpointing})
        if self._loop_conn is not None:
            self._loop_conn.close()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._conn.close)
        finally:
            self._executor.shutdown(wait=True)
            os.close(self._lock_fd)

    async def __aenter__(self) -> SqliteDatabase:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
