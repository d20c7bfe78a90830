"""The console's side of the provider: its public HTTP interfaces, and nothing else.

Everything goes through discovery (OIDC Discovery 1.0 §4) and the endpoints it names: the
authorization code flow for staff (token endpoint with client_secret_basic, ID token checked
against jwks_uri, userinfo), CIBA for callers (the backchannel authentication endpoint and the
token endpoint's CIBA grant), RP-initiated logout, and the CIBA audit trail. The transport is
given: in-process (`httpx.ASGITransport` to this app) or the network (`provider_url`), so a
test can put the console and the provider in different processes and see the same behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import jwt

from idp.clock import Clock

DISCOVERY_PATH = "/.well-known/openid-configuration"
#: How long discovery and the key set are reused before they are fetched again.
METADATA_SECONDS = 300
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
AUDIT_ENDPOINT = "backchannel_authentication_audit_endpoint"


class ProviderError(Exception):
    """The provider answered with an OAuth error (`error`, and `status`, `retry_after` for a
    429), or not in the expected shape (`error` ``invalid_response``)."""

    def __init__(
        self,
        error: str,
        description: str = "",
        *,
        status: int = 0,
        retry_after: int | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status
        self.retry_after = retry_after
        self.body = body or {}


@dataclass
class _Cached:
    value: dict[str, Any]
    fetched_at: float


@dataclass
class Provider:
    """One OIDC provider as the console sees it: `issuer` (whose discovery document is at
    issuer + DISCOVERY_PATH), the console's client credentials and a transport factory."""

    issuer: str
    client_id: str
    client_secret: str
    clock: Clock
    transport: Any = None  # an httpx transport; None: the network
    _discovery: _Cached | None = field(default=None, repr=False)
    _jwks: _Cached | None = field(default=None, repr=False)

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport, timeout=10.0)

    def _auth(self) -> httpx.BasicAuth:
        # RFC 6749 §2.3.1: the id and secret are form-urlencoded before Basic.
        return httpx.BasicAuth(quote(self.client_id, safe=""), quote(self.client_secret, safe=""))

    def _fresh(self, cached: _Cached | None) -> bool:
        return cached is not None and self.clock.now() - cached.fetched_at < METADATA_SECONDS

    async def metadata(self) -> dict[str, Any]:
        """The discovery document; its issuer must be the one asked (Discovery §4.3)."""
        if self._fresh(self._discovery):
            assert self._discovery is not None
            return self._discovery.value
        async with self._http() as http:
            r = await http.get(self.issuer + DISCOVERY_PATH)
        body = _json(r)
        if r.status_code != 200 or body.get("issuer") != self.issuer:
            raise ProviderError("invalid_response", "discovery failed", status=r.status_code)
        self._discovery = _Cached(body, self.clock.now())
        return body

    async def endpoint(self, name: str) -> str | None:
        value = (await self.metadata()).get(name)
        return value if isinstance(value, str) else None

    async def _required(self, name: str) -> str:
        url = await self.endpoint(name)
        if url is None:
            raise ProviderError("invalid_response", f"the provider has no {name}")
        return url

    async def post(self, name: str, data: dict[str, str]) -> dict[str, Any]:
        """POST `data` with client authentication to the endpoint `name`; its JSON, or
        ProviderError for an error answer."""
        url = await self._required(name)
        async with self._http() as http:
            r = await http.post(url, data=data, auth=self._auth())
        body = _json(r)
        if r.status_code != 200:
            raise _error(r, body)
        return body

    # ------------------------------------------------------------------ staff sign-in

    async def redeem_code(self, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        return await self.post(
            "token_endpoint",
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
        )

    async def userinfo(self, access_token: str) -> dict[str, Any]:
        url = await self._required("userinfo_endpoint")
        async with self._http() as http:
            r = await http.get(url, headers={"Authorization": f"Bearer {access_token}"})
        body = _json(r)
        if r.status_code != 200:
            raise _error(r, body)
        return body

    async def verify_id_token(self, id_token: str, nonce: str | None = None) -> dict[str, Any]:
        """OIDC Core §3.1.3.7 (and CIBA Core §10.2, which names no nonce): the signature with a
        key from jwks_uri, iss, aud, exp (by the injected clock) and, when given, nonce. The
        algorithm is the key's (its JWK's ``alg``, or its type's), never the token's own word
        for it (RFC 8725 §3.1)."""
        try:
            header = jwt.get_unverified_header(id_token)
            key = await self._key(str(header["kid"]))
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=self.client_id,
                issuer=self.issuer,
                options={"verify_exp": False, "verify_iat": False, "require": ["exp", "iat"]},
            )
        except (jwt.PyJWTError, KeyError, ValueError) as exc:
            raise ProviderError("invalid_id_token", type(exc).__name__) from None
        if claims["exp"] <= self.clock.now():
            raise ProviderError("invalid_id_token", "the ID token has expired")
        if nonce is not None and claims.get("nonce") != nonce:
            raise ProviderError("invalid_id_token", "the nonce does not match")
        return claims

    async def _key(self, kid: str) -> jwt.PyJWK:
        for refetch in (False, True):
            if refetch or not self._fresh(self._jwks):
                async with self._http() as http:
                    r = await http.get(await self._required("jwks_uri"))
                self._jwks = _Cached(_json(r), self.clock.now())
            assert self._jwks is not None
            for jwk in self._jwks.value.get("keys", []):
                if isinstance(jwk, dict) and jwk.get("kid") == kid:
                    return jwt.PyJWK.from_dict(jwk)
        raise KeyError(kid)

    # ------------------------------------------------------------------ CIBA

    async def backchannel(self, form: dict[str, str]) -> dict[str, Any]:
        return await self.post("backchannel_authentication_endpoint", form)

    async def poll(self, auth_req_id: str) -> dict[str, Any]:
        return await self.post(
            "token_endpoint", {"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id}
        )

    async def audit(self, requested_by: str | None, limit: int = 50) -> list[dict[str, Any]] | None:
        """The console client's rows of the CIBA audit trail, newest first (None: the provider
        does not offer it)."""
        if await self.endpoint(AUDIT_ENDPOINT) is None:
            return None
        form = {"limit": str(limit)}
        if requested_by is not None:
            form["requested_by"] = requested_by
        rows = (await self.post(AUDIT_ENDPOINT, form)).get("requests")
        return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _json(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(r: httpx.Response, body: dict[str, Any]) -> ProviderError:
    retry = r.headers.get("retry-after", "")
    return ProviderError(
        str(body.get("error") or "invalid_response"),
        str(body.get("error_description") or ""),
        status=r.status_code,
        retry_after=int(retry) if retry.isdigit() else None,
        body=body,
    )
