"""Every value of the reference test vectors, reproduced byte for byte and decrypted back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from itertools import cycle
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skysend_core.crypto import (
    ENCRYPTED_RECORD_SIZE,
    RECORD_SIZE,
    ArchiveEntry,
    ArchiveMetadata,
    Decryptor,
    Encryptor,
    ItemKeys,
    SingleFileMetadata,
    b64_decode,
    b64_encode,
    b64url_decode,
    b64url_encode,
    build_share_url,
    compute_auth_token,
    decrypt_metadata,
    decrypt_note,
    derive_auth_key,
    derive_file_key,
    derive_meta_key,
    derive_owner_token,
    derive_password_key,
    encrypt_metadata,
    encrypt_note,
    encrypted_size,
    metadata_from_json,
    metadata_to_json,
    parse_share_url,
    plaintext_size,
    protect_secret,
    record_nonce,
    unprotect_secret,
)

VECTORS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
VECTORS: dict[str, Any] = json.loads((VECTORS_DIR / "crypto-vectors.json").read_text("utf-8"))

# The generator fed the encryptor pieces of these sizes, repeated.
UNEVEN_PIECES = (1000, 3001, 9004)


def pattern(length: int) -> bytes:
    return bytes((i * 31 + 7) & 0xFF for i in range(length))


def pieces(data: bytes, sizes: tuple[int, ...] = UNEVEN_PIECES) -> Iterator[bytes]:
    offset = 0
    for size in cycle(sizes):
        if offset >= len(data):
            return
        yield data[offset : offset + size]
        offset += size


def ids(group: str) -> list[str]:
    return [f"{group}-{i}" for i in range(len(VECTORS[group]))]


def test_vector_file_is_complete() -> None:
    assert {"keys", "ece", "metadata", "notes", "password"} <= VECTORS.keys()
    assert all(VECTORS[group] for group in ("keys", "ece", "metadata", "notes", "password"))


# -- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["keys"], ids=ids("keys"))
def test_key_vectors(vector: dict[str, str]) -> None:
    secret = b64url_decode(vector["secret_b64u"])
    salt = b64url_decode(vector["salt_b64u"])
    auth_token = compute_auth_token(derive_auth_key(secret, salt))
    assert b64url_encode(auth_token) == vector["auth_token_b64u"]
    assert b64url_encode(derive_owner_token(secret, salt)) == vector["owner_token_b64u"]

    keys = ItemKeys.derive(secret, salt)
    assert keys.auth_token_b64u == vector["auth_token_b64u"]
    assert keys.owner_token_b64u == vector["owner_token_b64u"]
    assert keys.salt_b64u == vector["salt_b64u"]
    assert keys.fragment == vector["secret_b64u"]
    assert len(keys.auth_token_b64u) == len(keys.owner_token_b64u) == 43


def test_key_vectors_cover_both_salt_lengths() -> None:
    lengths = {len(b64url_decode(v["salt_b64u"])) for v in VECTORS["keys"]}
    assert lengths == {16, 32}


# -- password -----------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["password"], ids=ids("password"))
def test_password_vectors(vector: dict[str, str]) -> None:
    assert vector["algorithm"] == "argon2id-v2"
    password_salt = b64url_decode(vector["password_salt_b64u"])
    secret = b64url_decode(vector["secret_b64u"])
    salt = b64url_decode(vector["salt_b64u"])
    protected = b64url_decode(vector["protected_secret_b64u"])

    password_key = derive_password_key(vector["password"], password_salt)
    assert password_key.hex() == vector["password_key_hex"]
    assert protect_secret(secret, password_key) == protected
    assert unprotect_secret(protected, password_key) == secret

    keys = ItemKeys.from_share(
        protected, salt, password=vector["password"], password_salt=password_salt
    )
    assert keys.secret == secret
    assert keys.auth_token_b64u == vector["auth_token_b64u"]
    assert keys.owner_token_b64u == vector["owner_token_from_protected_secret_b64u"]
    assert keys.fragment == vector["share_url_fragment"]
    assert keys.password_salt_b64u == vector["password_salt_b64u"]

    url = build_share_url("https://send.example.com/", "file", "abc", protected)
    assert url == f"https://send.example.com/file/abc#{vector['share_url_fragment']}"
    assert parse_share_url(url).secret == protected


def test_password_vectors_include_non_ascii() -> None:
    assert any(not v["password"].isascii() for v in VECTORS["password"])


# -- ECE ----------------------------------------------------------------------------------


def _ece_case(vector: dict[str, Any]) -> tuple[bytes, bytes, bytes]:
    file_key = derive_file_key(
        b64url_decode(vector["secret_b64u"]), b64url_decode(vector["salt_b64u"])
    )
    return file_key, bytes.fromhex(vector["base_nonce_hex"]), pattern(vector["plaintext_len"])


def _encrypt_in_pieces(file_key: bytes, base_nonce: bytes, plaintext: bytes) -> bytes:
    encryptor = Encryptor(file_key, base_nonce=base_nonce)
    out = [encryptor.update(piece) for piece in pieces(plaintext)]
    out.append(encryptor.finalize())
    return b"".join(out)


@pytest.mark.parametrize("vector", VECTORS["ece"], ids=ids("ece"))
def test_ece_vector_encryption(vector: dict[str, Any]) -> None:
    file_key, base_nonce, plaintext = _ece_case(vector)
    stream = _encrypt_in_pieces(file_key, base_nonce, plaintext)

    assert len(stream) == vector["ciphertext_len"]
    assert hashlib.sha256(stream).hexdigest() == vector["ciphertext_sha256"]
    assert stream[:12] == base_nonce
    if "ciphertext_b64" in vector:
        assert b64_encode(stream) == vector["ciphertext_b64"]
    assert encrypted_size(len(plaintext)) == vector["encrypted_size_formula"]
    assert encrypted_size(len(plaintext)) == vector["ciphertext_len"]
    assert plaintext_size(vector["ciphertext_len"]) == vector["plaintext_len"]


@pytest.mark.parametrize("vector", VECTORS["ece"], ids=ids("ece"))
def test_ece_vector_decryption(vector: dict[str, Any]) -> None:
    file_key, base_nonce, plaintext = _ece_case(vector)
    if "ciphertext_b64" in vector:
        stream = b64_decode(vector["ciphertext_b64"])
    else:  # only the digest is published; the encryption test pins these bytes
        stream = _encrypt_in_pieces(file_key, base_nonce, plaintext)
        assert hashlib.sha256(stream).hexdigest() == vector["ciphertext_sha256"]

    decryptor = Decryptor(file_key, expected_size=vector["plaintext_len"])
    out = [decryptor.update(piece) for piece in pieces(stream, (7, 65552, 12345, 1))]
    out.append(decryptor.finalize())
    assert b"".join(out) == plaintext


def test_ece_vector_records_use_documented_nonces() -> None:
    vector = next(v for v in VECTORS["ece"] if v["plaintext_len"] == 200000)
    file_key, base_nonce, plaintext = _ece_case(vector)
    stream = _encrypt_in_pieces(file_key, base_nonce, plaintext)
    aead = AESGCM(file_key)
    for index in range(4):
        start = 12 + index * ENCRYPTED_RECORD_SIZE
        record = stream[start : start + ENCRYPTED_RECORD_SIZE]
        nonce = base_nonce[:8] + bytes(
            a ^ b for a, b in zip(base_nonce[8:], index.to_bytes(4), strict=True)
        )
        assert record_nonce(base_nonce, index) == nonce
        expected = plaintext[index * RECORD_SIZE : (index + 1) * RECORD_SIZE]
        assert aead.decrypt(nonce, record, None) == expected


# -- metadata -----------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["metadata"], ids=ids("metadata"))
def test_metadata_vectors(vector: dict[str, str]) -> None:
    meta_key = derive_meta_key(
        b64url_decode(vector["secret_b64u"]), b64url_decode(vector["salt_b64u"])
    )
    iv = b64_decode(vector["iv_b64"])
    document = vector["metadata_json"].encode("utf-8")

    metadata = metadata_from_json(document)
    assert metadata_to_json(metadata) == document
    encrypted = encrypt_metadata(meta_key, metadata, iv=iv)
    assert encrypted.encrypted_meta_b64 == vector["ciphertext_b64"]
    assert encrypted.nonce_b64 == vector["iv_b64"]
    assert decrypt_metadata(meta_key, b64_decode(vector["ciphertext_b64"]), iv) == metadata


def test_metadata_vectors_built_from_schema_classes() -> None:
    single = SingleFileMetadata(name="report \u2013 ü.pdf", size=65537, mime_type="application/pdf")
    archive = ArchiveMetadata.of([ArchiveEntry("a/b.txt", 3), ArchiveEntry("c.bin", 200000)])
    documents = {v["metadata_json"] for v in VECTORS["metadata"]}
    assert {metadata_to_json(single).decode(), metadata_to_json(archive).decode()} == documents


# -- notes --------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["notes"], ids=ids("notes"))
def test_note_vectors(vector: dict[str, str]) -> None:
    meta_key = derive_meta_key(
        b64url_decode(vector["secret_b64u"]), b64url_decode(vector["salt_b64u"])
    )
    nonce = b64_decode(vector["nonce_b64"])
    encrypted = encrypt_note(meta_key, vector["plaintext"], nonce=nonce)
    assert encrypted.encrypted_content_b64 == vector["ciphertext_b64"]
    assert encrypted.nonce_b64 == vector["nonce_b64"]
    assert b64url_decode(encrypted.encrypted_content_b64u) == b64_decode(vector["ciphertext_b64"])
    assert b64url_decode(encrypted.nonce_b64u) == nonce
    ciphertext = b64_decode(vector["ciphertext_b64"])
    assert decrypt_note(meta_key, ciphertext, nonce) == vector["plaintext"]
