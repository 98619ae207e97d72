"""Service toggles (http-api.md §1.7, config.md ENABLED_SERVICES) and the force-password
policies (FORCE_FILE_PASSWORD, FORCE_NOTE_PASSWORD), over real HTTP."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

ID = "00000000-0000-4000-8000-000000000000"
SECURITY_HEADER = ("X-Frame-Options", "DENY")

FILE_ROUTES = [
    ("POST", "/api/upload"),
    ("POST", "/api/upload/init"),
    ("POST", f"/api/upload/{ID}/chunk?index=0"),
    ("POST", f"/api/upload/{ID}/finalize"),
    ("DELETE", f"/api/upload/{ID}"),
    ("GET", "/api/upload/ws"),
    ("GET", f"/api/upload/{ID}/anything/below"),
    ("GET", f"/api/info/{ID}"),
    ("GET", f"/api/exists/{ID}"),
    ("POST", f"/api/password/{ID}"),
    ("POST", f"/api/meta/{ID}"),
    ("GET", f"/api/download/{ID}"),
    ("GET", "/api/quota"),
]
NOTE_ROUTES = [
    ("POST", "/api/note"),
    ("GET", f"/api/note/{ID}"),
    ("POST", f"/api/note/{ID}/view"),
    ("POST", f"/api/note/{ID}/password"),
    ("DELETE", f"/api/note/{ID}"),
    ("GET", f"/api/note/{ID}/anything/below"),
]


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def note_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "encryptedContent": base64.b64encode(secrets.token_bytes(64)).decode(),
        "nonce": base64.b64encode(secrets.token_bytes(12)).decode(),
        "salt": b64u(secrets.token_bytes(32)),
        "ownerToken": b64u(secrets.token_bytes(32)),
        "authToken": b64u(secrets.token_bytes(32)),
        "contentType": "text",
        "maxViews": 0,
        "expireSec": 3600,
    }
    body.update(changes)
    return body


NOTE_PASSWORD = {
    "hasPassword": True,
    "passwordSalt": b64u(secrets.token_bytes(16)),
    "passwordAlgo": "argon2id-v2",
}


def upload_headers(*, password: bool = False) -> dict[str, str]:
    headers = {
        "X-Auth-Token": b64u(secrets.token_bytes(32)),
        "X-Owner-Token": b64u(secrets.token_bytes(32)),
        "X-Salt": b64u(secrets.token_bytes(16)),
        "X-Max-Downloads": "1",
        "X-Expire-Sec": "300",
        "X-Content-Length": "16",
    }
    if password:
        headers.update(
            {
                "X-Has-Password": "true",
                "X-Password-Salt": b64u(secrets.token_bytes(16)),
                "X-Password-Algo": "argon2id-v2",
            }
        )
    return headers


@pytest.fixture
def make_client(serve_app: Callable[..., str]) -> Iterator[Callable[..., httpx.Client]]:
    clients: list[httpx.Client] = []

    def make(**env: str) -> httpx.Client:
        client = httpx.Client(base_url=serve_app(**env), timeout=30)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def assert_disabled(response: httpx.Response, message: str) -> None:
    assert (response.status_code, response.json()) == (403, {"error": message})
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers[SECURITY_HEADER[0]] == SECURITY_HEADER[1]


# -- ENABLED_SERVICES -----------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), FILE_ROUTES)
def test_file_routes_answer_403_when_file_service_is_off(
    make_client: Callable[..., httpx.Client], method: str, path: str
) -> None:
    client = make_client(ENABLED_SERVICES="note")
    for headers in ({}, upload_headers()):  # valid or not, the toggle answers first
        response = client.request(method, path, headers=headers, content=b"{}")
        assert_disabled(response, "File service is disabled")


@pytest.mark.parametrize(("method", "path"), NOTE_ROUTES)
def test_note_routes_answer_403_when_note_service_is_off(
    make_client: Callable[..., httpx.Client], method: str, path: str
) -> None:
    client = make_client(ENABLED_SERVICES="file")
    for body in (b"", b"not json", note_body()):
        kwargs: dict[str, Any] = {"json": body} if isinstance(body, dict) else {"content": body}
        response = client.request(method, path, **kwargs)
        assert_disabled(response, "Note service is disabled")


def test_websocket_upgrade_is_refused_when_file_service_is_off(
    serve_app: Callable[..., str],
) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = serve_app(ENABLED_SERVICES="note").replace("http://", "ws://")
    with pytest.raises(InvalidStatus) as refused, connect(f"{url}/api/upload/ws"):
        pass
    assert refused.value.response.status_code == 403


def test_head_download_is_refused_by_the_toggle(make_client: Callable[..., httpx.Client]) -> None:
    client = make_client(ENABLED_SERVICES="note")
    assert client.head(f"/api/download/{ID}").status_code == 403


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ["file", "note"]),
        ({"ENABLED_SERVICES": "file"}, ["file"]),
        ({"ENABLED_SERVICES": "note"}, ["note"]),
        ({"ENABLED_SERVICES": " Note , bogus"}, ["note"]),
    ],
    ids=["default", "file", "note", "normalised"],
)
def test_config_and_health_always_answer_and_reflect_services(
    make_client: Callable[..., httpx.Client], env: dict[str, str], expected: list[str]
) -> None:
    client = make_client(**env)
    config = client.get("/api/config")
    assert config.status_code == 200
    assert config.json()["enabledServices"] == expected
    assert client.get("/api/health").status_code == 200


def test_other_service_keeps_working(make_client: Callable[..., httpx.Client]) -> None:
    files_only = make_client(ENABLED_SERVICES="file")
    assert files_only.post("/api/upload/init", headers=upload_headers()).status_code == 201
    assert files_only.get(f"/api/info/{ID}").json() == {"error": "Upload not found"}

    notes_only = make_client(ENABLED_SERVICES="note")
    body = note_body()
    created = notes_only.post("/api/note", json=body)
    assert created.status_code == 201
    view = notes_only.post(
        f"/api/note/{created.json()['id']}/view", json={"authToken": body["authToken"]}
    )
    assert view.status_code == 200


def test_toggle_matches_whole_path_segments(make_client: Callable[..., httpx.Client]) -> None:
    client = make_client(ENABLED_SERVICES="file")
    for path in ("/api/notes", "/api/note-x", "/api/notepad/1"):
        assert client.get(path).json() == {"error": "Not found"}
    client = make_client(ENABLED_SERVICES="note")
    for path in ("/api/uploads", "/api/information/1", "/api/quotas"):
        assert client.get(path).json() == {"error": "Not found"}


def test_preflight_is_not_subject_to_toggles(make_client: Callable[..., httpx.Client]) -> None:
    client = make_client(ENABLED_SERVICES="file")
    response = client.options(
        "/api/note", headers={"Origin": "http://elsewhere", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 204


# -- FORCE_FILE_PASSWORD / FORCE_NOTE_PASSWORD ----------------------------------------


def test_force_file_password(make_client: Callable[..., httpx.Client]) -> None:
    client = make_client(FORCE_FILE_PASSWORD="true")
    config = client.get("/api/config").json()
    assert (config["forceFilePassword"], config["forceNotePassword"]) == (True, False)
    for path in ("/api/upload/init", "/api/upload"):
        response = client.post(path, headers=upload_headers(), content=b"x" * 16)
        assert (response.status_code, response.json()) == (
            400,
            {"error": "Password is required by server policy"},
        )
    assert client.post("/api/upload/init", headers=upload_headers(password=True)).status_code == 201
    assert client.post("/api/note", json=note_body()).status_code == 201  # notes unaffected


def test_force_note_password(make_client: Callable[..., httpx.Client]) -> None:
    client = make_client(FORCE_NOTE_PASSWORD="true")
    config = client.get("/api/config").json()
    assert (config["forceFilePassword"], config["forceNotePassword"]) == (False, True)
    for body in (note_body(), note_body(hasPassword=False)):
        response = client.post("/api/note", json=body)
        assert (response.status_code, response.json()) == (
            400,
            {"error": "Password is required by server policy"},
        )
    assert client.post("/api/note", json=note_body(**NOTE_PASSWORD)).status_code == 201
    assert client.post("/api/upload/init", headers=upload_headers()).status_code == 201


def test_force_password_off_by_default(make_client: Callable[..., httpx.Client]) -> None:
    client = make_client()
    config = client.get("/api/config").json()
    assert (config["forceFilePassword"], config["forceNotePassword"]) == (False, False)
    assert client.post("/api/note", json=note_body()).status_code == 201
    assert client.post("/api/upload/init", headers=upload_headers()).status_code == 201
