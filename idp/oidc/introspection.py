"""Token introspection (RFC 7662), and the token lookup revocation shares with it.

A token is found by what it is, not by `token_type_hint`: a JWT access token (verified, and
not revoked), or a refresh token (live, of an active grant). Only the client a token was
issued to learns anything about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from idp.oidc.client_auth import CONFIDENTIAL_METHODS
from idp.oidc.clients import Client
from idp.oidc.threads import call_async

if TYPE_CHECKING:
    from idp.oidc.bridge import OAuthBridge


@dataclass(frozen=True)
class IntrospectedToken:
    kind: str  # "access_token" | "refresh_token"
    client_id: str
    claims: dict[str, Any]
    grant_id: str | None
    raw: str

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def is_expired(self) -> bool:
        return False  # lookup_token returns live tokens only

    def is_revoked(self) -> bool:
        return False


def lookup_token(bridge: OAuthBridge, token: str) -> IntrospectedToken | None:
    """The live token `token` is, or None (unknown, expired, revoked, or of an ended grant)."""
    if not isinstance(token, str) or not token or len(token) > 8192:
        return None
    if token.count(".") == 2:
        claims = bridge.tokens.verify_access_token(token)
        if (
            claims is None
            or call_async(bridge.store.get, "revoked_at", str(claims.get("jti"))) is not None
        ):
            return None
        return IntrospectedToken(
            "access_token", str(claims.get("client_id")), claims, claims.get("gid"), token
        )
    row = bridge.tokens.find_refresh_token(token)
    if row is None or row.used_at is not None or row.expires_at <= bridge.clock.now():
        return None
    grant = bridge.tokens.grant(row.grant_id)
    if grant is None or not grant.active:
        return None
    claims = {
        "iss": bridge.settings.issuer,
        "sub": grant.sub,
        "scope": row.scope,
        "exp": int(row.expires_at),
        "iat": int(row.created_at),
        "client_id": row.client_id,
    }
    return IntrospectedToken("refresh_token", row.client_id, claims, row.grant_id, token)


def check_token_param(request: Any) -> None:
    """`token` is required; `token_type_hint` is only a hint, and we find the type ourselves
    (RFC 7009 §2.1, RFC 7662 §2.1: the server MAY ignore it), so an unknown one is ignored."""
    if not request.form.get("token"):
        raise InvalidRequestError(description="'token' is required")


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS
    bridge: OAuthBridge

    def check_params(self, request: Any, client: Client) -> None:
        check_token_param(request)

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> IntrospectedToken | None:
        return lookup_token(self.bridge, token_string)

    def check_permission(self, token: IntrospectedToken, client: Client, request: Any) -> bool:
        # Only the client a token was issued to may introspect it (no token scanning).
        return token.check_client(client)

    def introspect_token(self, token: IntrospectedToken) -> dict[str, Any]:
        c = token.claims
        out = {
            "active": True,
            "token_type": token.kind,
            "client_id": token.client_id,
            "scope": c.get("scope"),
            "sub": c.get("sub"),
            "iss": c.get("iss"),
            "exp": c.get("exp"),
            "iat": c.get("iat"),
        }
        for k in ("aud", "jti", "auth_time", "acr"):
            if k in c:
                out[k] = c[k]
        return out


__all__ = ["IntrospectedToken", "Introspection", "check_token_param", "lookup_token"]
