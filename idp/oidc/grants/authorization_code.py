"""The authorization code grant at the token endpoint (RFC 6749 §4.1.3), with PKCE S256.

The code was stored in the TTL store by the authorization endpoint; here it is consumed
atomically (single use across instances), checked against its client, lifetime and PKCE
verifier, and exchanged for tokens of the grant it belongs to. On the event loop (a
`LoopGrant`): the code is consumed in `load`, after client authentication (one TTL-store round
trip, which also strips the stored code down to what replay detection needs); the grant is read
and the refresh token stored in `prepare`, one statement in a worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, grants
from authlib.oauth2.rfc7636 import CodeChallenge

from idp.oidc.client_auth import AUTH_METHODS
from idp.oidc.clients import Client
from idp.oidc.dpop import current_proof
from idp.oidc.grants.loop import LoopGrant
from idp.oidc.issuance import TokenUser
from idp.oidc.tokens import Issued
from idp.store.db import in_db_thread

if TYPE_CHECKING:
    from idp.oidc.bridge import OAuthBridge

log = logging.getLogger("idp.oidc")

#: What a consumed code keeps for replay detection (RFC 6749 §4.1.2: revoke its grant).
REPLAY_FIELDS = ("grant_id", "client_id")


@dataclass(frozen=True)
class CodeRecord:
    """An authorization code as stored by the authorization endpoint."""

    value: dict[str, Any]

    def get_redirect_uri(self) -> str:
        return self.value["redirect_uri"]

    def get_scope(self) -> str:
        return self.value["scope"]


class S256Only(CodeChallenge):
    """PKCE with S256 only (RFC 9700 §2.1.1); every verifier problem is invalid_grant."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        try:
            super().validate_code_verifier(grant, result)
        except InvalidRequestError as exc:
            # RFC 7636 §4.6 and RFC 9700 §4.8 (a verifier without a challenge): invalid_grant.
            raise InvalidGrantError(description=exc.description) from None

    def get_authorization_code_challenge(self, authorization_code: CodeRecord) -> str | None:
        return authorization_code.value.get("code_challenge")

    def get_authorization_code_challenge_method(self, authorization_code: CodeRecord) -> str | None:
        return authorization_code.value.get("code_challenge_method")


class CodeGrant(LoopGrant, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    bridge: OAuthBridge  # set on the subclass the bridge registers
    _code: CodeRecord | None = None
    _issued: Issued | None = None

    async def load(self) -> None:
        """Consume the code, once the client is authenticated and may use this grant (as
        Authlib checks before it looks the code up)."""
        client = self.authenticated_client
        code = self.request.form.get("code")
        if client is None or not client.check_grant_type(self.GRANT_TYPE):
            return
        if not isinstance(code, str) or len(code) > 200:
            return
        self._code = await self._consume(code, client)

    async def _consume(self, code: str, client: Client) -> CodeRecord | None:
        # The first use also leaves only what replay detection needs, not the claims, in the
        # same round trip.
        consumed = await self.bridge.store.consume("code", code, keep=REPLAY_FIELDS)
        if consumed is None:
            return None
        value = consumed.value
        if not consumed.first:
            # RFC 6749 §4.1.2: "If an authorization code is used more than once, the
            # authorization server MUST deny the request and SHOULD revoke (when possible) all
            # tokens previously issued based on that authorization code."
            log.warning("authorization code replayed; revoking its grant")
            tokens = self.bridge.tokens
            await in_db_thread(tokens.engine, tokens.revoke_grant, value["grant_id"])
            return None
        if value["client_id"] != client.client_id:
            return None
        if self.bridge.clock.now() >= value["expires_at"]:
            return None
        bound = value.get("dpop_jkt")
        proof = current_proof()
        if bound is not None and (proof is None or proof.jkt != bound):
            # RFC 9449 §10: the code was bound with dpop_jkt; "the authorization server MUST
            # ensure that the key [...] matches" the proof of the token request.
            raise InvalidGrantError(
                description="the code is bound to another DPoP key than the proof's"
            )
        return CodeRecord(value)

    def query_authorization_code(self, code: str, client: Client) -> CodeRecord | None:
        return self._code  # consumed in `load`

    async def prepare(self) -> None:
        """The grant, if still active, and the refresh token, in one statement."""
        code: CodeRecord = self.request.authorization_code
        client: Client = self.request.client
        refresh_scope = code.get_scope() if client.check_grant_type("refresh_token") else None
        # RFC 9449 §5: "Refresh tokens issued to [public] clients [...] MUST be bound to the
        # DPoP public key"; a confidential client's are bound by its authentication, and a
        # FAPI 2.0 client's, never rotated, to the key as well.
        proof = current_proof()
        bind = client.settings.is_public or client.settings.fapi2
        jkt = proof.jkt if proof is not None and bind else None
        tokens = self.bridge.tokens
        self._issued = await in_db_thread(
            tokens.engine,
            tokens.redeem_grant,
            code.value["grant_id"],
            client.client_id,
            refresh_scope,
            jkt,
        )

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        """Nothing to do: the code was consumed atomically when it was looked up."""

    def authenticate_user(self, authorization_code: CodeRecord) -> TokenUser | None:
        return TokenUser.of(self._issued, nonce=authorization_code.value.get("nonce"))


def pkce() -> list[Any]:
    """The grant's Authlib extensions, fresh for each bridge: PKCE, S256 only."""
    return [S256Only(required=True)]


__all__ = ["CodeGrant", "CodeRecord", "S256Only", "pkce"]
