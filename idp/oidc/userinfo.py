"""The UserInfo endpoint (OIDC Core §5.3) with bearer tokens in the header only (RFC 6750 §2.1).

RFC 9700 §4.3.2 and the issue: access tokens are never accepted in a query or form body.
Errors follow RFC 6750 §3: no credentials gives 401 with a bare challenge; a bad token gives
401 with error="invalid_token".

The claims are those of the granted scopes and of the `claims` parameter's userinfo member
that belong here (Swedish OIDC Profile §4.2, idp.oidc.claims.for_userinfo). OIDC Core §5.3.2:
"If the UserInfo Response is signed [...] the response [is] a JWT [...] Content-Type
application/jwt", with `iss` and `aud`: for a client with `userinfo_signed_response_alg`, and
always for a client held to the Swedish profile ("UserInfo [...] responses signed", §4.1).

DPoP (RFC 9449 §7): a DPoP-bound access token (`cnf.jkt`) comes as `Authorization: DPoP
<token>` with a proof of its key, `ath` included; the same token as `Bearer` is refused (§7.2),
as is a proof by another key. Those errors challenge with the DPoP scheme (§7.1). The endpoint
is a resource server that asks for server nonces (§9) of the clients whose entry sets
`dpop_nonce_required`: 401 with error="use_dpop_nonce" and the nonce in `DPoP-Nonce`, the same
shared, rotating nonces the token endpoint gives (idp.oidc.dpop); every answer to a DPoP request
carries the current one (§8.2). A fapi2 client's proofs must be PS256 or ES256 here as at the
token endpoint (FAPI 2.0 §5.4.1, `Proof.allowed_for`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp.config import Registry, Settings
from idp.oidc import claims as claims_mod
from idp.oidc.dpop import NONCE_HEADER, DPoPError, DPoPVerifier, UseDPoPNonce
from idp.oidc.tokens import TokenService
from idp.store.db import DatabaseUnavailable, run_db
from idp.store.ttl import StoreUnavailable, TTLStore


def _challenge(
    realm: str,
    error: str | None = None,
    description: str | None = None,
    *,
    scheme: str = "Bearer",
    algs: tuple[str, ...] = (),
) -> str:
    parts = [f'realm="{realm}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description}"')
    if algs:  # RFC 9449 §7.1: "algs": the proof algorithms accepted
        parts.append(f'algs="{" ".join(algs)}"')
    return f"{scheme} " + ", ".join(parts)


class UserInfo:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        tokens: TokenService,
        store: TTLStore,
        *,
        dpop: DPoPVerifier | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.tokens = tokens
        self.store = store
        self.realm = settings.issuer
        self.dpop = dpop

    def _deny(
        self,
        status: int,
        error: str | None,
        description: str | None = None,
        *,
        dpop: bool = False,
        nonce: bool = False,
    ) -> Response:
        body: dict[str, Any] = {"error": error} if error else {}
        if description:
            body["error_description"] = description
        challenge = (
            _challenge(self.realm, error, description, scheme="DPoP", algs=self.dpop.algorithms)
            if dpop and self.dpop is not None
            else _challenge(self.realm, error, description)
        )
        headers = {"WWW-Authenticate": challenge, "Cache-Control": "no-store"}
        if nonce and self.dpop is not None:
            headers[NONCE_HEADER] = self.dpop.nonce()  # §9: the nonce to put in the proof
        return JSONResponse(body or None, status_code=status, headers=headers)

    async def _dpop_refusal(
        self, request: Request, scheme: str, token: str, claims: dict[str, Any]
    ) -> Response | None:
        """RFC 9449 §7: None when the token may be used as presented, else the refusal."""
        cnf = claims.get("cnf")
        bound = cnf.get("jkt") if isinstance(cnf, dict) else None
        if scheme == "bearer":
            if bound is None:
                return None
            # §7.2: a resource server "MUST" reject a DPoP-bound token sent as a bearer token.
            return self._deny(401, "invalid_token", "the access token is DPoP-bound", dpop=True)
        if bound is None or self.dpop is None:
            return self._deny(401, "invalid_token", "the access token is not DPoP-bound", dpop=True)
        client = self.registry.current.client(str(claims.get("client_id")))
        try:
            # §7.1 and §4.3 step 12: a proof for this request, with ath, by the bound key;
            # §9: with our nonce, for a client whose entry asks for nonces.
            proof = await self.dpop.verify(
                request.headers,
                request.method,
                "/userinfo",
                access_token=token,
                require_nonce=client is not None and client.dpop_nonce_required,
            )
        except DPoPError as exc:
            nonce = isinstance(exc, UseDPoPNonce)
            return self._deny(401, exc.error, exc.description, dpop=True, nonce=nonce)
        if proof is None:
            return self._deny(401, "invalid_dpop_proof", "a DPoP proof is required", dpop=True)
        if proof.jkt != bound:
            return self._deny(
                401, "invalid_dpop_proof", "the proof's key is not the token's", dpop=True
            )
        if client is not None and not proof.allowed_for(client):
            return self._deny(
                401,
                "invalid_dpop_proof",
                "this client's DPoP proofs must be signed with PS256 or ES256",
                dpop=True,
            )
        return None

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
        scheme = scheme.lower()
        if not header:
            return self._deny(401, None)
        if scheme not in ("bearer", "dpop") or not token.strip() or len(token) > 8192:
            return self._deny(401, "invalid_token", "expected a bearer token")
        token = token.strip()
        try:
            claims = await run_db(self.tokens.verify_access_token, token, engine=self.tokens.engine)
            revoked = claims is not None and await self.store.get(
                "revoked_at", str(claims.get("jti"))
            )
            refusal = (
                None
                if claims is None or revoked
                else await self._dpop_refusal(request, scheme, token, claims)
            )
        except (StoreUnavailable, DatabaseUnavailable):
            return JSONResponse(
                {"error": "temporarily_unavailable"},
                status_code=503,
                headers={"Cache-Control": "no-store", "Retry-After": "5"},
            )
        if claims is None or revoked or not claims.get("gid"):
            return self._deny(
                401,
                "invalid_token",
                "the access token is invalid, expired or revoked",
                dpop=scheme == "dpop",
            )
        if refusal is not None:
            return refusal
        grant = await run_db(self.tokens.grant, str(claims["gid"]), engine=self.tokens.engine)
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
        headers = {"Cache-Control": "no-store"}
        if scheme == "dpop" and self.dpop is not None:
            headers[NONCE_HEADER] = self.dpop.nonce()  # §8.2, §9: the nonce for the next proof
        if client.signs_userinfo:
            return Response(
                self.tokens.userinfo_jwt(client, answer),
                media_type="application/jwt",
                headers=headers,
            )
        return JSONResponse(answer, headers=headers)
