"""Per-client state in SQLite: upload quota, password lockouts and the client key
(storage-and-lifecycle.md §2.3, §2.5), shared by every worker process. (Rate-limit windows
live in ``skysend_adapters.mapped_rates``.)

Every decision that must not race is one statement: an ``INSERT … ON CONFLICT DO UPDATE …
RETURNING`` applies the rule of ``skysend_core.limits_model`` where the row lives. Single
statements run in autocommit mode (each is its own transaction, the cheapest write SQLite
has).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from skysend_adapters.sqlite.database import SqliteDatabase
from skysend_core.limits_model import LockoutEntry, QuotaKey, QuotaUsage

# Get or create, then add: an ended entry (now >= reset_at) starts over empty.
_ADD_USAGE = """
INSERT INTO quota_usage (hashed_ip, bytes_used, reset_at) VALUES (:ip, :size, :now + :window)
ON CONFLICT (hashed_ip) DO UPDATE SET
    bytes_used = CASE WHEN :now < reset_at THEN bytes_used ELSE 0 END + :size,
    reset_at = CASE WHEN :now < reset_at THEN reset_at ELSE excluded.reset_at END
RETURNING bytes_used, reset_at
"""
_QUOTA_KEY_ROWS = "SELECT key, value FROM quota_state WHERE key IN ('hmac_key', 'key_created_at')"
_SET_QUOTA_STATE = (
    "INSERT INTO quota_state (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)

# A lock that has ended counts as no entry: counting restarts at 1.
_FAILURES = (
    "CASE WHEN locked_until IS NOT NULL AND :now >= locked_until THEN 1 ELSE failures + 1 END"
)
_RECORD_FAILURE = f"""
INSERT INTO password_lockouts (key, failures, locked_until)
VALUES (:key, 1, CASE WHEN 1 >= :max THEN :until END)
ON CONFLICT (key) DO UPDATE SET
    failures = {_FAILURES},
    locked_until = CASE WHEN {_FAILURES} >= :max THEN :until END
RETURNING failures, locked_until
"""  # noqa: S608 - built from constants only
_RELEASE = "DELETE FROM password_lockouts WHERE key = ? AND locked_until <= ?"

_CLIENT_KEY = "client_key"


def _one(conn: sqlite3.Connection, sql: str, params: Mapping[str, str | int]) -> sqlite3.Row:
    """Run one ``… RETURNING`` statement to completion (which commits it) and return its row."""
    rows: list[sqlite3.Row] = conn.execute(sql, params).fetchall()
    return rows[0]


def _current_quota_key(conn: sqlite3.Connection, candidate: QuotaKey, now_ms: int) -> QuotaKey:
    """Runs in one write transaction: two processes rotating at once store one key."""
    stored = dict(conn.execute(_QUOTA_KEY_ROWS).fetchall())
    try:
        key = QuotaKey(bytes.fromhex(stored["hmac_key"]), int(stored["key_created_at"]))
    except (KeyError, ValueError):
        key = None  # none yet, or unreadable: replace it
    if key is not None and len(key.key) > 0 and not key.is_due(now_ms):
        return key
    conn.execute("DELETE FROM quota_usage").close()
    conn.executemany(
        _SET_QUOTA_STATE,
        [("hmac_key", candidate.key.hex()), ("key_created_at", str(candidate.created_at))],
    ).close()
    return candidate


class SqliteQuotaStore:
    """``QuotaStore`` on the reference tables ``quota_usage`` and ``quota_state``."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def current_key(self, candidate: QuotaKey, now_ms: int) -> QuotaKey:
        return await self._db.write(lambda conn: _current_quota_key(conn, candidate, now_ms))

    async def usage(self, hashed_ip: str, now_ms: int, window_ms: int) -> QuotaUsage:
        return await self.add(hashed_ip, 0, now_ms, window_ms)

    async def add(self, hashed_ip: str, size: int, now_ms: int, window_ms: int) -> QuotaUsage:
        params: dict[str, str | int] = {
            "ip": hashed_ip,
            "size": size,
            "now": now_ms,
            "window": window_ms,
        }
        row = await self._db.write(lambda conn: _one(conn, _ADD_USAGE, params), transaction=False)
        return QuotaUsage(row[0], row[1])

    async def purge(self, now_ms: int) -> int:
        sql = "DELETE FROM quota_usage WHERE reset_at < ?"
        deleted: int = await self._db.write(
            lambda conn: conn.execute(sql, (now_ms,)).rowcount, transaction=False
        )
        return deleted


class SqliteLockoutStore:
    """``LockoutStore``: a failure is one upsert; a check is one read in the common case."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def locked_until(self, key: str, now_ms: int) -> int | None:
        sql = "SELECT locked_until FROM password_lockouts WHERE key = ?"
        row = await self._db.run(lambda conn: conn.execute(sql, (key,)).fetchone(), quick=True)
        until: int | None = row[0] if row is not None else None
        if until is None:
            return None
        if now_ms < until:
            return until
        # Ended: forget the entry, unless another request has locked it again meanwhile.
        await self._db.write(
            lambda conn: conn.execute(_RELEASE, (key, now_ms)).close(),
            transaction=False,
            quick=True,
        )
        return None

    async def record_failure(
        self, key: str, now_ms: int, max_attempts: int, lockout_ms: int
    ) -> LockoutEntry:
        params: dict[str, str | int] = {
            "key": key,
            "now": now_ms,
            "max": max_attempts,
            "until": now_ms + lockout_ms,
        }
        row = await self._db.write(
            lambda conn: _one(conn, _RECORD_FAILURE, params), transaction=False, quick=True
        )
        return LockoutEntry(row[0], row[1])

    async def reset(self, key: str) -> None:
        sql = "DELETE FROM password_lockouts WHERE key = ?"
        await self._db.write(
            lambda conn: conn.execute(sql, (key,)).close(), transaction=False, quick=True
        )

    async def purge(self, now_ms: int) -> int:
        sql = "DELETE FROM password_lockouts WHERE locked_until <= ?"
        deleted: int = await self._db.write(
            lambda conn: conn.execute(sql, (now_ms,)).rowcount, transaction=False
        )
        return deleted

    async def forget_all(self) -> None:
        await self._db.write(
            lambda conn: conn.execute("DELETE FROM password_lockouts").close(), transaction=False
        )


def _client_key(conn: sqlite3.Connection, candidate: bytes) -> bytes:
    row = conn.execute("SELECT value FROM server_state WHERE key = ?", (_CLIENT_KEY,)).fetchone()
    try:
        stored = bytes.fromhex(row[0]) if row is not None else b""
    except ValueError:
        stored = b""  # unreadable: replace it
    if stored:
        return stored
    conn.execute(
        "INSERT OR REPLACE INTO server_state (key, value) VALUES (?, ?)",
        (_CLIENT_KEY, candidate.hex()),
    ).close()
    return candidate


class SqliteClientKeyStore:
    """``ClientKeyStore``: the key is the ``client_key`` row of ``server_state``."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def client_key(self, candidate: bytes) -> bytes:
        return await self._db.write(lambda conn: _client_key(conn, candidate))

    async def forget_client_key(self) -> None:
        sql = "DELETE FROM server_state WHERE key = ?"
        await self._db.write(
            lambda conn: conn.execute(sql, (_CLIENT_KEY,)).close(), transaction=False
        )
