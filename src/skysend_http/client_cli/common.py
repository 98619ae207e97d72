"""What every client command shares: server resolution, durations, passwords, the client,
and running a command with the error-to-exit-code mapping."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from typing import Any

from skysend_http.client import Client, IntegrityError, SkySendClientError
from skysend_http.client.shares import normalize_server
from skysend_http.client_cli.local import LocalStore
from skysend_http.client_cli.output import EXIT_OK, Output
from skysend_http.client_cli.prompt import PROMPT, UsageError, password_arg

__all__ = [
    "PROMPT",
    "UsageError",
    "open_client",
    "parse_count",
    "parse_duration",
    "password_arg",
    "resolve_server",
    "run",
    "use_session",
]

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

EXPECTED_ERRORS = (
    SkySendClientError,
    IntegrityError,
    UsageError,
    ValueError,
    OSError,
    KeyboardInterrupt,
)
"""Errors printed as a message with an exit code; anything else is a bug and shows a traceback."""

NO_SERVER = (
    "No server configured. Use --server <url>, set SKYSEND_SERVER, "
    "or run: skysend config set-server <url>"
)


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``5m``, ``1h``, ``7d``, ``2w`` → seconds (clients.md §1.4)."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    match = _DURATION.match(value)
    if match is None:
        raise UsageError(f"Invalid duration: {text}")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def parse_count(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise UsageError(f"Invalid {what}: {text}") from None


def resolve_server(flag: str | None, store: LocalStore) -> str:
    """``--server`` → ``SKYSEND_SERVER`` → ``defaultServer`` → legacy ``server``."""
    for candidate in (flag, os.environ.get("SKYSEND_SERVER"), store.configured_server()):
        if candidate:
            try:
                return normalize_server(candidate)
            except ValueError:
                raise UsageError(f"Invalid URL: {candidate}") from None
    raise UsageError(NO_SERVER)


def open_client(server: str, store: LocalStore, *, websocket: bool = True) -> Client:
    setting = store.server_setting(server, "websocket")
    return Client(server, websocket=websocket and setting is not False)


def use_session(client: Client, store: LocalStore, required: bool, output: Output) -> None:
    """Send a session token when the server protects the operation: the stored one if it
    is valid for 30 s more, else one from the browser login (oidc.md §9)."""
    if not required:
        return
    output.info("Server requires authentication...")
    token = store.session_token(client.base_url)
    if token is None:
        from skysend_http.client_cli.auth import login_with_browser

        token = login_with_browser(client, store, output)
    client.async_client.session_token = token


def run(args: argparse.Namespace, command: Callable[[argparse.Namespace, Output], Any]) -> int:
    """Run a command; print errors as the reference does and map them to exit codes."""
    output = Output(json_mode=bool(getattr(args, "json", False)))
    try:
        command(args, output)
    except EXPECTED_ERRORS as exc:
        return output.error(exc)
    return EXIT_OK
