"""Notes in the ``notes`` table (storage-and-lifecycle.md §2.2, §5.3, §6.2).

Burn after reading: the view that exhausts a limited note erases its ciphertext in the same
transaction that counts it. ``secure_delete`` zeroes the freed bytes in the database pages,
but older page images stay in the write-ahead log until it is checkpointed and reset, so
every statement that removes ciphertext is followed by a truncating checkpoint.
"""

from __future__ import annotations

import logging
import sqlite3

from skysend_adapters.sqlite.database import SqliteDatabase
from skysend_core.notes_model import Note, NoteSummary, burns_on

log = logging.getLogger(__name__)

_COLUMNS = (
    "id, owner_token, auth_token, salt, encrypted_content, nonce, content_type, "
    "has_password, password_salt, password_algo, max_views, view_count, expires_at, "
    "created_at"
)
# Built from the constant column list only (no user input reaches the SQL text).
_INSERT = f"INSERT INTO notes ({_COLUMNS}) VALUES ({', '.join('?' * 14)})"  # noqa: S608
_SELECT = f"SELECT {_COLUMNS} FROM notes WHERE id = ?"  # noqa: S608
_CLAIM = (
    "UPDATE notes SET view_count = view_count + 1 "
    "WHERE id = ? AND (max_views = 0 OR view_count < max_views) "
    "RETURNING view_count, max_views"
)
_BURN = "UPDATE notes SET encrypted_content = x'' WHERE id = ?"
_DELETE = "DELETE FROM notes WHERE id = ?"
# Expired means now_ms >= expires_at * 1000; for integer seconds that is exactly
# expires_at <= now_ms // 1000, which the index can serve.
_DELETE_EXPIRED = (
    "DELETE FROM notes WHERE expires_at <= ? OR (max_views > 0 AND view_count >= max_views)"
)

_NEWEST_FIRST = (
    "SELECT id, content_type, has_password, password_algo, max_views, view_count, "
    "expires_at, created_at FROM notes ORDER BY created_at DESC, rowid DESC"
)


def _to_summary(row: sqlite3.Row) -> NoteSummary:
    return NoteSummary(
        id=row["id"],
        content_type=row["content_type"],
        has_password=bool(row["has_password"]),
        password_algo=row["password_algo"],
        max_views=row["max_views"],
        view_count=row["view_count"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
    )


def _to_note(row: sqlite3.Row) -> Note:
    return Note(
        id=row["id"],
        owner_token=row["owner_token"],
        auth_token=row["auth_token"],
        salt=row["salt"],
        encrypted_content=row["encrypted_content"],
        nonce=row["nonce"],
        content_type=row["content_type"],
        has_password=bool(row["has_password"]),
        password_salt=row["password_salt"],
        password_algo=row["password_algo"],
        max_views=row["max_views"],
        view_count=row["view_count"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
    )


def _claim(conn: sqlite3.Connection, note_id: str) -> tuple[int | None, bool]:
    """Count one view; erase the ciphertext if it was the last. Runs in one transaction."""
    row = conn.execute(_CLAIM, (note_id,)).fetchone()
    if row is None:
        return None, False
    count, max_views = row["view_count"], row["max_views"]
    burned = burns_on(max_views, count)
    if burned:
        conn.execute(_BURN, (note_id,)).close()
    return count, burned


def _scrub_log(conn: sqlite3.Connection) -> None:
    """Copy every page into the main file and truncate the write-ahead log, so erased
    ciphertext does not survive in older page images there. Best effort: with readers in
    other processes the log may only be reset by a later checkpoint."""
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        log.info("write-ahead log busy; erased note data is scrubbed at a later checkpoint")


class SqliteNoteRepository:
    """``NoteRepository`` on SQLite; the view race is settled by one guarded statement."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def insert(self, note: Note) -> None:
        values = (
            note.id,
            note.owner_token,
            note.auth_token,
            note.salt,
            note.encrypted_content,
            note.nonce,
            note.content_type,
            int(note.has_password),
            note.password_salt,
            note.password_algo,
            note.max_views,
            note.view_count,
            note.expires_at,
            note.created_at,
        )
        await self._db.write(
            lambda conn: conn.execute(_INSERT, values).close(), transaction=False, quick=True
        )

    async def get(self, note_id: str) -> Note | None:
        row = await self._db.run(
            lambda conn: conn.execute(_SELECT, (note_id,)).fetchone(), quick=True
        )
        return _to_note(row) if row is not None else None

    async def claim_view(self, note_id: str) -> int | None:
        count, burned = await self._db.write(lambda conn: _claim(conn, note_id), quick=True)
        if burned:
            await self._db.run(_scrub_log)
        return count

    async def delete(self, note_id: str) -> bool:
        deleted = await self._db.write(
            lambda conn: conn.execute(_DELETE, (note_id,)).rowcount, transaction=False, quick=True
        )
        if deleted:
            await self._db.run(_scrub_log)
        return deleted == 1

    async def delete_expired(self, now_ms: int) -> int:
        params = (now_ms // 1000,)
        deleted: int = await self._db.write(
            lambda conn: conn.execute(_DELETE_EXPIRED, params).rowcount
        )
        if deleted:
            await self._db.run(_scrub_log)
        return deleted

    async def newest_first(self) -> list[NoteSummary]:
        rows = await self._db.run(lambda conn: conn.execute(_NEWEST_FIRST).fetchall())
        return [_to_summary(row) for row in rows]
