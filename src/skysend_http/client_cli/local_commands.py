"""``skysend ls`` and ``skysend config``: commands on the local files only (clients.md §1.5)."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any
from urllib.parse import urlsplit

from skysend_http.client.shares import normalize_server
from skysend_http.client.units import format_bytes
from skysend_http.client_cli.common import parse_count, parse_duration, resolve_server
from skysend_http.client_cli.local import LocalStore, parse_iso
from skysend_http.client_cli.output import Output
from skysend_http.client_cli.prompt import UsageError

DEFAULT_KEYS = {
    "expires": "default file expiry (duration, e.g. 1h, 7d)",
    "downloads": "default download limit",
    "noteExpires": "default note expiry (duration)",
    "views": "default note view limit (0 = unlimited)",
}


def _expired(entry: dict[str, Any], now: float) -> bool:
    created = parse_iso(entry.get("createdAt"))
    expire = entry.get("expireSec")
    if created is None or not isinstance(expire, int | float):
        return False
    return created + expire <= now


def _age(entry: dict[str, Any], now: float) -> str:
    created = parse_iso(entry.get("createdAt"))
    seconds = max(0, int(now - created)) if created is not None else 0
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def _ttl(entry: dict[str, Any], now: float) -> str:
    created = parse_iso(entry.get("createdAt"))
    expire = entry.get("expireSec")
    if created is None or not isinstance(expire, int | float):
        return "unknown"
    return format_left(created + expire - now)


def format_left(seconds: float) -> str:
    """Time left, in its largest whole unit: ``45s``, ``12m``, ``5h``, ``6d``, ``expired``."""
    left = int(seconds)
    if left <= 0:
        return "expired"
    if left < 60:
        return f"{left}s"
    if left < 3600:
        return f"{left // 60}m"
    if left < 86400:
        return f"{left // 3600}h"
    return f"{left // 86400}d"


def ls(args: argparse.Namespace, output: Output) -> None:
    store = LocalStore()
    now = time.time()
    history = store.read_history()
    kept = {kind: [e for e in entries if not _expired(e, now)] for kind, entries in history.items()}
    cleaned = {kind: len(history[kind]) - len(kept[kind]) for kind in history}
    if any(cleaned.values()):
        store.write_history(kept)
        parts = [f"{cleaned['uploads']} upload(s)"] if cleaned["uploads"] else []
        parts += [f"{cleaned['notes']} note(s)"] if cleaned["notes"] else []
        output.info(f"Cleaned {' and '.join(parts)} (expired)")
    server: str | None = None
    if not args.all:
        try:
            server = resolve_server(args.server, store)
        except UsageError:
            server = None  # nothing configured: show everything
    shown = {
        kind: [e for e in entries if server is None or e.get("server") == server]
        for kind, entries in kept.items()
    }
    if output.json_mode:
        output.result(shown, pretty=True)
        return
    label = server if server is not None else "all servers"
    if not shown["uploads"] and not shown["notes"]:
        output.info("No uploads or notes in history.")
        output.info(f"  Server: {label}")
        output.info("  Use --all to show entries for all servers.")
        return
    output.info(f"Server: {label}")
    output.info(f"{len(shown['uploads'])} file(s), {len(shown['notes'])} note(s)")
    rows = [("uploads", e) for e in shown["uploads"]] + [("notes", e) for e in shown["notes"]]
    rows.sort(key=lambda row: parse_iso(row[1].get("createdAt")) or 0.0, reverse=True)
    for kind, entry in rows:
        password = " [pw]" if entry.get("hasPassword") else ""
        tail = f"{_age(entry, now)}  expires: {_ttl(entry, now)}"
        if kind == "uploads":
            names = ", ".join(str(n) for n in entry.get("fileNames") or [])
            size = format_bytes(int(entry.get("totalSize") or 0))
            output.info(f"[File]  {names}  {size}{password}  {tail}")
        else:
            output.info(f"[Note]  {entry.get('contentType', '?')}{password}  {tail}")


def config(args: argparse.Namespace, output: Output) -> None:
    """Show or change the configuration; with ``--json`` every form prints the resulting
    configuration (``config.json`` plus ``configFile``) as one object."""
    store = LocalStore()
    action = args.action
    if action == "set-server":
        _set_server(store, args.values, output)
    elif action == "reset":
        store.reset_config()
        output.info("Configuration reset.")
    elif action == "set":
        _set_default(store, args.values, output)
    elif action == "unset":
        _unset_default(store, args.values, output)
    elif action is None:
        _show(store, output)
    else:  # pragma: no cover - argparse restricts the choices
        raise UsageError(f"Unknown config action: {action}")
    if output.json_mode:
        output.result({**store.read_config(), "configFile": str(store.config_path)})


def _show(store: LocalStore, output: Output) -> None:
    servers = store.servers()
    data = store.read_config()
    legacy = data.get("server")
    lines = [f"Config file: {store.config_path}", f"Server: {legacy or '(not set)'}"]
    lines.append(f"Servers: {len(servers)}")
    for entry in servers:
        websocket = "off" if entry.get("websocket") is False else "on"
        lines.append(f"  {entry.get('name', '')} ({entry.get('url', '')}) - WebSocket: {websocket}")
    if data.get("defaultServer"):
        lines.append(f"Default server: {data['defaultServer']}")
    for key, value in store.defaults().items():
        lines.append(f"Default {key}: {value}")
    if os.environ.get("SKYSEND_SERVER"):
        lines.append(f"SKYSEND_SERVER: {os.environ['SKYSEND_SERVER']}")
    for line in lines:
        output.info(line)


def _set_server(store: LocalStore, values: list[str], output: Output) -> None:
    """Store ``server``; also move ``defaultServer`` when one exists, so that the command keeps
    working after the legacy migration (differs from reference, clients.md §1.3 quirk)."""
    if len(values) != 1:
        raise UsageError("Usage: skysend config set-server <url>")
    try:
        url = normalize_server(values[0])
    except ValueError:
        raise UsageError(f"Invalid URL: {values[0]}") from None
    data = store.read_config()
    data["server"] = url
    if data.get("defaultServer"):
        data["defaultServer"] = url
        servers = [s for s in data.get("servers") or [] if isinstance(s, dict)]
        if not any(str(s.get("url", "")).rstrip("/") == url for s in servers):
            servers.append({"name": urlsplit(url).netloc or url, "url": url})
        data["servers"] = servers
    store.write_config(data)
    output.info(f"Server set to: {url}")


def _set_default(store: LocalStore, values: list[str], output: Output) -> None:
    if len(values) != 2 or values[0] not in DEFAULT_KEYS:
        keys = ", ".join(DEFAULT_KEYS)
        raise UsageError(f"Usage: skysend config set <key> <value> (keys: {keys})")
    key, raw = values
    value: Any
    if key in ("expires", "noteExpires"):
        parse_duration(raw)
        value = raw
    else:
        value = parse_count(raw, key)
    data = store.read_config()
    defaults = store.defaults()
    data["defaults"] = {**defaults, key: value}
    store.write_config(data)
    output.info(f"Default {key} set to: {value}")


def _unset_default(store: LocalStore, values: list[str], output: Output) -> None:
    if len(values) != 1 or values[0] not in DEFAULT_KEYS:
        raise UsageError(f"Usage: skysend config unset <key> (keys: {', '.join(DEFAULT_KEYS)})")
    data = store.read_config()
    defaults = store.defaults()
    defaults.pop(values[0], None)
    data["defaults"] = defaults
    store.write_config(data)
    output.info(f"Default {values[0]} removed.")
