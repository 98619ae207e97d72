"""``skysend-cli config`` (clients.md §3.5): the effective configuration, as text sections
or as one JSON object keyed by variable name with the secrets masked."""

from __future__ import annotations

from typing import Any, TextIO

import attrs

from skysend_core.config import Settings
from skysend_http.admin_cli import formats

MASK = "***"


def effective_config(settings: Settings) -> dict[str, Any]:
    """Every variable after parsing and defaults, plus the derived ``OIDC_ENABLED``.

    The secrets are the fields ``Settings`` keeps out of its ``repr`` (``S3_SECRET_KEY``,
    ``OIDC_CLIENT_SECRET``, ``OIDC_SESSION_SECRET``): one marking, so a new secret cannot be
    forgotten here. Set ones read ``"***"``, unset ones ``null``."""
    config: dict[str, Any] = {}
    for field in attrs.fields(Settings):
        if field.name == "warnings":
            continue
        value = getattr(settings, field.name)
        if not field.repr and value is not None:
            value = MASK
        config[field.name.upper()] = list(value) if isinstance(value, tuple) else value
    config["OIDC_ENABLED"] = settings.oidc_enabled
    return config


def show(settings: Settings, out: TextIO, *, as_json: bool) -> None:
    if as_json:
        formats.print_json(effective_config(settings), out)
        return
    sections = _sections(settings)
    width = max(len(label) for _, rows in sections for label, _ in rows) + 2
    blocks = []
    for title, rows in sections:
        lines = [title, "=" * len(title)]
        lines += [f"{label + ':':<{width}}{value}" for label, value in rows]
        blocks.append("\n".join(lines))
    out.write("\n\n".join(blocks) + "\n")


def _sections(s: Settings) -> list[tuple[str, list[tuple[str, str]]]]:
    host = f"[{s.host}]" if ":" in s.host else s.host
    quota = "disabled"
    if s.file_upload_quota_bytes:
        window = formats.duration(s.file_upload_quota_window)
        quota = f"{formats.size(s.file_upload_quota_bytes)} / {window}"
    return [
        (
            "Server Configuration",
            [
                ("Title", s.custom_title),
                ("Base URL", s.base_url),
                ("Listen", f"{host}:{s.port}"),
                ("Data directory", s.data_dir),
                ("Enabled services", ", ".join(s.enabled_services)),
            ],
        ),
        (
            "File Settings",
            [
                ("Max file size", formats.size(s.file_max_size)),
                ("Max files per upload", str(s.file_max_files_per_upload)),
                ("Expire options", _durations(s.file_expire_options_sec)),
                ("Default expiry", formats.duration(s.file_default_expire_sec)),
                ("Download options", ", ".join(map(str, s.file_download_options))),
                ("Default downloads", str(s.file_default_download)),
                ("Upload quota", quota),
            ],
        ),
        (
            "Note Settings",
            [
                ("Max note size", formats.size(s.note_max_size)),
                ("Expire options", _durations(s.note_expire_options_sec)),
                ("Default expiry", formats.duration(s.note_default_expire_sec)),
                ("View options", ", ".join(map(_views, s.note_view_options))),
                ("Default views", _views(s.note_default_views)),
            ],
        ),
        (
            "General",
            [
                ("Cleanup interval", f"{s.cleanup_interval}s"),
                ("Rate limit", f"{s.rate_limit_max} req / {s.rate_limit_window}ms"),
            ],
        ),
    ]


def _durations(seconds: tuple[int, ...]) -> str:
    return ", ".join(map(formats.duration, seconds))


def _views(count: int) -> str:
    return "∞" if count == 0 else str(count)
