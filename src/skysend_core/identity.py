"""Sign-in through OIDC (oidc.md): who may *create* uploads and notes when OIDC is on.

Reading always stays public; the end-to-end keys guard content. Sessions are stateless
HS256 JWTs signed with ``OIDC_SESSION_SECRET`` (through the :class:`TokenSigner` port);
nothing is stored. :class:`Identity` is the facade: the login flow with PKCE
(:meth:`~Identity.begin_login`, :meth:`~Identity.complete_login`), logout, session
lookup and the creation guard (http-api.md §1.12).
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from skysend_core.config import Settings
from skysend_core.crypto.encoding import b64url_encode
from skysend_core.errors import InvalidRequest, InvalidToken
from skysend_core.ports import Clock, IdentityProvider, TokenSigner

SESSION_COOKIE: Final = "skysend-auth"
PKCE_COOKIE: Final = "skysend-pkce"
PKCE_LIFETIME_S: Final = 300

AUTH_REQUIRED: Final = "Authentication required"
SESSION_INVALID: Final = "Session expired or invalid"
NOT_AUTHENTICATED: Final = "Not authenticated"
BAD_CALLBACK_URL: Final = "Invalid cli_callback: not a valid URL"
BAD_CALLBACK_HOST: Final = (
    "Invalid cli_callback: only http://localhost or http://127.0.0.1 is allowed"
)
PKCE_MISSING: Final = "Missing PKCE cookie - login session expired"
PKCE_INVALID: Final = "Invalid or expired PKCE cookie"
EXCHANGE_FAILED: Final = "Token exchange failed"
NO_ID_TOKEN: Final = "No ID token claims received"

#: The claims the display name is taken from, first present wins (oidc.md §7). The docs
#: give this order for every preset (``generic``, ``pocketid``, ``authentik``,
#: ``keycloak``); the presets differ in nothing else.
NAME_CLAIMS: Final = ("name", "preferred_username", "sub")

_SCHEME: Final = re.compile(r"[a-z][a-z0-9+.-]*")
#: Characters a browser would read otherwise than URL parsing here: backslashes,
#: whitespace and control characters.
_UNSAFE: Final = re.compile(r"[\\\x00-\x20\x7f]")
#: Schemes whose URLs need a host (WHATWG "special" schemes, ``file`` aside).
_HOST_SCHEMES: Final = ("http", "https", "ws", "wss", "ftp")

#: Creation endpoints the guard covers and the setting that switches each on (§1.12).
_GUARDED: Final = {
    ("POST", "/api/upload"): "files",
    ("POST", "/api/upload/init"): "files",
    ("GET", "/api/upload/ws"): "files",
    ("POST", "/api/note"): "notes",
}


@attrs.frozen
class User:
    sub: str
    name: str
    email: str

    @classmethod
    def from_id_token(cls, claims: Mapping[str, Any]) -> User:
        """Map ID-token claims to a user (oidc.md §7); absent claims become ``""``."""
        name = next((claims[key] for key in NAME_CLAIMS if claims.get(key) is not None), "")
        return cls(
            sub=js_string(claims.get("sub", "")),
            name=js_string(name),
            email=js_string(claims.get("email", "")),
        )


@attrs.frozen
class LoginStart:
    """Where to send the browser, and the PKCE JWT for the ``skysend-pkce`` cookie."""

    authorization_url: str
    pkce_token: str


@attrs.frozen
class LoginDone:
    """A signed-in user: the session JWT and, for the CLI flow, where to deliver it."""

    session_token: str
    user: User
    cli_callback: str | None


def js_string(value: Any) -> str:
    """``String(value)`` as JavaScript writes it, for claims that are not strings."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def check_cli_callback(value: str) -> str:
    """Validate a ``cli_callback`` (oidc.md §3): an absolute ``http`` URL on ``localhost``
    or ``127.0.0.1`` with an explicit port in 1-65535 other than the default 80 (which
    URL parsing drops). A path and query may follow."""
    if _UNSAFE.search(value):
        # Browsers read a backslash as "/" and drop tabs and newlines: the host they go
        # to could differ from the one checked here.
        raise InvalidRequest(BAD_CALLBACK_URL)
    try:
        parts = urlsplit(value)
    except ValueError:
        raise InvalidRequest(BAD_CALLBACK_URL) from None
    scheme = parts.scheme.lower()
    if _SCHEME.fullmatch(scheme) is None or (scheme in _HOST_SCHEMES and not parts.hostname):
        raise InvalidRequest(BAD_CALLBACK_URL)
    after_host = parts.netloc.rpartition("@")[2].rpartition("]")[2]  # past an IPv6 literal
    port_text = after_host.rpartition(":")[2] if ":" in after_host else ""
    if port_text and not port_text.isdigit():
        raise InvalidRequest(BAD_CALLBACK_URL)
    port = int(port_text) if port_text else None
    if (
        scheme != "http"
        or parts.hostname not in ("localhost", "127.0.0.1")
        or port is None
        or port == 80
        or not 1 <= port <= 65535
    ):
        raise InvalidRequest(BAD_CALLBACK_HOST)
    return value


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` set in its query (replacing values of the same name)."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*kept, *params.items()])))


def _random_b64url() -> str:
    return b64url_encode(secrets.token_bytes(32))


class Identity:
    """The OIDC use cases over the provider and signer ports."""

    def __init__(
        self,
        settings: Settings,
        provider: IdentityProvider,
        signer: TokenSigner,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.provider = provider
        self.signer = signer
        self.clock = clock

    def _now_s(self) -> int:
        return self.clock.now_ms() // 1000

    # -- the creation guard (http-api.md §1.12) ------------------------------------------

    def guards(self, method: str, path: str) -> bool:
        """Whether a request needs a signed-in user."""
        service = _GUARDED.get((method, path))
        if service == "files":
            return self.settings.oidc_protect_files
        return service == "notes" and self.settings.oidc_protect_notes

    def check_credentials(self, cookie_token: str | None, authorization: str | None) -> User:
        """The user of a guarded request: the ``skysend-auth`` cookie if present, else an
        ``Authorization: Bearer`` token. A present but invalid cookie is final."""
        return self._presented_user(cookie_token, authorization, AUTH_REQUIRED)

    # -- sessions (oidc.md §5, §6) -------------------------------------------------------

    def session_user(self, token: str) -> User:
        """The user of a session JWT; ``InvalidToken`` if it is invalid or expired."""
        claims = self._valid_claims(token, ("sub", "name", "email"))
        if claims is None:
            raise InvalidToken(SESSION_INVALID)
        return User(claims["sub"], claims["name"], claims["email"])

    def current_user(self, cookie_token: str | None, authorization: str | None) -> User:
        """``GET /auth/session``: like the guard, but 'Not authenticated' when nothing is
        presented (the cookie comes first; a Bearer token is accepted too)."""
        return self._presented_user(cookie_token, authorization, NOT_AUTHENTICATED)

    def _presented_user(
        self, cookie_token: str | None, authorization: str | None, missing: str
    ) -> User:
        token = cookie_token or _bearer(authorization)
        if not token:
            raise InvalidToken(missing)
        return self.session_user(token)

    def _valid_claims(self, token: str, texts: tuple[str, ...]) -> Mapping[str, Any] | None:
        """The claims of one of the server's own JWTs if its signature holds, ``exp`` (a
        number, no leeway) lies ahead and each of ``texts`` is a string; else ``None``."""
        claims = self.signer.verify(token)
        if claims is None:
            return None
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= self._now_s():
            return None
        return claims if all(isinstance(claims.get(key), str) for key in texts) else None

    def issue_session(self, user: User) -> str:
        now = self._now_s()
        return self.signer.sign(
            {
                "sub": user.sub,
                "name": user.name,
                "email": user.email,
                "iat": now,
                "exp": now + self.settings.oidc_session_duration,
            }
        )

    def logout_url(self) -> str:
        """Where logout sends the browser: the provider's end-session endpoint if its
        metadata is known already (never fetched for this), else ``/``."""
        metadata = self.provider.cached_metadata()
        if metadata is None or not metadata.end_session_endpoint:
            return "/"
        return with_query(
            metadata.end_session_endpoint,
            client_id=self.settings.oidc_client_id or "",
            post_logout_redirect_uri=f"{self.settings.base_url}/",
        )

    # -- the login flow (oidc.md §3, §4) ---------------------------------------------------

    async def begin_login(self, cli_callback: str | None) -> LoginStart:
        """Checks in the documented order: discovery (``Unavailable``), then the
        ``cli_callback`` (``InvalidRequest``)."""
        metadata = await self.provider.metadata()
        if cli_callback is not None:
            check_cli_callback(cli_callback)
        state, nonce, verifier = _random_b64url(), _random_b64url(), _random_b64url()
        now = self._now_s()
        pkce: dict[str, Any] = {"state": state, "nonce": nonce, "codeVerifier": verifier}
        if cli_callback is not None:
            pkce["cliCallback"] = cli_callback
        pkce.update(iat=now, exp=now + PKCE_LIFETIME_S)
        challenge = b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())
        url = with_query(
            metadata.authorization_endpoint,
            client_id=self.settings.oidc_client_id or "",
            response_type="code",
            redirect_uri=self.settings.oidc_redirect_uri,
            scope=" ".join(self.settings.oidc_scopes.split()),
            state=state,
            nonce=nonce,
            code_challenge=challenge,
            code_challenge_method="S256",
        )
        return LoginStart(url, self.signer.sign(pkce))

    async def complete_login(self, params: Mapping[str, str], pkce_token: str | None) -> LoginDone:
        """Redeem the provider's answer (``params``: the callback's query)."""
        if not pkce_token:
            raise InvalidRequest(PKCE_MISSING)
        pkce = self._pkce_claims(pkce_token)
        metadata = await self.provider.metadata()
        if (
            "error" in params
            or not params.get("code")
            or params.get("state") != pkce["state"]
            or ("iss" in params and params["iss"] != metadata.issuer)
        ):
            raise InvalidRequest(EXCHANGE_FAILED)
        claims = await self.provider.exchange_code(
            params["code"], self.settings.oidc_redirect_uri, pkce["codeVerifier"], pkce["nonce"]
        )
        if not claims:
            raise InvalidRequest(NO_ID_TOKEN)
        user = User.from_id_token(claims)
        callback = pkce.get("cliCallback")
        return LoginDone(
            self.issue_session(user), user, callback if isinstance(callback, str) else None
        )

    def _pkce_claims(self, token: str) -> Mapping[str, Any]:
        claims = self._valid_claims(token, ("state", "nonce", "codeVerifier"))
        if claims is None:
            raise InvalidRequest(PKCE_INVALID)
        return claims


def _bearer(authorization: str | None) -> str | None:
    if authorization is not None and authorization.startswith("Bearer "):
        return authorization[len("Bearer ") :]
    return None
