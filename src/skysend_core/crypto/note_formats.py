"""Plaintext layouts of structured notes, per ``contentType`` (crypto.md §8.1).

The server never reads these; they matter for the web app's renderers.

* ``text`` / ``markdown``: the text itself.
* ``code``: compact JSON ``[{"title","language","code"}]``; anything else reads as one block
  with language ``auto``.
* ``password``: compact JSON ``[{"label","value"}]``; readers also accept a JSON array of
  strings and the legacy layout of values separated by a blank line.
* ``sshkey``: public key, PEM private key block and ``Passphrase: <p>`` joined by blank lines.

Formatting and parsing never fail: malformed structured content falls back as the web app
does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Final, Literal, TypeAlias

import attrs

NoteContentType: TypeAlias = Literal["text", "markdown", "code", "password", "sshkey"]
NOTE_CONTENT_TYPES: Final = ("text", "markdown", "code", "password", "sshkey")

AUTO_LANGUAGE = "auto"
_PARTS_SEPARATOR = "\n\n"
_PASSPHRASE = re.compile(r"^Passphrase: (.+)$", re.MULTILINE)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.DOTALL
)


@attrs.frozen
class CodeBlock:
    """One block of a ``code`` note; ``language`` is a highlight.js name or ``auto``."""

    code: str
    language: str = AUTO_LANGUAGE
    title: str = ""


@attrs.frozen
class PasswordEntry:
    """One entry of a ``password`` note; labels may be empty."""

    value: str
    label: str = ""


@attrs.frozen
class SshKeyNote:
    """The parts of an ``sshkey`` note; empty parts are omitted when formatting."""

    public_key: str = ""
    private_key: str = ""
    passphrase: str = ""


def _to_json(items: list[dict[str, str]]) -> str:
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False)


def _json_objects(text: str, fields: tuple[str, ...]) -> list[dict[str, str]] | None:
    """The array of objects with string ``fields``, or ``None`` if ``text`` is not one."""
    try:
        document: Any = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, list) or not document:
        return None
    for item in document:
        if not isinstance(item, dict) or not all(isinstance(item.get(f), str) for f in fields):
            return None
    return document


def format_code_note(blocks: Iterable[CodeBlock]) -> str:
    """``[{"title","language","code"}]`` as the web app writes it."""
    return _to_json([{"title": b.title, "language": b.language, "code": b.code} for b in blocks])


def parse_code_note(text: str) -> tuple[CodeBlock, ...]:
    """Blocks of a ``code`` note; raw text (e.g. from the reference CLI) is one ``auto`` block."""
    items = _json_objects(text, ("title", "language", "code"))
    if items is None:
        return (CodeBlock(code=text),)
    return tuple(CodeBlock(code=i["code"], language=i["language"], title=i["title"]) for i in items)


def format_password_note(entries: Iterable[PasswordEntry]) -> str:
    """``[{"label","value"}]`` as current clients write it."""
    return _to_json([{"label": e.label, "value": e.value} for e in entries])


def parse_password_note(text: str) -> tuple[PasswordEntry, ...]:
    """Entries of a ``password`` note in any of the layouts readers accept."""
    items = _json_objects(text, ("label", "value"))
    if items is not None:
        return tuple(PasswordEntry(value=i["value"], label=i["label"]) for i in items)
    strings = _json_strings(text)
    if strings is not None:
        return tuple(PasswordEntry(value=value) for value in strings)
    return tuple(PasswordEntry(value=part) for part in text.split(_PARTS_SEPARATOR) if part.strip())


def _json_strings(text: str) -> list[str] | None:
    try:
        document: Any = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(document, list) and document and all(isinstance(v, str) for v in document):
        return document
    return None


def format_sshkey_note(note: SshKeyNote) -> str:
    """Public key, private key and ``Passphrase: …`` line, non-empty parts joined by ``\\n\\n``."""
    parts = [note.public_key.strip(), note.private_key.strip()]
    if note.passphrase:
        parts.append(f"Passphrase: {note.passphrase}")
    return _PARTS_SEPARATOR.join(part for part in parts if part)


def parse_sshkey_note(text: str) -> SshKeyNote:
    """Find the passphrase line and the PEM private key; the trimmed rest is the public key."""
    rest = text
    passphrase = ""
    if match := _PASSPHRASE.search(rest):
        passphrase = match.group(1)
        rest = rest[: match.start()] + rest[match.end() :]
    private_key = ""
    if match := _PRIVATE_KEY.search(rest):
        private_key = match.group(0)
        rest = rest[: match.start()] + rest[match.end() :]
    return SshKeyNote(public_key=rest.strip(), private_key=private_key, passphrase=passphrase)
