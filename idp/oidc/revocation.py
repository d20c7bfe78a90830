"""Token revocation (RFC 7009).

A refresh token is revoked with its whole grant (node-oidc-provider's revokeGrantPolicy); an
access token is a JWT, so its `jti` is remembered as revoked until it would have expired.
Unknown tokens, and tokens of other clients, are answered alike (§2.2: 200 either way).

On the event loop, as introspection (idp.oidc.introspection): client authentication and the
JWT checks there, the TTL store awaited; a refresh token is looked up and its grant revoked in
one worker-thread call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from authlib.oauth2.rfc6749 import OAuth2Error

from idp.oidc.http import PreparedRequest
from idp.oidc.introspection import authenticated_token_request, lookup_token
from idp.store.db import in_db_thread

if TYPE_CHECKING:
    from idp.oidc.bridge import AuthlibResult, OAuthBridge


async def revoke(bridge: OAuthBridge, request: PreparedRequest) -> AuthlibResult:
    """RFC 7009 §2.1: "The authorization server first validates the client credentials ...
    and then verifies whether the token was issued to the client making the revocation
    request." Another client's token is answered like an unknown one (200, nothing done), so
    ownership cannot be probed."""
    try:
        client = await authenticated_token_request(bridge, request, "revocation")
    except OAuth2Error as error:
        return bridge.handle_error_response(request, error)
    token = request.form["token"]
    if len(token) > 8192:  # not a token of ours (as `lookup_token`)
        return 200, {}, {}
    if token.count(".") != 2:
        # A refresh token: revoking it revokes its grant (node-oidc-provider's
        # revokeGrantPolicy). Looked up and revoked in one call.
        await in_db_thread(
            bridge.tokens.engine, bridge.tokens.revoke_refresh_token_grant, token, client.client_id
        )
        return 200, {}, {}
    found = await lookup_token(bridge, token)
    if found is None or not found.check_client(client):
        return 200, {}, {}
    exp = float(found.claims.get("exp", 0))
    ttl = max(1.0, exp - bridge.clock.now())
    await bridge.store.put("revoked_at", str(found.claims.get("jti")), {"revoked": True}, ttl)
    return 200, {}, {}


__all__ = ["revoke"]
