"""Sign-in through OIDC (oidc.md) and the creation guard (http-api.md §1.12), end to end:
the real app over real HTTP, signing in at a real OIDC provider on loopback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import websockets
from joserfc import jws
from joserfc.jwk import OctKey
from tests.support.oidc_provider import CLIENT_ID, LoopbackProvider, running_provider
from tests.support.raw_http import read_response
from tests.support.servers import ServerProcess

from skysend_http.client import AsyncClient

SECRET = "a-session-secret-of-at-least-32-characters"
BAD_HOST = "Invalid cli_callback: only http://localhost or http://127.0.0.1 is allowed"
USER = {"sub": "user-1", "name": "Ada Lovelace", "email": "ada@example.org"}


@pytest.fixture
def provider() -> Iterator[LoopbackProvider]:
    with running_provider() as state:
        yield state


@pytest.fixture
def oidc_server(serve_app: Callable[..., str], provider: LoopbackProvider) -> Callable[..., str]:
    """Start the app signed in through ``provider``; keyword arguments override settings."""

    def start(**overrides: str) -> str:
        return serve_app(**provider.env(OIDC_SESSION_SECRET=SECRET, **overrides))

    return start


def b64url_json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def sign(claims: dict[str, Any], secret: str = SECRET, alg: str = "HS256") -> str:
    payload = json.dumps(claims).encode()
    return jws.serialize_compact({"alg": alg}, payload, OctKey.import_key(secret.encode()), [alg])


def session_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {**USER, "iat": now, "exp": now + 3600, **changes}
    return {k: v for k, v in claims.items() if v is not None}


def cookies_of(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


@contextlib.contextmanager
def sign_in(server: str, **params: str) -> Iterator[tuple[httpx.Client, httpx.Response]]:
    """Play the browser: /auth/login → the provider → /auth/callback. Yields the browser
    (with its cookies) and the callback's answer."""
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        login = browser.get(f"{server}/auth/login", params=params)
        assert login.status_code == 302, login.text
        at_provider = browser.get(login.headers["location"])
        assert at_provider.status_code == 302, at_provider.text
        yield browser, browser.get(at_provider.headers["location"])


NOTE = {
    "encryptedContent": base64.b64encode(b"\0" * 32).decode(),
    "nonce": base64.b64encode(b"\0" * 12).decode(),
    "salt": base64.urlsafe_b64encode(b"\1" * 32).rstrip(b"=").decode(),
    "ownerToken": base64.urlsafe_b64encode(b"\2" * 32).rstrip(b"=").decode(),
    "authToken": base64.urlsafe_b64encode(b"\3" * 32).rstrip(b"=").decode(),
    "contentType": "text",
    "maxViews": 1,
    "expireSec": 3600,
}


