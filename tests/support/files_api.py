"""Client-side helpers for the file API tests: credentials, upload headers, uploads.

Everything here speaks plain HTTP through httpx, exactly as a client of the documented
contract would; nothing reaches into the server.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import httpx

MIB = 1024 * 1024


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def token() -> str:
    """A fresh 32-byte token as real clients send it (43 base64url characters)."""
    return b64url(secrets.token_bytes(32))


@attrs.frozen
class Credentials:
    auth: str = attrs.field(factory=token)
    owner: str = attrs.field(factory=token)
    salt: str = attrs.field(factory=lambda: b64url(secrets.token_bytes(32)))


def upload_headers(
    size: int,
    creds: Credentials | None = None,
    *,
    max_downloads: int = 1,
    expire_sec: int = 3600,
    file_count: int | None = None,
    password_salt: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """The §1.15 headers of a valid upload; ``extra`` adds or overrides headers verbatim
    (keys with underscores are written with dashes: ``X_Salt`` -> ``X-Salt``)."""
    creds = creds or Credentials()
    headers = {
        "X-Auth-Token": creds.auth,
        "X-Owner-Token": creds.owner,
        "X-Salt": creds.salt,
        "X-Max-Downloads": str(max_downloads),
        "X-Expire-Sec": str(expire_sec),
        "X-Content-Length": str(size),
    }
    if file_count is not None:
        headers["X-File-Count"] = str(file_count)
    if password_salt is not None:
        headers |= {
            "X-Has-Password": "true",
            "X-Password-Salt": password_salt,
            "X-Password-Algo": "argon2id-v2",
        }
    headers |= {name.replace("_", "-"): value for name, value in extra.items()}
    return headers


def without(headers: Mapping[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in names}


@attrs.frozen
class Stored:
    """A completed upload as its owner knows it."""

    id: str
    creds: Credentials
    data: bytes

    @property
    def auth(self) -> dict[str, str]:
        return {"X-Auth-Token": self.creds.auth}

    @property
    def owner(self) -> dict[str, str]:
        return {"X-Owner-Token": self.creds.owner}


def payload(size: int) -> bytes:
    return os.urandom(size)


def upload(
    client: httpx.Client,
    data: bytes | None = None,
    *,
    size: int = 1000,
    creds: Credentials | None = None,
    **options: Any,
) -> Stored:
    """A single-request upload that must succeed."""
    body = payload(size) if data is None else data
    creds = creds or Credentials()
    response = client.post(
        "/api/upload",
        content=body,
        headers=upload_headers(len(body), creds, **options),
    )
    assert response.status_code == 200, response.text
    return Stored(response.json()["id"], creds, body)


def init_chunked(
    client: httpx.Client, size: int, creds: Credentials | None = None, **options: Any
) -> tuple[str, Credentials]:
    creds = creds or Credentials()
    response = client.post(
        "/api/upload/init",
        headers=upload_headers(size, creds, **options),
    )
    assert response.status_code == 201, response.text
    return response.json()["id"], creds


def send_chunk(
    client: httpx.Client, upload_id: str, index: int | str, data: bytes
) -> httpx.Response:
    return client.post(f"/api/upload/{upload_id}/chunk", params={"index": str(index)}, content=data)


def finalize(client: httpx.Client, upload_id: str, creds: Credentials) -> httpx.Response:
    return client.post(f"/api/upload/{upload_id}/finalize", headers={"X-Owner-Token": creds.owner})


def chunked_upload(client: httpx.Client, data: bytes, chunk_size: int, **options: Any) -> Stored:
    """A chunked upload (init, chunks in order, finalize) that must succeed."""
    upload_id, creds = init_chunked(client, len(data), **options)
    for index, start in enumerate(range(0, len(data), chunk_size)):
        response = send_chunk(client, upload_id, index, data[start : start + chunk_size])
        assert response.status_code == 200, response.text
    response = finalize(client, upload_id, creds)
    assert response.status_code == 200, response.text
    return Stored(upload_id, creds, data)


def download(client: httpx.Client, stored: Stored) -> httpx.Response:
    return client.get(f"/api/download/{stored.id}", headers=stored.auth)


def pieces(total: int, piece: int = MIB, seed: bytes = b"") -> Iterator[bytes]:
    """A deterministic body of ``total`` bytes produced piece by piece (never whole)."""
    block = hashlib.sha256(seed).digest() * (piece // 32 + 1)
    sent = 0
    counter = 0
    while sent < total:
        size = min(piece, total - sent)
        head = counter.to_bytes(8, "big")
        yield (head + block[: size - 8]) if size > 8 else head[:size]
        sent += size
        counter += 1


def pieces_digest(total: int, piece: int = MIB, seed: bytes = b"") -> str:
    digest = hashlib.sha256()
    for part in pieces(total, piece, seed):
        digest.update(part)
    return digest.hexdigest()


# -- looking at the server's storage (read-only) ---------------------------------------


def db_path(data_dir: Path) -> Path:
    return data_dir / "db" / "skysend.db"


def uploads_dir(data_dir: Path) -> Path:
    return data_dir / "uploads"


def query(data_dir: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run a read-only query against the server's live database file."""
    uri = f"file:{db_path(data_dir)}?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def write_db(data_dir: Path, sql: str, params: tuple[object, ...] = ()) -> None:
    """Change the live database as another process would (to simulate time passing)."""
    conn = sqlite3.connect(db_path(data_dir), timeout=10)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()


def stored_files(data_dir: Path) -> list[str]:
    """Every file under the uploads folder, relative, sorted."""
    root = uploads_dir(data_dir)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def temp_files(data_dir: Path) -> list[str]:
    return [name for name in stored_files(data_dir) if Path(name).name.startswith(".tmp")]
