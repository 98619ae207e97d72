"""``skysend-cli``: the operator's command line (clients.md Part 3).

It works directly on the server's storage, whether or not the server is running: it loads
the same environment configuration (an invalid one stops it, as it stops ``skysend
serve``), then opens the database and the blob store through the composition root, so it
always uses the storage the server uses. Opening changes nothing: no start-up cleanup, no
new keys.

Output is for humans on stdout (``--json`` for scripts); errors go to stderr. Exit status 0,
or 1 on any error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TextIO

from skysend_core.admin import Admin
from skysend_core.config import ConfigError, Settings
from skysend_core.errors import InvalidRequest, NotFound, SkySendError
from skysend_http.admin_cli import commands, settings_view

EXIT_OK = 0
EXIT_ERROR = 1

_Command = Callable[[Admin, TextIO, argparse.Namespace], Awaitable[None]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skysend-cli",
        description="SkySend administration: look at and tidy up the server's uploads and "
        "notes. Reads the server's configuration from the environment.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    listing = sub.add_parser("list", help="active uploads and notes (all with --all)")
    listing.add_argument("-a", "--all", action="store_true", help="include expired ones")
    listing.add_argument("--json", action="store_true", help="JSON output")
    listing.set_defaults(storage=_list)

    delete = sub.add_parser("delete", help="delete an upload or a note")
    delete.add_argument("id", help="the upload's or note's id (a UUID)")
    delete.set_defaults(storage=_delete)

    stats = sub.add_parser("stats", help="storage overview")
    stats.add_argument("--json", action="store_true", help="JSON output")
    stats.set_defaults(storage=_stats)

    cleanup = sub.add_parser("cleanup", help="remove expired and exhausted uploads and notes")
    cleanup.add_argument(
        "-n", "--dry-run", action="store_true", help="only show what would be removed"
    )
    cleanup.set_defaults(storage=_cleanup)

    config = sub.add_parser("config", help="show the effective configuration")
    config.add_argument("--json", action="store_true", help="JSON output (secrets masked)")
    return parser


async def _list(admin: Admin, out: TextIO, args: argparse.Namespace) -> None:
    await commands.list_items(admin, out, everything=args.all, as_json=args.json)


async def _delete(admin: Admin, out: TextIO, args: argparse.Namespace) -> None:
    await commands.delete(admin, out, args.id)


async def _stats(admin: Admin, out: TextIO, args: argparse.Namespace) -> None:
    await commands.stats(admin, out, as_json=args.json)


async def _cleanup(admin: Admin, out: TextIO, args: argparse.Namespace) -> None:
    await commands.cleanup(admin, out, dry_run=args.dry_run)


async def _on_storage(settings: Settings, command: _Command, args: argparse.Namespace) -> None:
    from skysend_http.bootstrap import build

    async with build(settings).storage() as wiring:
        await command(wiring.admin, sys.stdout, args)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one command; ``env`` defaults to the process environment."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help exits 0; usage errors are errors like any other
        return EXIT_OK if exit_.code in (0, None) else EXIT_ERROR
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        settings = Settings.from_env(os.environ if env is None else env)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return EXIT_ERROR
    if args.command == "config":
        settings_view.show(settings, sys.stdout, as_json=args.json)
        return EXIT_OK
    try:
        asyncio.run(_on_storage(settings, args.storage, args))
    except (InvalidRequest, NotFound) as error:  # the texts of clients.md §3.2
        print(error.message, file=sys.stderr)
        return EXIT_ERROR
    except SkySendError as error:
        print(f"Error: {error.message}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as error:
        print(f"Error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("Interrupted", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