def create_note(server: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{server}/api/note", json=NOTE, headers=headers or {}, timeout=10)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the browser flow ---------------------------------------------------------------------


def test_login_redirects_to_the_provider_with_pkce(oidc_server: Callable[..., str]) -> None:
    server = oidc_server(OIDC_SCOPES="  openid\tprofile   email ")
    login = httpx.get(f"{server}/auth/login")
    assert login.status_code == 302
    target = urlsplit(login.headers["location"])
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    (cookie,) = cookies_of(login)
    name, _, rest = cookie.partition("=")
    token, _, attributes = rest.partition("; ")
    assert name == "skysend-pkce"
    assert attributes == "Max-Age=300; Path=/; HttpOnly; SameSite=Lax"
    header, payload, _ = token.split(".")
    assert b64url_json(header) == {"alg": "HS256"}
    pkce = b64url_json(payload)
    assert pkce["exp"] == pkce["iat"] + 300
    assert set(pkce) == {"state", "nonce", "codeVerifier", "iat", "exp"}
    challenge = hashlib.sha256(pkce["codeVerifier"].encode()).digest()
    assert query == {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": f"{server}/auth/callback",
        "scope": "openid profile email",
        "state": pkce["state"],
        "nonce": pkce["nonce"],
        "code_challenge": base64.urlsafe_b64encode(challenge).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    assert len(pkce["codeVerifier"]) == 43
    assert f"{target.scheme}://{target.netloc}{target.path}".endswith("/authorize")


def test_browser_sign_in_sets_the_session_cookie(
    oidc_server: Callable[..., str], provider: LoopbackProvider
) -> None:
    server = oidc_server(OIDC_SESSION_DURATION="7200")
    with sign_in(server) as (browser, callback):
        assert callback.status_code == 302
        assert callback.headers["location"] == "/"
        pkce_cleared, session = cookies_of(callback)
        assert pkce_cleared == "skysend-pkce=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
        name, _, rest = session.partition("=")
        token, _, attributes = rest.partition("; ")
        assert name == "skysend-auth"
        assert attributes == "Max-Age=7200; Path=/; HttpOnly; SameSite=Lax"
        header, payload, _ = token.split(".")
        assert b64url_json(header) == {"alg": "HS256"}
        claims = b64url_json(payload)
        assert claims == {**USER, "iat": claims["iat"], "exp": claims["iat"] + 7200}
        # The provider was asked the documented way: client_secret_post, PKCE, same redirect.
        (exchange,) = provider.token_requests
        assert exchange["client_secret"]
        assert exchange["redirect_uri"] == f"{server}/auth/callback"
        # The browser now carries the cookie: session, and creation passes the guard.
        me = browser.get(f"{server}/auth/session")
        assert me.status_code == 200
        assert me.json() == USER
        assert me.headers["cache-control"] == "no-store"
        note = browser.post(f"{server}/api/note", json=NOTE)
        assert note.status_code == 201, note.text


def test_cli_callback_gets_the_token_and_no_cookie(oidc_server: Callable[..., str]) -> None:
    server = oidc_server()
    callback_url = "http://127.0.0.1:8765/callback?keep=a+b&token=old"
    with sign_in(server, cli_callback=callback_url) as (_, callback):
        assert callback.status_code == 302
        target = urlsplit(callback.headers["location"])
        assert f"{target.scheme}://{target.netloc}{target.path}" == "http://127.0.0.1:8765/callback"
        query = parse_qs(target.query)
        assert query["keep"] == ["a b"]
        (token,) = query["token"]
        assert cookies_of(callback) == ["skysend-pkce=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"]
        assert create_note(server, bearer(token)).status_code == 201
        me = httpx.get(f"{server}/auth/session", headers=bearer(token))
        assert me.json() == USER


def test_cookies_are_secure_behind_https(oidc_server: Callable[..., str]) -> None:
    server = oidc_server(BASE_URL="https://send.example")
    login = httpx.get(f"{server}/auth/login")
    (cookie,) = cookies_of(login)
    assert cookie.endswith("; Max-Age=300; Path=/; HttpOnly; SameSite=Lax; Secure")
    query = parse_qs(urlsplit(login.headers["location"]).query)
    assert query["redirect_uri"] == ["https://send.example/auth/callback"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Invalid cli_callback: not a valid URL"),
        ("not a url", "Invalid cli_callback: not a valid URL"),
        ("http://127.0.0.1:80/callback", BAD_HOST),
        ("https://127.0.0.1:8443/callback", BAD_HOST),
        ("http://example.com:8080/callback", BAD_HOST),
        ("http://127.0.0.1/callback", BAD_HOST),
    ],
)
def test_cli_callback_is_checked(oidc_server: Callable[..., str], value: str, message: str) -> None:
    server = oidc_server()
    answer = httpx.get(f"{server}/auth/login", params={"cli_callback": value})
    assert answer.status_code == 400
    assert answer.json() == {"error": message}
    assert cookies_of(answer) == []


async def test_the_client_signs_in_through_the_browser_flow(
    oidc_server: Callable[..., str], tmp_path: Path
) -> None:
    """The client's ``cli_callback`` login against the real server and provider; the token
    then carries every transport past the guard."""
    server = oidc_server()

    def browser(url: str) -> bool:
        with httpx.Client(follow_redirects=True, timeout=10) as agent:
            page = agent.get(url)
        assert "Login successful" in page.text
        return True

    source = tmp_path / "hello.txt"
    source.write_bytes(b"hello" * 1000)
    async with AsyncClient(server) as client:
        token = await client.login(open_browser=browser)
        assert token.count(".") == 2
        for transport in ("ws", "chunked", "single"):
            result = await client.upload(source, transport=transport)  # type: ignore[arg-type]
            assert result.transport == transport
        note = await client.create_note("guarded note")
        assert note.id


# -- the guard ------------------------------------------------------------------------------


def test_every_creation_endpoint_is_guarded(oidc_server: Callable[..., str]) -> None:
    server = oidc_server()
    for method, path in [
        ("POST", "/api/upload"),
        ("POST", "/api/upload/init"),
        ("POST", "/api/note"),
    ]:
        answer = httpx.request(method, f"{server}{path}", content=b"x" * 10)
        assert answer.status_code == 401, path
        assert answer.json() == {"error": "Authentication required"}
        assert answer.headers["cache-control"] == "no-store"
        valid = httpx.request(method, f"{server}{path}", headers=bearer(sign(session_claims())))
        assert valid.status_code == 400, path  # past the guard: the endpoint's own checks
    for path in ["/api/config", "/api/health", "/api/quota", "/api/info/" + "0" * 36]:
        assert httpx.get(f"{server}{path}").status_code != 401


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        sign(session_claims(exp=int(time.time()) - 1)),
        sign(session_claims(), secret="another-secret-of-at-least-32-characters!"),
        sign(session_claims(), alg="HS512"),
        sign(session_claims(email=None)),
        sign(session_claims(name=7)),
        ".".join(sign(session_claims()).split(".")[:2]) + ".",
    ],
    ids=["garbage", "expired", "other-key", "hs512", "no-email", "name-not-text", "unsigned"],
)
def test_invalid_sessions_are_refused(oidc_server: Callable[..., str], token: str) -> None:
    server = oidc_server()
    for headers in (bearer(token), {"Cookie": f"skysend-auth={token}"}):
        answer = create_note(server, headers)
        assert answer.status_code == 401
        assert answer.json() == {"error": "Session expired or invalid"}
        session = httpx.get(f"{server}/auth/session", headers=headers)
        assert session.status_code == 401
        assert session.json() == {"error": "Session expired or invalid"}


