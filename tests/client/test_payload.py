"""Encrypting a file in independent chunks gives exactly the single-pass ECE stream."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skysend_core.crypto import RECORD_SIZE, decrypt_payload, encrypt_payload, encrypted_size
from skysend_http.client.payload import CHUNK_RECORDS, EncryptedFile
from skysend_http.client.uploads import OUT_OF_ORDER_LIMIT, chunk_records_for, chunk_window

KEY = bytes(range(32))
NONCE = bytes.fromhex("00112233445566778899fffe")  # tail near 2**32 exercises the XOR
CHUNK = CHUNK_RECORDS * RECORD_SIZE


@pytest.mark.parametrize(
    "size",
    [
        0,
        1,
        RECORD_SIZE - 1,
        RECORD_SIZE,
        RECORD_SIZE + 1,
        CHUNK - 1,
        CHUNK,
        CHUNK + 1,
        2 * CHUNK + 77,
    ],
)
def test_chunks_concatenate_to_the_single_pass_stream(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    payload = EncryptedFile(path, size, KEY, base_nonce=NONCE)

    chunks = [b"".join(payload.chunk(i)) for i in range(payload.chunk_count)]

    expected = encrypt_payload(KEY, data, base_nonce=NONCE)
    assert b"".join(chunks) == expected
    assert b"".join(payload.stream()) == expected
    assert [len(c) for c in chunks] == [payload.chunk_size(i) for i in range(payload.chunk_count)]
    assert payload.encrypted_size == encrypted_size(size) == len(expected)
    assert decrypt_payload(KEY, expected, expected_size=size) == data


def test_every_chunk_but_the_last_is_at_least_10_mib() -> None:
    payload = EncryptedFile(Path("unused"), 3 * CHUNK + 5, KEY)
    sizes = [payload.chunk_size(i) for i in range(payload.chunk_count)]
    assert all(size >= 10 * 1024 * 1024 for size in sizes[:-1])
    assert sizes[-1] == 5 + 16


def test_a_file_that_shrinks_during_the_upload_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1000)
    payload = EncryptedFile(path, 2000, KEY)
    with pytest.raises(OSError, match="shorter"):
        b"".join(payload.stream())


def test_the_chunk_window_respects_the_out_of_order_limit() -> None:
    size = EncryptedFile(Path("unused"), 10 * CHUNK, KEY).chunk_size(1)
    window = chunk_window(20, size)
    assert (window - 1) * size <= OUT_OF_ORDER_LIMIT
    assert chunk_window(2, size) == 2
    assert chunk_window(1, size) == 1


def test_chunks_shrink_so_that_the_server_s_concurrency_fits() -> None:
    """Every concurrency a server may advertise (1-20) is honoured in full: chunk sizes are
    chosen so that the chunks waiting above a missing one stay within the out-of-order limit;
    up to 4 in flight, chunks keep their full 16 MiB."""
    for concurrency in range(1, 21):
        records = chunk_records_for(concurrency)
        payload = EncryptedFile(Path("unused"), 10**9, KEY, chunk_records=records)
        size = payload.chunk_size(0)
        assert chunk_window(concurrency, size) == concurrency
        assert (concurrency - 1) * size <= OUT_OF_ORDER_LIMIT
        larger = payload.with_chunk_records(min(CHUNK_RECORDS, 2 * records)).chunk_size(0)
        assert records == CHUNK_RECORDS or (concurrency - 1) * larger > OUT_OF_ORDER_LIMIT
    assert [chunk_records_for(c) for c in (1, 4, 5, 7, 8, 13, 14, 20)] == [
        256, 256, 128, 128, 64, 64, 32, 32,
    ]  # fmt: skip


@pytest.mark.parametrize("records", [0, 3, 24])
def test_chunk_records_must_be_a_power_of_two(tmp_path: Path, records: int) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"x")
    file = EncryptedFile(source, 1, os.urandom(32))
    with pytest.raises(ValueError, match="power of two"):
        file.with_chunk_records(records)
    assert file.with_chunk_records(16).chunk_records == 16
