"""The OIDC rules of the core (oidc.md): user mapping, ``cli_callback`` checks, sessions,
PKCE claims and the guard's choice of credential, on a scripted provider."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from skysend_adapters.clock import ManualClock
from skysend_adapters.oidc import JoseTokenSigner
from skysend_core.config import Settings
from skysend_core.crypto.encoding import b64url_encode
from skysend_core.errors import InvalidRequest, InvalidToken, Unavailable
from skysend_core.identity import (
    BAD_CALLBACK_HOST,
    BAD_CALLBACK_URL,
    Identity,
    User,
    check_cli_callback,
    js_string,
    with_query,
)
from skysend_core.ports import ProviderMetadata

NOW_MS = 1_800_000_000_000
SECRET = "s" * 32
ISSUER = "https://id.example/realms/main"


class ScriptedProvider:
    def __init__(self) -> None:
        self.reachable = True
        self.known: ProviderMetadata | None = None
        self.claims: Mapping[str, Any] | None = {"sub": "u1", "name": "Ada", "email": "a@x"}
        self.exchanges: list[tuple[str, str, str, str]] = []

    async def metadata(self) -> ProviderMetadata:
        if not self.reachable:
            raise Unavailable("OIDC provider is currently unreachable - try again later")
        self.known = ProviderMetadata(
            issuer=ISSUER,
            authorization_endpoint=f"{ISSUER}/auth?prompt=login",
            token_endpoint=f"{ISSUER}/token",
            end_session_endpoint=f"{ISSUER}/logout",
        )
        return self.known

    def cached_metadata(self) -> ProviderMetadata | None:
        return self.known

    async def exchange_code(
        self, code: str, redirect_uri: str, code_verifier: str, nonce: str
    ) -> Mapping[str, Any] | None:
        self.exchanges.append((code, redirect_uri, code_verifier, nonce))
        return self.claims

    async def aclose(self) -> None:
        pass


def identity(**env: str) -> tuple[Identity, ScriptedProvider, ManualClock]:
    settings = Settings.from_env(
        {
            "BASE_URL": "https://send.example",
            "OIDC_ISSUER": ISSUER,
            "OIDC_CLIENT_ID": "client",
            "OIDC_CLIENT_SECRET": "secret",
            "OIDC_SESSION_SECRET": SECRET,
            **env,
        }
    )
    provider, clock = ScriptedProvider(), ManualClock(NOW_MS)
    return Identity(settings, provider, JoseTokenSigner(SECRET), clock), provider, clock


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://127.0.0.1:8080/callback", None),
        ("http://localhost:3000/callback?state=1", None),
        ("http://LOCALHOST:3000", None),
        ("http://127.0.0.1:65535/", None),
        ("", BAD_CALLBACK_URL),
        ("/callback", BAD_CALLBACK_URL),
        ("not a url", BAD_CALLBACK_URL),
        ("http://", BAD_CALLBACK_URL),
        ("http://127.0.0.1:abc/", BAD_CALLBACK_URL),
        ("http://127.0.0.1:80/callback", BAD_CALLBACK_HOST),
        ("http://127.0.0.1/callback", BAD_CALLBACK_HOST),
        ("http://127.0.0.1:/callback", BAD_CALLBACK_HOST),
        ("http://127.0.0.1:0/", BAD_CALLBACK_HOST),
        ("http://127.0.0.1:70000/", BAD_CALLBACK_HOST),
        ("https://127.0.0.1:8443/", BAD_CALLBACK_HOST),
        ("http://example.com:8080/", BAD_CALLBACK_HOST),
        ("http://127.0.0.2:8080/", BAD_CALLBACK_HOST),
        ("http://[::1]:8080/", BAD_CALLBACK_HOST),
        ("http://evil@example.com:8080/", BAD_CALLBACK_HOST),
        ("ftp://127.0.0.1:21/", BAD_CALLBACK_HOST),
        ("mailto:someone@127.0.0.1", BAD_CALLBACK_HOST),
        ("http://evil.example\\@127.0.0.1:9/cb", BAD_CALLBACK_URL),
        ("http://127.0.0.1:9/c b", BAD_CALLBACK_URL),
        ("http://evil.example\t@127.0.0.1:9/cb", BAD_CALLBACK_URL),
    ],
)
def test_cli_callback_rules(value: str, message: str | None) -> None:
    if message is None:
        assert check_cli_callback(value) == value
    else:
        with pytest.raises(InvalidRequest) as refused:
            check_cli_callback(value)
        assert refused.value.message == message


@pytest.mark.parametrize(
    ("claims", "user"),
    [
        ({"sub": "1", "name": "Ada", "preferred_username": "ada", "email": "a@x"},
         User("1", "Ada", "a@x")),
        ({"sub": "1", "preferred_username": "ada"}, User("1", "ada", "")),
        ({"sub": "1", "name": None, "preferred_username": "ada"}, User("1", "ada", "")),
        ({"sub": 7}, User("7", "7", "")),
        ({}, User("", "", "")),
        ({"sub": "1", "name": ["a", "b"], "email": True}, User("1", "a,b", "true")),
    ],
)  # fmt: skip
def test_users_from_id_tokens(claims: dict[str, Any], user: User) -> None:
    assert User.from_id_token(claims) == user


def test_js_string() -> None:
    assert [js_string(v) for v in (1.0, 1.5, None, {"a": 1}, float("nan"))] == [
        "1",
        "1.5",
        "null",
        "[object Object]",
        "NaN",
    ]


def test_with_query_replaces_and_keeps() -> None:
    url = with_query("http://127.0.0.1:1/cb?a=1&token=old&b=2", token="new")
    assert parse_qs(urlsplit(url).query) == {"a": ["1"], "b": ["2"], "token": ["new"]}


async def test_login_round_trip_and_session_lifetime() -> None:
    ids, provider, clock = identity(OIDC_SESSION_DURATION="60")
    start = await ids.begin_login("http://127.0.0.1:5000/cb")
    query = {k: v[0] for k, v in parse_qs(urlsplit(start.authorization_url).query).items()}
    assert query["prompt"] == "login"  # the endpoint's own query is kept
    assert query["redirect_uri"] == "https://send.example/auth/callback"
    done = await ids.complete_login({"code": "c", "state": query["state"]}, start.pkce_token)
    ((code, redirect_uri, verifier, nonce),) = provider.exchanges
    assert (code, redirect_uri, nonce) == ("c", query["redirect_uri"], query["nonce"])
    challenge = b64url_encode(hashlib.sha256(verifier.encode()).digest())
    assert query["code_challenge"] == challenge
    assert done.cli_callback == "http://127.0.0.1:5000/cb"
    assert done.user == User("u1", "Ada", "a@x")
    assert ids.session_user(done.session_token) == done.user
    clock.advance(59_999)
    assert ids.check_credentials(None, f"Bearer {done.session_token}") == done.user
    clock.advance(1)  # exp reached: no leeway
    with pytest.raises(InvalidToken, match="Session expired or invalid"):
        ids.session_user(done.session_token)


async def test_pkce_cookie_expires_after_five_minutes() -> None:
    ids, _, clock = identity()
    start = await ids.begin_login(None)
    state = parse_qs(urlsplit(start.authorization_url).query)["state"][0]
    clock.advance(300_000)
    with pytest.raises(InvalidRequest, match="Invalid or expired PKCE cookie"):
        await ids.complete_login({"code": "c", "state": state}, start.pkce_token)


async def test_callback_checks_in_order() -> None:
    ids, provider, _ = identity()
    start = await ids.begin_login(None)
    state = parse_qs(urlsplit(start.authorization_url).query)["state"][0]
    with pytest.raises(InvalidRequest, match="Missing PKCE cookie"):
        await ids.complete_login({"code": "c", "state": state}, None)
    provider.reachable = False
    with pytest.raises(Unavailable):
        await ids.complete_login({"code": "c", "state": state}, start.pkce_token)
    provider.reachable = True
    for params in (
        {"code": "c", "state": "other"},
        {"state": state},
        {"code": "c", "state": state, "error": "access_denied"},
        {"code": "c", "state": state, "iss": "https://impostor.example"},
    ):
        with pytest.raises(InvalidRequest, match="Token exchange failed"):
            await ids.complete_login(params, start.pkce_token)
    provider.claims = None
    with pytest.raises(InvalidRequest, match="No ID token claims received"):
        await ids.complete_login({"code": "c", "state": state, "iss": ISSUER}, start.pkce_token)


async def test_discovery_comes_before_the_callback_check() -> None:
    ids, provider, _ = identity()
    provider.reachable = False
    with pytest.raises(Unavailable):
        await ids.begin_login("nonsense")
    provider.reachable = True
    with pytest.raises(InvalidRequest, match="not a valid URL"):
        await ids.begin_login("nonsense")


def test_guard_scope_and_credentials() -> None:
    ids, _, _ = identity(OIDC_PROTECT_NOTES="false")
    assert ids.guards("POST", "/api/upload")
    assert ids.guards("POST", "/api/upload/init")
    assert ids.guards("GET", "/api/upload/ws")
    assert not ids.guards("POST", "/api/note")
    assert not ids.guards("POST", "/api/upload/abc/chunk")
    assert not ids.guards("GET", "/api/upload")
    token = ids.issue_session(User("1", "Ada", ""))
    for cookie, header in [(None, None), ("", "Bearer "), (None, f"bearer {token}")]:
        with pytest.raises(InvalidToken, match="Authentication required"):
            ids.check_credentials(cookie, header)
    with pytest.raises(InvalidToken, match="Session expired or invalid"):
        ids.check_credentials("junk", f"Bearer {token}")
    assert ids.check_credentials(token, "Bearer junk") == User("1", "Ada", "")
    with pytest.raises(InvalidToken, match="Not authenticated"):
        ids.current_user(None, None)


async def test_logout_uses_only_known_metadata() -> None:
    ids, _, _ = identity()
    assert ids.logout_url() == "/"
    await ids.begin_login(None)
    target = urlsplit(ids.logout_url())
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{ISSUER}/logout"
    assert parse_qs(target.query) == {
        "client_id": ["client"],
        "post_logout_redirect_uri": ["https://send.example/"],
    }


def test_signer_refuses_other_algorithms_and_keys() -> None:
    signer = JoseTokenSigner(SECRET)
    token = signer.sign({"a": 1})
    assert signer.verify(token) == {"a": 1}
    assert JoseTokenSigner("t" * 32).verify(token) is None
    header, payload, _ = token.split(".")
    assert signer.verify(f"{header}.{payload}.") is None
    assert signer.verify("a.b") is None