def test_an_invalid_cookie_is_final(oidc_server: Callable[..., str]) -> None:
    server = oidc_server()
    headers = {"Cookie": "skysend-auth=garbage", **bearer(sign(session_claims()))}
    answer = create_note(server, headers)
    assert answer.status_code == 401
    assert answer.json() == {"error": "Session expired or invalid"}
    good_cookie = {"Cookie": f"other=1; skysend-auth={sign(session_claims())}"}
    assert create_note(server, {**good_cookie, "Authorization": "Bearer junk"}).status_code == 201


def test_protection_follows_the_switches(oidc_server: Callable[..., str]) -> None:
    server = oidc_server(OIDC_PROTECT_NOTES="false")
    assert create_note(server).status_code == 201
    assert httpx.post(f"{server}/api/upload/init").status_code == 401
    config = httpx.get(f"{server}/api/config").json()
    assert (config["oidcEnabled"], config["oidcProtectFiles"], config["oidcProtectNotes"]) == (
        True,
        True,
        False,
    )


def test_the_toggle_answers_before_the_guard(oidc_server: Callable[..., str]) -> None:
    server = oidc_server(ENABLED_SERVICES="file")
    assert create_note(server).status_code == 403


async def test_websocket_upgrade_is_guarded(oidc_server: Callable[..., str]) -> None:
    server = oidc_server()
    url = server.replace("http://", "ws://") + "/api/upload/ws"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url):
            pass
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body or b"") == {"error": "Authentication required"}
    with pytest.raises(websockets.InvalidStatus) as expired:
        async with websockets.connect(url, additional_headers=bearer("x.y.z")):
            pass
    assert expired.value.response.status_code == 401
    cookie = {"Cookie": f"skysend-auth={sign(session_claims())}"}
    async with websockets.connect(url, additional_headers=cookie) as ws:
        await ws.send(json.dumps({"type": "init"}))
        answer = json.loads(await ws.recv())
        assert answer["type"] == "error"  # past the guard: the protocol's own checks


