"""The composition root: the only place that names concrete adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from skysend_core.admin import Admin
from skysend_core.config import Settings, generate_session_secret
from skysend_core.errors import StorageError
from skysend_core.identity import Identity
from skysend_core.lifecycle import Cleanup
from skysend_core.limits import Limits
from skysend_core.notes import Notes
from skysend_core.ports import BlobStore, Clock
from skysend_core.uploads import Files

if TYPE_CHECKING:
    from skysend_adapters.filesystem import FilesystemBlobStore
    from skysend_adapters.s3 import S3BlobStore

log = logging.getLogger(__name__)

#: The rate-limit table, beside the database (``DATA_DIR/db/rate-limits``).
RATE_TABLE = "rate-limits"


@attrs.define
class Wiring:
    """The use-case facades over opened storage, and how to close that storage."""

    files: Files
    notes: Notes
    cleanup: Cleanup
    limits: Limits
    closers: list[Callable[[], Any]] = attrs.Factory(list)

    @property
    def admin(self) -> Admin:
        """The operator's facade over the same repositories and cleanup job."""
        return Admin(self.files.uploads, self.notes.notes, self.cleanup, self.files.clock)

    async def close(self) -> None:
        for close in reversed(self.closers):
            result = close()
            if asyncio.iscoroutine(result):
                await result


@attrs.define
class Services:
    """Everything a running server holds: the use-case facades and their lifecycle.

    Storage is opened in :meth:`start`, on the event loop that will serve requests (one
    per worker process), never at import time; the facades exist from then on.
    """

    settings: Settings
    clock: Clock
    public_config: dict[str, Any]
    open_storage: Callable[[], Awaitable[Wiring]]
    #: Sign-in through OIDC; ``None`` when OIDC is not configured.
    identity: Identity | None = None
    #: Discovery at start-up (oidc.md §2) and how to release the provider's connections.
    warm_up: Callable[[], Coroutine[Any, Any, None]] | None = None
    _wiring: Wiring | None = None
    _task: asyncio.Task[None] | None = None
    _warming: asyncio.Task[None] | None = None

    def _wired(self) -> Wiring:
        if self._wiring is None:
            raise RuntimeError("services are not started")
        return self._wiring

    @property
    def files(self) -> Files:
        return self._wired().files

    @property
    def notes(self) -> Notes:
        return self._wired().notes

    @property
    def limits(self) -> Limits:
        return self._wired().limits

    @property
    def cleanup(self) -> Cleanup:
        return self._wired().cleanup

    async def start(self, *, periodic: bool = True) -> None:
        """Open storage, load the client and quota keys, run one cleanup (a failure aborts
        start-up), start the job."""
        self._wiring = await self.open_storage()
        try:
            await self.limits.start()
            await self.cleanup.run()
        except BaseException:
            await self.stop()
            raise
        if periodic:
            self._task = asyncio.create_task(self._periodic_cleanup())
        if self.warm_up is not None:
            self._warming = asyncio.create_task(self.warm_up())

    async def stop(self) -> None:
        if self._warming is not None:
            self._warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warming
            self._warming = None
        if self.identity is not None:
            await self.identity.provider.aclose()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        wiring, self._wiring = self._wiring, None
        if wiring is not None:
            await wiring.close()

    @contextlib.asynccontextmanager
    async def storage(self) -> AsyncIterator[Wiring]:
        """The facades over opened storage, for an operator's tool (``skysend-cli``): none of
        the start-up work of :meth:`start` (no cleanup run, no client keys, no job), so
        opening changes nothing, whether or not a server is running on the same data."""
        try:
            wiring = await self.open_storage()
            try:
                yield wiring
            finally:
                await wiring.close()
        finally:
            if self.identity is not None:
                await self.identity.provider.aclose()

    async def _periodic_cleanup(self) -> None:
        while True:
            await asyncio.sleep(self.settings.cleanup_interval)
            try:
                await self.cleanup.run()
            except Exception:
                log.exception("cleanup run failed; retrying next interval")


