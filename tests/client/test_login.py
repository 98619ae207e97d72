"""The browser login flow (oidc.md §9), with this test playing the browser."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from skysend_http.client import AsyncClient
from skysend_http.client.login import LoginError, browser_login, jwt_claims

SERVER = "https://send.example.com"


class Browser:
    """Follows the login URL the way the server would redirect: to the callback."""

    def __init__(self, query: str) -> None:
        self.query = query
        self.opened: list[str] = []
        self.page = ""

    def __call__(self, url: str) -> bool:
        self.opened.append(url)
        callback = parse_qs(urlsplit(url).query)["cli_callback"][0]
        self.page = httpx.get(f"{callback}{self.query}").text
        return True


async def test_the_callback_hands_over_the_token() -> None:
    browser = Browser("?token=header.payload.sig")
    shown: list[str] = []
    token = await browser_login(SERVER, open_browser=browser, on_url=shown.append)
    assert token == "header.payload.sig"
    (url,) = browser.opened
    assert shown == [url]
    assert url.startswith(f"{SERVER}/auth/login?cli_callback=http%3A%2F%2F127.0.0.1%3A")
    assert url.endswith("%2Fcallback")
    assert "Login successful" in browser.page


async def test_a_callback_without_token_fails() -> None:
    browser = Browser("?error=denied")
    with pytest.raises(LoginError, match="OIDC callback received no token"):
        await browser_login(SERVER, open_browser=browser)
    assert "Login failed" in browser.page


async def test_the_client_keeps_the_token() -> None:
    async with AsyncClient(SERVER) as client:
        token = await client.login(open_browser=Browser("?token=t.k.n"))
        assert client.session_token == token == "t.k.n"


def test_jwt_claims_are_read_without_verification() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJuYW1lIjoiQWRhIiwiZXhwIjo0MDAwMDAwMDAwfQ.sig"
    assert jwt_claims(token) == {"name": "Ada", "exp": 4000000000}
    assert jwt_claims("garbage") == {}
