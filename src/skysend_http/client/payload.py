"""Encrypting a file on disk as an upload payload, piece by piece (crypto.md §6).

The payload is never held in memory: pieces are read from the file, encrypted and handed
on. It can also be produced as independent *chunks*, each re-derivable from the file on its
own, which is what lets the HTTP chunked transport send several chunks in parallel (and
resend one) while keeping only a few records in memory per chunk.

Why chunks can be encrypted independently: record ``i`` is sealed under
``nonce_i = base[0:8] || base[8:12] XOR i`` (§6.1). A chunk holds records ``s … s+n-1``
where ``n`` is a power of two and ``s`` a multiple of ``n``; then ``s XOR j == s + j`` for
every ``j < n``, so ``nonce_{s+j} = nonce'_j`` for a stream whose base nonce is
``nonce_s``. An :class:`Encryptor` started with base nonce ``record_nonce(base, s)``
therefore produces exactly the records of that chunk (its own 12-byte header is dropped).
The concatenated chunks equal the single-pass stream byte for byte (tested).
"""

from __future__ import annotations

import secrets
from collections.abc import Generator
from pathlib import Path

import attrs

from skysend_core.crypto import (
    NONCE_LENGTH,
    RECORD_SIZE,
    TAG_LENGTH,
    Encryptor,
    encrypted_size,
    record_nonce,
)

CHUNK_RECORDS = 256
"""Records per HTTP chunk by default and at most: a power of two (see above); 16 MiB of
plaintext, so every chunk but the last carries 16,781,312 encrypted bytes (the reference
clients send ≥ 10 MiB chunks). Uploads with many chunks in flight use smaller ones (see
:func:`.uploads.chunk_records_for`)."""
MIN_CHUNK_RECORDS = 16
"""The smallest chunk: 1 MiB of plaintext, one :data:`READ_SIZE`."""
READ_SIZE = 1024 * 1024
"""Plaintext read per step: 16 records, large enough to keep per-piece overhead low."""


@attrs.frozen
class EncryptedFile:
    """The encrypted form of one file: sizes, and generators of its stream or chunks.

    ``size`` is the plaintext size taken when the upload started; the file must not change
    while it is being uploaded (a shorter file raises :class:`OSError`).
    """

    path: Path
    size: int
    file_key: bytes = attrs.field(repr=False)
    base_nonce: bytes = attrs.field(factory=lambda: secrets.token_bytes(NONCE_LENGTH))
    chunk_records: int = attrs.field(default=CHUNK_RECORDS)

    @chunk_records.validator
    def _power_of_two(self, _: attrs.Attribute[int], value: int) -> None:
        if value < 1 or value & (value - 1):
            raise ValueError("chunk_records must be a power of two")

    def with_fresh_nonce(self) -> EncryptedFile:
        """The same file under a new base nonce, for a new upload attempt."""
        return attrs.evolve(self, base_nonce=secrets.token_bytes(NONCE_LENGTH))

    def with_chunk_records(self, records: int) -> EncryptedFile:
        """The same stream cut into chunks of ``records`` records (a power of two)."""
        return attrs.evolve(self, chunk_records=records)

    @property
    def encrypted_size(self) -> int:
        return encrypted_size(self.size)

    @property
    def chunk_plaintext(self) -> int:
        return self.chunk_records * RECORD_SIZE

    @property
    def chunk_count(self) -> int:
        """At least one chunk: an empty file is the bare 12-byte header."""
        return max(1, -(-self.size // self.chunk_plaintext))

    def chunk_size(self, index: int) -> int:
        """Encrypted bytes of chunk ``index``."""
        start = index * self.chunk_plaintext
        length = max(0, min(self.chunk_plaintext, self.size - start))
        records = -(-length // RECORD_SIZE)
        return length + TAG_LENGTH * records + (NONCE_LENGTH if index == 0 else 0)

    def chunk(self, index: int) -> Generator[bytes, None, None]:
        """The encrypted bytes of chunk ``index``, in pieces of about :data:`READ_SIZE`."""
        if not 0 <= index < self.chunk_count:
            raise IndexError("chunk index out of range")
        start = index * self.chunk_plaintext
        length = max(0, min(self.chunk_plaintext, self.size - start))
        return self._encrypt(start, length, header=index == 0)

    def stream(self) -> Generator[bytes, None, None]:
        """The whole encrypted stream, in pieces of about :data:`READ_SIZE`."""
        for index in range(self.chunk_count):
            yield from self.chunk(index)

    def _encrypt(self, start: int, length: int, *, header: bool) -> Generator[bytes, None, None]:
        first_record = start // RECORD_SIZE
        encryptor = Encryptor(self.file_key, base_nonce=record_nonce(self.base_nonce, first_record))
        nonce_header = encryptor.update(b"")  # the header comes first; keep it for chunk 0 only
        if header:
            yield nonce_header
        buffer = bytearray(min(READ_SIZE, length))
        view = memoryview(buffer)
        remaining = length
        with self.path.open("rb", buffering=0) as file:
            file.seek(start)
            while remaining:
                want = min(len(buffer), remaining)
                got = file.readinto(view[:want])
                if not got:
                    raise OSError(f"{self.path} became shorter during the upload")
                remaining -= got
                if piece := encryptor.update(view[:got]):
                    yield piece
        if piece := encryptor.finalize():
            yield piece
