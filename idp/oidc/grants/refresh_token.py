"""The refresh token grant (RFC 6749 §6), rotating the refresh token on every use.

RFC 9700 §4.14.2: refresh tokens of public clients "MUST be sender-constrained or use
refresh token rotation"; we rotate for every client but FAPI 2.0 ones (confidential, and
their tokens DPoP-bound), whose token is issued again as it is. A rotated-away token that
comes back is taken as stolen: the whole grant (every token of it) is revoked.

On the event loop (a `LoopGrant`): once the client is authenticated, `load` makes the one
database call of the request (`TokenService.rotate_refresh_token`, one transaction in a worker
thread): the token is marked used atomically, its grant read, its successor stored. Authlib's
checks then run on the outcome: a token of another client, or a scope wider than the grant's,
was left unchanged and is refused here as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidScopeError, grants

from idp.oidc.client_auth import AUTH_METHODS
from idp.oidc.clients import Client
from idp.oidc.dpop import current_proof
from idp.oidc.grants.loop import LoopGrant
from idp.oidc.issuance import TokenUser
from idp.oidc.tokens import RefreshUse, Rotation
from idp.store.db import in_db_thread

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


class RefreshGrant(LoopGrant, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotate on every use (RFC 9700 §4.14.2)
    bridge: OAuthBridge
    _use: RefreshUse | None = None

    async def load(self) -> None:
        """Rotate the token, once the client is authenticated and may refresh (as Authlib
        checks before it looks the token up)."""
        client = self.authenticated_client
        token = self.request.form.get("refresh_token")
        if client is None or not client.check_grant_type(self.GRANT_TYPE):
            return
        if not isinstance(token, str) or len(token) > 200:
            return
        proof = current_proof()
        # FAPI 2.0 §5.3.2.1: "shall not use refresh token rotation except in extraordinary
        # circumstances"; every other client's token is rotated.
        tokens = self.bridge.tokens
        use = tokens.keep_refresh_token if client.settings.fapi2 else tokens.rotate_refresh_token
        self._use = await in_db_thread(
            tokens.engine,
            use,
            token,
            client.client_id,
            # Without a scope asked for, the successor keeps the token's (Authlib checks none):
            # on PostgreSQL the rotation is then one statement.
            self._new_scope if self.request.payload.scope else None,
            None if proof is None else proof.jkt,
        )
        if self._use.outcome is Rotation.REUSED:
            log.warning("refresh token reused; its grant is revoked")
        if self._use.outcome is Rotation.WRONG_KEY:
            # RFC 9449 §5: a bound refresh token needs "a DPoP proof [...] of the same key".
            raise InvalidGrantError(
                description="the refresh token is bound to another DPoP key than the proof's"
            )

    def _new_scope(self, original_scope: str) -> str | None:
        """The successor's scope: the one asked for, or the original; None when the request
        asks for more than the grant has (Authlib's check; the rotation is then undone)."""
        record = RefreshRecord("", "", "", original_scope)
        try:
            self._validate_token_scope(record)
        except InvalidScopeError:
            return None
        scope: str | None = self.request.payload.scope
        return scope or original_scope

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        use = self._use
        if use is None or use.outcome in (Rotation.UNKNOWN, Rotation.REUSED, Rotation.WRONG_KEY):
            return None  # REUSED: its grant was revoked (RFC 9700 §4.14.2)
        assert use.grant_id is not None and use.client_id is not None and use.scope is not None
        # ROTATED, or REFUSED (another client's token, or a wider scope: Authlib refuses it).
        return RefreshRecord(refresh_token, use.grant_id, use.client_id, use.scope)

    def authenticate_user(self, refresh_token: RefreshRecord) -> TokenUser | None:
        return TokenUser.of(None if self._use is None else self._use.issued)

    def revoke_old_credential(self, refresh_token: RefreshRecord) -> None:
        """Nothing more to do: `load` marked it used atomically."""


__all__ = ["RefreshGrant", "RefreshRecord"]
