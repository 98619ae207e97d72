"""Note encryption (crypto.md §8) and the per-contentType plaintext layouts (§8.1)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skysend_core.crypto import (
    NOTE_CONTENT_TYPES,
    CodeBlock,
    IntegrityError,
    PasswordEntry,
    SshKeyNote,
    b64_decode_any,
    decrypt_note,
    encrypt_note,
    format_code_note,
    format_password_note,
    format_sshkey_note,
    note_plaintext_length,
    parse_code_note,
    parse_password_note,
    parse_sshkey_note,
)

META_KEY = bytes(range(32))
NONCE = bytes(range(12))
CONTENT = "line one\nzwei ✓ 🔐\n"


def test_round_trip_and_wire_encodings() -> None:
    encrypted = encrypt_note(META_KEY, CONTENT)
    assert len(encrypted.nonce) == 12
    assert len(encrypted.ciphertext) == note_plaintext_length(CONTENT) + 16
    for text in (encrypted.encrypted_content_b64, encrypted.encrypted_content_b64u):
        assert b64_decode_any(text) == encrypted.ciphertext
    for text in (encrypted.nonce_b64, encrypted.nonce_b64u):
        assert b64_decode_any(text) == encrypted.nonce
    assert "=" not in encrypted.encrypted_content_b64u + encrypted.nonce_b64u
    assert decrypt_note(META_KEY, encrypted.ciphertext, encrypted.nonce) == CONTENT


def test_empty_note_round_trip() -> None:
    encrypted = encrypt_note(META_KEY, "", nonce=NONCE)
    assert len(encrypted.ciphertext) == 16
    assert decrypt_note(META_KEY, encrypted.ciphertext, NONCE) == ""


def test_plaintext_length_is_utf8_bytes() -> None:
    assert note_plaintext_length("ü🔐") == 6


def test_unencodable_content_is_rejected() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        encrypt_note(META_KEY, "\ud800")


def test_failures_are_integrity_errors() -> None:
    ciphertext = encrypt_note(META_KEY, CONTENT, nonce=NONCE).ciphertext
    cases = [
        (bytes(32), ciphertext, NONCE),
        (META_KEY, ciphertext[:-1] + bytes([ciphertext[-1] ^ 0x10]), NONCE),
        (META_KEY, ciphertext[1:], NONCE),
        (META_KEY, ciphertext + b"\x00", NONCE),
        (META_KEY, b"short", NONCE),
        (META_KEY, ciphertext, NONCE[:8]),
        (META_KEY, ciphertext, bytes(12)),
    ]
    for key, data, nonce in cases:
        with pytest.raises(IntegrityError):
            decrypt_note(key, data, nonce)


def test_invalid_utf8_is_replaced_like_text_decoder() -> None:
    ciphertext = AESGCM(META_KEY).encrypt(NONCE, b"ok \xff\xfe", None)
    assert decrypt_note(META_KEY, ciphertext, NONCE) == "ok \ufffd\ufffd"


# -- plaintext layouts --------------------------------------------------------------------


def test_content_types() -> None:
    assert NOTE_CONTENT_TYPES == ("text", "markdown", "code", "password", "sshkey")


def test_code_note_format() -> None:
    blocks = [CodeBlock(code='print("hi")\n', language="python", title="ä"), CodeBlock("x")]
    text = format_code_note(blocks)
    assert text == (
        '[{"title":"ä","language":"python","code":"print(\\"hi\\")\\n"},'
        '{"title":"","language":"auto","code":"x"}]'
    )
    assert parse_code_note(text) == tuple(blocks)


@pytest.mark.parametrize(
    "text", ["raw code", "[]", '[{"code":"x"}]', '{"title":"","language":"","code":""}', "[1]"]
)
def test_code_note_fallback(text: str) -> None:
    assert parse_code_note(text) == (CodeBlock(code=text, language="auto", title=""),)


def test_password_note_format() -> None:
    entries = [PasswordEntry("s3cr3t", "mail"), PasswordEntry("pa\nss")]
    text = format_password_note(entries)
    assert text == '[{"label":"mail","value":"s3cr3t"},{"label":"","value":"pa\\nss"}]'
    assert parse_password_note(text) == tuple(entries)


def test_password_note_legacy_layouts() -> None:
    assert parse_password_note('["pw1","pw2"]') == (PasswordEntry("pw1"), PasswordEntry("pw2"))
    assert parse_password_note("one\n\ntwo words\n\n\n\nthree") == (
        PasswordEntry("one"),
        PasswordEntry("two words"),
        PasswordEntry("three"),
    )
    assert parse_password_note("single") == (PasswordEntry("single"),)


PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI user@host"


def test_sshkey_note_format() -> None:
    note = SshKeyNote(public_key=PUBLIC_KEY, private_key=PRIVATE_KEY, passphrase="p w: ü")
    text = format_sshkey_note(note)
    assert text == f"{PUBLIC_KEY}\n\n{PRIVATE_KEY}\n\nPassphrase: p w: ü"
    assert parse_sshkey_note(text) == note


def test_sshkey_note_partial_and_reordered() -> None:
    assert format_sshkey_note(SshKeyNote(private_key=PRIVATE_KEY)) == PRIVATE_KEY
    text = f"Passphrase: x\n\n{PRIVATE_KEY}\n\n  {PUBLIC_KEY}  \n"
    assert parse_sshkey_note(text) == SshKeyNote(PUBLIC_KEY, PRIVATE_KEY, "x")
    assert parse_sshkey_note(PUBLIC_KEY) == SshKeyNote(public_key=PUBLIC_KEY)
