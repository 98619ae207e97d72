"""``skysend note`` and ``skysend note:view`` (clients.md §1.5).

Differs from reference: ``password`` and ``code`` notes are written in the JSON layouts the
web app renders natively (crypto.md §8.1, clients.md Part 2 item 7) instead of raw text;
text that already has that layout is sent unchanged. ``note:view`` is non-interactive.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from skysend_core.crypto import (
    CodeBlock,
    format_code_note,
    format_password_note,
    parse_password_note,
    parse_share_location,
    parse_share_url,
)
from skysend_http.client import options
from skysend_http.client.units import format_expiry
from skysend_http.client_cli.common import (
    PROMPT,
    open_client,
    parse_count,
    parse_duration,
    password_arg,
    resolve_server,
    use_session,
)
from skysend_http.client_cli.local import LocalStore, history_entry
from skysend_http.client_cli.output import Output
from skysend_http.client_cli.prompt import UsageError


def read_content(args: argparse.Namespace) -> str:
    """The note text: the arguments, ``--file`` (``-`` = stdin), or piped stdin."""
    if args.file:
        if args.text:
            raise UsageError("Give the note text either as an argument or with --file, not both")
        if args.file == "-":
            return sys.stdin.read()
        return Path(args.file).read_text(encoding="utf-8")
    if args.text:
        return " ".join(args.text)
    if not sys.stdin.isatty():
        return sys.stdin.read()
    raise UsageError("No note text given (argument, --file or stdin)")


def structured(kind: str, text: str, *, language: str, title: str) -> str:
    """``password`` / ``code`` text in the web app's JSON layouts; other types unchanged."""
    if kind == "password":
        entries = parse_password_note(text.strip("\n"))
        return format_password_note(entries) if entries else text
    if kind == "code" and not _is_code_json(text):
        return format_code_note([CodeBlock(code=text, language=language, title=title)])
    return text


def _is_code_json(text: str) -> bool:
    try:
        data = json.loads(text)
    except ValueError:
        return False
    fields = ("title", "language", "code")
    return (
        isinstance(data, list)
        and bool(data)
        and all(
            isinstance(i, dict) and all(isinstance(i.get(f), str) for f in fields) for i in data
        )
    )


CREATION_ONLY = {
    "type": "-t/--type",
    "file": "-f/--file",
    "expires": "-e/--expires",
    "views": "-v/--views",
    "server": "-s/--server",
    "language": "--language",
    "owner_from_link": "--owner-from-link",
}
"""``note`` options that only make sense when creating a note."""


def is_view_request(args: argparse.Namespace) -> bool:
    """``skysend note view <share URL>``: the spelling of ``note:view`` the docs use. Only a
    second argument that is a share URL makes it one; ``note view later`` is a note."""
    if len(args.text) != 2 or args.text[0] != "view":
        return False
    try:
        parse_share_location(args.text[1])
    except ValueError:
        return False
    return True


def create(args: argparse.Namespace, output: Output) -> None:
    if is_view_request(args):
        given = [flag for name, flag in CREATION_ONLY.items() if getattr(args, name)]
        if given:
            raise UsageError(
                f"'note view <url>' views a note; {', '.join(given)} only apply when creating one"
            )
        view(argparse.Namespace(url=args.text[1], password=args.password, json=args.json), output)
        return
    kind = args.type or "text"
    text = read_content(args)
    title = Path(args.file).name if args.file and args.file != "-" else ""
    content = structured(kind, text, language=args.language or "auto", title=title)
    store = LocalStore()
    server = resolve_server(args.server, store)
    defaults = store.defaults()
    expires = args.expires or defaults.get("noteExpires")
    views = args.views if args.views is not None else defaults.get("views")
    with open_client(server, store) as client:
        config = client.config()
        use_session(client, store, config.oidc_protect_notes, output)
        password = password_arg(args.password, "Password: ", "Password cannot be empty")
        if password is None and config.force_note_password:
            output.info("Password is required by server policy.")
            password = password_arg(PROMPT, "Password: ", "Password cannot be empty")
        kind, content = options.note_plaintext(content, kind)
        expire_sec, max_views = options.note_options(
            config,
            parse_duration(str(expires)) if expires else None,
            parse_count(str(views), "view count") if views is not None else None,
        )
        options.check_note_size(content, config)
        output.info("Encrypting note...")
        result = client.create_note(
            content,
            content_type=kind,
            expire_sec=expire_sec,
            max_views=max_views,
            password=password,
            owner="link" if args.owner_from_link else "independent",
        )
    store.remember("notes", history_entry(server, result, contentType=result.content_type))
    if output.json_mode:
        output.result(
            {
                "id": result.id,
                "url": result.url,
                "ownerToken": result.owner_token,
                "type": result.content_type,
                "expires": result.expire_sec,
                "maxViews": result.max_views,
                "hasPassword": result.has_password,
            }
        )
        return
    views_text = "unlimited" if result.max_views == 0 else str(result.max_views)
    output.info()
    output.info(f"Share URL: {result.url}")
    output.info(
        f"Type: {result.content_type} | Expires: {format_expiry(result.expire_sec)} | "
        f"Views: {views_text}"
    )
    if result.has_password:
        output.info("Password protected: yes")


def view(args: argparse.Namespace, output: Output) -> None:
    share = parse_share_url(args.url)
    if share.kind == "file":
        raise UsageError("This URL is a file, not a note. Use 'skysend download' instead.")
    with open_client(share.server, LocalStore()) as client:
        password = password_arg(args.password, "Password: ", "Password is required for this note")

        def ask() -> str:
            return (
                password_arg(
                    PROMPT,
                    "This note is password protected. Password: ",
                    "Password is required for this note",
                )
                or ""
            )

        note = client.view_note(share, password=password if password is not None else ask)
    if output.json_mode:
        output.result(
            {
                "id": note.id,
                "type": note.content_type,
                "content": note.content,
                "viewCount": note.view_count,
                "maxViews": note.max_views,
            }
        )
        return
    output.stdout.write(note.content)
    output.stdout.flush()
