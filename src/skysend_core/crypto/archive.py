"""Multi-file archive conventions (crypto.md §9).

Several files are uploaded as one standard ZIP archive, encrypted as the payload, with
``X-File-Count`` = number of files and :class:`~.metadata.ArchiveMetadata`. Byte equality
with the reference archive is not required, so there is no byte format to pin down here:
building the ZIP (``zipfile`` with ``ZIP_DEFLATED``) needs files and belongs to the client
layer. This module holds the conventions it should follow.
"""

from __future__ import annotations

from typing import Final

ARCHIVE_FILE_NAME: Final = "archive.zip"
"""Name under which recipients save a decrypted archive payload."""

MAX_ARCHIVE_SIZE: Final = 2**32 - 1
"""No ZIP64: the reference clients write archives below 4 GiB only."""

STORED_COMPRESSION_LEVEL: Final = 0
DEFAULT_COMPRESSION_LEVEL: Final = 6

# fmt: off
INCOMPRESSIBLE_EXTENSIONS: Final = frozenset((
    "mp3", "aac", "ogg", "oga", "flac", "m4a", "opus", "wma",
    "mp4", "mkv", "avi", "mov", "wmv", "flv", "webm", "m4v", "3gp",
    "jpg", "jpeg", "png", "gif", "webp", "heic", "heif", "avif",
    "zip", "gz", "bz2", "xz", "7z", "rar", "zst", "br",
    "pdf", "docx", "xlsx", "pptx", "odt", "ods", "odp", "epub",
))
# fmt: on
"""Extensions (lower-case, after the last dot) of already-compressed formats."""


def compression_level(name: str) -> int:
    """DEFLATE level the reference uses for an entry: 0 for compressed formats, else 6."""
    _, dot, extension = name.rpartition(".")
    if dot and extension.lower() in INCOMPRESSIBLE_EXTENSIONS:
        return STORED_COMPRESSION_LEVEL
    return DEFAULT_COMPRESSION_LEVEL
