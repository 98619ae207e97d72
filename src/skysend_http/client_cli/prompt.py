"""Usage errors and password input (kept free of heavy imports: the parser uses them)."""

from __future__ import annotations

import getpass
import sys


class UsageError(Exception):
    """A problem with what the user asked for; printed as ``Error: <message>``, exit 1."""


PROMPT = object()
"""``-p`` given without a value: ask on the terminal."""


def ask_password(prompt: str, empty_message: str) -> str:
    """Read a password without echo (prompt on stderr); only on an interactive terminal."""
    if not sys.stdin.isatty():
        raise UsageError(f"{empty_message} (use -p <password>)")
    password = getpass.getpass(prompt, stream=sys.stderr)
    if not password:
        raise UsageError(empty_message)
    return password


def password_arg(value: object, prompt: str, empty_message: str) -> str | None:
    """The ``-p`` option: absent → ``None``; without a value → prompt; empty → error."""
    if value is None:
        return None
    if value is PROMPT:
        return ask_password(prompt, empty_message)
    if not isinstance(value, str) or not value:
        raise UsageError("Password cannot be empty")
    return value
