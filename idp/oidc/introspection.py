"""Token introspection (RFC 7662), and the token lookup revocation shares with it.

A token is found by what it is, not by `token_type_hint`: a JWT access token (verified, and
not revoked), or a refresh token (live, of an active grant). Only the client a token was
issued to learns anything about it.

On the event loop, as the token endpoint's grants (idp.oidc.grants.loop): the client is
authenticated as there (idp.oidc.client_auth), a JWT is verified here (a signature check) and
its `jti` looked up in the TTL store; the database is reached in one worker-thread call, one
prebuilt statement (idp.oidc.tokens): the access token's grant is active, or the refresh
token is live with its grant's subject.

A signed answer (RFC 9701): a resource server asks for one with `Accept:
application/token-introspection+jwt` (§4), and gets the ordinary answer as the
`token_introspection` claim of a JWT typed `token-introspection+jwt`, with `iss`, `aud` (the
resource server) and `iat` (§5), signed by idp.keys with its entry's
`introspection_signed_response_alg` (§6). Signing is opt-in per entry: a client without that
setting whose Accept header admits JSON gets JSON; one that accepts only the JWT is answered
406 Not Acceptable, as RFC 9110 §15.5.7 allows, rather than with an unsigned answer it did not
ask for or a signature with an algorithm nobody agreed on. Errors stay JSON (RFC 7662 §2.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error

from idp.config import ClientSettings
from idp.oidc.client_auth import CONFIDENTIAL_METHODS
from idp.oidc.clients import Client
from idp.oidc.http import PreparedRequest, SignedBody
from idp.store.db import in_db_thread

if TYPE_CHECKING:
    from idp.oidc.bridge import AuthlibResult, OAuthBridge


@dataclass(frozen=True)
class IntrospectedToken:
    kind: str  # "access_token" | "refresh_token"
    client_id: str
    claims: dict[str, Any]
    grant_id: str | None
    raw: str

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id


async def lookup_token(bridge: OAuthBridge, token: str) -> IntrospectedToken | None:
    """The live token `token` is, or None (unknown, expired, revoked, or of an ended grant)."""
    if not isinstance(token, str) or not token or len(token) > 8192:
        return None
    tokens = bridge.tokens
    if token.count(".") == 2:
        claims = tokens.verify_access_token_signature(token)
        if claims is None:
            return None
        if await bridge.store.get("revoked_at", str(claims.get("jti"))) is not None:
            return None
        gid = claims.get("gid")
        if gid is not None and not await in_db_thread(tokens.engine, tokens.grant_active, str(gid)):
            return None
        return IntrospectedToken("access_token", str(claims.get("client_id")), claims, gid, token)
    row = await in_db_thread(tokens.engine, tokens.live_refresh_token, token)
    if row is None:
        return None
    claims = {
        "iss": bridge.settings.issuer,
        "sub": row.sub,
        "scope": row.scope,
        "exp": int(row.expires_at),
        "iat": int(row.created_at),
        "client_id": row.client_id,
    }
    if row.authorization_details:
        claims["authorization_details"] = list(row.authorization_details)
    return IntrospectedToken("refresh_token", row.client_id, claims, row.grant_id, token)


def check_token_param(request: Any) -> None:
    """`token` is required; `token_type_hint` is only a hint, and we find the type ourselves
    (RFC 7009 §2.1, RFC 7662 §2.1: the server MAY ignore it), so an unknown one is ignored."""
    if not request.form.get("token"):
        raise InvalidRequestError(description="'token' is required")


async def authenticated_token_request(
    bridge: OAuthBridge, request: PreparedRequest, endpoint: str
) -> Client:
    """Introspection's and revocation's first steps (RFC 7662 §2.1, RFC 7009 §2.1): the client
    authenticates (a confidential method), then `token` is required. Raises OAuth2Error."""
    client = await bridge.client_auth.authenticate_client(request, CONFIDENTIAL_METHODS, endpoint)
    request.client = client
    check_token_param(request)
    return client


def introspection_payload(token: IntrospectedToken) -> dict[str, Any]:
    """RFC 7662 §2.2. `token_type` is "the type of the token as defined in Section 5.1 of
    OAuth 2.0 [RFC6749]": `Bearer` for an access token, `DPoP` for a DPoP-bound one, whose
    `cnf` (the key's thumbprint, `jkt`) is returned too (RFC 9449 §6.2). A refresh token has
    no such type (RFC 6749 §5.1 types access tokens only), so it gets none rather than a
    made-up one."""
    c = token.claims
    out = {
        "active": True,
        "client_id": token.client_id,
        "scope": c.get("scope"),
        "sub": c.get("sub"),
        "iss": c.get("iss"),
        "exp": c.get("exp"),
        "iat": c.get("iat"),
    }
    if token.kind == "access_token":
        cnf = c.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        out["token_type"] = "Bearer" if jkt is None else "DPoP"
        if jkt is not None:
            out["cnf"] = {"jkt": jkt}
    for k in ("aud", "jti", "auth_time", "acr", "authorization_details"):
        if k in c:
            out[k] = c[k]
    return out


#: RFC 9701 §4 and §5: the media type asked for and answered, and the JWT's `typ`.
JWT_MEDIA_TYPE = "application/token-introspection+jwt"
JWT_TYP = "token-introspection+jwt"
_JSON_RANGES = ("application/json", "application/*", "*/*")


def _accepted(accept: str) -> dict[str, float]:
    """The media ranges of an Accept header (RFC 9110 §12.5.1) with their weights."""
    ranges: dict[str, float] = {}
    for item in accept.split(",")[:32]:
        media, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
                if not 0.0 <= weight <= 1.0:  # also NaN
                    weight = 0.0
        if media:
            ranges[media.lower()] = max(weight, ranges.get(media.lower(), 0.0))
    return ranges


def answer_format(accept: str | None, client: ClientSettings) -> str:
    """The answer's form: "jwt", "json", or "none" (406). RFC 9701 §4: the resource server
    asks for a JWT by listing application/token-introspection+jwt in its Accept header; §6: the
    entry's `introspection_signed_response_alg` says it may have one, and how it is signed."""
    ranges = _accepted(accept or "")
    jwt_weight = ranges.get(JWT_MEDIA_TYPE, 0.0)
    json_weight = max(ranges.get(r, 0.0) for r in _JSON_RANGES)
    if jwt_weight <= 0 or json_weight > jwt_weight:
        return "json"  # the JWT not asked for, or JSON preferred
    if client.introspection_signed_response_alg is not None:
        return "jwt"
    return "json" if json_weight > 0 else "none"


def signed_answer(
    bridge: OAuthBridge, client: ClientSettings, alg: str, answer: dict[str, Any]
) -> str:
    """RFC 9701 §5: the claims `iss`, `aud` (the resource server), `iat` and
    `token_introspection` (the RFC 7662 answer), typ `token-introspection+jwt`; nothing else
    at the top (no `sub`, no `exp`), so it cannot pass for an access token or an ID token.
    Signed by the provider's keys (idp.keys), as ID tokens and UserInfo answers are."""
    claims = {
        "iss": bridge.settings.issuer,
        "aud": client.client_id,
        "iat": int(bridge.clock.now()),
        "token_introspection": answer,
    }
    return bridge.tokens.keys.sign(claims, alg, typ=JWT_TYP)


def _not_acceptable() -> AuthlibResult:
    return (
        406,
        {
            "error": "invalid_request",
            "error_description": "this client is not registered for signed introspection "
            "responses (introspection_signed_response_alg); accept application/json",
        },
        {},
    )


async def introspect(bridge: OAuthBridge, request: PreparedRequest) -> AuthlibResult:
    """RFC 7662 §2.2: the token's metadata, or {"active": false} when it is not live or not
    this client's (only the client a token was issued to may introspect it: no scanning);
    as a signed JWT when the client asks for one and may have it (RFC 9701, above)."""
    try:
        client = await authenticated_token_request(bridge, request, "introspection")
        form = answer_format(request.headers.get("accept"), client.settings)
        if form == "none":
            return _not_acceptable()
        token = await lookup_token(bridge, request.form["token"])
    except OAuth2Error as error:
        return bridge.handle_error_response(request, error)
    answer = (
        introspection_payload(token)
        if token is not None and token.check_client(client)
        else {"active": False}
    )
    alg = client.settings.introspection_signed_response_alg
    if form == "jwt" and alg is not None:
        # §5: the answer for an inactive token ({"active": false}) is signed as well.
        signed = signed_answer(bridge, client.settings, alg, answer)
        return 200, SignedBody(signed, JWT_MEDIA_TYPE), {}
    return 200, answer, {}


__all__ = [
    "JWT_MEDIA_TYPE",
    "JWT_TYP",
    "IntrospectedToken",
    "answer_format",
    "authenticated_token_request",
    "check_token_param",
    "introspect",
    "introspection_payload",
    "lookup_token",
]
