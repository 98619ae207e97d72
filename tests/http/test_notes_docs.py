"""Drift: every note route the app serves is documented in docs/api/notes.md."""

from __future__ import annotations

import re
from pathlib import Path

from skysend_core.config import Settings
from skysend_http.app import create_app
from skysend_http.bootstrap import build

DOC = Path(__file__).resolve().parents[2] / "docs" / "api" / "notes.md"


def test_every_note_route_has_a_section(tmp_path: Path) -> None:
    settings = Settings.from_env({"BASE_URL": "http://127.0.0.1", "DATA_DIR": str(tmp_path)})
    app = create_app(build(settings))  # storage is only opened when serving starts
    headings = {
        line.removeprefix("## ").split(" — ")[0].replace("\\", "")
        for line in DOC.read_text().splitlines()
        if line.startswith("## ")
    }
    routes = {
        f"{method} {re.sub(r'<[^>]+>', '<id>', rule.rule)}"
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/note")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    assert routes
    assert routes <= headings, routes - headings
