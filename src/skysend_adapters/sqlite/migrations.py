"""Versioned schema of the SQLite database (storage-and-lifecycle.md §2).

Migrations run in order, once, when a database is opened; each is recorded in sqlite-utils'
``_sqlite_migrations`` table. Never edit an applied migration: append a new function.
Table and column names are those of the reference database.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("skysend")

_NOW_S = "(CAST(strftime('%s', 'now') AS INTEGER))"

_INITIAL_SCHEMA = (
    f"""
    CREATE TABLE uploads (
        id TEXT PRIMARY KEY NOT NULL,
        owner_token BLOB NOT NULL,
        auth_token BLOB NOT NULL,
        salt BLOB NOT NULL,
        encrypted_meta BLOB,
        nonce BLOB,
        size INTEGER NOT NULL,
        file_count INTEGER NOT NULL DEFAULT 1,
        has_password INTEGER NOT NULL DEFAULT 0,
        password_salt BLOB,
        password_algo TEXT,
        max_downloads INTEGER NOT NULL,
        download_count INTEGER NOT NULL DEFAULT 0,
        expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL DEFAULT {_NOW_S},
        storage_path TEXT NOT NULL
    )
    """,
    "CREATE INDEX idx_uploads_expires_at ON uploads (expires_at)",
    f"""
    CREATE TABLE notes (
        id TEXT PRIMARY KEY NOT NULL,
        owner_token BLOB NOT NULL,
        auth_token BLOB NOT NULL,
        salt BLOB NOT NULL,
        encrypted_content BLOB NOT NULL,
        nonce BLOB NOT NULL,
        content_type TEXT NOT NULL,
        has_password INTEGER NOT NULL DEFAULT 0,
        password_salt BLOB,
        password_algo TEXT,
        max_views INTEGER NOT NULL,
        view_count INTEGER NOT NULL DEFAULT 0,
        expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL DEFAULT {_NOW_S}
    )
    """,
    "CREATE INDEX idx_notes_expires_at ON notes (expires_at)",
    """
    CREATE TABLE upload_sessions (
        id TEXT PRIMARY KEY NOT NULL,
        transport TEXT NOT NULL,
        state TEXT NOT NULL,
        owner_token BLOB NOT NULL,
        auth_token BLOB NOT NULL,
        salt BLOB NOT NULL,
        content_length INTEGER NOT NULL,
        file_count INTEGER NOT NULL,
        has_password INTEGER NOT NULL,
        password_salt BLOB,
        password_algo TEXT,
        max_downloads INTEGER NOT NULL,
        expire_sec INTEGER NOT NULL,
        bytes_received INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        last_activity_at INTEGER NOT NULL,
        first_chunk_at INTEGER
    )
    """,
    """
    CREATE TABLE upload_chunks (
        session_id TEXT NOT NULL REFERENCES upload_sessions (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        size INTEGER NOT NULL,
        part_key TEXT NOT NULL,
        PRIMARY KEY (session_id, idx)
    )
    """,
)


@MIGRATIONS()
def m001_initial_schema(db: Database) -> None:
    """Uploads, notes, and persisted chunked-upload sessions."""
    for statement in _INITIAL_SCHEMA:
        db.execute(statement)


_CLIENT_LIMITS_SCHEMA = (
    # Upload quota, exactly as in the reference database (storage-and-lifecycle.md §2.3).
    """
    CREATE TABLE quota_usage (
        hashed_ip TEXT PRIMARY KEY NOT NULL,
        bytes_used INTEGER NOT NULL DEFAULT 0,
        reset_at INTEGER NOT NULL
    )
    """,
    "CREATE TABLE quota_state (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)",
    # Shared by the worker processes of one server lifetime (§2.5). One row per hashed
    # client: WITHOUT ROWID keeps each a single b-tree entry, found and updated in place.
    """
    CREATE TABLE rate_limits (
        key TEXT PRIMARY KEY NOT NULL,
        count INTEGER NOT NULL,
        window_end INTEGER NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE password_lockouts (
        key TEXT PRIMARY KEY NOT NULL,
        failures INTEGER NOT NULL,
        locked_until INTEGER
    ) WITHOUT ROWID
    """,
    "CREATE TABLE server_state (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)",
)


@MIGRATIONS()
def m002_client_limits(db: Database) -> None:
    """Upload quota, rate-limit windows, password lockouts and the per-server client key."""
    for statement in _CLIENT_LIMITS_SCHEMA:
        db.execute(statement)


@MIGRATIONS()
def m003_rate_limits_leave_the_database(db: Database) -> None:
    """Rate-limit windows live in their own memory-mapped table
    (``skysend_adapters.mapped_rates``): a write per request cost too much here."""
    db.execute("DROP TABLE IF EXISTS rate_limits")
