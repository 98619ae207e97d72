"""SQLite adapters: the database handle and the repositories built on it."""

from skysend_adapters.sqlite.database import SqliteDatabase
from skysend_adapters.sqlite.limits import (
    SqliteClientKeyStore,
    SqliteLockoutStore,
    SqliteQuotaStore,
)
from skysend_adapters.sqlite.notes import SqliteNoteRepository
from skysend_adapters.sqlite.sessions import SqliteUploadSessionStore
from skysend_adapters.sqlite.uploads import SqliteUploadRepository

__all__ = [
    "SqliteClientKeyStore",
    "SqliteDatabase",
    "SqliteLockoutStore",
    "SqliteNoteRepository",
    "SqliteQuotaStore",
    "SqliteUploadRepository",
    "SqliteUploadSessionStore",
]
