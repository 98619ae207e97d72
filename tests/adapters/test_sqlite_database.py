"""SQLite specifics: schema, pragmas, migrations, error translation, and atomicity across
separate connections to one file (as hypercorn workers share it)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlite_utils import Database

from skysend_adapters.sqlite import SqliteDatabase, SqliteUploadRepository, SqliteUploadSessionStore
from skysend_adapters.sqlite.migrations import MIGRATIONS
from skysend_core.errors import StorageError
from skysend_core.uploads_model import ChunkOutcome
from tests.adapters.factories import NOW_MS, make_session, make_upload

T = TypeVar("T")

# (name, declared type, NOT NULL, primary-key position) per storage-and-lifecycle.md §2.
SCHEMA: dict[str, list[tuple[str, str, bool, int]]] = {
    "uploads": [
        ("id", "TEXT", True, 1),
        ("owner_token", "BLOB", True, 0),
        ("auth_token", "BLOB", True, 0),
        ("salt", "BLOB", True, 0),
        ("encrypted_meta", "BLOB", False, 0),
        ("nonce", "BLOB", False, 0),
        ("size", "INTEGER", True, 0),
        ("file_count", "INTEGER", True, 0),
        ("has_password", "INTEGER", True, 0),
        ("password_salt", "BLOB", False, 0),
        ("password_algo", "TEXT", False, 0),
        ("max_downloads", "INTEGER", True, 0),
        ("download_count", "INTEGER", True, 0),
        ("expires_at", "INTEGER", True, 0),
        ("created_at", "INTEGER", True, 0),
        ("storage_path", "TEXT", True, 0),
    ],
    "notes": [
        ("id", "TEXT", True, 1),
        ("owner_token", "BLOB", True, 0),
        ("auth_token", "BLOB", True, 0),
        ("salt", "BLOB", True, 0),
        ("encrypted_content", "BLOB", True, 0),
        ("nonce", "BLOB", True, 0),
        ("content_type", "TEXT", True, 0),
        ("has_password", "INTEGER", True, 0),
        ("password_salt", "BLOB", False, 0),
        ("password_algo", "TEXT", False, 0),
        ("max_views", "INTEGER", True, 0),
        ("view_count", "INTEGER", True, 0),
        ("expires_at", "INTEGER", True, 0),
        ("created_at", "INTEGER", True, 0),
    ],
    "upload_sessions": [
        ("id", "TEXT", True, 1),
        ("transport", "TEXT", True, 0),
        ("state", "TEXT", True, 0),
        ("owner_token", "BLOB", True, 0),
        ("auth_token", "BLOB", True, 0),
        ("salt", "BLOB", True, 0),
        ("content_length", "INTEGER", True, 0),
        ("file_count", "INTEGER", True, 0),
        ("has_password", "INTEGER", True, 0),
        ("password_salt", "BLOB", False, 0),
        ("password_algo", "TEXT", False, 0),
        ("max_downloads", "INTEGER", True, 0),
        ("expire_sec", "INTEGER", True, 0),
        ("bytes_received", "INTEGER", True, 0),
        ("created_at", "INTEGER", True, 0),
        ("last_activity_at", "INTEGER", True, 0),
        ("first_chunk_at", "INTEGER", False, 0),
    ],
    "upload_chunks": [
        ("session_id", "TEXT", True, 1),
        ("idx", "INTEGER", True, 2),
        ("size", "INTEGER", True, 0),
        ("part_key", "TEXT", True, 0),
    ],
    "quota_usage": [
        ("hashed_ip", "TEXT", True, 1),
        ("bytes_used", "INTEGER", True, 0),
        ("reset_at", "INTEGER", True, 0),
    ],
    "quota_state": [
        ("key", "TEXT", True, 1),
        ("value", "TEXT", True, 0),
    ],
}
DEFAULTS = {
    ("uploads", "file_count"): "1",
    ("uploads", "has_password"): "0",
    ("uploads", "download_count"): "0",
    ("notes", "has_password"): "0",
    ("notes", "view_count"): "0",
    ("upload_sessions", "bytes_received"): "0",
    ("quota_usage", "bytes_used"): "0",
}
MIGRATION_NAMES = [
    "m001_initial_schema",
    "m002_client_limits",
    "m003_rate_limits_leave_the_database",
]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "db" / "skysend.db"


@pytest.fixture
async def db(path: Path) -> AsyncIterator[SqliteDatabase]:
    async with await SqliteDatabase.open(path) as opened:
        yield opened


def in_other_connection(path: Path, work: Callable[[SqliteDatabase], Awaitable[T]]) -> T:
    """Run ``work`` in a fresh thread with its own event loop and its own database."""

    async def main() -> T:
        async with await SqliteDatabase.open(path) as other:
            return await work(other)

    return asyncio.run(main())


def rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(sql, params).fetchall()]


async def query(
    db: SqliteDatabase, sql: str, params: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    return await db.run(lambda conn: rows(conn, sql, params))


async def test_schema_matches_the_spec(db: SqliteDatabase) -> None:
    for table, expected in SCHEMA.items():
        info = await query(db, f"PRAGMA table_info({table})")
        assert [(c[1], c[2], bool(c[3]), c[5]) for c in info] == expected, table
        defaults = {(table, c[1]): c[4] for c in info if c[4] is not None and c[1] != "created_at"}
        assert defaults == {k: v for k, v in DEFAULTS.items() if k[0] == table}


async def test_indexes(db: SqliteDatabase) -> None:
    for index, table in (
        ("idx_uploads_expires_at", "uploads"),
        ("idx_notes_expires_at", "notes"),
    ):
        info = await query(db, f"PRAGMA index_info({index})")
        assert [c[2] for c in info] == ["expires_at"]
        owner = await query(db, "SELECT tbl_name FROM sqlite_master WHERE name = ?", (index,))
        assert owner == [(table,)]


async def test_created_at_defaults_to_now_in_seconds(db: SqliteDatabase) -> None:
    def insert_and_read(conn: sqlite3.Connection) -> int:
        conn.execute(
            "INSERT INTO uploads (id, owner_token, auth_token, salt, size, max_downloads, "
            "expires_at, storage_path) VALUES ('x', x'00', x'00', x'00', 1, 1, 1, 'x.bin')"
        )
        return int(conn.execute("SELECT created_at FROM uploads").fetchone()[0])

    created_at = await db.write(insert_and_read)
    assert abs(created_at - time.time()) < 60


async def test_pragmas(db: SqliteDatabase) -> None:
    values = await db.run(
        lambda conn: (
            [
                conn.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")
            ]
            + [conn.execute("PRAGMA secure_delete").fetchone()[0]]
        )
    )
    assert values == ["wal", 5000, 1, 1, 1]


async def test_open_creates_parent_directories(path: Path, db: SqliteDatabase) -> None:
    assert await asyncio.to_thread(path.is_file)


async def test_reopening_applies_no_migration_twice(path: Path) -> None:
    def applied(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
        return rows(conn, "SELECT migration_set, name, applied_at FROM _sqlite_migrations")

    async with await SqliteDatabase.open(path) as first:
        before = await first.run(applied)
    async with await SqliteDatabase.open(path) as second:
        after = await second.run(applied)
        pending = await second.run(lambda conn: MIGRATIONS.pending(Database(conn)))
    assert before == after
    assert [row[1] for row in after] == MIGRATION_NAMES
    assert pending == []


async def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    """Workers starting together on an empty data folder: every open succeeds (switching
    the new file to WAL can be refused at once while another process does it) and the
    migrations run once. Repeated, as the race is narrow."""
    openers = 6

    async def count(db: SqliteDatabase) -> int:
        return int(await db.run(lambda c: c.execute("SELECT count(*) FROM uploads").fetchone()[0]))

    for attempt in range(15):
        path = tmp_path / str(attempt) / "db" / "skysend.db"
        barrier = threading.Barrier(openers)

        def open_at_once(path: Path = path, barrier: threading.Barrier = barrier) -> int:
            barrier.wait()
            return in_other_connection(path, count)

        results = await asyncio.gather(*(asyncio.to_thread(open_at_once) for _ in range(openers)))
        assert results == [0] * openers
        async with await SqliteDatabase.open(path) as db:
            applied = await db.run(lambda c: rows(c, "SELECT name FROM _sqlite_migrations"))
            assert applied == [(name,) for name in MIGRATION_NAMES]


async def test_a_file_locked_for_too_long_fails_to_open_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another program holding the file locked past the busy timeout: opening gives up
    with a StorageError naming the file (a start-up error), not a hang or a crash."""
    from skysend_adapters.sqlite import database

    patience_ms = 300
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", patience_ms)
    monkeypatch.setattr(
        database,
        "_PRAGMAS",
        tuple(
            f"PRAGMA busy_timeout = {patience_ms}" if "busy_timeout" in pragma else pragma
            for pragma in database._PRAGMAS
        ),
    )
    path = tmp_path / "db" / "skysend.db"
    path.parent.mkdir()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("CREATE TABLE held (x)")
        holder.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        with pytest.raises(StorageError, match="cannot open database") as caught:
            await SqliteDatabase.open(path)
        waited = time.monotonic() - started
    finally:
        holder.close()
    assert str(path) in str(caught.value)
    assert "locked" in str(caught.value)
    assert waited >= patience_ms / 1000  # it did retry before giving up
    async with await SqliteDatabase.open(path) as db:  # and opens once the lock is gone
        assert await db.run(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"


async def test_driver_errors_become_storage_errors(db: SqliteDatabase) -> None:
    with pytest.raises(StorageError) as caught:
        await db.run(lambda conn: conn.execute("SELECT * FROM no_such_table"))
    assert isinstance(caught.value.__cause__, sqlite3.Error)


async def test_failed_write_rolls_back(db: SqliteDatabase) -> None:
    upload = make_upload()
    repo = SqliteUploadRepository(db)

    def insert_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM uploads")
        raise ValueError("changed my mind")

    await repo.insert(upload)
    with pytest.raises(ValueError, match="changed my mind"):
        await db.write(insert_then_fail)
    assert await repo.get(upload.id) == upload
    assert await db.run(lambda conn: conn.in_transaction) is False


async def test_closed_database(path: Path) -> None:
    db = await SqliteDatabase.open(path)
    await db.close()
    await db.close()  # idempotent
    with pytest.raises(StorageError):
        await db.run(lambda conn: None)


async def test_unopenable_path_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(StorageError):
        await SqliteDatabase.open(blocker / "db" / "skysend.db")


async def test_deleted_rows_leave_no_trace_in_the_file(path: Path, db: SqliteDatabase) -> None:
    marker = uuid.uuid4().bytes * 2
    upload = make_upload()
    repo = SqliteUploadRepository(db)
    await repo.insert(upload)
    await repo.set_metadata_once(upload.id, marker, b"nonce")
    await db.run(lambda conn: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
    assert marker in await asyncio.to_thread(path.read_bytes)
    await repo.delete(upload.id)
    await db.run(lambda conn: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
    assert marker not in await asyncio.to_thread(path.read_bytes)


# -- atomicity across separate connections ------------------------------------------------


async def test_claims_from_two_databases_never_exceed_the_limit(
    path: Path, db: SqliteDatabase
) -> None:
    upload = make_upload(max_downloads=30)
    await SqliteUploadRepository(db).insert(upload)
    barrier = threading.Barrier(2)

    async def claim_many(other: SqliteDatabase) -> int:
        repo = SqliteUploadRepository(other)
        await asyncio.to_thread(barrier.wait)
        results = await asyncio.gather(*(repo.claim_download(upload.id) for _ in range(25)))
        return results.count(True)

    won = await asyncio.gather(
        *(asyncio.to_thread(in_other_connection, path, claim_many) for _ in range(2))
    )
    assert sum(won) == 30
    stored = await SqliteUploadRepository(db).get(upload.id)
    assert stored is not None
    assert stored.download_count == 30


async def test_chunk_commits_from_two_databases(path: Path, db: SqliteDatabase) -> None:
    session = make_session(content_length=1000)
    await SqliteUploadSessionStore(db).create(session)
    barrier = threading.Barrier(2)

    async def commit_all(other: SqliteDatabase) -> list[ChunkOutcome]:
        store = SqliteUploadSessionStore(other)
        await asyncio.to_thread(barrier.wait)
        decisions = await asyncio.gather(
            *(store.commit_chunk(session.id, i, 10, uuid.uuid4().hex, NOW_MS) for i in range(50))
        )
        return [d.outcome for d in decisions]

    outcomes = await asyncio.gather(
        *(asyncio.to_thread(in_other_connection, path, commit_all) for _ in range(2))
    )
    per_index = list(zip(*outcomes, strict=True))
    assert all(
        sorted(pair, key=str) == [ChunkOutcome.ACCEPTED, ChunkOutcome.DUPLICATE]
        for pair in per_index
    )
    stored = await SqliteUploadSessionStore(db).get(session.id)
    assert stored is not None
    assert stored.bytes_received == 500


async def test_finalize_from_two_databases_happens_once(path: Path, db: SqliteDatabase) -> None:
    sessions = [make_session() for _ in range(20)]
    for session in sessions:
        await SqliteUploadSessionStore(db).create(session)
    barrier = threading.Barrier(2)

    async def finalize_all(other: SqliteDatabase) -> list[bool]:
        store = SqliteUploadSessionStore(other)
        await asyncio.to_thread(barrier.wait)
        results = await asyncio.gather(*(store.begin_finalize(s.id, NOW_MS) for s in sessions))
        return [r is not None for r in results]

    a, b = await asyncio.gather(
        *(asyncio.to_thread(in_other_connection, path, finalize_all) for _ in range(2))
    )
    assert [x + y for x, y in zip(a, b, strict=True)] == [1] * 20


async def test_session_delete_cascades_to_chunks(db: SqliteDatabase) -> None:
    store = SqliteUploadSessionStore(db)
    session = make_session()
    await store.create(session)
    await store.commit_chunk(session.id, 0, 1, uuid.uuid4().hex, NOW_MS)
    await db.write(
        lambda conn: conn.execute("DELETE FROM upload_sessions WHERE id = ?", (session.id,)).close()
    )
    assert await store.chunks(session.id) == []


async def test_writers_queue_on_the_writer_lock(path: Path, db: SqliteDatabase) -> None:
    """A writer of another process holding the lock delays writes, not reads."""
    import fcntl
    import os

    fd = os.open(f"{path}-wlock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        write = asyncio.ensure_future(
            db.write(lambda conn: conn.execute("CREATE TABLE t (x)").close())
        )
        await asyncio.sleep(0.2)
        assert not write.done()
        fcntl.flock(fd, fcntl.LOCK_UN)
        await asyncio.wait_for(write, 5)
    finally:
        os.close(fd)
    rows = await db.run(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone())
    assert tuple(rows) == (0,)


# -- quick operations on the event loop ----------------------------------------------------


def where(conn: sqlite3.Connection) -> str:
    """Which thread ran the statement."""
    conn.execute("SELECT 1").close()
    return threading.current_thread().name


async def test_quick_operations_run_on_the_loop_when_nothing_is_held(db: SqliteDatabase) -> None:
    here = threading.current_thread().name
    assert await db.run(where, quick=True) == here
    assert await db.write(where, quick=True) == here
    assert await db.write(where, transaction=False, quick=True) == here
    assert (await db.run(where)).startswith("sqlite")


async def test_quick_writes_wait_on_the_thread_while_another_process_writes(
    path: Path, db: SqliteDatabase
) -> None:
    import fcntl
    import os

    upload = make_upload()
    fd = os.open(f"{path}-wlock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        write = asyncio.ensure_future(SqliteUploadRepository(db).insert(upload))
        await asyncio.sleep(0.2)
        assert not write.done()  # queued on the thread, the loop is free
        assert await db.run(where, quick=True) == threading.current_thread().name
        fcntl.flock(fd, fcntl.LOCK_UN)
        await asyncio.wait_for(write, 5)
    finally:
        os.close(fd)
    assert await SqliteUploadRepository(db).get(upload.id) == upload


async def test_quick_writes_wait_on_the_thread_for_a_foreign_writer(
    path: Path, db: SqliteDatabase
) -> None:
    """A writer that does not take the flock (an operator's sqlite3 shell) holds SQLite's
    own lock: the quick write is refused at once on the loop and waits on the thread."""
    upload = make_upload()
    shell = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        shell.execute("BEGIN IMMEDIATE")
        write = asyncio.ensure_future(SqliteUploadRepository(db).insert(upload))
        await asyncio.sleep(0.2)
        assert not write.done()
        shell.execute("COMMIT")
        await asyncio.wait_for(write, 5)
    finally:
        shell.close()
    assert await SqliteUploadRepository(db).get(upload.id) == upload


async def test_quick_transactions_roll_back_on_errors(db: SqliteDatabase) -> None:
    upload = make_upload()
    await SqliteUploadRepository(db).insert(upload)

    def delete_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM uploads")
        raise ValueError("changed my mind")

    with pytest.raises(ValueError, match="changed my mind"):
        await db.write(delete_then_fail, quick=True)
    with pytest.raises(StorageError):
        await db.write(lambda conn: conn.execute("INSERT INTO nowhere VALUES (1)"), quick=True)
    assert await SqliteUploadRepository(db).get(upload.id) == upload


async def test_the_log_stays_bounded_under_a_stream_of_writes(
    path: Path, db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No write checkpoints on its own; without the background checkpoints and the reset
    of a log grown too long, the log would hold every one of these writes (about
    60 MiB). How far the log grows while a background checkpoint runs depends on the
    disk's speed; here each one is waited for, so the bound does not depend on the load
    of the machine."""
    from skysend_adapters.sqlite import database

    monkeypatch.setattr(database, "WAL_RESET_BYTES", 2 * 1024 * 1024)
    repo = SqliteUploadRepository(db)
    marker = b"\x5a" * 4000
    for _ in range(2500):
        upload = make_upload()
        await repo.insert(upload)
        await repo.set_metadata_once(upload.id, marker, b"nonce")
        if db._checkpointing is not None:
            await db._checkpointing
    wal = await asyncio.to_thread(lambda: Path(f"{path}-wal").stat().st_size)
    assert wal < 8 * 1024 * 1024, wal


# -- quick writes of one turn of the loop share a commit --------------------------------


def traced(db: SqliteDatabase) -> list[str]:
    """The statements the loop's connection runs from now on."""
    statements: list[str] = []
    assert db._loop_conn is not None
    db._loop_conn.set_trace_callback(statements.append)
    return statements


def insert_upload(upload_id: str) -> Callable[[sqlite3.Connection], str]:
    """A one-statement write (into a table of the test's own); says where it ran."""

    def insert(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO things (id) VALUES (?)", (upload_id,)).close()
        return threading.current_thread().name

    return insert


async def stored_ids(db: SqliteDatabase) -> set[str]:
    return {row[0] for row in await query(db, "SELECT id FROM things")}


@pytest.fixture
async def things(db: SqliteDatabase) -> None:
    await db.write(lambda conn: conn.execute("CREATE TABLE things (id TEXT PRIMARY KEY)"))


@pytest.mark.usefixtures("things")
async def test_quick_writes_of_one_turn_share_one_commit(db: SqliteDatabase) -> None:
    statements = traced(db)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    here = threading.current_thread().name
    results = await asyncio.gather(
        *(db.write(insert_upload(i), transaction=False, quick=True) for i in ids)
    )
    assert results == [here] * 3  # on the loop, not the thread
    assert statements.count("BEGIN IMMEDIATE") == 1
    assert statements.count("COMMIT") == 1
    assert statements.count("SAVEPOINT queued") == 3
    assert await stored_ids(db) == set(ids)


@pytest.mark.usefixtures("things")
async def test_a_lone_quick_write_runs_as_it_is(db: SqliteDatabase) -> None:
    statements = traced(db)
    upload_id = str(uuid.uuid4())
    await db.write(insert_upload(upload_id), transaction=False, quick=True)
    assert [s for s in statements if not s.startswith("INSERT")] == []
    assert await stored_ids(db) == {upload_id}


@pytest.mark.usefixtures("things")
async def test_a_failing_write_fails_alone_in_its_group(db: SqliteDatabase) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    await db.write(insert_upload(first), transaction=False, quick=True)

    def delete_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM things").close()
        raise ValueError("changed my mind")

    results = await asyncio.gather(
        db.write(insert_upload(first), transaction=False, quick=True),  # duplicate key
        db.write(delete_then_fail, quick=True),
        db.write(insert_upload(second), transaction=False, quick=True),
        return_exceptions=True,
    )
    assert isinstance(results[0], StorageError)
    assert "UNIQUE" in str(results[0])
    assert isinstance(results[1], ValueError)
    assert results[2] == threading.current_thread().name
    assert await stored_ids(db) == {first, second}  # the failed delete was rolled back


@pytest.mark.usefixtures("things")
async def test_a_caller_that_leaves_does_not_disturb_its_group(db: SqliteDatabase) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    tasks = [
        asyncio.ensure_future(db.write(insert_upload(i), transaction=False, quick=True))
        for i in ids
    ]
    await asyncio.sleep(0)  # every write is queued; the group commits at the end of the turn
    tasks[1].cancel()
    done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    assert isinstance(done[1], asyncio.CancelledError)
    assert done[0] == done[2] == threading.current_thread().name
    assert await stored_ids(db) == set(ids)  # the write stands, as it would have alone


@pytest.mark.usefixtures("things")
async def test_a_group_facing_a_held_lock_waits_on_the_thread(
    path: Path, db: SqliteDatabase
) -> None:
    import fcntl
    import os

    ids = [str(uuid.uuid4()) for _ in range(3)]
    fd = os.open(f"{path}-wlock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        writes = asyncio.ensure_future(
            asyncio.gather(
                *(db.write(insert_upload(i), transaction=False, quick=True) for i in ids)
            )
        )
        await asyncio.sleep(0.2)
        assert not writes.done()
        fcntl.flock(fd, fcntl.LOCK_UN)
        results = await asyncio.wait_for(writes, 5)
    finally:
        os.close(fd)
    assert all(name.startswith("sqlite") for name in results)
    assert await stored_ids(db) == set(ids)


async def test_writes_queued_when_the_database_closes_are_committed(path: Path) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    db = await SqliteDatabase.open(path)
    await db.write(lambda conn: conn.execute("CREATE TABLE things (id TEXT PRIMARY KEY)"))
    tasks = [
        asyncio.ensure_future(db.write(insert_upload(i), transaction=False, quick=True))
        for i in ids
    ]
    await asyncio.sleep(0)
    await db.close()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert [task.result() for task in tasks] == [threading.current_thread().name] * 3
    async with await SqliteDatabase.open(path) as reopened:
        assert await stored_ids(reopened) == set(ids)


# -- checkpoints run beside the writers ---------------------------------------------------


async def test_writes_go_on_while_a_checkpoint_is_slow(
    db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint syncs files, which takes long on a busy disk; it must not hold the
    writers (it used to run inside a write, holding the writers' lock)."""
    from skysend_adapters.sqlite import database

    started, release = threading.Event(), threading.Event()
    original = database._checkpoint_apart

    def stuck(path: Path) -> int:
        started.set()
        release.wait(10)
        return original(path)

    monkeypatch.setattr(database, "_checkpoint_apart", stuck)
    repo = SqliteUploadRepository(db)
    later = [make_upload() for _ in range(20)]
    try:
        for _ in range(database.CHECKPOINT_EVERY):
            await repo.insert(make_upload())
        assert await asyncio.to_thread(started.wait, 5)
        for upload in later:  # quick writes, on the loop
            await asyncio.wait_for(repo.insert(upload), 5)
        gone = later.pop()
        await asyncio.wait_for(  # a write on the thread
            db.write(lambda c: c.execute("DELETE FROM uploads WHERE id = ?", (gone.id,))), 5
        )
        assert db._checkpointing is not None
        assert not db._checkpointing.done()
    finally:
        release.set()
    assert [await repo.get(upload.id) for upload in later] == later
    assert await repo.get(gone.id) is None


async def test_writes_on_the_thread_count_towards_checkpoints(
    db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skysend_adapters.sqlite import database

    checkpoints: list[Path] = []
    monkeypatch.setattr(database, "_checkpoint_apart", lambda path: checkpoints.append(path) or 0)
    for _ in range(database.CHECKPOINT_EVERY - 1):
        await db.write(lambda c: c.execute("SELECT 1").close())
    await asyncio.sleep(0.05)
    assert checkpoints == []
    await db.write(lambda c: c.execute("SELECT 1").close())
    await asyncio.wait_for(asyncio.shield(db._checkpointing or asyncio.sleep(0)), 5)
    assert checkpoints == [db.path]


async def test_a_failed_background_checkpoint_leaves_it_to_the_next_write(
    db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from skysend_adapters.sqlite import database

    def failing(path: Path) -> int:
        raise sqlite3.OperationalError("disk I/O error")

    under_lock: list[bool] = []
    original_quietly = database._checkpoint_quietly

    def recording(conn: sqlite3.Connection) -> None:
        under_lock.append(True)
        original_quietly(conn)

    monkeypatch.setattr(database, "_checkpoint_apart", failing)
    monkeypatch.setattr(database, "_checkpoint_quietly", recording)
    repo = SqliteUploadRepository(db)
    for _ in range(database.CHECKPOINT_EVERY):
        await repo.insert(make_upload())
    assert db._checkpointing is not None
    await asyncio.wait({db._checkpointing})
    assert "background checkpoint" in caplog.text
    assert "disk I/O error" in caplog.text
    last = make_upload()
    await repo.insert(last)  # this write checkpoints, holding the writers' lock
    assert under_lock == [True]
    assert await repo.get(last.id) == last


async def test_a_failed_checkpoint_after_a_write_does_not_fail_that_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The write before it has committed: a checkpoint error is logged, not raised."""
    from skysend_adapters.sqlite import database

    conn = sqlite3.connect(tmp_path / "other.db")
    conn.close()
    database._checkpoint_quietly(conn)
    assert "checkpoint failed" in caplog.text


async def test_a_group_whose_commit_fails_fails_every_write_in_it(db: SqliteDatabase) -> None:
    """A deferred constraint is checked at COMMIT: the whole group is rolled back, and
    every caller hears of it."""
    await db.write(
        lambda conn: conn.executescript(
            "CREATE TABLE parents (id TEXT PRIMARY KEY);"
            "CREATE TABLE children (id TEXT PRIMARY KEY, parent TEXT"
            " REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED);"
        ),
        transaction=False,
    )

    def child(parent: str) -> Callable[[sqlite3.Connection], None]:
        return lambda conn: conn.execute(
            "INSERT INTO children (id, parent) VALUES (?, ?)", (str(uuid.uuid4()), parent)
        ).close()

    await db.write(lambda conn: conn.execute("INSERT INTO parents VALUES ('p')").close())
    results = await asyncio.gather(
        db.write(child("p"), transaction=False, quick=True),
        db.write(child("nobody"), transaction=False, quick=True),
        return_exceptions=True,
    )
    assert all(isinstance(result, StorageError) for result in results), results
    assert "FOREIGN KEY" in str(results[1])
    assert await query(db, "SELECT COUNT(*) FROM children") == [(0,)]
