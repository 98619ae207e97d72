"""Builders of valid entities for the adapter contract suites."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from skysend_adapters.filesystem import FilesystemBlobStore
from skysend_adapters.s3 import S3BlobStore
from skysend_core.upload_params import UploadParams
from skysend_core.uploads_model import Upload, UploadSession
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, Bucket, S3Server

MIB = 1024 * 1024
NOW_MS = 1_750_000_000_123


def new_id() -> str:
    return str(uuid.uuid4())


def make_params(
    *,
    content_length: int = 10 * MIB,
    has_password: bool = False,
    max_downloads: int = 5,
) -> UploadParams:
    return UploadParams(
        auth_token=hashlib.sha256(b"auth").digest(),
        owner_token=hashlib.sha256(b"owner").digest(),
        salt=bytes(range(16)),
        max_downloads=max_downloads,
        expire_sec=3600,
        file_count=3,
        content_length=content_length,
        has_password=has_password,
        password_salt=bytes(range(100, 116)) if has_password else None,
        password_algo="argon2id-v2" if has_password else None,
    )


def make_upload(
    *,
    upload_id: str | None = None,
    max_downloads: int = 5,
    download_count: int = 0,
    expires_at: int = NOW_MS // 1000 + 3600,
    with_password: bool = False,
    with_meta: bool = False,
) -> Upload:
    return Upload(
        id=upload_id or new_id(),
        owner_token=hashlib.sha256(b"owner").digest(),
        auth_token=hashlib.sha256(b"auth").digest(),
        salt=bytes(range(32)),
        size=123_456_789,
        file_count=4,
        has_password=with_password,
        password_salt=bytes(range(16)) if with_password else None,
        password_algo="argon2id-v2" if with_password else None,
        max_downloads=max_downloads,
        expires_at=expires_at,
        created_at=NOW_MS // 1000,
        download_count=download_count,
        encrypted_meta=b"\x00meta\xff" * 10 if with_meta else None,
        nonce=bytes(12) if with_meta else None,
    )


def make_session(
    *,
    transport: str = "http",
    content_length: int = 10 * MIB,
    now_ms: int = NOW_MS,
    has_password: bool = False,
) -> UploadSession:
    params = make_params(content_length=content_length, has_password=has_password)
    return UploadSession.start(new_id(), transport, params, now_ms)


@contextlib.asynccontextmanager
async def s3_store(
    server: S3Server, staging: Path, *, part_size: int = 5 * MIB, concurrency: int = 2
) -> AsyncIterator[tuple[S3BlobStore, Bucket]]:
    """An ``S3BlobStore`` on a new bucket of ``server``, staging parts under ``staging``."""
    bucket = server.new_bucket()
    store = await S3BlobStore.connect(
        bucket=bucket.name,
        region=REGION,
        endpoint=server.endpoint,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        force_path_style=True,
        staging=FilesystemBlobStore(staging),
        part_size=part_size,
        concurrency=concurrency,
        presigned_expiry=300,
    )
    try:
        yield store, bucket
    finally:
        await store.aclose()
