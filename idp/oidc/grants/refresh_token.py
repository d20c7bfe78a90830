"""The refresh token grant (RFC 6749 §6), rotating the refresh token on every use.

RFC 9700 §4.14.2: refresh tokens of public clients "MUST be sender-constrained or use
refresh token rotation"; we rotate for every client. A rotated-away token that comes back is
taken as stolen: the whole grant (every token of it) is revoked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from authlib.oauth2.rfc6749 import InvalidGrantError, grants

from idp.oidc.client_auth import AUTH_METHODS
from idp.oidc.clients import Client
from idp.oidc.issuance import TokenUser

if TYPE_CHECKING:
    from idp.oidc.bridge import OAuthBridge

log = logging.getLogger("idp.oidc")


@dataclass(frozen=True)
class RefreshRecord:
    """A live refresh token, as Authlib's grant sees it."""

    token: str
    grant_id: str
    client_id: str
    scope: str

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotate on every use (RFC 9700 §4.14.2)
    bridge: OAuthBridge

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        if not isinstance(refresh_token, str) or len(refresh_token) > 200:
            return None
        tokens = self.bridge.tokens
        row = tokens.find_refresh_token(refresh_token)
        if row is None:
            return None
        if row.used_at is not None:
            # RFC 9700 §4.14.2: a rotated-away token came back; revoke the whole family.
            log.warning("refresh token reused; revoking its grant")
            tokens.revoke_grant(row.grant_id)
            return None
        if row.expires_at <= self.bridge.clock.now() or not tokens.grant_active(row.grant_id):
            return None
        return RefreshRecord(refresh_token, row.grant_id, row.client_id, row.scope)

    def authenticate_user(self, refresh_token: RefreshRecord) -> TokenUser | None:
        tokens = self.bridge.tokens
        if not tokens.claim_refresh_token(refresh_token.token):
            tokens.revoke_grant(refresh_token.grant_id)  # lost a race with another use: reuse
            raise InvalidGrantError(description="the refresh token was already used")
        grant = tokens.grant(refresh_token.grant_id)
        if grant is None or not grant.active:
            raise InvalidGrantError()
        return TokenUser(sub=grant.sub, grant_id=grant.id, auth=grant.auth, sid=grant.sid)

    def revoke_old_credential(self, refresh_token: RefreshRecord) -> None:
        """Nothing more to do: authenticate_user marked it used atomically."""


__all__ = ["RefreshGrant", "RefreshRecord"]
