"""``skysend info <url>``: what the server says about a share, consuming nothing.

Not a command of the reference CLI. Files: ``GET /api/info/:id`` (sizes, downloads,
expiry, password flag, file count) and, when the link carries its key, the decrypted
metadata (file names and sizes). The metadata key derives from the raw secret, so for a
password-protected file the names need the password (``-p``), checked with
``POST /api/password/:id`` as a download does; without it the server's facts are shown
alone. Notes: ``GET /api/note/:id`` (type, views, expiry, password flag); their content
cannot be read without consuming a view, so ``info`` never decrypts it.
"""

from __future__ import annotations

import argparse
import time
from typing import Any
from urllib.parse import urlsplit

from skysend_core.crypto import (
    ArchiveMetadata,
    Metadata,
    ShareLocation,
    ShareUrl,
    SingleFileMetadata,
    parse_share_location,
    parse_share_url,
    plaintext_size,
)
from skysend_http.client import Client, NoteInfo, UploadInfo
from skysend_http.client.units import format_bytes
from skysend_http.client_cli.common import open_client, password_arg
from skysend_http.client_cli.local import LocalStore, parse_iso
from skysend_http.client_cli.local_commands import format_left
from skysend_http.client_cli.output import Output
from skysend_http.client_cli.prompt import UsageError


def show(args: argparse.Namespace, output: Output) -> None:
    location = parse_share_location(args.url)
    share = parse_share_url(args.url) if urlsplit(args.url.strip()).fragment else None
    if location.kind == "note" and args.password is not None:
        raise UsageError("-p/--password applies to file links only (a note shows no content)")
    with open_client(location.server, LocalStore()) as client:
        if location.kind == "note":
            _show_note(client.note_info(location.item_id, server=location.server), output)
        else:
            _show_file(client, location, share, args.password, output)


def _show_file(
    client: Client,
    location: ShareLocation,
    share: ShareUrl | None,
    password_option: object,
    output: Output,
) -> None:
    info = client.info(location.item_id, server=location.server)
    metadata: Metadata | None = None
    hidden = "the link carries no key" if share is None else "no metadata stored"
    if share is not None and info.encrypted_meta is not None:
        password = None
        if info.has_password:
            password = password_arg(password_option, "Password: ", "Password cannot be empty")
        if info.has_password and password is None:
            hidden = "password protected: give -p to show them"
        else:
            metadata = client.prepare_download(share, password=password, info=info).metadata
    files = _files(metadata)
    size = metadata.size if isinstance(metadata, SingleFileMetadata) else plaintext_size(info.size)
    if output.json_mode:
        output.result(
            {
                "type": "file",
                "id": info.id,
                "size": size,
                "encryptedSize": info.size,
                "fileCount": info.file_count,
                "downloadCount": info.download_count,
                "maxDownloads": info.max_downloads,
                "hasPassword": info.has_password,
                "expiresAt": info.expires_at,
                "createdAt": info.created_at,
                "files": files,
            }
        )
        return
    output.info(f"File: {info.id}")
    if files is None:
        output.info(f"Names: ({hidden})")
    elif isinstance(metadata, ArchiveMetadata):
        output.info(f"Archive of {len(files)} files:")
        for entry in files:
            output.info(f"  {entry['name']} ({format_bytes(entry['size'])})")
    else:
        output.info(f"Name: {files[0]['name']}")
    output.info(f"Size: {format_bytes(size)} | Files: {info.file_count}")
    output.info(f"Downloads: {info.download_count} of {info.max_downloads}")
    _common(info, output)


def _files(metadata: Metadata | None) -> list[dict[str, Any]] | None:
    if isinstance(metadata, SingleFileMetadata):
        return [{"name": metadata.name, "size": metadata.size}]
    if isinstance(metadata, ArchiveMetadata):
        return [{"name": entry.name, "size": entry.size} for entry in metadata.files]
    return None


def _show_note(info: NoteInfo, output: Output) -> None:
    if output.json_mode:
        output.result(
            {
                "type": "note",
                "id": info.id,
                "contentType": info.content_type,
                "viewCount": info.view_count,
                "maxViews": info.max_views,
                "hasPassword": info.has_password,
                "expiresAt": info.expires_at,
                "createdAt": info.created_at,
            }
        )
        return
    output.info(f"Note: {info.id}")
    output.info(f"Type: {info.content_type}")
    limit = "unlimited" if info.max_views == 0 else str(info.max_views)
    output.info(f"Views: {info.view_count} of {limit}")
    _common(info, output)


def _common(info: UploadInfo | NoteInfo, output: Output) -> None:
    expires = parse_iso(info.expires_at)
    left = format_left(expires - time.time()) if expires is not None else ""
    when = f" (in {left})" if left and left != "expired" else f" ({left})" if left else ""
    output.info(f"Expires: {info.expires_at}{when}")
    output.info(f"Created: {info.created_at}")
    output.info(f"Password protected: {'yes' if info.has_password else 'no'}")
