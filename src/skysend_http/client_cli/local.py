"""The CLI's files in the user config folder (clients.md §1.2), compatible with the reference.

``$XDG_CONFIG_HOME/skysend`` (else ``~/.config/skysend``) holds ``config.json`` (servers
and defaults), ``tokens.json`` (OIDC session tokens) and ``history.json`` (uploads and
notes, newest first, at most 100 of each). Files are replaced atomically; the ones holding
credentials (tokens, history with owner tokens and secrets) are created with mode 0600.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from skysend_http.client.login import jwt_claims

HISTORY_LIMIT = 100
TOKEN_MARGIN_S = 30


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME")
    return Path(base) / "skysend" if base else Path.home() / ".config" / "skysend"


def iso(moment: datetime | None = None) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, as JavaScript's ``toISOString``."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def history_entry(server: str, result: Any, **specific: Any) -> dict[str, Any]:
    """A local history entry: what every upload and note records, plus ``specific``.

    ``result`` is an ``UploadResult`` or a ``NoteResult``; the owner secret is kept only
    when the owner token was derived from one."""
    entry: dict[str, Any] = {
        "id": result.id,
        "server": server,
        "url": result.url,
        "ownerToken": result.owner_token,
        **specific,
        "hasPassword": result.has_password,
        "createdAt": iso(result.created_at),
        "expireSec": result.expire_sec,
    }
    if result.owner_secret is not None:
        entry["ownerSecret"] = result.owner_secret
    return entry


def parse_iso(value: object) -> float | None:
    """Seconds since the epoch of an ISO-8601 timestamp, or ``None``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class LocalStore:
    """Reads and writes the three files; every read tolerates a missing or broken file."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else config_dir()

    @property
    def config_path(self) -> Path:
        return self.directory / "config.json"

    @property
    def history_path(self) -> Path:
        return self.directory / "history.json"

    @property
    def tokens_path(self) -> Path:
        return self.directory / "tokens.json"

    # --- config.json ----------------------------------------------------------------

    def read_config(self) -> dict[str, Any]:
        return _read_object(self.config_path)

    def write_config(self, config: Mapping[str, Any]) -> None:
        _write_json(self.config_path, config, indent=2, private=False)

    def servers(self) -> list[dict[str, Any]]:
        """The saved server list, after the reference's legacy migration (clients.md §1.2)."""
        config = self.read_config()
        servers = [s for s in config.get("servers") or [] if isinstance(s, dict)]
        legacy = config.get("server")
        if not servers and isinstance(legacy, str) and legacy:
            servers = [{"name": "Default", "url": legacy}]
            config.update(servers=servers, defaultServer=legacy)
            self.write_config(config)
        return servers

    def configured_server(self) -> str | None:
        """``defaultServer``, else the legacy ``server`` field."""
        config = self.read_config()
        for key in ("defaultServer", "server"):
            value = config.get(key)
            if isinstance(value, str) and value:
                return value.rstrip("/")
        return None

    def server_setting(self, server: str, key: str) -> Any:
        """A per-server setting (e.g. ``websocket``) from the saved server list."""
        for entry in self.read_config().get("servers") or []:
            if isinstance(entry, dict) and str(entry.get("url", "")).rstrip("/") == server:
                return entry.get(key)
        return None

    def defaults(self) -> dict[str, Any]:
        value = self.read_config().get("defaults")
        return dict(value) if isinstance(value, dict) else {}

    def reset_config(self) -> None:
        self.config_path.unlink(missing_ok=True)

    # --- history.json ------------------------------------------------------------------

    def read_history(self) -> dict[str, list[dict[str, Any]]]:
        data = _read_object(self.history_path)
        return {
            kind: [e for e in data.get(kind) or [] if isinstance(e, dict)]
            for kind in ("uploads", "notes")
        }

    def write_history(self, history: Mapping[str, list[dict[str, Any]]]) -> None:
        _write_json(self.history_path, history, indent=2, private=True)

    def remember(self, kind: str, entry: dict[str, Any]) -> None:
        """Prepend ``entry`` to ``uploads`` or ``notes`` (newest first, at most 100)."""
        history = self.read_history()
        history[kind] = [entry, *history[kind]][:HISTORY_LIMIT]
        self.write_history(history)

    def find(self, item_id: str) -> tuple[str, dict[str, Any]] | None:
        """The history entry (``"uploads"`` or ``"notes"``, entry) with this id."""
        history = self.read_history()
        for kind in ("uploads", "notes"):
            for entry in history[kind]:
                if entry.get("id") == item_id:
                    return kind, entry
        return None

    # --- tokens.json -----------------------------------------------------------------

    def stored_token(self, server: str) -> str | None:
        """The token stored for ``server``, valid or not."""
        token = _read_object(self.tokens_path).get(server.rstrip("/"))
        return token if isinstance(token, str) and token else None

    def session_token(self, server: str) -> str | None:
        """The stored OIDC session token of ``server`` if it is valid for 30 s more."""
        token = self.stored_token(server)
        if token is None:
            return None
        expires = jwt_expiry(token)
        if expires is None or expires - TOKEN_MARGIN_S <= time.time():
            return None
        return token

    def save_token(self, server: str, token: str | None) -> None:
        """Store (or with ``None`` remove) the token of ``server``; the file stays 0600."""
        tokens = _read_object(self.tokens_path)
        if token is None:
            tokens.pop(server.rstrip("/"), None)
        else:
            tokens[server.rstrip("/")] = token
        _write_json(self.tokens_path, tokens, indent=2, private=True)


def jwt_expiry(token: str) -> float | None:
    """``exp`` of a JWT, read without verification (the server verifies it)."""
    exp = jwt_claims(token).get("exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def _read_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: Mapping[str, Any], *, indent: int, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    fd = os.open(temp, flags, 0o600 if private else 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(json.dumps(data, indent=indent, ensure_ascii=False) + "\n")
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
