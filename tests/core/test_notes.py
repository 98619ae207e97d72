"""The note use cases on in-memory adapters and a manual clock."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

import pytest

from skysend_adapters.clock import ManualClock
from skysend_adapters.memory import (
    InMemoryBlobStore,
    InMemoryNoteRepository,
    InMemoryUploadRepository,
    InMemoryUploadSessionStore,
)
from skysend_core.config import Settings
from skysend_core.errors import Gone, InvalidRequest, InvalidToken, NotFound, TooLarge
from skysend_core.lifecycle import Cleanup
from skysend_core.notes import Notes
from skysend_core.notes_model import create_body_limit, is_exhausted, is_expired

NOW_MS = 1_800_000_000_250
AUTH = secrets.token_bytes(32)
OWNER = secrets.token_bytes(32)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def request_body(**changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "encryptedContent": b64(b"c" * 64),
        "nonce": b64(b"n" * 12),
        "salt": b64u(b"s" * 32),
        "ownerToken": b64u(OWNER),
        "authToken": b64u(AUTH),
        "contentType": "text",
        "maxViews": 0,
        "expireSec": 3600,
    }
    fields.update(changes)
    return json.dumps({k: v for k, v in fields.items() if v is not ...}).encode()


def settings(**env: str) -> Settings:
    return Settings.from_env({"BASE_URL": "http://127.0.0.1", **env})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW_MS)


@pytest.fixture
def repo() -> InMemoryNoteRepository:
    return InMemoryNoteRepository()


@pytest.fixture
def notes(repo: InMemoryNoteRepository, clock: ManualClock) -> Notes:
    return Notes(settings(), repo, clock)


def token_body(token: bytes | str) -> bytes:
    value = token if isinstance(token, str) else b64u(token)
    return json.dumps({"authToken": value}).encode()


# -- create ---------------------------------------------------------------------------


async def test_create_stores_decoded_values_and_token_digests(
    notes: Notes, repo: InMemoryNoteRepository
) -> None:
    created = await notes.create(request_body(maxViews=5, contentType="code"))
    assert created.expires_at_ms == NOW_MS + 3_600_000
    note = await repo.get(created.id)
    assert note is not None
    assert note.encrypted_content == b"c" * 64
    assert note.nonce == b"n" * 12
    assert note.salt == b"s" * 32
    assert note.owner_token == hashlib.sha256(OWNER).digest()
    assert note.auth_token == hashlib.sha256(AUTH).digest()
    assert (note.content_type, note.max_views, note.view_count) == ("code", 5, 0)
    assert note.created_at == NOW_MS // 1000
    assert note.expires_at == (NOW_MS + 3_600_000) // 1000
    assert not note.has_password
    assert note.password_salt is None
    assert note.password_algo is None


async def test_create_accepts_both_base64_alphabets(
    notes: Notes, repo: InMemoryNoteRepository
) -> None:
    content = bytes(range(256)) * 3  # exercises +, / and -, _ in the encodings
    for encode in (b64, b64u):
        created = await notes.create(
            request_body(encryptedContent=encode(content), nonce=encode(b"\xfb" * 12))
        )
        note = await repo.get(created.id)
        assert note is not None
        assert note.encrypted_content == content
        assert note.nonce == b"\xfb" * 12


async def test_create_with_password_keeps_salt_and_algo(
    notes: Notes, repo: InMemoryNoteRepository
) -> None:
    body = request_body(hasPassword=True, passwordSalt=b64u(b"p" * 16), passwordAlgo="argon2id-v2")
    note = await repo.get((await notes.create(body)).id)
    assert note is not None
    assert (note.has_password, note.password_salt, note.password_algo) == (
        True,
        b"p" * 16,
        "argon2id-v2",
    )


async def test_create_without_password_ignores_password_fields(
    notes: Notes, repo: InMemoryNoteRepository
) -> None:
    body = request_body(hasPassword=False, passwordSalt=123, passwordAlgo="bogus")
    note = await repo.get((await notes.create(body)).id)
    assert note is not None
    assert (note.has_password, note.password_salt, note.password_algo) == (False, None, None)


async def test_structural_errors_are_reported_together(notes: Notes) -> None:
    body = request_body(maxViews="1", expireSec=0, ownerToken="a b", contentType="html", nonce=...)
    with pytest.raises(InvalidRequest) as caught:
        await notes.create(body)
    assert caught.value.message == "Invalid request"
    assert set(caught.value.details or {}) == {
        "maxViews",
        "expireSec",
        "ownerToken",
        "contentType",
        "nonce",
    }


async def test_value_checks_apply_in_documented_order(notes: Notes) -> None:
    # Bad salt and bad nonce: the salt (row 9) is reported before the nonce (row 11).
    with pytest.raises(InvalidRequest, match="Invalid salt encoding"):
        await notes.create(request_body(salt="*", nonce="*"))
    # Too large content (row 8, 413) wins over a bad salt (row 9).
    huge = b64(b"x" * (notes.settings.note_max_size + 257))
    with pytest.raises(TooLarge, match="Note content exceeds maximum size"):
        await notes.create(request_body(encryptedContent=huge, salt="*"))
    # Expiry (row 13) before view limit (row 14).
    with pytest.raises(InvalidRequest, match="Invalid expiry time"):
        await notes.create(request_body(expireSec=7, maxViews=7))


async def test_content_at_the_size_limit_is_accepted(notes: Notes) -> None:
    exact = b64(b"x" * (notes.settings.note_max_size + 256))
    await notes.create(request_body(encryptedContent=exact))


async def test_force_note_password(repo: InMemoryNoteRepository, clock: ManualClock) -> None:
    forced = Notes(settings(FORCE_NOTE_PASSWORD="true"), repo, clock)
    with pytest.raises(InvalidRequest, match="Password is required by server policy"):
        await forced.create(request_body())
    body = request_body(hasPassword=True, passwordSalt=b64u(b"p" * 16), passwordAlgo="argon2id-v2")
    await forced.create(body)


def test_create_body_limit() -> None:
    assert create_body_limit(1024 * 1024) == 2 * 1024 * 1024
    ten_mib = 10 * 1024 * 1024
    assert create_body_limit(ten_mib) == -(-(ten_mib + 256) * 4 // 3) + 16 * 1024


# -- info and availability ------------------------------------------------------------


async def test_info_of_unknown_or_malformed_id_is_not_found(notes: Notes) -> None:
    for note_id in ("00000000-0000-4000-8000-000000000000", "../../etc/passwd", ""):
        with pytest.raises(NotFound, match="Note not found"):
            await notes.info(note_id)


async def test_expiry_boundary(notes: Notes, clock: ManualClock) -> None:
    created = await notes.create(request_body())
    note = await notes.info(created.id)
    clock.set(note.expires_at * 1000 - 1)
    assert not is_expired(note, clock.now_ms())
    await notes.info(created.id)
    clock.set(note.expires_at * 1000)
    with pytest.raises(Gone, match="Note has expired") as caught:
        await notes.info(created.id)
    assert caught.value.reason == "expired"


async def test_info_does_not_consume_views(notes: Notes) -> None:
    created = await notes.create(request_body(maxViews=1))
    for _ in range(3):
        assert (await notes.info(created.id)).view_count == 0


# -- view -----------------------------------------------------------------------------


async def test_view_counts_and_returns_content(notes: Notes) -> None:
    created = await notes.create(request_body(maxViews=2))
    first = await notes.view(created.id, token_body(AUTH))
    assert (first.encrypted_content, first.nonce, first.view_count, first.max_views) == (
        b"c" * 64,
        b"n" * 12,
        1,
        2,
    )
    assert (await notes.view(created.id, token_body(AUTH))).view_count == 2
    for action in (notes.info(created.id), notes.view(created.id, token_body(AUTH))):
        with pytest.raises(Gone, match="View limit reached"):
            await action


async def test_wrong_or_malformed_token_never_consumes_a_view(
    notes: Notes, repo: InMemoryNoteRepository
) -> None:
    created = await notes.create(request_body(maxViews=1))
    for token in (secrets.token_bytes(32), "!!!", "A"):
        with pytest.raises(InvalidToken, match="Invalid auth token"):
            await notes.view(created.id, token_body(token))
    note = await repo.get(created.id)
    assert note is not None
    assert note.view_count == 0
    assert (await notes.view(created.id, token_body(AUTH))).view_count == 1


async def test_view_body_errors_come_before_lookup(notes: Notes) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(InvalidRequest, match="Invalid JSON body"):
        await notes.view(unknown, b"{")
    for body in (b"{}", b'{"authToken":""}', b'{"authToken":5}', b"[]"):
        with pytest.raises(InvalidRequest, match="Missing authToken in body"):
            await notes.view(unknown, body)


async def test_only_the_winning_claim_gets_the_content(notes: Notes) -> None:
    created = await notes.create(request_body(maxViews=1))
    first = await notes.authorize_view(created.id, token_body(AUTH))
    second = await notes.authorize_view(created.id, token_body(AUTH))
    assert (await notes.consume_view(first)).view_count == 1
    with pytest.raises(Gone, match="View limit reached"):
        await notes.consume_view(second)


async def test_burn_after_reading_erases_the_stored_ciphertext(
    notes: Notes, repo: InMemoryNoteRepository
) -> None:
    created = await notes.create(request_body(maxViews=1))
    view = await notes.view(created.id, token_body(AUTH))
    assert view.encrypted_content == b"c" * 64
    note = await repo.get(created.id)
    assert note is not None
    assert note.encrypted_content == b""
    assert is_exhausted(note)


async def test_unlimited_note_can_be_viewed_until_it_expires(
    notes: Notes, clock: ManualClock
) -> None:
    created = await notes.create(request_body(maxViews=0))
    counts = [(await notes.view(created.id, token_body(AUTH))).view_count for _ in range(25)]
    assert counts == list(range(1, 26))
    clock.advance(3_600_000)
    with pytest.raises(Gone, match="Note has expired"):
        await notes.view(created.id, token_body(AUTH))


# -- password check -------------------------------------------------------------------


async def test_check_password(
    notes: Notes, repo: InMemoryNoteRepository, clock: ManualClock
) -> None:
    body = request_body(
        maxViews=1, hasPassword=True, passwordSalt=b64u(b"p" * 16), passwordAlgo="argon2id-v2"
    )
    created = await notes.create(body)
    await notes.check_password(created.id, token_body(AUTH))
    with pytest.raises(InvalidToken, match="Invalid password"):
        await notes.check_password(created.id, token_body(secrets.token_bytes(32)))
    with pytest.raises(InvalidToken, match="Invalid password"):
        await notes.check_password(created.id, token_body("%%"))
    note = await repo.get(created.id)
    assert note is not None
    assert note.view_count == 0
    clock.advance(3_600_000)
    with pytest.raises(Gone, match="Note has expired"):
        await notes.check_password(created.id, token_body(secrets.token_bytes(32)))


async def test_check_password_on_note_without_password(notes: Notes, clock: ManualClock) -> None:
    created = await notes.create(request_body())
    clock.advance(10_000_000)  # expired too: the no-password answer comes first
    with pytest.raises(InvalidRequest, match="Note is not password-protected"):
        await notes.check_password(created.id, token_body(AUTH))


# -- delete ---------------------------------------------------------------------------


async def test_delete(notes: Notes, clock: ManualClock) -> None:
    created = await notes.create(request_body(maxViews=1))
    await notes.view(created.id, token_body(AUTH))
    clock.advance(10_000_000)  # exhausted and expired: the owner may still delete
    for token in (None, ""):
        with pytest.raises(InvalidToken, match="Invalid owner token"):
            await notes.delete(created.id, token)
    for token in (b64u(AUTH), "not base64!"):
        with pytest.raises(InvalidToken, match="Invalid owner token"):
            await notes.delete(created.id, token)
    await notes.delete(created.id, b64u(OWNER))
    with pytest.raises(NotFound, match="Note not found"):
        await notes.delete(created.id, b64u(OWNER))
    with pytest.raises(NotFound, match="Note not found"):
        await notes.info(created.id)


async def test_missing_owner_token_is_checked_before_lookup(notes: Notes) -> None:
    with pytest.raises(InvalidToken, match="Invalid owner token"):
        await notes.delete("00000000-0000-4000-8000-000000000000", None)


# -- cleanup --------------------------------------------------------------------------


async def test_cleanup_removes_expired_and_exhausted_notes(
    notes: Notes, repo: InMemoryNoteRepository, clock: ManualClock
) -> None:
    burned = await notes.create(request_body(maxViews=1))
    short = await notes.create(request_body(expireSec=300))
    kept = await notes.create(request_body(expireSec=86400))
    await notes.view(burned.id, token_body(AUTH))
    cleanup = Cleanup(
        InMemoryUploadRepository(), InMemoryUploadSessionStore(), InMemoryBlobStore(), clock, repo
    )
    assert (await cleanup.run()).notes == 1
    clock.advance(300_000)
    assert (await cleanup.run()).notes == 1
    assert await repo.get(kept.id) is not None
    for gone in (burned, short):
        with pytest.raises(NotFound):
            await notes.info(gone.id)