def test_websocket_switched_off_is_not_found_before_the_guard(
    oidc_server: Callable[..., str],
) -> None:
    server = oidc_server(FILE_UPLOAD_WS="false")
    answer = httpx.get(
        f"{server}/api/upload/ws",
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(b"k" * 16).decode(),
        },
    )
    assert answer.status_code == 404


# -- the callback's checks (oidc.md §4) -----------------------------------------------------


def pkce_cookie(**changes: Any) -> dict[str, str]:
    now = int(time.time())
    claims = {"state": "s", "nonce": "n", "codeVerifier": "v" * 43, "iat": now, "exp": now + 300}
    claims.update(changes)
    return {"Cookie": f"skysend-pkce={sign({k: v for k, v in claims.items() if v is not None})}"}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Missing PKCE cookie - login session expired"),
        ({"Cookie": "skysend-pkce=garbage"}, "Invalid or expired PKCE cookie"),
        (pkce_cookie(exp=int(time.time()) - 1), "Invalid or expired PKCE cookie"),
        (pkce_cookie(nonce=None), "Invalid or expired PKCE cookie"),
        (pkce_cookie(state=5), "Invalid or expired PKCE cookie"),
        (pkce_cookie(), "Token exchange failed"),  # state "s" ≠ the query's
    ],
)
def test_callback_refusals(
    oidc_server: Callable[..., str], headers: dict[str, str], message: str
) -> None:
    server = oidc_server()
    answer = httpx.get(f"{server}/auth/callback?code=c&state=other", headers=headers)
    assert answer.status_code == 400
    assert answer.json() == {"error": message}


@pytest.mark.parametrize(
    ("knob", "message"),
    [
        ({"deny": True}, "Token exchange failed"),
        ({"id_token_claims": {"nonce": "replayed"}}, "Token exchange failed"),
        ({"id_token_claims": {"aud": "another-client"}}, "Token exchange failed"),
        ({"id_token_claims": {"iss": "https://impostor.example"}}, "Token exchange failed"),
        ({"id_token_claims": {"exp": int(time.time()) - 5}}, "Token exchange failed"),
        ({"sign_with_unknown_key": True}, "Token exchange failed"),
        ({"omit_id_token": True}, "No ID token claims received"),
    ],
)
def test_provider_answers_that_sign_nobody_in(
    oidc_server: Callable[..., str],
    provider: LoopbackProvider,
    knob: dict[str, Any],
    message: str,
) -> None:
    server = oidc_server()
    for name, value in knob.items():
        setattr(provider, name, value)
    with sign_in(server) as (browser, callback):
        assert callback.status_code == 400
        assert callback.json() == {"error": message}
        assert "skysend-auth" not in browser.cookies


def test_a_code_is_redeemed_once(oidc_server: Callable[..., str]) -> None:
    server = oidc_server()
    browser = httpx.Client(follow_redirects=False, timeout=10)
    login = browser.get(f"{server}/auth/login")
    back = browser.get(login.headers["location"]).headers["location"]
    assert browser.get(back).status_code == 302
    browser.cookies.set("skysend-pkce", cookies_of(login)[0].split(";")[0].split("=", 1)[1])
    again = browser.get(back)
    assert again.status_code == 400
    assert again.json() == {"error": "Token exchange failed"}
    browser.close()


