"""Note round trips through a live server: every content type, passwords, view limits."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest

from skysend_core.crypto import (
    CodeBlock,
    PasswordEntry,
    SshKeyNote,
    b64url_encode,
    derive_owner_token,
    parse_code_note,
    parse_password_note,
    parse_share_url,
    parse_sshkey_note,
)
from skysend_http.client import (
    AsyncClient,
    AuthError,
    GoneError,
    InvalidLinkError,
    NotFoundError,
    PasswordRequiredError,
    WrongPasswordError,
)
from skysend_http.client.errors import WRONG_LINK
from tests.client.live import Live

SSH = SshKeyNote(
    public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG example",
    private_key=(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----"
    ),
    passphrase="pass phrase",
)


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        ("plain text\nwith lines ü 🎉", "text"),
        ("# Title\n\n* item", "markdown"),
        ("print('raw code from the CLI')", "code"),
        ([CodeBlock(code="x = 1", language="python", title="a.py")], "code"),
        ([PasswordEntry(value="hunter2", label="mail"), PasswordEntry(value="pa55")], "password"),
        (SSH, "sshkey"),
    ],
)
async def test_every_note_type_round_trips(live: Live, content: object, kind: str) -> None:
    async with AsyncClient(live.url) as client:
        kind_arg = kind if isinstance(content, str) else None  # structured content knows its type
        note = await client.create_note(content, content_type=kind_arg)  # type: ignore[arg-type]
        viewed = await client.view_note(note.url)
    assert note.content_type == viewed.content_type == kind
    assert viewed.view_count == 1
    assert viewed.max_views == 0
    if isinstance(content, str):
        assert viewed.content == content
    elif kind == "code":
        assert parse_code_note(viewed.content) == tuple(content)  # type: ignore[arg-type]
        assert json.loads(viewed.content)[0]["language"] == "python"
    elif kind == "password":
        assert parse_password_note(viewed.content) == tuple(content)  # type: ignore[arg-type]
        assert json.loads(viewed.content) == [
            {"label": "mail", "value": "hunter2"},
            {"label": "", "value": "pa55"},
        ]
    else:
        assert parse_sshkey_note(viewed.content) == SSH


async def test_burn_after_reading(live: Live) -> None:
    async with AsyncClient(live.url) as client:
        note = await client.create_note("once", max_views=1, expire_sec=300)
        assert (await client.view_note(note.url)).content == "once"
        with pytest.raises(GoneError, match="View limit reached"):
            await client.view_note(note.url)


async def test_password_note_wrong_password_consumes_no_view(live: Live) -> None:
    async with AsyncClient(live.url) as client:
        note = await client.create_note("secret", password="pä55", max_views=2)
        share = parse_share_url(note.url)
        info = await client.note_info(share.item_id)
        assert info.has_password
        assert info.password_algo == "argon2id-v2"

        with pytest.raises(PasswordRequiredError):
            await client.view_note(note.url)
        with pytest.raises(WrongPasswordError):
            await client.view_note(note.url, password="wrong")
        assert (await client.note_info(share.item_id)).view_count == 0

        viewed = await client.view_note(note.url, password="pä55")
    assert viewed.content == "secret"
    assert viewed.view_count == 1


async def test_a_wrong_link_is_refused_as_such_and_consumes_no_view(live: Live) -> None:
    async with AsyncClient(live.url) as client:
        note = await client.create_note("secret", max_views=1)
        share = parse_share_url(note.url)
        forged = note.url.split("#")[0] + "#" + b64url_encode(os.urandom(32))
        with pytest.raises(InvalidLinkError) as refused:
            await client.view_note(forged)
        assert refused.value.message == WRONG_LINK
        assert refused.value.status == 401
        assert (await client.note_info(share.item_id)).view_count == 0
        assert (await client.view_note(note.url)).content == "secret"


async def test_note_owner_token_and_delete(live: Live) -> None:
    async with AsyncClient(live.url) as client:
        note = await client.create_note("bye")
        share = parse_share_url(note.url)
        salt = (await client.note_info(share.item_id)).salt
        from_link = b64url_encode(derive_owner_token(share.secret, salt))
        with pytest.raises(AuthError):
            await client.delete(note.url, from_link)
        assert await client.delete(note.url, note.owner_token) == "note"
        with pytest.raises(NotFoundError):
            await client.note_info(share.item_id)


async def test_note_options_and_limits(start_live: Callable[..., Live]) -> None:
    live = start_live(NOTE_MAX_SIZE="1KB", FORCE_NOTE_PASSWORD="true")
    async with AsyncClient(live.url) as client:
        with pytest.raises(ValueError, match=r"Note too large \(1025 bytes\)"):
            await client.create_note("x" * 1025, password="pw")
        with pytest.raises(PasswordRequiredError, match="required by server policy"):
            await client.create_note("x")
        with pytest.raises(ValueError, match=r"Invalid view count\. Options: 0, 1, 2"):
            await client.create_note("x", max_views=4, password="pw")
        with pytest.raises(ValueError, match="Invalid content type: poem"):
            await client.create_note("x", content_type="poem", password="pw")  # type: ignore[arg-type]
        note = await client.create_note("x" * 1024, password="pw")
        assert (await client.view_note(note.url, password="pw")).content == "x" * 1024


async def test_a_file_url_is_not_a_note(live: Live) -> None:
    async with AsyncClient(live.url) as client:
        note = await client.create_note("n")
        with pytest.raises(ValueError, match="is a note, not a file"):
            await client.download(note.url)
