"""Streaming payload encryption, "ECE" (crypto.md §6).

::

    stream   = baseNonce (12 bytes) || record_0 || record_1 || ...
    record_i = AES-256-GCM(fileKey, nonce_i, chunk_i)      # len(chunk_i) + 16 bytes
    nonce_i  = baseNonce[0:8] || (baseNonce[8:12] XOR i as uint32 big-endian)

Plaintext is cut into 65,536-byte chunks; only the last may be shorter, and an empty
plaintext is the bare 12-byte header. :class:`Encryptor` and :class:`Decryptor` accept
input split at arbitrary boundaries, buffer at most one record, and give the same output
however the input is split.

Records carry no "last" flag, so a stream cut at a record boundary decrypts cleanly. Pass
the authenticated plaintext length (``metadata.size`` for single files) as
``expected_size`` so that :meth:`Decryptor.finalize` detects truncation. Plaintext returned
by :meth:`Decryptor.update` is authentic record by record, but the stream as a whole is
only verified once :meth:`Decryptor.finalize` returns: consumers must not act on the
output as complete before then.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skysend_core.crypto.aead import (
    KEY_LENGTH,
    NONCE_LENGTH,
    TAG_LENGTH,
    BytesLike,
    IntegrityError,
    check_length,
    raise_integrity_error,
)

RECORD_SIZE = 65536
"""Plaintext bytes per record."""
ENCRYPTED_RECORD_SIZE = RECORD_SIZE + TAG_LENGTH
MAX_RECORDS = 2**32
"""Record counters run from 0 to 2**32 - 1."""


def encrypted_size(plaintext_length: int) -> int:
    """Stream length for a plaintext length: ``12 + p + 16 * ceil(p / 65536)``."""
    if plaintext_length < 0:
        raise ValueError("plaintext length must not be negative")
    records = -(-plaintext_length // RECORD_SIZE)
    return NONCE_LENGTH + plaintext_length + TAG_LENGTH * records


def plaintext_size(encrypted_length: int) -> int:
    """Inverse of :func:`encrypted_size`.

    A length whose last record is too short to hold a tag (1 to 16 bytes) cannot come from an
    encryptor and raises :class:`IntegrityError`; lengths up to 12 give 0.
    """
    if encrypted_length < 0:
        raise ValueError("encrypted length must not be negative")
    if encrypted_length <= NONCE_LENGTH:
        return 0
    full, rest = divmod(encrypted_length - NONCE_LENGTH, ENCRYPTED_RECORD_SIZE)
    if rest == 0:
        return full * RECORD_SIZE
    if rest <= TAG_LENGTH:
        raise_integrity_error()
    return full * RECORD_SIZE + rest - TAG_LENGTH


def record_nonce(base_nonce: BytesLike, index: int) -> bytes:
    """Nonce of record ``index``: the last 4 bytes of the base nonce XOR the index."""
    check_length("base nonce", base_nonce, NONCE_LENGTH)
    if not 0 <= index < MAX_RECORDS:
        raise ValueError("record index out of range")
    base = bytes(base_nonce)
    tail = int.from_bytes(base[8:], "big") ^ index
    return base[:8] + tail.to_bytes(4, "big")


class _RecordCipher:
    """One fileKey and base nonce, counting records; the AESGCM object is reused."""

    __slots__ = ("_aead", "_count", "_prefix", "_tail", "base_nonce")

    def __init__(self, file_key: BytesLike, base_nonce: bytes) -> None:
        check_length("file key", file_key, KEY_LENGTH)
        self._aead = AESGCM(file_key)
        self._prefix = base_nonce[:8]
        self._tail = int.from_bytes(base_nonce[8:], "big")
        self._count = 0
        self.base_nonce = base_nonce

    def _next_nonce(self) -> bytes:
        index = self._count
        if index >= MAX_RECORDS:
            raise OverflowError("record counter exhausted")
        self._count = index + 1
        return self._prefix + (self._tail ^ index).to_bytes(4, "big")

    def seal(self, chunk: BytesLike) -> bytes:
        return self._aead.encrypt(self._next_nonce(), chunk, None)

    def open(self, record: BytesLike) -> bytes:
        """Decrypt the next record; raises ``InvalidTag`` or ``OverflowError``."""
        return self._aead.decrypt(self._next_nonce(), record, None)


def _as_view(data: BytesLike) -> memoryview:
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


class Encryptor:
    """Incremental ECE encryption.

    ``update`` returns whatever output is ready (the header is part of the first output);
    ``finalize`` flushes the last, possibly short, record. Concatenating every returned
    piece gives the stream. ``base_nonce`` is for reproducing test vectors only: reusing a
    base nonce under the same key destroys confidentiality.

    Each call returns one new ``bytes`` as large as its output; pieces of about one record
    (64 KiB) are fastest, since very large short-lived buffers make the C allocator hand
    memory back to the kernel and fault it in again on every call.
    """

    __slots__ = ("_buffer", "_cipher", "_finished", "_header_pending", "_length")

    def __init__(self, file_key: BytesLike, *, base_nonce: BytesLike | None = None) -> None:
        if base_nonce is None:
            nonce = secrets.token_bytes(NONCE_LENGTH)
        else:
            check_length("base nonce", base_nonce, NONCE_LENGTH)
            nonce = bytes(base_nonce)
        self._cipher = _RecordCipher(file_key, nonce)
        self._buffer = bytearray()
        self._header_pending = True
        self._finished = False
        self._length = 0

    @property
    def base_nonce(self) -> bytes:
        return self._cipher.base_nonce

    @property
    def plaintext_length(self) -> int:
        """Plaintext bytes accepted so far."""
        return self._length

    def update(self, data: BytesLike) -> bytes:
        """Accept plaintext; return the stream bytes completed by it (possibly empty)."""
        if self._finished:
            raise RuntimeError("encryptor already finalized")
        view = _as_view(data)
        self._length += len(view)
        out = self._take_header()
        buffer = self._buffer
        if buffer:
            need = RECORD_SIZE - len(buffer)
            if len(view) < need:
                buffer += view
                return b"".join(out)
            buffer += view[:need]
            view = view[need:]
            out.append(self._cipher.seal(buffer))
            buffer.clear()
        end, offset = len(view), 0
        while end - offset >= RECORD_SIZE:
            out.append(self._cipher.seal(view[offset : offset + RECORD_SIZE]))
            offset += RECORD_SIZE
        if offset < end:
            buffer += view[offset:]
        return b"".join(out)

    def finalize(self) -> bytes:
        """Return the remaining stream bytes; the encryptor cannot be used afterwards."""
        if self._finished:
            raise RuntimeError("encryptor already finalized")
        self._finished = True
        out = self._take_header()
        if self._buffer:
            out.append(self._cipher.seal(self._buffer))
            self._buffer = bytearray()
        return b"".join(out)

    def _take_header(self) -> list[bytes]:
        if not self._header_pending:
            return []
        self._header_pending = False
        return [self._cipher.base_nonce]


class Decryptor:
    """Incremental ECE decryption with the final-record and truncation checks of §6.3.

    A record is decrypted only once a byte beyond it has arrived, so at most one encrypted
    record is buffered. Every failure raises :class:`IntegrityError` and poisons the
    decryptor. With ``expected_size`` the stream must decrypt to exactly that many bytes.
    """

    __slots__ = ("_buffer", "_cipher", "_expected", "_failed", "_file_key", "_finished", "_length")

    def __init__(self, file_key: BytesLike, *, expected_size: int | None = None) -> None:
        check_length("file key", file_key, KEY_LENGTH)
        if expected_size is not None and expected_size < 0:
            raise ValueError("expected size must not be negative")
        self._file_key = bytes(file_key)
        self._expected = expected_size
        self._cipher: _RecordCipher | None = None
        self._buffer = bytearray()
        self._length = 0
        self._finished = False
        self._failed = False

    @property
    def plaintext_length(self) -> int:
        """Plaintext bytes returned so far."""
        return self._length

    def update(self, data: BytesLike) -> bytes:
        """Accept stream bytes; return the plaintext of every record completed by them."""
        self._check_usable()
        view = _as_view(data)
        try:
            return self._update(view)
        except IntegrityError:
            self._failed = True
            raise

    def finalize(self) -> bytes:
        """Decrypt the last record and run the end-of-stream checks."""
        self._check_usable()
        self._finished = True
        try:
            return self._finalize()
        except IntegrityError:
            self._failed = True
            raise

    def _check_usable(self) -> None:
        if self._failed:
            raise_integrity_error()
        if self._finished:
            raise RuntimeError("decryptor already finalized")

    def _update(self, view: memoryview) -> bytes:
        buffer = self._buffer
        if self._cipher is None:
            need = NONCE_LENGTH - len(buffer)
            buffer += view[:need]
            view = view[need:]
            if len(buffer) < NONCE_LENGTH:
                return b""
            self._cipher = _RecordCipher(self._file_key, bytes(buffer))
            buffer.clear()
        cipher = self._cipher
        out: list[bytes] = []
        if buffer:
            need = ENCRYPTED_RECORD_SIZE - len(buffer)
            if len(view) <= need:  # nothing follows the record yet: keep it
                buffer += view
                return b""
            buffer += view[:need]
            view = view[need:]
            out.append(self._open(cipher, buffer))
            buffer.clear()
        end, offset = len(view), 0
        while end - offset > ENCRYPTED_RECORD_SIZE:
            out.append(self._open(cipher, view[offset : offset + ENCRYPTED_RECORD_SIZE]))
            offset += ENCRYPTED_RECORD_SIZE
        buffer += view[offset:]
        return b"".join(out)

    def _finalize(self) -> bytes:
        cipher = self._cipher
        if cipher is None:  # missing nonce header
            raise_integrity_error()
        plaintext = b""
        if self._buffer:
            if len(self._buffer) <= TAG_LENGTH:  # too short to hold a tag
                raise_integrity_error()
            plaintext = self._open(cipher, self._buffer)
            self._buffer = bytearray()
        if self._expected is not None and self._length != self._expected:
            raise_integrity_error()  # truncated stream
        return plaintext

    def _open(self, cipher: _RecordCipher, record: BytesLike) -> bytes:
        try:
            plaintext = cipher.open(record)
        except (InvalidTag, OverflowError):
            raise_integrity_error()
        self._length += len(plaintext)
        if self._expected is not None and self._length > self._expected:
            raise_integrity_error()  # longer than the authenticated size
        return plaintext


def encrypt_chunks(
    file_key: BytesLike, chunks: Iterable[BytesLike], *, base_nonce: BytesLike | None = None
) -> Iterator[bytes]:
    """Encrypt an iterable of plaintext pieces lazily, yielding non-empty stream pieces."""
    encryptor = Encryptor(file_key, base_nonce=base_nonce)
    for chunk in chunks:
        if piece := encryptor.update(chunk):
            yield piece
    if piece := encryptor.finalize():
        yield piece


def decrypt_chunks(
    file_key: BytesLike, chunks: Iterable[BytesLike], *, expected_size: int | None = None
) -> Iterator[bytes]:
    """Decrypt an iterable of stream pieces lazily, yielding non-empty plaintext pieces.

    The stream is verified only when the iterator is exhausted without error.
    """
    decryptor = Decryptor(file_key, expected_size=expected_size)
    for chunk in chunks:
        if piece := decryptor.update(chunk):
            yield piece
    if piece := decryptor.finalize():
        yield piece


def encrypt_payload(
    file_key: BytesLike, plaintext: BytesLike, *, base_nonce: BytesLike | None = None
) -> bytes:
    """Encrypt a whole payload held in memory."""
    encryptor = Encryptor(file_key, base_nonce=base_nonce)
    return encryptor.update(plaintext) + encryptor.finalize()


def decrypt_payload(
    file_key: BytesLike, stream: BytesLike, *, expected_size: int | None = None
) -> bytes:
    """Decrypt a whole stream held in memory."""
    decryptor = Decryptor(file_key, expected_size=expected_size)
    return decryptor.update(stream) + decryptor.finalize()
