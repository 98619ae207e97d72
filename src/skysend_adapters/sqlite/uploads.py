"""Completed uploads in the ``uploads`` table (storage-and-lifecycle.md §2.1, §5.3)."""

from __future__ import annotations

import sqlite3

from skysend_adapters.sqlite.database import SqliteDatabase
from skysend_core.uploads_model import Upload, UploadSummary, blob_name

_SELECT = (
    "SELECT id, owner_token, auth_token, salt, encrypted_meta, nonce, size, file_count, "
    "has_password, password_salt, password_algo, max_downloads, download_count, "
    "expires_at, created_at FROM uploads WHERE id = ?"
)
_INSERT = (
    "INSERT INTO uploads (id, owner_token, auth_token, salt, encrypted_meta, nonce, size, "
    "file_count, has_password, password_salt, password_algo, max_downloads, download_count, "
    "expires_at, created_at, storage_path) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_NEWEST_FIRST = (
    "SELECT id, size, file_count, has_password, password_algo, max_downloads, download_count, "
    "expires_at, created_at, storage_path FROM uploads ORDER BY created_at DESC, rowid DESC"
)


def _to_summary(row: sqlite3.Row) -> UploadSummary:
    return UploadSummary(
        id=row["id"],
        size=row["size"],
        file_count=row["file_count"],
        has_password=bool(row["has_password"]),
        password_algo=row["password_algo"],
        max_downloads=row["max_downloads"],
        download_count=row["download_count"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        storage_path=row["storage_path"],
    )


def _to_upload(row: sqlite3.Row) -> Upload:
    return Upload(
        id=row["id"],
        owner_token=row["owner_token"],
        auth_token=row["auth_token"],
        salt=row["salt"],
        size=row["size"],
        file_count=row["file_count"],
        has_password=bool(row["has_password"]),
        password_salt=row["password_salt"],
        password_algo=row["password_algo"],
        max_downloads=row["max_downloads"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        download_count=row["download_count"],
        encrypted_meta=row["encrypted_meta"],
        nonce=row["nonce"],
    )


class SqliteUploadRepository:
    """``UploadRepository`` on SQLite; every race is settled by one guarded statement."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def insert(self, upload: Upload) -> None:
        values = (
            upload.id,
            upload.owner_token,
            upload.auth_token,
            upload.salt,
            upload.encrypted_meta,
            upload.nonce,
            upload.size,
            upload.file_count,
            int(upload.has_password),
            upload.password_salt,
            upload.password_algo,
            upload.max_downloads,
            upload.download_count,
            upload.expires_at,
            upload.created_at,
            blob_name(upload.id),
        )
        await self._db.write(
            lambda conn: conn.execute(_INSERT, values).close(), transaction=False, quick=True
        )

    async def get(self, upload_id: str) -> Upload | None:
        row = await self._db.run(
            lambda conn: conn.execute(_SELECT, (upload_id,)).fetchone(), quick=True
        )
        return _to_upload(row) if row is not None else None

    async def claim_download(self, upload_id: str) -> bool:
        sql = (
            "UPDATE uploads SET download_count = download_count + 1 "
            "WHERE id = ? AND download_count < max_downloads"
        )
        return await self._db.write(
            lambda conn: conn.execute(sql, (upload_id,)).rowcount == 1,
            transaction=False,
            quick=True,
        )

    async def set_metadata_once(self, upload_id: str, encrypted_meta: bytes, nonce: bytes) -> bool:
        sql = (
            "UPDATE uploads SET encrypted_meta = ?, nonce = ? "
            "WHERE id = ? AND encrypted_meta IS NULL"
        )
        params = (encrypted_meta, nonce, upload_id)
        return await self._db.write(
            lambda conn: conn.execute(sql, params).rowcount == 1, transaction=False, quick=True
        )

    async def delete(self, upload_id: str) -> bool:
        sql = "DELETE FROM uploads WHERE id = ?"
        return await self._db.write(
            lambda conn: conn.execute(sql, (upload_id,)).rowcount == 1,
            transaction=False,
            quick=True,
        )

    async def expired_ids(self, now_ms: int) -> list[str]:
        # Expired means now_ms >= expires_at * 1000; for integer seconds that is exactly
        # expires_at <= now_ms // 1000, which the index can serve.
        sql = (
            "SELECT id FROM uploads WHERE expires_at <= ? "
            "UNION SELECT id FROM uploads WHERE download_count >= max_downloads"
        )
        params = (now_ms // 1000,)
        rows = await self._db.run(lambda conn: conn.execute(sql, params).fetchall())
        return [row["id"] for row in rows]

    async def newest_first(self) -> list[UploadSummary]:
        rows = await self._db.run(lambda conn: conn.execute(_NEWEST_FIRST).fetchall())
        return [_to_summary(row) for row in rows]
