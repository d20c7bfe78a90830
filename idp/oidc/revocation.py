"""Token revocation (RFC 7009).

A refresh token is revoked with its whole grant (node-oidc-provider's revokeGrantPolicy); an
access token is a JWT, so its `jti` is remembered as revoked until it would have expired.
Unknown tokens, and tokens of other clients, are answered alike (§2.2: 200 either way).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc7009 import RevocationEndpoint

from idp.oidc.client_auth import CONFIDENTIAL_METHODS
from idp.oidc.clients import Client
from idp.oidc.introspection import IntrospectedToken, check_token_param, lookup_token
from idp.oidc.threads import call_async

if TYPE_CHECKING:
    from idp.oidc.bridge import OAuthBridge


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS
    bridge: OAuthBridge

    def check_params(self, request: Any, client: Client) -> None:
        check_token_param(request)

    def authenticate_token(self, request: Any, client: Client) -> IntrospectedToken | None:
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        # RFC 7009 §2.1: "The authorization server first validates the client credentials
        # ... and then verifies whether the token was issued to the client making the
        # revocation request." Another client's token is answered like an unknown one, so
        # ownership cannot be probed.
        return token if token is not None and token.check_client(client) else None

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> IntrospectedToken | None:
        return lookup_token(self.bridge, token_string)

    def revoke_token(self, token: IntrospectedToken, request: Any) -> None:
        if token.kind == "refresh_token" and token.grant_id:
            # Revoking a refresh token revokes its grant (node-oidc-provider's revokeGrantPolicy).
            self.bridge.tokens.revoke_grant(token.grant_id)
            return
        exp = float(token.claims.get("exp", 0))
        ttl = max(1.0, exp - self.bridge.clock.now())
        call_async(
            self.bridge.store.put,
            "revoked_at",
            str(token.claims.get("jti")),
            {"revoked": True},
            ttl,
        )


__all__ = ["Revocation"]
