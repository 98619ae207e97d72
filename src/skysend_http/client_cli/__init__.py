"""The user-facing ``skysend`` commands: upload, download, note, note:view, info, delete, ls,
config, auth.

:func:`register` adds them to the ``skysend`` parser. Command modules (and with them the
client library, httpx, websockets) are imported only when a client command runs, so
``skysend serve`` does not pay for them. Behaviour and output follow clients.md §1; exit
codes are listed in :mod:`.output`.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import Any

_TRANSPORTS = ("auto", "ws", "chunked", "single")


def _lazy(target: str) -> Callable[[argparse.Namespace], int]:
    """A handler that imports ``module:function`` on first use and runs it."""
    module_name, function_name = target.split(":")

    def handler(args: argparse.Namespace) -> int:
        from skysend_http.client_cli.common import run

        module = importlib.import_module(f"skysend_http.client_cli.{module_name}")
        command: Callable[[argparse.Namespace, Any], None] = getattr(module, function_name)
        return run(args, command)

    return handler


def _server(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-s", "--server", metavar="URL", help="server URL (else SKYSEND_SERVER, else config)"
    )


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _password(parser: argparse.ArgumentParser, what: str) -> None:
    from skysend_http.client_cli.prompt import PROMPT

    parser.add_argument(
        "-p",
        "--password",
        nargs="?",
        const=PROMPT,
        metavar="PASSWORD",
        help=f"{what}; without a value: prompt (no echo)",
    )


def _owner(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--owner-from-link",
        action="store_true",
        help="derive the owner token from the share link, as the reference clients do "
        "(anyone with the link can then delete it)",
    )


def register(subparsers: Any) -> None:
    """Add the client commands to the ``skysend`` subparsers."""
    upload = subparsers.add_parser("upload", help="encrypt and upload files")
    upload.add_argument("files", nargs="+", metavar="FILE", help="file(s); several are zipped")
    _server(upload)
    upload.add_argument("-e", "--expires", "--expire", metavar="DURATION", help="e.g. 1h, 1d, 7d")
    upload.add_argument("-d", "--downloads", metavar="COUNT", help="maximum downloads")
    _password(upload, "protect with a password")
    upload.add_argument("--no-ws", action="store_true", help="do not use the WebSocket transport")
    upload.add_argument("--transport", choices=_TRANSPORTS, default="auto", help="upload transport")
    _owner(upload)
    _json(upload)
    upload.set_defaults(handler=_lazy("files:upload"))

    download = subparsers.add_parser("download", help="download and decrypt a file share")
    download.add_argument("url", help="share URL (…/file/<id>#<secret>)")
    download.add_argument("-o", "--output", metavar="PATH", help="output file or existing folder")
    _password(download, "password of the share")
    _json(download)
    download.set_defaults(handler=_lazy("files:download"))

    note = subparsers.add_parser(
        "note", help="create an encrypted note ('note view URL' = note:view)"
    )
    note.add_argument("text", nargs="*", help="note text (else --file, else stdin)")
    _server(note)
    note.add_argument("-t", "--type", help="text (default), password, code, markdown, sshkey")
    note.add_argument(
        "-f", "--file", metavar="PATH", help="read the text from a file ('-' = stdin)"
    )
    note.add_argument("-e", "--expires", "--expire", metavar="DURATION", help="e.g. 1h, 1d")
    note.add_argument("-v", "--views", metavar="COUNT", help="maximum views (0 = unlimited)")
    note.add_argument("--language", help="language of a code note (default: auto)")
    _password(note, "protect with a password")
    _owner(note)
    _json(note)
    note.set_defaults(handler=_lazy("notes:create"))

    view = subparsers.add_parser("note:view", aliases=["note-view"], help="view a note")
    view.add_argument("url", help="share URL (…/note/<id>#<secret>)")
    _password(view, "password of the note")
    _json(view)
    view.set_defaults(handler=_lazy("notes:view"))

    info = subparsers.add_parser(
        "info", help="show what the server knows of a share link (consumes nothing)"
    )
    info.add_argument("url", help="share URL; with its #key, a file's names are shown too")
    _password(info, "password of a protected file, to show its names")
    _json(info)
    info.set_defaults(handler=_lazy("info:show"))

    delete = subparsers.add_parser("delete", help="delete an upload or note you created")
    delete.add_argument("url", help="share URL")
    delete.add_argument("owner_token", nargs="?", help="owner token (default: from local history)")
    _json(delete)
    delete.set_defaults(handler=_lazy("files:delete"))

    ls = subparsers.add_parser("ls", help="list your uploads and notes (local history)")
    _server(ls)
    ls.add_argument("-a", "--all", action="store_true", help="entries of all servers")
    _json(ls)
    ls.set_defaults(handler=_lazy("local_commands:ls"))

    auth = subparsers.add_parser("auth", help="log in to a server that requires it (OIDC)")
    auth.add_argument("action", choices=("login", "logout", "status"))
    _server(auth)
    auth.set_defaults(handler=_lazy("auth:run_action"))

    config = subparsers.add_parser("config", help="show or change the client configuration")
    config.add_argument(
        "action", nargs="?", choices=("set-server", "reset", "set", "unset"), help="what to change"
    )
    config.add_argument("values", nargs="*", help="set-server URL | set KEY VALUE | unset KEY")
    _json(config)
    config.set_defaults(handler=_lazy("local_commands:config"))
