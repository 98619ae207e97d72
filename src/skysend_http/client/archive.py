"""Packing several files into one ZIP payload (crypto.md §9), streamed to a temporary file.

Entries are DEFLATE-compressed, at level 0 for already-compressed formats and 6 otherwise
(:func:`skysend_core.crypto.compression_level`), under their base names; no ZIP64, so the
archive stays below 4 GiB. Files are copied in 1 MiB pieces: memory stays flat whatever
their size. The archive's final length must be known before encryption starts (it fixes
``X-Content-Length``), hence a temporary file rather than a pipe.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from skysend_core.crypto import (
    DEFAULT_MIME_TYPE,
    MAX_ARCHIVE_SIZE,
    ArchiveEntry,
    ArchiveMetadata,
    Metadata,
    SingleFileMetadata,
    compression_level,
)
from skysend_http.client._http import ProgressCounter
from skysend_http.client.models import ProgressCallback

COPY_SIZE = 1024 * 1024


def archive_names(paths: Sequence[Path]) -> list[str]:
    """Base names, made unique (``a.txt``, ``a (2).txt``) so no entry shadows another."""
    seen: set[str] = set()
    names = []
    for path in paths:
        name = path.name
        stem, dot, suffix = name.rpartition(".")
        if not stem:
            stem, dot, suffix = name, "", ""
        counter = 1
        while name in seen:
            counter += 1
            name = f"{stem} ({counter}){dot}{suffix}"
        seen.add(name)
        names.append(name)
    return names


def build_archive(
    paths: Sequence[Path],
    directory: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Path, ArchiveMetadata]:
    """Write the ZIP of ``paths`` to a new temporary file; the caller deletes it.

    ``progress(done, total)`` counts input bytes. Raises :class:`ValueError` when the
    archive would need ZIP64.
    """
    sizes = [path.stat().st_size for path in paths]
    total = sum(sizes)
    if total >= MAX_ARCHIVE_SIZE:
        raise ValueError("Files too large to pack into one archive (4 GiB limit)")
    names = archive_names(paths)
    fd, temp_name = tempfile.mkstemp(prefix="skysend-", suffix=".zip", dir=directory)
    target = Path(temp_name)
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            zipfile.ZipFile(
                raw, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=False
            ) as archive,
        ):
            done = 0
            for path, name in zip(paths, names, strict=True):
                done = _add(archive, path, name, done, total, progress)
        if target.stat().st_size >= MAX_ARCHIVE_SIZE:
            raise ValueError("Archive too large (4 GiB limit)")
    except (zipfile.LargeZipFile, RuntimeError) as exc:
        target.unlink(missing_ok=True)
        raise ValueError("Archive too large (4 GiB limit)") from exc
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    entries = [ArchiveEntry(name=n, size=s) for n, s in zip(names, sizes, strict=True)]
    return target, ArchiveMetadata.of(entries)


def _add(
    archive: zipfile.ZipFile,
    path: Path,
    name: str,
    done: int,
    total: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    # ZipFile.open(name, "w") takes the archive-wide level; set it per entry.
    archive.compresslevel = compression_level(name)
    with path.open("rb") as source, archive.open(name, "w") as entry:
        while piece := source.read(COPY_SIZE):
            entry.write(piece)
            done += len(piece)
            if progress is not None:
                progress(done, total)
    return done


async def payload_source(
    paths: Sequence[Path], progress: ProgressCallback | None, temp_dir: str | None
) -> tuple[Path, Metadata, bool]:
    """The file to encrypt, its metadata, and whether it is a temporary archive to delete.

    One file is its own payload; several are packed (in a worker thread) first.
    """
    if len(paths) == 1:
        path = paths[0]
        mime_type = mimetypes.guess_type(path.name)[0] or DEFAULT_MIME_TYPE
        return path, SingleFileMetadata(path.name, path.stat().st_size, mime_type), False
    total = sum(path.stat().st_size for path in paths)
    counter = ProgressCounter(progress, "packing", total)
    loop = asyncio.get_running_loop()

    def advance(done: int) -> None:  # on the loop's thread
        counter.add(done - counter.done)

    def report(done: int, _total: int) -> None:  # on the packing thread
        loop.call_soon_threadsafe(advance, done)

    archive, metadata = await asyncio.to_thread(build_archive, paths, temp_dir, report)
    return archive, metadata, True