def test_claims_map_to_the_user(
    oidc_server: Callable[..., str], provider: LoopbackProvider
) -> None:
    server = oidc_server(OIDC_PROVIDER="keycloak")
    provider.user = {"sub": "42", "preferred_username": "ada"}
    with sign_in(server) as (browser, callback):
        assert callback.status_code == 302
        me = browser.get(f"{server}/auth/session").json()
        assert me == {"sub": "42", "name": "ada", "email": ""}


# -- discovery, logout, absence --------------------------------------------------------------


def test_an_unreachable_provider_is_503_and_not_cached(
    oidc_server: Callable[..., str], provider: LoopbackProvider
) -> None:
    provider.down = True
    server = oidc_server()
    unreachable = {"error": "OIDC provider is currently unreachable - try again later"}
    login = httpx.get(f"{server}/auth/login")
    assert login.status_code == 503
    assert login.json() == unreachable
    callback = httpx.get(f"{server}/auth/callback?code=c&state=s", headers=pkce_cookie())
    assert callback.status_code == 503
    assert callback.json() == unreachable
    # Logout never fetches the document; with none cached it goes home.
    before = provider.discovery_requests
    logout = httpx.get(f"{server}/auth/logout")
    assert logout.status_code == 302
    assert logout.headers["location"] == "/"
    assert provider.discovery_requests == before
    provider.down = False
    with sign_in(server) as (_, callback):
        assert callback.status_code == 302


def test_logout_ends_the_session_at_the_provider(
    oidc_server: Callable[..., str], provider: LoopbackProvider
) -> None:
    server = oidc_server()
    with sign_in(server) as (browser, _):
        logout = browser.get(f"{server}/auth/logout")
        assert logout.status_code == 302
        assert cookies_of(logout) == ["skysend-auth=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"]
        target = urlsplit(logout.headers["location"])
        assert f"{target.scheme}://{target.netloc}{target.path}" == f"{provider.issuer}/logout"
        assert parse_qs(target.query) == {
            "client_id": [CLIENT_ID],
            "post_logout_redirect_uri": [f"{server}/"],
        }
        assert browser.get(f"{server}/auth/session").status_code == 401


def test_discovery_is_fetched_once(
    oidc_server: Callable[..., str], provider: LoopbackProvider
) -> None:
    server = oidc_server()

    async def logins() -> list[int]:
        async with httpx.AsyncClient() as client:
            answers = await asyncio.gather(*(client.get(f"{server}/auth/login") for _ in range(10)))
        return [answer.status_code for answer in answers]

    assert asyncio.run(logins()) == [302] * 10
    assert provider.discovery_requests == 1


def test_session_without_credentials(oidc_server: Callable[..., str]) -> None:
    server = oidc_server()
    answer = httpx.get(f"{server}/auth/session")
    assert answer.status_code == 401
    assert answer.json() == {"error": "Not authenticated"}


def test_auth_routes_do_not_exist_without_oidc(server: str) -> None:
    for path in ("/auth/login", "/auth/callback", "/auth/logout", "/auth/session"):
        answer = httpx.get(f"{server}{path}")
        assert answer.status_code == 404
        assert answer.json() == {"error": "Not found"}
    assert create_note(server).status_code == 201


def test_auth_requests_are_rate_limited(oidc_server: Callable[..., str]) -> None:
    server = oidc_server(RATE_LIMIT_MAX="5")  # the start-up health check counts too
    answers = [httpx.get(f"{server}/auth/session") for _ in range(6)]
    codes = [answer.status_code for answer in answers]
    assert codes[0] == 401
    assert codes[-1] == 429
    assert answers[-1].json() == {"error": "Too many requests"}


@pytest.mark.slow
def test_a_generated_secret_is_shared_by_every_worker(
    tmp_path: Path, provider: LoopbackProvider
) -> None:
    """Without OIDC_SESSION_SECRET the server generates one for its lifetime; a session
    issued by one worker is valid on all of them."""
    with ServerProcess(tmp_path / "data", provider.env(), workers=2) as running:
        with sign_in(running.url, cli_callback="http://127.0.0.1:9/cb") as (_, callback):
            (token,) = parse_qs(urlsplit(callback.headers["location"]).query)["token"]
        answers = [create_note(running.url, bearer(token)).status_code for _ in range(24)]
        assert answers == [201] * 24  # each on a new connection, spread over the workers


