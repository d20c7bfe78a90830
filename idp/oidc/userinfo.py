"""The UserInfo endpoint (OIDC Core §5.3) with bearer tokens in the header only (RFC 6750 §2.1).

RFC 9700 §4.3.2 and the issue: access tokens are never accepted in a query or form body.
Errors follow RFC 6750 §3: no credentials gives 401 with a bare challenge; a bad token gives
401 with error="invalid_token".

The claims are those of the granted scopes and of the `claims` parameter's userinfo member
that belong here (Swedish OIDC Profile §4.2, idp.oidc.claims.for_userinfo). OIDC Core §5.3.2:
"If the UserInfo Response is signed [...] the response [is] a JWT [...] Content-Type
application/jwt", with `iss` and `aud`: for a client with `userinfo_signed_response_alg`, and
always for a client held to the Swedish profile ("UserInfo [...] responses signed", §4.1).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp.config import Registry, Settings
from idp.oidc import claims as claims_mod
from idp.oidc.tokens import TokenService
from idp.store.db import DatabaseUnavailable, run_db
from idp.store.ttl import StoreUnavailable, TTLStore


def _challenge(realm: str, error: str | None = None, description: str | None = None) -> str:
    parts = [f'realm="{realm}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description}"')
    return "Bearer " + ", ".join(parts)


class UserInfo:
    def __init__(
        self, settings: Settings, registry: Registry, tokens: TokenService, store: TTLStore
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.tokens = tokens
        self.store = store
        self.realm = settings.issuer

    def _deny(self, status: int, error: str | None, description: str | None = None) -> Response:
        body: dict[str, Any] = {"error": error} if error else {}
        if description:
            body["error_description"] = description
        return JSONResponse(
            body or None,
            status_code=status,
            headers={
                "WWW-Authenticate": _challenge(self.realm, error, description),
                "Cache-Control": "no-store",
            },
        )

    async def endpoint(self, request: Request) -> Response:
        if "access_token" in request.query_params:
            return self._deny(
                400, "invalid_request", "send the access token in the Authorization header"
            )
        if request.method == "POST":
            ctype = request.headers.get("content-type", "")
            if ctype.startswith("application/x-www-form-urlencoded"):
                body = await request.body()
                if b"access_token=" in body:
                    return self._deny(
                        400, "invalid_request", "send the access token in the Authorization header"
                    )
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            return self._deny(401, None)
        if scheme.lower() != "bearer" or not token.strip() or len(token) > 8192:
            return self._deny(401, "invalid_token", "expected a bearer token")
        token = token.strip()
        try:
            claims = await run_db(self.tokens.verify_access_token, token)
            revoked = claims is not None and await self.store.get(
                "revoked_at", str(claims.get("jti"))
            )
        except (StoreUnavailable, DatabaseUnavailable):
            return JSONResponse(
                {"error": "temporarily_unavailable"},
                status_code=503,
                headers={"Cache-Control": "no-store", "Retry-After": "5"},
            )
        if claims is None or revoked or not claims.get("gid"):
            return self._deny(
                401, "invalid_token", "the access token is invalid, expired or revoked"
            )
        grant = await run_db(self.tokens.grant, str(claims["gid"]))
        if grant is None or not grant.active:
            return self._deny(
                401, "invalid_token", "the access token is invalid, expired or revoked"
            )
        registered = self.registry.current
        client = registered.client(grant.client_id)
        scopes = str(claims.get("scope", "")).split()
        if client is None or "openid" not in scopes:
            return self._deny(403, "insufficient_scope", "the openid scope is required")
        asked = grant.auth.claims_request
        extra = claims_mod.requested_names(asked, "userinfo")
        released = claims_mod.release(grant.auth.claims, scopes, registered, client, extra)
        answer = {"sub": grant.sub, **claims_mod.for_userinfo(released, asked, client)}
        if client.signs_userinfo:
            return Response(
                self.tokens.userinfo_jwt(client, answer),
                media_type="application/jwt",
                headers={"Cache-Control": "no-store"},
            )
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})
