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
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from sqlite_utils import Database

from skysend_adapters.sqlite.migrations import MIGRATIONS
from skysend_core.errors import StorageError

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000

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
    """Run ``fn`` on the connection; the one place driver errors become core errors."""
    try:
        return fn(conn)
    except sqlite3.Error as exc:
        raise StorageError(f"database error: {exc}") from exc


@contextlib.contextmanager
def _writer_lock(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


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


def _connect(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create {path.parent}: {exc}") from exc
    conn = sqlite3.connect(path, isolation_level=None)  # transactions are explicit
    try:
        conn.row_factory = sqlite3.Row
        for pragma in _PRAGMAS:
            conn.execute(pragma)
        _migrate(conn)
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
        self, path: Path, executor: ThreadPoolExecutor, conn: sqlite3.Connection, lock_fd: int
    ) -> None:
        self.path = path
        self._executor = executor
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
        return cls(db_path, executor, conn, lock_fd)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the database thread (reads, or self-managed writes)."""
        if self._closed:
            raise StorageError("database is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _call, self._conn, fn)

    async def write(self, fn: Callable[[sqlite3.Connection], T], *, transaction: bool = True) -> T:
        """Run ``fn(connection)`` holding the writers' lock: inside one ``BEGIN IMMEDIATE``
        transaction, or, with ``transaction=False``, as the single autocommit statement it
        runs: one statement is atomic on its own, and skipping BEGIN/COMMIT saves two
        round trips into SQLite per write."""
        lock_fd = self._lock_fd

        def locked(conn: sqlite3.Connection) -> T:
            with _writer_lock(lock_fd):
                if not transaction:
                    return fn(conn)
                with immediate(conn):
                    return fn(conn)

        return await self.run(locked)

    async def close(self) -> None:
        """Close the connection on its thread and stop the thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
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
