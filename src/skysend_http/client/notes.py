"""Note requests (http-api.md §2.14–2.18) and their encryption (crypto.md §8)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from skysend_core.crypto import (
    PASSWORD_ALGORITHM,
    ItemKeys,
    NoteContentType,
    ShareUrl,
    b64_decode_any,
    build_share_url,
    decrypt_note,
    encrypt_note,
)
from skysend_http.client._http import api_url, json_id, request_json
from skysend_http.client.errors import InvalidResponseError
from skysend_http.client.models import NoteInfo, NoteResult, NoteView, OwnerScheme
from skysend_http.client.shares import key_refusal_is_a_wrong_link


async def post_note(
    http: httpx.AsyncClient,
    server: str,
    *,
    keys: ItemKeys,
    owner_token: str,
    text: str,
    content_type: NoteContentType,
    expire_sec: int,
    max_views: int,
    headers: dict[str, str],
) -> tuple[str, str]:
    """``POST /api/note``; returns ``(id, expiresAt)``. Ciphertext travels as standard
    base64, which every server version accepts (clients.md Part 2, item 7)."""
    sealed = encrypt_note(keys.meta_key, text)
    body: dict[str, Any] = {
        "encryptedContent": sealed.encrypted_content_b64,
        "nonce": sealed.nonce_b64,
        "salt": keys.salt_b64u,
        "ownerToken": owner_token,
        "authToken": keys.auth_token_b64u,
        "contentType": content_type,
        "maxViews": max_views,
        "expireSec": expire_sec,
        "hasPassword": keys.has_password,
    }
    if keys.has_password:
        body["passwordSalt"] = keys.password_salt_b64u
        body["passwordAlgo"] = PASSWORD_ALGORITHM
    data = await request_json(http, "POST", api_url(server, "note"), json=body, headers=headers)
    expires_at = data.get("expiresAt")
    return json_id(data), expires_at if isinstance(expires_at, str) else ""


def note_result(
    server: str,
    note_id: str,
    expires_at: str,
    keys: ItemKeys,
    owner: tuple[str | None, str],
    scheme: OwnerScheme,
    content_type: NoteContentType,
    expire_sec: int,
    max_views: int,
) -> NoteResult:
    owner_secret, owner_token = owner
    return NoteResult(
        id=note_id,
        url=build_share_url(server, "note", note_id, keys.effective_secret),
        owner_token=owner_token,
        owner_secret=owner_secret,
        owner_scheme=scheme,
        content_type=content_type,
        expire_sec=expire_sec,
        max_views=max_views,
        has_password=keys.has_password,
        created_at=datetime.now(UTC),
        expires_at=expires_at,
    )


async def consume_view(
    http: httpx.AsyncClient, share: ShareUrl, info: NoteInfo, keys: ItemKeys
) -> NoteView:
    """``POST /api/note/:id/view`` (one view is counted) and decryption."""
    url = api_url(share.server, "note", share.item_id, "view")
    with key_refusal_is_a_wrong_link():
        data = await request_json(http, "POST", url, json={"authToken": keys.auth_token_b64u})
    try:
        ciphertext = b64_decode_any(str(data.get("encryptedContent", "")))
        nonce = b64_decode_any(str(data.get("nonce", "")))
    except ValueError:
        raise InvalidResponseError("note content is not base64") from None
    view_count, max_views = data.get("viewCount"), data.get("maxViews")
    return NoteView(
        id=share.item_id,
        content_type=info.content_type,
        content=decrypt_note(keys.meta_key, ciphertext, nonce),
        view_count=view_count if isinstance(view_count, int) else info.view_count + 1,
        max_views=max_views if isinstance(max_views, int) else info.max_views,
    )
