"""Multi-file payloads: a standard ZIP of base names, DEFLATE, level 0 for compressed formats."""

from __future__ import annotations

import zipfile
from pathlib import Path

from skysend_core.crypto import ArchiveEntry
from skysend_http.client.archive import archive_names, build_archive


def test_duplicate_base_names_are_made_unique() -> None:
    paths = [Path("a/x.txt"), Path("b/x.txt"), Path("c/x.txt"), Path("README")]
    assert archive_names(paths) == ["x.txt", "x (2).txt", "x (3).txt", "README"]


def test_build_archive_streams_files_into_a_readable_zip(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    text = tmp_path / "notes.txt"
    text.write_text("hello " * 1000)
    photo = tmp_path / "d" / "notes.txt"
    photo.write_bytes(b"\x00" * 5000)
    jpeg = tmp_path / "photo.JPG"
    jpeg.write_bytes(bytes(range(256)) * 10)
    seen: list[int] = []

    archive, metadata = build_archive(
        [text, photo, jpeg], str(tmp_path), lambda done, _total: seen.append(done)
    )

    try:
        assert metadata.files == (
            ArchiveEntry("notes.txt", 6000),
            ArchiveEntry("notes (2).txt", 5000),
            ArchiveEntry("photo.JPG", 2560),
        )
        assert metadata.total_size == 13560
        assert seen[-1] == 13560
        with zipfile.ZipFile(archive) as zf:
            assert zf.testzip() is None
            infos = {info.filename: info for info in zf.infolist()}
            assert zf.read("notes.txt") == text.read_bytes()
            assert zf.read("notes (2).txt") == photo.read_bytes()
            assert zf.read("photo.JPG") == jpeg.read_bytes()
            assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in infos.values())
            # level 0: stored blocks inside DEFLATE, so no smaller than the input
            assert infos["photo.JPG"].compress_size >= 2560
            assert infos["notes.txt"].compress_size < 6000
    finally:
        archive.unlink()
