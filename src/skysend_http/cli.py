"""The ``skysend`` command: ``serve`` for operators, client commands for users."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from skysend_http import client_cli, serve


def package_version() -> str:
    """The installed package's version (clients.md §1.1: ``--version`` prints it alone)."""
    try:
        return version("skysend")
    except PackageNotFoundError:  # a source tree that is not installed
        return "0.0.0"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skysend", description="SkySend: end-to-end-encrypted file and note sharing"
    )
    parser.add_argument(
        "-V", "--version", action="version", version=package_version(), help="print the version"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve.add_parser(subparsers)
    client_cli.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help exits 0, usage errors 2 (documented: 1)
        return 1 if exit_.code == 2 else int(exit_.code or 0)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 1
    code: int = handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
