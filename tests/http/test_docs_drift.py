"""Drift: every route the app serves is listed in the API overview, docs/api/README.md."""

from __future__ import annotations

import re
from pathlib import Path

from skysend_core.config import Settings
from skysend_http.app import create_app
from skysend_http.bootstrap import build

OVERVIEW = Path(__file__).resolve().parents[2] / "docs" / "api" / "README.md"


def documented_routes() -> set[str]:
    """``METHOD /path`` of every row of the overview table, ids written as ``<id>``."""
    routes = set()
    for line in OVERVIEW.read_text().splitlines():
        cells = [cell.strip().strip("`") for cell in line.split("|")[1:-1]]
        if len(cells) >= 2 and cells[1].startswith("/"):
            method = cells[0].split()[0]
            path = re.sub(r"<[^>]+>", "<id>", cells[1].split("?")[0])
            routes.add(f"{method} {path}")
    return routes


def served_routes(tmp_path: Path) -> set[str]:
    """Every route of a server with everything on, OIDC sign-in included."""
    settings = Settings.from_env(
        {
            "BASE_URL": "http://127.0.0.1",
            "DATA_DIR": str(tmp_path),
            "OIDC_ISSUER": "https://id.example",
            "OIDC_CLIENT_ID": "client",
            "OIDC_CLIENT_SECRET": "secret",
        }
    )
    app = create_app(build(settings))  # storage is only opened when serving starts
    routes = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<[^>]+>", "<id>", rule.rule)
        if rule.websocket:
            routes.add(f"GET {path}")
            continue
        routes.update(f"{m} {path}" for m in rule.methods or () if m not in ("HEAD", "OPTIONS"))
    return {route for route in routes if " /api" in route or " /auth" in route}


def test_every_api_route_is_in_the_overview(tmp_path: Path) -> None:
    served = served_routes(tmp_path)
    assert len(served) >= 23
    assert served <= documented_routes(), served - documented_routes()


def test_the_overview_lists_no_route_that_does_not_exist(tmp_path: Path) -> None:
    assert documented_routes() <= served_routes(tmp_path), documented_routes() - served_routes(
        tmp_path
    )
