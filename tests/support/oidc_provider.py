"""A small but real OIDC provider on loopback for end-to-end sign-in tests.

It speaks the authorization-code flow with PKCE over HTTP: discovery, an authorization
endpoint that signs the configured user in at once (no login form) and redirects back,
a token endpoint that authenticates the client (``client_secret_post``), checks the code,
the redirect URI and the PKCE verifier, and answers with an RS256 ID token, the key set,
and an end-session endpoint. Tests can make it misbehave (deny, wrong claims, no ID token,
another signing key) to exercise the server's checks.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import attrs
from joserfc import jwt
from joserfc.jwk import RSAKey
from quart import Quart, Response, request

from tests.support.servers import free_port, serving

CLIENT_ID = "skysend-test"
CLIENT_SECRET = "provider-client-secret-for-tests"


@attrs.define
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str
    method: str


@attrs.define
class LoopbackProvider:
    """The provider's state; tests change the knobs between requests."""

    issuer: str = ""
    user: dict[str, Any] = attrs.Factory(
        lambda: {"sub": "user-1", "name": "Ada Lovelace", "email": "ada@example.org"}
    )
    deny: bool = False
    #: Claims merged into the ID token (``None`` values remove a claim).
    id_token_claims: dict[str, Any] = attrs.Factory(dict)
    omit_id_token: bool = False
    sign_with_unknown_key: bool = False
    key: RSAKey = attrs.Factory(
        lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    )
    grants: dict[str, Grant] = attrs.Factory(dict)
    token_requests: list[dict[str, str]] = attrs.Factory(list)
    discovery_requests: int = 0
    discovery_delay: float = 0.0
    down: bool = False
    algorithms: list[str] = attrs.Factory(lambda: ["RS256"])

    def env(self, **extra: str) -> dict[str, str]:
        """Server settings pointing at this provider."""
        return {
            "OIDC_ISSUER": self.issuer,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            **extra,
        }

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            **self.user,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        claims.update(self.id_token_claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = self.key
        if self.sign_with_unknown_key:
            key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, content_type="application/json")


def provider_app(state: LoopbackProvider) -> Quart:
    app = Quart(__name__)

    @app.before_request
    async def unreachable() -> Response | None:
        return _json({"error": "down"}, 503) if state.down else None

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> Response:
        state.discovery_requests += 1
        await asyncio.sleep(state.discovery_delay)
        base = state.issuer
        return _json(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/jwks",
                "end_session_endpoint": f"{base}/logout",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": state.algorithms,
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            }
        )

    @app.get("/authorize")
    async def authorize() -> Response:
        args = request.args
        redirect_uri = args.get("redirect_uri", "")
        if args.get("client_id") != CLIENT_ID or not redirect_uri:
            return _json({"error": "invalid_client"}, 400)
        answer: dict[str, str] = {"state": args.get("state", ""), "iss": state.issuer}
        if state.deny:
            answer["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(16)
            state.grants[code] = Grant(
                client_id=args["client_id"],
                redirect_uri=redirect_uri,
                nonce=args.get("nonce"),
                challenge=args.get("code_challenge", ""),
                method=args.get("code_challenge_method", ""),
            )
            answer["code"] = code
        return Response("", 302, headers={"Location": f"{redirect_uri}?{urlencode(answer)}"})

    @app.post("/token")
    async def token() -> Response:
        form = (await request.form).to_dict()
        state.token_requests.append(form)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return _json({"error": "invalid_client"}, 401)
        grant = state.grants.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if (
            form.get("grant_type") != "authorization_code"
            or grant is None
            or grant.redirect_uri != form.get("redirect_uri")
            or grant.method != "S256"
            or grant.challenge != challenge
        ):
            return _json({"error": "invalid_grant"}, 400)
        body: dict[str, Any] = {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer"}
        if not state.omit_id_token:
            body["id_token"] = state.id_token(grant)
        return _json(body)

    @app.get("/jwks")
    async def jwks() -> Response:
        return _json({"keys": [state.key.as_dict(private=False)]})

    @app.get("/logout")
    async def logout() -> Response:
        return Response("signed out", 200)

    return app


@contextlib.contextmanager
def running_provider() -> Iterator[LoopbackProvider]:
    """Start a provider on 127.0.0.1; yields its state (``issuer`` is its base URL)."""
    port = free_port()
    state = LoopbackProvider(issuer=f"http://127.0.0.1:{port}")
    with serving(provider_app(state), port):
        yield state
