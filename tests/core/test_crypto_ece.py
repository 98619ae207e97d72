"""Streaming payload encryption (crypto.md §6): splitting, sizes, tampering, truncation."""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skysend_core.crypto import (
    ENCRYPTED_RECORD_SIZE,
    RECORD_SIZE,
    Decryptor,
    Encryptor,
    IntegrityError,
    decrypt_chunks,
    decrypt_payload,
    ece,
    encrypt_chunks,
    encrypt_payload,
    encrypted_size,
    plaintext_size,
    record_nonce,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
BASE_NONCE = bytes.fromhex("000102030405060708090a0b")
RS, ERS = RECORD_SIZE, ENCRYPTED_RECORD_SIZE
LENGTHS = [0, 1, 15, 16, 17, RS - 1, RS, RS + 1, 2 * RS, 3 * RS + 17, 200_000]


def data(length: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(length)


def random_pieces(blob: bytes, rng: random.Random, largest: int) -> Iterator[bytes]:
    offset = 0
    while offset < len(blob):
        size = rng.choice((0, 1, rng.randint(0, 40), rng.randint(0, largest)))
        yield blob[offset : offset + size]
        offset += size


def records(stream: bytes) -> list[bytes]:
    body = stream[12:]
    return [body[i : i + ERS] for i in range(0, len(body), ERS)]


# -- sizes --------------------------------------------------------------------------------

SIZE_TABLE = [(0, 12), (1, 29), (65535, 65563), (65536, 65564), (65537, 65581), (131072, 131116)]


@pytest.mark.parametrize(("plain", "encrypted"), SIZE_TABLE)
def test_size_formulas(plain: int, encrypted: int) -> None:
    assert encrypted_size(plain) == encrypted
    assert plaintext_size(encrypted) == plain
    assert len(encrypt_payload(KEY, bytes(plain))) == encrypted


def test_size_formulas_are_inverse() -> None:
    rng = random.Random(7)
    for plain in [*range(40), *(rng.randint(0, 2**40) for _ in range(2000))]:
        assert plaintext_size(encrypted_size(plain)) == plain


@pytest.mark.parametrize("encrypted", [12 + ERS + 8, 12 + 1, 12 + 16, 12 + 3 * ERS + 16])
def test_plaintext_size_rejects_short_last_record(encrypted: int) -> None:
    with pytest.raises(IntegrityError):
        plaintext_size(encrypted)


def test_plaintext_size_of_header_only_lengths() -> None:
    assert [plaintext_size(n) for n in range(13)] == [0] * 13
    assert plaintext_size(12 + 17) == 1


def test_sizes_reject_negative_lengths() -> None:
    with pytest.raises(ValueError, match="negative"):
        encrypted_size(-1)
    with pytest.raises(ValueError, match="negative"):
        plaintext_size(-1)


# -- format -------------------------------------------------------------------------------


def test_record_nonces() -> None:
    assert record_nonce(BASE_NONCE, 0) == BASE_NONCE
    assert record_nonce(BASE_NONCE, 1) == bytes.fromhex("000102030405060708090a0a")
    assert record_nonce(BASE_NONCE, 2**16) == bytes.fromhex("000102030405060708080a0b")
    assert record_nonce(BASE_NONCE, 2**32 - 1) == bytes.fromhex("0001020304050607f7f6f5f4")
    with pytest.raises(ValueError, match="out of range"):
        record_nonce(BASE_NONCE, 2**32)
    with pytest.raises(ValueError, match="12 bytes"):
        record_nonce(BASE_NONCE[:11], 0)


def test_stream_layout() -> None:
    plaintext = data(2 * RS + 5)
    stream = encrypt_payload(KEY, plaintext, base_nonce=BASE_NONCE)
    assert stream[:12] == BASE_NONCE
    parts = records(stream)
    assert [len(part) for part in parts] == [ERS, ERS, 5 + 16]
    aead = AESGCM(KEY)
    for index, record in enumerate(parts):
        chunk = plaintext[index * RS : (index + 1) * RS]
        assert aead.decrypt(record_nonce(BASE_NONCE, index), record, None) == chunk


def test_empty_plaintext_is_the_bare_header() -> None:
    encryptor = Encryptor(KEY, base_nonce=BASE_NONCE)
    assert encryptor.finalize() == BASE_NONCE
    assert decrypt_payload(KEY, BASE_NONCE, expected_size=0) == b""


def test_full_last_chunk_has_no_empty_terminator() -> None:
    stream = encrypt_payload(KEY, bytes(2 * RS))
    assert len(stream) == 12 + 2 * ERS


def test_fresh_base_nonce_per_encryption() -> None:
    first, second = Encryptor(KEY), Encryptor(KEY)
    assert first.base_nonce != second.base_nonce
    assert len(first.base_nonce) == 12


def test_encryptor_rejects_bad_key_and_nonce() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Encryptor(KEY[:16])
    with pytest.raises(ValueError, match="12 bytes"):
        Encryptor(KEY, base_nonce=bytes(8))
    with pytest.raises(ValueError, match="32 bytes"):
        Decryptor(KEY + b"x")
    with pytest.raises(ValueError, match="negative"):
        Decryptor(KEY, expected_size=-1)


# -- arbitrary boundaries -----------------------------------------------------------------


@pytest.mark.parametrize("length", LENGTHS)
def test_round_trip_with_random_boundaries(length: int) -> None:
    rng = random.Random(length)
    plaintext = data(length, seed=length)
    reference = encrypt_payload(KEY, plaintext, base_nonce=BASE_NONCE)
    for _ in range(5):
        encryptor = Encryptor(KEY, base_nonce=BASE_NONCE)
        out = [encryptor.update(p) for p in random_pieces(plaintext, rng, 3 * RS)]
        stream = b"".join([*out, encryptor.finalize()])
        assert stream == reference

        decryptor = Decryptor(KEY, expected_size=length)
        out = [decryptor.update(p) for p in random_pieces(stream, rng, 3 * ERS)]
        assert b"".join([*out, decryptor.finalize()]) == plaintext


def test_one_byte_at_a_time_equals_all_at_once() -> None:
    plaintext = data(RS + 100, seed=3)
    whole = encrypt_payload(KEY, plaintext, base_nonce=BASE_NONCE)

    encryptor = Encryptor(KEY, base_nonce=BASE_NONCE)
    out = [encryptor.update(plaintext[i : i + 1]) for i in range(len(plaintext))]
    assert b"".join([*out, encryptor.finalize()]) == whole

    decryptor = Decryptor(KEY, expected_size=len(plaintext))
    out = [decryptor.update(whole[i : i + 1]) for i in range(len(whole))]
    assert b"".join([*out, decryptor.finalize()]) == plaintext


def test_output_is_released_as_soon_as_records_complete() -> None:
    """At most one record is ever held back, whatever the piece sizes."""
    rng = random.Random(11)
    plaintext = data(5 * RS + 3, seed=11)
    encryptor = Encryptor(KEY, base_nonce=BASE_NONCE)
    fed = produced = 0
    for piece in random_pieces(plaintext, rng, 2 * RS):
        produced += len(encryptor.update(piece))
        fed += len(piece)
        assert produced == 12 + (fed // RS) * ERS
    stream = encrypt_payload(KEY, plaintext, base_nonce=BASE_NONCE)

    decryptor = Decryptor(KEY)
    fed = produced = 0
    for piece in random_pieces(stream, rng, 2 * ERS):
        produced += len(decryptor.update(piece))
        fed += len(piece)
        complete_and_followed = max(0, (fed - 12 - 1) // ERS)
        assert produced == complete_and_followed * RS
        assert decryptor.plaintext_length == produced


def test_accepts_any_buffer_and_copies_what_it_keeps() -> None:
    plaintext = data(RS + 10, seed=5)
    whole = encrypt_payload(KEY, plaintext, base_nonce=BASE_NONCE)
    encryptor = Encryptor(KEY, base_nonce=BASE_NONCE)
    scratch = bytearray(plaintext[:100])
    first = encryptor.update(scratch)
    scratch[:] = bytes(100)  # caller reuses its buffer
    words = array("I", plaintext[100 : 100 + 4 * 1000])
    rest = [first, encryptor.update(memoryview(words)), encryptor.update(plaintext[4100:])]
    assert b"".join([*rest, encryptor.finalize()]) == whole
    assert encryptor.plaintext_length == len(plaintext)


def test_chunk_iterators() -> None:
    plaintext = data(3 * RS + 1, seed=9)
    pieces = [plaintext[i : i + 5000] for i in range(0, len(plaintext), 5000)]
    stream_pieces = list(encrypt_chunks(KEY, pieces, base_nonce=BASE_NONCE))
    assert all(stream_pieces)
    stream = b"".join(stream_pieces)
    assert stream == encrypt_payload(KEY, plaintext, base_nonce=BASE_NONCE)
    out = decrypt_chunks(KEY, [stream[i : i + 777] for i in range(0, len(stream), 777)])
    assert b"".join(out) == plaintext


def test_use_after_finalize_is_an_error() -> None:
    encryptor = Encryptor(KEY)
    encryptor.finalize()
    with pytest.raises(RuntimeError):
        encryptor.update(b"x")
    with pytest.raises(RuntimeError):
        encryptor.finalize()
    decryptor = Decryptor(KEY)
    decryptor.update(encrypt_payload(KEY, b"abc"))
    decryptor.finalize()
    with pytest.raises(RuntimeError):
        decryptor.update(b"x")


# -- integrity ----------------------------------------------------------------------------

PLAINTEXT = data(3 * RS + 100, seed=1)
STREAM = encrypt_payload(KEY, PLAINTEXT, base_nonce=BASE_NONCE)


def flip(blob: bytes, index: int, bit: int = 0) -> bytes:
    return blob[:index] + bytes([blob[index] ^ (1 << bit)]) + blob[index + 1 :]


def tampered_streams() -> dict[str, bytes]:
    head, parts = STREAM[:12], records(STREAM)
    return {
        "flipped tag bit of first record": flip(STREAM, 12 + ERS - 1, 7),
        "flipped tag bit of last record": flip(STREAM, len(STREAM) - 1),
        "flipped ciphertext bit": flip(STREAM, 12 + ERS + 5, 3),
        "flipped nonce bit": flip(STREAM, 11),
        "swapped records": head + parts[1] + parts[0] + b"".join(parts[2:]),
        "duplicated record": head + parts[0] + parts[0] + b"".join(parts[1:]),
        "dropped middle record": head + parts[0] + b"".join(parts[2:]),
        "last record moved to the front": head + parts[-1] + b"".join(parts[:-1]),
        "trailing byte": STREAM + b"\x00",
        "short last record": STREAM[: 12 + 3 * ERS + 16],
        "cut inside a record": STREAM[: 12 + ERS + 500],
        "header only": STREAM[:12],
        "short header": STREAM[:11],
        "empty": b"",
        "foreign record appended": STREAM + encrypt_payload(KEY, b"x" * 40)[12:],
    }


@pytest.mark.parametrize("name", list(tampered_streams()))
def test_tampered_stream_fails(name: str) -> None:
    stream = tampered_streams()[name]
    with pytest.raises(IntegrityError) as caught:
        decrypt_payload(KEY, stream, expected_size=len(PLAINTEXT))
    assert str(caught.value) == str(IntegrityError())
    assert caught.value.__cause__ is None


@pytest.mark.parametrize("extra", range(1, 17))
def test_trailing_bytes_too_short_for_a_tag(extra: int) -> None:
    stream = encrypt_payload(KEY, bytes(RS), base_nonce=BASE_NONCE) + bytes(extra)
    with pytest.raises(IntegrityError):
        decrypt_payload(KEY, stream)  # fails even without an expected size


@pytest.mark.parametrize("length", range(12))
def test_missing_nonce_header(length: int) -> None:
    decryptor = Decryptor(KEY)
    assert decryptor.update(STREAM[:length]) == b""
    with pytest.raises(IntegrityError):
        decryptor.finalize()


def test_wrong_key_fails() -> None:
    with pytest.raises(IntegrityError):
        decrypt_payload(OTHER_KEY, STREAM)


def test_truncation_at_record_boundary() -> None:
    cut = STREAM[: 12 + 2 * ERS]
    # Without an authenticated size the cut is undetectable by construction (§6.3) ...
    assert decrypt_payload(KEY, cut) == PLAINTEXT[: 2 * RS]
    # ... with one it is detected.
    with pytest.raises(IntegrityError):
        decrypt_payload(KEY, cut, expected_size=len(PLAINTEXT))


def test_stream_longer_than_expected_fails_early() -> None:
    decryptor = Decryptor(KEY, expected_size=RS - 1)
    with pytest.raises(IntegrityError):
        decryptor.update(STREAM)


def test_failure_poisons_the_decryptor() -> None:
    decryptor = Decryptor(KEY)
    with pytest.raises(IntegrityError):
        decryptor.update(flip(STREAM, 20) + b"more")
    with pytest.raises(IntegrityError):
        decryptor.update(b"")
    with pytest.raises(IntegrityError):
        decryptor.finalize()


def test_record_counter_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = encrypt_payload(KEY, bytes(3 * RS), base_nonce=BASE_NONCE)
    monkeypatch.setattr(ece, "MAX_RECORDS", 2)
    encryptor = Encryptor(KEY, base_nonce=BASE_NONCE)
    with pytest.raises(OverflowError):
        encryptor.update(bytes(3 * RS))
    with pytest.raises(IntegrityError):
        decrypt_payload(KEY, stream)
