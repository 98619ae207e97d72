"""Note endpoints (http-api.md §2.14-2.18): parse, call :class:`Notes`, serialize."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, current_app, request

from skysend_core.notes import Notes
from skysend_core.notes_model import Note, create_body_limit
from skysend_core.tokens import encode_b64, encode_b64url
from skysend_http.errors import json_response
from skysend_http.limits import password_attempt
from skysend_http.shapes import iso_ms, iso_seconds
from skysend_http.streaming import read_limited

blueprint = Blueprint("notes", __name__, url_prefix="/api/note")

#: Limit of the ``{"authToken": …}`` bodies of view and password check (§1.14).
TOKEN_BODY_LIMIT = 16 * 1024


def _notes() -> Notes:
    notes: Notes = current_app.extensions["skysend"].notes
    return notes


def note_info(note: Note) -> dict[str, Any]:
    """``GET /api/note/:id``: everything a client needs to decrypt, never the ciphertext."""
    body: dict[str, Any] = {
        "id": note.id,
        "contentType": note.content_type,
        "hasPassword": note.has_password,
    }
    if note.has_password:
        body["passwordAlgo"] = note.password_algo
        body["passwordSalt"] = encode_b64url(note.password_salt or b"")
    body.update(
        salt=encode_b64url(note.salt),
        maxViews=note.max_views,
        viewCount=note.view_count,
        expiresAt=iso_seconds(note.expires_at),
        createdAt=iso_seconds(note.created_at),
    )
    return body


@blueprint.post("")
async def create() -> Response:
    notes = _notes()
    body = await read_limited(request, create_body_limit(notes.settings.note_max_size))
    created = await notes.create(body)
    return json_response({"id": created.id, "expiresAt": iso_ms(created.expires_at_ms)}, 201)


@blueprint.get("/<note_id>")
async def info(note_id: str) -> Response:
    return json_response(note_info(await _notes().info(note_id)))


@blueprint.post("/<note_id>/view")
async def view(note_id: str) -> Response:
    body = await read_limited(request, TOKEN_BODY_LIMIT)
    # View and password check share one lockout counter per note (§1.11); a view that
    # loses the race for the last one (410) comes after the token matched.
    async with password_attempt(f"note:{note_id}"):
        note = await _notes().authorize_view(note_id, body)
    seen = await _notes().consume_view(note)
    return json_response(
        {
            "encryptedContent": encode_b64(seen.encrypted_content),
            "nonce": encode_b64(seen.nonce),
            "viewCount": seen.view_count,
            "maxViews": seen.max_views,
        }
    )


@blueprint.post("/<note_id>/password")
async def check_password(note_id: str) -> Response:
    body = await read_limited(request, TOKEN_BODY_LIMIT)
    async with password_attempt(f"note:{note_id}"):
        await _notes().check_password(note_id, body)
    return json_response({"ok": True})


@blueprint.delete("/<note_id>")
async def delete(note_id: str) -> Response:
    await _notes().delete(note_id, request.headers.get("X-Owner-Token"))
    return json_response({"ok": True})