async def open_s3_blobs(settings: Settings, staging: FilesystemBlobStore) -> S3BlobStore:
    """The S3 store of ``STORAGE_BACKEND=s3``, its bucket checked (config.md §10 step 4):
    any failure is a ``StorageError`` that aborts start-up."""
    try:
        from skysend_adapters.s3 import S3BlobStore
    except ImportError as exc:
        raise StorageError(
            "STORAGE_BACKEND=s3 needs the S3 client library: pip install 'skysend[s3]'"
        ) from exc
    store = await S3BlobStore.connect(
        bucket=settings.s3_bucket or "",
        region=settings.s3_region or "",
        endpoint=settings.s3_endpoint,
        access_key=settings.s3_access_key or "",
        secret_key=settings.s3_secret_key or "",
        force_path_style=settings.s3_force_path_style,
        staging=staging,
        part_size=settings.s3_part_size,
        concurrency=settings.s3_concurrency,
        presigned_expiry=settings.s3_presigned_expiry,
    )
    try:
        await store.verify()
    except BaseException:
        await store.aclose()
        raise
    return store


def build(settings: Settings) -> Services:
    """Wire the embedded default: SQLite at ``DATA_DIR/db/skysend.db``, blobs on disk, or in
    an S3 bucket with ``STORAGE_BACKEND=s3`` (parts of unfinished uploads stay on disk)."""
    from skysend_adapters.clock import SystemClock
    from skysend_http.system import public_config

    clock = SystemClock()
    identity, warm_up = None, None
    if settings.oidc_enabled:
        from skysend_adapters.oidc import HttpIdentityProvider, JoseTokenSigner

        if settings.oidc_session_secret is None:  # one process: its own random secret
            settings = attrs.evolve(settings, oidc_session_secret=generate_session_secret())
        provider = HttpIdentityProvider(
            settings.oidc_issuer or "",
            settings.oidc_client_id or "",
            settings.oidc_client_secret or "",
        )
        identity = Identity(
            settings, provider, JoseTokenSigner(settings.oidc_session_secret or ""), clock
        )
        warm_up = provider.warm_up

    async def open_storage() -> Wiring:
        from skysend_adapters.filesystem import FilesystemBlobStore
        from skysend_adapters.mapped_rates import MappedRateLimitStore
        from skysend_adapters.sqlite import (
            SqliteClientKeyStore,
            SqliteDatabase,
            SqliteLockoutStore,
            SqliteNoteRepository,
            SqliteQuotaStore,
            SqliteUploadRepository,
            SqliteUploadSessionStore,
        )

        database = await SqliteDatabase.open(settings.db_path)
        closers: list[Callable[[], Any]] = [database.close]
        try:
            local = FilesystemBlobStore(settings.uploads_dir)
            blobs: BlobStore = local
            if settings.storage_backend == "s3":
                s3_blobs = await open_s3_blobs(settings, staging=local)
                closers.append(s3_blobs.aclose)
                blobs = s3_blobs
            rates = await asyncio.to_thread(
                MappedRateLimitStore.open, Path(settings.db_path).with_name(RATE_TABLE)
            )
        except BaseException:
            for close in reversed(closers):
                await close()
            raise
        uploads = SqliteUploadRepository(database)
        sessions = SqliteUploadSessionStore(database)
        note_repository = SqliteNoteRepository(database)
        limits = Limits(
            settings,
            rates,
            SqliteQuotaStore(database),
            SqliteLockoutStore(database),
            SqliteClientKeyStore(database),
            clock,
        )
        return Wiring(
            files=Files(settings, uploads, sessions, blobs, clock),
            notes=Notes(settings, note_repository, clock),
            limits=limits,
            cleanup=Cleanup(uploads, sessions, blobs, clock, notes=note_repository, limits=limits),
            closers=[*closers, rates.close],
        )

    return Services(
        settings=settings,
        clock=clock,
        public_config=public_config(settings),
        open_storage=open_storage,
        identity=identity,
        warm_up=warm_up,
    )
