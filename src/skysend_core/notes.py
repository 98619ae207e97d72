"""Note-sharing use cases: one facade, one method per documented operation
(http-api.md §2.14-2.18).

Password-attempt lockout (§1.11) wraps the token-checking steps from outside: the
operations that verify an auth token (:meth:`Notes.authorize_view`,
:meth:`Notes.check_password`) raise :class:`InvalidToken` exactly when the endpoint answers
401 (a failure to record) and return normally exactly when the token matched (the entry to
reset). :meth:`Notes.view` is :meth:`Notes.authorize_view` followed by
:meth:`Notes.consume_view`, so a wrapper can sit between the two.
"""

from __future__ import annotations

import uuid

import attrs

from skysend_core.config import Settings
from skysend_core.errors import Gone, InvalidRequest, InvalidToken, NotFound
from skysend_core.notes_model import (
    Note,
    expiry_ms,
    is_exhausted,
    is_expired,
    parse_note_request,
)
from skysend_core.ports import Clock, NoteRepository
from skysend_core.tokens import auth_token_from_body, token_matches
from skysend_core.uploads_model import is_valid_id

NOTE_NOT_FOUND = "Note not found"
NOTE_EXPIRED = "Note has expired"
VIEW_LIMIT = "View limit reached"
INVALID_OWNER = "Invalid owner token"


@attrs.frozen
class CreatedNote:
    id: str
    expires_at_ms: int  # exact; the stored value is floored to seconds


@attrs.frozen
class NoteView:
    """What one successful view hands out. ``view_count`` is the value after counting."""

    encrypted_content: bytes
    nonce: bytes
    view_count: int
    max_views: int


@attrs.define
class Notes:
    """The note service. Holds its ports; every method is one documented operation."""

    settings: Settings
    notes: NoteRepository
    clock: Clock

    async def create(self, body: bytes) -> CreatedNote:
        """``POST /api/note`` after its body-size check: validate, then insert the row."""
        params = parse_note_request(body, self.settings)
        now = self.clock.now_ms()
        note = Note.created(str(uuid.uuid4()), params, now)
        await self.notes.insert(note)
        return CreatedNote(note.id, expiry_ms(params, now))

    async def info(self, note_id: str) -> Note:
        """Public information of an available note; changes nothing."""
        note = await self._find(note_id)
        self._ensure_available(note)
        return note

    async def view(self, note_id: str, body: bytes) -> NoteView:
        """Check the auth token, then count one view and hand out the ciphertext."""
        return await self.consume_view(await self.authorize_view(note_id, body))

    async def authorize_view(self, note_id: str, body: bytes) -> Note:
        """Steps 4-10 of §2.16: the note, if available and the token matches. Never
        consumes a view."""
        token = auth_token_from_body(body)
        note = await self._find(note_id)
        self._ensure_available(note)
        if not token_matches(token, note.auth_token):
            raise InvalidToken("Invalid auth token")
        return note

    async def consume_view(self, note: Note) -> NoteView:
        """Step 11 of §2.16: only the request that wins the atomic increment gets the
        content; a note whose last view went to another request answers 410."""
        count = await self.notes.claim_view(note.id)
        if count is None:
            raise Gone(VIEW_LIMIT, "exhausted")
        return NoteView(note.encrypted_content, note.nonce, count, note.max_views)

    async def check_password(self, note_id: str, body: bytes) -> None:
        """Verify the auth token derived from a note password; consumes no view."""
        token = auth_token_from_body(body)
        note = await self._find(note_id)
        if not note.has_password:
            raise InvalidRequest("Note is not password-protected")
        self._ensure_available(note)
        if not token_matches(token, note.auth_token):
            raise InvalidToken("Invalid password")

    async def delete(self, note_id: str, owner_token: str | None) -> None:
        """Owner deletion; expired and exhausted notes can still be deleted."""
        if not owner_token:
            raise InvalidToken(INVALID_OWNER)
        note = await self._find(note_id)
        if not token_matches(owner_token, note.owner_token):
            raise InvalidToken(INVALID_OWNER)
        if not await self.notes.delete(note_id):
            raise NotFound(NOTE_NOT_FOUND)

    async def _find(self, note_id: str) -> Note:
        """The row, or ``NotFound``. Ids are validated before any storage access."""
        note = await self.notes.get(note_id) if is_valid_id(note_id) else None
        if note is None:
            raise NotFound(NOTE_NOT_FOUND)
        return note

    def _ensure_available(self, note: Note) -> None:
        if is_expired(note, self.clock.now_ms()):
            raise Gone(NOTE_EXPIRED, "expired")
        if is_exhausted(note):
            raise Gone(VIEW_LIMIT, "exhausted")