def raw_request(
    server: str, target: str, method: str = "POST", body: bytes = b""
) -> httpx.Response:
    """One request with ``target`` sent exactly as written (no client normalisation)."""
    host, port = urlsplit(server).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        if method == "HEAD":  # a head only, whatever Content-Length says
            head = b""
            while b"\r\n\r\n" not in head:
                data = sock.recv(65536)
                assert data, "connection closed before a response"
                head += data
            return httpx.Response(int(head.split(b" ")[1]))
        return read_response(sock)


@pytest.mark.parametrize(
    "target",
    ["//api/note", "///api/note", "http://x/api/note", "http://x//api/note", "//api/upload/init"],
)
def test_the_guard_sees_the_path_the_router_sees(
    oidc_server: Callable[..., str], target: str
) -> None:
    server = oidc_server()
    answer = raw_request(server, target, body=json.dumps(NOTE).encode())
    assert answer.status_code == 401
    assert answer.json() == {"error": "Authentication required"}
    assert answer.headers["cache-control"] == "no-store"


def test_alternative_spellings_of_a_path_are_counted_and_toggled(
    serve_app: Callable[..., str],
) -> None:
    server = serve_app(ENABLED_SERVICES="file", RATE_LIMIT_MAX="4")
    toggled = raw_request(server, "//api/note", body=json.dumps(NOTE).encode())
    assert toggled.status_code == 403
    assert toggled.json() == {"error": "Note service is disabled"}
    assert "x-ratelimit-limit" in toggled.headers
    codes = [raw_request(server, "//auth/session", "GET").status_code for _ in range(5)]
    assert codes[-1] == 429


def test_a_head_download_in_another_spelling_is_refused(server: str) -> None:
    answer = raw_request(server, "//api/download/" + "0" * 36, "HEAD")
    assert answer.status_code == 405


async def test_websocket_guard_reads_every_cookie_line(oidc_server: Callable[..., str]) -> None:
    server = oidc_server()
    url = server.replace("http://", "ws://") + "/api/upload/ws"
    lines = [("Cookie", f"skysend-auth={sign(session_claims())}"), ("Cookie", "theme=dark")]
    async with websockets.connect(url, additional_headers=lines) as ws:
        await ws.send(json.dumps({"type": "init"}))
        assert json.loads(await ws.recv())["type"] == "error"  # past the guard


def test_concurrent_logins_share_one_discovery(
    oidc_server: Callable[..., str], provider: LoopbackProvider
) -> None:
    provider.down = True  # the start-up discovery fails: nothing is cached
    server = oidc_server()
    provider.down = False
    provider.discovery_delay = 0.5

    async def logins() -> list[int]:
        async with httpx.AsyncClient(timeout=10) as client:
            answers = await asyncio.gather(*(client.get(f"{server}/auth/login") for _ in range(8)))
        return [answer.status_code for answer in answers]

    assert asyncio.run(logins()) == [302] * 8
    assert provider.discovery_requests == 1


def test_an_unsigned_session_is_refused(oidc_server: Callable[..., str]) -> None:
    server = oidc_server()
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps(session_claims()).encode()).rstrip(b"=")
    token = f"{header}.{payload.decode()}."
    answer = create_note(server, bearer(token))
    assert answer.status_code == 401
    assert answer.json() == {"error": "Session expired or invalid"}


def test_a_provider_without_usable_algorithms_signs_nobody_in(
    oidc_server: Callable[..., str], provider: LoopbackProvider
) -> None:
    provider.algorithms = ["HS256"]
    server = oidc_server()
    with sign_in(server) as (_, callback):
        assert callback.status_code == 400
        assert callback.json() == {"error": "Token exchange failed"}
