"""Key material, tokens, password protection, base64 and share URLs (crypto.md §1-§5)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from skysend_core.crypto import (
    PASSWORD_ALGORITHM,
    ItemKeys,
    ShareLocation,
    b64_decode,
    b64_decode_any,
    b64_encode,
    b64url_decode,
    b64url_encode,
    build_share_url,
    compute_auth_token,
    derive_auth_key,
    derive_file_key,
    derive_meta_key,
    derive_owner_token,
    derive_password_key,
    generate_password_salt,
    generate_salt,
    generate_secret,
    is_supported_password_algorithm,
    parse_share_location,
    parse_share_url,
    protect_secret,
    unprotect_secret,
)

SECRET = bytes(range(32))
SALT = bytes(range(100, 132))


# -- generation and derivation ------------------------------------------------------------


def test_generated_lengths_and_freshness() -> None:
    assert len(generate_secret()) == 32
    assert len(generate_salt()) == 32
    assert len(generate_password_salt()) == 16
    assert len({generate_secret() for _ in range(8)}) == 8


def test_hkdf_info_strings() -> None:
    def hkdf(info: bytes) -> bytes:
        return HKDF(hashes.SHA256(), 32, SALT, info).derive(SECRET)

    assert derive_file_key(SECRET, SALT) == hkdf(b"skysend-file-encryption")
    assert derive_meta_key(SECRET, SALT) == hkdf(b"skysend-metadata")
    assert derive_auth_key(SECRET, SALT) == hkdf(b"skysend-authentication")
    assert derive_owner_token(SECRET, SALT) == hkdf(b"skysend-owner-token")
    auth_key = hkdf(b"skysend-authentication")
    expected = hmac.new(auth_key, b"skysend-auth-token", hashlib.sha256).digest()
    assert compute_auth_token(auth_key) == expected


def test_legacy_salt_length_is_accepted() -> None:
    assert len(derive_file_key(SECRET, SALT[:16])) == 32


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_secret_of_wrong_length_is_rejected(length: int) -> None:
    with pytest.raises(ValueError, match="secret must be 32 bytes"):
        derive_file_key(bytes(length), SALT)


@pytest.mark.parametrize("length", [0, 15, 24, 33])
def test_salt_of_unknown_length_is_rejected(length: int) -> None:
    with pytest.raises(ValueError, match="salt must be 32 or 16 bytes"):
        derive_meta_key(SECRET, bytes(length))


def test_item_keys_without_password() -> None:
    keys = ItemKeys.generate()
    assert keys.effective_secret == keys.secret
    assert keys.password_salt is None
    assert not keys.has_password
    assert keys.password_salt_b64u is None
    assert len({keys.file_key, keys.meta_key, keys.auth_key}) == 3
    opened = ItemKeys.from_share(b64url_decode(keys.fragment), b64url_decode(keys.salt_b64u))
    assert opened == keys


def test_item_keys_repr_hides_secrets() -> None:
    keys = ItemKeys.derive(SECRET, SALT)
    text = repr(keys)
    for value in (keys.secret, keys.file_key, keys.meta_key, keys.auth_token, keys.owner_token):
        assert repr(value) not in text
        assert b64url_encode(value) not in text


# -- password -----------------------------------------------------------------------------


def test_password_round_trip_and_token_sources() -> None:
    created = ItemKeys.generate(password="hunter2 ✓")
    assert created.has_password
    assert created.password_salt is not None
    assert created.effective_secret != created.secret
    assert created.owner_token == derive_owner_token(created.effective_secret, created.salt)
    plain = ItemKeys.derive(created.secret, created.salt)
    assert created.auth_token == plain.auth_token  # auth token from the raw secret
    assert created.owner_token != plain.owner_token  # owner token from the protected one

    opened = ItemKeys.from_share(
        created.effective_secret,
        created.salt,
        password="hunter2 ✓",
        password_salt=created.password_salt,
    )
    assert opened == created

    wrong = ItemKeys.from_share(
        created.effective_secret,
        created.salt,
        password="hunter3 ✓",
        password_salt=created.password_salt,
    )
    assert wrong.auth_token != created.auth_token  # only the server can tell
    assert wrong.owner_token == created.owner_token  # anyone with the URL has it (§3)


def test_password_needs_its_salt() -> None:
    with pytest.raises(ValueError, match="password salt"):
        ItemKeys.from_share(SECRET, SALT, password="pw")


def test_password_is_not_normalised() -> None:
    salt = bytes(16)
    composed, decomposed = "\u00fc", "u\u0308"
    assert derive_password_key(composed, salt) != derive_password_key(decomposed, salt)


def test_password_input_validation() -> None:
    with pytest.raises(ValueError, match="empty"):
        derive_password_key("", bytes(16))
    with pytest.raises(ValueError, match="16 bytes"):
        derive_password_key("pw", bytes(32))
    with pytest.raises(ValueError, match="32 bytes"):
        protect_secret(SECRET[:16], SECRET)


def test_xor_protection_is_an_involution() -> None:
    key = bytes(range(200, 232))
    protected = protect_secret(SECRET, key)
    assert protected == bytes(a ^ b for a, b in zip(SECRET, key, strict=True))
    assert unprotect_secret(protected, key) == SECRET


def test_password_algorithm_identifiers() -> None:
    assert PASSWORD_ALGORITHM == "argon2id-v2"
    assert is_supported_password_algorithm("argon2id-v2")
    for legacy in ("argon2id", "pbkdf2", "", "ARGON2ID-V2"):
        assert not is_supported_password_algorithm(legacy)


# -- base64 -------------------------------------------------------------------------------

B64URL_CASES = [
    (b"", ""),
    (b"\x00", "AA"),
    (b"\x00\x00", "AAA"),
    (b"\x00\x00\x00", "AAAA"),
    (b"\x00\x00\x00\x00", "AAAAAA"),
    (b"\x00\x00\x00\x00\x00", "AAAAAAA"),
    (b"\xfb\xff", "-_8"),
    (b"\xfb\xef\xbe", "----"),
    (b"\xff\xff\xff", "____"),
]


@pytest.mark.parametrize(("raw", "text"), B64URL_CASES)
def test_b64url_encoding(raw: bytes, text: str) -> None:
    assert b64url_encode(raw) == text
    assert b64url_decode(text) == raw
    assert b64url_decode(text + "=" * (-len(text) % 4)) == raw


@pytest.mark.parametrize(
    "text", ["+/8", "-_8/", "AA+A", "A", "AAAAA", " AA", "AA\n", "AA A", "A=A", "AAü", "%3D"]
)
def test_b64url_rejects_malformed_input(text: str) -> None:
    with pytest.raises(ValueError, match="invalid base64url"):
        b64url_decode(text)


def test_standard_base64() -> None:
    assert b64_encode(b"\xfb\xff") == "+/8="
    assert b64_decode("+/8=") == b"\xfb\xff"
    assert b64_decode("+/8") == b"\xfb\xff"
    for bad in ("-_8=", "+/8 =", "A"):
        with pytest.raises(ValueError, match="invalid base64"):
            b64_decode(bad)


def test_either_alphabet() -> None:
    assert b64_decode_any("+/8=") == b64_decode_any("-_8") == b"\xfb\xff"
    with pytest.raises(ValueError, match="invalid base64"):
        b64_decode_any("+/8*")


# -- share URLs ---------------------------------------------------------------------------

FRAGMENT = b64url_encode(SECRET)
ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def test_build_share_url() -> None:
    assert build_share_url("https://send.example.com", "file", ID, SECRET) == (
        f"https://send.example.com/file/{ID}#{FRAGMENT}"
    )
    assert build_share_url("https://h.example//", "note", "a b/c", SECRET) == (
        f"https://h.example/note/a%20b%2Fc#{FRAGMENT}"
    )
    assert len(FRAGMENT) == 43
    with pytest.raises(ValueError, match="32 bytes"):
        build_share_url("https://h", "file", ID, SECRET[:16])


@pytest.mark.parametrize(
    ("url", "kind", "item_id", "server"),
    [
        (f"https://send.example.com/file/{ID}#{FRAGMENT}", "file", ID, "https://send.example.com"),
        (f"https://send.example.com/note/{ID}/#{FRAGMENT}", "note", ID, "https://send.example.com"),
        (f"https://send.example.com/d/{ID}#{FRAGMENT}", "file", ID, "https://send.example.com"),
        (f"http://LOCALHOST:8080/file/a%20b#{FRAGMENT}=", "file", "a b", "http://localhost:8080"),
        (f"https://user:pw@h.example/file/x?q=1#{FRAGMENT}", "file", "x", "https://h.example"),
    ],
)
def test_parse_share_url(url: str, kind: str, item_id: str, server: str) -> None:
    parsed = parse_share_url(url)
    assert (parsed.kind, parsed.item_id, parsed.server, parsed.secret) == (
        kind,
        item_id,
        server,
        SECRET,
    )
    assert FRAGMENT not in repr(parsed)


def test_share_url_round_trip() -> None:
    url = build_share_url("https://send.example.com/", "note", ID, SECRET)
    assert parse_share_url(url).url == url


@pytest.mark.parametrize(
    "url",
    [
        f"https://h/file/{ID}",
        f"https://h/file/{ID}#",
        f"https://h/#{FRAGMENT}",
        f"https://h/file/#{FRAGMENT}",
        f"https://h/file/a/b#{FRAGMENT}",
        f"https://h/files/{ID}#{FRAGMENT}",
        f"https://h/sub/file/{ID}#{FRAGMENT}",
        f"ftp://h/file/{ID}#{FRAGMENT}",
        f"/file/{ID}#{FRAGMENT}",
        f"https://h:99999/file/{ID}#{FRAGMENT}",
        f"https://h/file/{ID}#{FRAGMENT[:-1]}",
        f"https://h/file/{ID}#{FRAGMENT[:-2]}+A",
    ],
)
def test_parse_share_url_rejects(url: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_share_url(url)


@pytest.mark.parametrize("fragment", ["", "#", f"#{FRAGMENT}", "#not-a-secret"])
def test_share_location_needs_no_secret(fragment: str) -> None:
    location = parse_share_location(f"https://User@Send.example.com/d/{ID}/{fragment}")
    assert location == ShareLocation("https://send.example.com", "file", ID)
    assert parse_share_location(f"http://h:8080/note/{ID}") == ShareLocation(
        "http://h:8080", "note", ID
    )


@pytest.mark.parametrize(
    "url",
    ["later", "view", f"https://h/#{FRAGMENT}", f"https://h/files/{ID}", f"/note/{ID}",
     f"ftp://h/note/{ID}", f"https://h/note/{ID}/extra", "https://h/note/"],
)  # fmt: skip
def test_share_location_rejects_what_is_no_share_url(url: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_share_location(url)
