"""``skysend auth login | logout | status`` (clients.md §1.5, oidc.md §9)."""

from __future__ import annotations

import argparse
import time
from datetime import datetime

from skysend_http.client import Client
from skysend_http.client.login import jwt_claims
from skysend_http.client_cli.common import resolve_server
from skysend_http.client_cli.local import TOKEN_MARGIN_S, LocalStore
from skysend_http.client_cli.output import Output


def _local_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def login_with_browser(client: Client, store: LocalStore, output: Output) -> str:
    """Run the browser flow for ``client``'s server and store the token."""
    output.info(f"Logging in to {client.base_url}...")

    def show(url: str) -> None:
        output.info(f"Open this URL to log in: {url}")
        output.info("Waiting for authentication...")

    token = client.login(on_url=show)
    store.save_token(client.base_url, token)
    return token


def login(args: argparse.Namespace, output: Output) -> None:
    store = LocalStore()
    server = resolve_server(args.server, store)
    with Client(server) as client:
        token = login_with_browser(client, store, output)
    claims = jwt_claims(token)
    email = f" {claims['email']}" if claims.get("email") else ""
    output.info(f"Logged in as: {claims.get('name', '?')}{email}")
    if isinstance(claims.get("exp"), int | float):
        output.info(f"Session expires: {_local_time(float(claims['exp']))}")


def logout(args: argparse.Namespace, output: Output) -> None:
    store = LocalStore()
    server = resolve_server(args.server, store)
    store.save_token(server, None)
    output.info(f"Logged out from {server}.")


def status(args: argparse.Namespace, output: Output) -> None:
    store = LocalStore()
    server = resolve_server(args.server, store)
    token = store.stored_token(server)
    if token is None:
        output.info(f"Not logged in to {server}.")
        return
    claims = jwt_claims(token)
    exp = claims.get("exp")
    if not claims or not isinstance(exp, int | float):
        output.info("Stored token is malformed. Run 'skysend auth login' to re-authenticate.")
        return
    expired = exp - TOKEN_MARGIN_S <= time.time()
    output.info(f"Server:  {server}")
    output.info(f"User:    {claims.get('name', '')} {claims.get('email', '')}".rstrip())
    output.info(f"Expires: {_local_time(float(exp))}{' (expired)' if expired else ''}")
    output.info(
        "Status:  expired - run 'skysend auth login' to refresh" if expired else "Status:  active"
    )


def run_action(args: argparse.Namespace, output: Output) -> None:
    {"login": login, "logout": logout, "status": status}[args.action](args, output)
