"""Behaviour shared by every endpoint, over real HTTP (http-api.md §1.1-1.6, §2.1, §2.3)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from importlib.metadata import version
from typing import Any

import httpx
import pytest
from tests.support.files_api import token, upload, upload_headers

MISSING_ID = "00000000-0000-4000-8000-000000000000"
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; child-src 'self' blob:; "
    "frame-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": DEFAULT_CSP,
    "cross-origin-resource-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "origin-agent-cluster": "?1",
    "referrer-policy": "no-referrer",
    "strict-transport-security": "max-age=63072000; includeSubDomains; preload",
    "x-content-type-options": "nosniff",
    "x-dns-prefetch-control": "off",
    "x-download-options": "noopen",
    "x-frame-options": "DENY",
    "x-permitted-cross-domain-policies": "none",
    "x-xss-protection": "0",
}
EXPOSE = "X-RateLimit-Limit,X-RateLimit-Remaining,X-RateLimit-Reset,X-File-Count"
ALLOW_HEADERS = (
    "Content-Type,Content-Length,X-Content-Length,X-Auth-Token,X-Owner-Token,X-Salt,"
    "X-Max-Downloads,X-Expire-Sec,X-File-Count,X-Has-Password,X-Password-Salt,"
    "X-Password-Algo,Authorization"
)
ALLOWED = "https://app.example"
OTHER = "https://partner.example"
EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.support.servers import running_app

    overrides = {"CORS_ORIGINS": f"{ALLOWED},{OTHER}"}
    with running_app(tmp_path_factory.mktemp("common"), overrides) as url:
        yield url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as http:
        yield http


def vary_tokens(response: httpx.Response) -> list[str]:
    return [
        part.strip().lower()
        for value in response.headers.get_list("vary")
        for part in value.split(",")
        if part.strip()
    ]


def sample_requests(client: httpx.Client) -> Iterator[tuple[str, httpx.Response]]:
    """One response of every kind the API produces: successes, each error status, the
    download stream, the HEAD refusal and a preflight."""
    stored = upload(client, max_downloads=2)
    yield "config", client.get("/api/config")
    yield "health", client.get("/api/health")
    yield "info", client.get(f"/api/info/{stored.id}")
    yield "exists 404", client.get(f"/api/exists/{MISSING_ID}")
    yield "upload 400", client.post("/api/upload", headers={"X-Salt": "x"})
    yield "upload 413", client.post("/api/upload", headers=upload_headers(2**40), content=b"x")
    yield "download 401", client.get(f"/api/download/{stored.id}")
    yield "download 404", client.get(f"/api/download/{MISSING_ID}", headers=stored.auth)
    yield "download", client.get(f"/api/download/{stored.id}", headers=stored.auth)
    yield (
        "meta 409",
        client.post(
            f"/api/meta/{stored.id}",
            headers=stored.owner,
            json={"encryptedMeta": "AA", "nonce": "AA"},
        ),
    )
    yield (
        "meta 409",
        client.post(
            f"/api/meta/{stored.id}",
            headers=stored.owner,
            json={"encryptedMeta": "AA", "nonce": "AA"},
        ),
    )
    yield "unknown path", client.get("/api/nothing-here")
    yield "unknown method", client.put("/api/config")
    yield "HEAD download", client.head(f"/api/download/{stored.id}")
    yield "preflight", client.options("/api/upload", headers={"Origin": ALLOWED})
    yield "download 410", client.get(f"/api/download/{stored.id}", headers=stored.auth)
    yield "download 410", client.get(f"/api/download/{stored.id}", headers=stored.auth)


# -- §1.4 caching and §1.5 security headers ---------------------------------------------


def test_every_api_response_is_no_store_and_carries_the_security_headers(
    client: httpx.Client,
) -> None:
    seen = set()
    for name, response in sample_requests(client):
        seen.add(response.status_code)
        assert response.headers.get_list("cache-control") == ["no-store"], name
        for header, value in SECURITY_HEADERS.items():
            assert response.headers.get_list(header) == [value], (name, header)
        for absent in ("x-powered-by", "cross-origin-embedder-policy", "permissions-policy"):
            assert absent not in response.headers, (name, absent)
    assert {200, 204, 400, 401, 404, 405, 409, 410, 413} <= seen


@pytest.mark.parametrize("path", ["/", "/file/abc", "/favicon.ico", "/auth/nothing", "/apifoo"])
def test_non_api_responses_carry_the_security_headers(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    for header, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(header) == [value], header
    assert "x-powered-by" not in response.headers


@pytest.mark.parametrize("path", ["/", "/file/abc", "/note/x"])
def test_cors_applies_to_every_path(client: httpx.Client, path: str) -> None:
    """The CORS layer sits in front of everything, not only /api (§1.6, §1.3)."""
    allowed = client.get(path, headers={"Origin": ALLOWED})
    assert allowed.headers.get_list("access-control-allow-origin") == [ALLOWED]
    assert "origin" in vary_tokens(allowed)
    assert allowed.headers["access-control-expose-headers"] == EXPOSE
    other = client.get(path, headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in other.headers
    assert other.headers["access-control-expose-headers"] == EXPOSE


def test_csp_names_custom_logo_origin(serve_app: Callable[..., str]) -> None:
    url = serve_app(CUSTOM_LOGO="https://cdn.example:8443/brand/logo.svg?v=2")
    with httpx.Client(base_url=url) as client:
        csp = client.get("/api/health").headers["content-security-policy"]
    assert "img-src 'self' data: https://cdn.example:8443;" in csp


# -- §1.6 CORS ------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [ALLOWED, OTHER])
def test_allowed_origin_is_echoed_with_vary(client: httpx.Client, origin: str) -> None:
    for response in (
        client.get("/api/config", headers={"Origin": origin}),
        client.get(f"/api/info/{MISSING_ID}", headers={"Origin": origin}),
    ):
        assert response.headers.get_list("access-control-allow-origin") == [origin]
        assert vary_tokens(response).count("origin") == 1
        assert response.headers["access-control-expose-headers"] == EXPOSE
        assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(
    "origin",
    [EVIL, ALLOWED + "/", ALLOWED.upper(), "null", "https://app.example.evil.example"],
)
def test_other_origins_get_no_allow_origin_but_are_processed(
    client: httpx.Client, origin: str
) -> None:
    response = client.get("/api/config", headers={"Origin": origin})
    assert response.status_code == 200
    assert response.json()["customTitle"] == "SkySend"
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["access-control-expose-headers"] == EXPOSE
    assert "access-control-allow-credentials" not in response.headers


def test_requests_without_origin_still_expose_headers(client: httpx.Client) -> None:
    response = client.get("/api/config")
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["access-control-expose-headers"] == EXPOSE


def test_base_url_is_an_allowed_origin_without_trailing_slash(
    serve_app: Callable[..., str],
) -> None:
    url = serve_app(BASE_URL="https://share.example/")
    with httpx.Client(base_url=url) as client:
        response = client.get("/api/config", headers={"Origin": "https://share.example"})
        assert response.headers["access-control-allow-origin"] == "https://share.example"
        created = client.post("/api/upload", content=b"x", headers=upload_headers(1))
        assert created.json()["url"] == f"https://share.example/file/{created.json()['id']}"


@pytest.mark.parametrize(
    "path", ["/api/upload", f"/api/upload/{MISSING_ID}/chunk", "/api/note", "/"]
)
def test_preflight(client: httpx.Client, path: str) -> None:
    headers = {
        "Origin": ALLOWED,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-auth-token,content-type",
    }
    response = client.options(path, headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers
    assert "content-length" not in response.headers
    assert response.headers.get_list("access-control-allow-origin") == [ALLOWED]
    assert response.headers["access-control-allow-methods"] == "GET,POST,DELETE,OPTIONS"
    assert response.headers["access-control-allow-headers"] == ALLOW_HEADERS
    assert sorted(vary_tokens(response)) == ["access-control-request-headers", "origin"]
    assert "access-control-max-age" not in response.headers
    assert "access-control-allow-credentials" not in response.headers
    for header, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(header) == [value], header


def test_preflight_from_another_origin_has_no_allow_origin(client: httpx.Client) -> None:
    response = client.options("/api/upload/init", headers={"Origin": EVIL})
    assert response.status_code == 204
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["access-control-allow-methods"] == "GET,POST,DELETE,OPTIONS"
    assert response.headers["access-control-allow-headers"] == ALLOW_HEADERS
    assert vary_tokens(response) == ["access-control-request-headers"]


def test_preflight_ignores_service_toggles(serve_app: Callable[..., str]) -> None:
    with httpx.Client(base_url=serve_app(ENABLED_SERVICES="note")) as client:
        response = client.options("/api/upload/init", headers={"Origin": EVIL})
        assert response.status_code == 204
        assert client.post("/api/upload/init").status_code == 403


def test_health_allows_any_origin(client: httpx.Client) -> None:
    for headers in ({"Origin": EVIL}, {}):
        response = client.get("/api/health", headers=headers)
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["access-control-expose-headers"] == EXPOSE
    echoed = client.get("/api/health", headers={"Origin": ALLOWED})
    assert echoed.headers["access-control-allow-origin"] in ("*", ALLOWED)


def test_health_preflight(client: httpx.Client) -> None:
    response = client.options(
        "/api/health",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-probe,x-other",
        },
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "GET,HEAD,PUT,POST,DELETE,PATCH"
    assert response.headers["access-control-allow-headers"] == "x-probe,x-other"
    assert "access-control-max-age" not in response.headers


# -- §1.1 routing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api"),
        ("GET", "/api/"),
        ("GET", "/api/nothing-here"),
        ("GET", "/api/upload"),
        ("GET", "/api/upload/init"),
        ("PUT", "/api/upload"),
        ("POST", "/api/config"),
        ("DELETE", "/api/health"),
        ("DELETE", f"/api/info/{MISSING_ID}"),
        ("POST", f"/api/download/{MISSING_ID}"),
        ("PATCH", f"/api/meta/{MISSING_ID}"),
        ("GET", f"/api/upload/{MISSING_ID}/chunk"),
        ("GET", f"/api/info/{MISSING_ID}/extra"),
        ("GET", "/api/info/..%2F..%2Fdb%2Fskysend.db"),
        ("GET", "/api/info/"),
    ],
)
def test_unknown_api_paths_and_methods_are_json_404(
    client: httpx.Client, method: str, path: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert response.headers["cache-control"] == "no-store"


def test_head_download_is_405_and_counts_nothing(client: httpx.Client) -> None:
    stored = upload(client, max_downloads=1)
    for headers in (stored.auth, {}):
        response = client.head(f"/api/download/{stored.id}", headers=headers)
        assert response.status_code == 405
        assert response.headers["allow"] == "GET"
        assert response.headers["cache-control"] == "no-store"
        assert response.content == b""
        # The JSON body {"error":"Method not allowed"} is announced, not sent (HEAD).
        assert response.headers["content-type"].split(";")[0] == "application/json"
        assert response.headers["content-length"] == str(len(b'{"error":"Method not allowed"}'))
    response = client.head(f"/api/download/{MISSING_ID}")
    assert (response.status_code, response.headers["allow"]) == (405, "GET")
    assert client.get(f"/api/info/{stored.id}").json()["downloadCount"] == 0
    fetched = client.get(f"/api/download/{stored.id}", headers=stored.auth)
    assert fetched.content == stored.data


def test_head_of_other_get_endpoints_is_like_get_without_body(client: httpx.Client) -> None:
    stored = upload(client)
    for path in (
        "/api/config",
        "/api/health",
        f"/api/info/{stored.id}",
        f"/api/exists/{stored.id}",
    ):
        response = client.head(path)
        assert response.status_code == 200, path
        assert response.content == b""


# -- §2.1 /api/config -----------------------------------------------------------------

CONFIG_TYPES: dict[str, type | tuple[type, ...]] = {
    "maxFileSize": int,
    "maxFilesPerUpload": int,
    "expireOptions": list,
    "defaultExpire": int,
    "downloadOptions": list,
    "defaultDownload": int,
    "enabledServices": list,
    "fileMaxSize": int,
    "fileMaxFilesPerUpload": int,
    "fileExpireOptions": list,
    "fileDefaultExpire": int,
    "fileDownloadOptions": list,
    "fileDefaultDownload": int,
    "fileUploadQuotaBytes": int,
    "fileUploadQuotaWindow": int,
    "fileUploadConcurrentChunks": int,
    "fileUploadSpeedLimit": int,
    "fileUploadWs": bool,
    "noteMaxSize": int,
    "noteExpireOptions": list,
    "noteDefaultExpire": int,
    "noteViewOptions": list,
    "noteDefaultViews": int,
    "customTitle": str,
    "customColor": (str, type(None)),
    "customLogo": (str, type(None)),
    "customPrivacy": (str, type(None)),
    "customLegal": (str, type(None)),
    "customLinkUrl": (str, type(None)),
    "customLinkName": (str, type(None)),
    "customReportUrl": (str, type(None)),
    "defaultTheme": str,
    "defaultTab": str,
    "forceFilePassword": bool,
    "forceNotePassword": bool,
    "oidcEnabled": bool,
    "oidcProtectFiles": bool,
    "oidcProtectNotes": bool,
}


def check_types(config: dict[str, Any]) -> None:
    """Every key the clients require is present with its documented JSON type."""
    assert set(CONFIG_TYPES) <= set(config)
    for key, kind in CONFIG_TYPES.items():
        value: Any = config[key]
        assert isinstance(value, kind), key
        if kind is int:
            assert not isinstance(value, bool), key
        if isinstance(value, list):
            expected = str if key == "enabledServices" else int
            assert all(isinstance(item, expected) and not isinstance(item, bool) for item in value)


def test_config_defaults(client: httpx.Client) -> None:
    response = client.get("/api/config")
    assert response.status_code == 200
    config = response.json()
    check_types(config)
    gib = 1024**3
    expected = {
        "maxFileSize": 2 * gib,
        "maxFilesPerUpload": 32,
        "expireOptions": [300, 3600, 86400, 604800],
        "defaultExpire": 86400,
        "downloadOptions": [1, 2, 3, 4, 5, 10, 20, 50, 100],
        "defaultDownload": 1,
        "enabledServices": ["file", "note"],
        "fileMaxSize": 2 * gib,
        "fileMaxFilesPerUpload": 32,
        "fileExpireOptions": [300, 3600, 86400, 604800],
        "fileDefaultExpire": 86400,
        "fileDownloadOptions": [1, 2, 3, 4, 5, 10, 20, 50, 100],
        "fileDefaultDownload": 1,
        "fileUploadQuotaBytes": 0,
        "fileUploadQuotaWindow": 86400,
        "fileUploadConcurrentChunks": 3,
        "fileUploadSpeedLimit": 0,
        "fileUploadWs": True,
        "noteMaxSize": 1024 * 1024,
        "noteExpireOptions": [300, 3600, 86400, 604800],
        "noteDefaultExpire": 86400,
        "noteViewOptions": [0, 1, 2, 3, 5, 10, 20, 50, 100],
        "noteDefaultViews": 0,
        "customTitle": "SkySend",
        "customColor": None,
        "customLogo": None,
        "customPrivacy": None,
        "customLegal": None,
        "customLinkUrl": None,
        "customLinkName": None,
        "customReportUrl": None,
        "defaultTheme": "system",
        "defaultTab": "file",
        "forceFilePassword": False,
        "forceNotePassword": False,
        "oidcEnabled": False,
        "oidcProtectFiles": False,
        "oidcProtectNotes": False,
    }
    assert {key: config[key] for key in expected} == expected


def test_config_follows_the_environment_and_both_groups_agree(
    serve_app: Callable[..., str],
) -> None:
    url = serve_app(
        FILE_MAX_SIZE="500MB",
        FILE_MAX_FILES_PER_UPLOAD="7",
        FILE_EXPIRE_OPTIONS_SEC="60,120",
        FILE_DEFAULT_EXPIRE_SEC="120",
        FILE_DOWNLOAD_OPTIONS="2,4",
        FILE_DEFAULT_DOWNLOAD="4",
        FILE_UPLOAD_QUOTA_BYTES="1GB",
        FILE_UPLOAD_QUOTA_WINDOW="3600",
        FILE_UPLOAD_CONCURRENT_CHUNKS="5",
        FILE_UPLOAD_SPEED_LIMIT="1MB",
        FILE_UPLOAD_WS="false",
        ENABLED_SERVICES="file",
        CUSTOM_TITLE="Drop",
        CUSTOM_COLOR="AABBCC",
        CUSTOM_LOGO="/logo.svg",
        CUSTOM_PRIVACY="https://example.com/privacy",
        CUSTOM_LINK_URL="https://example.com",
        CUSTOM_LINK_NAME="Home",
        DEFAULT_THEME="dark",
        DEFAULT_TAB="code",
        FORCE_FILE_PASSWORD="true",
    )
    with httpx.Client(base_url=url) as client:
        config = client.get("/api/config").json()
    check_types(config)
    pairs = [
        ("maxFileSize", "fileMaxSize", 500 * 1024 * 1024),
        ("maxFilesPerUpload", "fileMaxFilesPerUpload", 7),
        ("expireOptions", "fileExpireOptions", [60, 120]),
        ("defaultExpire", "fileDefaultExpire", 120),
        ("downloadOptions", "fileDownloadOptions", [2, 4]),
        ("defaultDownload", "fileDefaultDownload", 4),
    ]
    for documented, client_name, value in pairs:
        assert config[documented] == config[client_name] == value
    assert config["fileUploadQuotaBytes"] == 1024**3
    assert config["fileUploadQuotaWindow"] == 3600
    assert config["fileUploadConcurrentChunks"] == 5
    assert config["fileUploadSpeedLimit"] == 1024 * 1024
    assert config["fileUploadWs"] is False
    assert config["enabledServices"] == ["file"]
    assert config["customTitle"] == "Drop"
    assert config["customColor"] == "#AABBCC"
    assert config["customLogo"] == "/logo.svg"
    assert config["customPrivacy"] == "https://example.com/privacy"
    assert config["customLegal"] is None
    assert (config["customLinkUrl"], config["customLinkName"]) == ("https://example.com", "Home")
    assert (config["defaultTheme"], config["defaultTab"]) == ("dark", "code")
    assert config["forceFilePassword"] is True


# -- §2.3 /api/health -----------------------------------------------------------------


def test_health(client: httpx.Client) -> None:
    before = time.time()
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "version", "timestamp"}
    assert body["status"] == "ok"
    assert body["version"] == version("skysend")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["timestamp"])
    moment = datetime.fromisoformat(body["timestamp"]).timestamp()
    assert before - 1 <= moment <= time.time() + 1


def test_tokens_in_paths_are_not_echoed(client: httpx.Client) -> None:
    """Error bodies carry only the documented message, never what was sent."""
    secret = token()
    response = client.get(f"/api/download/{MISSING_ID}", headers={"X-Auth-Token": secret})
    assert secret not in response.text
