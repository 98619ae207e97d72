"""``skysend serve``: validate configuration, prepare storage, run hypercorn."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import TYPE_CHECKING

import attrs

from skysend_core.config import ConfigError, Settings, generate_session_secret

if TYPE_CHECKING:
    from hypercorn.config import Config

log = logging.getLogger("skysend")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the server (SQLite + local folder by default)",
        description="Run the SkySend server. Configuration comes from environment variables "
        "(see docs/configuration.md); the flags override HOST, PORT and the worker count.",
    )
    parser.add_argument("--host", help="bind address (default: HOST or 0.0.0.0)")
    parser.add_argument("--port", type=int, help="listening port (default: PORT or 3000)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: SKYSEND_WORKERS or the number of CPUs, at most 4)",
    )
    parser.set_defaults(handler=run)


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def load_settings(args: argparse.Namespace) -> Settings:
    """Apply flag overrides to the environment (workers inherit it), then validate
    (``WEB_DIR`` included)."""
    from skysend_http.web import WebApp

    env = os.environ
    if args.host:
        env["HOST"] = args.host
    if args.port is not None:
        env["PORT"] = str(args.port)
    if not env.get("BASE_URL"):
        port = env.get("PORT") or "3000"
        env["BASE_URL"] = f"http://localhost:{port}"
        log.warning(
            "BASE_URL is not set; using %s. Set BASE_URL to the public URL of this server.",
            env["BASE_URL"],
        )
    settings = Settings.from_env(env)
    # Checked here too, not only when a worker builds the app, so a wrong WEB_DIR is a
    # configuration error before anything starts.
    WebApp.from_settings(settings)
    if settings.oidc_enabled and settings.oidc_session_secret is None:
        # One random secret for the server's lifetime, inherited by every worker, so a
        # session issued by one worker is valid on all (oidc.md §1).
        env["OIDC_SESSION_SECRET"] = generate_session_secret()
        settings = attrs.evolve(settings, oidc_session_secret=env["OIDC_SESSION_SECRET"])
    return settings


async def prepare(settings: Settings) -> None:
    """Migrate the database and run the start-up cleanup once, before any worker starts.

    A new server lifetime also begins here: the client key and every rate window and
    lockout of the previous one are forgotten; the first worker stores a new key.
    """
    from skysend_http.bootstrap import build

    services = build(settings)
    try:
        await services.start(periodic=False)
        await services.limits.forget_clients()
    finally:
        await services.stop()


async def forget_clients(settings: Settings) -> None:
    """After the last worker stopped: drop the key that hashed client addresses for rate
    limits and lockouts, so it never outlives the server (http-api.md §1.11)."""
    await prepare(settings)


def hypercorn_config(settings: Settings) -> Config:
    """The hypercorn settings of every SkySend server; ``skysend serve`` adds the app, the
    workers and the event loop, the test servers their own logging."""
    from hypercorn.config import Config

    config = Config()
    config.bind = [
        f"[{settings.host}]:{settings.port}"
        if ":" in settings.host
        else f"{settings.host}:{settings.port}"
    ]
    config.keep_alive_timeout = 120
    # No WebSocket message may be larger than the receive buffer may hold (the app
    # enforces the same limit on every connection; this is hypercorn's own, used only if
    # the app could not take over its WebSocket stream).
    config.websocket_max_message_size = settings.file_upload_ws_max_buffer
    config.graceful_timeout = 10
    config.accesslog = None  # access logs would contain client addresses
    config.include_server_header = False  # no software banner
    config.errorlog = "-"
    return config


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings(args)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 1
    for warning in settings.warnings:
        log.warning("%s", warning)
    try:
        asyncio.run(prepare(settings))
    except Exception as error:
        print(f"Start-up failed: {error}", file=sys.stderr)
        return 1

    from hypercorn.run import run as run_hypercorn

    config = hypercorn_config(settings)
    config.application_path = "skysend_http.asgi:app"
    config.workers = args.workers or int(os.environ.get("SKYSEND_WORKERS") or default_workers())
    try:
        import uvloop  # noqa: F401

        config.worker_class = "uvloop"
    except ImportError:
        config.worker_class = "asyncio"
    log.info(
        "SkySend listening on %s with %d worker(s); data in %s",
        config.bind[0],
        config.workers,
        settings.data_dir,
    )
    code = run_hypercorn(config)
    try:
        asyncio.run(forget_clients(settings))
    except Exception:
        log.exception("could not clear per-client state at shutdown")
    return code
