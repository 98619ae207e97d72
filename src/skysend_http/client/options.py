"""Checking what the caller asks for against the server's options, before any work is done.

Messages follow the reference CLI (clients.md §1.5) so the CLI can print them as they are.
Violations raise :class:`ValueError` (or :class:`FileNotFoundError`, or
:class:`PasswordRequiredError` for a server that forces passwords).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

from skysend_core.crypto import (
    NOTE_CONTENT_TYPES,
    CodeBlock,
    NoteContentType,
    PasswordEntry,
    SshKeyNote,
    format_code_note,
    format_password_note,
    format_sshkey_note,
    note_plaintext_length,
)
from skysend_http.client.errors import PasswordRequiredError
from skysend_http.client.models import ServerConfig
from skysend_http.client.units import format_bytes, format_options

StrPath: TypeAlias = str | os.PathLike[str]
NoteContent: TypeAlias = str | Sequence[PasswordEntry] | Sequence[CodeBlock] | SshKeyNote


def check_files(files: StrPath | Sequence[StrPath], config: ServerConfig) -> list[Path]:
    """The paths to upload: each must exist and be a regular file."""
    items = [files] if isinstance(files, str | os.PathLike) else list(files)
    if not items:
        raise ValueError("No files to upload")
    paths = [Path(item) for item in items]
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"File not found: {path}")
        if not path.is_file():
            raise ValueError(f"Not a file: {path}")
    limit = config.file_max_files_per_upload
    if limit and len(paths) > limit:
        raise ValueError(f"Too many files ({len(paths)}). Max: {limit}")
    return paths


def check_password(password: str | None, forced: bool) -> str | None:
    if password is not None and not password:
        raise ValueError("Password cannot be empty")
    if forced and password is None:
        raise PasswordRequiredError("Password is required by server policy.")
    return password


def file_options(
    config: ServerConfig, expire_sec: int | None, max_downloads: int | None
) -> tuple[int, int]:
    """``(expire_sec, max_downloads)``, defaults from the server, checked against its options."""
    expire = config.file_default_expire if expire_sec is None else expire_sec
    downloads = config.file_default_download if max_downloads is None else max_downloads
    if expire not in config.file_expire_options:
        options = format_options(config.file_expire_options, "s")
        raise ValueError(f"Invalid expiry. Options: {options}")
    if downloads not in config.file_download_options:
        options = format_options(config.file_download_options)
        raise ValueError(f"Invalid download count. Options: {options}")
    return expire, downloads


def check_payload_size(size: int, encrypted: int, config: ServerConfig) -> None:
    """The server limits the encrypted size; refuse up front what it would refuse."""
    if encrypted > config.file_max_size:
        limit = format_bytes(config.file_max_size)
        raise ValueError(f"File too large ({format_bytes(size)}). Max: {limit}")


def note_options(
    config: ServerConfig, expire_sec: int | None, max_views: int | None
) -> tuple[int, int]:
    """``(expire_sec, max_views)``, defaults from the server, checked against its options."""
    expire = config.note_default_expire if expire_sec is None else expire_sec
    views = config.note_default_views if max_views is None else max_views
    if expire not in config.note_expire_options:
        options = format_options(config.note_expire_options, "s")
        raise ValueError(f"Invalid expiry. Options: {options}")
    if views not in config.note_view_options:
        options = format_options(config.note_view_options)
        raise ValueError(f"Invalid view count. Options: {options}")
    return expire, views


def check_note_size(text: str, config: ServerConfig) -> None:
    if not text:
        raise ValueError("Note content cannot be empty")
    length = note_plaintext_length(text)
    if length > config.note_max_size:
        limit = format_bytes(config.note_max_size)
        raise ValueError(f"Note too large ({length} bytes). Max: {limit}")


def note_plaintext(
    content: NoteContent, content_type: NoteContentType | str | None = None
) -> tuple[NoteContentType, str]:
    """The content type and plaintext of a note; structured content is formatted as the web
    app writes it (crypto.md §8.1). A ``str`` is used verbatim."""
    kind: str
    if isinstance(content, str):
        kind, text = content_type or "text", content
    elif isinstance(content, SshKeyNote):
        kind, text = content_type or "sshkey", format_sshkey_note(content)
    else:
        items = list(content)
        passwords = [item for item in items if isinstance(item, PasswordEntry)]
        blocks = [item for item in items if isinstance(item, CodeBlock)]
        if items and len(passwords) == len(items):
            kind, text = content_type or "password", format_password_note(passwords)
        elif items and len(blocks) == len(items):
            kind, text = content_type or "code", format_code_note(blocks)
        else:
            raise TypeError("note content: a str, PasswordEntry or CodeBlock items, or SshKeyNote")
    for known in NOTE_CONTENT_TYPES:
        if kind == known:
            return known, text
    options = ", ".join(NOTE_CONTENT_TYPES)
    raise ValueError(f"Invalid content type: {kind}. Options: {options}")
