"""The ``skysend`` command: ``serve`` for operators, client commands for users."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from skysend_http import serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skysend", description="SkySend: end-to-end-encrypted file and note sharing"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 1
    code: int = handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
