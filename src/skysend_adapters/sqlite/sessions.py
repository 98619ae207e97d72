"""Unfinished uploads in ``upload_sessions`` / ``upload_chunks`` (storage-and-lifecycle.md
§2.4, §4). Shared by every worker process through the database file."""

from __future__ import annotations

import sqlite3

from skysend_adapters.sqlite.database import SqliteDatabase
from skysend_core.upload_params import UploadParams
from skysend_core.uploads_model import (
    SESSION_TTL_MS,
    ChunkDecision,
    ChunkOutcome,
    SessionState,
    UploadSession,
    decide_chunk,
    is_session_live,
)

_SELECT = (
    "SELECT id, transport, state, owner_token, auth_token, salt, content_length, file_count, "
    "has_password, password_salt, password_algo, max_downloads, expire_sec, "
    "bytes_received, created_at, last_activity_at, first_chunk_at "
    "FROM upload_sessions WHERE id = ?"
)
_INSERT = (
    "INSERT INTO upload_sessions (id, transport, state, owner_token, auth_token, salt, "
    "content_length, file_count, has_password, password_salt, password_algo, max_downloads, "
    "expire_sec, bytes_received, created_at, last_activity_at, first_chunk_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _to_session(row: sqlite3.Row) -> UploadSession:
    params = UploadParams(
        auth_token=row["auth_token"],
        owner_token=row["owner_token"],
        salt=row["salt"],
        max_downloads=row["max_downloads"],
        expire_sec=row["expire_sec"],
        file_count=row["file_count"],
        content_length=row["content_length"],
        has_password=bool(row["has_password"]),
        password_salt=row["password_salt"],
        password_algo=row["password_algo"],
    )
    return UploadSession(
        id=row["id"],
        transport=row["transport"],
        state=SessionState(row["state"]),
        params=params,
        created_at=row["created_at"],
        last_activity_at=row["last_activity_at"],
        bytes_received=row["bytes_received"],
        first_chunk_at=row["first_chunk_at"],
    )


def _read(conn: sqlite3.Connection, session_id: str) -> UploadSession | None:
    row = conn.execute(_SELECT, (session_id,)).fetchone()
    return _to_session(row) if row is not None else None


class SqliteUploadSessionStore:
    """``UploadSessionStore`` on SQLite: every check-then-update runs in one
    ``BEGIN IMMEDIATE`` transaction, so concurrent workers cannot interleave."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def create(self, session: UploadSession) -> None:
        p = session.params
        values = (
            session.id,
            session.transport,
            session.state.value,
            p.owner_token,
            p.auth_token,
            p.salt,
            p.content_length,
            p.file_count,
            int(p.has_password),
            p.password_salt,
            p.password_algo,
            p.max_downloads,
            p.expire_sec,
            session.bytes_received,
            session.created_at,
            session.last_activity_at,
            session.first_chunk_at,
        )
        await self._db.write(lambda conn: conn.execute(_INSERT, values).close(), transaction=False)

    async def get(self, session_id: str) -> UploadSession | None:
        return await self._db.run(lambda conn: _read(conn, session_id))

    async def commit_chunk(
        self, session_id: str, index: int, size: int, part_key: str, now_ms: int
    ) -> ChunkDecision:
        def commit(conn: sqlite3.Connection) -> ChunkDecision:
            session = _read(conn, session_id)
            stored = conn.execute(
                "SELECT idx, size FROM upload_chunks WHERE session_id = ?", (session_id,)
            ).fetchall()
            decision = decide_chunk(session, [(r[0], r[1]) for r in stored], index, size, now_ms)
            if decision.outcome is ChunkOutcome.ACCEPTED:
                conn.execute(
                    "INSERT INTO upload_chunks (session_id, idx, size, part_key) "
                    "VALUES (?, ?, ?, ?)",
                    (session_id, index, size, part_key),
                )
                conn.execute(
                    "UPDATE upload_sessions SET bytes_received = ?, last_activity_at = ?, "
                    "first_chunk_at = ? WHERE id = ?",
                    (decision.bytes_received, now_ms, decision.first_chunk_at, session_id),
                )
            return decision

        return await self._db.write(commit)

    async def begin_finalize(self, session_id: str, now_ms: int) -> UploadSession | None:
        def begin(conn: sqlite3.Connection) -> UploadSession | None:
            session = _read(conn, session_id)
            if (
                session is None
                or session.state is SessionState.FINALIZING
                or not is_session_live(session, now_ms)
            ):
                return None
            # Finalizing counts as activity: a long assembly is not mistaken for idleness.
            conn.execute(
                "UPDATE upload_sessions SET state = ?, last_activity_at = ? WHERE id = ?",
                (SessionState.FINALIZING.value, now_ms, session_id),
            )
            return session

        return await self._db.write(begin)

    async def chunks(self, session_id: str) -> list[tuple[int, int, str]]:
        sql = "SELECT idx, size, part_key FROM upload_chunks WHERE session_id = ? ORDER BY idx"
        rows = await self._db.run(lambda conn: conn.execute(sql, (session_id,)).fetchall())
        return [(row[0], row[1], row[2]) for row in rows]

    async def delete(self, session_id: str) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM upload_chunks WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM upload_sessions WHERE id = ?", (session_id,))

        await self._db.write(delete)

    async def expired_ids(self, now_ms: int) -> list[str]:
        sql = "SELECT id FROM upload_sessions WHERE last_activity_at < ?"
        params = (now_ms - SESSION_TTL_MS,)
        rows = await self._db.run(lambda conn: conn.execute(sql, params).fetchall())
        return [row[0] for row in rows]

    async def touch(self, session_id: str, bytes_received: int, now_ms: int) -> None:
        sql = (
            "UPDATE upload_sessions SET bytes_received = ?, last_activity_at = ?, "
            "first_chunk_at = COALESCE(first_chunk_at, ?) WHERE id = ?"
        )
        params = (bytes_received, now_ms, now_ms, session_id)
        await self._db.write(lambda conn: conn.execute(sql, params).close(), transaction=False)
