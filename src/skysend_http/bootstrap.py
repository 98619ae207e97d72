"""The composition root: the only place that names concrete adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import attrs

from skysend_core.config import Settings
from skysend_core.lifecycle import Cleanup
from skysend_core.ports import Clock
from skysend_core.uploads import Files

log = logging.getLogger(__name__)


@attrs.define
class Services:
    """Everything a running server holds: the use-case facades and their lifecycle."""

    settings: Settings
    clock: Clock
    files: Files
    cleanup: Cleanup
    public_config: dict[str, Any]
    closers: list[Any] = attrs.Factory(list)
    _task: asyncio.Task[None] | None = None

    async def start(self, *, periodic: bool = True) -> None:
        """Prepare storage, run one cleanup (a failure aborts start-up), start the job."""
        await self.cleanup.run()
        if periodic:
            self._task = asyncio.create_task(self._periodic_cleanup())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for close in reversed(self.closers):
            result = close()
            if asyncio.iscoroutine(result):
                await result
        self.closers.clear()

    async def _periodic_cleanup(self) -> None:
        while True:
            await asyncio.sleep(self.settings.cleanup_interval)
            try:
                await self.cleanup.run()
            except Exception:
                log.exception("cleanup run failed; retrying next interval")


def build(settings: Settings) -> Services:
    """Wire the embedded default: SQLite at ``DATA_DIR/db/skysend.db``, blobs on disk."""
    from skysend_adapters.clock import SystemClock
    from skysend_adapters.filesystem import FilesystemBlobStore
    from skysend_adapters.sqlite import (
        SqliteDatabase,
        SqliteUploadRepository,
        SqliteUploadSessionStore,
    )
    from skysend_http.system import public_config

    clock = SystemClock()
    database = SqliteDatabase(settings.db_path)
    uploads = SqliteUploadRepository(database)
    sessions = SqliteUploadSessionStore(database)
    blobs = FilesystemBlobStore(settings.uploads_dir)
    files = Files(settings, uploads, sessions, blobs, clock)
    cleanup = Cleanup(uploads, sessions, blobs, clock)
    return Services(
        settings=settings,
        clock=clock,
        files=files,
        cleanup=cleanup,
        public_config=public_config(settings),
        closers=[database.close],
    )
