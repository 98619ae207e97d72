"""Downloading and decrypting a file share to disk (http-api.md §2.11, crypto.md §6.3).

The payload is decrypted as it streams in and written to a hidden temporary file next to
the target. Only when :meth:`Decryptor.finalize` has accepted the whole stream (every tag,
the final record and the expected length) is the file renamed into place, so a tampered,
truncated or interrupted download never leaves a partial file under the real name, nor the
folders it created for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import BinaryIO

import attrs
import httpx

from skysend_core.crypto import (
    ARCHIVE_FILE_NAME,
    ArchiveMetadata,
    Decryptor,
    ItemKeys,
    Metadata,
    ShareUrl,
    SingleFileMetadata,
    plaintext_size,
    safe_file_name,
)
from skysend_http.client._http import (
    ProgressCounter,
    api_url,
    raise_for_status,
    translate_transport_errors,
)
from skysend_http.client.errors import InvalidResponseError
from skysend_http.client.models import DownloadResult, UploadInfo
from skysend_http.client.shares import key_refusal_is_a_wrong_link


@attrs.frozen
class PreparedDownload:
    """A file share whose keys are derived (and password checked): ready to download.

    Obtained from :meth:`AsyncClient.prepare_download`; nothing was consumed yet.
    """

    share: ShareUrl
    info: UploadInfo
    keys: ItemKeys = attrs.field(repr=False)
    metadata: Metadata | None

    @property
    def name(self) -> str:
        """The file name to save under: the metadata name (final component only),
        ``archive.zip`` for archives, ``download-<id>`` without metadata."""
        fallback = f"download-{safe_file_name(self.info.id, 'file')}"
        if isinstance(self.metadata, SingleFileMetadata):
            return safe_file_name(self.metadata.name, fallback)
        if isinstance(self.metadata, ArchiveMetadata):
            return ARCHIVE_FILE_NAME
        return fallback

    @property
    def expected_size(self) -> int:
        """Plaintext length to insist on: the authenticated ``metadata.size`` of a single
        file, otherwise the length implied by the stored encrypted size."""
        if isinstance(self.metadata, SingleFileMetadata):
            return self.metadata.size
        return plaintext_size(self.info.size)

    @property
    def file_count(self) -> int:
        if isinstance(self.metadata, ArchiveMetadata):
            return len(self.metadata.files)
        return self.info.file_count


def resolve_target(dest: str | os.PathLike[str] | None, name: str) -> Path:
    """``dest`` as a file path, or ``dest/name`` when it is an existing directory or ends
    with a path separator (a folder to create)."""
    if dest is None:
        return Path.cwd() / name
    text = os.fspath(dest)
    path = Path(text).expanduser()
    folder = text.endswith(("/", os.sep)) or path.is_dir()
    return path / name if folder else path


async def save_download(
    http: httpx.AsyncClient,
    prepared: PreparedDownload,
    dest: str | os.PathLike[str] | None,
    counter: ProgressCounter | None,
) -> DownloadResult:
    target = resolve_target(dest, prepared.name)
    created = missing_folders(target.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name[:200]}.{secrets.token_hex(4)}.part")
    decryptor = Decryptor(prepared.keys.file_key, expected_size=prepared.expected_size)
    try:
        with temp.open("xb") as out:
            await _fetch(http, prepared, decryptor, out, counter)
            out.write(decryptor.finalize())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        remove_empty_folders(created)
        raise
    return DownloadResult(
        id=prepared.info.id,
        path=target,
        name=prepared.name,
        size=decryptor.plaintext_length,
        file_count=prepared.file_count,
        metadata=prepared.metadata,
    )


def missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, innermost first."""
    missing: list[Path] = []
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return missing


def remove_empty_folders(folders: list[Path]) -> None:
    """Undo :func:`missing_folders`' creations after a failed download, innermost first;
    a folder something else has put a file into meanwhile is kept."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


async def _fetch(
    http: httpx.AsyncClient,
    prepared: PreparedDownload,
    decryptor: Decryptor,
    out: BinaryIO,
    counter: ProgressCounter | None,
) -> None:
    url = api_url(prepared.share.server, "download", prepared.info.id)
    headers = {"X-Auth-Token": prepared.keys.auth_token_b64u}
    with translate_transport_errors():
        async with http.stream("GET", url, headers=headers) as response:
            with key_refusal_is_a_wrong_link():
                await raise_for_status(response)
            if "application/json" not in response.headers.get("content-type", ""):
                await _pump(response, decryptor, out, counter)
                return
            redirect = _presigned_url(await response.aread())
        # Object storage: fetch the presigned URL directly, without SkySend headers.
        async with http.stream("GET", redirect) as response:
            await raise_for_status(response)
            await _pump(response, decryptor, out, counter)


async def _pump(
    response: httpx.Response,
    decryptor: Decryptor,
    out: BinaryIO,
    counter: ProgressCounter | None,
) -> None:
    async for piece in response.aiter_raw():
        if plaintext := decryptor.update(piece):
            out.write(plaintext)
        if counter is not None:
            counter.add(len(piece))


def _presigned_url(content: bytes) -> str:
    try:
        data = json.loads(content)
    except ValueError:
        raise InvalidResponseError("download answer is JSON but not valid") from None
    url = data.get("url") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise InvalidResponseError("download answer has no usable url")
    return url
