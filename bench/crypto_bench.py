"""Throughput of the streaming payload encryption (crypto.md §6).

Encrypts and then decrypts 256 MiB fed in 64 KiB pieces and prints MiB/s for each direction
and the process's peak RSS. Ciphertext is piped from the encryptor to the decryptor piece by
piece, so the peak RSS shows whether memory stays flat.

    python bench/crypto_bench.py [--mib 256] [--piece-kib 64]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from collections.abc import Iterator

import cryptography
from cryptography.hazmat.backends.openssl.backend import backend

from skysend_core.crypto import Decryptor, Encryptor, generate_secret

MIB = 1024 * 1024


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / MIB if sys.platform == "darwin" else peak / 1024


def rechunk(pieces: Iterator[bytes], size: int) -> Iterator[bytes]:
    """Re-cut a byte stream into ``size``-byte pieces (the last may be shorter)."""
    pending = bytearray()
    for piece in pieces:
        pending += piece
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


def bench_encrypt(key: bytes, piece: bytes, count: int) -> float:
    encryptor = Encryptor(key)
    start = time.perf_counter()
    for _ in range(count):
        encryptor.update(piece)
    encryptor.finalize()
    return time.perf_counter() - start


def ciphertext(key: bytes, piece: bytes, count: int) -> Iterator[bytes]:
    encryptor = Encryptor(key)
    for _ in range(count):
        yield encryptor.update(piece)
    yield encryptor.finalize()


def bench_decrypt(key: bytes, piece: bytes, count: int) -> float:
    decryptor = Decryptor(key, expected_size=len(piece) * count)
    elapsed = 0.0
    for chunk in rechunk(ciphertext(key, piece, count), len(piece)):
        start = time.perf_counter()
        decryptor.update(chunk)
        elapsed += time.perf_counter() - start
    start = time.perf_counter()
    decryptor.finalize()
    return elapsed + time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="payload size in MiB")
    parser.add_argument("--piece-kib", type=int, default=64, help="piece size in KiB")
    args = parser.parse_args()

    piece = os.urandom(args.piece_kib * 1024)
    count = args.mib * MIB // len(piece)
    total_mib = len(piece) * count / MIB
    key = generate_secret()
    print(
        f"python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"{backend.openssl_version_text()}"
    )
    print(f"payload {total_mib:.0f} MiB in {len(piece) // 1024} KiB pieces")
    print(f"baseline peak RSS {peak_rss_mib():.1f} MiB")
    seconds = bench_encrypt(key, piece, count)
    print(f"encrypt {total_mib / seconds:8.1f} MiB/s ({seconds:.3f} s)")
    seconds = bench_decrypt(key, piece, count)
    print(f"decrypt {total_mib / seconds:8.1f} MiB/s ({seconds:.3f} s)")
    print(f"peak RSS {peak_rss_mib():.1f} MiB")


if __name__ == "__main__":
    main()
