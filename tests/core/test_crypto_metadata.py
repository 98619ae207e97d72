"""Metadata schemas, JSON form and encryption (crypto.md §7); archive conventions (§9)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skysend_core.crypto import (
    ARCHIVE_FILE_NAME,
    MAX_ARCHIVE_SIZE,
    ArchiveEntry,
    ArchiveMetadata,
    IntegrityError,
    SingleFileMetadata,
    b64_decode,
    compression_level,
    decrypt_metadata,
    encrypt_metadata,
    metadata_to_json,
    safe_file_name,
)

META_KEY = bytes(range(32))
IV = bytes(range(12))


def seal_raw(document: bytes) -> bytes:
    return AESGCM(META_KEY).encrypt(IV, document, None)


def test_single_file_json_is_compact_and_ordered() -> None:
    metadata = SingleFileMetadata(name='a "q" \\ \n 日本.txt', size=0)
    expected = (
        '{"type":"single","name":"a \\"q\\" \\\\ \\n 日本.txt","size":0,'
        '"mimeType":"application/octet-stream"}'
    )
    assert metadata_to_json(metadata) == expected.encode()


def test_archive_json_is_compact_and_ordered() -> None:
    metadata = ArchiveMetadata.of([ArchiveEntry("photos/ä.jpg", 524288), ArchiveEntry("b", 12)])
    assert metadata.total_size == 524300
    expected = (
        '{"type":"archive","files":[{"name":"photos/ä.jpg","size":524288},'
        '{"name":"b","size":12}],"totalSize":524300}'
    )
    assert metadata_to_json(metadata) == expected.encode()


@pytest.mark.parametrize(
    "metadata",
    [
        SingleFileMetadata("document.pdf", 1048576, "application/pdf"),
        SingleFileMetadata("x", 0, ""),
        ArchiveMetadata.of([ArchiveEntry("a", 1), ArchiveEntry("b/c", 0)]),
        ArchiveMetadata(files=[], total_size=0),
    ],
)
def test_round_trip(metadata: SingleFileMetadata | ArchiveMetadata) -> None:
    encrypted = encrypt_metadata(META_KEY, metadata)
    assert len(encrypted.iv) == 12
    assert b64_decode(encrypted.nonce_b64) == encrypted.iv
    assert b64_decode(encrypted.encrypted_meta_b64) == encrypted.ciphertext
    assert encrypted.encrypted_meta_b64.endswith("=") or len(encrypted.ciphertext) % 3 == 0
    assert decrypt_metadata(META_KEY, encrypted.ciphertext, encrypted.iv) == metadata


def test_fresh_iv_each_time() -> None:
    metadata = SingleFileMetadata("a", 1)
    assert encrypt_metadata(META_KEY, metadata).iv != encrypt_metadata(META_KEY, metadata).iv


@pytest.mark.parametrize(
    "make",
    [
        lambda: SingleFileMetadata("", 1),
        lambda: SingleFileMetadata("a", -1),
        lambda: SingleFileMetadata("a", True),
        lambda: SingleFileMetadata("a", 1.0),  # type: ignore[arg-type]
        lambda: ArchiveEntry("", 0),
        lambda: ArchiveMetadata(files=(), total_size=-5),
    ],
)
def test_schema_classes_validate(make: object) -> None:
    with pytest.raises(ValueError, match="must be"):
        make()  # type: ignore[operator]


def test_archive_rejects_foreign_entries() -> None:
    with pytest.raises(TypeError):
        ArchiveMetadata(files=[{"name": "a", "size": 1}], total_size=1)  # type: ignore[list-item]


def test_unknown_fields_are_dropped_and_integral_floats_accepted() -> None:
    document = {
        "type": "archive",
        "extra": [1, 2],
        "files": [{"name": "a", "size": 1e3, "mtime": 5}],
        "totalSize": 1000.0,
    }
    metadata = decrypt_metadata(META_KEY, seal_raw(json.dumps(document).encode()), IV)
    assert metadata == ArchiveMetadata(files=(ArchiveEntry("a", 1000),), total_size=1000)


INVALID_DOCUMENTS = [
    b"",
    b"not json",
    b"[]",
    b'"single"',
    b"{}",
    b'{"type":"folder","name":"a","size":1,"mimeType":""}',
    b'{"type":"single","size":1,"mimeType":""}',
    b'{"type":"single","name":"","size":1,"mimeType":""}',
    b'{"type":"single","name":7,"size":1,"mimeType":""}',
    b'{"type":"single","name":"a","mimeType":""}',
    b'{"type":"single","name":"a","size":-1,"mimeType":""}',
    b'{"type":"single","name":"a","size":"1","mimeType":""}',
    b'{"type":"single","name":"a","size":true,"mimeType":""}',
    b'{"type":"single","name":"a","size":1.5,"mimeType":""}',
    b'{"type":"single","name":"a","size":NaN,"mimeType":""}',
    b'{"type":"single","name":"a","size":Infinity,"mimeType":""}',
    b'{"type":"single","name":"a","size":1}',
    b'{"type":"single","name":"a","size":1,"mimeType":null}',
    b'{"type":"archive","totalSize":0}',
    b'{"type":"archive","files":{},"totalSize":0}',
    b'{"type":"archive","files":["a"],"totalSize":0}',
    b'{"type":"archive","files":[{"name":"a"}],"totalSize":0}',
    b'{"type":"archive","files":[{"name":"","size":1}],"totalSize":1}',
    b'{"type":"archive","files":[],"totalSize":-1}',
    b'{"type":"archive","files":[]}',
    b"[" * 100_000 + b"]" * 100_000,
]


@pytest.mark.parametrize("document", INVALID_DOCUMENTS, ids=range(len(INVALID_DOCUMENTS)))
def test_invalid_plaintext_is_an_integrity_error(document: bytes) -> None:
    with pytest.raises(IntegrityError):
        decrypt_metadata(META_KEY, seal_raw(document), IV)


def test_wrong_key_tampering_and_bad_iv() -> None:
    encrypted = encrypt_metadata(META_KEY, SingleFileMetadata("a.txt", 3), iv=IV)
    ciphertext = encrypted.ciphertext
    cases = [
        (bytes(32), ciphertext, IV),
        (META_KEY, ciphertext[:-1] + bytes([ciphertext[-1] ^ 1]), IV),
        (META_KEY, bytes([ciphertext[0] ^ 0x80]) + ciphertext[1:], IV),
        (META_KEY, ciphertext[:-1], IV),
        (META_KEY, ciphertext[:15], IV),
        (META_KEY, b"", IV),
        (META_KEY, ciphertext, IV[:11]),
        (META_KEY, ciphertext, IV + b"\x00"),
        (META_KEY, ciphertext, bytes(12)),
    ]
    for key, data, iv in cases:
        with pytest.raises(IntegrityError) as caught:
            decrypt_metadata(key, data, iv)
        assert str(caught.value) == str(IntegrityError())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        ("dir/", "fallback"),
        ("..", "fallback"),
        ("a/.", "fallback"),
        ("", "fallback"),
        ("nul\x00byte", "nulbyte"),
    ],
)
def test_safe_file_name(name: str, expected: str) -> None:
    assert safe_file_name(name, "fallback") == expected


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("photo.JPG", 0),
        ("a/b/movie.mkv", 0),
        ("archive.tar.gz", 0),
        ("doc.pdf", 0),
        ("notes.txt", 6),
        ("Makefile", 6),
        ("png", 6),
        (".zip", 0),
    ],
)
def test_archive_compression_levels(name: str, level: int) -> None:
    assert compression_level(name) == level


def test_archive_constants() -> None:
    assert ARCHIVE_FILE_NAME == "archive.zip"
    assert MAX_ARCHIVE_SIZE == 2**32 - 1
