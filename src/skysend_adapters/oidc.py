"""The OIDC ports: the provider over HTTP (httpx) and the server's own JWTs (joserfc).

:class:`HttpIdentityProvider` fetches the discovery document lazily and caches it for the
life of the process; concurrent callers share one fetch, a failure is not cached
(oidc.md §2). The code exchange authenticates with ``client_secret_post`` and verifies the
ID token against the provider's published keys: signature, issuer, audience (and ``azp``
when there are several), expiry and nonce.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any, Final

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey

from skysend_core.errors import InvalidRequest, Unavailable
from skysend_core.identity import EXCHANGE_FAILED
from skysend_core.ports import ProviderMetadata

log = logging.getLogger(__name__)

UNREACHABLE: Final = "OIDC provider is currently unreachable - try again later"
#: Seconds allowed for each request to the provider.
PROVIDER_TIMEOUT_S: Final = 10.0
#: Signature algorithms of ID tokens when the provider lists none (OIDC Discovery §3).
DEFAULT_ID_TOKEN_ALGS: Final = ("RS256",)
#: Algorithms never accepted for ID tokens: unsigned, or keyed with the client secret.
_REFUSED_ALGS: Final = frozenset({"none", "HS256", "HS384", "HS512"})


class JoseTokenSigner:
    """HS256 JWTs keyed with the UTF-8 bytes of ``OIDC_SESSION_SECRET`` (oidc.md §5)."""

    def __init__(self, secret: str) -> None:
        self._key = OctKey.import_key(secret.encode("utf-8"))

    def sign(self, claims: Mapping[str, Any]) -> str:
        payload = json.dumps(dict(claims), separators=(",", ":")).encode()
        return jws.serialize_compact({"alg": "HS256"}, payload, self._key, algorithms=["HS256"])

    def verify(self, token: str) -> Mapping[str, Any] | None:
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"]).claims
        except (JoseError, ValueError, TypeError):
            return None
        return claims if isinstance(claims, dict) else None


class HttpIdentityProvider:
    """An OIDC provider reached over HTTP(S)."""

    def __init__(self, issuer: str, client_id: str, client_secret: str) -> None:
        self._issuer = issuer
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = httpx.AsyncClient(timeout=PROVIDER_TIMEOUT_S, follow_redirects=False)
        self._metadata: ProviderMetadata | None = None
        self._document: Mapping[str, Any] = {}
        self._pending: asyncio.Task[ProviderMetadata] | None = None
        self._keys: KeySet | None = None

    def cached_metadata(self) -> ProviderMetadata | None:
        return self._metadata

    async def metadata(self) -> ProviderMetadata:
        if self._metadata is not None:
            return self._metadata
        if self._pending is None or self._pending.done():
            self._pending = asyncio.create_task(self._discover())
        try:
            return await asyncio.shield(self._pending)
        except Unavailable:
            raise
        except Exception:
            log.exception("OIDC discovery failed")
            raise Unavailable(UNREACHABLE) from None

    async def warm_up(self) -> None:
        """Discovery at start-up: a failure is only logged; requests retry it."""
        try:
            await self.metadata()
        except Unavailable:
            log.warning("OIDC discovery at start-up failed; it is retried on the next login")

    async def _discover(self) -> ProviderMetadata:
        url = self._issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            response = await self._http.get(url)
            response.raise_for_status()
            document = response.json()
            metadata = ProviderMetadata(
                issuer=_text(document, "issuer"),
                authorization_endpoint=_text(document, "authorization_endpoint"),
                token_endpoint=_text(document, "token_endpoint"),
                end_session_endpoint=document.get("end_session_endpoint") or None,
            )
            _text(document, "jwks_uri")
        except (httpx.HTTPError, ValueError, AttributeError) as error:
            log.warning("OIDC discovery at %s failed: %s", url, error)
            raise Unavailable(UNREACHABLE) from None
        if metadata.issuer.rstrip("/") != self._issuer.rstrip("/"):
            log.warning(
                "OIDC discovery: the document names issuer %r, not the configured %r",
                metadata.issuer,
                self._issuer,
            )
            raise Unavailable(UNREACHABLE)
        self._document, self._metadata = document, metadata
        return metadata

    async def exchange_code(
        self, code: str, redirect_uri: str, code_verifier: str, nonce: str
    ) -> Mapping[str, Any] | None:
        metadata = await self.metadata()
        try:
            response = await self._http.post(
                metadata.token_endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": code_verifier,
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                },
                headers={"Accept": "application/json"},
            )
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as error:
            log.warning("OIDC token exchange failed: %s", error)
            raise InvalidRequest(EXCHANGE_FAILED) from None
        id_token = answer.get("id_token") if isinstance(answer, dict) else None
        if not id_token:
            return None
        if not isinstance(id_token, str):
            raise InvalidRequest(EXCHANGE_FAILED)
        return await self._verified_claims(id_token, metadata.issuer, nonce)

    async def _verified_claims(self, id_token: str, issuer: str, nonce: str) -> Mapping[str, Any]:
        listed = self._document.get("id_token_signing_alg_values_supported")
        algorithms = [
            alg
            for alg in (listed if isinstance(listed, list) else DEFAULT_ID_TOKEN_ALGS)
            if isinstance(alg, str) and alg not in _REFUSED_ALGS
        ]
        if not algorithms:  # joserfc would fall back to its defaults, HS256 among them
            log.warning("OIDC provider lists no usable ID-token signing algorithm")
            raise InvalidRequest(EXCHANGE_FAILED)
        claims: dict[str, Any] | None = None
        for refresh in (False, True):  # keys rotate: fetch them again once on a miss
            keys = await self._key_set(refresh)
            try:
                claims = jwt.decode(id_token, keys, algorithms=algorithms).claims
                break
            except (JoseError, ValueError, TypeError) as error:
                log.info("ID token not verified with the provider's keys: %s", error)
        if claims is None:
            raise InvalidRequest(EXCHANGE_FAILED)
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": self._client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except JoseError as error:
            log.warning("ID token refused: %s", error)
            raise InvalidRequest(EXCHANGE_FAILED) from None
        audience = claims.get("aud")
        several = isinstance(audience, list) and len(audience) > 1
        if several and claims.get("azp") != self._client_id:
            raise InvalidRequest(EXCHANGE_FAILED)
        return claims

    async def _key_set(self, refresh: bool) -> KeySet:
        if self._keys is not None and not refresh:
            return self._keys
        try:
            response = await self._http.get(_text(self._document, "jwks_uri"))
            response.raise_for_status()
            self._keys = KeySet.import_key_set(response.json())
        except (httpx.HTTPError, ValueError, JoseError) as error:
            log.warning("OIDC provider keys could not be fetched: %s", error)
            raise InvalidRequest(EXCHANGE_FAILED) from None
        return self._keys

    async def aclose(self) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
        await self._http.aclose()


def _text(document: Mapping[str, Any], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"discovery document lacks {key}")
    return value
