"""Note endpoints over real HTTP (http-api.md §2.14-2.18, storage-and-lifecycle.md §5)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.raw_http import read_response

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
UNKNOWN = "00000000-0000-4000-8000-000000000000"
MIB = 1024 * 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keys:
    """The credentials a client derives for one note."""

    def __init__(self) -> None:
        self.auth = secrets.token_bytes(32)
        self.owner = secrets.token_bytes(32)

    def view_body(self) -> dict[str, str]:
        return {"authToken": b64u(self.auth)}


def note_fields(keys: Keys | None = None, **changes: Any) -> dict[str, Any]:
    """A valid ``POST /api/note`` body (web-app style encodings); ``...`` drops a field."""
    keys = keys or Keys()
    fields: dict[str, Any] = {
        "encryptedContent": b64(secrets.token_bytes(100)),
        "nonce": b64(secrets.token_bytes(12)),
        "salt": b64u(secrets.token_bytes(32)),
        "ownerToken": b64u(keys.owner),
        "authToken": b64u(keys.auth),
        "contentType": "text",
        "maxViews": 0,
        "expireSec": 3600,
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not ...}


def password_fields() -> dict[str, Any]:
    return {
        "hasPassword": True,
        "passwordSalt": b64u(secrets.token_bytes(16)),
        "passwordAlgo": "argon2id-v2",
    }


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as c:
        yield c


def create(client: httpx.Client, keys: Keys | None = None, **changes: Any) -> str:
    response = client.post("/api/note", json=note_fields(keys, **changes))
    assert response.status_code == 201, response.text
    note_id: str = response.json()["id"]
    return note_id


def assert_error(response: httpx.Response, status: int, message: str) -> None:
    assert (response.status_code, response.json()) == (status, {"error": message})
    assert response.headers["Cache-Control"] == "no-store"


def post_unsent(
    base_url: str, path: str, *, declared: int | None = None, chunk: bytes = b""
) -> httpx.Response:
    """POST whose body is never (completely) sent, then read the answer.

    With ``declared`` only the headers go out (``Content-Length: declared``): the server
    must answer from the headers alone. Otherwise the body is chunked and only ``chunk`` is
    sent, without the final empty chunk: the server must answer while reading. Nothing is
    written after the server may have answered, so no connection reset can race the reply.
    """
    url = httpx.URL(base_url)
    host, port = url.host, url.port or 80
    framing = (
        f"Content-Length: {declared}\r\n"
        if declared is not None
        else "Transfer-Encoding: chunked\r\n"
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n"
    ).encode()
    body = b"" if declared is not None else f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head + body)
        return read_response(sock)


def wait_until_expired(client: httpx.Client, note_id: str) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if client.get(f"/api/note/{note_id}").json() == {"error": "Note has expired"}:
            return
        time.sleep(0.1)
    raise AssertionError("note did not expire")


# -- POST /api/note: success ----------------------------------------------------------


def test_create_answers_201_with_id_and_exact_expiry(client: httpx.Client) -> None:
    before = time.time()
    response = client.post("/api/note", json=note_fields(expireSec=300))
    after = time.time()
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"id", "expiresAt"}
    assert UUID4.fullmatch(body["id"])
    assert ISO_MS.fullmatch(body["expiresAt"])
    expires = datetime.strptime(body["expiresAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before + 300 - 0.01 <= expires.timestamp() <= after + 300 + 0.01


@pytest.mark.parametrize("encode", [b64, b64u], ids=["base64-padded", "base64url-unpadded"])
def test_both_base64_alphabets_are_accepted(
    client: httpx.Client, encode: Callable[[bytes], str]
) -> None:
    # 256 byte values make '+', '/' (standard) and '-', '_' (URL-safe) appear; 1000 bytes
    # is not a multiple of 3, so the padded form really has padding.
    content = bytes(range(256)) * 3 + secrets.token_bytes(232)
    nonce = b"\xfb\xff\xbf" * 4
    keys = Keys()
    note_id = create(
        client, keys, encryptedContent=encode(content), nonce=encode(nonce), salt=b64u(b"s" * 16)
    )
    view = client.post(f"/api/note/{note_id}/view", json=keys.view_body())
    assert view.status_code == 200
    assert view.json()["encryptedContent"] == base64.b64encode(content).decode()
    assert view.json()["nonce"] == base64.b64encode(nonce).decode()


@pytest.mark.parametrize("content_type", ["text", "password", "code", "markdown", "sshkey"])
def test_every_content_type_is_accepted(client: httpx.Client, content_type: str) -> None:
    note_id = create(client, contentType=content_type)
    assert client.get(f"/api/note/{note_id}").json()["contentType"] == content_type


def test_tokens_with_padding_and_16_byte_salt_are_accepted(client: httpx.Client) -> None:
    keys = Keys()
    fields = note_fields(keys, salt=b64u(b"s" * 16))
    fields["authToken"] += "="  # 43 characters plus one '=' is still valid base64url
    note_id = client.post("/api/note", json=fields).json()["id"]
    assert client.post(f"/api/note/{note_id}/view", json=keys.view_body()).status_code == 200


# -- POST /api/note: every check of §2.14, in order -----------------------------------


def test_row1_rate_limit_comes_first(serve_app: Callable[..., str]) -> None:
    """429 before the service toggle and before any check of the body."""
    for env, body, status in (
        ({"ENABLED_SERVICES": "file"}, b"{", 403),
        ({}, json.dumps(note_fields()).encode(), 201),
    ):
        url = serve_app(RATE_LIMIT_MAX="20", **env)
        with httpx.Client(base_url=url) as c:
            first = c.post("/api/note", content=body)
            assert first.status_code == status
            for _ in range(int(first.headers["X-RateLimit-Remaining"])):
                assert c.post("/api/note", content=body).status_code == status
            assert_error(c.post("/api/note", content=body), 429, "Too many requests")


def test_row2_disabled_service_wins_over_everything(serve_app: Callable[..., str]) -> None:
    url = serve_app(ENABLED_SERVICES="file")
    response = post_unsent(url, "/api/note", declared=3 * MIB)
    assert_error(response, 403, "Note service is disabled")


def test_row4_body_over_limit_by_content_length(server: str) -> None:
    response = post_unsent(server, "/api/note", declared=2 * MIB + 1)
    assert_error(response, 413, "Request body too large")


def test_row4_body_over_limit_while_streaming(server: str) -> None:
    chunk = json.dumps(note_fields()).encode().ljust(2 * MIB + 1)
    response = post_unsent(server, "/api/note", chunk=chunk)
    assert_error(response, 413, "Request body too large")


def test_row4_body_of_exactly_the_limit_is_read(client: httpx.Client) -> None:
    body = json.dumps(note_fields()).encode().ljust(2 * MIB)
    assert client.post("/api/note", content=body).status_code == 201


def test_row4_limit_grows_with_note_max_size(serve_app: Callable[..., str]) -> None:
    url = serve_app(NOTE_MAX_SIZE="3MB")
    max_ciphertext = 3 * MIB + 256
    limit = -(-max_ciphertext * 4 // 3) + 16 * 1024
    with httpx.Client(base_url=url, timeout=60) as c:
        fields = note_fields(encryptedContent=b64(secrets.token_bytes(max_ciphertext)))
        body = json.dumps(fields).encode()
        assert 2 * MIB < len(body) <= limit
        assert c.post("/api/note", content=body).status_code == 201
        assert c.post("/api/note", content=body.ljust(limit)).status_code == 201
    assert_error(post_unsent(url, "/api/note", declared=limit + 1), 413, "Request body too large")
    chunk = body.ljust(limit + 1)
    assert_error(post_unsent(url, "/api/note", chunk=chunk), 413, "Request body too large")


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"not json", b'{"a":1,}', b"\xff\xfe{}", b"{'encryptedContent': 'x'}"],
    ids=["empty", "truncated", "text", "trailing-comma", "not-utf8", "single-quotes"],
)
def test_row5_body_not_json(client: httpx.Client, body: bytes) -> None:
    response = client.post("/api/note", content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "Invalid JSON body")


INVALID_FIELDS: list[tuple[str, dict[str, Any]]] = [
    *(("encryptedContent", {"encryptedContent": v}) for v in (..., "", 5, None, ["x"])),
    *(("nonce", {"nonce": v}) for v in (..., "", 12, None)),
    *(("salt", {"salt": v}) for v in (..., "", 16, None)),
    *(
        ("ownerToken", {"ownerToken": v})
        for v in (..., "", "a b", "ab+c", "ab/c", "abc===", "=abc", "abcde", 5, None)
    ),
    *(("authToken", {"authToken": v}) for v in (..., "", "a.b", "ab==c", "A", True)),
    *(("contentType", {"contentType": v}) for v in (..., "html", "Text", "", 1, None)),
    *(("maxViews", {"maxViews": v}) for v in (..., "1", -1, 1.5, True, None, [1])),
    *(("expireSec", {"expireSec": v}) for v in (..., "3600", 0, -300, 300.5, False, None)),
    *(("hasPassword", {"hasPassword": v}) for v in ("true", 1, None, "false")),
    ("passwordAlgo", {**password_fields(), "passwordAlgo": "argon2id"}),
    ("passwordAlgo", {**password_fields(), "passwordAlgo": "ARGON2ID-V2"}),
    ("passwordAlgo", {**password_fields(), "passwordAlgo": 2}),
    ("passwordSalt", {**password_fields(), "passwordSalt": 16}),
]


@pytest.mark.parametrize(("field", "changes"), INVALID_FIELDS)
def test_row6_field_types_presence_and_enums(
    client: httpx.Client, field: str, changes: dict[str, Any]
) -> None:
    response = client.post("/api/note", json=note_fields(**changes))
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "details"}
    assert body["error"] == "Invalid request"
    assert list(body["details"]) == [field]
    assert all(isinstance(m, str) for m in body["details"][field])


def test_row6_reports_every_failing_field(client: httpx.Client) -> None:
    response = client.post("/api/note", json=[])  # valid JSON, not an object
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid request"
    assert set(response.json()["details"]) == {
        "encryptedContent",
        "nonce",
        "salt",
        "ownerToken",
        "authToken",
        "contentType",
        "maxViews",
        "expireSec",
    }


def test_row6_integral_floats_are_json_integers(client: httpx.Client) -> None:
    assert (
        client.post("/api/note", json=note_fields(maxViews=2.0, expireSec=3600.0)).status_code
        == 201
    )


@pytest.mark.parametrize("value", ["not base64!", "a", "abcde", "====", "ab=c", "YWJj\n"])
def test_row7_content_not_base64(client: httpx.Client, value: str) -> None:
    response = client.post("/api/note", json=note_fields(encryptedContent=value))
    assert_error(response, 400, "Invalid encryptedContent encoding")


def test_row8_content_longer_than_note_max_size_plus_256(serve_app: Callable[..., str]) -> None:
    url = serve_app(NOTE_MAX_SIZE="1KB")
    with httpx.Client(base_url=url) as c:
        at_limit = note_fields(encryptedContent=b64(secrets.token_bytes(1024 + 256)))
        assert c.post("/api/note", json=at_limit).status_code == 201
        over = note_fields(encryptedContent=b64u(secrets.token_bytes(1024 + 257)))
        assert_error(c.post("/api/note", json=over), 413, "Note content exceeds maximum size")


@pytest.mark.parametrize("value", ["***", "abcde", "ab+/" * 6, "c2FsdA=="[:5] + "="])
def test_row9_salt_malformed(client: httpx.Client, value: str) -> None:
    assert_error(
        client.post("/api/note", json=note_fields(salt=value)), 400, "Invalid salt encoding"
    )


@pytest.mark.parametrize("size", [1, 15, 17, 24, 31, 33, 64])
def test_row10_salt_size(client: httpx.Client, size: int) -> None:
    response = client.post("/api/note", json=note_fields(salt=b64u(secrets.token_bytes(size))))
    assert_error(response, 400, "Salt must be 16 or 32 bytes")


@pytest.mark.parametrize("value", ["!!!!", "a", "====", "bm9uY2U*"])
def test_row11_nonce_not_base64(client: httpx.Client, value: str) -> None:
    assert_error(
        client.post("/api/note", json=note_fields(nonce=value)), 400, "Invalid nonce encoding"
    )


@pytest.mark.parametrize("size", [1, 11, 13, 16])
def test_row12_nonce_size(client: httpx.Client, size: int) -> None:
    response = client.post("/api/note", json=note_fields(nonce=b64(secrets.token_bytes(size))))
    assert_error(response, 400, "Nonce must be exactly 12 bytes")


@pytest.mark.parametrize("value", [1, 299, 301, 7200, 10**30])
def test_row13_expiry_not_an_option(client: httpx.Client, value: int) -> None:
    response = client.post("/api/note", json=note_fields(expireSec=value))
    assert_error(response, 400, "Invalid expiry time. Must be one of the allowed options.")


@pytest.mark.parametrize("value", [4, 6, 101, 1000])
def test_row14_view_limit_not_an_option(client: httpx.Client, value: int) -> None:
    response = client.post("/api/note", json=note_fields(maxViews=value))
    assert_error(response, 400, "Invalid view limit. Must be one of the allowed options.")


@pytest.mark.parametrize(
    "changes",
    [
        {"passwordSalt": ...},
        {"passwordAlgo": ...},
        {"passwordSalt": ..., "passwordAlgo": ...},
        {"passwordSalt": ""},
        {"passwordAlgo": ""},
        {"passwordSalt": None},
    ],
    ids=["no-salt", "no-algo", "neither", "empty-salt", "empty-algo", "null-salt"],
)
def test_row15_password_note_without_salt_or_algo(
    client: httpx.Client, changes: dict[str, Any]
) -> None:
    response = client.post("/api/note", json=note_fields(**{**password_fields(), **changes}))
    assert_error(response, 400, "Password-protected notes require passwordSalt and passwordAlgo")


@pytest.mark.parametrize("value", ["***", "abcde", "ab+c"])
def test_row16_password_salt_malformed(client: httpx.Client, value: str) -> None:
    response = client.post(
        "/api/note", json=note_fields(**{**password_fields(), "passwordSalt": value})
    )
    assert_error(response, 400, "Invalid password salt encoding")


@pytest.mark.parametrize("size", [8, 15, 17, 32])
def test_row17_password_salt_size(client: httpx.Client, size: int) -> None:
    salt = b64u(secrets.token_bytes(size))
    response = client.post(
        "/api/note", json=note_fields(**{**password_fields(), "passwordSalt": salt})
    )
    assert_error(response, 400, "Password salt must be exactly 16 bytes")


def test_row18_force_note_password(serve_app: Callable[..., str]) -> None:
    url = serve_app(FORCE_NOTE_PASSWORD="true")
    with httpx.Client(base_url=url) as c:
        for fields in (note_fields(), note_fields(hasPassword=False)):
            assert_error(
                c.post("/api/note", json=fields), 400, "Password is required by server policy"
            )
        assert c.post("/api/note", json=note_fields(**password_fields())).status_code == 201
        # Every earlier check still comes first.
        response = c.post("/api/note", json=note_fields(maxViews=4))
        assert_error(response, 400, "Invalid view limit. Must be one of the allowed options.")


def test_password_fields_are_ignored_without_password(client: httpx.Client) -> None:
    fields = note_fields(hasPassword=False, passwordSalt="***", passwordAlgo="other")
    note_id = client.post("/api/note", json=fields).json()["id"]
    assert client.get(f"/api/note/{note_id}").json()["hasPassword"] is False


def test_check_order_ladder(serve_app: Callable[..., str]) -> None:
    """Start with a body that breaks every value rule; repair one rule at a time and watch
    the reported error walk down the table of §2.14."""
    url = serve_app(NOTE_MAX_SIZE="1KB")
    fields = note_fields(
        encryptedContent="!!",
        salt="***",
        nonce="!!",
        expireSec=7,
        maxViews=4,
        hasPassword=True,
        passwordAlgo="argon2id-v2",
    )
    ladder: list[tuple[dict[str, Any], int, str]] = [
        ({"maxViews": "4"}, 400, "Invalid request"),
        ({"maxViews": 4}, 400, "Invalid encryptedContent encoding"),
        (
            {"encryptedContent": b64(b"x" * 1281)},
            413,
            "Note content exceeds maximum size",
        ),
        ({"encryptedContent": b64(b"x" * 1280)}, 400, "Invalid salt encoding"),
        ({"salt": b64u(b"s" * 15)}, 400, "Salt must be 16 or 32 bytes"),
        ({"salt": b64u(b"s" * 32)}, 400, "Invalid nonce encoding"),
        ({"nonce": b64(b"n" * 11)}, 400, "Nonce must be exactly 12 bytes"),
        (
            {"nonce": b64(b"n" * 12)},
            400,
            "Invalid expiry time. Must be one of the allowed options.",
        ),
        (
            {"expireSec": 300},
            400,
            "Invalid view limit. Must be one of the allowed options.",
        ),
        (
            {"maxViews": 1},
            400,
            "Password-protected notes require passwordSalt and passwordAlgo",
        ),
        ({"passwordSalt": "***"}, 400, "Invalid password salt encoding"),
        ({"passwordSalt": b64u(b"p" * 32)}, 400, "Password salt must be exactly 16 bytes"),
        ({"passwordSalt": b64u(b"p" * 16)}, 201, ""),
    ]
    raw = post_unsent(url, "/api/note", chunk=b"{" + b" " * (2 * MIB))
    assert_error(raw, 413, "Request body too large")  # row 4 before row 5
    with httpx.Client(base_url=url) as c:
        assert_error(c.post("/api/note", content=b"{"), 400, "Invalid JSON body")
        for changes, status, message in ladder:
            fields.update(changes)
            response = c.post("/api/note", json=fields)
            assert response.status_code == status, (changes, response.text)
            if message:
                assert response.json()["error"] == message


# -- GET /api/note/:id ----------------------------------------------------------------


def test_info_without_password(client: httpx.Client) -> None:
    salt = secrets.token_bytes(32)
    created = client.post(
        "/api/note", json=note_fields(salt=b64u(salt), maxViews=3, contentType="code")
    ).json()
    response = client.get(f"/api/note/{created['id']}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {
        "id",
        "contentType",
        "hasPassword",
        "salt",
        "maxViews",
        "viewCount",
        "expiresAt",
        "createdAt",
    }
    assert body["id"] == created["id"]
    assert (body["contentType"], body["hasPassword"], body["maxViews"], body["viewCount"]) == (
        "code",
        False,
        3,
        0,
    )
    assert body["salt"] == b64u(salt)
    # Stored timestamps are whole seconds; the create response carried the exact value.
    assert body["expiresAt"] == created["expiresAt"][:-4] + "000Z"
    assert ISO_MS.fullmatch(body["createdAt"])
    assert body["createdAt"].endswith(".000Z")


def test_info_with_password(client: httpx.Client) -> None:
    fields = password_fields()
    note_id = create(client, **fields)
    body = client.get(f"/api/note/{note_id}").json()
    assert body["hasPassword"] is True
    assert body["passwordAlgo"] == "argon2id-v2"
    assert body["passwordSalt"] == fields["passwordSalt"]
    assert "encryptedContent" not in body
    assert "nonce" not in body


@pytest.mark.parametrize(
    "note_id",
    [UNKNOWN, UNKNOWN.upper(), "not-a-uuid", "a" * 37, ".." + "-" * 34],
    ids=["unknown", "uppercase", "short", "long", "traversal"],
)
def test_info_unknown_or_invalid_id(client: httpx.Client, note_id: str) -> None:
    assert_error(client.get(f"/api/note/{note_id}"), 404, "Note not found")


def test_encoded_slash_in_id_never_reaches_storage(client: httpx.Client) -> None:
    assert client.get("/api/note/..%2F..%2Fdb%2Fskysend.db").status_code == 404


def test_info_exhausted(client: httpx.Client) -> None:
    keys = Keys()
    note_id = create(client, keys, maxViews=1)
    assert client.get(f"/api/note/{note_id}").status_code == 200
    assert client.post(f"/api/note/{note_id}/view", json=keys.view_body()).status_code == 200
    assert_error(client.get(f"/api/note/{note_id}"), 410, "View limit reached")


@pytest.fixture
def short_lived(serve_app: Callable[..., str]) -> Iterator[httpx.Client]:
    """A server that offers a 1-second note expiry."""
    url = serve_app(NOTE_EXPIRE_OPTIONS_SEC="1,3600", NOTE_DEFAULT_EXPIRE_SEC="3600")
    with httpx.Client(base_url=url) as c:
        yield c


def test_expired_note_everywhere(short_lived: httpx.Client) -> None:
    c = short_lived
    keys = Keys()
    note_id = create(c, keys, expireSec=1, maxViews=1, **password_fields())
    assert c.post(f"/api/note/{note_id}/view", json=keys.view_body()).status_code == 200
    wait_until_expired(c, note_id)
    # Expired takes precedence over exhausted, and over a wrong token.
    assert_error(c.get(f"/api/note/{note_id}"), 410, "Note has expired")
    wrong = {"authToken": b64u(secrets.token_bytes(32))}
    for body in (keys.view_body(), wrong):
        assert_error(c.post(f"/api/note/{note_id}/view", json=body), 410, "Note has expired")
        assert_error(c.post(f"/api/note/{note_id}/password", json=body), 410, "Note has expired")
    # The owner may still delete it.
    response = c.delete(f"/api/note/{note_id}", headers={"X-Owner-Token": b64u(keys.owner)})
    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert_error(c.get(f"/api/note/{note_id}"), 404, "Note not found")


def test_exhausted_note_answers_410_until_cleanup_then_404(serve_app: Callable[..., str]) -> None:
    url = serve_app(CLEANUP_INTERVAL="1")
    with httpx.Client(base_url=url) as c:
        keys = Keys()
        note_id = create(c, keys, maxViews=1)
        assert c.post(f"/api/note/{note_id}/view", json=keys.view_body()).status_code == 200
        assert_error(c.get(f"/api/note/{note_id}"), 410, "View limit reached")
        deadline = time.monotonic() + 10
        while c.get(f"/api/note/{note_id}").status_code == 410:
            assert time.monotonic() < deadline, "cleanup never removed the note"
            time.sleep(0.2)
        assert_error(c.get(f"/api/note/{note_id}"), 404, "Note not found")
        view = c.post(f"/api/note/{note_id}/view", json=keys.view_body())
        assert_error(view, 404, "Note not found")


# -- POST /api/note/:id/view ----------------------------------------------------------


def test_view_returns_padded_standard_base64_and_counts(client: httpx.Client) -> None:
    keys = Keys()
    content = b"\xfb\xff" + secrets.token_bytes(98)  # 100 bytes: padded, with '+'/'/'
    nonce = secrets.token_bytes(12)
    note_id = create(client, keys, encryptedContent=b64u(content), nonce=b64u(nonce), maxViews=2)
    first = client.post(f"/api/note/{note_id}/view", json=keys.view_body())
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "no-store"
    assert first.json() == {
        "encryptedContent": base64.b64encode(content).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "viewCount": 1,
        "maxViews": 2,
    }
    assert first.json()["encryptedContent"].endswith("=")
    assert client.get(f"/api/note/{note_id}").json()["viewCount"] == 1
    second = client.post(f"/api/note/{note_id}/view", json=keys.view_body())
    assert (second.json()["viewCount"], second.json()["maxViews"]) == (2, 2)
    third = client.post(f"/api/note/{note_id}/view", json=keys.view_body())
    assert_error(third, 410, "View limit reached")


def test_unlimited_note_views(client: httpx.Client) -> None:
    keys = Keys()
    note_id = create(client, keys, maxViews=0)
    counts = [
        client.post(f"/api/note/{note_id}/view", json=keys.view_body()).json()["viewCount"]
        for _ in range(12)
    ]
    assert counts == list(range(1, 13))
    assert client.get(f"/api/note/{note_id}").json()["maxViews"] == 0


@pytest.mark.parametrize("path", ["view", "password"])
def test_token_body_over_16_kib(server: str, client: httpx.Client, path: str) -> None:
    keys = Keys()
    note_id = create(client, keys, maxViews=1, **password_fields())
    padded = json.dumps(keys.view_body()).encode().ljust(16 * 1024 + 1)
    for note in (note_id, UNKNOWN):  # the size check comes before the lookup
        by_header = post_unsent(server, f"/api/note/{note}/{path}", declared=len(padded))
        assert_error(by_header, 413, "Request body too large")
        while_reading = post_unsent(server, f"/api/note/{note}/{path}", chunk=padded)
        assert_error(while_reading, 413, "Request body too large")
    assert client.get(f"/api/note/{note_id}").json()["viewCount"] == 0
    exact = json.dumps(keys.view_body()).encode().ljust(16 * 1024)
    assert client.post(f"/api/note/{note_id}/{path}", content=exact).status_code == 200


@pytest.mark.parametrize("path", ["view", "password"])
def test_token_body_errors(client: httpx.Client, path: str) -> None:
    for note in (create(client, **password_fields()), UNKNOWN):  # before the lookup
        url = f"/api/note/{note}/{path}"
        for raw in (b"", b"{", b"authToken=x"):
            assert_error(client.post(url, content=raw), 400, "Invalid JSON body")
        for body in ({}, {"authToken": ""}, {"authToken": 5}, {"authToken": None}, [], "x"):
            assert_error(client.post(url, json=body), 400, "Missing authToken in body")


@pytest.mark.parametrize("path", ["view", "password"])
def test_token_endpoints_unknown_note(client: httpx.Client, path: str) -> None:
    body = {"authToken": b64u(secrets.token_bytes(32))}
    for note in (UNKNOWN, "nope"):
        assert_error(client.post(f"/api/note/{note}/{path}", json=body), 404, "Note not found")


def test_view_exhausted_comes_before_token_check(client: httpx.Client) -> None:
    keys = Keys()
    note_id = create(client, keys, maxViews=1)
    client.post(f"/api/note/{note_id}/view", json=keys.view_body())
    wrong = {"authToken": b64u(secrets.token_bytes(32))}
    assert_error(client.post(f"/api/note/{note_id}/view", json=wrong), 410, "View limit reached")


@pytest.mark.parametrize(
    "token",
    [b64u(secrets.token_bytes(32)), "***", "A", b64u(secrets.token_bytes(16)), "a b"],
    ids=["wrong", "bad-chars", "bad-length", "short", "space"],
)
def test_wrong_or_malformed_token_never_consumes_a_view(client: httpx.Client, token: str) -> None:
    keys = Keys()
    note_id = create(client, keys, maxViews=1)
    for _ in range(3):
        response = client.post(f"/api/note/{note_id}/view", json={"authToken": token})
        assert_error(response, 401, "Invalid auth token")
    assert client.get(f"/api/note/{note_id}").json()["viewCount"] == 0
    assert client.post(f"/api/note/{note_id}/view", json=keys.view_body()).status_code == 200


async def test_concurrent_views_only_two_of_ten_get_the_content(server: str) -> None:
    keys = Keys()
    content = secrets.token_bytes(1000)
    with httpx.Client(base_url=server) as c:
        note_id = create(c, keys, encryptedContent=b64(content), maxViews=2)
    limits = httpx.Limits(max_connections=10)
    async with httpx.AsyncClient(base_url=server, limits=limits, timeout=30) as ac:
        responses = await asyncio.gather(
            *(ac.post(f"/api/note/{note_id}/view", json=keys.view_body()) for _ in range(10))
        )
    winners = [r for r in responses if r.status_code == 200]
    losers = [r for r in responses if r.status_code != 200]
    assert len(winners) == 2
    assert sorted(r.json()["viewCount"] for r in winners) == [1, 2]
    assert all(r.json()["encryptedContent"] == b64(content) for r in winners)
    assert len(losers) == 8
    for response in losers:
        assert_error(response, 410, "View limit reached")


async def test_concurrent_wrong_tokens_do_not_steal_views(
    serve_app: Callable[..., str],
) -> None:
    server = serve_app(PASSWORD_MAX_ATTEMPTS="100")  # 20 failures: not enough to lock out
    keys = Keys()
    with httpx.Client(base_url=server) as c:
        note_id = create(c, keys, maxViews=1)
    wrong = {"authToken": b64u(secrets.token_bytes(32))}
    async with httpx.AsyncClient(base_url=server, timeout=30) as ac:
        responses = await asyncio.gather(
            *(ac.post(f"/api/note/{note_id}/view", json=wrong) for _ in range(20))
        )
        assert {r.status_code for r in responses} == {401}
        good = await ac.post(f"/api/note/{note_id}/view", json=keys.view_body())
    assert (good.status_code, good.json()["viewCount"]) == (200, 1)


def test_burn_after_reading_erases_ciphertext_from_database_files(
    serve_app: Callable[..., str], tmp_path: Path
) -> None:
    url = serve_app()
    (db_path,) = tmp_path.glob("data-*/db/skysend.db")
    secret = secrets.token_bytes(4096)
    keys = Keys()
    with httpx.Client(base_url=url) as c:
        survivor = create(c, Keys(), encryptedContent=b64(secrets.token_bytes(4096)))
        note_id = create(c, keys, encryptedContent=b64(secret), maxViews=1)
        wal = db_path.with_name("skysend.db-wal")
        stored = db_path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        assert secret[:64] in stored  # the check below would notice the bytes

        view = c.post(f"/api/note/{note_id}/view", json=keys.view_body())
        assert view.status_code == 200
        assert base64.b64decode(view.json()["encryptedContent"]) == secret

        for file in (db_path, wal):
            raw = file.read_bytes() if file.exists() else b""
            for start in range(0, len(secret) - 32 + 1, 32):
                assert secret[start : start + 32] not in raw, f"ciphertext left in {file.name}"
        assert_error(c.get(f"/api/note/{note_id}"), 410, "View limit reached")
        assert_error(
            c.post(f"/api/note/{note_id}/view", json=keys.view_body()), 410, "View limit reached"
        )
        assert c.get(f"/api/note/{survivor}").status_code == 200


# -- POST /api/note/:id/password ------------------------------------------------------


def test_password_check(client: httpx.Client) -> None:
    keys = Keys()
    note_id = create(client, keys, maxViews=1, **password_fields())
    for _ in range(3):
        response = client.post(f"/api/note/{note_id}/password", json=keys.view_body())
        assert (response.status_code, response.json()) == (200, {"ok": True})
        assert response.headers["Cache-Control"] == "no-store"
    assert client.get(f"/api/note/{note_id}").json()["viewCount"] == 0  # no view consumed
    for token in (b64u(secrets.token_bytes(32)), "***", "A"):
        response = client.post(f"/api/note/{note_id}/password", json={"authToken": token})
        assert_error(response, 401, "Invalid password")
    assert client.post(f"/api/note/{note_id}/view", json=keys.view_body()).status_code == 200
    wrong = {"authToken": b64u(secrets.token_bytes(32))}
    assert_error(
        client.post(f"/api/note/{note_id}/password", json=wrong), 410, "View limit reached"
    )


def test_password_check_on_note_without_password(short_lived: httpx.Client) -> None:
    c = short_lived
    keys = Keys()
    note_id = create(c, keys, expireSec=1)
    response = c.post(f"/api/note/{note_id}/password", json=keys.view_body())
    assert_error(response, 400, "Note is not password-protected")
    wait_until_expired(c, note_id)
    # The no-password answer comes before the expiry check.
    response = c.post(f"/api/note/{note_id}/password", json=keys.view_body())
    assert_error(response, 400, "Note is not password-protected")


# -- DELETE /api/note/:id -------------------------------------------------------------


def test_delete(client: httpx.Client) -> None:
    keys = Keys()
    note_id = create(client, keys, **password_fields())
    url = f"/api/note/{note_id}"
    assert_error(client.delete(url), 401, "Invalid owner token")
    assert_error(client.delete(url, headers={"X-Owner-Token": ""}), 401, "Invalid owner token")
    for token in (b64u(keys.auth), "***", "A", b64u(secrets.token_bytes(32))):
        response = client.delete(url, headers={"X-Owner-Token": token})
        assert_error(response, 401, "Invalid owner token")
    assert client.get(url).status_code == 200
    response = client.delete(url, headers={"X-Owner-Token": b64u(keys.owner)})
    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert response.headers["Cache-Control"] == "no-store"
    owner = {"X-Owner-Token": b64u(keys.owner)}
    assert_error(client.get(url), 404, "Note not found")
    assert_error(client.post(f"{url}/view", json=keys.view_body()), 404, "Note not found")
    assert_error(client.post(f"{url}/password", json=keys.view_body()), 404, "Note not found")
    assert_error(client.delete(url, headers=owner), 404, "Note not found")


def test_delete_checks_header_before_lookup(client: httpx.Client) -> None:
    assert_error(client.delete(f"/api/note/{UNKNOWN}"), 401, "Invalid owner token")
    owner = {"X-Owner-Token": b64u(secrets.token_bytes(32))}
    assert_error(client.delete(f"/api/note/{UNKNOWN}", headers=owner), 404, "Note not found")
    assert_error(client.delete("/api/note/nope", headers=owner), 404, "Note not found")


def test_delete_exhausted_note(client: httpx.Client) -> None:
    keys = Keys()
    note_id = create(client, keys, maxViews=1)
    client.post(f"/api/note/{note_id}/view", json=keys.view_body())
    response = client.delete(f"/api/note/{note_id}", headers={"X-Owner-Token": b64u(keys.owner)})
    assert response.status_code == 200
    assert_error(client.get(f"/api/note/{note_id}"), 404, "Note not found")


def test_unknown_methods_under_note_are_not_found(client: httpx.Client) -> None:
    note_id = create(client)
    for method, path in (
        ("PUT", f"/api/note/{note_id}"),
        ("GET", "/api/note"),
        ("GET", f"/api/note/{note_id}/view"),
        ("POST", f"/api/note/{note_id}/other"),
    ):
        assert_error(client.request(method, path), 404, "Not found")
